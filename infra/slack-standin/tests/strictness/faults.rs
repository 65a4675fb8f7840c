//! Fault injection.

use std::time::Duration;

use serde_json::json;
use slack_standin::{Fault, SlackStandin};

use crate::support::*;

#[tokio::test]
async fn faults_misbehave_as_told() {
    let slack = SlackStandin::start().await;
    let id = add_call(&slack, "fault-1").await;
    let info = json!({"id": id});

    slack.inject(Fault::on("calls.info").rate_limited(7).times(1));
    let limited = bot(&slack, "calls.info", info.clone()).await;
    assert_eq!(limited.status, 429);
    assert_eq!(limited.retry_after.as_deref(), Some("7"));
    assert_eq!(limited.error(), Some("ratelimited"));
    assert!(
        bot(&slack, "calls.info", info.clone()).await.ok(),
        "only once"
    );

    slack.inject(Fault::all().http_status(503).times(1));
    assert_eq!(bot(&slack, "calls.info", info.clone()).await.status, 503);
    slack.inject(
        Fault::on("calls.info")
            .slack_error("service_unavailable")
            .times(1),
    );
    assert_eq!(
        bot(&slack, "calls.info", info.clone()).await.error(),
        Some("service_unavailable")
    );
    // Faults on another method leave this one alone.
    slack.inject(Fault::on("calls.end").slack_error("internal_error"));
    assert!(bot(&slack, "calls.info", info.clone()).await.ok());
    slack.clear_faults();

    slack.inject(Fault::on("calls.info").malformed().times(1));
    let malformed = bot(&slack, "calls.info", info.clone()).await;
    assert_eq!(malformed.status, 200);
    assert!(
        malformed
            .body
            .as_str()
            .is_some_and(|text| text.starts_with("<html>")),
        "not JSON: {:?}",
        malformed.body
    );

    slack.inject(
        Fault::on("calls.info")
            .latency(Duration::from_millis(200))
            .times(1),
    );
    let started = std::time::Instant::now();
    assert!(bot(&slack, "calls.info", info.clone()).await.ok());
    assert!(started.elapsed() >= Duration::from_millis(200));

    slack.inject(Fault::on("calls.info").hang().times(1));
    let hung = reqwest::Client::new()
        .post(format!("{}calls.info", slack.api_url()))
        .bearer_auth(slack.bot_token())
        .json(&info)
        .timeout(Duration::from_millis(300))
        .send()
        .await;
    assert!(hung.is_err_and(|error| error.is_timeout()));

    let recorded = slack.requests_for("calls.info");
    assert_eq!(recorded.len(), 8);
    assert_eq!(recorded[0].status, Some(429));
    assert_eq!(recorded[0].body, info);
    assert_eq!(recorded[0].token.as_deref(), Some(slack.bot_token()));
    assert_eq!(
        recorded[7].status, None,
        "the hung request was never answered"
    );
    assert!(recorded.windows(2).all(|pair| pair[0].at <= pair[1].at));
}

/// The product's retry-as-form path: Slack refusing a JSON array (`invalid_array_arg`)
/// while the same arguments as a form go through.
#[tokio::test]
async fn a_fault_can_refuse_json_bodies_only() {
    let slack = SlackStandin::start().await;
    let id = add_call(&slack, "json-only").await;
    slack.inject(
        Fault::on("calls.participants.add")
            .slack_error("invalid_array_arg")
            .json_bodies_only(),
    );
    let as_json = bot(
        &slack,
        "calls.participants.add",
        json!({"id": id, "users": [{"slack_id": "U0BOB"}]}),
    )
    .await;
    assert_eq!(as_json.error(), Some("invalid_array_arg"));
    let as_form = bot_form(
        &slack,
        "calls.participants.add",
        &[("id", &id), ("users", r#"[{"slack_id":"U0BOB"}]"#)],
    )
    .await;
    assert!(as_form.ok(), "{:?}", as_form.body);
    assert_eq!(slack.call(&id).expect("call").participant_ids(), ["U0BOB"]);
}
