//! Several workspaces: a token of one never reaches another's calls, channels,
//! messages or response URLs; `auth.test` says whose a token is.

use serde_json::{json, Value};
use slack_standin::SlackStandin;

use crate::support::*;

const CHANNEL_A: &str = "C0ALPHA";
const CHANNEL_B: &str = "C0BRAVO";

#[tokio::test]
async fn auth_test_names_the_workspace_of_each_token() {
    let slack = SlackStandin::start().await;
    let second = slack.add_workspace("T0SECOND", Some("E0GRID"));
    let default = bot(&slack, "auth.test", json!({})).await;
    assert!(default.ok(), "{:?}", default.body);
    assert_eq!(default.body["team_id"], json!("T0STANDIN"));
    assert_eq!(default.body["user_id"], json!("U0STANDINBOT"));
    assert_eq!(default.body["bot_id"], json!("B0STANDIN"));
    assert!(default.body.get("enterprise_id").is_none());
    let other = call(&slack, "auth.test", Some(second.bot_token()), json!({})).await;
    assert_eq!(other.body["team_id"], json!("T0SECOND"));
    assert_eq!(other.body["enterprise_id"], json!("E0GRID"));
    assert_eq!(other.body["is_enterprise_install"], json!(false));
    assert_eq!(other.body["url"], json!("https://t0second.slack.com/"));
    let nobody = call(&slack, "auth.test", Some("xoxb-nobody"), json!({})).await;
    assert_eq!(nobody.error(), Some("invalid_auth"));
}

#[tokio::test]
async fn calls_of_one_workspace_are_unknown_to_another() {
    let slack = SlackStandin::start().await;
    let second = slack.add_workspace("T0SECOND", None);
    let id = add_call(&slack, "mine").await;
    let theirs = Some(second.bot_token());
    for (method, body) in [
        ("calls.info", json!({"id": id})),
        ("calls.update", json!({"id": id, "title": "Taken over"})),
        ("calls.end", json!({"id": id})),
        (
            "calls.participants.add",
            json!({"id": id, "users": [{"slack_id": "U0BOB"}]}),
        ),
    ] {
        let answer = call(&slack, method, theirs, body).await;
        assert_eq!(answer.error(), Some("invalid_call_id"), "{method}");
    }
    assert!(!slack.call(&id).expect("the call").ended());
    // Nor may another workspace show the call in a message of its own.
    let block = json!([{"type": "call", "call_id": id}]);
    let posted = call(
        &slack,
        "chat.postMessage",
        theirs,
        json!({"channel": CHANNEL_B, "blocks": block}),
    )
    .await;
    assert_eq!(posted.error(), Some("invalid_blocks"));
}

#[tokio::test]
async fn channels_and_messages_belong_to_one_workspace() {
    let slack = SlackStandin::start().await;
    let second = slack.add_workspace("T0SECOND", None);
    let theirs = Some(second.bot_token());
    let own = slack.workspace();
    let posted = own.link_shared(CHANNEL_A, "1700000000.000100", &["https://meet.example/a"]);
    let draft = own.new_composer_unfurl(CHANNEL_A, "U0ALICE");
    for method in ["chat.postMessage", "chat.postEphemeral"] {
        let answer = call(
            &slack,
            method,
            theirs,
            json!({"channel": CHANNEL_A, "user": "U0ALICE", "text": "hi"}),
        )
        .await;
        assert_eq!(answer.error(), Some("channel_not_found"), "{method}");
    }
    let unfurls = json!({"https://meet.example/a": {"text": "a meeting"}});
    let by_ts = call(
        &slack,
        "chat.unfurl",
        theirs,
        json!({"channel": CHANNEL_A, "ts": "1700000000.000100", "unfurls": unfurls}),
    )
    .await;
    assert_eq!(by_ts.error(), Some("cannot_find_channel"));
    for shared in [&posted, &draft] {
        let by_id = call(
            &slack,
            "chat.unfurl",
            theirs,
            json!({"unfurl_id": shared.unfurl_id, "source": shared.source, "unfurls": unfurls}),
        )
        .await;
        assert_eq!(
            by_id.error(),
            Some("invalid_unfurl_id"),
            "{}",
            shared.source
        );
    }
    assert!(slack.messages()[0].unfurls.is_empty());

    // The owner still may; a channel first used by a workspace becomes its own.
    let mine = bot(
        &slack,
        "chat.unfurl",
        json!({"unfurl_id": posted.unfurl_id, "source": posted.source, "unfurls": unfurls}),
    )
    .await;
    assert!(mine.ok(), "{:?}", mine.body);
    let claimed = call(
        &slack,
        "chat.postMessage",
        theirs,
        json!({"channel": CHANNEL_B, "text": "x"}),
    )
    .await;
    assert!(claimed.ok(), "{:?}", claimed.body);
    assert_eq!(claimed.body["message"]["team"], json!("T0SECOND"));
    let back = bot(
        &slack,
        "chat.postMessage",
        json!({"channel": CHANNEL_B, "text": "x"}),
    )
    .await;
    assert_eq!(back.error(), Some("channel_not_found"));
}

#[tokio::test]
async fn a_response_url_shows_only_its_own_workspaces_calls() {
    let slack = SlackStandin::start().await;
    let second = slack.add_workspace("T0SECOND", None);
    let id = add_call(&slack, "mine").await;
    let url = second.new_response_url(CHANNEL_B);
    let block = json!({"response_type": "in_channel", "blocks": [{"type": "call", "call_id": id}]});
    let refused = send(reqwest::Client::new().post(&url).json(&block)).await;
    assert_eq!(
        (refused.status, refused.error()),
        (400, Some("invalid_blocks"))
    );
    let own = send(
        reqwest::Client::new()
            .post(slack.new_response_url(CHANNEL_A))
            .json(&block),
    )
    .await;
    assert!(own.ok(), "{:?}", own.body);
    assert_eq!(slack.call(&id).expect("the call").channels, [CHANNEL_A]);
}

#[tokio::test]
async fn a_second_workspaces_calls_are_its_own() {
    let slack = SlackStandin::start().await;
    let second = slack.add_workspace("T0SECOND", None);
    let added = call(
        &slack,
        "calls.add",
        Some(second.bot_token()),
        json!({"external_unique_id": "theirs", "join_url": "https://meet.example/b", "created_by": "U0BOB"}),
    )
    .await;
    assert!(added.ok(), "{:?}", added.body);
    let id = added.body["call"]["id"].as_str().expect("an id");
    assert_eq!(slack.call(id).expect("the call").team_id, "T0SECOND");
    let mine = bot(&slack, "calls.info", json!({"id": id})).await;
    assert_eq!(mine.error(), Some("invalid_call_id"));
    assert_eq!(mine.body["call"], Value::Null);
}
