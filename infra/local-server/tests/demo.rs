//! The sandbox demo, in-process: every step must reach the Slack stand-in, in order.

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
    assert_eq!(steps.len(), 7);

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
            // Single-workspace mode: whose the secret's token is, asked once.
            "auth.test",
            "calls.add",
            "response_url",
            "chat.unfurl",
            "calls.participants.add",
            "calls.participants.remove",
            "calls.update",
            "calls.end"
        ],
        "exactly the Slack calls a call's life needs, in order"
    );
    let calls = sandbox.standin.calls();
    assert_eq!(calls.len(), 1, "one call object");
    assert!(calls[0].ended(), "and it is over");
    assert_eq!(calls[0].title.as_deref(), Some("Demo standup (overtime)"));
    sandbox.running.server.shutdown().await;
}
