//! The authorize page and `oauth.v2.access`: codes, client credentials, rotation.

use std::time::Duration;

use serde_json::{json, Value};
use slack_standin::{SlackStandin, STANDIN_INSTALLER};

use crate::support::*;

const REDIRECT: &str = "https://app.example/slack/oauth_redirect";

/// Visits the authorize page as a browser would, without following the redirect:
/// the status and the `Location` (or the page).
async fn visit_authorize(slack: &SlackStandin, query: &[(&str, &str)]) -> (u16, String) {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("a client");
    let url = format!(
        "{}?{}",
        slack.authorize_url(),
        serde_urlencoded::to_string(query).expect("a query")
    );
    let response = client.get(url).send().await.expect("the page answers");
    let status = response.status().as_u16();
    let location = response
        .headers()
        .get("location")
        .map(|v| v.to_str().unwrap_or_default().to_owned());
    let page = response.text().await.unwrap_or_default();
    (status, location.unwrap_or(page))
}

/// The query parameters of a redirect `Location`.
fn query_of(location: &str) -> Vec<(String, String)> {
    let query = location.split_once('?').map_or("", |(_, query)| query);
    serde_urlencoded::from_str(query).expect("a query")
}

fn param<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.as_str())
}

/// A code from the authorize page, for `state` "s1".
async fn code(slack: &SlackStandin) -> String {
    let (status, location) = visit_authorize(
        slack,
        &[
            ("client_id", &slack.oauth_client().0),
            ("scope", "calls:write,commands"),
            ("redirect_uri", REDIRECT),
            ("state", "s1"),
        ],
    )
    .await;
    assert_eq!(status, 302, "{location}");
    assert!(location.starts_with(REDIRECT), "{location}");
    let pairs = query_of(&location);
    assert_eq!(param(&pairs, "state"), Some("s1"));
    param(&pairs, "code").expect("a code").to_owned()
}

/// `oauth.v2.access` with the client credentials as HTTP Basic, as a form.
async fn access(slack: &SlackStandin, fields: &[(&str, &str)]) -> Answer {
    let (id, secret) = slack.oauth_client();
    let request = reqwest::Client::new()
        .post(format!("{}oauth.v2.access", slack.api_url()))
        .basic_auth(id, Some(secret));
    send(with_form(request, fields)).await
}

async fn exchange(slack: &SlackStandin, code: &str) -> Answer {
    access(
        slack,
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", REDIRECT),
        ],
    )
    .await
}

async fn auth_test(slack: &SlackStandin, token: &str) -> Answer {
    call(slack, "auth.test", Some(token), json!({})).await
}

#[tokio::test]
async fn an_install_exchanges_a_single_use_code_for_a_workspace_token() {
    let slack = SlackStandin::start().await;
    let workspace = slack.add_workspace("T0SECOND", None);
    slack.authorize_as(&workspace, "U0ADMIN");
    let code = code(&slack).await;
    let installed = exchange(&slack, &code).await;
    assert!(installed.ok(), "{:?}", installed.body);
    let body = &installed.body;
    assert_eq!(body["team"]["id"], json!("T0SECOND"));
    assert_eq!(body["enterprise"], Value::Null);
    assert_eq!(body["is_enterprise_install"], json!(false));
    assert_eq!(body["token_type"], json!("bot"));
    assert_eq!(body["scope"], json!("calls:write,commands"));
    assert_eq!(body["authed_user"]["id"], json!("U0ADMIN"));
    assert!(body.get("refresh_token").is_none() && body.get("expires_in").is_none());
    let token = body["access_token"].as_str().expect("a token");
    assert!(token.starts_with("xoxb-"), "{token}");
    let who = auth_test(&slack, token).await;
    assert!(who.ok(), "{:?}", who.body);
    assert_eq!(who.body["team_id"], json!("T0SECOND"));
    assert_eq!(who.body["is_enterprise_install"], json!(false));
    assert_eq!(slack.issued_tokens()[0].access_token, token);

    let replay = exchange(&slack, &code).await;
    assert_eq!(replay.error(), Some("invalid_code"));
    assert_eq!(
        exchange(&slack, "1.nope").await.error(),
        Some("invalid_code")
    );
}

#[tokio::test]
async fn codes_expire_after_ten_minutes_and_must_repeat_the_redirect_uri() {
    let slack = SlackStandin::start().await;
    let late = code(&slack).await;
    slack.advance_clock(Duration::from_secs(10 * 60));
    assert_eq!(exchange(&slack, &late).await.error(), Some("invalid_code"));

    let code = code(&slack).await;
    let elsewhere = access(
        &slack,
        &[("code", &code), ("redirect_uri", "https://evil.example/cb")],
    )
    .await;
    assert_eq!(elsewhere.error(), Some("bad_redirect_uri"));
    let missing = access(&slack, &[("code", &code)]).await;
    assert_eq!(missing.error(), Some("bad_redirect_uri"));
    // Refused exchanges do not use the code up; no grant_type means a code grant.
    let installed = access(&slack, &[("code", &code), ("redirect_uri", REDIRECT)]).await;
    assert!(installed.ok(), "{:?}", installed.body);
    assert_eq!(installed.body["team"]["id"], json!(slack.team_id()));
    assert_eq!(
        installed.body["authed_user"]["id"],
        json!(STANDIN_INSTALLER)
    );
}

#[tokio::test]
async fn client_credentials_are_checked() {
    let slack = SlackStandin::start().await;
    let code = code(&slack).await;
    let url = format!("{}oauth.v2.access", slack.api_url());
    let (id, secret) = slack.oauth_client();
    let with_basic = |id: &str, secret: &str| {
        reqwest::Client::new()
            .post(&url)
            .basic_auth(id, Some(secret))
    };
    let fields = [("code", code.as_str()), ("redirect_uri", REDIRECT)];
    let unknown = send(with_form(with_basic("1.2", &secret), &fields)).await;
    assert_eq!(unknown.error(), Some("invalid_client_id"));
    let wrong = send(with_form(with_basic(&id, "guess"), &fields)).await;
    assert_eq!(wrong.error(), Some("bad_client_secret"));
    let none = send(with_form(reqwest::Client::new().post(&url), &fields)).await;
    assert_eq!(none.error(), Some("invalid_client_id"));
    let odd_grant = access(&slack, &[("grant_type", "password")]).await;
    assert_eq!(odd_grant.error(), Some("invalid_grant_type"));
    // The credentials may also come as fields (Slack advises against it).
    let as_fields = send(with_form(
        reqwest::Client::new().post(&url),
        &[
            ("client_id", id.as_str()),
            ("client_secret", secret.as_str()),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT),
        ],
    ))
    .await;
    assert!(as_fields.ok(), "{:?}", as_fields.body);
}

#[tokio::test]
async fn the_authorize_page_refuses_odd_requests_and_reports_a_cancel() {
    let slack = SlackStandin::start().await;
    let (client_id, _) = slack.oauth_client();
    let base = [("scope", "commands"), ("redirect_uri", REDIRECT)];
    let (status, page) = visit_authorize(&slack, &[base[0], base[1], ("client_id", "9.9")]).await;
    assert_eq!((status, page.contains("invalid_client_id")), (400, true));
    let (status, page) =
        visit_authorize(&slack, &[("client_id", &client_id), ("scope", "commands")]).await;
    assert_eq!((status, page.contains("bad_redirect_uri")), (400, true));
    let (status, page) = visit_authorize(
        &slack,
        &[("client_id", &client_id), ("redirect_uri", REDIRECT)],
    )
    .await;
    assert_eq!((status, page.contains("no_scopes")), (400, true));

    slack.deny_next_authorize();
    let query = [base[0], base[1], ("client_id", &client_id), ("state", "s2")];
    let (status, location) = visit_authorize(&slack, &query).await;
    assert_eq!(status, 302);
    let pairs = query_of(&location);
    assert_eq!(param(&pairs, "error"), Some("access_denied"));
    assert_eq!(param(&pairs, "state"), Some("s2"));
    assert_eq!(param(&pairs, "code"), None);
    // Only the next visit is cancelled.
    let (_, location) = visit_authorize(&slack, &query).await;
    assert!(param(&query_of(&location), "code").is_some(), "{location}");
    assert_eq!(slack.requests_for(slack_standin::AUTHORIZE).len(), 5);
}

#[tokio::test]
async fn rotating_tokens_expire_and_refresh_tokens_work_once() {
    let slack = SlackStandin::start().await;
    slack.set_rotation(true);
    let code = code(&slack).await;
    let installed = exchange(&slack, &code).await;
    assert!(installed.ok(), "{:?}", installed.body);
    assert_eq!(installed.body["expires_in"], json!(43_200));
    let token = installed.body["access_token"]
        .as_str()
        .expect("a token")
        .to_owned();
    let refresh = installed.body["refresh_token"]
        .as_str()
        .expect("a refresh")
        .to_owned();
    assert!(token.starts_with("xoxe.xoxb-1-") && refresh.starts_with("xoxe-1-"));
    assert!(auth_test(&slack, &token).await.body["expires_in"].is_i64());

    slack.advance_clock(Duration::from_secs(12 * 60 * 60));
    let expired = call(
        &slack,
        "calls.add",
        Some(&token),
        json!({"external_unique_id": "r1", "join_url": "https://meet.example/r1", "created_by": "U0ALICE"}),
    )
    .await;
    assert_eq!(expired.error(), Some("token_expired"));

    // Two refreshes with the same token at once: exactly one wins.
    let fields = [
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh.as_str()),
    ];
    let (first, second) = tokio::join!(access(&slack, &fields), access(&slack, &fields));
    let (winner, loser) = if first.ok() {
        (first, second)
    } else {
        (second, first)
    };
    assert!(winner.ok(), "{:?}", winner.body);
    assert_eq!(loser.error(), Some("invalid_refresh_token"));
    assert!(winner.body.get("authed_user").is_none());
    let fresh = winner.body["access_token"].as_str().expect("a token");
    assert_ne!(fresh, token);
    assert_ne!(winner.body["refresh_token"], json!(refresh));
    assert_eq!(
        auth_test(&slack, fresh).await.body["team_id"],
        json!(slack.team_id())
    );
    let unknown = access(
        &slack,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", "xoxe-1-x"),
        ],
    )
    .await;
    assert_eq!(unknown.error(), Some("invalid_refresh_token"));
    let grants: Vec<String> = slack
        .issued_tokens()
        .into_iter()
        .map(|t| t.grant_type)
        .collect();
    assert_eq!(grants, ["authorization_code", "refresh_token"]);

    // Uninstalled: every token of the workspace is revoked, refresh tokens refused.
    let next = winner.body["refresh_token"]
        .as_str()
        .expect("a refresh")
        .to_owned();
    assert!(slack.uninstall(slack.team_id()));
    assert_eq!(
        auth_test(&slack, fresh).await.error(),
        Some("token_revoked")
    );
    assert_eq!(
        bot(&slack, "auth.test", json!({})).await.error(),
        Some("token_revoked")
    );
    let after = access(
        &slack,
        &[("grant_type", "refresh_token"), ("refresh_token", &next)],
    )
    .await;
    assert_eq!(after.error(), Some("invalid_refresh_token"));
    assert!(!slack.uninstall("T0NOBODY"));
}
#[tokio::test]
async fn an_org_wide_install_serves_the_workspaces_of_its_organisation() {
    let slack = SlackStandin::start().await;
    let inside = slack.add_workspace("T0ORGA", Some("E0ORG"));
    let outside = slack.add_workspace("T0ELSE", None);
    inside.add_channel("C0INSIDE");
    outside.add_channel("C0OUTSIDE");
    slack.authorize_org_as("E0ORG", "U0ORGADMIN");
    let code = code(&slack).await;
    let installed = exchange(&slack, &code).await;
    assert!(installed.ok(), "{:?}", installed.body);
    assert_eq!(installed.body["team"], Value::Null);
    assert_eq!(installed.body["enterprise"]["id"], json!("E0ORG"));
    assert_eq!(installed.body["is_enterprise_install"], json!(true));
    let token = installed.body["access_token"].as_str().expect("a token");
    let who = auth_test(&slack, token).await;
    assert_eq!(who.body["enterprise_id"], json!("E0ORG"));
    assert_eq!(who.body["is_enterprise_install"], json!(true));

    let post = |channel: &'static str| {
        call(
            &slack,
            "chat.postMessage",
            Some(token),
            json!({"channel": channel, "text": "hi"}),
        )
    };
    assert!(post("C0INSIDE").await.ok());
    assert_eq!(post("C0OUTSIDE").await.error(), Some("channel_not_found"));
}
