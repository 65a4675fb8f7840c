//! What Slack's answers mean: the Web API's `{"ok": …, "error": …}` and the looser
//! answers of `response_url`, as values or typed errors.

use http::header::HeaderMap;
use serde::Deserialize;
use serde_json::Value;

use super::api::SlackCall;
use super::error::{ApiErrorCode, SlackError};
use super::retry::retry_after;
use crate::domain::{CallUser, ExternalId, SlackCallId};

/// The label `response_url` posts carry in errors and logs (the URL itself is secret).
pub(super) const RESPONSE_URL: &str = "response_url";

/// Reads a Web API answer leniently: `ok`, `error` and the warnings are all we need
/// from the envelope; whatever else Slack sends is ignored. An `error` fails the answer
/// whether `ok` is false or, as Slack documents for `bad_users` and a second
/// `calls.end`, true.
pub(super) fn interpret_api(
    method: &'static str,
    status: http::StatusCode,
    headers: &HeaderMap,
    bytes: &[u8],
) -> Result<Value, SlackError> {
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
    let answer: Value =
        serde_json::from_slice(bytes).map_err(|error| SlackError::InvalidResponse {
            method,
            reason: format!("not JSON: {error}"),
        })?;
    let Some(ok) = answer.get("ok").and_then(Value::as_bool) else {
        return Err(SlackError::InvalidResponse {
            method,
            reason: "the answer has no boolean `ok`".into(),
        });
    };
    let warnings = warnings(&answer);
    if !warnings.is_empty() {
        tracing::warn!(method, warnings = %warnings.join(","), "slack sent warnings");
    }
    match (ok, answer.get("error").and_then(Value::as_str)) {
        (true, None) => Ok(answer),
        // A call Slack created is a call to keep, whatever else the answer says:
        // refusing it would register the call again.
        (true, Some(code)) if method == "calls.add" && answer.pointer("/call/id").is_some() => {
            tracing::warn!(method, code, "slack registered the call with an error");
            Ok(answer)
        }
        (true, Some(code)) => {
            tracing::info!(method, code, "slack answered ok with an error");
            Err(api_error(method, code, headers))
        }
        (false, Some(code)) => Err(api_error(method, code, headers)),
        (false, None) => Err(SlackError::InvalidResponse {
            method,
            reason: "ok is false but no error code was given".into(),
        }),
    }
}

/// The warnings of an answer: the old top-level `warning` (comma-separated) and
/// `response_metadata.warnings`, without repeats.
fn warnings(answer: &Value) -> Vec<String> {
    let top = answer
        .get("warning")
        .and_then(Value::as_str)
        .into_iter()
        .flat_map(|list| list.split(','));
    let listed = answer
        .pointer("/response_metadata/warnings")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str);
    let mut warnings: Vec<String> = Vec::new();
    for warning in top.chain(listed).map(str::trim).filter(|w| !w.is_empty()) {
        if !warnings.iter().any(|seen| seen == warning) {
            warnings.push(warning.to_owned());
        }
    }
    warnings
}

/// The call of a `calls.*` answer: its `id` is required, everything else is taken when
/// it has the expected type and left out otherwise (Slack's call objects grow fields,
/// and a participant we cannot read must not fail the request that succeeded).
pub(super) fn call_of(method: &'static str, answer: &Value) -> Result<SlackCall, SlackError> {
    let call = answer.get("call").unwrap_or(&Value::Null);
    let Some(id) = call
        .get("id")
        .and_then(Value::as_str)
        .and_then(|id| SlackCallId::parse(id).ok())
    else {
        return Err(SlackError::InvalidResponse {
            method,
            reason: "the answer has no valid call.id".into(),
        });
    };
    let text = |name: &str| call.get(name).and_then(Value::as_str).map(str::to_owned);
    let number = |name: &str| call.get(name).and_then(Value::as_i64);
    let users = call
        .get("users")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|user| CallUser::deserialize(user).ok())
        .collect();
    Ok(SlackCall {
        id,
        date_start: number("date_start"),
        date_end: number("date_end").filter(|end| *end > 0),
        external_unique_id: text("external_unique_id").and_then(|id| ExternalId::try_from(id).ok()),
        join_url: text("join_url"),
        desktop_app_join_url: text("desktop_app_join_url"),
        external_display_id: text("external_display_id"),
        title: text("title"),
        users,
    })
}

/// The envelope of a `response_url` answer, when it is JSON.
#[derive(Deserialize)]
struct Status {
    ok: bool,
    #[serde(default)]
    error: Option<String>,
}

/// `response_url` answers `{"ok":true}` (or plain `ok`) on success; a JSON error code,
/// when present, is more telling than the status.
pub(super) fn interpret_response_url(
    status: http::StatusCode,
    headers: &HeaderMap,
    bytes: &[u8],
) -> Result<Value, SlackError> {
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
        Ok(Value::Null)
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
    fn ok_true_answers_with_an_error_are_that_error() {
        let headers = HeaderMap::new();
        let error = interpret_api(
            "calls.participants.add",
            http::StatusCode::OK,
            &headers,
            br#"{"ok":true,"error":"bad_users"}"#,
        )
        .expect_err("bad_users with ok true");
        assert!(error.is_bad_users());
        let error = interpret_api(
            "calls.end",
            http::StatusCode::OK,
            &headers,
            br#"{"ok":true,"error":"inactive_call","call":{"id":"R1"}}"#,
        )
        .expect_err("inactive_call with ok true");
        assert!(error.is_already_ended());
        let added = interpret_api(
            "calls.add",
            http::StatusCode::OK,
            &headers,
            br#"{"ok":true,"error":"bad_users","call":{"id":"R1"}}"#,
        )
        .expect("a call Slack created is kept");
        assert_eq!(
            call_of("calls.add", &added)
                .map(|c| c.id.to_string())
                .ok()
                .as_deref(),
            Some("R1")
        );
        let error = interpret_api(
            "calls.add",
            http::StatusCode::OK,
            &headers,
            br#"{"ok":true,"error":"bad_users"}"#,
        )
        .expect_err("no call, no success");
        assert!(error.is_bad_users());
        let error = interpret_api(
            "calls.end",
            http::StatusCode::OK,
            &headers,
            br#"{"ok":"yes"}"#,
        )
        .expect_err("ok must be a boolean");
        assert!(matches!(error, SlackError::InvalidResponse { .. }));
    }

    #[test]
    fn warnings_are_collected_from_both_places_once() {
        let answer = serde_json::json!({
            "ok": true,
            "warning": "missing_charset,superfluous_charset",
            "response_metadata": {"warnings": ["missing_charset", "method_deprecated"]}
        });
        assert_eq!(
            warnings(&answer),
            [
                "missing_charset",
                "superfluous_charset",
                "method_deprecated"
            ]
        );
        assert!(warnings(&serde_json::json!({"ok": true})).is_empty());
        let body = serde_json::to_vec(&answer).unwrap_or_default();
        assert!(interpret_api("calls.add", http::StatusCode::OK, &HeaderMap::new(), &body).is_ok());
    }

    #[test]
    fn calls_are_read_leniently_but_need_an_id() {
        // Fields of Slack's richer call objects, some of unexpected types.
        let answer = serde_json::json!({"ok": true, "call": {
            "id": "R0123", "date_start": "not a number", "date_end": 0, "title": 7,
            "channels": ["C1"], "is_dm_call": false, "external_unique_id": "e1",
            "users": [{"slack_id": "U1"}, {"external_id": "x"}, "junk",
                      {"external_id": "g", "display_name": "Guest", "extra": true}]
        }});
        let call = call_of("calls.info", &answer).expect("an id is enough");
        assert_eq!(call.id, "R0123");
        assert_eq!(
            (call.date_start, call.date_end, call.title),
            (None, None, None)
        );
        assert_eq!(
            call.external_unique_id.map(String::from).as_deref(),
            Some("e1")
        );
        assert_eq!(
            call.users,
            [
                CallUser::Slack {
                    slack_id: crate::domain::ids::id("U1")
                },
                CallUser::External {
                    external_id: "g".into(),
                    display_name: "Guest".into(),
                    avatar_url: None
                }
            ]
        );
        for answer in [
            serde_json::json!({"ok": true}),
            serde_json::json!({"ok": true, "call": {"id": ""}}),
            serde_json::json!({"ok": true, "call": {"id": 5}}),
            serde_json::json!({"ok": true, "call": {"id": "not an R id"}}),
        ] {
            assert!(matches!(
                call_of("calls.add", &answer),
                Err(SlackError::InvalidResponse { .. })
            ));
        }
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
