//! What Slack's answers mean: the Web API's `{"ok": …, "error": …}` and the looser
//! answers of `response_url`, as values or typed errors.

use http::header::HeaderMap;
use serde::Deserialize;

use super::error::{ApiErrorCode, SlackError};
use super::retry::retry_after;

/// The label `response_url` posts carry in errors and logs (the URL itself is secret).
pub(super) const RESPONSE_URL: &str = "response_url";

/// The shape shared by every Web API answer.
#[derive(Deserialize)]
struct Status {
    ok: bool,
    #[serde(default)]
    error: Option<String>,
}

pub(super) fn interpret_api(
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
pub(super) fn interpret_response_url(
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::slack::RetryClass;
    use http::header::{HeaderValue, RETRY_AFTER};
    use std::time::Duration;

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
}
