//! Installing the app in a workspace (or an Enterprise organisation) through Slack's
//! OAuth v2 flow: the install link sends the browser to Slack's authorize page with a
//! fresh state bound to that browser; Slack sends it back with a code, which is
//! exchanged for the bot token and stored as the installation.
//!
//! Nothing is stored unless every check holds and the exchange succeeds; the state is
//! used up by the first redirect that names it, whatever the outcome.

use secrecy::SecretString;

use crate::domain::oauth_state::is_plausible_state;
use crate::domain::{Installation, OAuthState, StateCheck};
use crate::secrets::SecretsError;
use crate::slack::oauth::{ClientCredentials, OAuthGrant};
use crate::slack::SlackError;
use crate::store::StoreError;

use super::installation::{self, TokenError};
use super::Services;

/// The bot scopes the app asks for (README, "Point a Slack app at it";
/// infra/slack-app-manifest.yaml lists the same).
pub const BOT_SCOPES: &[&str] = &[
    "calls:write",
    "commands",
    "chat:write",
    "links:read",
    "links:write",
];

/// What the browser is sent on to: Slack's authorize page, and the nonce for its cookie.
#[derive(Debug)]
pub struct InstallStart {
    pub authorize_url: String,
    pub browser_nonce: SecretString,
    /// Seconds until the state expires: the cookie's lifetime.
    pub max_age: i64,
}

/// The query Slack redirects the browser back with. `Debug` leaves the code out.
#[derive(Default, Clone, serde::Deserialize)]
pub struct OAuthRedirect {
    #[serde(default)]
    pub state: Option<String>,
    #[serde(default)]
    pub code: Option<String>,
    /// Set instead of `code` when the install did not happen (`access_denied`: the
    /// user cancelled).
    #[serde(default)]
    pub error: Option<String>,
}

impl std::fmt::Debug for OAuthRedirect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuthRedirect")
            .field("state", &self.state.as_ref().map(|_| "[set]"))
            .field("code", &self.code.as_ref().map(|_| "[redacted]"))
            .field("error", &self.error)
            .finish()
    }
}

/// Why an install did not happen. Never carries a code, a token or a state.
#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    #[error(
        "the app's OAuth client (client_id and client_secret in the secret) is not configured"
    )]
    NotConfigured,
    #[error("the redirect carries no install state")]
    MissingState,
    #[error("the install state is unknown or was used already")]
    UnknownState,
    #[error("the install state expired")]
    Expired,
    #[error("the install was started in another browser")]
    WrongBrowser,
    #[error("the install was cancelled in Slack")]
    Denied,
    #[error("Slack did not install the app: {0}")]
    Refused(String),
    #[error("the redirect carries no code")]
    MissingCode,
    #[error("Slack could not be reached: {0}")]
    SlackUnavailable(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Secrets(#[from] SecretsError),
    #[error("the installation could not be stored: {0}")]
    NotStored(#[from] TokenError),
}

impl From<SlackError> for InstallError {
    fn from(error: SlackError) -> Self {
        match error.code() {
            // `invalid_code`, `bad_redirect_uri`, `invalid_client_id`...: the exchange
            // itself was refused, and a retry of the same code cannot succeed.
            Some(code) if !error.is_retryable() => InstallError::Refused(code.as_str().to_owned()),
            _ => InstallError::SlackUnavailable(error.to_string()),
        }
    }
}

/// Starts an install: records a fresh state and builds the authorize URL that carries
/// it, with the client id, the bot scopes and `redirect_uri`.
pub async fn start_install(
    services: &Services,
    redirect_uri: &str,
) -> Result<InstallStart, InstallError> {
    let secrets = services.secrets.current().await?;
    let client_id = secrets
        .client_id
        .as_deref()
        .filter(|id| !id.trim().is_empty())
        .ok_or(InstallError::NotConfigured)?;
    let now = services.clock.now();
    let (state, browser_nonce) = OAuthState::issue(now);
    services.store.put_oauth_state(&state).await?;
    let mut authorize_url = url::Url::parse(&services.config.slack_authorize_url)
        .map_err(|_| InstallError::NotConfigured)?;
    authorize_url
        .query_pairs_mut()
        .append_pair("client_id", client_id)
        .append_pair("scope", &BOT_SCOPES.join(","))
        .append_pair("redirect_uri", redirect_uri)
        .append_pair("state", &state.state);
    tracing::info!("install started");
    Ok(InstallStart {
        authorize_url: authorize_url.into(),
        browser_nonce,
        max_age: state.expires_at - now,
    })
}

/// Checks a redirect: its state is taken (used up) and must be live and this browser's;
/// then Slack's own answer (a code, or why not). Answers the code to exchange.
pub async fn check_redirect(
    services: &Services,
    redirect: &OAuthRedirect,
    browser_nonce: Option<&SecretString>,
) -> Result<String, InstallError> {
    let state = redirect
        .state
        .as_deref()
        .filter(|state| !state.is_empty())
        .ok_or(InstallError::MissingState)?;
    if !is_plausible_state(state) {
        return Err(InstallError::UnknownState);
    }
    let taken = services
        .store
        .take_oauth_state(state)
        .await?
        .ok_or(InstallError::UnknownState)?;
    match taken.check(browser_nonce, services.clock.now()) {
        StateCheck::Valid => {}
        StateCheck::Expired => return Err(InstallError::Expired),
        StateCheck::WrongBrowser => return Err(InstallError::WrongBrowser),
    }
    match (&redirect.error, &redirect.code) {
        (Some(error), _) if error == "access_denied" => Err(InstallError::Denied),
        (Some(error), _) => Err(InstallError::Refused(printable(error))),
        (None, Some(code)) if !code.is_empty() => Ok(code.clone()),
        (None, _) => Err(InstallError::MissingCode),
    }
}

/// Completes an install: checks the redirect ([`check_redirect`]), exchanges its code
/// with `oauth.v2.access` (the same `redirect_uri` as the authorize request) and stores
/// the installation, its tokens sealed.
pub async fn finish_install(
    services: &Services,
    redirect: &OAuthRedirect,
    browser_nonce: Option<&SecretString>,
    redirect_uri: &str,
) -> Result<Installation, InstallError> {
    let code = check_redirect(services, redirect, browser_nonce).await?;
    let secrets = services.secrets.current().await?;
    let client = ClientCredentials::from_secrets(&secrets).ok_or(InstallError::NotConfigured)?;
    let grant = OAuthGrant::Code {
        code: SecretString::from(code),
        redirect_uri: Some(redirect_uri.to_owned()),
    };
    let access = services
        .slack
        .oauth_v2_access(&grant, &client)
        .await
        .inspect_err(|error| tracing::warn!(%error, "the install's code was not exchanged"))?;
    let installation = installation::install(services, access).await?;
    Ok(installation)
}

/// An error code from a query string, safe to log and show: Slack's are short
/// lower-case words.
fn printable(code: &str) -> String {
    code.chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
        .take(64)
        .collect()
}
