//! `oauth.v2.access` and `auth.test` over HTTP: what the client sends (the app's
//! credentials as HTTP Basic, the grant as a form) and how it reads the answers.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde_json::json;
use slack_calls::slack::oauth::{ClientCredentials, OAuthGrant};
use slack_calls::slack::{ApiErrorCode, RetryPolicy, SlackApi, SlackClient, SlackError};
use slack_standin::SlackStandin;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// One request as it arrived: head (request line and headers) and body.
#[derive(Debug, Clone)]
struct Received {
    head: String,
    body: String,
}

/// A server on loopback answering every request with `status` and `answer`, keeping
/// what it received. Returns its API URL.
async fn server(status: u16, answer: serde_json::Value) -> (String, Arc<Mutex<Vec<Received>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("loopback");
    let url = format!("http://{}/api/", listener.local_addr().expect("address"));
    let received = Arc::new(Mutex::new(Vec::new()));
    let kept = received.clone();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let mut bytes = Vec::new();
            let mut buffer = [0u8; 4096];
            let (head, body) = loop {
                let Ok(read) = stream.read(&mut buffer).await else {
                    return;
                };
                if read == 0 {
                    return;
                }
                bytes.extend_from_slice(&buffer[..read]);
                let text = String::from_utf8_lossy(&bytes).to_string();
                let Some((head, body)) = text.split_once("\r\n\r\n") else {
                    continue;
                };
                let length = head
                    .lines()
                    .find_map(|line| {
                        let (name, value) = line.split_once(':')?;
                        name.eq_ignore_ascii_case("content-length")
                            .then(|| value.trim().parse::<usize>().ok())?
                    })
                    .unwrap_or(0);
                if body.len() >= length {
                    break (head.to_owned(), body.to_owned());
                }
            };
            kept.lock().unwrap().push(Received { head, body });
            let payload = answer.to_string();
            let response = format!(
                "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{payload}",
                payload.len()
            );
            let _ = stream.write_all(response.as_bytes()).await;
        }
    });
    (url, received)
}

fn policy() -> RetryPolicy {
    RetryPolicy {
        request_timeout: Duration::from_secs(2),
        ..RetryPolicy::worker()
    }
}

fn app() -> ClientCredentials {
    ClientCredentials {
        client_id: "111.222".into(),
        client_secret: SecretString::from("app-secret"),
    }
}

#[tokio::test]
async fn a_refresh_sends_the_app_credentials_as_basic_and_the_grant_as_a_form() {
    let (url, received) = server(
        200,
        json!({
            "ok": true, "app_id": "A0CALLS", "access_token": "xoxe.xoxb-new", "token_type": "bot",
            "scope": "commands,calls:write", "bot_user_id": "U0BOT", "expires_in": 43200,
            "refresh_token": "xoxe-1-next", "team": {"id": "T0ROT", "name": "Rotating"},
            "enterprise": null, "is_enterprise_install": false,
        }),
    )
    .await;
    let client = SlackClient::new(&url, policy()).expect("client");
    let grant = OAuthGrant::Refresh {
        refresh_token: SecretString::from("xoxe-1-old"),
    };
    let access = client
        .oauth_v2_access(&grant, &app())
        .await
        .expect("answered");
    assert_eq!(access.access_token.expose_secret(), "xoxe.xoxb-new");
    assert_eq!(
        access
            .refresh_token
            .as_ref()
            .map(|t| t.expose_secret().to_owned()),
        Some("xoxe-1-next".to_owned())
    );
    assert_eq!(access.expires_in, Some(43_200));

    let sent = received.lock().unwrap().clone();
    assert_eq!(sent.len(), 1);
    let head = sent[0].head.to_ascii_lowercase();
    assert!(head.starts_with("post /api/oauth.v2.access "), "{head}");
    // base64("111.222:app-secret")
    assert!(
        head.contains("authorization: basic mtexljiymjphchatc2vjcmv0"),
        "{head}"
    );
    assert!(head.contains("content-type: application/x-www-form-urlencoded"));
    let form: Vec<(String, String)> = serde_urlencoded::from_str(&sent[0].body).expect("a form");
    assert_eq!(
        form,
        vec![
            ("grant_type".to_owned(), "refresh_token".to_owned()),
            ("refresh_token".to_owned(), "xoxe-1-old".to_owned()),
        ],
        "the app's secret travels in the header only"
    );
}

#[tokio::test]
async fn a_spent_refresh_token_is_a_dead_token_and_nothing_is_sent_twice() {
    let (url, received) = server(200, json!({"ok": false, "error": "invalid_refresh_token"})).await;
    let client = SlackClient::new(&url, policy()).expect("client");
    let grant = OAuthGrant::Refresh {
        refresh_token: SecretString::from("xoxe-1-spent"),
    };
    let error = client
        .oauth_v2_access(&grant, &app())
        .await
        .expect_err("refused");
    assert_eq!(error.code(), Some(&ApiErrorCode::InvalidRefreshToken));
    assert!(error.is_token_dead());
    assert!(!format!("{error} {error:?}").contains("xoxe"));

    let (url, failing) = server(503, json!({"ok": false})).await;
    let client = SlackClient::new(&url, policy()).expect("client");
    let error = client
        .oauth_v2_access(&grant, &app())
        .await
        .expect_err("down");
    assert!(
        matches!(error, SlackError::Http { status: 503, .. }),
        "{error:?}"
    );
    assert_eq!(
        failing.lock().unwrap().len(),
        1,
        "a refresh is never resent"
    );
    assert_eq!(received.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn an_install_code_is_exchanged_with_its_redirect_uri() {
    let (url, received) = server(
        200,
        json!({
            "ok": true, "app_id": "A0CALLS", "access_token": "xoxb-org", "token_type": "bot",
            "scope": "commands", "team": null, "enterprise": {"id": "E0ORG", "name": "Org"},
            "is_enterprise_install": true, "authed_user": {"id": "U0ADMIN"},
        }),
    )
    .await;
    let client = SlackClient::new(&url, policy()).expect("client");
    let grant = OAuthGrant::Code {
        code: SecretString::from("code-123"),
        redirect_uri: Some("https://example.test/slack/oauth_redirect".into()),
    };
    let access = client
        .oauth_v2_access(&grant, &app())
        .await
        .expect("answered");
    assert!(access.team.is_none() && access.is_enterprise_install);
    assert_eq!(
        access.authed_user_id.map(String::from).as_deref(),
        Some("U0ADMIN")
    );
    let form: Vec<(String, String)> =
        serde_urlencoded::from_str(&received.lock().unwrap()[0].body).expect("a form");
    assert_eq!(form[0], ("grant_type".into(), "authorization_code".into()));
    assert_eq!(form[1], ("code".into(), "code-123".into()));
    assert_eq!(
        form[2],
        (
            "redirect_uri".into(),
            "https://example.test/slack/oauth_redirect".into()
        )
    );
}

#[tokio::test]
async fn auth_test_names_the_tokens_workspace() {
    let slack = SlackStandin::start().await;
    let client = SlackClient::new(&slack.api_url(), policy()).expect("client");
    let identity = client
        .auth_test(&SecretString::from(slack.bot_token().to_owned()))
        .await
        .expect("a known token");
    assert_eq!(identity.team_id.as_str(), slack.team_id());
    let unknown = client
        .auth_test(&SecretString::from("xoxb-unknown"))
        .await
        .expect_err("unknown token");
    assert!(unknown.is_token_dead(), "{unknown:?}");
}
