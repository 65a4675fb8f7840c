//! Participants at scale and out of order: a 5,000-person call, bulky joins, and
//! shuffled, repeated histories run by several workers at once, ending as the latest
//! event per person says.

use std::collections::BTreeSet;

use flow_tests::world::World;
use proptest::prelude::*;
use serde_json::{json, Value};

use crate::support::{participants_shown, send_provider_events, start_call, Started};

const CHANNEL: &str = "C0CHAN0001";
const CREATOR: &str = "U0USER0001";

fn guest(i: usize, name: &str) -> Value {
    json!({"external_id": format!("guest-{i:05}"), "display_name": name})
}

fn event(call: &Started, kind: &str, participant: Value, occurred_at: Option<i64>) -> Value {
    let mut event = json!({"type": kind, "external_unique_id": call.external_unique_id,
                           "participant": participant});
    if let Some(at) = occurred_at {
        event["occurred_at"] = json!(at);
    }
    event
}

fn shown(world: &World, call: &Started) -> BTreeSet<String> {
    participants_shown(world, &call.call_id)
        .into_iter()
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_5000_person_call_with_bulky_names_shows_everyone_and_ends() {
    const PEOPLE: usize = 5_000;
    let mut world = World::start().await;
    let call = start_call(&mut world, CHANNEL, CREATOR, "All hands").await;
    // Names far over the cap: cut, never refused, never a 5xx.
    let bulky = "N".repeat(1_000);
    for batch in (0..PEOPLE).collect::<Vec<_>>().chunks(100) {
        let events: Vec<Value> = batch
            .iter()
            .map(|&i| event(&call, "participant.joined", guest(i, &bulky), None))
            .collect();
        let statuses = send_provider_events(&world, &Value::Array(events)).await;
        assert!(statuses.iter().all(|s| s == "applied"), "{statuses:?}");
        assert_eq!(world.run_worker().await, Vec::<String>::new());
    }
    assert_eq!(shown(&world, &call).len(), PEOPLE, "Slack shows everyone");
    let stored = world.call(&call.external_unique_id).await;
    assert_eq!(
        (stored.participant_count, stored.present_count),
        (PEOPLE as u32, PEOPLE as u32)
    );
    // The call item holds counts, not people: its size does not grow with the call.
    let call_bytes = serde_json::to_vec(&stored)
        .map(|b| b.len())
        .unwrap_or(usize::MAX);
    assert!(call_bytes < 4_096, "call item of {call_bytes} bytes");
    let people = world.participants(&call.external_unique_id).await;
    assert_eq!(people.len(), PEOPLE);
    assert!(people.iter().all(|p| p.shown.is_some() && p.version == 2));

    // One more join to the full call: one sync of one person.
    world.standin.clear_requests();
    send_provider_events(
        &world,
        &event(&call, "participant.left", guest(7, "x"), None),
    )
    .await;
    assert_eq!(world.run_worker().await, Vec::<String>::new());
    let removes = world.standin.requests_for("calls.participants.remove");
    assert_eq!(removes.len(), 1);
    assert_eq!(removes[0].body["users"].as_array().map(Vec::len), Some(1));
    assert_eq!(shown(&world, &call).len(), PEOPLE - 1);

    send_provider_events(
        &world,
        &json!({"type": "call.ended", "external_unique_id": call.external_unique_id}),
    )
    .await;
    assert_eq!(world.run_worker().await, Vec::<String>::new());
    assert!(world.standin.call(&call.call_id).is_some_and(|c| c.ended()));
    assert_eq!(
        world.slack_methods().last().map(String::as_str),
        Some("calls.end")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn people_who_joined_before_the_registration_are_all_added_with_it() {
    let mut world = World::start().await;
    let form = world.command_form(CHANNEL, CREATOR, &[("text", "Early")]);
    assert_eq!(world.command(&form).await.status, 200);
    let records = world.stream_records().await;
    let id = crate::support::job_ids(&records)
        .first()
        .cloned()
        .expect("the registration job");
    let job = world
        .services
        .store
        .get_job(&id)
        .await
        .expect("store")
        .expect("job");
    let slack_calls::domain::JobKind::RegisterCall { external_unique_id } = job.kind else {
        panic!("not a registration: {job:?}");
    };
    let early = Started {
        external_unique_id: external_unique_id.to_string(),
        join_url: String::new(),
        call_id: String::new(),
    };
    // 150 people: more than one calls.add carries; the rest come with the sync.
    let events: Vec<Value> = (0..150)
        .map(|i| event(&early, "participant.joined", guest(i, "Early bird"), None))
        .chain((0..100).map(|i| {
            event(
                &early,
                "participant.joined",
                guest(150 + i, "Early bird"),
                None,
            )
        }))
        .collect();
    for batch in events.chunks(100) {
        send_provider_events(&world, &Value::Array(batch.to_vec())).await;
    }
    assert!(world.deliver(records).await.is_empty());
    assert_eq!(world.run_worker().await, Vec::<String>::new());
    let added = &world.standin.calls()[0];
    assert_eq!(added.participant_ids().len(), 250);
    let adds = world.standin.requests_for("calls.add");
    assert_eq!(adds[0].body["users"].as_array().map(Vec::len), Some(100));
}

/// One history: (person, joined?, seconds after the start), each sent once or more.
type History = Vec<(usize, bool, i64)>;

fn latest_says_present(history: &History, person: usize) -> bool {
    history
        .iter()
        .filter(|(who, _, _)| *who == person)
        .max_by_key(|(_, joined, at)| (*at, !*joined))
        .is_some_and(|(_, joined, _)| *joined)
}

/// Sends the deliveries in batches of `batch` events while up to `workers` workers run
/// the jobs of the batches before, all at once and in a shuffled order; returns what
/// Slack shows and what the history says it should.
async fn run_history(
    history: &History,
    deliveries: &[usize],
    batch: usize,
    workers: usize,
    seed: u64,
) -> (BTreeSet<String>, BTreeSet<String>) {
    let mut world = World::start().await;
    let call = start_call(&mut world, CHANNEL, CREATOR, "Shuffled").await;
    let start = world.now();
    let people = ["U0USER0002", "U0USER0003", "U0USER0004"];
    let mut state = seed;
    let mut records: Vec<Value> = Vec::new();
    let mut chunks = deliveries.chunks(batch).peekable();
    while chunks.peek().is_some() || !records.is_empty() {
        let events: Vec<Value> = chunks
            .next()
            .unwrap_or_default()
            .iter()
            .map(|&i| {
                let (who, joined, at) = history[i];
                let kind = if joined {
                    "participant.joined"
                } else {
                    "participant.left"
                };
                event(
                    &call,
                    kind,
                    json!({"slack_id": people[who]}),
                    Some(start + at),
                )
            })
            .collect();
        // The jobs so far, shuffled, split among the workers.
        for i in (1..records.len()).rev() {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1);
            let j = usize::try_from(state >> 33).unwrap_or(0) % (i + 1);
            records.swap(i, j);
        }
        let size = records.len().div_ceil(workers).max(1);
        let runs: Vec<_> = records
            .chunks(size)
            .map(|group| world.deliver(group.to_vec()))
            .collect();
        let sending = async {
            if !events.is_empty() {
                send_provider_events(&world, &Value::Array(events)).await;
            }
        };
        let (failed, ()) = tokio::join!(join_all(runs), sending);
        assert_eq!(failed.concat(), Vec::<String>::new());
        records = world.stream_records().await;
    }
    assert_eq!(world.run_worker().await, Vec::<String>::new());
    let expected = (0..people.len())
        .filter(|&who| latest_says_present(history, who))
        .map(|who| people[who].to_owned())
        .collect();
    (shown(&world, &call), expected)
}

/// Runs futures concurrently (the workers), in the order given.
async fn join_all<F: std::future::Future>(futures: Vec<F>) -> Vec<F::Output> {
    let mut pinned: Vec<std::pin::Pin<Box<F>>> = futures.into_iter().map(Box::pin).collect();
    // Poll all of them together until each is done.
    let mut outputs: Vec<Option<F::Output>> = (0..pinned.len()).map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (i, future) in pinned.iter_mut().enumerate() {
            if outputs[i].is_some() {
                continue;
            }
            match future.as_mut().poll(cx) {
                std::task::Poll::Ready(output) => outputs[i] = Some(output),
                std::task::Poll::Pending => pending = true,
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    outputs.into_iter().flatten().collect()
}

fn histories() -> impl Strategy<Value = (History, Vec<usize>, usize, usize, u64)> {
    prop::collection::vec((0usize..3, any::<bool>(), 1i64..40), 1..10).prop_flat_map(|history| {
        let n = history.len();
        let deliveries = prop::collection::vec(0..n, 0..n).prop_map(move |mut extra| {
            extra.extend(0..n);
            extra
        });
        (
            Just(history),
            deliveries.prop_shuffle(),
            1usize..4,
            1usize..4,
            any::<u64>(),
        )
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// Joins and leaves delivered shuffled and repeated, in batches of any size, their
    /// jobs run by up to three workers at once in any order: Slack shows what the
    /// latest event per person says.
    #[test]
    fn shuffled_repeated_histories_end_as_the_latest_event_says(
        (history, deliveries, batch, workers, seed) in histories()
    ) {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a runtime");
        let (shown, expected) =
            runtime.block_on(run_history(&history, &deliveries, batch, workers, seed));
        prop_assert_eq!(shown, expected, "{:?} delivered as {:?}", history, deliveries);
    }
}
