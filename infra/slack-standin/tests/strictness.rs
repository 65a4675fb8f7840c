//! The stand-in refuses what Slack refuses, over real HTTP.

use std::time::Duration;

use serde_json::{json, Value};
use slack_standin::{Fault, SlackStandin};

struct Answer {
    status: u16,
    body: Value,
    retry_after: Option<String>,
}

impl Answer {
    fn error(&self) -> Option<&str> {
        self.body.get("error").and_then(Value::as_str)
    }

    fn ok(&self) -> bool {
        self.status == 200 && self.body["ok"] == json!(true)
    }
}

async fn send(request: reqwest::RequestBuilder) -> Answer {
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

fn with_form(request: reqwest::RequestBuilder, pairs: &[(&str, &str)]) -> reqwest::RequestBuilder {
    request
        .header("content-type", "application/x-www-form-urlencoded")
        .body(serde_urlencoded::to_string(pairs).expect("encodable form"))
}

async fn call(slack: &SlackStandin, method: &str, token: Option<&str>, body: Value) -> Answer {
    let mut request = reqwest::Client::new()
        .post(format!("{}{method}", slack.api_url()))
        .header("content-type", "application/json; charset=utf-8")
        .body(body.to_string());
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    send(request).await
}

async fn bot(slack: &SlackStandin, method: &str, body: Value) -> Answer {
    call(slack, method, Some(slack.bot_token()), body).await
}

async fn add_call(slack: &SlackStandin, external_id: &str) -> String {
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

#[tokio::test]
async fn calls_add_checks_its_arguments() {
    let slack = SlackStandin::start().await;
    let good = json!({"external_unique_id": "e1", "join_url": "https://meet.example/e1", "created_by": "U0ALICE"});
    let with = |field: &str, value: Value| {
        let mut body = good.clone();
        body[field] = value;
        body
    };
    let without = |field: &str| {
        let mut body = good.clone();
        body.as_object_mut().expect("object").remove(field);
        body
    };
    let cases = [
        (without("external_unique_id"), "invalid_arguments"),
        (without("join_url"), "invalid_arguments"),
        (with("join_url", json!("not a url")), "invalid_arguments"),
        // Required with a bot token.
        (without("created_by"), "invalid_arguments"),
        (with("created_by", json!("alice")), "invalid_created_by"),
        (with("title", json!(42)), "invalid_arguments"),
        (with("date_start", json!("soon")), "invalid_start_time"),
        (with("date_start", json!(-5)), "invalid_start_time"),
        (
            with("users", json!({"slack_id": "U1"})),
            "invalid_arguments",
        ),
        (
            with("users", json!([{"external_id": "x1"}])),
            "invalid_arguments",
        ),
        (
            with("users", json!([{"display_name": "Ann"}])),
            "invalid_arguments",
        ),
        (
            with("users", json!([{"slack_id": "not-a-user"}])),
            "user_not_found",
        ),
        (
            with(
                "users",
                json!([{"slack_id": "U0ALICE"}, {"slack_id": "U0ALICE"}]),
            ),
            "bad_users",
        ),
    ];
    for (body, expected) in cases {
        let answer = bot(&slack, "calls.add", body.clone()).await;
        assert_eq!(answer.error(), Some(expected), "{body}");
    }
    assert!(slack.calls().is_empty(), "nothing refused was registered");

    // With a user token created_by may be left out.
    slack.add_token("xoxp-user", "T0STANDIN");
    let answer = call(
        &slack,
        "calls.add",
        Some("xoxp-user"),
        without("created_by"),
    )
    .await;
    assert!(answer.ok(), "{:?}", answer.body);
    let answer = bot(
        &slack,
        "calls.add",
        with("users", json!([{"slack_id": "U0ALICE"}, {"external_id": "x1", "display_name": "Ext", "avatar_url": "https://a.example/x.png"}])),
    )
    .await;
    assert!(answer.ok());
    let id = answer.body["call"]["id"].as_str().expect("id");
    assert!(id.starts_with('R'));
    assert_eq!(
        slack.call(id).expect("recorded").participant_ids(),
        ["U0ALICE", "x1"]
    );
}

#[tokio::test]
async fn participants_must_change_state() {
    let slack = SlackStandin::start().await;
    let id = add_call(&slack, "p1").await;
    let alice = json!([{"slack_id": "U0ALICE"}]);
    let ext = json!([{"external_id": "ext-9", "display_name": "Guest"}]);

    assert!(bot(
        &slack,
        "calls.participants.add",
        json!({"id": id, "users": alice})
    )
    .await
    .ok());
    let again = bot(
        &slack,
        "calls.participants.add",
        json!({"id": id, "users": alice}),
    )
    .await;
    assert_eq!(again.error(), Some("bad_users"), "double add");
    // All or nothing: a new user alongside a present one changes nothing.
    let mixed = json!([{"external_id": "ext-9", "display_name": "Guest"}, {"slack_id": "U0ALICE"}]);
    assert_eq!(
        bot(
            &slack,
            "calls.participants.add",
            json!({"id": id, "users": mixed})
        )
        .await
        .error(),
        Some("bad_users")
    );
    assert_eq!(
        slack.call(&id).expect("call").participant_ids(),
        ["U0ALICE"]
    );

    assert_eq!(
        bot(
            &slack,
            "calls.participants.remove",
            json!({"id": id, "users": ext})
        )
        .await
        .error(),
        Some("bad_users"),
        "removing someone not in the call"
    );
    for (body, expected) in [
        (json!({"id": id}), "invalid_arguments"),
        (json!({"id": id, "users": []}), "invalid_arguments"),
        (json!({"users": alice}), "invalid_arguments"),
        (
            json!({"id": "R999999999", "users": alice}),
            "invalid_call_id",
        ),
        (json!({"id": "C123", "users": alice}), "invalid_call_id"),
    ] {
        assert_eq!(
            bot(&slack, "calls.participants.remove", body.clone())
                .await
                .error(),
            Some(expected),
            "{body}"
        );
    }
    assert!(bot(
        &slack,
        "calls.participants.remove",
        json!({"id": id, "users": alice})
    )
    .await
    .ok());
    assert!(slack.call(&id).expect("call").participants.is_empty());
}

#[tokio::test]
async fn ended_calls_stay_ended() {
    let slack = SlackStandin::start().await;
    let id = add_call(&slack, "end-1").await;
    assert_eq!(
        bot(&slack, "calls.end", json!({"id": id, "duration": "long"}))
            .await
            .error(),
        Some("invalid_arguments")
    );
    assert!(bot(&slack, "calls.end", json!({"id": id, "duration": 65}))
        .await
        .ok());
    let twice = bot(&slack, "calls.end", json!({"id": id})).await;
    assert_eq!(twice.error(), Some("inactive_call"));
    assert_eq!(
        bot(
            &slack,
            "calls.participants.add",
            json!({"id": id, "users": [{"slack_id": "U0BOB"}]})
        )
        .await
        .error(),
        Some("inactive_call")
    );
    let call = slack.call(&id).expect("call");
    assert!(call.ended());
    assert_eq!(call.duration, Some(65));
    let info = bot(&slack, "calls.info", json!({"id": id})).await;
    assert!(info.body["call"]["date_end"].is_i64());
}

#[tokio::test]
async fn calls_belong_to_their_team() {
    let slack = SlackStandin::start().await;
    let id = add_call(&slack, "team-1").await;
    slack.add_token("xoxb-other-team", "T0OTHER");
    let answer = call(
        &slack,
        "calls.info",
        Some("xoxb-other-team"),
        json!({"id": id}),
    )
    .await;
    assert_eq!(answer.error(), Some("invalid_call_id"));
    let update = bot(
        &slack,
        "calls.update",
        json!({"id": id, "title": "Renamed", "join_url": "https://meet.example/2"}),
    )
    .await;
    assert!(update.ok());
    assert_eq!(update.body["call"]["title"], json!("Renamed"));
    assert_eq!(
        slack.call(&id).expect("call").join_url,
        "https://meet.example/2"
    );
}

#[tokio::test]
async fn unfurls_need_a_known_message_and_a_known_call() {
    let slack = SlackStandin::start().await;
    let id = add_call(&slack, "unfurl-1").await;
    let unfurls = json!({"https://meet.example/r1": {"blocks": [{"type": "call", "call_id": id}]}});
    let unknown = bot(
        &slack,
        "chat.unfurl",
        json!({"channel": "C0GENERAL", "ts": "1700000000.000100", "unfurls": unfurls}),
    )
    .await;
    assert_eq!(unknown.error(), Some("cannot_unfurl_url"));

    slack.add_message("C0GENERAL", "1700000000.000100");
    for (body, expected) in [
        (
            json!({"ts": "1700000000.000100", "unfurls": unfurls}),
            "missing_channel",
        ),
        (
            json!({"channel": "C0GENERAL", "unfurls": unfurls}),
            "missing_ts",
        ),
        (
            json!({"channel": "C0GENERAL", "ts": "1700000000.000100"}),
            "missing_unfurls",
        ),
        (
            json!({"channel": "C0GENERAL", "ts": "1700000000.000100", "unfurls": "[1]"}),
            "invalid_unfurls_format",
        ),
        (
            json!({"channel": "C0GENERAL", "ts": "1700000000.000100", "unfurls": {"https://x.example/": {"blocks": [{"type": "call", "call_id": "R424242"}]}}}),
            "cannot_parse_attachment",
        ),
    ] {
        assert_eq!(
            bot(&slack, "chat.unfurl", body.clone()).await.error(),
            Some(expected),
            "{body}"
        );
    }
    let answer = bot(
        &slack,
        "chat.unfurl",
        json!({"channel": "C0GENERAL", "ts": "1700000000.000100", "unfurls": unfurls}),
    )
    .await;
    assert!(answer.ok(), "{:?}", answer.body);
    let message = &slack.messages()[0];
    assert!(message.unfurls.contains_key("https://meet.example/r1"));

    // A posted message can be unfurled by its ts too.
    let posted = bot(
        &slack,
        "chat.postMessage",
        json!({"channel": "C0RANDOM", "text": "join https://meet.example/r1"}),
    )
    .await;
    let ts = posted.body["ts"].as_str().expect("ts").to_owned();
    let answer = bot(
        &slack,
        "chat.unfurl",
        json!({"channel": "C0RANDOM", "ts": ts, "unfurls": unfurls}),
    )
    .await;
    assert!(answer.ok());
    // …but not in another channel.
    let answer = bot(
        &slack,
        "chat.unfurl",
        json!({"channel": "C0GENERAL", "ts": ts, "unfurls": unfurls}),
    )
    .await;
    assert_eq!(answer.error(), Some("cannot_unfurl_url"));
}

#[tokio::test]
async fn messages_need_a_channel_and_content() {
    let slack = SlackStandin::start().await;
    for (method, body, expected) in [
        (
            "chat.postMessage",
            json!({"text": "hi"}),
            "channel_not_found",
        ),
        (
            "chat.postMessage",
            json!({"channel": "general", "text": "hi"}),
            "channel_not_found",
        ),
        (
            "chat.postMessage",
            json!({"channel": "C0GENERAL"}),
            "no_text",
        ),
        (
            "chat.postMessage",
            json!({"channel": "C0GENERAL", "blocks": "{"}),
            "invalid_blocks_format",
        ),
        (
            "chat.postMessage",
            json!({"channel": "C0GENERAL", "blocks": [{"type": "call", "call_id": "R1"}]}),
            "invalid_blocks",
        ),
        (
            "chat.postEphemeral",
            json!({"channel": "C0GENERAL", "text": "hi"}),
            "invalid_arguments",
        ),
        (
            "chat.postEphemeral",
            json!({"channel": "C0GENERAL", "user": "bob", "text": "hi"}),
            "user_not_found",
        ),
        (
            "chat.postEphemeral",
            json!({"channel": "C0GENERAL", "user": "U0BOB"}),
            "no_text",
        ),
        ("chat.nonsense", json!({}), "unknown_method"),
    ] {
        assert_eq!(
            bot(&slack, method, body.clone()).await.error(),
            Some(expected),
            "{method} {body}"
        );
    }
    let answer = bot(
        &slack,
        "chat.postEphemeral",
        json!({"channel": "D0DM", "user": "U0BOB", "text": "Please log in"}),
    )
    .await;
    assert!(answer.ok());
    assert!(answer.body["message_ts"].is_string());
    let answer = bot(
        &slack,
        "chat.postMessage",
        json!({"channel": "C0GENERAL", "text": "hello"}),
    )
    .await;
    assert_eq!(answer.body["channel"], json!("C0GENERAL"));
    assert_eq!(slack.requests_for("chat.postMessage").len(), 6);
}

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
