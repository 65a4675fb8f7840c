//! What one call's whole life costs in store requests: a `/call`, three joins in one
//! provider batch, a leave, a rename, the end, with the worker run after each.

mod support;

use std::collections::BTreeMap;

use lambda_harness::world::World;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_life_costs_at_most_these_store_requests() {
    let mut world = World::start().await;
    let form = world.command_form("C0CHAN0001", "U0USER0001", &[("text", "Life")]);
    assert_eq!(world.command(&form).await.status, 200);
    assert_eq!(world.run_worker().await, Vec::<String>::new());
    let add = world.standin.requests_for("calls.add");
    let id = add[0].body["external_unique_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let events = [
        json!([
            {"type": "participant.joined", "external_unique_id": id, "participant": {"slack_id": "U0USER0001"}},
            {"type": "participant.joined", "external_unique_id": id, "participant": {"slack_id": "U0USER0002"}},
            {"type": "participant.joined", "external_unique_id": id, "participant": {"external_id": "g7", "display_name": "Guest"}},
        ]),
        json!({"type": "participant.left", "external_unique_id": id, "participant": {"slack_id": "U0USER0002"}}),
        json!({"type": "call.updated", "external_unique_id": id, "title": "Life, part 2"}),
        json!({"type": "call.ended", "external_unique_id": id}),
    ];
    for event in &events {
        assert_eq!(world.provider(event).await.status, 202);
        assert_eq!(world.run_worker().await, Vec::<String>::new());
    }
    let mut by_method: BTreeMap<&str, usize> = BTreeMap::new();
    for method in world.store_requests.calls() {
        *by_method.entry(method).or_default() += 1;
    }
    println!("{by_method:?} total {}", world.store_requests.total());
    println!("{:?}", world.slack_methods());
    assert!(world.store_requests.total() <= 24, "{by_method:?}");
}
