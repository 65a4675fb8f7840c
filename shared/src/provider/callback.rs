//! What we tell the provider's backend (a declined DM call): a [`ProviderNotice`]
//! POSTed as JSON to `PROVIDER_CALLBACK_URL`, signed with the provider webhook secret
//! under the callback version of its scheme (`c0`, see [`super::CALLBACK_SIGNATURE`]),
//! so it can never be replayed to us as one of the provider's requests.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use crate::clock::Clock;
use crate::domain::ProviderNotice;
use crate::secrets::SecretSource;
use crate::telemetry::http_client_span;
use tracing::Instrument as _;

#[derive(Debug, thiserror::Error)]
pub enum CallbackError {
    /// Worth retrying: timeout, connection failure, 429 or 5xx.
    #[error("provider callback failed, will retry: {0}")]
    Transient(String),
    /// The provider refused the callback (4xx), or it could not be encoded: retrying
    /// will not help.
    #[error("provider callback refused: {0}")]
    Refused(String),
    #[error("no PROVIDER_CALLBACK_URL is configured")]
    NotConfigured,
}

#[async_trait]
pub trait ProviderCallback: Send + Sync {
    async fn notify(&self, notice: &ProviderNotice) -> Result<(), CallbackError>;
}

/// POSTs the notice to `PROVIDER_CALLBACK_URL`, signed in the provider's headers
/// (`X-Provider-Request-Timestamp`, `X-Provider-Signature: c0=...`).
pub struct HttpProviderCallback {
    http: reqwest::Client,
    url: Option<String>,
    secrets: Arc<dyn SecretSource>,
    clock: Arc<dyn Clock>,
    timeout: Duration,
}

impl HttpProviderCallback {
    pub fn new(
        http: reqwest::Client,
        url: Option<String>,
        secrets: Arc<dyn SecretSource>,
        clock: Arc<dyn Clock>,
        timeout: Duration,
    ) -> Self {
        HttpProviderCallback {
            http,
            url,
            secrets,
            clock,
            timeout,
        }
    }
}

#[async_trait]
impl ProviderCallback for HttpProviderCallback {
    async fn notify(&self, notice: &ProviderNotice) -> Result<(), CallbackError> {
        let Some(url) = &self.url else {
            return Err(CallbackError::NotConfigured);
        };
        let body = serde_json::to_vec(notice).map_err(|error| {
            CallbackError::Refused(format!("the notice could not be encoded: {error}"))
        })?;
        let secrets = self
            .secrets
            .current()
            .await
            .map_err(|error| CallbackError::Transient(error.to_string()))?;
        let headers = super::CALLBACK_SIGNATURE.signed_headers(
            &secrets.provider_webhook_secret,
            self.clock.now(),
            &body,
        );
        let response = self
            .http
            .post(url)
            .headers(headers)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .timeout(self.timeout)
            .body(body)
            .send()
            .instrument(http_client_span("ProviderCallback", "Notify"))
            .await
            .map_err(|error| CallbackError::Transient(error.without_url().to_string()))?;
        let status = response.status();
        if status.is_success() {
            Ok(())
        } else if status.is_server_error() || status == reqwest::StatusCode::TOO_MANY_REQUESTS {
            Err(CallbackError::Transient(format!("HTTP {status}")))
        } else {
            Err(CallbackError::Refused(format!("HTTP {status}")))
        }
    }
}
