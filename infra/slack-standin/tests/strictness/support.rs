//! Talking to the stand-in over real HTTP, as a Slack client would.

use serde_json::{json, Value};
use slack_standin::SlackStandin;

pub struct Answer {
    pub status: u16,
    pub body: Value,
    pub retry_after: Option<String>,
}

impl Answer {
    pub fn error(&self) -> Option<&str> {
        self.body.get("error").and_then(Value::as_str)
    }

    /// A plain success: HTTP 200, `ok: true`, and no `error` beside it (Slack's
    /// `{"ok":true,"error":…}` answers are not successes).
    pub fn ok(&self) -> bool {
        self.status == 200 && self.body["ok"] == json!(true) && self.error().is_none()
    }
}

pub async fn send(request: reqwest::RequestBuilder) -> Answer {
    let response = request.send().await.expect("the stand-in answers");
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap_or_default().to_owned());
    let text = response.text().await.expect("a body");
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    Answer {
        status,
        body,
        retry_after,
    }
}

pub fn with_form(
    request: reqwest::RequestBuilder,
    pairs: &[(&str, &str)],
) -> reqwest::RequestBuilder {
    request
        .header("content-type", "application/x-www-form-urlencoded")
        .body(serde_urlencoded::to_string(pairs).expect("encodable form"))
}

/// A JSON request, with the charset Slack asks for.
pub async fn call(slack: &SlackStandin, method: &str, token: Option<&str>, body: Value) -> Answer {
    let mut request = reqwest::Client::new()
        .post(format!("{}{method}", slack.api_url()))
        .header("content-type", "application/json; charset=utf-8")
        .body(body.to_string());
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    send(request).await
}

/// A JSON request with the bot token.
pub async fn bot(slack: &SlackStandin, method: &str, body: Value) -> Answer {
    call(slack, method, Some(slack.bot_token()), body).await
}

/// A form request with the bot token in the `Authorization` header.
pub async fn bot_form(slack: &SlackStandin, method: &str, pairs: &[(&str, &str)]) -> Answer {
    let request = reqwest::Client::new()
        .post(format!("{}{method}", slack.api_url()))
        .bearer_auth(slack.bot_token());
    send(with_form(request, pairs)).await
}

pub async fn add_call(slack: &SlackStandin, external_id: &str) -> String {
    let answer = bot(
        slack,
        "calls.add",
        json!({"external_unique_id": external_id, "join_url": "https://meet.example/r1", "created_by": "U0ALICE"}),
    )
    .await;
    assert!(answer.ok(), "{:?}", answer.body);
    answer.body["call"]["id"]
        .as_str()
        .expect("an id")
        .to_owned()
}
