//! Tokens, body encodings, argument names and charset warnings.

use serde_json::{json, Value};
use slack_standin::SlackStandin;

use crate::support::*;

#[tokio::test]
async fn tokens_are_checked() {
    let slack = SlackStandin::start().await;
    let body = json!({"id": "R000000001"});
    assert_eq!(
        call(&slack, "calls.info", None, body.clone()).await.error(),
        Some("not_authed")
    );
    assert_eq!(
        call(&slack, "calls.info", Some("xoxb-nobody"), body.clone())
            .await
            .error(),
        Some("invalid_auth")
    );
    slack.add_token("xoxb-second", "T0SECOND");
    slack.revoke_token("xoxb-second");
    assert_eq!(
        call(&slack, "calls.info", Some("xoxb-second"), body)
            .await
            .error(),
        Some("token_revoked")
    );
    // A JSON body's `token` field does not authenticate; only the header does.
    let answer = call(
        &slack,
        "calls.info",
        None,
        json!({"id": "R1", "token": slack.bot_token()}),
    )
    .await;
    assert_eq!(answer.error(), Some("not_authed"));
}

#[tokio::test]
async fn bodies_must_be_json_objects_or_forms() {
    let slack = SlackStandin::start().await;
    let url = format!("{}calls.info", slack.api_url());
    let client = reqwest::Client::new();
    let cases = [
        (None, "{}", "missing_post_type"),
        (Some("text/csv"), "a,b", "invalid_post_type"),
        (
            Some("application/json; charset=utf-16"),
            "{}",
            "invalid_charset",
        ),
        (Some("application/json"), "{not json", "invalid_json"),
        (Some("application/json"), "[1,2]", "json_not_object"),
    ];
    for (content_type, body, expected) in cases {
        let mut request = client.post(&url).bearer_auth(slack.bot_token()).body(body);
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        let answer = send(request).await;
        assert_eq!(answer.status, 200, "Slack answers errors with HTTP 200");
        assert_eq!(answer.error(), Some(expected), "{content_type:?} {body}");
    }
    // A form with the token as a field works, users given as a JSON string.
    let form = [
        ("token", slack.bot_token()),
        ("external_unique_id", "form-1"),
        ("join_url", "https://meet.example/form"),
        ("created_by", "U0ALICE"),
        ("date_start", "1700000000"),
        ("users", r#"[{"slack_id":"U0ALICE"}]"#),
    ];
    let answer = send(with_form(
        client.post(format!("{}calls.add", slack.api_url())),
        &form,
    ))
    .await;
    assert!(answer.ok(), "{:?}", answer.body);
    assert_eq!(answer.body["call"]["date_start"], json!(1_700_000_000));
    assert_eq!(
        answer.body["call"]["users"],
        json!([{"slack_id": "U0ALICE"}])
    );
}

/// Every method, once as JSON and once as a form with its structured arguments
/// JSON-encoded (how the Python, Java and Node SDKs send them).
#[tokio::test]
async fn every_method_takes_json_and_forms() {
    let slack = SlackStandin::start().await;
    let users = r#"[{"slack_id":"U0BOB"},{"external_id":"g1","display_name":"Guest"}]"#;
    let users_json: Value = serde_json::from_str(users).expect("json");
    for (round, form) in [(1, false), (2, true)] {
        let ext = format!("both-{round}");
        let url = format!("https://meet.example/{round}");
        let created = if form {
            bot_form(
                &slack,
                "calls.add",
                &[
                    ("external_unique_id", &ext),
                    ("join_url", &url),
                    ("created_by", "U0ALICE"),
                    ("users", r#"[{"slack_id":"U0ALICE"}]"#),
                ],
            )
            .await
        } else {
            bot(
                &slack,
                "calls.add",
                json!({"external_unique_id": ext, "join_url": url, "created_by": "U0ALICE", "users": [{"slack_id": "U0ALICE"}]}),
            )
            .await
        };
        assert!(created.ok(), "{:?}", created.body);
        let id = created.body["call"]["id"].as_str().expect("id").to_owned();
        let ts = format!("1700000000.00000{round}");
        slack.add_message("C0GENERAL", &ts);
        let blocks = format!(r#"[{{"type":"call","call_id":"{id}"}}]"#);
        let unfurls = format!(r#"{{"{url}":{{"blocks":{blocks}}}}}"#);
        let steps: Vec<(&str, Vec<(&str, &str)>)> = vec![
            ("calls.info", vec![("id", &id)]),
            ("calls.update", vec![("id", &id), ("title", "Renamed")]),
            (
                "calls.participants.add",
                vec![("id", &id), ("users", users)],
            ),
            (
                "calls.participants.remove",
                vec![("id", &id), ("users", users)],
            ),
            (
                "chat.unfurl",
                vec![("channel", "C0GENERAL"), ("ts", &ts), ("unfurls", &unfurls)],
            ),
            (
                "chat.postMessage",
                vec![
                    ("channel", "C0GENERAL"),
                    ("text", "hi"),
                    ("blocks", &blocks),
                ],
            ),
            (
                "chat.postEphemeral",
                vec![("channel", "C0GENERAL"), ("user", "U0BOB"), ("text", "hi")],
            ),
            ("calls.end", vec![("id", &id), ("duration", "30")]),
        ];
        for (method, pairs) in steps {
            let answer = if form {
                bot_form(&slack, method, &pairs).await
            } else {
                // The same arguments as typed JSON: arrays and objects as themselves.
                let mut body = serde_json::Map::new();
                for (name, value) in &pairs {
                    let value = match *name {
                        "users" => users_json.clone(),
                        "blocks" | "unfurls" => serde_json::from_str(value).expect("json"),
                        "duration" => json!(30),
                        _ => json!(value),
                    };
                    body.insert((*name).to_owned(), value);
                }
                bot(&slack, method, Value::Object(body)).await
            };
            assert!(answer.ok(), "{method} (form: {form}): {:?}", answer.body);
        }
    }
}

#[tokio::test]
async fn array_and_odd_argument_names_are_refused() {
    let slack = SlackStandin::start().await;
    let id = add_call(&slack, "names").await;
    // A PHP-style array argument, as a form encoder given a nested value might send.
    let php = bot_form(
        &slack,
        "calls.participants.add",
        &[("id", &id), ("users[0][slack_id]", "U0BOB")],
    )
    .await;
    assert_eq!(php.error(), Some("invalid_array_arg"));
    // An array where Slack wants a string.
    let array = bot(&slack, "calls.info", json!({"id": [id]})).await;
    assert_eq!(array.error(), Some("invalid_array_arg"));
    let odd = bot_form(&slack, "calls.info", &[("id", &id), ("call-id", "x")]).await;
    assert_eq!(odd.error(), Some("invalid_arg_name"));
    // A form whose `users` is not JSON.
    let garbled = bot_form(
        &slack,
        "calls.participants.add",
        &[("id", &id), ("users", "U0BOB")],
    )
    .await;
    assert_eq!(garbled.error(), Some("invalid_arguments"));
    assert!(slack.call(&id).expect("call").participants.is_empty());
}

#[tokio::test]
async fn charset_warnings_ride_on_successful_answers() {
    let slack = SlackStandin::start().await;
    let id = add_call(&slack, "charset").await;
    let client = reqwest::Client::new();
    let url = format!("{}calls.info", slack.api_url());
    let bare_json = send(
        client
            .post(&url)
            .bearer_auth(slack.bot_token())
            .header("content-type", "application/json")
            .body(json!({"id": id}).to_string()),
    )
    .await;
    assert!(bare_json.ok(), "{:?}", bare_json.body);
    assert_eq!(bare_json.body["warning"], json!("missing_charset"));
    assert_eq!(
        bare_json.body["response_metadata"],
        json!({"warnings": ["missing_charset"]})
    );
    let form_with_charset = send(
        client
            .post(&url)
            .bearer_auth(slack.bot_token())
            .header(
                "content-type",
                "application/x-www-form-urlencoded; charset=utf-8",
            )
            .body(format!("id={id}")),
    )
    .await;
    assert_eq!(
        form_with_charset.body["warning"],
        json!("superfluous_charset")
    );
    let clean = bot(&slack, "calls.info", json!({"id": id})).await;
    assert!(clean.body.get("warning").is_none());
    assert!(clean.body.get("response_metadata").is_none());
    let plain_form = bot_form(&slack, "calls.info", &[("id", &id)]).await;
    assert!(plain_form.body.get("warning").is_none());
}
