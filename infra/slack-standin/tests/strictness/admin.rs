//! The control endpoints the local demo drives the stand-in with.

use serde_json::{json, Value};
use slack_standin::SlackStandin;

use crate::support::*;

async fn control(slack: &SlackStandin, action: &str, body: Value) -> Answer {
    send(
        reqwest::Client::new()
            .post(format!("{}_standin/{action}", slack.base_url()))
            .json(&body),
    )
    .await
}

#[tokio::test]
async fn the_demo_can_shape_the_workspace() {
    let slack = SlackStandin::start().await;
    let draft = control(
        &slack,
        "composer_unfurls",
        json!({"channel": "C0GENERAL", "user": "U0ALICE"}),
    )
    .await;
    assert_eq!(draft.body["channel"], json!("COMPOSER"));
    assert_eq!(slack.composer_unfurls().len(), 1);
    let shared = control(
        &slack,
        "link_shared",
        json!({"channel": "C0GENERAL", "ts": "1.2", "links": ["https://meet.example/a"]}),
    )
    .await;
    assert_eq!(shared.body["source"], json!("conversations_history"));
    assert_eq!(
        slack.messages()[0].links,
        Some(vec!["https://meet.example/a".to_owned()])
    );

    assert!(control(
        &slack,
        "channels",
        json!({"channel": "C0X", "access": "archived"})
    )
    .await
    .ok());
    let posted = bot(
        &slack,
        "chat.postMessage",
        json!({"channel": "C0X", "text": "hi"}),
    )
    .await;
    assert_eq!(posted.error(), Some("is_archived"));
    assert_eq!(
        control(
            &slack,
            "channels",
            json!({"channel": "C0X", "access": "gone"})
        )
        .await
        .status,
        400
    );

    assert!(control(&slack, "unknown_users", json!({"user": "U0GONE"}))
        .await
        .ok());
    let id = add_call(&slack, "admin").await;
    let gone = bot(
        &slack,
        "calls.participants.add",
        json!({"id": id, "users": [{"slack_id": "U0GONE"}]}),
    )
    .await;
    assert_eq!(gone.error(), Some("user_not_found"));

    let url = slack.new_response_url("C0GENERAL");
    assert!(control(&slack, "clock", json!({"advance_secs": 1800}))
        .await
        .ok());
    let late = send(
        reqwest::Client::new()
            .post(&url)
            .json(&json!({"text": "x"})),
    )
    .await;
    assert_eq!(late.error(), Some("expired_url"));
}
