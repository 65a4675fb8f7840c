//! Entry points per event source, free of Lambda: an HTTP request's headers and raw
//! body in, an HTTP response out (the Lambda functions and the local server both call
//! these); stream records and schedules in, a batch response out (the worker).

pub mod commands;
pub mod events;
pub mod install;
mod install_page;
pub mod provider;
pub mod worker;

use std::sync::Arc;

use http::header::{HeaderValue, CONTENT_TYPE};
use http::{HeaderMap, Response, StatusCode};
use secrecy::SecretString;

use crate::flows::Services;
use crate::secrets::Secrets;
use crate::signing::{SignatureRefusal, SignatureScheme, SignedRequest};

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

/// The body of every 401: which check failed is for our log, not for the sender.
pub const UNAUTHORIZED: &str = "the request could not be authenticated";

/// Lets the request through only if `scheme` verifies it with the secret `secret`
/// picks, and says what it was signed with: 503 when the secrets cannot be had (fail
/// closed), 401 when the signature does not hold. A signature that does not match is
/// tried once more with the secret fetched again (rate-limited by the source), so a
/// rotated secret works at once. Logs the reason, never the signature or body.
pub(crate) async fn authenticate(
    services: &Services,
    headers: &HeaderMap,
    body: &[u8],
    scheme: &SignatureScheme,
    secret: fn(&Secrets) -> &SecretString,
) -> Result<SignedRequest, Response<String>> {
    let secrets = services.secrets.current().await.map_err(|error| {
        tracing::error!(%error, "secrets unavailable; refusing the request");
        error_response(StatusCode::SERVICE_UNAVAILABLE, "temporarily unavailable")
    })?;
    let now = services.clock.now();
    let mut verdict = scheme.verify(secret(&secrets), headers, body, now);
    if verdict == Err(SignatureRefusal::Mismatch) {
        match services.secrets.refresh().await {
            Ok(fresh) if !Arc::ptr_eq(&fresh, &secrets) => {
                verdict = scheme.verify(secret(&fresh), headers, body, now);
                if verdict.is_ok() {
                    tracing::info!("request verified with the secret fetched again (rotated)");
                }
            }
            Ok(_) => {}
            Err(error) => tracing::warn!(%error, "the secret could not be fetched again"),
        }
    }
    verdict
        .and_then(|()| {
            scheme
                .signed_request(headers)
                .ok_or(SignatureRefusal::MalformedSignature)
        })
        .map_err(|refusal| {
            tracing::warn!(reason = refusal.reason(), "request refused");
            error_response(refusal.status(), UNAUTHORIZED)
        })
}
