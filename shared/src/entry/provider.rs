//! `POST /provider/events`: the provider's backend tells us about its meetings.

use http::{HeaderMap, Response, StatusCode};

use crate::flows::provider_events::{apply_provider_events, EventStatus};
use crate::flows::Services;
use crate::metrics::{self, EntryPoint};
use crate::provider;
use crate::provider::events::{check_desktop_urls, parse_batch};

use super::{authenticate, error_response, json_response};

/// 100 events of a few hundred bytes each, with room to spare.
pub const MAX_PROVIDER_BODY_BYTES: usize = 256 * 1024;

pub async fn handle_provider_events(
    services: &Services,
    headers: &HeaderMap,
    body: &[u8],
) -> Response<String> {
    let started = std::time::Instant::now();
    let response = answer_request(services, headers, body).await;
    metrics::emit(metrics::answered(EntryPoint::Provider, started.elapsed()));
    response
}

async fn answer_request(services: &Services, headers: &HeaderMap, body: &[u8]) -> Response<String> {
    if body.len() > MAX_PROVIDER_BODY_BYTES {
        return error_response(StatusCode::PAYLOAD_TOO_LARGE, "the body is too large");
    }
    let signed = match authenticate(services, headers, body, &provider::SIGNATURE, |s| {
        &s.provider_webhook_secret
    })
    .await
    {
        Ok(signed) => signed,
        Err(refusal) => return refusal,
    };
    // The whole batch is validated before any of it is applied.
    let desktop_template = services.config.desktop_join_url_template.as_deref();
    let events: Vec<_> = match parse_batch(body)
        .and_then(|events| check_desktop_urls(&events, desktop_template).map(|()| events))
    {
        Ok(events) => events
            .into_iter()
            .map(|event| event.timed(signed.timestamp))
            .collect(),
        Err(error) => return error_response(StatusCode::BAD_REQUEST, &error.to_string()),
    };
    let results = apply_provider_events(&events, services).await;
    let any_error = results.iter().any(|r| r.status == EventStatus::Error);
    let status = if any_error {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::ACCEPTED
    };
    json_response(status, &serde_json::json!({ "results": results }))
}
