//! Secrets: fetched on first use, cached per container, refreshed on a TTL so rotation
//! is picked up, and on demand (after Slack answers `invalid_auth`).
//!
//! Every value is a [`SecretString`]: `Debug` prints a redaction, never the value.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use secrecy::SecretString;
use serde::Deserialize;
use tokio::sync::Mutex;
use tracing::Instrument as _;

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

#[derive(Debug, thiserror::Error)]
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
    /// Drop the cache and fetch again (after an `invalid_auth`, say).
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

/// A Secrets Manager client whose calls end in time: the first request of a cold
/// container fetches the secret inside Slack's 3-second budget.
pub fn secrets_manager_client(
    sdk_config: &aws_config::SdkConfig,
) -> aws_sdk_secretsmanager::Client {
    use aws_sdk_secretsmanager::config::retry::RetryConfig;
    use aws_sdk_secretsmanager::config::timeout::TimeoutConfig;
    let config = aws_sdk_secretsmanager::config::Builder::from(sdk_config)
        .timeout_config(
            TimeoutConfig::builder()
                .operation_timeout(Duration::from_millis(1_200))
                .operation_attempt_timeout(Duration::from_millis(600))
                .build(),
        )
        .retry_config(RetryConfig::standard().with_max_attempts(2))
        .build();
    aws_sdk_secretsmanager::Client::from_conf(config)
}

/// Secrets Manager, cached for `ttl`.
pub struct SecretsManagerSource {
    client: aws_sdk_secretsmanager::Client,
    secret_id: String,
    ttl: Duration,
    cached: Mutex<Option<(Instant, Arc<Secrets>)>>,
}

impl SecretsManagerSource {
    pub fn new(client: aws_sdk_secretsmanager::Client, secret_id: String, ttl: Duration) -> Self {
        SecretsManagerSource {
            client,
            secret_id,
            ttl,
            cached: Mutex::new(None),
        }
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
        // Holding the lock across the fetch makes concurrent first uses share one request.
        let mut cached = self.cached.lock().await;
        if let Some((fetched_at, secrets)) = cached.as_ref() {
            if fetched_at.elapsed() < self.ttl {
                return Ok(secrets.clone());
            }
        }
        let secrets = self.fetch().await?;
        *cached = Some((Instant::now(), secrets.clone()));
        Ok(secrets)
    }

    async fn refresh(&self) -> Result<Arc<Secrets>, SecretsError> {
        let mut cached = self.cached.lock().await;
        let secrets = self.fetch().await?;
        *cached = Some((Instant::now(), secrets.clone()));
        Ok(secrets)
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
