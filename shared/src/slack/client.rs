//! The reqwest adapter behind [`SlackApi`]: JSON requests with a bearer token, typed
//! errors, a timeout on every request, and bounded retries chosen by the caller.
//!
//! Tokens travel only in the `Authorization` header (marked sensitive); they never
//! appear in errors, logs or `Debug` output. Neither do request bodies or
//! `response_url`s, which are credentials too.

use std::time::{Duration, Instant};

use async_trait::async_trait;
use http::header::{HeaderMap, HeaderValue, AUTHORIZATION, CONTENT_TYPE, RETRY_AFTER};
use rand::Rng;
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use tracing::Instrument;

use super::api::{
    CallsAdd, CallsEnd, CallsParticipants, CallsUpdate, ChatPostEphemeral, ChatPostMessage,
    ChatUnfurl, SlackApi, SlackCall,
};
use super::error::{ApiErrorCode, RetryClass, SlackError};
use super::payloads::ResponseMessage;
use crate::config::Config;

const JSON_UTF8: &str = "application/json; charset=utf-8";
/// The label `response_url` posts carry in errors and logs (the URL itself is secret).
const RESPONSE_URL: &str = "response_url";
/// No single backoff wait grows past this, however many attempts a policy allows.
const MAX_BACKOFF: Duration = Duration::from_secs(10);

/// How hard one call tries. The caller picks: the worker has seconds to spare, a path
/// that must answer Slack within 3 s has almost none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included (0 counts as 1).
    pub max_attempts: u32,
    /// Wall time for all attempts and the waits between them.
    pub budget: Duration,
    /// Limit for one attempt (connect, send, and read the answer).
    pub request_timeout: Duration,
    /// First backoff wait; doubled per attempt, with jitter, capped at 10 s.
    pub base_backoff: Duration,
}

impl RetryPolicy {
    /// For the worker: a few attempts inside a budget well under the Lambda timeout.
    pub const fn worker() -> Self {
        RetryPolicy {
            max_attempts: 4,
            budget: Duration::from_secs(20),
            request_timeout: Duration::from_secs(5),
            base_backoff: Duration::from_millis(250),
        }
    }

    /// For a path that must still answer Slack within its 3 s: one quick attempt; the
    /// outbox and the worker take over on failure.
    pub const fn interactive() -> Self {
        RetryPolicy {
            max_attempts: 1,
            budget: Duration::from_millis(1500),
            request_timeout: Duration::from_millis(1500),
            base_backoff: Duration::from_millis(100),
        }
    }

    /// How long to wait before another attempt after `error`, or `None` to give up now:
    /// never for a bad request, a permission problem or a dead token; `Retry-After`
    /// only when it fits the remaining budget; otherwise exponential backoff with jitter
    /// when it fits.
    pub fn delay_before_retry(
        &self,
        error: &SlackError,
        attempts_made: u32,
        elapsed: Duration,
    ) -> Option<Duration> {
        if attempts_made >= self.max_attempts.max(1) {
            return None;
        }
        let delay = match error.class() {
            RetryClass::BadRequest | RetryClass::Permission | RetryClass::TokenDead => return None,
            RetryClass::RateLimited {
                retry_after: Some(wait),
            } => wait,
            RetryClass::RateLimited { retry_after: None } | RetryClass::Transient => {
                self.backoff(attempts_made)
            }
        };
        // The retry needs time of its own after the wait, so the wait must end inside
        // the budget, not at its edge.
        (elapsed.saturating_add(delay) < self.budget).then_some(delay)
    }

    /// "Equal jitter": half the exponential step fixed, half random, so clients spread
    /// out without any wait collapsing to nothing.
    fn backoff(&self, attempts_made: u32) -> Duration {
        let doublings = attempts_made.saturating_sub(1).min(16);
        let step = self
            .base_backoff
            .saturating_mul(1u32 << doublings)
            .min(MAX_BACKOFF);
        let half = step / 2;
        let jitter_ms = u64::try_from((step - half).as_millis()).unwrap_or(u64::MAX);
        half + Duration::from_millis(rand::rng().random_range(0..=jitter_ms))
    }
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy::worker()
    }
}

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

/// The shape shared by every Web API answer.
#[derive(Deserialize)]
struct Status {
    ok: bool,
    #[serde(default)]
    error: Option<String>,
}

#[derive(Deserialize)]
struct CallAnswer {
    call: SlackCall,
}

fn interpret_api(
    method: &'static str,
    status: http::StatusCode,
    headers: &HeaderMap,
    bytes: &[u8],
) -> Result<serde_json::Value, SlackError> {
    if status == http::StatusCode::TOO_MANY_REQUESTS {
        return Err(SlackError::RateLimited {
            method,
            retry_after: retry_after(headers),
        });
    }
    if !status.is_success() {
        return Err(SlackError::Http {
            method,
            status: status.as_u16(),
        });
    }
    let answer: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|error| SlackError::InvalidResponse {
            method,
            reason: format!("not JSON: {error}"),
        })?;
    let state = Status::deserialize(&answer).map_err(|error| SlackError::InvalidResponse {
        method,
        reason: error.to_string(),
    })?;
    if state.ok {
        return Ok(answer);
    }
    let code = state.error.ok_or_else(|| SlackError::InvalidResponse {
        method,
        reason: "ok is false but no error code was given".into(),
    })?;
    Err(api_error(method, &code, headers))
}

/// `response_url` answers `{"ok":true}` (or plain `ok`) on success; a JSON error code,
/// when present, is more telling than the status.
fn interpret_response_url(
    status: http::StatusCode,
    headers: &HeaderMap,
    bytes: &[u8],
) -> Result<serde_json::Value, SlackError> {
    let method = RESPONSE_URL;
    if status == http::StatusCode::TOO_MANY_REQUESTS {
        return Err(SlackError::RateLimited {
            method,
            retry_after: retry_after(headers),
        });
    }
    if let Ok(Status {
        ok: false,
        error: Some(code),
    }) = serde_json::from_slice::<Status>(bytes)
    {
        return Err(api_error(method, &code, headers));
    }
    if status.is_success() {
        Ok(serde_json::Value::Null)
    } else {
        Err(SlackError::Http {
            method,
            status: status.as_u16(),
        })
    }
}

fn api_error(method: &'static str, code: &str, headers: &HeaderMap) -> SlackError {
    match ApiErrorCode::parse(code) {
        // Same meaning as HTTP 429: keep the Retry-After that came with it.
        ApiErrorCode::Ratelimited => SlackError::RateLimited {
            method,
            retry_after: retry_after(headers),
        },
        code => SlackError::Api { method, code },
    }
}

/// Slack sends `Retry-After` in whole seconds.
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    headers
        .get(RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse::<u64>()
        .ok()
        .map(Duration::from_secs)
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

    async fn calls_info(&self, token: &SecretString, id: &str) -> Result<SlackCall, SlackError> {
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

    fn policy() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 3,
            budget: Duration::from_secs(10),
            request_timeout: Duration::from_secs(2),
            base_backoff: Duration::from_millis(200),
        }
    }

    fn api(code: ApiErrorCode) -> SlackError {
        SlackError::Api {
            method: "calls.add",
            code,
        }
    }

    #[test]
    fn final_classes_are_never_retried() {
        for error in [
            api(ApiErrorCode::InvalidArguments),
            api(ApiErrorCode::NotAuthorized),
            api(ApiErrorCode::InvalidAuth),
            api(ApiErrorCode::Other("new_code".into())),
            SlackError::Http {
                method: "calls.add",
                status: 400,
            },
        ] {
            assert_eq!(
                policy().delay_before_retry(&error, 1, Duration::ZERO),
                None,
                "{error}"
            );
        }
    }

    #[test]
    fn transient_errors_back_off_exponentially_with_jitter() {
        let error = api(ApiErrorCode::ServiceUnavailable);
        for _ in 0..50 {
            let first = policy()
                .delay_before_retry(&error, 1, Duration::ZERO)
                .expect("retried");
            assert!((Duration::from_millis(100)..=Duration::from_millis(200)).contains(&first));
            let second = policy()
                .delay_before_retry(&error, 2, Duration::ZERO)
                .expect("retried");
            assert!((Duration::from_millis(200)..=Duration::from_millis(400)).contains(&second));
        }
        assert_eq!(policy().delay_before_retry(&error, 3, Duration::ZERO), None);
    }

    #[test]
    fn backoff_is_capped() {
        let policy = RetryPolicy {
            max_attempts: 40,
            budget: Duration::from_secs(3600),
            base_backoff: Duration::from_secs(1),
            ..policy()
        };
        let error = SlackError::Timeout {
            method: "calls.end",
        };
        let delay = policy
            .delay_before_retry(&error, 30, Duration::ZERO)
            .expect("retried");
        assert!(delay <= MAX_BACKOFF);
    }

    #[test]
    fn retry_after_is_honoured_only_inside_the_budget() {
        let limited = |secs| SlackError::RateLimited {
            method: "calls.add",
            retry_after: Some(Duration::from_secs(secs)),
        };
        assert_eq!(
            policy().delay_before_retry(&limited(3), 1, Duration::from_secs(1)),
            Some(Duration::from_secs(3))
        );
        assert_eq!(
            policy().delay_before_retry(&limited(30), 1, Duration::ZERO),
            None
        );
        assert_eq!(
            policy().delay_before_retry(&limited(3), 1, Duration::from_secs(8)),
            None
        );
    }

    #[test]
    fn zero_attempts_means_one() {
        let policy = RetryPolicy {
            max_attempts: 0,
            ..policy()
        };
        let error = SlackError::Timeout {
            method: "calls.end",
        };
        assert_eq!(policy.delay_before_retry(&error, 1, Duration::ZERO), None);
    }

    #[test]
    fn ok_false_answers_become_typed_errors() {
        let headers = HeaderMap::new();
        let error = interpret_api(
            "calls.end",
            http::StatusCode::OK,
            &headers,
            br#"{"ok":false,"error":"inactive_call"}"#,
        )
        .expect_err("ok is false");
        assert!(error.is_already_ended());
        let mut limited = HeaderMap::new();
        limited.insert(RETRY_AFTER, HeaderValue::from_static("4"));
        let error = interpret_api(
            "calls.add",
            http::StatusCode::OK,
            &limited,
            br#"{"ok":false,"error":"ratelimited"}"#,
        )
        .expect_err("rate limited");
        assert_eq!(
            error.class(),
            RetryClass::RateLimited {
                retry_after: Some(Duration::from_secs(4))
            }
        );
        let error = interpret_api("calls.add", http::StatusCode::OK, &headers, b"<html>")
            .expect_err("not JSON");
        assert!(matches!(error, SlackError::InvalidResponse { .. }));
        let error = interpret_api(
            "calls.add",
            http::StatusCode::OK,
            &headers,
            br#"{"ok":false}"#,
        )
        .expect_err("no code");
        assert!(matches!(error, SlackError::InvalidResponse { .. }));
        let error = interpret_api("calls.add", http::StatusCode::BAD_GATEWAY, &headers, b"")
            .expect_err("5xx");
        assert_eq!(error.class(), RetryClass::Transient);
    }

    #[test]
    fn response_url_accepts_plain_ok_and_reads_json_codes() {
        let headers = HeaderMap::new();
        assert!(interpret_response_url(http::StatusCode::OK, &headers, b"ok").is_ok());
        assert!(interpret_response_url(http::StatusCode::OK, &headers, br#"{"ok":true}"#).is_ok());
        let error = interpret_response_url(
            http::StatusCode::NOT_FOUND,
            &headers,
            br#"{"ok":false,"error":"expired_url"}"#,
        )
        .expect_err("expired");
        assert_eq!(error.code(), Some(&ApiErrorCode::ExpiredUrl));
        let error = interpret_response_url(http::StatusCode::SERVICE_UNAVAILABLE, &headers, b"")
            .expect_err("5xx");
        assert!(error.is_retryable());
    }

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
