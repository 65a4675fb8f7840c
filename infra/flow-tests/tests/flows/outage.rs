//! Reconciliation: Slack away for 30 minutes while calls are started, joined, renamed
//! and ended. Whatever the stream's retries could not deliver is recorded on the call
//! (`needs_sync`), and the sweep's repairs bring every call to Slack's side once it is
//! back: registered and posted, or its starter told; updated and ended exactly once.

use std::collections::HashSet;
use std::time::Duration;

use crate::support;

use flow_tests::world::{World, WorldOptions};
use serde_json::{json, Value};
use slack_calls::domain::{CallState, JobStatus};
use slack_standin::Fault;
use support::start_call;

const CHANNEL: &str = "C0CHAN0001";
const CREATOR: &str = "U0USER0001";
/// The template's schedule.
const SWEEP_PERIOD: i64 = 5 * 60;
/// The event source mapping's `MaximumRetryAttempts`.
const STREAM_RETRIES: usize = 3;

async fn world() -> World {
    World::start_with(WorldOptions {
        // Long enough that no call of these tests is ended as abandoned.
        config: vec![("STALE_CALL_MINUTES", "600".to_owned())],
        ..WorldOptions::default()
    })
    .await
}

/// Runs the worker as the table's stream does: a record reported failed is delivered
/// again, up to the mapping's retries, then left to the dead-letter queue.
async fn run_worker_as_the_stream(world: &mut World) {
    loop {
        let mut batch = world.stream_records().await;
        if batch.is_empty() {
            return;
        }
        for _ in 0..=STREAM_RETRIES {
            let failed = world.deliver(batch.clone()).await;
            batch.retain(|record| {
                record["dynamodb"]["SequenceNumber"]
                    .as_str()
                    .is_some_and(|seq| failed.iter().any(|f| f == seq))
            });
            if batch.is_empty() {
                break;
            }
        }
    }
}

/// As [`run_worker_as_the_stream`], with two workers at once, as two shards would run
/// them: each batch split between them, and every job that must run alone (a
/// registration) delivered to both, as a redelivery racing the first run. (A sync is
/// safe to repeat and takes no lease: delivered twice at once it may repeat a request
/// Slack answers as done, which this test would count twice.)
async fn run_two_workers(world: &mut World) {
    loop {
        let batch = world.stream_records().await;
        if batch.is_empty() {
            return;
        }
        let (mut first, mut second) = (Vec::new(), Vec::new());
        for (n, record) in batch.into_iter().enumerate() {
            let kind = record["dynamodb"]["NewImage"]["kind"]["S"].as_str();
            if kind == Some("register_call") {
                second.push(record.clone());
                first.push(record);
            } else if n % 2 == 0 {
                first.push(record);
            } else {
                second.push(record);
            }
        }
        let (first, second) = tokio::join!(world.deliver(first), world.deliver(second));
        assert_eq!(
            (first, second),
            (Vec::new(), Vec::new()),
            "nothing fails once Slack is back; a held registration is deferred, not failed"
        );
    }
}

/// Moves the world's and the stand-in's clocks by `seconds`.
fn advance(world: &World, seconds: i64) {
    world.clock.advance(seconds);
    world
        .standin
        .advance_clock(Duration::from_secs(u64::try_from(seconds).unwrap_or(0)));
}

/// One sweep period passes, the schedule fires, the stream delivers what it enqueued.
async fn one_sweep_period(world: &mut World) -> Value {
    advance(world, SWEEP_PERIOD);
    let report = world.sweep().await;
    run_worker_as_the_stream(world).await;
    report
}

/// `/call` while Slack may be away: the call's external id, from the store.
async fn start_call_in_outage(world: &mut World, title: &str) -> String {
    let before: HashSet<String> = external_ids_added(world);
    let form = world.command_form(CHANNEL, CREATOR, &[("text", title)]);
    let answer = world.command(&form).await;
    assert_eq!(answer.status, 200, "{:?}", answer.json);
    run_worker_as_the_stream(world).await;
    let mut new: Vec<String> = external_ids_added(world)
        .into_iter()
        .filter(|id| !before.contains(id))
        .collect();
    assert_eq!(new.len(), 1, "one call tried: {new:?}");
    new.remove(0)
}

fn external_ids_added(world: &World) -> HashSet<String> {
    world
        .standin
        .requests_for("calls.add")
        .iter()
        .filter_map(|r| r.body["external_unique_id"].as_str().map(str::to_owned))
        .collect()
}

/// Accepted requests of `method` whose body says `field` = `value`.
fn accepted(world: &World, method: &str, field: &str, value: &str) -> Vec<Value> {
    world
        .standin
        .requests_for(method)
        .into_iter()
        .filter(|r| r.status == Some(200) && r.error.is_none())
        .filter(|r| r.body[field].as_str() == Some(value))
        .map(|r| r.body)
        .collect()
}

async fn provider(world: &World, event: Value) {
    support::send_provider_events(world, &event).await;
}

fn slack_user(id: &str) -> Value {
    json!({"slack_id": id})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slack_away_for_30_minutes_then_every_call_is_true_within_one_sweep() {
    let mut world = world().await;
    // Before the outage: a call with someone in it, and one about to end.
    let live = start_call(&mut world, CHANNEL, CREATOR, "Standup").await;
    let ending = start_call(&mut world, CHANNEL, CREATOR, "Retro").await;
    provider(
        &world,
        json!({"type": "participant.joined", "external_unique_id": live.external_unique_id,
               "participant": slack_user("U0USER0002")}),
    )
    .await;
    run_worker_as_the_stream(&mut world).await;
    world.standin.clear_requests();

    world.standin.inject(Fault::all().http_status(503));
    // Minute 0: a call is started and joined; the live call is joined, renamed, left.
    let early = start_call_in_outage(&mut world, "Planning").await;
    for event in [
        json!({"type": "participant.joined", "external_unique_id": early,
               "participant": slack_user("U0USER0003")}),
        json!({"type": "participant.joined", "external_unique_id": live.external_unique_id,
               "participant": slack_user("U0USER0004")}),
        json!({"type": "call.updated", "external_unique_id": live.external_unique_id,
               "title": "Standup (long)"}),
        json!({"type": "participant.left", "external_unique_id": live.external_unique_id,
               "participant": slack_user("U0USER0002")}),
        json!({"type": "call.ended", "external_unique_id": ending.external_unique_id}),
    ] {
        provider(&world, event).await;
    }
    run_worker_as_the_stream(&mut world).await;
    // Minutes 5 to 25: sweeps come and go; at 22 another call is started and joined,
    // the live call renamed again.
    for minute in [5, 10, 15, 20] {
        let report = one_sweep_period(&mut world).await;
        assert_eq!(report["errors"], 0, "minute {minute}: {report}");
    }
    advance(&world, 2 * 60);
    let late = start_call_in_outage(&mut world, "Late").await;
    provider(
        &world,
        json!({"type": "participant.joined", "external_unique_id": late,
               "participant": slack_user("U0USER0005")}),
    )
    .await;
    provider(
        &world,
        json!({"type": "call.updated", "external_unique_id": live.external_unique_id,
               "title": "Standup (longer)"}),
    )
    .await;
    run_worker_as_the_stream(&mut world).await;
    advance(&world, 3 * 60);
    one_sweep_period(&mut world).await; // minute 30: still away
    let accepted_so_far = world
        .standin
        .requests()
        .iter()
        .filter(|r| r.status == Some(200))
        .count();
    assert_eq!(accepted_so_far, 0, "Slack was away the whole time");

    // Slack is back; one sweep period later every call is true, with the sweep's
    // jobs run by two workers at once.
    world.standin.clear_faults();
    advance(&world, SWEEP_PERIOD);
    let report = world.sweep().await;
    run_two_workers(&mut world).await;
    assert!(report["repairs_queued"].as_u64() >= Some(4), "{report}");

    // The call started at minute 22 is registered late, its block posted then, its
    // participant shown.
    let adds = accepted(&world, "calls.add", "external_unique_id", &late);
    assert_eq!(adds.len(), 1, "registered once: {adds:?}");
    let stored = world.call(&late).await;
    assert_eq!(stored.state, CallState::Active);
    assert!(stored.block_posted);
    let slack_id = stored.slack_call_id.clone().expect("registered");
    let shown = world.standin.call(slack_id.as_str()).expect("in Slack");
    let present: Vec<String> = shown
        .participants
        .iter()
        .map(|u| u.identity().to_owned())
        .collect();
    assert_eq!(present, ["U0USER0005"]);
    let blocks = world.standin.response_posts();
    assert_eq!(
        blocks
            .iter()
            .filter(|p| p.accepted == Some(true) && p.body.to_string().contains(slack_id.as_str()))
            .count(),
        1,
        "one call block: {blocks:#?}"
    );

    // The call started at minute 0 ran out of attempts: not registered, its starter
    // told once (the command's URL had expired: ephemerally).
    assert!(accepted(&world, "calls.add", "external_unique_id", &early).is_empty());
    let stored = world.call(&early).await;
    assert_eq!(stored.state, CallState::Failed);
    assert!(stored.reconciliation.untold_failure.is_none(), "told");
    let told: Vec<Value> = world
        .standin
        .requests_for("chat.postEphemeral")
        .into_iter()
        .filter(|r| r.status == Some(200) && r.error.is_none())
        .map(|r| r.body)
        .collect();
    assert_eq!(told.len(), 1, "{told:#?}");
    assert_eq!(told[0]["user"], CREATOR);
    assert!(told[0]["text"]
        .as_str()
        .is_some_and(|t| t.contains("could not be shared")));

    // The live call: renamed to its latest title once, joins and leaves applied once.
    let updates = accepted(&world, "calls.update", "id", &live.call_id);
    assert_eq!(updates.len(), 1, "{updates:#?}");
    assert_eq!(updates[0]["title"], "Standup (longer)");
    let shown = world.standin.call(&live.call_id).expect("in Slack");
    let present: Vec<String> = shown
        .participants
        .iter()
        .map(|u| u.identity().to_owned())
        .collect();
    assert_eq!(present, ["U0USER0004"]);
    assert_eq!(
        accepted(&world, "calls.participants.remove", "id", &live.call_id).len(),
        1
    );
    // The call ended during the outage is ended in Slack, once.
    assert_eq!(
        accepted(&world, "calls.end", "id", &ending.call_id).len(),
        1
    );
    assert!(world
        .standin
        .call(&ending.call_id)
        .is_some_and(|c| c.ended()));

    // Nothing is owed any more: the next sweep has nothing to repair.
    for id in [
        &late,
        &early,
        &live.external_unique_id,
        &ending.external_unique_id,
    ] {
        assert_eq!(world.call(id).await.sync_due_at(), None, "{id}");
    }
    world.standin.clear_requests();
    let report = one_sweep_period(&mut world).await;
    assert_eq!(report["repairs_due"], 0, "{report}");
    assert!(world.standin.requests().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registration_that_keeps_failing_gives_up_and_its_starter_is_told() {
    let mut world = world().await;
    world
        .standin
        .inject(Fault::on("calls.add").http_status(503));
    let external_unique_id = start_call_in_outage(&mut world, "Doomed").await;
    assert_eq!(
        world.call(&external_unique_id).await.state,
        CallState::Registering
    );
    assert!(
        world.standin.response_posts().is_empty(),
        "nothing told yet"
    );

    let mut sweeps = 0;
    while world.call(&external_unique_id).await.state == CallState::Registering {
        sweeps += 1;
        assert!(sweeps <= 8, "the registration never gave up");
        one_sweep_period(&mut world).await;
    }
    let stored = world.call(&external_unique_id).await;
    assert_eq!(stored.state, CallState::Failed);
    assert_eq!(stored.failure.as_deref(), Some("registration kept failing"));
    assert!(stored.reconciliation.untold_failure.is_none(), "told");
    let posts: Vec<_> = world
        .standin
        .response_posts()
        .into_iter()
        .filter(|p| p.accepted == Some(true))
        .collect();
    assert_eq!(posts.len(), 1, "{posts:#?}");
    assert_eq!(posts[0].body["response_type"], "ephemeral");
    assert!(posts[0].body["text"]
        .as_str()
        .is_some_and(|t| t.contains("could not be shared")));

    // The job that gave up says so; nothing is owed, nothing more happens.
    let jobs = world.stream_from_start().await;
    let last = support::job(&world, &support::job_id(jobs.last().expect("jobs"))).await;
    assert_eq!(last.status, JobStatus::Failed);
    assert_eq!(last.last_error.as_deref(), Some("too many attempts"));
    assert_eq!(stored.sync_due_at(), None);
    world.standin.clear_requests();
    let report = one_sweep_period(&mut world).await;
    assert_eq!(report["repairs_due"], 0, "{report}");
    assert!(world.standin.requests().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rate_limited_sync_waits_for_retry_after_then_the_repair_delivers_it() {
    let mut world = world().await;
    let call = start_call(&mut world, CHANNEL, CREATOR, "Busy").await;
    // Longer than a run's retry budget: the job hands the work to the call's repair.
    let retry_after = 7 * 60;
    world.standin.inject(
        Fault::on("calls.participants.add")
            .rate_limited(retry_after)
            .times(1),
    );
    provider(
        &world,
        json!({"type": "participant.joined", "external_unique_id": call.external_unique_id,
               "participant": slack_user("U0USER0002")}),
    )
    .await;
    let records = world.stream_records().await;
    assert_eq!(
        world.deliver(records).await,
        Vec::<String>::new(),
        "deferred, not failed: the stream does not retry at once"
    );
    assert_eq!(
        world.standin.requests_for("calls.participants.add").len(),
        1
    );
    let stored = world.call(&call.external_unique_id).await;
    let retry_after = i64::try_from(retry_after).unwrap_or_default();
    assert_eq!(stored.sync_due_at(), Some(world.now() + retry_after));

    // A sweep before Slack's time re-queues nothing; the first one after does.
    let report = one_sweep_period(&mut world).await;
    assert_eq!(report["repairs_due"], 0, "{report}");
    assert_eq!(
        world.standin.requests_for("calls.participants.add").len(),
        1
    );
    let report = one_sweep_period(&mut world).await;
    assert_eq!(report["repairs_queued"], 1, "{report}");
    let adds = accepted(&world, "calls.participants.add", "id", &call.call_id);
    assert_eq!(adds.len(), 1, "{adds:#?}");
    let shown = world.standin.call(&call.call_id).expect("in Slack");
    assert_eq!(shown.participants.len(), 1);
    assert_eq!(
        world.call(&call.external_unique_id).await.sync_due_at(),
        None
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registration_held_by_a_crashed_run_is_deferred_then_repaired() {
    let mut world = world().await;
    let form = world.command_form(CHANNEL, CREATOR, &[("text", "Held")]);
    assert_eq!(world.command(&form).await.status, 200);
    let records = world.stream_records().await;
    let job = support::job(&world, &support::job_id(&records[0])).await;
    // Another run claimed the job and then died without a word.
    let lease = slack_calls::domain::Lease::new(world.now(), 90);
    let claim = world
        .services
        .store
        .claim_job(&job, &lease, world.now())
        .await
        .expect("claimed");
    assert!(matches!(claim, slack_calls::store::JobClaim::Claimed(_)));

    assert_eq!(
        world.deliver(records).await,
        Vec::<String>::new(),
        "lease contention is no failure: no retry of the stream's is spent on it"
    );
    assert!(world.standin.requests_for("calls.add").is_empty());
    let held = support::job(&world, &job.id).await;
    assert_eq!(
        (held.attempts, held.status),
        (1, JobStatus::Pending),
        "no attempt counted"
    );

    // The call still records what Slack lacks: the sweep's repair registers it.
    let report = one_sweep_period(&mut world).await;
    assert_eq!(report["repairs_queued"], 1, "{report}");
    let registered = support::assert_registered_once(&world, CHANNEL, CREATOR).await;
    let stored = world.call(&registered.external_unique_id).await;
    assert_eq!(stored.state, CallState::Active);
    assert_eq!(stored.sync_due_at(), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn people_who_join_while_slack_is_away_are_shown_after_one_sweep() {
    let mut world = world().await;
    let call = start_call(&mut world, CHANNEL, CREATOR, "Townhall").await;
    world.standin.clear_requests();

    // Only participants change: the call item itself owes Slack nothing else, so the
    // repair must come from what the participants' writes recorded on it.
    world.standin.inject(Fault::all().http_status(503));
    for user in ["U0USER0002", "U0USER0003", "U0USER0004"] {
        provider(
            &world,
            json!({"type": "participant.joined", "external_unique_id": call.external_unique_id,
                   "participant": slack_user(user)}),
        )
        .await;
    }
    provider(
        &world,
        json!({"type": "participant.left", "external_unique_id": call.external_unique_id,
               "participant": slack_user("U0USER0003")}),
    )
    .await;
    run_worker_as_the_stream(&mut world).await;
    let stored = world.call(&call.external_unique_id).await;
    assert!(stored.pending_sync().is_empty(), "no detail or end is owed");
    assert!(stored.sync_due_at().is_some(), "the participants are owed");
    assert!(world
        .standin
        .call(&call.call_id)
        .is_some_and(|c| c.participants.is_empty()));

    world.standin.clear_faults();
    let report = one_sweep_period(&mut world).await;
    assert_eq!(report["repairs_queued"], 1, "{report}");
    let shown = world.standin.call(&call.call_id).expect("in Slack");
    let mut present: Vec<String> = shown
        .participants
        .iter()
        .map(|u| u.identity().to_owned())
        .collect();
    present.sort();
    assert_eq!(present, ["U0USER0002", "U0USER0004"]);

    // Settled: nothing is owed, and the next sweep sends Slack nothing.
    assert_eq!(
        world.call(&call.external_unique_id).await.sync_due_at(),
        None
    );
    world.standin.clear_requests();
    let report = one_sweep_period(&mut world).await;
    assert_eq!(report["repairs_due"], 0, "{report}");
    assert!(world.standin.requests().is_empty());
}
