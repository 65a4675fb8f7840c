//! Entry points per event source, free of Lambda: an HTTP request's headers and raw
//! body in, an HTTP response out (the Lambda functions and the local server both call
//! these); stream records and schedules in, a batch response out (the worker).

pub mod commands;
pub mod events;
pub mod provider;
pub mod worker;

use http::header::{HeaderValue, CONTENT_TYPE};
use http::{Response, StatusCode};

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
