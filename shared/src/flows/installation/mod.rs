//! Installations: which bot token serves a workspace.
//!
//! A workspace is served by its stored installation (tokens sealed by the
//! [`TokenCipher`](crate::cipher::TokenCipher)), looked up in
//! [`InstallationKey::lookup_order`]; else, in single-workspace mode, by the secret's
//! `bot_token` when `auth.test` says it belongs to that workspace. Rotating tokens are
//! refreshed ahead of their expiry ([`rotation`]).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use secrecy::SecretString;

use crate::cipher::CipherError;
use crate::domain::installation::InstallationKey;
use crate::domain::{Installation, Workspace};
use crate::secrets::SecretsError;
use crate::slack::oauth::AuthTest;
use crate::slack::SlackError;
use crate::store::StoreError;

use super::Services;

mod install;
mod rotation;
mod single_workspace;

pub use install::{install, revoke_bot_tokens, uninstall};
pub use rotation::token_rejected;
pub use single_workspace::disable;

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("the app is not installed in this workspace")]
    NotInstalled,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Secrets(#[from] SecretsError),
    #[error(transparent)]
    Cipher(#[from] CipherError),
    /// Slack refused or failed a token request (`auth.test`, a refresh).
    #[error("slack could not vouch for the token: {0}")]
    Slack(#[from] SlackError),
    /// A rotating token is due but the secret has no `client_id` / `client_secret`.
    #[error("the bot token must be refreshed, but the secret has no client_id and client_secret")]
    NoClientCredentials,
    /// `oauth.v2.access` answered something that cannot be an installation.
    #[error("the installation is unusable: {0}")]
    InvalidInstall(&'static str),
}

impl TokenError {
    /// Whether trying again later may succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            TokenError::Store(error) => !matches!(error, StoreError::Malformed(_)),
            TokenError::Secrets(_) => true,
            TokenError::Cipher(error) => matches!(error, CipherError::Unavailable(_)),
            TokenError::Slack(error) => error.is_retryable(),
            TokenError::NotInstalled
            | TokenError::NoClientCredentials
            | TokenError::InvalidInstall(_) => false,
        }
    }
}

pub const REINSTALL_MESSAGE: &str =
    "This calls app is no longer installed in this workspace. Ask an admin to reinstall it, then try again.";

/// The installation serving a workspace, and its bot token in clear.
#[derive(Clone)]
pub struct Resolved {
    pub installation: Installation,
    pub token: SecretString,
}

impl std::fmt::Debug for Resolved {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Resolved")
            .field("installation", &self.installation.key)
            .finish_non_exhaustive()
    }
}

/// Where the installation serving a workspace was found.
enum Serving {
    /// Stored, with sealed tokens.
    Stored(Installation),
    /// Single-workspace mode: the secret's token.
    Secret(Resolved),
}

async fn serving(
    services: &Services,
    workspace: &Workspace,
    how: single_workspace::Identify,
) -> Result<Serving, TokenError> {
    let mut marker = None;
    for key in InstallationKey::lookup_order(workspace) {
        let Some(installation) = services.store.get_installation(&key).await? else {
            continue;
        };
        if installation.credentials.is_some() && !installation.is_disabled() {
            return Ok(Serving::Stored(installation));
        }
        // A single-workspace marker, or an installation whose tokens were revoked.
        marker.get_or_insert(installation);
    }
    single_workspace::resolve(services, workspace, marker, how)
        .await
        .map(Serving::Secret)
}

/// The installation serving `workspace` (`NotInstalled` when none does), without
/// opening its token: what an acknowledgement path needs to tell whether the app is
/// installed there (functions without the token key can call it).
pub async fn installation_for(
    services: &Services,
    workspace: &Workspace,
) -> Result<Installation, TokenError> {
    Ok(
        match serving(services, workspace, single_workspace::Identify::FromCache).await? {
            Serving::Stored(installation) => installation,
            Serving::Secret(resolved) => resolved.installation,
        },
    )
}

/// The installation serving `workspace`, with a usable bot token (refreshed first
/// when it is due).
pub async fn resolve(services: &Services, workspace: &Workspace) -> Result<Resolved, TokenError> {
    match serving(services, workspace, single_workspace::Identify::AskSlack).await? {
        Serving::Stored(installation) => rotation::usable(services, installation).await,
        Serving::Secret(resolved) => Ok(resolved),
    }
}

/// The bot token to use for `workspace`.
pub async fn bot_token(
    services: &Services,
    workspace: &Workspace,
) -> Result<SecretString, TokenError> {
    resolve(services, workspace)
        .await
        .map(|resolved| resolved.token)
}

/// How long `auth.test`'s answer about the secret's token is trusted: a token never
/// changes workspace, so this only bounds memory of tokens no longer in the secret.
pub const IDENTITY_TTL: Duration = Duration::from_secs(3_600);

/// What a container remembers about tokens: whose the secret's tokens are
/// (`auth.test`, by token fingerprint), and which installations it is refreshing.
#[derive(Default)]
pub struct TokenCaches {
    identities: Mutex<HashMap<String, (Instant, AuthTest)>>,
    refreshing: Mutex<HashMap<InstallationKey, Arc<tokio::sync::Mutex<()>>>>,
}

impl TokenCaches {
    fn identity(&self, fingerprint: &str) -> Option<AuthTest> {
        let identities = self
            .identities
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        identities
            .get(fingerprint)
            .filter(|(at, _)| at.elapsed() < IDENTITY_TTL)
            .map(|(_, identity)| identity.clone())
    }

    fn remember_identity(&self, fingerprint: String, identity: AuthTest) {
        self.identities
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(fingerprint, (Instant::now(), identity));
    }

    /// The lock that makes one refresh of `key` at a time in this container.
    fn refresh_lock(&self, key: &InstallationKey) -> Arc<tokio::sync::Mutex<()>> {
        self.refreshing
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(key.clone())
            .or_default()
            .clone()
    }
}

#[cfg(test)]
mod tests;
