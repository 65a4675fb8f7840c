//! Bot tokens per team. Single-workspace mode reads `bot_token` from the secret; an
//! installation item records when a team uninstalled the app or its token died.

use secrecy::SecretString;

use crate::domain::installation::token_fingerprint;
use crate::domain::{Installation, TeamId, Workspace};
use crate::secrets::SecretsError;
use crate::store::StoreError;

use super::Services;

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("the app is not installed in this workspace")]
    NotInstalled,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Secrets(#[from] SecretsError),
}

pub const REINSTALL_MESSAGE: &str =
    "This calls app is no longer installed in this workspace. Ask an admin to reinstall it, then try again.";

/// The bot token to use for `workspace`.
pub async fn bot_token(
    services: &Services,
    workspace: &Workspace,
) -> Result<SecretString, TokenError> {
    let team_id = &workspace.team_id;
    let installation = services.store.get_installation(team_id).await?;
    if let Some(installation) = &installation {
        if !installation.is_disabled() {
            if let Some(token) = &installation.bot_token {
                return Ok(token.clone());
            }
        }
    }
    let secrets = services.secrets.current().await?;
    let Some(token) = secrets.bot_token.clone() else {
        return Err(TokenError::NotInstalled);
    };
    match installation {
        Some(mut installation) if installation.is_disabled() => {
            // A token other than the one that died means the app was reinstalled.
            let reinstalled = installation
                .revoked_token_fingerprint
                .as_ref()
                .is_some_and(|dead| *dead != token_fingerprint(&token));
            if !reinstalled {
                return Err(TokenError::NotInstalled);
            }
            installation.enable();
            match services.store.put_installation(&mut installation).await {
                // Someone else re-enabled it first: same outcome.
                Ok(()) | Err(StoreError::Conflict) => {}
                Err(error) => return Err(error.into()),
            }
            tracing::info!(team = %team_id, "installation re-enabled by a new bot token");
            Ok(token)
        }
        _ => Ok(token),
    }
}

/// Disables the team's installation (uninstall, revoked or dead token) and drops its
/// token. Idempotent.
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
    for _ in 0..5 {
        let mut installation = services
            .store
            .get_installation(team_id)
            .await?
            .unwrap_or_else(|| Installation::new(team_id.clone()));
        if installation.is_disabled()
            && installation.bot_token.is_none()
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
