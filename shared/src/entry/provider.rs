//! `POST /provider/events`: the provider's backend tells us about its meetings.

use http::{HeaderMap, Response, StatusCode};

use crate::flows::provider_events::{apply_provider_events, EventStatus};
use crate::flows::Services;
use crate::slack::signature::verify_provider;

use super::{error_response, json_response};

/// 100 events of a few hundred bytes each, with room to spare.
pub const MAX_PROVIDER_BODY_BYTES: usize = 256 * 1024;

pub async fn handle_provider_events(
    services: &Services,
    headers: &HeaderMap,
    body: &[u8],
) -> Response<String> {
    if body.len() > MAX_PROVIDER_BODY_BYTES {
        return error_response(StatusCode::PAYLOAD_TOO_LARGE, "the body is too large");
    }
    let secrets = match services.secrets.current().await {
        Ok(secrets) => secrets,
        Err(error) => {
            tracing::error!(%error, "provider webhook secret unavailable; refusing the request");
            return error_response(StatusCode::SERVICE_UNAVAILABLE, "temporarily unavailable");
        }
    };
    if let Err(rejection) = verify_provider(
        &secrets.provider_webhook_secret,
        headers,
        body,
        services.clock.now(),
    ) {
        tracing::warn!(reason = rejection.reason(), "provider event refused");
        return error_response(rejection.status(), &rejection.to_string());
    }
    match apply_provider_events(body, services).await {
        Err(error) => error_response(StatusCode::BAD_REQUEST, &error.to_string()),
        Ok(results) => {
            let any_error = results.iter().any(|r| r.status == EventStatus::Error);
            let status = if any_error {
                StatusCode::SERVICE_UNAVAILABLE
            } else {
                StatusCode::ACCEPTED
            };
            json_response(status, &serde_json::json!({ "results": results }))
        }
    }
}
