//! Secrets: fetched at init (in the background) or on first use, cached per container,
//! refreshed on a TTL so rotation is picked up, and on demand (a signature that does not
//! match, Slack answering `invalid_auth`), at a bounded rate. While Secrets Manager is
//! unreachable the last good secret is served for a bounded time ([`CachePolicy`]).
//!
//! Every value is a [`SecretString`]: `Debug` prints a redaction, never the value.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use secrecy::SecretString;
use serde::Deserialize;
use tokio::sync::Mutex;
use tracing::Instrument as _;

use crate::clock::{Clock, SystemClock};
use crate::domain::UnixSeconds;

/// How long a fetched secret is trusted before it is fetched again.
pub const DEFAULT_SECRET_TTL: Duration = Duration::from_secs(300);

/// The secret's JSON object.
#[derive(Clone, Deserialize)]
pub struct Secrets {
    pub signing_secret: SecretString,
    #[serde(default)]
    pub bot_token: Option<SecretString>,
    pub provider_webhook_secret: SecretString,
    #[serde(default)]
    pub client_id: Option<String>,
    #[serde(default)]
    pub client_secret: Option<SecretString>,
    /// Bearer token for `MEETING_API_URL`, when that provider is used.
    #[serde(default)]
    pub meeting_api_token: Option<SecretString>,
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Only which secrets are present, never their values.
        f.debug_struct("Secrets")
            .field("signing_secret", &"[redacted]")
            .field("bot_token", &self.bot_token.as_ref().map(|_| "[redacted]"))
            .field("provider_webhook_secret", &"[redacted]")
            .field("client_id", &self.client_id)
            .field(
                "client_secret",
                &self.client_secret.as_ref().map(|_| "[redacted]"),
            )
            .field(
                "meeting_api_token",
                &self.meeting_api_token.as_ref().map(|_| "[redacted]"),
            )
            .finish()
    }
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum SecretsError {
    #[error("secret {secret_id} could not be fetched: {reason}")]
    Fetch { secret_id: String, reason: String },
    #[error("secret {secret_id} is not the expected JSON object: {reason}")]
    Malformed { secret_id: String, reason: String },
    #[error("environment variable {0} is required when SECRET_ID is not set")]
    MissingEnv(&'static str),
}

/// Where the functions get their secrets from.
#[async_trait]
pub trait SecretSource: Send + Sync {
    /// The current secrets (cached).
    async fn current(&self) -> Result<Arc<Secrets>, SecretsError>;
    /// Fetch again (after an `invalid_auth` or a signature mismatch, say), as often as
    /// the source allows; the cache answers otherwise.
    async fn refresh(&self) -> Result<Arc<Secrets>, SecretsError>;
}

/// Secrets held in memory: from the environment in local runs, or given by a test.
pub struct StaticSecrets(Arc<Secrets>);

impl StaticSecrets {
    pub fn new(secrets: Secrets) -> Self {
        StaticSecrets(Arc::new(secrets))
    }

    /// `SLACK_SIGNING_SECRET`, `SLACK_BOT_TOKEN`, `PROVIDER_WEBHOOK_SECRET`, and
    /// optionally `MEETING_API_TOKEN`, through `lookup`.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, SecretsError> {
        let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        let required = |name: &'static str| {
            get(name)
                .map(SecretString::from)
                .ok_or(SecretsError::MissingEnv(name))
        };
        Ok(StaticSecrets::new(Secrets {
            signing_secret: required("SLACK_SIGNING_SECRET")?,
            bot_token: get("SLACK_BOT_TOKEN").map(SecretString::from),
            provider_webhook_secret: required("PROVIDER_WEBHOOK_SECRET")?,
            client_id: get("SLACK_CLIENT_ID"),
            client_secret: get("SLACK_CLIENT_SECRET").map(SecretString::from),
            meeting_api_token: get("MEETING_API_TOKEN").map(SecretString::from),
        }))
    }
}

#[async_trait]
impl SecretSource for StaticSecrets {
    async fn current(&self) -> Result<Arc<Secrets>, SecretsError> {
        Ok(self.0.clone())
    }

    async fn refresh(&self) -> Result<Arc<Secrets>, SecretsError> {
        Ok(self.0.clone())
    }
}

/// Timeouts of an AWS client called now and then inside Slack's 3-second budget (a
/// secret on a cold start, a token to open): two attempts of 600 ms at the most.
pub(crate) fn in_budget_timeouts() -> aws_smithy_types::timeout::TimeoutConfig {
    aws_smithy_types::timeout::TimeoutConfig::builder()
        .operation_timeout(Duration::from_millis(1_200))
        .operation_attempt_timeout(Duration::from_millis(600))
        .build()
}

/// The retries that go with [`in_budget_timeouts`].
pub(crate) fn in_budget_retries() -> aws_smithy_types::retry::RetryConfig {
    aws_smithy_types::retry::RetryConfig::standard().with_max_attempts(2)
}

/// A Secrets Manager client whose calls end in time: the first request of a cold
/// container fetches the secret inside Slack's 3-second budget.
pub fn secrets_manager_client(
    sdk_config: &aws_config::SdkConfig,
) -> aws_sdk_secretsmanager::Client {
    let config = aws_sdk_secretsmanager::config::Builder::from(sdk_config)
        .timeout_config(in_budget_timeouts())
        .retry_config(in_budget_retries())
        .build();
    aws_sdk_secretsmanager::Client::from_conf(config)
}

/// How [`SecretsManagerSource`] caches: long enough that Secrets Manager is asked a few
/// times an hour per container, and never on every request, whatever it answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CachePolicy {
    /// A fetched secret is fresh this long; after that it is refreshed in the
    /// background while still being served.
    pub ttl: Duration,
    /// While Secrets Manager cannot be reached, the last good secret is served for up
    /// to this long past its TTL; after that requests are refused (fail closed).
    pub stale_grace: Duration,
    /// After a failed fetch, no new fetch for this long: the stale secret or the same
    /// error is answered meanwhile.
    pub failure_backoff: Duration,
    /// Forced refreshes ([`SecretSource::refresh`]: a signature that does not match, an
    /// `invalid_auth`) fetch at most this often; anyone can send a bad signature.
    pub min_refresh_interval: Duration,
}

impl Default for CachePolicy {
    fn default() -> Self {
        CachePolicy {
            ttl: DEFAULT_SECRET_TTL,
            stale_grace: Duration::from_secs(3_600),
            failure_backoff: Duration::from_secs(5),
            min_refresh_interval: Duration::from_secs(10),
        }
    }
}

/// Secrets Manager behind a per-container cache ([`CachePolicy`]): a cold container
/// fetches once (start it early with [`prefetch`](Self::prefetch)), a warm one serves
/// from memory and refreshes in the background, and an outage of Secrets Manager is
/// bridged with the last good secret for a bounded time.
pub struct SecretsManagerSource {
    inner: Arc<Inner>,
}

struct Inner {
    client: aws_sdk_secretsmanager::Client,
    secret_id: String,
    policy: CachePolicy,
    clock: Arc<dyn Clock>,
    state: std::sync::Mutex<CacheState>,
    /// Held across a fetch: concurrent cold starts share one request.
    fetching: Mutex<()>,
}

/// Whether a failed fetch holds off the next one for `failure_backoff`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Failure {
    Cache,
    Forget,
}

#[derive(Default)]
struct CacheState {
    good: Option<(UnixSeconds, Arc<Secrets>)>,
    failure: Option<(UnixSeconds, SecretsError)>,
    last_forced: Option<UnixSeconds>,
    refreshing: bool,
}

fn seconds(duration: Duration) -> i64 {
    i64::try_from(duration.as_secs()).unwrap_or(i64::MAX)
}

impl CacheState {
    /// The cached secret if it may still be served at `now`, and whether it is fresh.
    fn servable(&self, now: UnixSeconds, policy: &CachePolicy) -> Option<(Arc<Secrets>, bool)> {
        let (fetched_at, secrets) = self.good.as_ref()?;
        let age = now.saturating_sub(*fetched_at);
        let fresh = age < seconds(policy.ttl);
        let servable = age < seconds(policy.ttl).saturating_add(seconds(policy.stale_grace));
        servable.then(|| (secrets.clone(), fresh))
    }

    /// The last fetch failed less than `failure_backoff` ago.
    fn recent_failure(&self, now: UnixSeconds, policy: &CachePolicy) -> Option<&SecretsError> {
        self.failure
            .as_ref()
            .filter(|(at, _)| now.saturating_sub(*at) < seconds(policy.failure_backoff))
            .map(|(_, error)| error)
    }
}

impl SecretsManagerSource {
    /// Cached for `ttl`, with the default [`CachePolicy`] otherwise, on the system clock.
    pub fn new(client: aws_sdk_secretsmanager::Client, secret_id: String, ttl: Duration) -> Self {
        let policy = CachePolicy {
            ttl,
            ..CachePolicy::default()
        };
        Self::with_policy(client, secret_id, policy, Arc::new(SystemClock))
    }

    pub fn with_policy(
        client: aws_sdk_secretsmanager::Client,
        secret_id: String,
        policy: CachePolicy,
        clock: Arc<dyn Clock>,
    ) -> Self {
        SecretsManagerSource {
            inner: Arc::new(Inner {
                client,
                secret_id,
                policy,
                clock,
                state: std::sync::Mutex::new(CacheState::default()),
                fetching: Mutex::new(()),
            }),
        }
    }

    /// Starts fetching in the background (at init), so the first request usually finds
    /// the secret ready; a request that comes sooner waits for this fetch, not another.
    /// A failure here is logged, not cached: the first request tries once more.
    pub fn prefetch(&self) {
        let inner = self.inner.clone();
        tokio::spawn(async move {
            let _fetching = inner.fetching.lock().await;
            if inner.state().good.is_none() {
                let _ = inner.fetch_and_record(Failure::Forget).await;
            }
        });
    }
}

impl Inner {
    fn state(&self) -> std::sync::MutexGuard<'_, CacheState> {
        // The state is plain data, consistent after every assignment: a panic
        // elsewhere while it was held leaves nothing half-written.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    async fn current(self: &Arc<Self>) -> Result<Arc<Secrets>, SecretsError> {
        let now = self.clock.now();
        {
            let mut state = self.state();
            if let Some((secrets, fresh)) = state.servable(now, &self.policy) {
                let may_fetch = state.recent_failure(now, &self.policy).is_none();
                if !fresh && may_fetch && !state.refreshing {
                    state.refreshing = true;
                    self.refresh_in_background();
                }
                return Ok(secrets);
            }
            if let Some(error) = state.recent_failure(now, &self.policy) {
                return Err(error.clone());
            }
        }
        let _fetching = self.fetching.lock().await;
        // Whoever held the lock may have fetched (or failed) meanwhile.
        let now = self.clock.now();
        {
            let state = self.state();
            if let Some((secrets, true)) = state.servable(now, &self.policy) {
                return Ok(secrets);
            }
            if let Some(error) = state.recent_failure(now, &self.policy) {
                return Err(error.clone());
            }
        }
        self.fetch_and_record(Failure::Cache).await
    }

    async fn refresh(self: &Arc<Self>) -> Result<Arc<Secrets>, SecretsError> {
        let now = self.clock.now();
        let allowed = {
            let mut state = self.state();
            let too_soon = state.last_forced.is_some_and(|at| {
                now.saturating_sub(at) < seconds(self.policy.min_refresh_interval)
            });
            let allowed = !too_soon && state.recent_failure(now, &self.policy).is_none();
            if allowed {
                state.last_forced = Some(now);
            }
            allowed
        };
        if !allowed {
            tracing::debug!(secret_id = %self.secret_id, "secret refreshed recently; using the cache");
            return self.current().await;
        }
        let _fetching = self.fetching.lock().await;
        self.fetch_and_record(Failure::Cache).await
    }

    fn refresh_in_background(self: &Arc<Self>) {
        /// Clears the flag however the task ends (a cancelled runtime included).
        struct Refreshing(Arc<Inner>);
        impl Drop for Refreshing {
            fn drop(&mut self) {
                self.0.state().refreshing = false;
            }
        }
        let flag = Refreshing(self.clone());
        tokio::spawn(async move {
            let inner = flag.0.clone();
            let _fetching = inner.fetching.lock().await;
            // The outcome is cached (and a failure logged) by `fetch_and_record`.
            let _ = inner.fetch_and_record(Failure::Cache).await;
            drop(flag);
        });
    }

    /// Fetches (the caller holds `fetching`) and caches the outcome: a new secret
    /// replaces the old; a failure keeps the old one, to serve within its grace, and is
    /// remembered for `failure_backoff` unless told to forget it.
    async fn fetch_and_record(&self, failure: Failure) -> Result<Arc<Secrets>, SecretsError> {
        let result = self.fetch().await;
        let now = self.clock.now();
        let mut state = self.state();
        match &result {
            Ok(secrets) => {
                state.good = Some((now, secrets.clone()));
                state.failure = None;
            }
            Err(error) => {
                let serving_stale = state.servable(now, &self.policy).is_some();
                tracing::warn!(%error, serving_stale, "secret could not be fetched");
                if failure == Failure::Cache {
                    state.failure = Some((now, error.clone()));
                }
            }
        }
        result
    }

    async fn fetch(&self) -> Result<Arc<Secrets>, SecretsError> {
        let output = self
            .client
            .get_secret_value()
            .secret_id(&self.secret_id)
            .send()
            .instrument(tracing::info_span!(
                "secrets_manager",
                otel.name = "SecretsManager.GetSecretValue",
                otel.kind = "client",
                rpc.system = "aws-api",
                rpc.service = "SecretsManager",
                rpc.method = "GetSecretValue",
            ))
            .await
            .map_err(|error| SecretsError::Fetch {
                secret_id: self.secret_id.clone(),
                reason: aws_sdk_secretsmanager::error::DisplayErrorContext(error).to_string(),
            })?;
        let text = output
            .secret_string()
            .ok_or_else(|| SecretsError::Malformed {
                secret_id: self.secret_id.clone(),
                reason: "the secret has no string value".into(),
            })?;
        // serde_json's error names the position and the field, never the value.
        let secrets: Secrets =
            serde_json::from_str(text).map_err(|error| SecretsError::Malformed {
                secret_id: self.secret_id.clone(),
                reason: error.to_string(),
            })?;
        Ok(Arc::new(secrets))
    }
}

#[async_trait]
impl SecretSource for SecretsManagerSource {
    async fn current(&self) -> Result<Arc<Secrets>, SecretsError> {
        self.inner.current().await
    }

    /// Fetches now, unless a forced refresh ran less than `min_refresh_interval` ago or
    /// the last fetch failed within `failure_backoff`: then the cache answers.
    async fn refresh(&self) -> Result<Arc<Secrets>, SecretsError> {
        self.inner.refresh().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    #[test]
    fn debug_never_prints_values() {
        let secrets: Secrets = serde_json::from_str(
            r#"{"signing_secret":"sign-me-123","bot_token":"xoxb-777","provider_webhook_secret":"hook-999","client_secret":"cs-42"}"#,
        )
        .expect("valid secret JSON");
        let shown = format!("{secrets:?}");
        for value in ["sign-me-123", "xoxb-777", "hook-999", "cs-42"] {
            assert!(!shown.contains(value), "{value} leaked in {shown}");
        }
        assert_eq!(secrets.signing_secret.expose_secret(), "sign-me-123");
    }

    #[test]
    fn environment_secrets_require_signing_and_provider_secret() {
        let missing = StaticSecrets::from_lookup(|_| None).err();
        assert!(matches!(
            missing,
            Some(SecretsError::MissingEnv("SLACK_SIGNING_SECRET"))
        ));
        let source = StaticSecrets::from_lookup(|name| match name {
            "SLACK_SIGNING_SECRET" => Some("s".into()),
            "PROVIDER_WEBHOOK_SECRET" => Some("p".into()),
            _ => None,
        });
        assert!(source.is_ok());
    }
}
