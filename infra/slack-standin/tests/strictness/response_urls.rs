//! Response URLs: shape checks, 5 uses, 30 minutes.

use std::time::Duration;

use serde_json::{json, Value};
use slack_standin::SlackStandin;

use crate::support::*;

#[tokio::test]
async fn response_urls_check_the_message() {
    let slack = SlackStandin::start().await;
    let id = add_call(&slack, "resp-1").await;
    let url = slack.new_response_url("C0GENERAL");
    assert!(url.starts_with(&format!("{}response/", slack.base_url())));
    let client = reqwest::Client::new();
    let post = |body: Value| client.post(&url).json(&body);

    let bad_call = send(post(json!({"response_type": "in_channel", "text": "x", "blocks": [{"type": "call", "call_id": "R404"}]}))).await;
    assert_eq!(
        (bad_call.status, bad_call.error()),
        (400, Some("invalid_blocks"))
    );
    let bad_type = send(post(json!({"response_type": "loud", "text": "x"}))).await;
    assert_eq!(bad_type.error(), Some("invalid_arguments"));
    let empty = send(post(json!({"response_type": "in_channel"}))).await;
    assert_eq!(empty.error(), Some("no_text"));
    let form = send(with_form(client.post(&url), &[("text", "hi")])).await;
    assert_eq!(form.error(), Some("invalid_post_type"));

    let good = json!({"response_type": "in_channel", "text": "A call started", "blocks": [{"type": "call", "call_id": id}]});
    let answer = send(post(good.clone())).await;
    assert!(answer.ok(), "{:?}", answer.body);
    let posts = slack.response_posts();
    assert_eq!(posts.len(), 5);
    let last = posts.last().expect("a post");
    assert_eq!(
        (last.channel.as_str(), last.accepted),
        ("C0GENERAL", Some(true))
    );
    assert_eq!(last.body, good);
    assert!(slack.messages().iter().any(|m| m.channel == "C0GENERAL"));

    // Five accepted uses at most.
    for _ in 0..4 {
        assert!(send(post(good.clone())).await.ok());
    }
    let sixth = send(post(good)).await;
    assert_eq!(sixth.error(), Some("used_url"));
    let unknown = send(
        client
            .post(format!("{}response/T0STANDIN/0/0", slack.base_url()))
            .json(&json!({"text": "x"})),
    )
    .await;
    assert_eq!(
        (unknown.status, unknown.error()),
        (404, Some("expired_url"))
    );
}

/// "The URL is usable up to 5 times within 30 minutes" (java-slack-sdk and
/// node-slack-sdk docs), by the stand-in's clock.
#[tokio::test]
async fn response_urls_expire_thirty_minutes_after_issue() {
    let slack = SlackStandin::start().await;
    let url = slack.new_response_url("C0GENERAL");
    let client = reqwest::Client::new();
    let post = || send(client.post(&url).json(&json!({"text": "still here"})));
    slack.advance_clock(Duration::from_secs(29 * 60));
    assert!(post().await.ok(), "at 29 minutes");
    slack.advance_clock(Duration::from_secs(60));
    let late = post().await;
    assert_eq!((late.status, late.error()), (404, Some("expired_url")));
    assert_eq!(
        slack
            .response_posts()
            .iter()
            .map(|p| p.accepted)
            .collect::<Vec<_>>(),
        [Some(true), Some(false)]
    );

    // A test can also expire one at once.
    let fresh = slack.new_response_url("C0GENERAL");
    assert!(slack.expire_response_url(&fresh));
    assert!(!slack.expire_response_url("http://127.0.0.1:1/response/nope"));
    let expired = send(client.post(&fresh).json(&json!({"text": "x"}))).await;
    assert_eq!(
        (expired.status, expired.error()),
        (404, Some("expired_url"))
    );
}
