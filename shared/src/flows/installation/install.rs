//! An installation's life: installed (from `oauth.v2.access`'s answer), its tokens
//! revoked, uninstalled.

use crate::domain::installation::InstallationKey;
use crate::domain::{Installation, Workspace};
use crate::slack::oauth::OAuthAccess;
use crate::store::StoreError;

use super::{rotation, single_workspace, Services, TokenError};

/// How often a write that lost a race is tried again.
const WRITE_ATTEMPTS: usize = 5;

/// Seals the tokens of `access` and stores the installation, replacing any previous
/// installation of the same workspace (or organisation, for an org-wide install).
pub async fn install(services: &Services, access: OAuthAccess) -> Result<Installation, TokenError> {
    let key = match (&access.enterprise, &access.team) {
        (Some(enterprise), _) if access.is_enterprise_install => {
            InstallationKey::Enterprise(enterprise.id.clone())
        }
        (_, Some(team)) => InstallationKey::Team(team.id.clone()),
        _ => {
            return Err(TokenError::InvalidInstall(
                "the answer names no workspace to install in",
            ))
        }
    };
    let credentials = rotation::seal(services, &key, &access).await?;
    let scopes = access.scopes();
    let mut installation = Installation {
        team_id: access.team.as_ref().map(|team| team.id.clone()),
        team_name: access.team.as_ref().and_then(|team| team.name.clone()),
        enterprise_id: access.enterprise.as_ref().map(|org| org.id.clone()),
        enterprise_name: access.enterprise.as_ref().and_then(|org| org.name.clone()),
        is_enterprise_install: access.is_enterprise_install,
        app_id: access.app_id.clone(),
        bot_user_id: access.bot_user_id.clone(),
        bot_scopes: scopes,
        installer_user_id: access.authed_user_id.clone(),
        installed_at: Some(services.clock.now()),
        credentials: Some(credentials),
        ..Installation::new(key.clone())
    };
    for _ in 0..WRITE_ATTEMPTS {
        installation.version = services
            .store
            .get_installation(&key)
            .await?
            .map_or(0, |previous| previous.version);
        match services.store.put_installation(&mut installation).await {
            Ok(()) => {
                tracing::info!(
                    installation = %key,
                    rotating = access.refresh_token.is_some(),
                    "app installed"
                );
                return Ok(installation);
            }
            Err(StoreError::Conflict) => continue,
            Err(error) => return Err(error.into()),
        }
    }
    Err(StoreError::Conflict.into())
}

/// The key an uninstall or a revocation for `workspace` is about: Slack sends those
/// events for the organisation when the install was org-wide.
fn key_of(workspace: &Workspace) -> InstallationKey {
    match &workspace.enterprise_id {
        Some(enterprise) if workspace.is_enterprise_install => {
            InstallationKey::Enterprise(enterprise.clone())
        }
        _ => InstallationKey::Team(workspace.team_id.clone()),
    }
}

/// Whether the stored item is an installation made through OAuth (not a
/// single-workspace marker).
fn installed(installation: &Installation) -> bool {
    installation.installed_at.is_some() || installation.credentials.is_some()
}

/// The app was uninstalled from `workspace`: its installation and tokens are deleted.
/// In single-workspace mode the secret's token is marked dead instead. Idempotent.
pub async fn uninstall(services: &Services, workspace: &Workspace) -> Result<(), TokenError> {
    let key = key_of(workspace);
    match services.store.get_installation(&key).await? {
        Some(installation) if installed(&installation) => {
            services.store.delete_installation(&key).await?;
            tracing::info!(installation = %key, "app uninstalled; installation deleted");
            Ok(())
        }
        _ => single_workspace_disable(services, workspace, "app_uninstalled").await,
    }
}

/// Slack revoked the bot tokens of `workspace`: they are deleted, the rest of the
/// installation kept (a reinstall replaces it). Idempotent.
pub async fn revoke_bot_tokens(
    services: &Services,
    workspace: &Workspace,
) -> Result<(), TokenError> {
    let key = key_of(workspace);
    for _ in 0..WRITE_ATTEMPTS {
        let Some(mut installation) = services.store.get_installation(&key).await? else {
            break;
        };
        if !installed(&installation) {
            break;
        }
        if installation.credentials.is_none() && installation.is_disabled() {
            return Ok(());
        }
        installation.disable("tokens_revoked", None, services.clock.now());
        match services.store.put_installation(&mut installation).await {
            Ok(()) => {
                tracing::info!(installation = %key, "bot tokens revoked; dropped");
                return Ok(());
            }
            Err(StoreError::Conflict) => continue,
            Err(error) => return Err(error.into()),
        }
    }
    single_workspace_disable(services, workspace, "tokens_revoked").await
}

/// Single-workspace mode: the secret's token is the one that went away.
async fn single_workspace_disable(
    services: &Services,
    workspace: &Workspace,
    reason: &str,
) -> Result<(), TokenError> {
    single_workspace::disable(services, &workspace.team_id, reason, None).await
}
