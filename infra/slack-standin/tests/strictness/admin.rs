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

#[tokio::test]
async fn the_demo_can_add_workspaces_and_choose_who_installs() {
    let slack = SlackStandin::start().await;
    let added = control(
        &slack,
        "workspaces",
        json!({"team_id": "T0SECOND", "enterprise_id": "E0GRID"}),
    )
    .await;
    let token = added.body["bot_token"]
        .as_str()
        .expect("a token")
        .to_owned();
    let who = call(&slack, "auth.test", Some(&token), json!({})).await;
    assert_eq!(who.body["team_id"], json!("T0SECOND"));
    assert_eq!(who.body["enterprise_id"], json!("E0GRID"));
    assert_eq!(control(&slack, "workspaces", json!({})).await.status, 400);

    assert!(control(
        &slack,
        "authorize",
        json!({"team_id": "T0SECOND", "user": "U0ADMIN"})
    )
    .await
    .ok());
    assert!(control(&slack, "rotation", json!({"on": true})).await.ok());
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("a client");
    let (client_id, client_secret) = slack.oauth_client();
    let redirect = "http://127.0.0.1:9/slack/oauth_redirect";
    let query = serde_urlencoded::to_string([
        ("client_id", client_id.as_str()),
        ("scope", "commands"),
        ("redirect_uri", redirect),
    ])
    .expect("a query");
    let page = client
        .get(format!("{}?{query}", slack.authorize_url()))
        .send()
        .await
        .expect("the page answers");
    let location = page.headers()["location"]
        .to_str()
        .expect("a location")
        .to_owned();
    let code = location.split("code=").nth(1).expect("a code");
    let installed = send(with_form(
        reqwest::Client::new()
            .post(format!("{}oauth.v2.access", slack.api_url()))
            .basic_auth(client_id, Some(client_secret)),
        &[("code", code), ("redirect_uri", redirect)],
    ))
    .await;
    assert_eq!(installed.body["team"]["id"], json!("T0SECOND"));
    assert_eq!(installed.body["enterprise"]["id"], json!("E0GRID"));
    assert_eq!(installed.body["authed_user"]["id"], json!("U0ADMIN"));
    assert!(installed.body["refresh_token"].is_string());
    let issued =
        send(reqwest::Client::new().get(format!("{}_standin/issued_tokens", slack.base_url())))
            .await;
    assert_eq!(
        issued.body[0]["access_token"],
        installed.body["access_token"]
    );

    assert!(control(&slack, "authorize", json!({"deny": true}))
        .await
        .ok());
    assert_eq!(
        control(&slack, "authorize", json!({"org_wide": true}))
            .await
            .status,
        400
    );
}
