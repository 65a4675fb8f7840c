//! The stale-call sweep (the worker's schedule), time driven by the world's clock:
//! abandoned calls and calls older than the limit are ended; live calls are left alone;
//! the sweep reads the live-calls index, never the table.

use crate::support;

use flow_tests::world::{World, WorldOptions};
use serde_json::json;
use slack_calls::domain::{CallState, EndReason};
use support::{start_call, store_writes};

const CHANNEL: &str = "C0CHAN0001";
const CREATOR: &str = "U0USER0001";
const STALE_MINUTES: i64 = 20;
const MAX_HOURS: i64 = 3;

async fn world() -> World {
    World::start_with(WorldOptions {
        config: vec![
            ("STALE_CALL_MINUTES", STALE_MINUTES.to_string()),
            ("MAX_CALL_HOURS", MAX_HOURS.to_string()),
        ],
        ..WorldOptions::default()
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_abandoned_call_is_ended_and_a_live_one_left_alone() {
    let mut world = world().await;
    let abandoned = start_call(&mut world, CHANNEL, CREATOR, "Nobody came").await;
    let live = start_call(&mut world, CHANNEL, CREATOR, "Busy").await;
    let answer = world
        .provider(
            &json!({"type": "participant.joined", "external_unique_id": live.external_unique_id,
                           "participant": {"slack_id": "U0USER0002"}}),
        )
        .await;
    assert_eq!(answer.status, 202);
    assert_eq!(world.run_worker().await, Vec::<String>::new());
    world.standin.clear_requests();

    // Just short of the limit: nothing is stale yet.
    world.clock.advance(STALE_MINUTES * 60 - 1);
    world.store_requests.reset();
    let report = world.sweep().await;
    assert_eq!(report["live_calls"], 2, "{report}");
    assert_eq!(report["ended_abandoned"], 0, "{report}");
    assert_eq!(
        world.store_requests.calls(),
        ["calls_due_for_sync", "list_live_calls"],
        "two index queries (Slack lacks nothing: no repair due), nothing written"
    );
    assert_eq!(world.run_worker().await, Vec::<String>::new());
    assert!(world.standin.requests().is_empty());

    world.clock.advance(1);
    world.store_requests.reset();
    let report = world.sweep().await;
    assert_eq!(report["ended_abandoned"], 1, "{report}");
    assert_eq!(report["ended_too_old"], 0, "{report}");
    let requests = world.store_requests.calls();
    assert_eq!(requests[..2], ["calls_due_for_sync", "list_live_calls"]);
    assert_eq!(
        requests.iter().filter(|m| **m == "list_live_calls").count(),
        1
    );
    assert_eq!(store_writes(&world), ["update_call"], "only the stale call");
    assert_eq!(world.run_worker().await, Vec::<String>::new());

    assert_eq!(world.slack_methods(), ["calls.end"]);
    assert_eq!(
        world.standin.requests_for("calls.end")[0].body["id"],
        abandoned.call_id
    );
    let stored = world.call(&abandoned.external_unique_id).await;
    assert_eq!(stored.state, CallState::Ended);
    assert_eq!(stored.end_reason, Some(EndReason::Abandoned));
    let still = world.call(&live.external_unique_id).await;
    assert_eq!(still.state, CallState::Active);
    assert!(world
        .standin
        .call(&live.call_id)
        .is_some_and(|c| !c.ended()));

    // The ended call left the index: the next sweep sees only the live one.
    let report = world.sweep().await;
    assert_eq!(report["live_calls"], 1, "{report}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provider_activity_keeps_an_empty_call_alive() {
    let mut world = world().await;
    let call = start_call(&mut world, CHANNEL, CREATOR, "Standup").await;
    world.clock.advance(STALE_MINUTES * 60 - 60);
    let answer = world
        .provider(
            &json!({"type": "call.updated", "external_unique_id": call.external_unique_id,
                           "title": "Standup (moved)"}),
        )
        .await;
    assert_eq!(answer.status, 202);
    assert_eq!(world.run_worker().await, Vec::<String>::new());
    world.clock.advance(120);

    let report = world.sweep().await;
    assert_eq!(report["ended_abandoned"], 0, "{report}");
    world.clock.advance(STALE_MINUTES * 60);
    let report = world.sweep().await;
    assert_eq!(report["ended_abandoned"], 1, "{report}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_older_than_the_limit_is_ended_even_with_participants() {
    let mut world = world().await;
    let call = start_call(&mut world, CHANNEL, CREATOR, "Marathon").await;
    let answer = world
        .provider(
            &json!({"type": "participant.joined", "external_unique_id": call.external_unique_id,
                           "participant": {"slack_id": "U0USER0002"}}),
        )
        .await;
    assert_eq!(answer.status, 202);
    assert_eq!(world.run_worker().await, Vec::<String>::new());
    world.standin.clear_requests();

    // Still talking, hour after hour: never abandoned.
    world.clock.advance(MAX_HOURS * 3_600 - 1);
    let report = world.sweep().await;
    assert_eq!(report["ended_too_old"], 0, "{report}");
    assert_eq!(report["ended_abandoned"], 0, "{report}");

    world.clock.advance(1);
    let report = world.sweep().await;
    assert_eq!(report["ended_too_old"], 1, "{report}");
    assert_eq!(world.run_worker().await, Vec::<String>::new());
    assert_eq!(world.slack_methods(), ["calls.end"]);
    let end = &world.standin.requests_for("calls.end")[0].body;
    assert_eq!(end["id"], call.call_id);
    assert_eq!(end["duration"], MAX_HOURS * 3_600);
    let stored = world.call(&call.external_unique_id).await;
    assert_eq!(stored.state, CallState::Ended);
    assert_eq!(stored.end_reason, Some(EndReason::TooOld));

    // Swept again: nothing left to do.
    let report = world.sweep().await;
    assert_eq!(report["live_calls"], 0, "{report}");
}
