//! Token rotation: a rotating bot token is refreshed when it expires within two hours
//! or Slack answers `token_expired`. The new pair is written at the version it was
//! refreshed from, so of two refreshes (two containers) one write wins; the loser reads
//! the winner's token and uses it. In one container, one refresh per installation runs
//! at a time.

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};

use crate::domain::installation::{InstallationKey, SealedCredentials};
use crate::domain::{Installation, Workspace};
use crate::slack::oauth::{ClientCredentials, OAuthAccess, OAuthGrant};
use crate::slack::{ApiErrorCode, SlackError};
use crate::store::StoreError;

use super::{single_workspace, Resolved, Services, TokenError};

/// How often a refreshed pair's write is tried when other writes come first.
const SAVE_ATTEMPTS: usize = 5;
/// Pauses before each read of the winner's write (it may still be on its way).
const WINNER_READ_PAUSES: [Duration; 4] = [
    Duration::ZERO,
    Duration::from_millis(50),
    Duration::from_millis(200),
    Duration::from_millis(500),
];

/// `installation`'s bot token, refreshed first when it is due.
pub(super) async fn usable(
    services: &Services,
    installation: Installation,
) -> Result<Resolved, TokenError> {
    let Some(credentials) = &installation.credentials else {
        return Err(TokenError::NotInstalled);
    };
    if credentials.due_for_refresh(services.clock.now()) {
        return refresh(services, installation).await;
    }
    open(services, installation).await
}

async fn open(services: &Services, installation: Installation) -> Result<Resolved, TokenError> {
    let Some(credentials) = &installation.credentials else {
        return Err(TokenError::NotInstalled);
    };
    let token = services
        .cipher
        .open(&installation.key, &credentials.bot_token)
        .await?;
    Ok(Resolved {
        installation,
        token,
    })
}

/// Seals an `oauth.v2.access` answer's tokens for `key`.
pub(super) async fn seal(
    services: &Services,
    key: &InstallationKey,
    access: &OAuthAccess,
) -> Result<SealedCredentials, TokenError> {
    let bot_token = services.cipher.seal(key, &access.access_token).await?;
    let refresh_token = match &access.refresh_token {
        Some(token) => Some(services.cipher.seal(key, token).await?),
        None => None,
    };
    Ok(SealedCredentials {
        bot_token,
        refresh_token,
        expires_at: access
            .expires_in
            .map(|seconds| services.clock.now() + seconds),
    })
}

/// Refreshes the bot token of `stale` (due, or refused as expired).
async fn refresh(services: &Services, stale: Installation) -> Result<Resolved, TokenError> {
    let key = stale.key.clone();
    let lock = services.token_caches.refresh_lock(&key);
    let _one_at_a_time = lock.lock().await;
    // Another refresh may have finished while this one waited.
    let current = match services.store.get_installation(&key).await? {
        Some(current) if current.credentials.is_some() && !current.is_disabled() => current,
        _ => return Err(TokenError::NotInstalled),
    };
    let Some(credentials) = current.credentials.clone() else {
        return Err(TokenError::NotInstalled);
    };
    if current.credentials != stale.credentials
        && !credentials.due_for_refresh(services.clock.now())
    {
        return open(services, current).await;
    }
    let Some(sealed_refresh) = &credentials.refresh_token else {
        // Not a rotating token: nothing to refresh it with.
        return Err(TokenError::NotInstalled);
    };
    let refresh_token = services.cipher.open(&key, sealed_refresh).await?;
    let secrets = services.secrets.current().await?;
    let client =
        ClientCredentials::from_secrets(&secrets).ok_or(TokenError::NoClientCredentials)?;
    let grant = OAuthGrant::Refresh { refresh_token };
    match services.slack.oauth_v2_access(&grant, &client).await {
        Ok(access) => save(services, current, &access).await,
        // The refresh token was used already: by the refresh that won, if any.
        Err(error) if error.is_token_dead() => match winner(services, &current).await {
            Ok(resolved) => Ok(resolved),
            Err(_) => Err(error.into()),
        },
        Err(error) => Err(error.into()),
    }
}

/// Saves the pair `access` refreshed from `refreshed`, at the version it was read at.
/// When another write came first: its pair, if it is one (that refresh won); else
/// (something else changed) ours again, on the new version, as our pair is the one
/// whose refresh token Slack now holds.
async fn save(
    services: &Services,
    refreshed: Installation,
    access: &OAuthAccess,
) -> Result<Resolved, TokenError> {
    let key = refreshed.key.clone();
    let sealed = seal(services, &key, access).await?;
    let mut base = refreshed.clone();
    for _ in 0..SAVE_ATTEMPTS {
        let mut next = base.clone();
        next.credentials = Some(sealed.clone());
        match services.store.put_installation(&mut next).await {
            Ok(()) => {
                tracing::info!(installation = %key, "bot token refreshed");
                return Ok(Resolved {
                    installation: next,
                    token: access.access_token.clone(),
                });
            }
            Err(StoreError::Conflict) => {
                let Some(stored) = services.store.get_installation(&key).await? else {
                    // Uninstalled meanwhile: the new pair has nothing to serve.
                    return Err(TokenError::NotInstalled);
                };
                if stored.credentials != refreshed.credentials {
                    tracing::info!(installation = %key, "another refresh was saved first; using its token");
                    return usable_now(services, stored).await;
                }
                base = stored;
            }
            Err(error) => return Err(error.into()),
        }
    }
    Err(StoreError::Conflict.into())
}

/// `installation`'s token as stored, if it has a usable one.
async fn usable_now(
    services: &Services,
    installation: Installation,
) -> Result<Resolved, TokenError> {
    if installation.credentials.is_none() || installation.is_disabled() {
        return Err(TokenError::NotInstalled);
    }
    open(services, installation).await
}

/// The token another refresh saved in place of `ours`.
async fn winner(services: &Services, ours: &Installation) -> Result<Resolved, TokenError> {
    for pause in WINNER_READ_PAUSES {
        tokio::time::sleep(pause).await;
        if let Some(stored) = services.store.get_installation(&ours.key).await? {
            if stored.credentials.is_some() && stored.credentials != ours.credentials {
                return open(services, stored).await;
            }
        }
    }
    Err(TokenError::NotInstalled)
}

/// Slack refused `used` for `workspace` as dead (`token_expired`, `token_revoked`,
/// `invalid_auth`, ...). Returns whether a retry may succeed: a newer token is there
/// (refreshed, rotated in the secret). Otherwise the installation is disabled so
/// nobody waits on a dead token.
pub async fn token_rejected(
    services: &Services,
    workspace: &Workspace,
    used: &SecretString,
    error: &SlackError,
) -> Result<bool, TokenError> {
    for key in InstallationKey::lookup_order(workspace) {
        let Some(installation) = services.store.get_installation(&key).await? else {
            continue;
        };
        if installation.credentials.is_none() || installation.is_disabled() {
            continue;
        }
        let current = open(services, installation).await?;
        if current.token.expose_secret() != used.expose_secret() {
            return Ok(true);
        }
        let rotating = current
            .installation
            .credentials
            .as_ref()
            .is_some_and(|credentials| credentials.refresh_token.is_some());
        if error.code() == Some(&ApiErrorCode::TokenExpired) && rotating {
            refresh(services, current.installation).await?;
            return Ok(true);
        }
        let mut dead = current.installation;
        dead.disable(error.to_string(), None, services.clock.now());
        return match services.store.put_installation(&mut dead).await {
            Ok(()) => {
                tracing::info!(installation = %key, reason = %error, "installation's tokens dropped");
                Ok(false)
            }
            // Changed meanwhile (refreshed, reinstalled): the retry reads what it is now.
            Err(StoreError::Conflict) => Ok(true),
            Err(error) => Err(error.into()),
        };
    }
    // Single-workspace mode: a rotated secret may already hold a working token.
    if let Ok(secrets) = services.secrets.refresh().await {
        if let Some(fresh) = &secrets.bot_token {
            if fresh.expose_secret() != used.expose_secret() {
                return Ok(true);
            }
        }
    }
    single_workspace::disable(services, &workspace.team_id, &error.to_string(), Some(used)).await?;
    Ok(false)
}
