//! Cold starts of every function binary, as ratios to `hello-lambda` (the smallest
//! `lambda_http` function, built in the same run with the same release profile), and
//! the warm latency of a slash command. The one command, from the repository root
//! (builds the release binaries, runs the emulators for the bench only):
//!
//! ```text
//! ./infra/emulators.sh start && . .tools/run/emulators.env && cargo build --release --bins && cargo bench -p lambda-harness --bench cold_start; ./infra/emulators.sh stop
//! ```
//!
//! `LAMBDA_BIN_DIR` (an absolute path) picks other binaries; the default is
//! target/release.
//!
//! Each fresh process runs under its own local Runtime API. "Init" is spawn to the first
//! `GET /runtime/invocation/next` (Lambda's init phase); "first answer" is spawn to the
//! response of the first event, the way Slack pays for a cold start: a signed request
//! whose secret comes from Secrets Manager (moto) and whose data is in DynamoDB Local.
//! Runs interleave the binaries in a rotating order, so load from elsewhere on the
//! machine hits them alike; min, p50 and max are printed, ratios are of the p50s.
//! Loopback emulators are faster than the real services: the numbers compare builds and
//! changes with each other, not with production.
//!
//! A new function is one more entry in `subjects()`: its binary name, its first event
//! and what a good answer to it looks like.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use lambda_harness::apigw::{post_event, response_parts};
use lambda_harness::runtime::{FunctionProcess, RuntimeApi};
use secrecy::SecretString;
use serde_json::{json, Value};
use slack_calls::provider::SIGNATURE as PROVIDER;
use slack_calls::signing::SignatureScheme;
use slack_calls::slack::SIGNATURE as SLACK;
use slack_standin::SlackStandin;

const SIGNING_SECRET: &str = "bench-signing-secret-0123456789";
const PROVIDER_SECRET: &str = "bench-provider-secret-0123456789";
const BASELINE: &str = "hello-lambda";
const COLD_RUNS: usize = 20;
const WARM_RUNS: usize = 200;
const INVOKE_TIMEOUT: Duration = Duration::from_secs(30);
/// A pause before each fresh process, for the previous one's exit and the emulators'
/// work on its requests to finish.
const SETTLE: Duration = Duration::from_millis(50);

/// One binary under test: the event its first invocation gets (run `i`), and the
/// status its answer must have.
struct Subject {
    binary: &'static str,
    event: Box<dyn Fn(usize) -> Value>,
    expected_status: u16,
}

/// The worker answers events, not HTTP: its "status" is 200 when it answered at all.
fn status_of(answer: &Value) -> u16 {
    match answer.get("statusCode") {
        Some(_) => response_parts(answer).0,
        None => 200,
    }
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// The headers of a body signed under `scheme` now.
fn signed(
    scheme: &SignatureScheme,
    secret: &str,
    body: &[u8],
    content_type: &str,
) -> Vec<(&'static str, String)> {
    let headers = scheme.signed_headers(&SecretString::from(secret.to_owned()), now(), body);
    let value = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    vec![
        (scheme.timestamp_header, value(scheme.timestamp_header)),
        (scheme.signature_header, value(scheme.signature_header)),
        ("content-type", content_type.to_owned()),
    ]
}

fn subjects(standin: &SlackStandin) -> Vec<Subject> {
    let team_id = standin.team_id().to_owned();
    let response_urls: Vec<String> = (0..COLD_RUNS + WARM_RUNS + 1)
        .map(|_| standin.new_response_url("C0BENCH001"))
        .collect();
    let slash_command = move |i: usize| {
        let form = serde_urlencoded::to_string([
            ("team_id", team_id.as_str()),
            ("channel_id", "C0BENCH001"),
            ("user_id", "U0BENCH001"),
            ("user_name", "bench"),
            ("command", "/call"),
            ("text", &format!("Bench {i}")),
            (
                "response_url",
                response_urls[i % response_urls.len()].as_str(),
            ),
        ])
        .unwrap_or_default();
        let headers = signed(
            &SLACK,
            SIGNING_SECRET,
            form.as_bytes(),
            "application/x-www-form-urlencoded",
        );
        post_event("/slack/commands", &headers, form.as_bytes(), true)
    };
    let team_id = standin.team_id().to_owned();
    let link_shared = move |i: usize| {
        let body = json!({
            "type": "event_callback", "event_id": format!("EvBENCH{i:06}"), "event_time": now(),
            "team_id": team_id, "api_app_id": "A0BENCH", "authed_users": ["U0BENCH001"],
            "event": {"type": "link_shared", "channel": "C0BENCH001", "user": "U0BENCH002",
                      "message_ts": "1795320000.000100",
                      "links": [{"domain": "meet.example.com", "url": format!("https://meet.example.com/bench-{i}")}]}
        })
        .to_string();
        let headers = signed(&SLACK, SIGNING_SECRET, body.as_bytes(), "application/json");
        post_event("/slack/events", &headers, body.as_bytes(), false)
    };
    let provider_event = |i: usize| {
        let body = json!({"type": "call.ended", "external_unique_id": format!("bench-unknown-{i}"),
                          "event_id": format!("bench-end-{i}")})
        .to_string();
        let headers = signed(
            &PROVIDER,
            PROVIDER_SECRET,
            body.as_bytes(),
            "application/json",
        );
        post_event("/provider/events", &headers, body.as_bytes(), false)
    };
    let sweep = |i: usize| {
        json!({
            "version": "0", "id": format!("bench-sweep-{i}"), "detail-type": "Scheduled Event",
            "source": "aws.events", "account": "123456789012", "time": "2026-11-22T04:00:00Z",
            "region": "us-east-1", "resources": ["arn:aws:events:us-east-1:123456789012:rule/sweep"],
            "detail": {}
        })
    };
    vec![
        Subject {
            binary: BASELINE,
            event: Box::new(|_| post_event("/hello", &[], b"", false)),
            expected_status: 200,
        },
        Subject {
            binary: "call-button",
            event: Box::new(slash_command),
            expected_status: 200,
        },
        Subject {
            binary: "events",
            event: Box::new(link_shared),
            expected_status: 200,
        },
        Subject {
            binary: "call-end",
            // An unknown call: authenticated, looked up in the table, answered 202.
            event: Box::new(provider_event),
            expected_status: 202,
        },
        Subject {
            binary: "worker",
            event: Box::new(sweep),
            expected_status: 200,
        },
    ]
}

#[derive(Default)]
struct ColdStarts {
    init: Vec<Duration>,
    first_answer: Vec<Duration>,
}

fn percentile(samples: &[Duration], p: f64) -> Duration {
    let mut sorted = samples.to_vec();
    sorted.sort();
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// One fresh process of `subject`, answering its first event.
async fn cold_start(subject: &Subject, run: usize, env: &[(&str, String)]) -> (Duration, Duration) {
    let binary = lambda_harness::function_binary(subject.binary);
    let runtime = RuntimeApi::start().await;
    let event = (subject.event)(run);
    let started = Instant::now();
    let process = FunctionProcess::spawn(&binary, &runtime, env);
    let answer = runtime
        .invoke(event, INVOKE_TIMEOUT)
        .await
        .unwrap_or_else(|e| panic!("{}: {e:?}\n{}", subject.binary, process.output()));
    let first_answer = started.elapsed();
    assert_eq!(
        status_of(&answer),
        subject.expected_status,
        "{}: {answer}\n{}",
        subject.binary,
        process.output()
    );
    let init = runtime
        .first_poll()
        .map(|polled| polled.duration_since(started))
        .unwrap_or_else(|| panic!("{} answered without polling", subject.binary));
    (init, first_answer)
}

#[tokio::main]
async fn main() {
    if std::env::var_os("LAMBDA_BIN_DIR").is_none() {
        let release =
            std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/release");
        std::env::set_var(
            "LAMBDA_BIN_DIR",
            std::env::var_os("CARGO_TARGET_DIR")
                .map_or(release, |t| std::path::PathBuf::from(t).join("release")),
        );
    }
    let (_dynamodb, table) = testkit::dynamodb::fresh_table().await;
    let standin = SlackStandin::start().await;
    let secrets = testkit::secretsmanager::client().await;
    let secret_id = testkit::secretsmanager::create_secret(
        &secrets,
        &json!({"signing_secret": SIGNING_SECRET, "bot_token": standin.bot_token(), "provider_webhook_secret": PROVIDER_SECRET}).to_string(),
    )
    .await;
    let origin = standin
        .api_url()
        .trim_end_matches('/')
        .trim_end_matches("/api")
        .to_owned();
    let env: Vec<(&str, String)> = vec![
        ("CALLS_TABLE", table),
        ("SECRET_ID", secret_id),
        ("SLACK_API_URL", standin.api_url()),
        ("RESPONSE_URL_HOSTS", origin),
        (
            "JOIN_URL_TEMPLATE",
            "https://meet.example.com/{room}".into(),
        ),
        ("RUST_LOG", "warn".into()),
        (
            "AWS_ACCESS_KEY_ID",
            std::env::var("AWS_ACCESS_KEY_ID").unwrap_or_default(),
        ),
        (
            "AWS_SECRET_ACCESS_KEY",
            std::env::var("AWS_SECRET_ACCESS_KEY").unwrap_or_default(),
        ),
        (
            "AWS_ENDPOINT_URL_DYNAMODB",
            testkit::aws::emulator_endpoint(testkit::aws::DYNAMODB_ENDPOINT_VAR),
        ),
        (
            "AWS_ENDPOINT_URL_SECRETS_MANAGER",
            testkit::aws::emulator_endpoint(testkit::aws::SECRETS_MANAGER_ENDPOINT_VAR),
        ),
    ];
    let subjects = subjects(&standin);

    let mut cold: Vec<ColdStarts> = subjects.iter().map(|_| ColdStarts::default()).collect();
    for run in 0..COLD_RUNS {
        // Each round starts with another binary, and each start waits for the emulators
        // to finish with the one before: no binary always follows the busiest.
        for offset in 0..subjects.len() {
            let index = (run + offset) % subjects.len();
            tokio::time::sleep(SETTLE).await;
            let (init, first_answer) = cold_start(&subjects[index], run, &env).await;
            cold[index].init.push(init);
            cold[index].first_answer.push(first_answer);
        }
    }

    let slash_command = &subjects[1];
    let runtime = RuntimeApi::start().await;
    let process = FunctionProcess::spawn(
        &lambda_harness::function_binary(slash_command.binary),
        &runtime,
        &env,
    );
    runtime
        .invoke((slash_command.event)(COLD_RUNS), INVOKE_TIMEOUT)
        .await
        .unwrap_or_else(|e| panic!("{e:?}\n{}", process.output()));
    let mut warm = Vec::new();
    for i in 0..WARM_RUNS {
        let event = (slash_command.event)(COLD_RUNS + 1 + i);
        let started = Instant::now();
        let answer = runtime
            .invoke(event, INVOKE_TIMEOUT)
            .await
            .unwrap_or_else(|e| panic!("{e:?}"));
        warm.push(started.elapsed());
        assert_eq!(status_of(&answer), 200, "{answer}");
    }

    let base_init = percentile(&cold[0].init, 0.5);
    let base_answer = percentile(&cold[0].first_answer, 0.5);
    println!(
        "cold starts, {COLD_RUNS} fresh processes each; ratios of the p50s to {BASELINE}'s ({})",
        std::env::var("LAMBDA_BIN_DIR").unwrap_or_default()
    );
    println!(
        "{:<14} {:>9}  {:>20} {:>6}  {:>20} {:>6}",
        "function", "bytes", "init min/p50/max ms", "ratio", "answer min/p50/max", "ratio"
    );
    for (subject, samples) in subjects.iter().zip(&cold) {
        let size = std::fs::metadata(lambda_harness::function_binary(subject.binary))
            .map_or(0, |m| m.len());
        let init = percentile(&samples.init, 0.5);
        let answer = percentile(&samples.first_answer, 0.5);
        println!(
            "{:<14} {:>9}  {:>6.1} {:>6.1} {:>6.1} {:>6.2}  {:>6.1} {:>6.1} {:>6.1} {:>6.2}",
            subject.binary,
            size,
            ms(percentile(&samples.init, 0.0)),
            ms(init),
            ms(percentile(&samples.init, 1.0)),
            ms(init) / ms(base_init),
            ms(percentile(&samples.first_answer, 0.0)),
            ms(answer),
            ms(percentile(&samples.first_answer, 1.0)),
            ms(answer) / ms(base_answer),
        );
    }
    println!(
        "warm slash command on call-button ({WARM_RUNS} invocations): p50 {:.1} ms  p95 {:.1} ms  p99 {:.1} ms",
        ms(percentile(&warm, 0.5)),
        ms(percentile(&warm, 0.95)),
        ms(percentile(&warm, 0.99))
    );
}
