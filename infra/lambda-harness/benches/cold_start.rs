//! Cold start and warm latency of the call-button function, measured the way Slack
//! pays for them: a fresh process under a Lambda Runtime API, answering an API Gateway
//! HTTP API event for a signed slash command, with secrets from Secrets Manager (moto)
//! and the write to DynamoDB Local. Uses `LAMBDA_BIN_DIR` (default: target/release).
//!
//! Loopback emulators are faster than the real services; the numbers compare builds
//! and changes with each other, not with production.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use lambda_harness::apigw::{post_event, response_parts};
use lambda_harness::runtime::{FunctionProcess, RuntimeApi};
use secrecy::SecretString;
use serde_json::json;
use slack_calls::slack;
use slack_standin::SlackStandin;

const SIGNING_SECRET: &str = "bench-signing-secret-0123456789";
const COLD_RUNS: usize = 10;
const WARM_RUNS: usize = 200;

fn percentile(samples: &mut [Duration], p: f64) -> Duration {
    samples.sort();
    let index = ((samples.len() as f64 - 1.0) * p).round() as usize;
    samples[index.min(samples.len() - 1)]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
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
    let binary = lambda_harness::function_binary("call-button");
    let size = std::fs::metadata(&binary).map(|m| m.len()).unwrap_or(0);
    let (_dynamodb, table) = testkit::dynamodb::fresh_table().await;
    let standin = SlackStandin::start().await;
    let secrets = testkit::secretsmanager::client().await;
    let secret_id = testkit::secretsmanager::create_secret(
        &secrets,
        &json!({"signing_secret": SIGNING_SECRET, "bot_token": standin.bot_token(), "provider_webhook_secret": "p"}).to_string(),
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
    let command = |i: usize| {
        let form = serde_urlencoded::to_string([
            ("team_id", standin.team_id()),
            ("channel_id", "C0BENCH001"),
            ("user_id", "U0BENCH001"),
            ("user_name", "bench"),
            ("command", "/call"),
            ("text", &format!("Bench {i}")),
            (
                "response_url",
                standin.new_response_url("C0BENCH001").as_str(),
            ),
        ])
        .unwrap_or_default();
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        let headers = slack::SIGNATURE.signed_headers(
            &SecretString::from(SIGNING_SECRET),
            now,
            form.as_bytes(),
        );
        let mut pairs: Vec<(&str, String)> = vec![
            (
                "x-slack-request-timestamp",
                headers
                    .get("x-slack-request-timestamp")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_owned(),
            ),
            (
                "x-slack-signature",
                headers
                    .get("x-slack-signature")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_owned(),
            ),
        ];
        pairs.push(("content-type", "application/x-www-form-urlencoded".into()));
        post_event("/slack/commands", &pairs, form.as_bytes(), true)
    };

    let mut cold = Vec::new();
    for i in 0..COLD_RUNS {
        let runtime = RuntimeApi::start().await;
        let event = command(i);
        let started = Instant::now();
        let process = FunctionProcess::spawn(&binary, &runtime, &env);
        let answer = runtime
            .invoke(event, Duration::from_secs(30))
            .await
            .unwrap_or_else(|e| panic!("{e:?}\n{}", process.output()));
        cold.push(started.elapsed());
        assert_eq!(response_parts(&answer).0, 200, "{answer}");
    }

    let runtime = RuntimeApi::start().await;
    let process = FunctionProcess::spawn(&binary, &runtime, &env);
    runtime
        .invoke(command(0), Duration::from_secs(30))
        .await
        .unwrap_or_else(|e| panic!("{e:?}\n{}", process.output()));
    let mut warm = Vec::new();
    for i in 0..WARM_RUNS {
        let event = command(i);
        let started = Instant::now();
        let answer = runtime
            .invoke(event, Duration::from_secs(30))
            .await
            .unwrap_or_else(|e| panic!("{e:?}"));
        warm.push(started.elapsed());
        assert_eq!(response_parts(&answer).0, 200);
    }

    println!("call-button {} ({} bytes)", binary.display(), size);
    println!(
        "cold start to first answer ({COLD_RUNS} fresh processes): p50 {}  max {}",
        ms(percentile(&mut cold, 0.5)),
        ms(percentile(&mut cold, 1.0))
    );
    println!(
        "warm slash command ({WARM_RUNS} invocations): p50 {}  p95 {}  p99 {}",
        ms(percentile(&mut warm, 0.5)),
        ms(percentile(&mut warm, 0.95)),
        ms(percentile(&mut warm, 0.99))
    );
}
