//! Entry points per event source, free of Lambda: an HTTP request's headers and raw
//! body in, an HTTP response out (the Lambda functions and the local server both call
//! these); stream records and schedules in, a batch response out (the worker).

pub mod commands;
pub mod events;
pub mod provider;
pub mod worker;

use http::header::{HeaderValue, CONTENT_TYPE};
use http::{HeaderMap, Response, StatusCode};
use secrecy::SecretString;

use crate::flows::Services;
use crate::secrets::Secrets;
use crate::signing::SignatureScheme;

/// An HTTP answer with a JSON body.
pub fn json_response(status: StatusCode, body: &serde_json::Value) -> Response<String> {
    let mut response = Response::new(body.to_string());
    *response.status_mut() = status;
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    response
}

/// An error answer: `{"error": reason}`.
pub fn error_response(status: StatusCode, reason: &str) -> Response<String> {
    json_response(status, &serde_json::json!({ "error": reason }))
}

/// Lets the request through only if `scheme` verifies it with the secret `secret`
/// picks: 503 when the secrets cannot be had (fail closed), 401 with a short reason
/// when the signature does not hold. Logs the reason, never the signature or body.
pub(crate) async fn authenticate(
    services: &Services,
    headers: &HeaderMap,
    body: &[u8],
    scheme: &SignatureScheme,
    secret: fn(&Secrets) -> &SecretString,
) -> Result<(), Response<String>> {
    let secrets = services.secrets.current().await.map_err(|error| {
        tracing::error!(%error, "secrets unavailable; refusing the request");
        error_response(StatusCode::SERVICE_UNAVAILABLE, "temporarily unavailable")
    })?;
    scheme
        .verify(secret(&secrets), headers, body, services.clock.now())
        .map_err(|refusal| {
            tracing::warn!(reason = refusal.reason(), "request refused");
            error_response(refusal.status(), &refusal.to_string())
        })
}
