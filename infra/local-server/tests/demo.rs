//! The sandbox demo, in-process: every step must reach the Slack stand-in, in order,
//! and the second workspace's call must go out with the token its install obtained.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use local_server::{demo, launch_sandbox, StoreChoice};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_drives_a_whole_call_and_a_second_workspaces_install_through_slack() {
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
            // Single-workspace mode: whose the secret's bot token is, asked once.
            "auth.test",
            "calls.add",
            "response_url",
            "chat.unfurl",
            "calls.participants.add",
            "calls.participants.remove",
            "calls.update",
            "calls.end",
            "oauth.v2.access",
            "calls.add",
            "response_url",
        ],
        "exactly the Slack calls a call's life and an install need, in order"
    );
    let calls = sandbox.standin.calls();
    assert_eq!(calls.len(), 2, "one call object in each workspace");
    assert_eq!(calls[0].team_id, sandbox.standin.team_id());
    assert!(calls[0].ended(), "the first is over");
    assert_eq!(calls[0].title.as_deref(), Some("Demo standup (overtime)"));
    assert_eq!(calls[1].team_id, "T0DEMO0002");
    assert!(!calls[1].ended());

    // The install went through the authorize page once, and the second workspace's
    // call used the token oauth.v2.access issued to it, not the first workspace's.
    let authorize = sandbox.standin.requests_for(slack_standin::AUTHORIZE);
    assert_eq!(authorize.len(), 1);
    assert_eq!(authorize[0].status, Some(302));
    let issued = sandbox.standin.issued_tokens();
    assert_eq!(issued.len(), 1);
    assert_eq!(issued[0].team_id.as_deref(), Some("T0DEMO0002"));
    let adds = sandbox.standin.requests_for("calls.add");
    assert_eq!(adds[0].token.as_deref(), Some(sandbox.standin.bot_token()));
    assert_eq!(
        adds[1].token.as_deref(),
        Some(issued[0].access_token.as_str())
    );
    sandbox.running.server.shutdown().await;
}
