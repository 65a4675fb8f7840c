//! Telling the provider's backend what Slack saw (a declined DM call), signed with the
//! provider webhook secret in the same scheme it uses to call us.

use async_trait::async_trait;

#[derive(Debug, thiserror::Error)]
pub enum CallbackError {
    /// Worth retrying: timeout, connection failure, 429 or 5xx.
    #[error("provider callback failed, will retry: {0}")]
    Transient(String),
    /// The provider refused the callback (4xx): retrying will not help.
    #[error("provider callback refused: {0}")]
    Refused(String),
    #[error("no PROVIDER_CALLBACK_URL is configured")]
    NotConfigured,
}

#[async_trait]
pub trait ProviderCallback: Send + Sync {
    async fn notify(&self, payload: &serde_json::Value) -> Result<(), CallbackError>;
}

/// POSTs the payload to `PROVIDER_CALLBACK_URL`, signed like the provider signs its
/// webhooks to us (`X-Provider-Request-Timestamp`, `X-Provider-Signature`).
pub struct HttpProviderCallback {
    http: reqwest::Client,
    url: Option<String>,
    secrets: std::sync::Arc<dyn crate::secrets::SecretSource>,
    clock: std::sync::Arc<dyn crate::clock::Clock>,
    timeout: std::time::Duration,
}

impl HttpProviderCallback {
    pub fn new(
        http: reqwest::Client,
        url: Option<String>,
        secrets: std::sync::Arc<dyn crate::secrets::SecretSource>,
        clock: std::sync::Arc<dyn crate::clock::Clock>,
        timeout: std::time::Duration,
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
    async fn notify(&self, payload: &serde_json::Value) -> Result<(), CallbackError> {
        let Some(url) = &self.url else {
            return Err(CallbackError::NotConfigured);
        };
        let secrets = self
            .secrets
            .current()
            .await
            .map_err(|error| CallbackError::Transient(error.to_string()))?;
        let body = payload.to_string().into_bytes();
        let headers = crate::slack::signature::PROVIDER.signed_headers(
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
