//! A local run keeps its state across a restart and resumes the jobs it left unfinished,
//! on the embedded store and on DynamoDB (Local) alike.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use local_server::{launch_sandbox, StoreChoice};
use secrecy::ExposeSecret;
use slack_calls::slack;
use slack_standin::Fault;

fn any_port() -> SocketAddr {
    SocketAddr::from((Ipv4Addr::LOCALHOST, 0))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unfinished_jobs_resume_after_a_restart() {
    let dir = tempfile::tempdir().expect("temp dir");
    resume_after_restart(StoreChoice::Embedded(Some(dir.path().join("calls.json")))).await;
}

// DynamoDB Local: with the emulators (./infra/test.sh).
testkit::with_emulators! {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn unfinished_jobs_resume_after_a_restart_on_dynamodb() {
        // The server reaches the table through the standard endpoint variable.
        let (_, table) = testkit::dynamodb::fresh_table().await;
        resume_after_restart(StoreChoice::DynamoDb { table }).await;
    }
}

/// A call whose registration failed (Slack down) in one run is registered by the next
/// run on the same store, by itself.
async fn resume_after_restart(store: StoreChoice) {
    // First run: Slack is down, so the call is written but cannot be registered.
    let first = launch_sandbox(any_port(), |_| None, &store, Duration::from_secs(3600))
        .await
        .expect("first run starts");
    first
        .standin
        .inject(Fault::on("calls.add").http_status(503));
    let form = serde_urlencoded::to_string([
        ("team_id", first.standin.team_id()),
        ("channel_id", "C0RESTART1"),
        ("user_id", "U0RESTART1"),
        ("command", "/call"),
        ("text", "Survives restarts"),
        (
            "response_url",
            first.standin.new_response_url("C0RESTART1").as_str(),
        ),
    ])
    .expect("form");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let headers = slack::SIGNATURE.signed_headers(&first.signing_secret, now, form.as_bytes());
    let answer = reqwest::Client::new()
        .post(format!("{}/slack/commands", first.running.server.url()))
        .headers(headers)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form)
        .send()
        .await
        .expect("command answered");
    assert_eq!(answer.status(), 200);
    let deadline = Instant::now() + Duration::from_secs(10);
    while first.standin.requests_for("calls.add").is_empty() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        !first.standin.requests_for("calls.add").is_empty(),
        "the worker tried"
    );
    assert!(
        first.standin.calls().is_empty(),
        "and failed: Slack was down"
    );
    assert!(!first.signing_secret.expose_secret().is_empty());
    first.running.server.shutdown().await;

    // Second run on the same state file, Slack is back: the job resumes by itself.
    let second = launch_sandbox(any_port(), |_| None, &store, Duration::from_secs(3600))
        .await
        .expect("second run starts");
    let deadline = Instant::now() + Duration::from_secs(10);
    while second.standin.calls().is_empty() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let calls = second.standin.calls();
    assert_eq!(
        calls.len(),
        1,
        "the unfinished registration ran after the restart: {:?}",
        second.standin.requests()
    );
    assert_eq!(calls[0].title.as_deref(), Some("Survives restarts"));
    second.running.server.shutdown().await;
}
