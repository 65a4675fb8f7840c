//! The product as deployed: the five function binaries under a Lambda Runtime API, fed
//! API Gateway HTTP API events; the worker fed the table's stream (DynamoDB Local,
//! table from template.yaml) through the template's filter; secrets from Secrets
//! Manager (moto); Slack played by the stand-in. One call's whole life; and an install
//! through the install function (`install.rs`).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use lambda_harness::apigw::{post_event, response_header, response_parts};
use lambda_harness::function_binary;
use lambda_harness::runtime::{FunctionProcess, RuntimeApi};
use lambda_harness::stream::{stream_event, StreamPump};
use secrecy::SecretString;
use serde_json::{json, Value};
use slack_calls::signing::SignatureScheme;
use slack_calls::slack;
use slack_standin::SlackStandin;

const SIGNING_SECRET: &str = "e2e-signing-secret-0123456789abcdef";
const PROVIDER_SECRET: &str = "e2e-provider-secret-0123456789abcdef";
const INVOKE_TIMEOUT: Duration = Duration::from_secs(30);

#[path = "deployed_path/install.rs"]
mod install;

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

struct Function {
    runtime: RuntimeApi,
    process: FunctionProcess,
}

impl Function {
    async fn start(name: &str, env: &[(&str, String)]) -> Function {
        let runtime = RuntimeApi::start().await;
        let process = FunctionProcess::spawn(&function_binary(name), &runtime, env);
        Function { runtime, process }
    }

    async fn invoke(&self, event: Value) -> Value {
        match self.runtime.invoke(event, INVOKE_TIMEOUT).await {
            Ok(response) => response,
            Err(error) => panic!(
                "invocation failed: {error:?}\n--- function output ---\n{}",
                self.process.output()
            ),
        }
    }
}

fn signed(
    scheme: &SignatureScheme,
    secret: &str,
    body: &[u8],
    content_type: &str,
) -> Vec<(&'static str, String)> {
    let headers = scheme.signed_headers(&SecretString::from(secret.to_owned()), now(), body);
    let mut pairs: Vec<(&'static str, String)> = headers
        .iter()
        .map(|(name, value)| {
            let name: &'static str = if name.as_str() == scheme.timestamp_header {
                scheme.timestamp_header
            } else {
                scheme.signature_header
            };
            (name, value.to_str().unwrap_or_default().to_owned())
        })
        .collect();
    pairs.push(("content-type", content_type.to_owned()));
    pairs
}

/// The functions' AWS settings: the tests' credentials (DynamoDB Local keeps tables per
/// access key and region) and the emulators' endpoints.
fn aws_env() -> Vec<(&'static str, String)> {
    vec![
        (
            "AWS_ACCESS_KEY_ID",
            std::env::var("AWS_ACCESS_KEY_ID").unwrap_or_else(|_| "testing".into()),
        ),
        (
            "AWS_SECRET_ACCESS_KEY",
            std::env::var("AWS_SECRET_ACCESS_KEY").unwrap_or_else(|_| "testing".into()),
        ),
        (
            "AWS_ENDPOINT_URL_DYNAMODB",
            testkit::aws::emulator_endpoint(testkit::aws::DYNAMODB_ENDPOINT_VAR),
        ),
        (
            "AWS_ENDPOINT_URL_SECRETS_MANAGER",
            testkit::aws::emulator_endpoint(testkit::aws::SECRETS_MANAGER_ENDPOINT_VAR),
        ),
    ]
}

/// Runs the worker over everything the stream has delivered since the last call.
async fn drain_stream(worker: &Function, pump: &mut StreamPump) -> Vec<Value> {
    let mut all = Vec::new();
    // Jobs can enqueue jobs: keep going until the stream is quiet.
    for _ in 0..10 {
        let records = pump.next_records().await;
        if records.is_empty() {
            break;
        }
        let response = worker.invoke(stream_event(records.clone())).await;
        assert_eq!(
            response["batchItemFailures"],
            json!([]),
            "no job should fail: {response}"
        );
        all.extend(records);
    }
    all
}

fn methods(standin: &SlackStandin) -> Vec<String> {
    standin.requests().into_iter().map(|r| r.method).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_from_click_to_end_through_the_deployed_binaries() {
    let (dynamodb, table) = testkit::dynamodb::fresh_table().await;
    let mut pump = StreamPump::new(&dynamodb, &table).await;
    let standin = SlackStandin::start().await;
    let secrets = testkit::secretsmanager::client().await;
    let secret_id = testkit::secretsmanager::create_secret(
        &secrets,
        &json!({
            "signing_secret": SIGNING_SECRET,
            "bot_token": standin.bot_token(),
            "provider_webhook_secret": PROVIDER_SECRET,
        })
        .to_string(),
    )
    .await;
    let api_url = standin.api_url();
    let standin_origin = api_url
        .trim_end_matches('/')
        .trim_end_matches("/api")
        .to_owned();
    let mut env: Vec<(&str, String)> = vec![
        ("CALLS_TABLE", table.clone()),
        ("SECRET_ID", secret_id),
        ("SLACK_API_URL", api_url.clone()),
        ("RESPONSE_URL_HOSTS", standin_origin),
        (
            "JOIN_URL_TEMPLATE",
            "https://meet.example.com/{room}".into(),
        ),
        (
            "DESKTOP_JOIN_URL_TEMPLATE",
            "examplemeet://join/{room}".into(),
        ),
        ("RUST_LOG", "info".into()),
    ];
    env.extend(aws_env());
    let call_button = Function::start("call-button", &env).await;
    let events = Function::start("events", &env).await;
    let call_end = Function::start("call-end", &env).await;
    let worker = Function::start("worker", &env).await;

    // A forged slash command is refused before anything is written.
    let form = serde_urlencoded::to_string([
        ("team_id", standin.team_id()),
        ("team_domain", "acme"),
        ("channel_id", "C0E2E00001"),
        ("channel_name", "general"),
        ("user_id", "U0E2E00001"),
        ("user_name", "ada"),
        ("command", "/call"),
        ("text", "Design review"),
        (
            "response_url",
            standin.new_response_url("C0E2E00001").as_str(),
        ),
    ])
    .expect("form encodes");
    let forged = signed(
        &slack::SIGNATURE,
        "not-the-secret",
        form.as_bytes(),
        "application/x-www-form-urlencoded",
    );
    let answer = call_button
        .invoke(post_event(
            "/slack/commands",
            &forged,
            form.as_bytes(),
            true,
        ))
        .await;
    assert_eq!(response_parts(&answer).0, 401);

    // The slash command: answered with the join link, nothing said to Slack yet.
    let headers = signed(
        &slack::SIGNATURE,
        SIGNING_SECRET,
        form.as_bytes(),
        "application/x-www-form-urlencoded",
    );
    let answer = call_button
        .invoke(post_event(
            "/slack/commands",
            &headers,
            form.as_bytes(),
            true,
        ))
        .await;
    let (status, body) = response_parts(&answer);
    assert_eq!(status, 200, "{body}");
    let body: Value = serde_json::from_str(&body).expect("JSON answer");
    assert_eq!(body["response_type"], "ephemeral");
    assert!(
        body["text"]
            .as_str()
            .unwrap_or_default()
            .contains("https://meet.example.com/"),
        "{body}\n--- call-button output ---\n{}",
        call_button.process.output()
    );
    assert!(
        standin.requests().is_empty(),
        "the ack path makes no Slack call"
    );

    // The worker, fed the stream, registers the call and posts the call block.
    drain_stream(&worker, &mut pump).await;
    let adds = standin.requests_for("calls.add");
    assert_eq!(adds.len(), 1);
    let add = &adds[0].body;
    for field in [
        "external_unique_id",
        "join_url",
        "desktop_app_join_url",
        "external_display_id",
        "title",
        "created_by",
        "date_start",
    ] {
        assert!(!add[field].is_null(), "calls.add lacks {field}: {add}");
    }
    assert_eq!(add["title"], "Design review");
    assert_eq!(add["created_by"], "U0E2E00001");
    let posts = standin.requests_for("response_url");
    assert_eq!(posts.len(), 1);
    let call_id = posts[0].body["blocks"][0]["call_id"]
        .as_str()
        .expect("call block")
        .to_owned();
    assert_eq!(posts[0].body["response_type"], "in_channel");
    let join_url = add["join_url"].as_str().expect("join url").to_owned();
    let external_unique_id = add["external_unique_id"].as_str().expect("id").to_owned();

    // Stream redelivery of everything so far changes nothing in Slack.
    let before = standin.requests().len();
    let mut replay = StreamPump::new(&dynamodb, &table).await;
    let all = replay.next_records().await;
    let response = worker.invoke(stream_event(all)).await;
    assert_eq!(response["batchItemFailures"], json!([]));
    assert_eq!(
        standin.requests().len(),
        before,
        "a redelivered job does nothing twice"
    );

    // The join link is pasted: acknowledged first, unfurled by the worker. A Slack retry
    // of the same event is acknowledged and ignored.
    standin.add_message("C0E2E00001", "1795320000.000100");
    let event = json!({
        "type": "event_callback", "event_id": "Ev0E2E0001", "event_time": now(),
        "team_id": standin.team_id(), "api_app_id": "A0E2E", "authed_users": ["U0E2E00001"],
        "event": {"type": "link_shared", "channel": "C0E2E00001", "user": "U0E2E00002",
                  "message_ts": "1795320000.000100",
                  "links": [{"domain": "meet.example.com", "url": join_url},
                            {"domain": "elsewhere.example.org", "url": "https://elsewhere.example.org/x"}]}
    })
    .to_string();
    for retry in 0..3 {
        let mut headers = signed(
            &slack::SIGNATURE,
            SIGNING_SECRET,
            event.as_bytes(),
            "application/json",
        );
        if retry > 0 {
            headers.push(("x-slack-retry-num", retry.to_string()));
            headers.push(("x-slack-retry-reason", "http_timeout".into()));
        }
        let answer = events
            .invoke(post_event(
                "/slack/events",
                &headers,
                event.as_bytes(),
                false,
            ))
            .await;
        assert_eq!(response_parts(&answer).0, 200);
    }
    drain_stream(&worker, &mut pump).await;
    let unfurls = standin.requests_for("chat.unfurl");
    assert_eq!(unfurls.len(), 1, "one unfurl for three deliveries");
    assert_eq!(
        unfurls[0].body["unfurls"][join_url.as_str()]["blocks"][0]["call_id"],
        call_id.as_str()
    );
    assert!(unfurls[0].body["unfurls"]
        .get("https://elsewhere.example.org/x")
        .is_none());

    // A malformed event: 400, and Slack is told not to retry.
    let broken = b"{not json";
    let answer = events
        .invoke(post_event(
            "/slack/events",
            &signed(
                &slack::SIGNATURE,
                SIGNING_SECRET,
                broken,
                "application/json",
            ),
            broken,
            false,
        ))
        .await;
    assert_eq!(response_parts(&answer).0, 400);
    assert_eq!(response_header(&answer, "x-slack-no-retry"), Some("1"));

    // The provider: three join in one batch, one leaves, a rename, the end.
    let provider = |body: Value| {
        let text = body.to_string();
        let headers = signed(
            &slack_calls::provider::SIGNATURE,
            PROVIDER_SECRET,
            text.as_bytes(),
            "application/json",
        );
        post_event("/provider/events", &headers, text.as_bytes(), false)
    };
    let t = now();
    let answer = call_end
        .invoke(provider(json!([
            {"type": "participant.joined", "external_unique_id": external_unique_id, "participant": {"slack_id": "U0E2E00001"}, "occurred_at": t},
            {"type": "participant.joined", "external_unique_id": external_unique_id, "participant": {"slack_id": "U0E2E00002"}, "occurred_at": t},
            {"type": "participant.joined", "external_unique_id": external_unique_id, "participant": {"external_id": "guest-7", "display_name": "Guest Seven"}, "occurred_at": t},
        ])))
        .await;
    let (status, body) = response_parts(&answer);
    assert_eq!(status, 202, "{body}");
    drain_stream(&worker, &mut pump).await;
    let adds = standin.requests_for("calls.participants.add");
    assert_eq!(adds.len(), 1, "three joins, one request");
    assert_eq!(adds[0].body["users"].as_array().map(Vec::len), Some(3));

    call_end
        .invoke(provider(
            json!({"type": "participant.left", "external_unique_id": external_unique_id,
                                "participant": {"slack_id": "U0E2E00002"}, "occurred_at": t + 5}),
        ))
        .await;
    drain_stream(&worker, &mut pump).await;
    call_end
        .invoke(provider(json!({"type": "call.updated", "external_unique_id": external_unique_id, "title": "Design review, part 2"})))
        .await;
    drain_stream(&worker, &mut pump).await;
    for _ in 0..2 {
        call_end
            .invoke(provider(json!({"type": "call.ended", "external_unique_id": external_unique_id, "event_id": "end-1"})))
            .await;
    }
    drain_stream(&worker, &mut pump).await;

    assert_eq!(
        methods(&standin),
        [
            // The worker's container asks once whose the secret's token is.
            "auth.test",
            "calls.add",
            "response_url",
            "chat.unfurl",
            "calls.participants.add",
            "calls.participants.remove",
            "calls.update",
            "calls.end"
        ]
    );
    let call = standin.call(&call_id).expect("the stand-in knows the call");
    assert!(call.ended());
    assert_eq!(call.title.as_deref(), Some("Design review, part 2"));

    // The schedule reaches the worker as an EventBridge scheduled event.
    let sweep = worker
        .invoke(json!({
            "version": "0", "id": "e2e-sweep", "detail-type": "Scheduled Event", "source": "aws.events",
            "account": "123456789012", "time": "2026-11-22T04:00:00Z", "region": "us-east-1",
            "resources": ["arn:aws:events:us-east-1:123456789012:rule/sweep"], "detail": {}
        }))
        .await;
    assert_eq!(sweep["live_calls"], 0, "{sweep}");

    // No secret ever reaches the logs.
    for function in [&call_button, &events, &call_end, &worker] {
        let output = function.process.output();
        for secret in [SIGNING_SECRET, PROVIDER_SECRET, standin.bot_token()] {
            assert!(
                !output.contains(secret),
                "a secret leaked into the logs:\n{output}"
            );
        }
    }
}
