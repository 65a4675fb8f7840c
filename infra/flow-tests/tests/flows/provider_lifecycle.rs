//! The provider's webhook (`POST /provider/events`) driving a call's life in Slack, over
//! real HTTP against DynamoDB Local and the Slack stand-in, the worker fed the table's
//! stream: batching, dedupe, ordering, refusals, and already-applied changes.

use crate::support;

use flow_tests::world::{World, PROVIDER_SECRET};
use serde_json::{json, Value};
use slack_calls::domain::{CallState, EndReason};
use slack_calls::provider;
use slack_standin::Fault;
use support::{participants_shown, send_provider_events, start_call, store_writes, Started};

const CHANNEL: &str = "C0CHAN0001";
const CREATOR: &str = "U0USER0001";

fn joined(call: &Started, participant: Value, occurred_at: Option<i64>) -> Value {
    let mut event = json!({"type": "participant.joined",
                           "external_unique_id": call.external_unique_id,
                           "participant": participant});
    if let Some(at) = occurred_at {
        event["occurred_at"] = json!(at);
    }
    event
}

fn left(call: &Started, participant: Value, occurred_at: Option<i64>) -> Value {
    let mut event = joined(call, participant, occurred_at);
    event["type"] = json!("participant.left");
    event
}

fn slack_user(id: &str) -> Value {
    json!({"slack_id": id})
}

/// Sends `body` and runs the worker; no job may fail.
async fn apply(world: &mut World, body: &Value) -> Vec<String> {
    let statuses = send_provider_events(world, body).await;
    assert_eq!(world.run_worker().await, Vec::<String>::new());
    statuses
}

// ---- 7. The whole lifecycle ----------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn joins_leave_rename_and_end_become_exactly_these_slack_calls() {
    let mut world = World::start().await;
    let call = start_call(&mut world, CHANNEL, CREATOR, "Design review").await;
    let t = world.now();

    let statuses = apply(
        &mut world,
        &json!([
            joined(&call, slack_user("U0USER0001"), Some(t)),
            joined(&call, slack_user("U0USER0002"), Some(t)),
            joined(
                &call,
                json!({"external_id": "guest-7", "display_name": "Guest Seven",
                       "avatar_url": "https://avatars.example.com/7.png"}),
                Some(t)
            ),
        ]),
    )
    .await;
    assert_eq!(statuses, ["applied", "applied", "applied"]);
    let statuses = apply(
        &mut world,
        &left(&call, slack_user("U0USER0002"), Some(t + 5)),
    )
    .await;
    assert_eq!(statuses, ["applied"]);
    let statuses = apply(
        &mut world,
        &json!({"type": "call.updated", "external_unique_id": call.external_unique_id,
                "title": "Design review, part 2"}),
    )
    .await;
    assert_eq!(statuses, ["applied"]);
    let statuses = apply(
        &mut world,
        &json!({"type": "call.ended", "external_unique_id": call.external_unique_id}),
    )
    .await;
    assert_eq!(statuses, ["applied"]);

    assert_eq!(
        world.slack_methods(),
        [
            "calls.participants.add",
            "calls.participants.remove",
            "calls.update",
            "calls.end"
        ]
    );
    let requests = world.standin.requests();
    assert!(requests.iter().all(|r| r.error.is_none()), "{requests:?}");
    assert!(requests.iter().all(|r| r.body["id"] == call.call_id));
    assert_eq!(
        requests[0].body["users"],
        json!([{"slack_id": "U0USER0001"}, {"slack_id": "U0USER0002"},
               {"external_id": "guest-7", "display_name": "Guest Seven",
                "avatar_url": "https://avatars.example.com/7.png"}])
    );
    assert_eq!(
        requests[1].body["users"],
        json!([{"slack_id": "U0USER0002"}])
    );
    assert_eq!(requests[2].body["title"], "Design review, part 2");

    let shown = world.standin.call(&call.call_id).expect("call");
    assert!(shown.ended());
    assert_eq!(shown.title.as_deref(), Some("Design review, part 2"));
    let stored = world.call(&call.external_unique_id).await;
    assert_eq!(stored.state, CallState::Ended);
    assert_eq!(stored.end_reason, Some(EndReason::Provider));
    assert!(stored.slack_ended);
}

// ---- 8. The end, once, with its duration ---------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn call_ended_twice_ends_once_with_the_providers_duration() {
    let mut world = World::start().await;
    let call = start_call(&mut world, CHANNEL, CREATOR, "Standup").await;
    world.clock.advance(60);
    let end = json!({"type": "call.ended", "external_unique_id": call.external_unique_id,
                     "event_id": "prov-end-1", "duration": 1234});

    assert_eq!(send_provider_events(&world, &end).await, ["applied"]);
    let answer = world.provider(&end).await;
    assert_eq!(answer.status, 202);
    assert_eq!(answer.json["results"][0]["status"], "ignored");
    assert_eq!(answer.json["results"][0]["reason"], "duplicate event_id");
    assert_eq!(world.run_worker().await, Vec::<String>::new());
    // Redelivered without its event id, after the worker ran: still nothing new.
    let again = json!({"type": "call.ended", "external_unique_id": call.external_unique_id});
    assert_eq!(apply(&mut world, &again).await, ["ignored"]);

    assert_eq!(world.slack_methods(), ["calls.end"]);
    assert_eq!(
        world.standin.requests_for("calls.end")[0].body["duration"],
        1234
    );
    assert_eq!(
        world.standin.call(&call.call_id).and_then(|c| c.duration),
        Some(1234)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_duration_it_is_computed_from_the_stored_start() {
    let mut world = World::start().await;
    let call = start_call(&mut world, CHANNEL, CREATOR, "Standup").await;
    let started_at = world.call(&call.external_unique_id).await.date_start;
    assert_eq!(started_at, world.now());
    world.clock.advance(754);

    let end = json!({"type": "call.ended", "external_unique_id": call.external_unique_id});
    assert_eq!(apply(&mut world, &end).await, ["applied"]);
    assert_eq!(apply(&mut world, &end).await, ["ignored"]);

    let ends = world.standin.requests_for("calls.end");
    assert_eq!(ends.len(), 1);
    assert_eq!(ends[0].body["duration"], 754);
    assert_eq!(
        world.call(&call.external_unique_id).await.ended_at,
        Some(started_at + 754)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_deliveries_of_the_end_end_the_call_once() {
    let mut world = World::start().await;
    let call = start_call(&mut world, CHANNEL, CREATOR, "Standup").await;
    apply(&mut world, &joined(&call, slack_user("U0USER0002"), None)).await;
    world.standin.clear_requests();
    world.clock.advance(90);

    // The provider retries while the first delivery is still in flight.
    let with_id = json!({"type": "call.ended", "external_unique_id": call.external_unique_id,
                         "event_id": "prov-end-9"});
    let without_id = json!({"type": "call.ended", "external_unique_id": call.external_unique_id});
    let (a, b, c, d) = tokio::join!(
        world.provider(&with_id),
        world.provider(&with_id),
        world.provider(&without_id),
        world.provider(&without_id),
    );
    let mut statuses = Vec::new();
    for answer in [a, b, c, d] {
        assert_eq!(answer.status, 202, "{:?}", answer.json);
        statuses.push(answer.json["results"][0]["status"].clone());
    }
    assert_eq!(
        statuses.iter().filter(|s| **s == "applied").count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(world.run_worker().await, Vec::<String>::new());
    assert_eq!(world.slack_methods(), ["calls.end"]);
    assert_eq!(
        world.standin.requests_for("calls.end")[0].body["duration"],
        90
    );
}

// ---- 9. Ordering -----------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_leave_older_than_the_rejoin_is_ignored() {
    let mut world = World::start().await;
    let call = start_call(&mut world, CHANNEL, CREATOR, "Standup").await;
    let t = world.now();
    let ada = slack_user("U0USER0002");

    apply(&mut world, &joined(&call, ada.clone(), Some(t + 10))).await;
    apply(&mut world, &left(&call, ada.clone(), Some(t + 20))).await;
    apply(&mut world, &joined(&call, ada.clone(), Some(t + 30))).await;
    assert_eq!(participants_shown(&world, &call.call_id), ["U0USER0002"]);
    world.standin.clear_requests();

    // The leave that happened between the first leave and the rejoin, delivered late.
    world.clock.advance(60);
    let statuses = apply(&mut world, &left(&call, ada.clone(), Some(t + 25))).await;
    assert_eq!(statuses, ["ignored"]);
    assert!(world.standin.requests().is_empty(), "Slack is not told");
    assert_eq!(participants_shown(&world, &call.call_id), ["U0USER0002"]);
    let people = world.participants(&call.external_unique_id).await;
    assert_eq!(people.len(), 1);
    assert!(people[0].present);

    // A late join older than a later leave is ignored the same way.
    apply(&mut world, &left(&call, ada.clone(), Some(t + 40))).await;
    assert!(participants_shown(&world, &call.call_id).is_empty());
    let statuses = apply(&mut world, &joined(&call, ada, Some(t + 35))).await;
    assert_eq!(statuses, ["ignored"]);
    assert!(participants_shown(&world, &call.call_id).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_after_call_ended_is_applied() {
    let mut world = World::start().await;
    let call = start_call(&mut world, CHANNEL, CREATOR, "Standup").await;
    let t = world.now();
    apply(
        &mut world,
        &joined(&call, slack_user("U0USER0002"), Some(t + 1)),
    )
    .await;
    // The end is reported a little late, with the time it happened.
    world.clock.advance(150);
    apply(
        &mut world,
        &json!({"type": "call.ended", "external_unique_id": call.external_unique_id,
                "occurred_at": t + 100}),
    )
    .await;
    assert_eq!(
        world.slack_methods(),
        ["calls.participants.add", "calls.end"]
    );
    world.standin.clear_requests();

    world.clock.advance(300);
    let statuses = apply(
        &mut world,
        &json!([
            joined(&call, slack_user("U0USER0003"), Some(t + 200)),
            left(&call, slack_user("U0USER0002"), Some(t + 201)),
            {"type": "call.updated", "external_unique_id": call.external_unique_id,
             "title": "Renamed too late"},
            {"type": "call.ended", "external_unique_id": call.external_unique_id,
             "duration": 5},
        ]),
    )
    .await;
    assert_eq!(statuses, ["ignored", "ignored", "ignored", "ignored"]);
    assert!(world.standin.requests().is_empty());
    let stored = world.call(&call.external_unique_id).await;
    assert_eq!(stored.title.as_deref(), Some("Standup"));
    assert_eq!(stored.ended_at, Some(t + 100));
    assert_eq!(stored.reported_duration, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_external_participant_who_leaves_and_rejoins_is_one_participant() {
    let mut world = World::start().await;
    let call = start_call(&mut world, CHANNEL, CREATOR, "Standup").await;
    let t = world.now();
    let guest = json!({"external_id": "guest-42", "display_name": "Guest"});

    apply(&mut world, &joined(&call, guest.clone(), Some(t + 1))).await;
    apply(&mut world, &left(&call, guest.clone(), Some(t + 2))).await;
    apply(
        &mut world,
        &joined(
            &call,
            json!({"external_id": "guest-42", "display_name": "Grace (guest)"}),
            Some(t + 3),
        ),
    )
    .await;

    assert_eq!(
        world.slack_methods(),
        [
            "calls.participants.add",
            "calls.participants.remove",
            "calls.participants.add"
        ]
    );
    let shown = world
        .standin
        .call(&call.call_id)
        .expect("call")
        .participants;
    assert_eq!(shown.len(), 1, "{shown:?}");
    assert_eq!(shown[0].external_id.as_deref(), Some("guest-42"));
    assert_eq!(shown[0].display_name.as_deref(), Some("Grace (guest)"));
    let people = world.participants(&call.external_unique_id).await;
    assert_eq!(people.len(), 1);
    assert!(people[0].shown.is_some());
}

// ---- 10. Refusals change nothing ----------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_requests_change_nothing() {
    let mut world = World::start().await;
    let call = start_call(&mut world, CHANNEL, CREATOR, "Standup").await;
    let end = json!({"type": "call.ended", "external_unique_id": call.external_unique_id})
        .to_string()
        .into_bytes();

    let forged = world
        .post_signed(
            "/provider/events",
            &end,
            "application/json",
            &provider::SIGNATURE,
            "not-the-provider-secret",
            0,
        )
        .await;
    assert_eq!(forged.status, 401);
    let unsigned = world
        .post(
            "/provider/events",
            &end,
            "application/json",
            http::HeaderMap::new(),
        )
        .await;
    assert_eq!(unsigned.status, 401);
    let stale = world
        .post_signed(
            "/provider/events",
            &end,
            "application/json",
            &provider::SIGNATURE,
            PROVIDER_SECRET,
            -301,
        )
        .await;
    assert_eq!(stale.status, 401);
    // Slack's signature is not the provider's.
    let slack_signed = world
        .post_signed(
            "/provider/events",
            &end,
            "application/json",
            &slack_calls::slack::SIGNATURE,
            PROVIDER_SECRET,
            0,
        )
        .await;
    assert_eq!(slack_signed.status, 401);
    for refused in [&forged, &unsigned, &stale, &slack_signed] {
        assert_eq!(
            refused.json,
            json!({ "error": slack_calls::entry::UNAUTHORIZED }),
            "which check failed is not said"
        );
    }
    assert_eq!(world.store_requests.total(), 0, "no store request at all");

    // One malformed event spoils the batch: 400 naming it, nothing of it applied.
    let batch = json!([
        joined(&call, slack_user("U0USER0002"), None),
        {"type": "call.ended", "external_unique_id": call.external_unique_id},
        joined(&call, json!({"external_id": "guest-1"}), None),
    ]);
    let answer = world.provider(&batch).await;
    assert_eq!(answer.status, 400, "{:?}", answer.json);
    let error = answer.json["error"].as_str().unwrap_or_default();
    assert!(error.contains("event 2"), "names the index: {error}");
    assert_eq!(world.store_requests.total(), 0, "validated before anything");

    // Not JSON, not a batch, or too big: refused the same way.
    for (body, status) in [
        (b"{not json".to_vec(), 400),
        (b"[]".to_vec(), 400),
        (b"42".to_vec(), 400),
        (vec![b' '; 300 * 1024], 413),
    ] {
        let answer = world
            .post_signed(
                "/provider/events",
                &body,
                "application/json",
                &provider::SIGNATURE,
                PROVIDER_SECRET,
                0,
            )
            .await;
        assert_eq!(answer.status, status, "{:?}", answer.json);
    }
    assert_eq!(world.store_requests.total(), 0);

    assert_eq!(world.run_worker().await, Vec::<String>::new());
    assert!(world.standin.requests().is_empty(), "Slack sees nothing");
    let stored = world.call(&call.external_unique_id).await;
    assert_eq!(stored.state, CallState::Active);
    assert!(world
        .participants(&call.external_unique_id)
        .await
        .is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_id_too_long_to_be_ours_is_a_bad_event_not_a_server_error() {
    let mut world = World::start().await;
    let call = start_call(&mut world, CHANNEL, CREATOR, "Standup").await;
    let answer = world
        .provider(&json!([
            joined(&call, slack_user("U0USER0002"), None),
            {"type": "call.ended", "external_unique_id": "x".repeat(3000)},
        ]))
        .await;
    // A 5xx would have the provider send it again, forever.
    assert_eq!(answer.status, 400);
    let error = answer.json["error"].as_str().unwrap_or_default();
    assert!(error.starts_with("event 1:"), "names the index: {error}");
    assert_eq!(world.store_requests.total(), 0, "validated before anything");
    assert_eq!(world.run_worker().await, Vec::<String>::new());
    assert!(world.standin.requests().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_call_is_not_found_and_nothing_is_created() {
    let mut world = World::start().await;
    let call = start_call(&mut world, CHANNEL, CREATOR, "Standup").await;
    let answer = world
        .provider(&json!([
            {"type": "participant.joined", "external_unique_id": "never-seen",
             "participant": {"slack_id": "U0USER0002"}},
            {"type": "call.ended", "external_unique_id": "never-seen"},
            joined(&call, slack_user("U0USER0002"), None),
        ]))
        .await;
    assert_eq!(answer.status, 202, "{:?}", answer.json);
    let results = &answer.json["results"];
    assert_eq!(results[0]["status"], "not_found");
    assert_eq!(results[0]["index"], 0);
    assert_eq!(results[1]["status"], "not_found");
    assert_eq!(results[1]["index"], 1);
    assert_eq!(results[2]["status"], "applied", "the rest still applies");
    assert_eq!(
        store_writes(&world),
        ["update_call_and_participants"],
        "only the known call is written"
    );
    assert!(world
        .services
        .store
        .get_call(&"never-seen".parse().expect("an external id"))
        .await
        .expect("store")
        .is_none());
    assert_eq!(world.run_worker().await, Vec::<String>::new());
    assert_eq!(world.slack_methods(), ["calls.participants.add"]);
}

// ---- 11. Already applied in Slack ---------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slack_saying_already_done_counts_as_success() {
    let mut world = World::start().await;
    let call = start_call(&mut world, CHANNEL, CREATOR, "Standup").await;

    // The join was applied in Slack by an earlier run whose progress was lost.
    world.standin.inject(
        Fault::on("calls.participants.add")
            .slack_error("bad_users")
            .times(1),
    );
    apply(&mut world, &joined(&call, slack_user("U0USER0002"), None)).await;
    let people = world.participants(&call.external_unique_id).await;
    assert_eq!(
        people.iter().filter(|p| p.shown.is_some()).count(),
        1,
        "recorded as shown"
    );

    // Several at once, one of them already in: each is sent alone, and the others land.
    world.standin.inject(
        Fault::on("calls.participants.add")
            .slack_error("bad_users")
            .times(1),
    );
    apply(
        &mut world,
        &json!([
            joined(&call, slack_user("U0USER0003"), None),
            joined(&call, slack_user("U0USER0004"), None),
        ]),
    )
    .await;
    let mut shown = participants_shown(&world, &call.call_id);
    shown.sort();
    assert_eq!(shown, ["U0USER0003", "U0USER0004"]);

    // A leave already applied.
    world.standin.inject(
        Fault::on("calls.participants.remove")
            .slack_error("bad_users")
            .times(1),
    );
    apply(&mut world, &left(&call, slack_user("U0USER0003"), None)).await;
    let people = world.participants(&call.external_unique_id).await;
    assert!(people
        .iter()
        .all(|p| p.identity() != "U0USER0003" || p.shown.is_none()));

    // The end already applied.
    world
        .standin
        .inject(Fault::on("calls.end").slack_error("inactive_call").times(1));
    apply(
        &mut world,
        &json!({"type": "call.ended", "external_unique_id": call.external_unique_id}),
    )
    .await;
    let stored = world.call(&call.external_unique_id).await;
    assert!(stored.slack_ended, "the end counts as told");
    assert_eq!(
        world
            .standin
            .requests_for("calls.end")
            .iter()
            .filter(|r| r.error.as_deref() == Some("inactive_call"))
            .count(),
        1
    );
    // Nothing is owed any more: a redelivered sync sends nothing.
    world.standin.clear_requests();
    let everything = world.stream_from_start().await;
    assert_eq!(world.deliver(everything).await, Vec::<String>::new());
    assert!(
        world.standin.requests().is_empty(),
        "{:?}",
        world.slack_methods()
    );
}

// ---- Replays ---------------------------------------------------------------------------

/// `body` signed now with the provider's secret: the request, to send (again) later.
fn signed_now(world: &World, body: &Value) -> (Vec<u8>, http::HeaderMap) {
    let body = body.to_string().into_bytes();
    let headers = provider::SIGNATURE.signed_headers(
        &secrecy::SecretString::from(PROVIDER_SECRET.to_owned()),
        world.now(),
        &body,
    );
    (body, headers)
}

async fn send_request(world: &World, (body, headers): &(Vec<u8>, http::HeaderMap)) -> Vec<String> {
    let answer = world
        .post(
            "/provider/events",
            body,
            "application/json",
            headers.clone(),
        )
        .await;
    assert_eq!(answer.status, 202, "{:?}", answer.json);
    answer.json["results"]
        .as_array()
        .expect("per-event results")
        .iter()
        .map(|r| r["status"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replayed_request_without_event_ids_cannot_undo_newer_state() {
    let mut world = World::start().await;
    let call = start_call(&mut world, CHANNEL, CREATOR, "Replays").await;

    // Neither event_id nor occurred_at: each event is timed by its signed timestamp.
    let join = signed_now(&world, &joined(&call, slack_user("U0USER0002"), None));
    let rename = signed_now(
        &world,
        &json!({"type": "call.updated", "external_unique_id": call.external_unique_id,
                "title": "First title"}),
    );
    assert_eq!(send_request(&world, &join).await, ["applied"]);
    assert_eq!(send_request(&world, &rename).await, ["applied"]);
    assert_eq!(world.run_worker().await, Vec::<String>::new());

    world.clock.advance(10);
    let statuses = apply(
        &mut world,
        &json!([
            left(&call, slack_user("U0USER0002"), None),
            {"type": "call.updated", "external_unique_id": call.external_unique_id,
             "title": "Second title"},
        ]),
    )
    .await;
    assert_eq!(statuses, ["applied", "applied"]);
    let slack_requests = world.slack_methods();
    let shown_title = world.standin.call(&call.call_id).and_then(|c| c.title);
    assert_eq!(shown_title.as_deref(), Some("Second title"));
    assert!(participants_shown(&world, &call.call_id).is_empty());

    // The first requests again, a minute later (their signatures are still valid).
    world.clock.advance(60);
    assert_eq!(send_request(&world, &join).await, ["ignored"]);
    assert_eq!(send_request(&world, &rename).await, ["ignored"]);
    assert_eq!(world.run_worker().await, Vec::<String>::new());
    assert_eq!(
        world.slack_methods(),
        slack_requests,
        "nothing sent to Slack"
    );
    let stored = world.call(&call.external_unique_id).await;
    assert_eq!(stored.title.as_deref(), Some("Second title"));
    assert_eq!(stored.present_count, 0);

    // A genuinely new join, signed now, still applies.
    let rejoin = signed_now(&world, &joined(&call, slack_user("U0USER0002"), None));
    assert_eq!(send_request(&world, &rejoin).await, ["applied"]);
}
