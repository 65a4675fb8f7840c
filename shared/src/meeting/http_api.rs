//! Meetings from the provider's own HTTP API (`MEETING_API_URL`).
//!
//! `POST {MEETING_API_URL}` with `Authorization: Bearer <meeting_api_token>` and
//! `{team_id, user_id, user_name, channel_id, title, type, phone_number?}`:
//! - `201 {join_url, desktop_join_url?, id?, display_id?}`: the meeting;
//! - `401`/`403 {login_url}`: the user must sign in first;
//! - anything else, or no answer within the timeout: unavailable.

use crate::domain::limits::{truncate_chars, url_fits, MAX_DISPLAY_ID_CHARS, MAX_URL_BYTES};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};

use super::{Meeting, MeetingError, MeetingProvider, MeetingRequest};
use crate::domain::{CallKind, ExternalId};
use crate::secrets::SecretSource;
use crate::telemetry::http_client_span;
use tracing::Instrument as _;

/// The provider shares Slack's 3-second budget with our own write: 0.8 s here plus the
/// store's 1.5 s stays inside the 2.5 s answer deadline, so the deadline never cuts off
/// a write that may already have landed.
pub const DEFAULT_MEETING_API_TIMEOUT: Duration = Duration::from_millis(800);

pub struct HttpMeetingProvider {
    http: reqwest::Client,
    url: String,
    secrets: Arc<dyn SecretSource>,
    timeout: Duration,
}

impl std::fmt::Debug for HttpMeetingProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpMeetingProvider")
            .field("url", &self.url)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl HttpMeetingProvider {
    pub fn new(
        http: reqwest::Client,
        url: String,
        secrets: Arc<dyn SecretSource>,
        timeout: Duration,
    ) -> Self {
        HttpMeetingProvider {
            http,
            url,
            secrets,
            timeout,
        }
    }
}

#[derive(Serialize)]
struct CreateMeeting<'a> {
    team_id: &'a str,
    user_id: &'a str,
    user_name: &'a str,
    channel_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    title: Option<&'a str>,
    #[serde(rename = "type")]
    kind: CallKind,
    #[serde(skip_serializing_if = "Option::is_none")]
    phone_number: Option<&'a str>,
}

#[derive(Deserialize)]
struct CreatedMeeting {
    join_url: String,
    #[serde(default)]
    desktop_join_url: Option<String>,
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    display_id: Option<String>,
}

#[derive(Deserialize)]
struct LoginNeeded {
    login_url: String,
}

fn is_web_url(value: &str) -> bool {
    url::Url::parse(value)
        .map(|u| matches!(u.scheme(), "https" | "http") && u.host().is_some())
        .unwrap_or(false)
}

#[async_trait]
impl MeetingProvider for HttpMeetingProvider {
    async fn allocate(&self, request: &MeetingRequest) -> Result<Meeting, MeetingError> {
        let secrets = self
            .secrets
            .current()
            .await
            .map_err(|error| MeetingError::Unavailable(error.to_string()))?;
        let token = secrets.meeting_api_token.as_ref().ok_or_else(|| {
            MeetingError::Unavailable("meeting_api_token is not configured".into())
        })?;
        let body = CreateMeeting {
            team_id: request.team_id.as_str(),
            user_id: request.user_id.as_str(),
            user_name: &request.user_name,
            channel_id: request.channel_id.as_str(),
            title: request.title.as_deref(),
            kind: request.kind,
            phone_number: request.phone_number.as_deref(),
        };
        let response = self
            .http
            .post(&self.url)
            .bearer_auth(token.expose_secret())
            .timeout(self.timeout)
            .json(&body)
            .send()
            .instrument(http_client_span("MeetingApi", "CreateMeeting"))
            .await
            .map_err(|error| {
                let reason = if error.is_timeout() {
                    "no answer in time".to_owned()
                } else {
                    // Without the URL: it may carry credentials in its query.
                    error.without_url().to_string()
                };
                MeetingError::Unavailable(reason)
            })?;
        let status = response.status();
        let bytes = response
            .bytes()
            .await
            .map_err(|error| MeetingError::Unavailable(error.without_url().to_string()))?;
        match status.as_u16() {
            200 | 201 => {
                let created: CreatedMeeting = serde_json::from_slice(&bytes).map_err(|error| {
                    MeetingError::Unavailable(format!("unexpected meeting answer: {error}"))
                })?;
                if !is_web_url(&created.join_url) {
                    return Err(MeetingError::Unavailable(
                        "the meeting's join_url is not an http(s) URL".into(),
                    ));
                }
                if !url_fits(&created.join_url)
                    || created
                        .desktop_join_url
                        .as_deref()
                        .is_some_and(|u| !url_fits(u))
                {
                    return Err(MeetingError::Unavailable(format!(
                        "the meeting's URLs must be at most {MAX_URL_BYTES} bytes"
                    )));
                }
                // The provider's id names the meeting in its events; without one, ours.
                let id = created
                    .id
                    .filter(|id| !id.trim().is_empty())
                    .unwrap_or_else(crate::domain::ids::new_id);
                let external_unique_id = ExternalId::parse(&id).map_err(|error| {
                    MeetingError::Unavailable(format!("the meeting's id is unusable: {error}"))
                })?;
                Ok(Meeting {
                    external_unique_id,
                    join_url: created.join_url,
                    desktop_join_url: created.desktop_join_url,
                    display_id: created
                        .display_id
                        .map(|id| truncate_chars(&id, MAX_DISPLAY_ID_CHARS)),
                    // The provider's `join_url` is the room shown in the conversation.
                    caller: None,
                })
            }
            401 | 403 => match serde_json::from_slice::<LoginNeeded>(&bytes) {
                Ok(login) if is_web_url(&login.login_url) => Err(MeetingError::LoginRequired {
                    login_url: login.login_url,
                }),
                _ => Err(MeetingError::Unavailable(format!(
                    "the meeting API refused us (HTTP {status}) without a login_url"
                ))),
            },
            422 if request.kind == CallKind::Audio => Err(MeetingError::PhoneCallsUnsupported),
            _ => Err(MeetingError::Unavailable(format!(
                "the meeting API answered HTTP {status}"
            ))),
        }
    }
}
