//! What real Slack does that the pre-release Calls spec did not say, through the real
//! entry points and the worker against the strict stand-in: room links (query,
//! fragment, a cap), reused rooms, response URLs that expired or point elsewhere,
//! conversations the bot cannot post in, deleted users, `bad_users` with `ok: true`,
//! group-DM rejections, phone calls, and JSON Slack cannot read.

use crate::support;

use std::time::Duration;

use flow_tests::world::{World, WorldOptions};
use serde_json::{json, Value};
use slack_calls::domain::{CallState, ExternalId};
use slack_standin::{ChannelAccess, Fault};
use support::{participants_shown, send_provider_events, start_call, ScriptedServer, Started};

const CHANNEL: &str = "C0CHAN0001";
const GROUP_DM: &str = "G0GROUPDM1";
const DM: &str = "D0DMCHAN01";
const CREATOR: &str = "U0USER0001";
const SHARER: &str = "U0USER0002";
const ALICE: &str = "U0ALICE001";
const BOB: &str = "U0BOB00001";
const GONE: &str = "U0GONE0001";
const TS: &str = "1795320000.000100";

fn options(config: &[(&'static str, &str)]) -> WorldOptions {
    WorldOptions {
        config: config.iter().map(|(k, v)| (*k, (*v).to_owned())).collect(),
        ..WorldOptions::default()
    }
}

/// A message with `urls` posted in `channel`, and the `link_shared` event Slack sends.
fn posted(world: &World, channel: &str, user: &str, ts: &str, urls: &[&str]) -> Value {
    world
        .standin
        .link_shared(channel, ts, urls)
        .event(user, urls)
}

fn joined(external_unique_id: &str, slack_id: &str) -> Value {
    json!({"type": "participant.joined", "external_unique_id": external_unique_id,
           "participant": {"slack_id": slack_id}})
}

fn users_sent(world: &World, method: &str) -> Vec<Value> {
    world
        .standin
        .requests_for(method)
        .into_iter()
        .map(|request| match &request.body["users"] {
            // A form carries `users` as a JSON string.
            Value::String(text) => serde_json::from_str(text).unwrap_or(Value::Null),
            users => users.clone(),
        })
        .collect()
}

// ---- 1. Room links -----------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn room_links_ignore_query_and_fragment_and_one_event_registers_a_bounded_number() {
    let mut world = World::start().await;
    let mut urls = vec!["https://meet.example.com/daily?lang=en#config".to_owned()];
    urls.extend((1..=6).map(|n| format!("https://meet.example.com/room-{n}")));
    let refs: Vec<&str> = urls.iter().map(String::as_str).collect();
    let event = posted(&world, CHANNEL, SHARER, TS, &refs);
    let answer = world
        .event(&world.event_callback("Ev0ROOMS001", event))
        .await;
    assert_eq!(answer.status, 200, "{:?}", answer.json);
    assert_eq!(world.run_worker().await, Vec::<String>::new());

    let adds = world.standin.requests_for("calls.add");
    assert_eq!(adds.len(), 5, "at most five rooms from one event");
    assert_eq!(
        adds[0].body["join_url"], "https://meet.example.com/daily",
        "the room's own URL, without query or fragment"
    );
    assert_eq!(adds[0].body["external_unique_id"], "daily");
    let unfurl = &world.standin.requests_for("chat.unfurl")[0];
    assert_eq!(unfurl.error, None, "{:?}", unfurl.body);
    let keys: Vec<&String> = unfurl.body["unfurls"]
        .as_object()
        .expect("unfurls")
        .keys()
        .collect();
    assert_eq!(keys.len(), 5);
    assert!(
        keys.contains(&&urls[0]),
        "the preview is keyed by the link as pasted: {keys:?}"
    );
    assert_eq!(
        world.call("daily").await.join_url,
        "https://meet.example.com/daily"
    );
}

// ---- 3. Where the call block goes ----------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_response_url_gives_way_to_chat_post_message() {
    let mut world = World::start().await;
    let form = world.command_form(CHANNEL, CREATOR, &[("text", "Late")]);
    let answer = world.command(&form).await;
    assert_eq!(answer.status, 200, "{:?}", answer.json);
    // The worker only gets to it after Slack's 30 minutes (an outage, say).
    world.standin.advance_clock(Duration::from_secs(31 * 60));
    assert_eq!(world.run_worker().await, Vec::<String>::new());

    assert_eq!(
        world.slack_methods(),
        ["auth.test", "calls.add", "response_url", "chat.postMessage"]
    );
    assert_eq!(world.standin.response_posts()[0].accepted, Some(false));
    let post = &world.standin.requests_for("chat.postMessage")[0];
    assert_eq!(post.error, None, "{:?}", post.body);
    assert_eq!(post.body["channel"], CHANNEL);
    let slack_call_id = world.standin.calls()[0].id.clone();
    assert_eq!(
        post.body["blocks"],
        json!([{"type": "call", "call_id": slack_call_id}])
    );
    assert!(post.body["text"]
        .as_str()
        .is_some_and(|t| t.contains("Late")));
    let external_unique_id = world.standin.calls()[0].external_unique_id.clone();
    let call = world.call(&external_unique_id).await;
    assert!(call.block_posted);
    assert_eq!(call.state, CallState::Active);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_response_url_on_another_host_is_never_posted_to() {
    let elsewhere = ScriptedServer::statuses("/hooks/T0STANDIN/1/x", &[200]).await;
    let mut world = World::start().await;
    let form = world.command_form(CHANNEL, CREATOR, &[("response_url", &elsewhere.url())]);
    let answer = world.command(&form).await;
    assert_eq!(answer.status, 200, "{:?}", answer.json);
    assert!(
        answer.json["text"]
            .as_str()
            .is_some_and(|t| t.contains("Your call is ready")),
        "the answer does not depend on the response_url: {:?}",
        answer.json
    );
    assert_eq!(world.run_worker().await, Vec::<String>::new());
    assert_eq!(
        world.slack_methods(),
        ["auth.test", "calls.add", "chat.postMessage"]
    );
    assert!(elsewhere.received().is_empty(), "nothing sent to that host");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn where_the_bot_cannot_post_the_starter_is_told_ephemerally() {
    let mut world = World::start().await;
    let form = world.command_form(CHANNEL, CREATOR, &[("text", "Hidden")]);
    assert_eq!(world.command(&form).await.status, 200);
    world.standin.advance_clock(Duration::from_secs(31 * 60));
    world
        .standin
        .inject(Fault::on("chat.postMessage").slack_error("not_in_channel"));
    assert_eq!(world.run_worker().await, Vec::<String>::new());

    assert_eq!(
        world.slack_methods(),
        [
            "auth.test",
            "calls.add",
            "response_url",
            "chat.postMessage",
            "chat.postEphemeral"
        ]
    );
    let told = &world.standin.requests_for("chat.postEphemeral")[0];
    assert_eq!(told.error, None, "{:?}", told.body);
    assert_eq!(told.body["channel"], CHANNEL);
    assert_eq!(told.body["user"], CREATOR);
    let join_url = world.standin.calls()[0].join_url.clone();
    assert!(
        told.body["text"]
            .as_str()
            .is_some_and(|t| t.contains(&join_url) && t.contains("not_in_channel")),
        "{}",
        told.body
    );
    let external_unique_id = world.standin.calls()[0].external_unique_id.clone();
    let call = world.call(&external_unique_id).await;
    assert_eq!(call.state, CallState::Active, "the call itself is fine");
    assert!(!call.block_posted);
    assert!(call.block_refused);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dm_the_bot_cannot_see_ends_the_attempts_without_retrying() {
    let mut world = World::start().await;
    world
        .standin
        .set_channel_access(DM, ChannelAccess::Invisible);
    let form = world.command_form(DM, CREATOR, &[]);
    assert_eq!(world.command(&form).await.status, 200);
    world.standin.advance_clock(Duration::from_secs(31 * 60));
    assert_eq!(world.run_worker().await, Vec::<String>::new(), "no retries");

    let refused: Vec<(String, Option<String>)> = world
        .standin
        .requests()
        .into_iter()
        .map(|r| (r.method, r.error))
        .collect();
    assert_eq!(
        refused,
        [
            ("auth.test".to_owned(), None),
            ("calls.add".to_owned(), None),
            ("response_url".to_owned(), Some("expired_url".to_owned())),
            (
                "chat.postMessage".to_owned(),
                Some("channel_not_found".to_owned())
            ),
            (
                "chat.postEphemeral".to_owned(),
                Some("channel_not_found".to_owned())
            ),
        ]
    );
    let external_unique_id = world.standin.calls()[0].external_unique_id.clone();
    let call = world.call(&external_unique_id).await;
    assert_eq!(call.state, CallState::Active);
    assert!(call.block_refused);
}

// ---- 4. Per-user refusals ------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_user_is_left_out_and_every_later_change_goes_through() {
    let mut world = World::start().await;
    let call = start_call(&mut world, CHANNEL, CREATOR, "Standup").await;
    world.standin.forget_user(GONE);
    let id = &call.external_unique_id;
    assert_eq!(
        send_provider_events(&world, &json!([joined(id, GONE), joined(id, ALICE)])).await,
        ["applied", "applied"]
    );
    assert_eq!(world.run_worker().await, Vec::<String>::new());
    assert_eq!(participants_shown(&world, &call.call_id), [ALICE]);
    assert_eq!(
        users_sent(&world, "calls.participants.add"),
        [
            json!([{"slack_id": GONE}, {"slack_id": ALICE}]),
            json!([{"slack_id": GONE}]),
            json!([{"slack_id": ALICE}]),
        ],
        "refused together, then one by one"
    );
    let people = world.participants(id).await;
    let refused: Vec<_> = people.iter().filter(|p| p.refused.is_some()).collect();
    assert_eq!(refused.len(), 1, "{people:?}");
    assert_eq!(refused[0].identity(), GONE);
    assert_eq!(refused[0].refused.as_deref(), Some("user_not_found"));

    world.standin.clear_requests();
    assert_eq!(
        send_provider_events(&world, &joined(id, BOB)).await,
        ["applied"]
    );
    assert_eq!(world.run_worker().await, Vec::<String>::new());
    assert_eq!(
        users_sent(&world, "calls.participants.add"),
        [json!([{"slack_id": BOB}])],
        "the refused user is not sent again"
    );
    assert_eq!(participants_shown(&world, &call.call_id), [ALICE, BOB]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_user_among_the_first_participants_does_not_stop_the_registration() {
    let mut world = World::start().await;
    world.standin.forget_user(GONE);
    let form = world.command_form(CHANNEL, CREATOR, &[("text", "Early birds")]);
    assert_eq!(world.command(&form).await.status, 200);
    // The provider reports joins before the worker registered the call.
    let records = world.stream_records().await;
    let external_unique_id = {
        let job = support::job_ids(&records);
        assert_eq!(job.len(), 1);
        let stored = world
            .services
            .store
            .get_job(&job[0])
            .await
            .expect("store")
            .expect("job");
        match stored.kind {
            slack_calls::domain::JobKind::RegisterCall { external_unique_id } => external_unique_id,
            other => panic!("not a registration: {other:?}"),
        }
    };
    let id = external_unique_id.as_str();
    assert_eq!(
        send_provider_events(&world, &json!([joined(id, GONE), joined(id, ALICE)])).await,
        ["applied", "applied"]
    );
    assert!(world.deliver(records).await.is_empty());
    assert_eq!(world.run_worker().await, Vec::<String>::new());

    let adds = world.standin.requests_for("calls.add");
    assert_eq!(
        adds.len(),
        2,
        "refused over one user, then added without users"
    );
    assert_eq!(adds[0].error.as_deref(), Some("user_not_found"));
    assert!(adds[1].body.get("users").is_none(), "{}", adds[1].body);
    assert_eq!(world.standin.calls().len(), 1, "registered once");
    let slack_call_id = world.standin.calls()[0].id.clone();
    assert_eq!(participants_shown(&world, &slack_call_id), [ALICE]);
    let stored = world.call(id).await;
    assert!(stored.block_posted);
    let people = world.participants(id).await;
    assert!(people
        .iter()
        .any(|p| p.identity() == GONE && p.refused.is_some()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_users_with_ok_true_for_someone_already_shown_lets_the_rest_through() {
    let mut world = World::start().await;
    let call = start_call(&mut world, CHANNEL, CREATOR, "Standup").await;
    let id = &call.external_unique_id;
    send_provider_events(&world, &joined(id, ALICE)).await;
    assert_eq!(world.run_worker().await, Vec::<String>::new());
    assert_eq!(participants_shown(&world, &call.call_id), [ALICE]);

    // Our record lost Slack's acknowledgement of Alice (a crash between the two).
    let mut people = world.participants(id).await;
    for p in &mut people {
        p.shown = None;
    }
    world
        .services
        .store
        .update_participants(&id.parse().expect("an id"), &mut people)
        .await
        .expect("store");
    world.standin.clear_requests();
    // Alice's next event (the run's retry would do the same) comes with Bob's join.
    world.clock.advance(1);
    send_provider_events(&world, &json!([joined(id, ALICE), joined(id, BOB)])).await;
    assert_eq!(world.run_worker().await, Vec::<String>::new());

    let adds = world.standin.requests_for("calls.participants.add");
    assert_eq!(adds[0].error.as_deref(), Some("bad_users"), "{:?}", adds[0]);
    assert_eq!(adds.len(), 3, "refused together, then one by one");
    assert_eq!(participants_shown(&world, &call.call_id), [ALICE, BOB]);
    let people = world.participants(id).await;
    assert_eq!(people.iter().filter(|p| p.shown.is_some()).count(), 2);
    assert!(people.iter().all(|p| p.refused.is_none()));
}

// ---- 5. Rejections outside 1:1 DMs -------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejection_in_a_group_dm_or_channel_is_recorded_and_told_but_ends_nothing() {
    let callback = ScriptedServer::statuses("/slack-calls/callback", &[200]).await;
    let mut world = World::start_with(options(&[("PROVIDER_CALLBACK_URL", &callback.url())])).await;
    for (n, conversation) in [GROUP_DM, CHANNEL].into_iter().enumerate() {
        let call = start_call(&mut world, conversation, CREATOR, "Group chat").await;
        let event = json!({"type": "call_rejected", "call_id": call.call_id,
                           "user_id": BOB, "channel_id": conversation,
                           "external_unique_id": call.external_unique_id});
        let answer = world
            .event(&world.event_callback(&format!("Ev0GROUPREJ{n}"), event))
            .await;
        assert_eq!(answer.status, 200, "{:?}", answer.json);
        assert_eq!(world.run_worker().await, Vec::<String>::new());

        assert!(
            world.standin.requests_for("calls.end").is_empty(),
            "{conversation}: others may still join"
        );
        let stored = world.call(&call.external_unique_id).await;
        assert_eq!(stored.state, CallState::Active, "{conversation}");
        assert_eq!(stored.rejections.len(), 1, "{conversation}");
        let told = callback.received();
        assert_eq!(told.len(), n + 1, "{conversation}: the provider is told");
        let notice = told[n].json();
        assert_eq!(notice["user_id"], BOB);
        assert_eq!(notice["channel_id"], conversation);
        assert_eq!(notice["call_ended"], false);
    }
}

// ---- 6. Phone calls --------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_audio_call_without_a_phone_number_is_a_call_in_the_room() {
    let mut world = World::start_with(options(&[(
        "PHONE_CALL_URL_TEMPLATE",
        "https://meet.example.com/dial?to={phone}",
    )]))
    .await;
    let form = world.command_form(
        CHANNEL,
        CREATOR,
        &[("-command", ""), ("-text", ""), ("type", "audio")],
    );
    let answer = world.command(&form).await;
    assert_eq!(answer.status, 200, "{:?}", answer.json);
    assert_eq!(answer.json["response_type"], "audio", "{:?}", answer.json);
    assert_eq!(world.run_worker().await, Vec::<String>::new());
    let add = &world.standin.requests_for("calls.add")[0].body;
    assert_eq!(add["join_url"], answer.json["call_initiation_url"]);
    let room = add["external_unique_id"].as_str().unwrap_or_default();
    assert_eq!(add["join_url"], format!("https://meet.example.com/{room}"));
    let call = world.call(room).await;
    assert_eq!(call.kind, slack_calls::domain::CallKind::Audio);
}

// ---- 7. JSON Slack cannot read ----------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_json_body_slack_cannot_read_is_sent_again_as_a_form() {
    let mut world = World::start().await;
    let call = start_call(&mut world, CHANNEL, CREATOR, "Standup").await;
    world.standin.inject(
        Fault::on("calls.participants.add")
            .slack_error("invalid_array_arg")
            .json_bodies_only(),
    );
    send_provider_events(&world, &joined(&call.external_unique_id, ALICE)).await;
    assert_eq!(world.run_worker().await, Vec::<String>::new());
    let adds = world.standin.requests_for("calls.participants.add");
    assert_eq!(adds.len(), 2);
    assert_eq!(adds[0].error.as_deref(), Some("invalid_array_arg"));
    assert_eq!(
        adds[1].content_type.as_deref(),
        Some("application/x-www-form-urlencoded")
    );
    assert_eq!(adds[1].error, None);
    assert_eq!(participants_shown(&world, &call.call_id), [ALICE]);
}

// ---- 8. Reused rooms -----------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pasted_link_of_an_ended_call_registers_a_new_call_that_gets_the_rooms_events() {
    let mut world = World::start().await;
    let first: Started = start_call(&mut world, CHANNEL, CREATOR, "Daily").await;
    let room = first.external_unique_id.clone();
    let ended = json!({"type": "call.ended", "external_unique_id": room});
    assert_eq!(send_provider_events(&world, &ended).await, ["applied"]);
    assert_eq!(world.run_worker().await, Vec::<String>::new());
    world.standin.clear_requests();

    // The next day, the same room's link is pasted.
    world.clock.advance(24 * 3600);
    let event = posted(&world, CHANNEL, SHARER, TS, &[&first.join_url]);
    assert_eq!(
        world
            .event(&world.event_callback("Ev0REUSED01", event))
            .await
            .status,
        200
    );
    assert_eq!(world.run_worker().await, Vec::<String>::new());
    assert_eq!(world.slack_methods(), ["calls.add", "chat.unfurl"]);
    let add = &world.standin.requests_for("calls.add")[0].body;
    let second_id = format!("{room}.{}", world.now());
    assert_eq!(add["external_unique_id"], second_id.as_str());
    assert_eq!(add["join_url"], first.join_url.as_str());
    let second = world.standin.calls_with_external_id(&second_id)[0]
        .id
        .clone();
    assert_ne!(second, first.call_id);
    let unfurl = &world.standin.requests_for("chat.unfurl")[0].body;
    assert_eq!(
        unfurl["unfurls"][&first.join_url]["blocks"][0]["call_id"],
        second.as_str(),
        "the new call, not the ended one"
    );

    // The provider names the room: its events reach the room's live call.
    world.standin.clear_requests();
    assert_eq!(
        send_provider_events(&world, &joined(&room, ALICE)).await,
        ["applied"]
    );
    assert_eq!(world.run_worker().await, Vec::<String>::new());
    assert_eq!(participants_shown(&world, &second), [ALICE]);
    assert_eq!(
        world.standin.requests_for("calls.participants.add").len(),
        1
    );
    let old = world.call(&room).await;
    assert_eq!(old.state, CallState::Ended);
    assert!(
        world.participants(&room).await.is_empty(),
        "the ended call is left alone"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provider_events_for_a_pasted_room_reach_its_call() {
    let mut world = World::start().await;
    let url = "https://meet.example.com/team-standup";
    let event = posted(&world, CHANNEL, SHARER, TS, &[url]);
    assert_eq!(
        world
            .event(&world.event_callback("Ev0PASTED01", event))
            .await
            .status,
        200
    );
    assert_eq!(world.run_worker().await, Vec::<String>::new());
    let registered = world.standin.calls_with_external_id("team-standup");
    assert_eq!(registered.len(), 1, "keyed by the room's name");

    assert_eq!(
        send_provider_events(&world, &joined("team-standup", ALICE)).await,
        ["applied"]
    );
    assert_eq!(world.run_worker().await, Vec::<String>::new());
    assert_eq!(participants_shown(&world, &registered[0].id), [ALICE]);
    let stored = world.call("team-standup").await;
    assert_eq!(
        stored.external_unique_id,
        ExternalId::parse("team-standup").expect("id")
    );
}
