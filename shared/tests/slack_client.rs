//! `SlackClient` against the Slack stand-in, over real HTTP on loopback.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use secrecy::SecretString;
use serde_json::json;
use slack_calls::domain::{CallUser, ExternalId, IdError, SlackCallId, UnfurlSource, UnfurlTarget};
use slack_calls::slack::api::{
    CallsAdd, CallsEnd, CallsParticipants, CallsUpdate, ChatPostEphemeral, ChatPostMessage,
    ChatUnfurl,
};
use slack_calls::slack::payloads::{call_block, ResponseMessage};
use slack_calls::slack::{
    ApiErrorCode, RetryClass, RetryPolicy, SlackApi, SlackClient, SlackError,
};
use slack_standin::{Fault, SlackStandin};

/// Retries quickly, with a budget far below anything that could stall a test run.
fn quick() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 3,
        budget: Duration::from_secs(5),
        request_timeout: Duration::from_secs(2),
        base_backoff: Duration::from_millis(20),
    }
}

fn client(slack: &SlackStandin, policy: RetryPolicy) -> SlackClient {
    SlackClient::new(&slack.api_url(), policy).expect("the stand-in URL is valid")
}

fn token(slack: &SlackStandin) -> SecretString {
    SecretString::from(slack.bot_token().to_owned())
}

/// `value` as the id type wanted; panics if it is not one.
fn id<T: std::str::FromStr<Err = IdError>>(value: &str) -> T {
    value
        .parse()
        .unwrap_or_else(|error| panic!("test id {value:?}: {error}"))
}

fn add_request(external_id: &str) -> CallsAdd {
    CallsAdd {
        external_unique_id: id(external_id),
        join_url: format!("https://meet.jit.si/{external_id}"),
        created_by: Some(id("U0ALICE")),
        date_start: Some(1_700_000_000),
        desktop_app_join_url: None,
        external_display_id: Some("705-292-868".into()),
        title: Some("Daily sync".into()),
        users: Some(vec![CallUser::Slack {
            slack_id: id("U0ALICE"),
        }]),
    }
}

fn participants(call_id: &SlackCallId, users: Vec<CallUser>) -> CallsParticipants {
    CallsParticipants {
        id: call_id.clone(),
        users,
    }
}

fn guest() -> CallUser {
    CallUser::External {
        external_id: "guest-7".into(),
        display_name: "Guest".into(),
        avatar_url: Some("https://example.com/a.png".into()),
    }
}

#[tokio::test]
async fn every_method_works_end_to_end() {
    let slack = SlackStandin::start().await;
    let api = client(&slack, quick());
    let token = token(&slack);

    let call = api
        .calls_add(&token, &add_request("ext-1"))
        .await
        .expect("calls.add");
    assert!(call.id.as_str().starts_with('R'));
    assert_eq!(call.external_unique_id, Some(id::<ExternalId>("ext-1")));
    assert_eq!(call.date_start, Some(1_700_000_000));
    assert_eq!(call.title.as_deref(), Some("Daily sync"));
    // The request body is exactly Slack's shape.
    let sent = &slack.requests_for("calls.add")[0];
    assert_eq!(sent.body["users"], json!([{"slack_id": "U0ALICE"}]));
    assert_eq!(
        sent.content_type.as_deref(),
        Some("application/json; charset=utf-8")
    );
    assert_eq!(sent.token.as_deref(), Some(slack.bot_token()));

    let updated = api
        .calls_update(
            &token,
            &CallsUpdate {
                id: call.id.clone(),
                title: Some("Renamed".into()),
                join_url: None,
                desktop_app_join_url: Some("jitsi-meet://meet.jit.si/ext-1".into()),
            },
        )
        .await
        .expect("calls.update");
    assert_eq!(updated.title.as_deref(), Some("Renamed"));

    api.calls_participants_add(&token, &participants(&call.id, vec![guest()]))
        .await
        .expect("calls.participants.add");
    let info = api.calls_info(&token, &call.id).await.expect("calls.info");
    assert_eq!(
        info.users,
        vec![
            CallUser::Slack {
                slack_id: id("U0ALICE")
            },
            guest()
        ]
    );
    api.calls_participants_remove(&token, &participants(&call.id, vec![guest()]))
        .await
        .expect("calls.participants.remove");
    assert_eq!(
        slack
            .call(call.id.as_str())
            .expect("known")
            .participant_ids(),
        ["U0ALICE"]
    );

    let response_url = slack.new_response_url("C0GENERAL");
    api.post_response_url(
        &response_url,
        &ResponseMessage::call_in_channel(&call.id, "A call was started"),
    )
    .await
    .expect("response_url");
    let posts = slack.response_posts();
    assert_eq!(posts[0].accepted, Some(true));
    assert_eq!(posts[0].body["blocks"][0]["call_id"], json!(call.id));
    assert!(!posts[0].body.to_string().contains("xoxb-"));

    slack.add_message("C0GENERAL", "1700000000.000200");
    let mut unfurls = serde_json::Map::new();
    unfurls.insert(
        "https://meet.jit.si/ext-1".into(),
        json!({"blocks": [call_block(&call.id)]}),
    );
    api.chat_unfurl(
        &token,
        &ChatUnfurl {
            target: UnfurlTarget::Message {
                channel: id("C0GENERAL"),
                ts: "1700000000.000200".into(),
            },
            unfurls,
        },
    )
    .await
    .expect("chat.unfurl");

    api.chat_post_ephemeral(
        &token,
        &ChatPostEphemeral {
            channel: id("C0GENERAL"),
            user: id("U0BOB"),
            text: "Please log in first".into(),
            blocks: None,
        },
    )
    .await
    .expect("chat.postEphemeral");
    api.chat_post_message(
        &token,
        &ChatPostMessage {
            channel: id("C0GENERAL"),
            text: "A call was started".into(),
            blocks: Some(vec![call_block(&call.id)]),
        },
    )
    .await
    .expect("chat.postMessage");

    api.calls_end(
        &token,
        &CallsEnd {
            id: call.id.clone(),
            duration: Some(65),
        },
    )
    .await
    .expect("calls.end");
    let ended = slack.call(call.id.as_str()).expect("known");
    assert!(ended.ended());
    assert_eq!(ended.duration, Some(65));
}

#[tokio::test]
async fn ending_twice_is_recognisably_already_ended() {
    let slack = SlackStandin::start().await;
    let api = client(&slack, quick());
    let token = token(&slack);
    let call = api
        .calls_add(&token, &add_request("ext-end"))
        .await
        .expect("calls.add");
    let end = CallsEnd {
        id: call.id,
        duration: None,
    };
    api.calls_end(&token, &end).await.expect("first end");
    let error = api.calls_end(&token, &end).await.expect_err("second end");
    assert!(error.is_already_ended(), "{error}");
    assert_eq!(error.class(), RetryClass::BadRequest);
    assert_eq!(slack.requests_for("calls.end").len(), 2, "not retried");
}

#[tokio::test]
async fn adding_a_present_participant_is_recognisably_bad_users() {
    let slack = SlackStandin::start().await;
    let api = client(&slack, quick());
    let token = token(&slack);
    let call = api
        .calls_add(&token, &add_request("ext-users"))
        .await
        .expect("calls.add");
    let alice = participants(
        &call.id,
        vec![CallUser::Slack {
            slack_id: id("U0ALICE"),
        }],
    );
    // Slack documents this answer as `{"ok":true,"error":"bad_users"}`.
    let error = api
        .calls_participants_add(&token, &alice)
        .await
        .expect_err("already in the call");
    assert!(error.is_bad_users(), "{error}");
    assert!(error.is_about_one_user());
    let sent = slack.requests_for("calls.participants.add");
    assert_eq!(sent.len(), 1, "not retried");
    assert_eq!(sent[0].error.as_deref(), Some("bad_users"));

    // Removing someone who is not there is the same answer; nothing was applied.
    let absent_and_present = participants(
        &call.id,
        vec![
            guest(),
            CallUser::Slack {
                slack_id: id("U0ALICE"),
            },
        ],
    );
    let error = api
        .calls_participants_remove(&token, &absent_and_present)
        .await
        .expect_err("the guest is not in the call");
    assert!(error.is_bad_users(), "{error}");
    assert_eq!(
        slack
            .call(call.id.as_str())
            .expect("known")
            .participant_ids(),
        ["U0ALICE"]
    );
}

#[tokio::test]
async fn an_unknown_user_is_recognisably_about_one_user() {
    let slack = SlackStandin::start().await;
    let api = client(&slack, quick());
    let token = token(&slack);
    let call = api
        .calls_add(&token, &add_request("ext-gone"))
        .await
        .expect("calls.add");
    slack.forget_user("U0GONE");
    let gone = participants(
        &call.id,
        vec![CallUser::Slack {
            slack_id: id("U0GONE"),
        }],
    );
    let error = api
        .calls_participants_add(&token, &gone)
        .await
        .expect_err("the workspace does not know U0GONE");
    assert_eq!(error.code(), Some(&ApiErrorCode::UserNotFound));
    assert!(error.is_about_one_user());
    assert_eq!(error.class(), RetryClass::BadRequest);
}

#[tokio::test]
async fn a_json_array_slack_cannot_read_is_sent_again_as_a_form() {
    let slack = SlackStandin::start().await;
    let api = client(&slack, quick());
    let token = token(&slack);
    slack.inject(
        Fault::on("calls.add")
            .slack_error("invalid_array_arg")
            .json_bodies_only(),
    );
    let call = api
        .calls_add(&token, &add_request("ext-form"))
        .await
        .expect("the form is read");
    assert_eq!(slack.calls_with_external_id("ext-form").len(), 1);
    let sent = slack.requests_for("calls.add");
    assert_eq!(sent.len(), 2, "one JSON request, one form");
    assert_eq!(sent[0].error.as_deref(), Some("invalid_array_arg"));
    assert_eq!(
        sent[1].content_type.as_deref(),
        Some("application/x-www-form-urlencoded")
    );
    assert_eq!(sent[1].token.as_deref(), Some(slack.bot_token()));
    // As the official SDKs send it: `users` is a JSON string in a form.
    let users: serde_json::Value = serde_json::from_str(
        sent[1].body["users"]
            .as_str()
            .expect("users is a string in the form"),
    )
    .expect("holding JSON");
    assert_eq!(users, json!([{"slack_id": "U0ALICE"}]));
    assert_eq!(sent[1].body["date_start"], json!("1700000000"));

    slack.inject(
        Fault::on("calls.participants.add")
            .slack_error("invalid_form_data")
            .json_bodies_only()
            .times(1),
    );
    api.calls_participants_add(&token, &participants(&call.id, vec![guest()]))
        .await
        .expect("the form is read");
    assert_eq!(
        slack
            .call(call.id.as_str())
            .expect("known")
            .participant_ids(),
        ["U0ALICE", "guest-7"]
    );

    slack.add_message("C0GENERAL", "1700000000.000300");
    slack.inject(
        Fault::on("chat.unfurl")
            .slack_error("invalid_array_arg")
            .json_bodies_only()
            .times(1),
    );
    let mut unfurls = serde_json::Map::new();
    unfurls.insert(
        "https://meet.jit.si/ext-form".into(),
        json!({"blocks": [call_block(&call.id)]}),
    );
    api.chat_unfurl(
        &token,
        &ChatUnfurl {
            target: UnfurlTarget::Message {
                channel: id("C0GENERAL"),
                ts: "1700000000.000300".into(),
            },
            unfurls,
        },
    )
    .await
    .expect("the form is read");
    assert_eq!(slack.requests_for("chat.unfurl").len(), 2);
    assert_eq!(slack.messages()[0].unfurls.len(), 1);
}

#[tokio::test]
async fn a_form_refused_too_is_not_sent_a_third_time() {
    let slack = SlackStandin::start().await;
    let api = client(&slack, quick());
    slack.inject(Fault::on("calls.add").slack_error("invalid_array_arg"));
    let error = api
        .calls_add(&token(&slack), &add_request("ext-noform"))
        .await
        .expect_err("refused both ways");
    assert_eq!(error.code(), Some(&ApiErrorCode::InvalidArrayArg));
    let sent = slack.requests_for("calls.add");
    assert_eq!(
        sent.iter()
            .map(|r| r.content_type.as_deref().unwrap_or_default())
            .collect::<Vec<_>>(),
        [
            "application/json; charset=utf-8",
            "application/x-www-form-urlencoded"
        ]
    );
    assert!(slack.calls().is_empty());
}

#[tokio::test]
async fn richer_call_answers_are_read_for_what_we_use() {
    let slack = SlackStandin::start().await;
    let api = client(&slack, quick());
    let token = token(&slack);
    let call = api
        .calls_add(&token, &add_request("ext-rich"))
        .await
        .expect("calls.add");
    api.chat_post_message(
        &token,
        &ChatPostMessage {
            channel: id("C0GENERAL"),
            text: "A call was started".into(),
            blocks: Some(vec![call_block(&call.id)]),
        },
    )
    .await
    .expect("chat.postMessage");
    api.calls_end(
        &token,
        &CallsEnd {
            id: call.id.clone(),
            duration: None,
        },
    )
    .await
    .expect("calls.end");
    // The answer now carries `channels` and `date_end` too.
    let info = api.calls_info(&token, &call.id).await.expect("calls.info");
    assert_eq!(info.id, call.id);
    assert!(info.date_end.is_some(), "{info:?}");
    assert_eq!(info.external_unique_id, Some(id::<ExternalId>("ext-rich")));
}

#[tokio::test]
async fn rate_limit_then_success_honours_retry_after() {
    let slack = SlackStandin::start().await;
    slack.inject(Fault::on("calls.add").rate_limited(1).times(1));
    let api = client(&slack, quick());
    let call = api
        .calls_add(&token(&slack), &add_request("ext-429"))
        .await
        .expect("succeeds after waiting");
    assert!(call.id.as_str().starts_with('R'));
    let attempts = slack.requests_for("calls.add");
    assert_eq!(attempts.len(), 2);
    assert_eq!(attempts[0].status, Some(429));
    let waited = attempts[1].at.duration_since(attempts[0].at);
    assert!(
        waited >= Duration::from_millis(950),
        "waited only {waited:?}"
    );
    assert_eq!(slack.calls().len(), 1, "one call registered");
}

#[tokio::test]
async fn ratelimited_error_code_with_http_200_is_retried_too() {
    let slack = SlackStandin::start().await;
    slack.inject(Fault::on("calls.add").slack_error("ratelimited").times(1));
    let api = client(&slack, quick());
    api.calls_add(&token(&slack), &add_request("ext-rl"))
        .await
        .expect("succeeds on the retry");
    assert_eq!(slack.requests_for("calls.add").len(), 2);
}

#[tokio::test]
async fn server_errors_then_success() {
    let slack = SlackStandin::start().await;
    slack.inject(Fault::on("calls.add").http_status(503).times(1));
    slack.inject(
        Fault::on("calls.add")
            .slack_error("service_unavailable")
            .times(1),
    );
    let api = client(&slack, quick());
    api.calls_add(&token(&slack), &add_request("ext-5xx"))
        .await
        .expect("third attempt succeeds");
    let attempts = slack.requests_for("calls.add");
    assert_eq!(
        attempts.iter().map(|r| r.status).collect::<Vec<_>>(),
        [Some(503), Some(200), Some(200)]
    );
    assert_eq!(attempts[1].error.as_deref(), Some("service_unavailable"));
}

#[tokio::test]
async fn transient_errors_stop_at_max_attempts() {
    let slack = SlackStandin::start().await;
    slack.inject(Fault::on("calls.info").slack_error("internal_error"));
    let api = client(&slack, quick());
    let error = api
        .calls_info(&token(&slack), &id("R000000001"))
        .await
        .expect_err("never recovers");
    assert_eq!(error.code(), Some(&ApiErrorCode::InternalError));
    assert_eq!(slack.requests_for("calls.info").len(), 3);
}

#[tokio::test]
async fn permission_errors_are_not_retried() {
    let slack = SlackStandin::start().await;
    slack.inject(Fault::on("calls.add").slack_error("not_authorized"));
    let api = client(&slack, quick());
    let error = api
        .calls_add(&token(&slack), &add_request("ext-perm"))
        .await
        .expect_err("not authorized");
    assert_eq!(error.class(), RetryClass::Permission);
    assert_eq!(error.code(), Some(&ApiErrorCode::NotAuthorized));
    assert_eq!(slack.requests_for("calls.add").len(), 1);
}

#[tokio::test]
async fn dead_tokens_are_not_retried() {
    let slack = SlackStandin::start().await;
    let api = client(&slack, quick());

    slack.inject(Fault::on("calls.add").slack_error("invalid_auth").times(1));
    let error = api
        .calls_add(&token(&slack), &add_request("ext-auth"))
        .await
        .expect_err("invalid_auth");
    assert_eq!(error.class(), RetryClass::TokenDead);
    assert!(error.is_token_dead());
    assert_eq!(slack.requests_for("calls.add").len(), 1);

    // The stand-in's own answer for a revoked token, not an injected one.
    slack.add_token("xoxb-soon-revoked", "T0STANDIN");
    slack.revoke_token("xoxb-soon-revoked");
    let error = api
        .calls_info(
            &SecretString::from("xoxb-soon-revoked".to_owned()),
            &id("R1"),
        )
        .await
        .expect_err("revoked");
    assert_eq!(error.code(), Some(&ApiErrorCode::TokenRevoked));
    assert_eq!(slack.requests_for("calls.info").len(), 1);
}

#[tokio::test]
async fn retry_after_beyond_the_budget_fails_at_once() {
    let slack = SlackStandin::start().await;
    slack.inject(Fault::on("calls.add").rate_limited(30).times(1));
    let api = client(&slack, quick());
    let started = Instant::now();
    let error = api
        .calls_add(&token(&slack), &add_request("ext-long-wait"))
        .await
        .expect_err("30 s does not fit a 5 s budget");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "did not wait out Retry-After"
    );
    assert!(matches!(
        error,
        SlackError::RateLimited {
            retry_after: Some(wait),
            ..
        } if wait == Duration::from_secs(30)
    ));
    assert_eq!(slack.requests_for("calls.add").len(), 1);
}

#[tokio::test]
async fn a_hang_is_cut_by_the_request_timeout() {
    let slack = SlackStandin::start().await;
    slack.inject(Fault::on("calls.end").hang());
    let policy = RetryPolicy {
        max_attempts: 2,
        budget: Duration::from_secs(3),
        request_timeout: Duration::from_millis(300),
        base_backoff: Duration::from_millis(20),
    };
    let api = client(&slack, policy);
    let started = Instant::now();
    let error = api
        .calls_end(
            &token(&slack),
            &CallsEnd {
                id: id("R000000001"),
                duration: None,
            },
        )
        .await
        .expect_err("never answered");
    assert!(
        matches!(
            error,
            SlackError::Timeout {
                method: "calls.end"
            }
        ),
        "{error}"
    );
    assert_eq!(error.class(), RetryClass::Transient);
    assert_eq!(slack.requests_for("calls.end").len(), 2, "timed out twice");
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[tokio::test]
async fn a_hang_then_success_recovers() {
    let slack = SlackStandin::start().await;
    slack.inject(Fault::on("calls.add").hang().times(1));
    let policy = RetryPolicy {
        request_timeout: Duration::from_millis(300),
        ..quick()
    };
    let api = client(&slack, policy);
    api.calls_add(&token(&slack), &add_request("ext-hang"))
        .await
        .expect("second attempt answers");
    assert_eq!(slack.requests_for("calls.add").len(), 2);
}

#[tokio::test]
async fn response_url_errors_are_typed_and_never_name_the_url() {
    let slack = SlackStandin::start().await;
    let api = client(&slack, quick());
    let url = slack.new_response_url("C0GENERAL");
    // A call block naming a call Slack never issued.
    let error = api
        .post_response_url(&url, &ResponseMessage::call_in_channel(&id("R999"), "x"))
        .await
        .expect_err("unknown call id");
    assert_eq!(error.code(), Some(&ApiErrorCode::InvalidBlocks));
    let unknown = format!(
        "{}response/T0STANDIN/000000000099/secretpath",
        slack.base_url()
    );
    let error = api
        .post_response_url(&unknown, &ResponseMessage::ephemeral("hi"))
        .await
        .expect_err("never issued");
    assert_eq!(error.code(), Some(&ApiErrorCode::ExpiredUrl));
    assert!(!format!("{error} {error:?}").contains("secretpath"));
}

/// Collects formatted log lines so the test can read what would have been logged.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap_or_else(|p| p.into_inner())).into_owned()
    }
}

#[tokio::test]
async fn tokens_never_appear_in_errors_debug_or_logs() {
    const SECRET_TOKEN: &str = "xoxb-1111-2222-DoNotLeakThisToken";
    let logs = Captured::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let slack = SlackStandin::start().await;
    slack.add_token(SECRET_TOKEN, "T0STANDIN");
    let token = SecretString::from(SECRET_TOKEN.to_owned());
    let single = RetryPolicy {
        max_attempts: 1,
        budget: Duration::from_secs(2),
        request_timeout: Duration::from_millis(300),
        base_backoff: Duration::from_millis(10),
    };
    let api = client(&slack, single);
    let mut errors: Vec<SlackError> = Vec::new();

    // Api: a code from Slack.
    slack.inject(
        Fault::on("calls.info")
            .slack_error("missing_scope")
            .times(1),
    );
    // RateLimited, Http, InvalidResponse, Timeout: one fault each, in order.
    slack.inject(Fault::on("calls.info").rate_limited(60).times(1));
    slack.inject(Fault::on("calls.info").http_status(502).times(1));
    slack.inject(Fault::on("calls.info").malformed().times(1));
    slack.inject(Fault::on("calls.info").hang().times(1));
    for _ in 0..5 {
        errors.push(
            api.calls_info(&token, &id("R000000001"))
                .await
                .expect_err("each fault fails the call"),
        );
    }
    // Transport: nothing listens on the port of a stopped stand-in.
    let stopped = SlackStandin::start().await;
    let gone = client(&stopped, single);
    drop(stopped);
    errors.push(
        gone.calls_info(&token, &id("R000000001"))
            .await
            .expect_err("connection refused"),
    );
    // Transport, before sending: a token that cannot be a header value.
    errors.push(
        api.calls_info(&SecretString::from(format!("{SECRET_TOKEN}\n")), &id("R1"))
            .await
            .expect_err("invalid header value"),
    );
    // A real success, so the success path's logging is checked too.
    let call = api
        .calls_add(&token, &add_request("ext-leak"))
        .await
        .expect("calls.add");
    assert!(call.id.as_str().starts_with('R'));

    let kinds: Vec<&str> = errors
        .iter()
        .map(|error| match error {
            SlackError::Api { .. } => "api",
            SlackError::RateLimited { .. } => "rate_limited",
            SlackError::Http { .. } => "http",
            SlackError::Timeout { .. } => "timeout",
            SlackError::Transport { .. } => "transport",
            SlackError::InvalidResponse { .. } => "invalid_response",
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "api",
            "rate_limited",
            "http",
            "invalid_response",
            "timeout",
            "transport",
            "transport"
        ]
    );
    for error in &errors {
        let shown = format!("{error} | {error:?} | {:?}", error.class());
        assert!(!shown.contains(SECRET_TOKEN), "token leaked: {shown}");
        assert!(!shown.contains("DoNotLeak"), "token leaked: {shown}");
    }
    let client_debug = format!("{api:?} {gone:?}");
    assert!(!client_debug.contains("DoNotLeak"));

    let logged = logs.text();
    assert!(
        logged.contains("calls.info"),
        "requests are logged: {logged}"
    );
    assert!(logged.contains("attempt"), "attempts are logged: {logged}");
    assert!(!logged.contains("DoNotLeak"), "token leaked into logs");
    assert!(
        !logged.contains("ext-leak"),
        "request bodies are not logged"
    );
}

#[tokio::test]
async fn chat_unfurl_reaches_the_composer_and_messages_by_unfurl_id() {
    let slack = SlackStandin::start().await;
    let api = client(&slack, quick());
    let token = token(&slack);
    let call = api
        .calls_add(&token, &add_request("ext-composer"))
        .await
        .expect("calls.add");
    let url = "https://meet.jit.si/ext-composer";
    let unfurls = || {
        let mut unfurls = serde_json::Map::new();
        unfurls.insert(url.into(), json!({"blocks": [call_block(&call.id)]}));
        unfurls
    };

    let draft = slack.new_composer_unfurl("C0GENERAL", "U0ALICE");
    assert_eq!(draft.channel, "COMPOSER");
    api.chat_unfurl(
        &token,
        &ChatUnfurl {
            target: UnfurlTarget::Shared {
                unfurl_id: draft.unfurl_id.clone(),
                source: UnfurlSource::Composer,
            },
            unfurls: unfurls(),
        },
    )
    .await
    .expect("the composer is reached by unfurl_id");
    let sent = &slack.requests_for("chat.unfurl")[0].body;
    assert_eq!(sent["source"], "composer");
    assert!(sent.get("channel").is_none(), "{sent}");
    let composed = slack.composer_unfurls();
    assert_eq!(
        composed[0].unfurls[url]["blocks"][0]["call_id"],
        json!(call.id)
    );

    // By `channel` + `ts`, the composer is not a conversation.
    let error = api
        .chat_unfurl(
            &token,
            &ChatUnfurl {
                target: UnfurlTarget::Message {
                    channel: id("C0GENERAL"),
                    ts: draft.message_ts.clone(),
                },
                unfurls: unfurls(),
            },
        )
        .await
        .expect_err("no such message");
    assert_eq!(error.code(), Some(&ApiErrorCode::CannotFindMessage));

    // A posted message, by its unfurl id: only its own links.
    let posted = slack.link_shared("C0GENERAL", "1700000000.000400", &[url]);
    api.chat_unfurl(
        &token,
        &ChatUnfurl {
            target: UnfurlTarget::Shared {
                unfurl_id: posted.unfurl_id.clone(),
                source: UnfurlSource::ConversationsHistory,
            },
            unfurls: unfurls(),
        },
    )
    .await
    .expect("the message's own link");
    let other = slack.link_shared("C0GENERAL", "1700000000.000500", &["https://meet.jit.si/x"]);
    let error = api
        .chat_unfurl(
            &token,
            &ChatUnfurl {
                target: UnfurlTarget::Shared {
                    unfurl_id: other.unfurl_id,
                    source: UnfurlSource::ConversationsHistory,
                },
                unfurls: unfurls(),
            },
        )
        .await
        .expect_err("a link the message does not hold");
    assert_eq!(error.code(), Some(&ApiErrorCode::CannotUnfurlMessage));
}
