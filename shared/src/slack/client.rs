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
use serde::Serialize;
use serde_json::Value;
use tracing::Instrument;

use super::answer::{call_of, interpret_api, interpret_response_url, RESPONSE_URL};
use super::api::{
    CallsAdd, CallsEnd, CallsParticipants, CallsUpdate, ChatPostEphemeral, ChatPostMessage,
    ChatUnfurl, SlackApi, SlackCall,
};
use super::error::SlackError;
use super::oauth::{self, AuthTest, ClientCredentials, OAuthAccess, OAuthGrant};
use super::payloads::ResponseMessage;
use super::retry::RetryPolicy;
use crate::config::Config;
use crate::domain::SlackCallId;
use crate::metrics;

const JSON_UTF8: &str = "application/json; charset=utf-8";
/// No charset: Slack warns `superfluous_charset` about one on a form.
const FORM: &str = "application/x-www-form-urlencoded";

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

    /// Calls a Web API method; its `{"ok": true, ...}` answer, read leniently.
    ///
    /// Sent as JSON; when Slack cannot read a structured argument of it
    /// (`invalid_array_arg`, `invalid_form_data`), sent once more as a form with those
    /// arguments JSON-encoded, as the official SDKs send every request. Slack read
    /// nothing of a request it refused that way, so the second send cannot repeat one.
    async fn call(
        &self,
        method: &'static str,
        token: &SecretString,
        request: &impl Serialize,
    ) -> Result<Value, SlackError> {
        let mut authorization = HeaderValue::from_str(&format!("Bearer {}", token.expose_secret()))
            .map_err(|_| SlackError::Transport {
                method,
                reason: "the token is not a valid header value".into(),
            })?;
        authorization.set_sensitive(true);
        let url = format!("{}{method}", self.api_url);
        let json = encode_json(method, request)?;
        match self
            .send_with_retries(method, &url, Some(&authorization), json)
            .await
        {
            Err(error) if error.wants_form_encoding() => {
                tracing::info!(method, outcome = %error, "slack could not read the JSON body; sending it as a form");
                let form = encode_form(method, request)?;
                self.send_with_retries(method, &url, Some(&authorization), form)
                    .await
            }
            answer => answer,
        }
    }

    async fn send_with_retries(
        &self,
        method: &'static str,
        url: &str,
        authorization: Option<&HeaderValue>,
        body: Body,
    ) -> Result<Value, SlackError> {
        // Named for an OpenTelemetry exporter too (see `telemetry`).
        let span = tracing::info_span!(
            "slack_request",
            method,
            encoding = body.label(),
            otel.name = %format_args!("Slack.{method}"),
            otel.kind = "client",
            rpc.service = "Slack",
            rpc.method = method,
        );
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
                    self.send_once(method, url, authorization, &body, timeout)
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
        body: &Body,
        timeout: Duration,
    ) -> Result<Value, SlackError> {
        let mut request = self
            .http
            .post(url)
            .header(CONTENT_TYPE, body.content_type)
            // A cheap reference-counted clone: retries resend the same bytes.
            .body(body.bytes.clone())
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

/// An encoded request body.
struct Body {
    bytes: bytes::Bytes,
    content_type: &'static str,
}

impl Body {
    fn label(&self) -> &'static str {
        if self.content_type == FORM {
            "form"
        } else {
            "json"
        }
    }
}

fn encode_json(method: &'static str, request: &impl Serialize) -> Result<Body, SlackError> {
    serde_json::to_vec(request)
        .map(|bytes| Body {
            bytes: bytes.into(),
            content_type: JSON_UTF8,
        })
        .map_err(|error| encoding_error(method, &error))
}

/// The request as a form, the way the official SDKs send it: strings as they are,
/// numbers and booleans as text, arrays and objects (`users`, `unfurls`, `blocks`) as
/// JSON strings; unset fields left out.
fn encode_form(method: &'static str, request: &impl Serialize) -> Result<Body, SlackError> {
    let Value::Object(fields) =
        serde_json::to_value(request).map_err(|error| encoding_error(method, &error))?
    else {
        return Err(SlackError::Transport {
            method,
            reason: "the request could not be encoded: not an object".into(),
        });
    };
    let mut pairs: Vec<(String, String)> = Vec::with_capacity(fields.len());
    for (name, value) in fields {
        let text = match value {
            Value::Null => continue,
            Value::String(text) => text,
            Value::Bool(_) | Value::Number(_) => value.to_string(),
            Value::Array(_) | Value::Object(_) => {
                serde_json::to_string(&value).map_err(|error| encoding_error(method, &error))?
            }
        };
        pairs.push((name, text));
    }
    serde_urlencoded::to_string(&pairs)
        .map(|form| Body {
            bytes: form.into(),
            content_type: FORM,
        })
        .map_err(|error| encoding_error(method, &error))
}

fn encoding_error(method: &'static str, error: &dyn std::error::Error) -> SlackError {
    SlackError::Transport {
        method,
        reason: format!("the request could not be encoded: {error}"),
    }
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
        call_of("calls.add", &self.call("calls.add", token, request).await?)
    }

    async fn calls_update(
        &self,
        token: &SecretString,
        request: &CallsUpdate,
    ) -> Result<SlackCall, SlackError> {
        call_of(
            "calls.update",
            &self.call("calls.update", token, request).await?,
        )
    }

    async fn calls_info(
        &self,
        token: &SecretString,
        id: &SlackCallId,
    ) -> Result<SlackCall, SlackError> {
        let answer = self
            .call("calls.info", token, &serde_json::json!({ "id": id }))
            .await?;
        call_of("calls.info", &answer)
    }

    async fn calls_end(&self, token: &SecretString, request: &CallsEnd) -> Result<(), SlackError> {
        self.call("calls.end", token, request).await.map(drop)
    }

    async fn calls_participants_add(
        &self,
        token: &SecretString,
        request: &CallsParticipants,
    ) -> Result<(), SlackError> {
        self.call("calls.participants.add", token, request)
            .await
            .map(drop)
    }

    async fn calls_participants_remove(
        &self,
        token: &SecretString,
        request: &CallsParticipants,
    ) -> Result<(), SlackError> {
        self.call("calls.participants.remove", token, request)
            .await
            .map(drop)
    }

    async fn chat_unfurl(
        &self,
        token: &SecretString,
        request: &ChatUnfurl,
    ) -> Result<(), SlackError> {
        self.call("chat.unfurl", token, request).await.map(drop)
    }

    async fn chat_post_ephemeral(
        &self,
        token: &SecretString,
        request: &ChatPostEphemeral,
    ) -> Result<(), SlackError> {
        self.call("chat.postEphemeral", token, request)
            .await
            .map(drop)
    }

    async fn chat_post_message(
        &self,
        token: &SecretString,
        request: &ChatPostMessage,
    ) -> Result<(), SlackError> {
        self.call("chat.postMessage", token, request)
            .await
            .map(drop)
    }

    async fn post_response_url(
        &self,
        response_url: &str,
        message: &ResponseMessage,
    ) -> Result<(), SlackError> {
        // No token: the URL is the credential. Response URLs take JSON only.
        let body = encode_json(RESPONSE_URL, message)?;
        self.send_with_retries(RESPONSE_URL, response_url, None, body)
            .await
            .map(drop)
    }

    async fn oauth_v2_access(
        &self,
        grant: &OAuthGrant,
        client: &ClientCredentials,
    ) -> Result<OAuthAccess, SlackError> {
        let method = oauth::OAUTH_V2_ACCESS;
        let mut authorization =
            HeaderValue::from_str(&client.basic_authorization()).map_err(|_| {
                SlackError::Transport {
                    method,
                    reason: "the client credentials are not a valid header value".into(),
                }
            })?;
        authorization.set_sensitive(true);
        let body = serde_urlencoded::to_string(grant.form())
            .map(|form| Body {
                bytes: form.into(),
                content_type: FORM,
            })
            .map_err(|error| encoding_error(method, &error))?;
        let url = format!("{}{method}", self.api_url);
        // Once: a lost answer to a resent refresh would cost the only refresh token.
        let started = Instant::now();
        let answer = self
            .send_once(
                method,
                &url,
                Some(&authorization),
                &body,
                self.policy.request_timeout,
            )
            .await;
        let latency_ms = started.elapsed().as_millis() as u64;
        match &answer {
            Ok(_) => tracing::info!(method, latency_ms, outcome = "ok", "slack answered"),
            Err(error) => {
                tracing::warn!(method, latency_ms, outcome = %error, "slack request failed")
            }
        }
        oauth::access_of(answer?)
    }

    async fn auth_test(&self, token: &SecretString) -> Result<AuthTest, SlackError> {
        let answer = self
            .call(oauth::AUTH_TEST, token, &serde_json::json!({}))
            .await?;
        oauth::auth_test_of(&answer)
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

    #[test]
    fn forms_carry_structured_arguments_as_json_strings() {
        let request = serde_json::json!({
            "id": "R1", "duration": 65, "flag": true, "unset": null,
            "users": [{"slack_id": "U1"}, {"external_id": "g", "display_name": "A & B"}],
        });
        let form = encode_form("calls.participants.add", &request).expect("encodable");
        assert_eq!(form.content_type, "application/x-www-form-urlencoded");
        let pairs: Vec<(String, String)> =
            serde_urlencoded::from_bytes(&form.bytes).expect("a form");
        let field = |name: &str| {
            pairs
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(field("id"), Some("R1"));
        assert_eq!(field("duration"), Some("65"));
        assert_eq!(field("flag"), Some("true"));
        assert_eq!(field("unset"), None);
        let users: Value = serde_json::from_str(field("users").unwrap_or_default())
            .expect("users is a JSON string");
        assert_eq!(users, request["users"]);
        assert!(encode_form("calls.info", &"just a string").is_err());
    }
}
