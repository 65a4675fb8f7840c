//! Single-workspace mode: a `bot_token` in the secret is the installation of the
//! workspace `auth.test` names for it, so deployments from before many workspaces keep
//! working without a reinstall. An installation item only records when that workspace
//! uninstalled the app or its token died (a marker holding no token).

use secrecy::SecretString;

use crate::domain::installation::{token_fingerprint, InstallationKey};
use crate::domain::{Installation, TeamId, Workspace};
use crate::slack::oauth::AuthTest;
use crate::store::StoreError;

use super::{Resolved, Services, TokenError};

/// Whether a token's workspace may be learnt from Slack (`auth.test`) now, or only from
/// what this container already knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Identify {
    AskSlack,
    /// An acknowledgement path: no Slack request within Slack's 3 s. An unknown token
    /// is taken to serve the workspace; the worker asks before it uses the token, and
    /// refuses the call then if it belongs elsewhere.
    FromCache,
}

/// The secret's token, when it serves `workspace`. `marker` is the workspace's stored
/// item without tokens, if any.
pub(super) async fn resolve(
    services: &Services,
    workspace: &Workspace,
    marker: Option<Installation>,
    how: Identify,
) -> Result<Resolved, TokenError> {
    let secrets = services.secrets.current().await?;
    let Some(token) = secrets.bot_token.clone() else {
        return Err(TokenError::NotInstalled);
    };
    let team_key = InstallationKey::Team(workspace.team_id.clone());
    let marker = marker.filter(|marker| marker.key == team_key);
    // A marker of a dead token answers without asking Slack.
    if let Some(marker) = &marker {
        let reinstalled = marker
            .revoked_token_fingerprint
            .as_ref()
            .is_some_and(|dead| *dead != token_fingerprint(&token));
        if marker.is_disabled() && !reinstalled {
            return Err(TokenError::NotInstalled);
        }
    }
    if !serves(identify(services, &token, how).await?.as_ref(), workspace) {
        return Err(TokenError::NotInstalled);
    }
    let installation = match marker {
        // The acknowledgement paths only read; the worker re-enables it.
        Some(mut marker) if marker.is_disabled() && how == Identify::AskSlack => {
            marker.enable();
            match services.store.put_installation(&mut marker).await {
                // Someone else re-enabled it first: same outcome.
                Ok(()) | Err(StoreError::Conflict) => {}
                Err(error) => return Err(error.into()),
            }
            tracing::info!(team = %workspace.team_id, "installation re-enabled by a new bot token");
            marker
        }
        Some(marker) => marker,
        None => Installation::for_team(workspace.team_id.clone()),
    };
    Ok(Resolved {
        installation,
        token,
    })
}

/// Whether the token `auth.test` described serves `workspace`. `None` (Slack said the
/// token is dead) serves every workspace, as before many workspaces: the request that
/// uses it fails the same way and is handled as a dead token.
fn serves(identity: Option<&AuthTest>, workspace: &Workspace) -> bool {
    let Some(identity) = identity else {
        return true;
    };
    identity.team_id == workspace.team_id
        || (identity.is_enterprise_install
            && identity.enterprise_id.is_some()
            && identity.enterprise_id == workspace.enterprise_id)
}

/// `auth.test` for the secret's token, once per container and token.
async fn identify(
    services: &Services,
    token: &SecretString,
    how: Identify,
) -> Result<Option<AuthTest>, TokenError> {
    let fingerprint = token_fingerprint(token);
    if let Some(identity) = services.token_caches.identity(&fingerprint) {
        return Ok(Some(identity));
    }
    if how == Identify::FromCache {
        return Ok(None);
    }
    match services.slack.auth_test(token).await {
        Ok(identity) => {
            tracing::info!(team = %identity.team_id, "the secret's bot token belongs to this workspace");
            services
                .token_caches
                .remember_identity(fingerprint, identity.clone());
            Ok(Some(identity))
        }
        Err(error) if error.is_token_dead() => Ok(None),
        Err(error) => Err(error.into()),
    }
}

/// Disables the team's single-workspace installation (uninstall, revoked or dead
/// token). Idempotent.
pub async fn disable(
    services: &Services,
    team_id: &TeamId,
    reason: &str,
    dead_token: Option<&SecretString>,
) -> Result<(), TokenError> {
    // When no token is named, the one in the secret is the one that was revoked.
    let fingerprint = match dead_token {
        Some(token) => Some(token_fingerprint(token)),
        None => services
            .secrets
            .current()
            .await?
            .bot_token
            .as_ref()
            .map(token_fingerprint),
    };
    let key = InstallationKey::Team(team_id.clone());
    for _ in 0..5 {
        let mut installation = services
            .store
            .get_installation(&key)
            .await?
            .unwrap_or_else(|| Installation::new(key.clone()));
        if installation.is_disabled()
            && installation.credentials.is_none()
            && (fingerprint.is_none() || installation.revoked_token_fingerprint == fingerprint)
        {
            return Ok(());
        }
        installation.disable(reason, fingerprint.clone(), services.clock.now());
        match services.store.put_installation(&mut installation).await {
            Ok(()) => {
                tracing::info!(team = %team_id, reason, "installation disabled");
                return Ok(());
            }
            Err(StoreError::Conflict) => continue,
            Err(error) => return Err(error.into()),
        }
    }
    Err(StoreError::Conflict.into())
}
