//! What one call's whole life costs in store requests (each one DynamoDB request), so
//! it cannot grow unnoticed: a `/call`, three joins in one provider batch, a leave, a
//! rename, the end, with the worker run after each. On both stores; `cargo bench -p
//! lambda-harness --bench call_life` measures the same life's DynamoDB operations and
//! capacity.

use std::collections::BTreeMap;

use flow_tests::world::World;
use serde_json::json;

/// What the life costs now (it cost 47 before jobs were claimed without a read, syncs
/// ran without a lease, and a run's last confirmations were written with its end; 22
/// before the registration was claimed on the call, one conditional write, so that two
/// jobs never both call `calls.add`; 23 before participants became items of their own:
/// a leave reads its person, and a sync of people reads them and records what Slack
/// shows on them, five requests more, none of which grows with the call).
const LIFE_STORE_REQUESTS: usize = 28;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_life_costs_at_most_28_store_requests() {
    let mut world = World::start().await;
    let form = world.command_form("C0CHAN0001", "U0USER0001", &[("text", "Life")]);
    assert_eq!(world.command(&form).await.status, 200);
    assert_eq!(world.run_worker().await, Vec::<String>::new());
    let adds = world.standin.requests_for("calls.add");
    let id = adds[0].body["external_unique_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let user = |slack_id: &str| json!({"slack_id": slack_id});
    let life = [
        json!([
            {"type": "participant.joined", "external_unique_id": id, "participant": user("U0USER0001")},
            {"type": "participant.joined", "external_unique_id": id, "participant": user("U0USER0002")},
            {"type": "participant.joined", "external_unique_id": id,
             "participant": {"external_id": "guest-7", "display_name": "Guest Seven"}},
        ]),
        json!({"type": "participant.left", "external_unique_id": id, "participant": user("U0USER0002")}),
        json!({"type": "call.updated", "external_unique_id": id, "title": "Life, part 2"}),
        json!({"type": "call.ended", "external_unique_id": id}),
    ];
    for events in &life {
        assert_eq!(world.provider(events).await.status, 202);
        assert_eq!(world.run_worker().await, Vec::<String>::new());
    }

    assert_eq!(
        world.slack_methods(),
        [
            "auth.test",
            "calls.add",
            "response_url",
            "calls.participants.add",
            "calls.participants.remove",
            "calls.update",
            "calls.end"
        ]
    );
    let mut by_method: BTreeMap<&str, usize> = BTreeMap::new();
    for method in world.store_requests.calls() {
        *by_method.entry(method).or_default() += 1;
    }
    let total = world.store_requests.total();
    assert!(
        total <= LIFE_STORE_REQUESTS,
        "{total} store requests, at most {LIFE_STORE_REQUESTS}: {by_method:?}"
    );
    // The job bookkeeping that makes it this cheap: one claim (the registration; a sync
    // takes none), no job read, every run's end written with its last call change (a
    // sync of people too: it clears the call's "participants owed" flag its event's
    // write set, so the sweep has nothing to repair).
    assert_eq!(by_method.get("get_job"), None, "{by_method:?}");
    assert_eq!(by_method.get("update_job"), None, "{by_method:?}");
    assert_eq!(by_method.get("claim_job"), Some(&1), "{by_method:?}");
    assert_eq!(
        by_method.get("update_call_and_job"),
        Some(&5),
        "{by_method:?}"
    );
    // Nobody is read in full on the way (that is the sweep's repair, when a sync failed).
    assert_eq!(by_method.get("list_participants"), None, "{by_method:?}");
    // People: the first joins read nobody (none recorded yet); the leave reads one.
    assert_eq!(by_method.get("get_participants"), Some(&3), "{by_method:?}");
    assert_eq!(
        by_method.get("update_participants"),
        Some(&2),
        "{by_method:?}"
    );
}
