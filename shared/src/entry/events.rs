//! `POST /slack/events`: the Events API.

use http::header::HeaderValue;
use http::{HeaderMap, Response, StatusCode};

use crate::entry::commands::OTHER_APP;
use crate::flows::slack_events::{handle_event_callback, EventAck};
use crate::flows::Services;
use crate::metrics::{self, EntryPoint};
use crate::slack;
use crate::slack::payloads::Envelope;

use super::{authenticate, error_response, json_response};

/// Slack's event payloads are a few KB; link_shared with many links stays far below.
pub const MAX_EVENT_BODY_BYTES: usize = 256 * 1024;

pub async fn handle_events(
    services: &Services,
    headers: &HeaderMap,
    body: &[u8],
) -> Response<String> {
    let started = std::time::Instant::now();
    let response = answer_request(services, headers, body).await;
    metrics::emit(metrics::answered(EntryPoint::Events, started.elapsed()));
    response
}

async fn answer_request(services: &Services, headers: &HeaderMap, body: &[u8]) -> Response<String> {
    if body.len() > MAX_EVENT_BODY_BYTES {
        return no_retry(error_response(
            StatusCode::PAYLOAD_TOO_LARGE,
            "the body is too large",
        ));
    }
    if let Err(refusal) = authenticate(services, headers, body, &slack::SIGNATURE, |s| {
        &s.signing_secret
    })
    .await
    {
        return refusal;
    }
    let value: serde_json::Value = match serde_json::from_slice(body) {
        Ok(value) => value,
        Err(error) => {
            return no_retry(error_response(
                StatusCode::BAD_REQUEST,
                &format!("invalid JSON: {error}"),
            ));
        }
    };
    if !value.is_object() {
        return no_retry(error_response(
            StatusCode::BAD_REQUEST,
            "the body must be a JSON object",
        ));
    }
    let event_type = value
        .pointer("/event/type")
        .and_then(|t| t.as_str())
        .unwrap_or_default()
        .to_owned();
    let envelope: Envelope = match serde_json::from_value(value) {
        Ok(envelope) => envelope,
        Err(error) => {
            return no_retry(error_response(
                StatusCode::BAD_REQUEST,
                &format!("unexpected event shape: {error}"),
            ));
        }
    };
    match envelope {
        Envelope::UrlVerification { challenge } => json_response(
            StatusCode::OK,
            &serde_json::json!({ "challenge": challenge }),
        ),
        Envelope::EventCallback(callback) => {
            if let Err(reason) = callback.check() {
                return no_retry(error_response(
                    StatusCode::BAD_REQUEST,
                    &format!("unexpected event: {reason}"),
                ));
            }
            let retry = headers
                .get("x-slack-retry-num")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("0");
            match handle_event_callback(&callback, services).await {
                Ok(EventAck::OtherApp) => {
                    tracing::warn!(app = ?callback.api_app_id, event_type, "event for another app refused");
                    no_retry(error_response(StatusCode::FORBIDDEN, OTHER_APP))
                }
                Ok(ack) => {
                    match ack {
                        EventAck::Ignored => tracing::debug!(event_type, "event ignored"),
                        _ => {
                            tracing::info!(event_type, event_id = %callback.event_id, retry, ?ack, "event acknowledged")
                        }
                    }
                    json_response(StatusCode::OK, &serde_json::json!({ "ok": true }))
                }
                Err(error) => {
                    // Not the sender's fault: let Slack retry; the receipt makes it count once.
                    tracing::error!(%error, event_type, "event could not be recorded");
                    error_response(StatusCode::SERVICE_UNAVAILABLE, "temporarily unavailable")
                }
            }
        }
        Envelope::Other => {
            tracing::debug!("envelope type not handled");
            json_response(StatusCode::OK, &serde_json::json!({ "ok": true }))
        }
    }
}

/// A retry cannot fix a malformed request: tell Slack not to send it again.
fn no_retry(mut response: Response<String>) -> Response<String> {
    response
        .headers_mut()
        .insert("x-slack-no-retry", HeaderValue::from_static("1"));
    response
}
