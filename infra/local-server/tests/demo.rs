//! The sandbox demo, in-process: every step must reach the Slack stand-in, in order; the
//! second workspace installs through the install link and calls with its own token.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use local_server::{demo, launch_sandbox, StoreChoice};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_drives_a_whole_call_through_slack() {
    let sandbox = launch_sandbox(
        SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
        |_| None,
        &StoreChoice::Embedded(None),
        Duration::from_secs(3600),
    )
    .await
    .expect("sandbox starts");
    let steps = demo::run(&sandbox, &mut |_| {})
        .await
        .expect("demo completes");
    assert_eq!(steps.len(), 9);

    let methods: Vec<String> = sandbox
        .standin
        .requests()
        .into_iter()
        .filter(|r| r.status == Some(200) && r.error.is_none())
        .map(|r| r.method)
        .collect();
    assert_eq!(
        methods,
        [
            // Single-workspace mode: whose is the secret's token?
            "auth.test",
            "calls.add",
            "response_url",
            "chat.unfurl",
            "calls.participants.add",
            "calls.participants.remove",
            "calls.update",
            "calls.end",
            // The second workspace installs, then starts a call.
            "oauth.v2.access",
            "calls.add",
            "response_url",
        ],
        "exactly the Slack calls a call's life and an install need, in order"
    );
    let calls = sandbox.standin.calls();
    assert_eq!(calls.len(), 2, "one call object in each workspace");
    assert!(calls[0].ended(), "the first is over");
    assert_eq!(calls[0].title.as_deref(), Some("Demo standup (overtime)"));
    assert!(!calls[1].ended(), "the second workspace's call is live");
    assert_eq!(calls[1].title.as_deref(), Some("Planning"));
    let adds = sandbox.standin.requests_for("calls.add");
    assert_eq!(
        adds[0].token.as_deref(),
        Some(sandbox.standin.bot_token()),
        "the first workspace calls with the secret's token"
    );
    assert_ne!(adds[1].token, adds[0].token, "the second with its own");
    sandbox.running.server.shutdown().await;
}
