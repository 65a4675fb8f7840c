//! Starting a call (issue: call-button, worker, meeting providers), over real HTTP
//! against DynamoDB Local and the Slack stand-in, the worker fed the table's stream.

use lambda_harness::world::World;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ack_path_is_one_store_request_and_no_slack_call() {
    let mut world = World::start().await;
    let form = world.command_form("C0CHAN0001", "U0USER0001", &[("text", "Daily standup")]);
    let answer = world.command(&form).await;
    assert_eq!(answer.status, 200, "{:?}", answer.json);
    assert_eq!(answer.json["response_type"], "ephemeral");
    assert_eq!(
        world.store_requests.calls(),
        ["create_call"],
        "exactly one DynamoDB request"
    );
    assert!(
        world.standin.requests().is_empty(),
        "no Slack call before the answer"
    );

    assert!(world.run_worker().await.is_empty());
    assert_eq!(world.slack_methods(), ["calls.add", "response_url"]);
}
