//! The reqwest adapter behind [`SlackApi`]: JSON requests with a bearer token, typed
//! errors, a timeout on every request, and bounded retries chosen by the caller.
//!
//! Tokens travel only in the `Authorization` header (marked sensitive); they never
//! appear in errors, logs or `Debug` output. Neither do request bodies or
//! `response_url`s, which are credentials too.

use std::time::{Duration, Instant};

use async_trait::async_trait;
use http::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE};
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use tracing::Instrument;

use super::answer::{interpret_api, interpret_response_url, RESPONSE_URL};
use super::api::{
    CallsAdd, CallsEnd, CallsParticipants, CallsUpdate, ChatPostEphemeral, ChatPostMessage,
    ChatUnfurl, SlackApi, SlackCall,
};
use super::error::SlackError;
use super::payloads::ResponseMessage;
use super::retry::RetryPolicy;
use crate::config::Config;
use crate::domain::SlackCallId;
use crate::metrics;

const JSON_UTF8: &str = "application/json; charset=utf-8";

/// Why a [`SlackClient`] could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ClientBuildError {
    #[error("the Slack API URL is invalid: {0}")]
    InvalidApiUrl(String),
    #[error("the HTTP client could not be built: {0}")]
    Http(String),
}

/// Slack's Web API over reqwest. Cheap to clone: clones share one connection pool.
#[derive(Clone)]
pub struct SlackClient {
    http: reqwest::Client,
    /// Always ends in `/`, e.g. `https://slack.com/api/`.
    api_url: String,
    policy: RetryPolicy,
}

impl std::fmt::Debug for SlackClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Holds no token, but spelled out so that adding one later cannot leak it here.
        f.debug_struct("SlackClient")
            .field("api_url", &self.api_url)
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

impl SlackClient {
    /// A client for the Web API at `api_url` (e.g. `https://slack.com/api/`).
    pub fn new(api_url: &str, policy: RetryPolicy) -> Result<Self, ClientBuildError> {
        let http = reqwest::Client::builder()
            // Slack's API does not redirect; a redirect is not followed with our token.
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(policy.request_timeout)
            .user_agent(concat!("slack-calls/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|error| ClientBuildError::Http(error_chain(&error)))?;
        Self::with_http_client(http, api_url, policy)
    }

    /// A client for `SLACK_API_URL`.
    pub fn from_config(config: &Config, policy: RetryPolicy) -> Result<Self, ClientBuildError> {
        Self::new(&config.slack_api_url, policy)
    }

    /// A client on a reqwest client built elsewhere (shared pool, custom TLS roots).
    pub fn with_http_client(
        http: reqwest::Client,
        api_url: &str,
        policy: RetryPolicy,
    ) -> Result<Self, ClientBuildError> {
        let parsed = url::Url::parse(api_url)
            .map_err(|error| ClientBuildError::InvalidApiUrl(error.to_string()))?;
        if !matches!(parsed.scheme(), "http" | "https") || parsed.host().is_none() {
            return Err(ClientBuildError::InvalidApiUrl(
                "must be an http(s) URL with a host".into(),
            ));
        }
        let mut api_url = api_url.to_owned();
        if !api_url.ends_with('/') {
            api_url.push('/');
        }
        Ok(SlackClient {
            http,
            api_url,
            policy,
        })
    }

    /// The same client (same pool) with another retry policy.
    pub fn with_policy(&self, policy: RetryPolicy) -> Self {
        SlackClient {
            policy,
            ..self.clone()
        }
    }

    pub fn policy(&self) -> &RetryPolicy {
        &self.policy
    }

    pub fn api_url(&self) -> &str {
        &self.api_url
    }

    /// Calls a Web API method and decodes its `{"ok": true, ...}` answer.
    async fn call<T: DeserializeOwned>(
        &self,
        method: &'static str,
        token: &SecretString,
        request: &impl Serialize,
    ) -> Result<T, SlackError> {
        let mut authorization = HeaderValue::from_str(&format!("Bearer {}", token.expose_secret()))
            .map_err(|_| SlackError::Transport {
                method,
                reason: "the token is not a valid header value".into(),
            })?;
        authorization.set_sensitive(true);
        let url = format!("{}{method}", self.api_url);
        let answer = self
            .send_with_retries(method, &url, Some(authorization), request)
            .await?;
        serde_json::from_value(answer).map_err(|error| SlackError::InvalidResponse {
            method,
            reason: error.to_string(),
        })
    }

    async fn send_with_retries(
        &self,
        method: &'static str,
        url: &str,
        authorization: Option<HeaderValue>,
        request: &impl Serialize,
    ) -> Result<serde_json::Value, SlackError> {
        let body = serde_json::to_vec(request)
            .map(bytes::Bytes::from)
            .map_err(|error| SlackError::Transport {
                method,
                reason: format!("the request could not be encoded: {error}"),
            })?;
        let span = tracing::info_span!("slack_request", method);
        async {
            let started = Instant::now();
            let mut attempt = 0u32;
            loop {
                attempt += 1;
                let remaining = self.policy.budget.saturating_sub(started.elapsed());
                let timeout = self.policy.request_timeout.min(remaining);
                let attempt_started = Instant::now();
                let result = if timeout.is_zero() {
                    Err(SlackError::Timeout { method })
                } else {
                    self.send_once(method, url, authorization.as_ref(), &body, timeout)
                        .await
                };
                let latency_ms = attempt_started.elapsed().as_millis() as u64;
                let error = match result {
                    Ok(answer) => {
                        tracing::info!(attempt, latency_ms, outcome = "ok", "slack answered");
                        return Ok(answer);
                    }
                    Err(error) => error,
                };
                metrics::emit(metrics::slack_error(&error));
                let class = error.class();
                match self
                    .policy
                    .delay_before_retry(&error, attempt, started.elapsed())
                {
                    Some(delay) => {
                        tracing::info!(
                            attempt,
                            latency_ms,
                            outcome = %error,
                            ?class,
                            retry_in_ms = delay.as_millis() as u64,
                            "slack request failed; retrying"
                        );
                        tokio::time::sleep(delay).await;
                    }
                    None => {
                        tracing::warn!(
                            attempt,
                            latency_ms,
                            outcome = %error,
                            ?class,
                            "slack request failed"
                        );
                        return Err(error);
                    }
                }
            }
        }
        .instrument(span)
        .await
    }

    async fn send_once(
        &self,
        method: &'static str,
        url: &str,
        authorization: Option<&HeaderValue>,
        body: &bytes::Bytes,
        timeout: Duration,
    ) -> Result<serde_json::Value, SlackError> {
        let mut request = self
            .http
            .post(url)
            .header(CONTENT_TYPE, JSON_UTF8)
            // A cheap reference-counted clone: retries resend the same bytes.
            .body(body.clone())
            .timeout(timeout);
        if let Some(authorization) = authorization {
            request = request.header(AUTHORIZATION, authorization.clone());
        }
        let response = request
            .send()
            .await
            .map_err(|error| transport_error(method, error))?;
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response
            .bytes()
            .await
            .map_err(|error| transport_error(method, error))?;
        // `response_url` answers differ from the Web API's (plain `ok`, 404 when expired).
        if method == RESPONSE_URL {
            interpret_response_url(status, &headers, &bytes)
        } else {
            interpret_api(method, status, &headers, &bytes)
        }
    }
}

#[derive(Deserialize)]
struct CallAnswer {
    call: SlackCall,
}

fn transport_error(method: &'static str, error: reqwest::Error) -> SlackError {
    if error.is_timeout() {
        SlackError::Timeout { method }
    } else {
        SlackError::Transport {
            method,
            // Without the URL: a `response_url` is a credential.
            reason: error_chain(&error.without_url()),
        }
    }
}

/// The error and its sources, `: `-separated.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[async_trait]
impl SlackApi for SlackClient {
    async fn calls_add(
        &self,
        token: &SecretString,
        request: &CallsAdd,
    ) -> Result<SlackCall, SlackError> {
        let answer: CallAnswer = self.call("calls.add", token, request).await?;
        Ok(answer.call)
    }

    async fn calls_update(
        &self,
        token: &SecretString,
        request: &CallsUpdate,
    ) -> Result<SlackCall, SlackError> {
        let answer: CallAnswer = self.call("calls.update", token, request).await?;
        Ok(answer.call)
    }

    async fn calls_info(
        &self,
        token: &SecretString,
        id: &SlackCallId,
    ) -> Result<SlackCall, SlackError> {
        let answer: CallAnswer = self
            .call("calls.info", token, &serde_json::json!({ "id": id }))
            .await?;
        Ok(answer.call)
    }

    async fn calls_end(&self, token: &SecretString, request: &CallsEnd) -> Result<(), SlackError> {
        self.call::<serde::de::IgnoredAny>("calls.end", token, request)
            .await
            .map(drop)
    }

    async fn calls_participants_add(
        &self,
        token: &SecretString,
        request: &CallsParticipants,
    ) -> Result<(), SlackError> {
        self.call::<serde::de::IgnoredAny>("calls.participants.add", token, request)
            .await
            .map(drop)
    }

    async fn calls_participants_remove(
        &self,
        token: &SecretString,
        request: &CallsParticipants,
    ) -> Result<(), SlackError> {
        self.call::<serde::de::IgnoredAny>("calls.participants.remove", token, request)
            .await
            .map(drop)
    }

    async fn chat_unfurl(
        &self,
        token: &SecretString,
        request: &ChatUnfurl,
    ) -> Result<(), SlackError> {
        self.call::<serde::de::IgnoredAny>("chat.unfurl", token, request)
            .await
            .map(drop)
    }

    async fn chat_post_ephemeral(
        &self,
        token: &SecretString,
        request: &ChatPostEphemeral,
    ) -> Result<(), SlackError> {
        self.call::<serde::de::IgnoredAny>("chat.postEphemeral", token, request)
            .await
            .map(drop)
    }

    async fn chat_post_message(
        &self,
        token: &SecretString,
        request: &ChatPostMessage,
    ) -> Result<(), SlackError> {
        self.call::<serde::de::IgnoredAny>("chat.postMessage", token, request)
            .await
            .map(drop)
    }

    async fn post_response_url(
        &self,
        response_url: &str,
        message: &ResponseMessage,
    ) -> Result<(), SlackError> {
        // No token: the URL is the credential.
        self.send_with_retries(RESPONSE_URL, response_url, None, message)
            .await
            .map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_shows_the_url_and_policy() {
        let client =
            SlackClient::new("http://127.0.0.1:9/api", RetryPolicy::worker()).expect("valid URL");
        assert_eq!(client.api_url(), "http://127.0.0.1:9/api/");
        let shown = format!("{client:?}");
        assert!(shown.contains("127.0.0.1:9"));
        assert!(SlackClient::new("ftp://x/api/", RetryPolicy::worker()).is_err());
        assert!(SlackClient::new("not a url", RetryPolicy::worker()).is_err());
    }
}
