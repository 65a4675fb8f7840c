//! The Events API (`POST /slack/events`), over real HTTP against DynamoDB Local and the
//! Slack stand-in, the worker fed the table's stream: url_verification, link_shared
//! (unfurls, retries), call_rejected (end, provider callback), app_uninstalled /
//! tokens_revoked, and what is refused.

use crate::support;

use flow_tests::world::{World, WorldOptions, PROVIDER_SECRET, SIGNING_SECRET};
use http::header::{HeaderName, HeaderValue};
use secrecy::SecretString;
use serde_json::{json, Value};
use slack_calls::clock::{Clock, SystemClock};
use slack_calls::domain::{CallState, EndReason, InstallationKey, TeamId};
use slack_calls::flows::jobs::MAX_JOB_ATTEMPTS;
use slack_calls::slack;
use slack_standin::LinkShared;
use support::{job_id, run_worker_keeping_failures, start_call, ScriptedServer};

const CHANNEL: &str = "C0CHAN0001";
const DM: &str = "D0DMCHAN01";
const CREATOR: &str = "U0USER0001";
const SHARER: &str = "U0USER0002";
const CALLEE: &str = "U0CALLEE01";
const TS: &str = "1795320000.000100";

/// A `link_shared` event without `unfurl_id` and `source` (as Slack sent them before
/// it had those): `chat.unfurl` then names the message by `channel` + `ts`.
fn link_shared(channel: &str, user: &str, ts: &str, urls: &[&str]) -> Value {
    let links: Vec<Value> = urls
        .iter()
        .map(|url| {
            let domain = url
                .split("://")
                .nth(1)
                .and_then(|rest| rest.split('/').next())
                .unwrap_or_default();
            json!({"domain": domain, "url": url})
        })
        .collect();
    json!({"type": "link_shared", "channel": channel, "user": user, "message_ts": ts,
           "event_ts": ts, "links": links})
}

/// A message with `urls` posted in `channel`, and the `link_shared` event Slack sends
/// for it (with its `unfurl_id`, `source: conversations_history`).
fn posted(
    world: &World,
    channel: &str,
    user: &str,
    ts: &str,
    urls: &[&str],
) -> (Value, LinkShared) {
    let shared = world.standin.link_shared(channel, ts, urls);
    (shared.event(user, urls), shared)
}

fn call_rejected(call_id: &str, external_unique_id: &str) -> Value {
    json!({"type": "call_rejected", "call_id": call_id, "user_id": CALLEE,
           "channel_id": DM, "external_unique_id": external_unique_id})
}

/// Signed Events API request with extra headers (Slack's retry markers).
async fn event_with_headers(world: &World, body: &Value, extra: &[(&str, &str)]) -> (u16, Value) {
    let bytes = body.to_string().into_bytes();
    let mut headers = slack::SIGNATURE.signed_headers(
        &SecretString::from(SIGNING_SECRET.to_owned()),
        world.now(),
        &bytes,
    );
    for (name, value) in extra {
        headers.insert(
            HeaderName::from_bytes(name.as_bytes()).expect("header name"),
            HeaderValue::from_str(value).expect("header value"),
        );
    }
    let answer = world
        .post("/slack/events", &bytes, "application/json", headers)
        .await;
    (answer.status.as_u16(), answer.json)
}

// ---- 1. url_verification -----------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn url_verification_echoes_the_challenge_only_when_signed() {
    let world = World::start().await;
    let body = json!({"token": "legacy", "type": "url_verification",
                      "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"});

    let answer = world.event(&body).await;
    assert_eq!(answer.status, 200, "{:?}", answer.json);
    assert_eq!(
        answer.json,
        json!({"challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"})
    );

    let unsigned = world
        .post(
            "/slack/events",
            body.to_string().as_bytes(),
            "application/json",
            http::HeaderMap::new(),
        )
        .await;
    assert_eq!(unsigned.status, 401, "{:?}", unsigned.json);
    assert!(
        !unsigned.json.to_string().contains("3eZbrw1aBm2r"),
        "an unsigned request learns nothing: {}",
        unsigned.json
    );
    let forged = world
        .post_signed(
            "/slack/events",
            body.to_string().as_bytes(),
            "application/json",
            &slack::SIGNATURE,
            "not-the-signing-secret",
            0,
        )
        .await;
    assert_eq!(forged.status, 401);
    assert_eq!(world.store_requests.total(), 0, "nothing stored");
    assert!(world.standin.requests().is_empty());
}

// ---- 2. Slack's retries ------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_link_shared_delivered_three_times_is_unfurled_once() {
    let mut world = World::start().await;
    let call = start_call(&mut world, CHANNEL, CREATOR, "Standup").await;
    let (shared, _) = posted(&world, CHANNEL, SHARER, TS, &[&call.join_url]);
    let event = world.event_callback("Ev0RETRY001", shared);

    let deliveries: [&[(&str, &str)]; 3] = [
        &[],
        &[
            ("x-slack-retry-num", "1"),
            ("x-slack-retry-reason", "http_timeout"),
        ],
        &[
            ("x-slack-retry-num", "2"),
            ("x-slack-retry-reason", "http_error"),
        ],
    ];
    for (n, extra) in deliveries.iter().enumerate() {
        world.store_requests.reset();
        let (status, answer) = event_with_headers(&world, &event, extra).await;
        assert_eq!(status, 200, "delivery {n}: {answer}");
        assert_eq!(
            world.store_requests.calls(),
            ["record_event"],
            "delivery {n}: the ack path is one store request"
        );
        assert!(
            world.standin.requests().is_empty(),
            "delivery {n}: no Slack call before the ack"
        );
    }
    assert_eq!(world.run_worker().await, Vec::<String>::new());
    assert_eq!(world.slack_methods(), ["chat.unfurl"]);

    // A retry after the unfurl went out changes nothing either.
    let (status, _) = event_with_headers(
        &world,
        &event,
        &[
            ("x-slack-retry-num", "3"),
            ("x-slack-retry-reason", "http_timeout"),
        ],
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(world.run_worker().await, Vec::<String>::new());
    assert_eq!(world.slack_methods(), ["chat.unfurl"]);
}

// ---- 3. Unfurls ------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_link_to_a_registered_call_unfurls_its_call_block() {
    let mut world = World::start().await;
    let call = start_call(&mut world, CHANNEL, CREATOR, "Standup").await;
    let (event, shared) = posted(&world, CHANNEL, SHARER, TS, &[&call.join_url]);

    let answer = world
        .event(&world.event_callback("Ev0UNFURL01", event))
        .await;
    assert_eq!(answer.status, 200);
    assert_eq!(world.run_worker().await, Vec::<String>::new());

    assert_eq!(
        world.slack_methods(),
        ["chat.unfurl"],
        "no second calls.add"
    );
    let unfurl = &world.standin.requests_for("chat.unfurl")[0];
    assert_eq!(unfurl.error, None, "accepted by Slack");
    // Named as the event named it: by its unfurl_id.
    assert_eq!(unfurl.body["unfurl_id"], shared.unfurl_id.as_str());
    assert_eq!(unfurl.body["source"], "conversations_history");
    let messages = world.standin.messages();
    let message = messages
        .iter()
        .find(|m| m.channel == CHANNEL && m.ts == TS)
        .expect("the shared message");
    assert_eq!(
        message.unfurls[&call.join_url]["blocks"][0]["call_id"],
        call.call_id.as_str()
    );
    let mut expected = serde_json::Map::new();
    expected.insert(
        call.join_url.clone(),
        json!({"blocks": [{"type": "call", "call_id": call.call_id}]}),
    );
    assert_eq!(unfurl.body["unfurls"], Value::Object(expected));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_link_to_an_unknown_room_of_ours_is_registered_once_then_unfurled() {
    let mut world = World::start().await;
    let url = "https://meet.example.com/never-registered";
    let (event, _) = posted(&world, CHANNEL, SHARER, TS, &[url]);
    let answer = world
        .event(&world.event_callback("Ev0ROOM0001", event))
        .await;
    assert_eq!(answer.status, 200);
    assert_eq!(world.run_worker().await, Vec::<String>::new());

    assert_eq!(
        world.slack_methods(),
        ["auth.test", "calls.add", "chat.unfurl"]
    );
    let add = &world.standin.requests_for("calls.add")[0].body;
    assert_eq!(add["join_url"], url);
    assert_eq!(add["created_by"], SHARER, "the sharer created it");
    let registered = world.standin.calls();
    assert_eq!(registered.len(), 1);
    let call_id = registered[0].id.clone();
    let unfurl = &world.standin.requests_for("chat.unfurl")[0].body;
    assert_eq!(
        unfurl["unfurls"][url],
        json!({"blocks": [{"type": "call", "call_id": call_id}]})
    );
    // Keyed by the room's name: what the provider calls it.
    let stored = world.call("never-registered").await;
    assert_eq!(
        stored.slack_call_id.as_ref().map(|id| id.as_str()),
        Some(call_id.as_str())
    );
    assert_eq!(stored.created_by, SHARER);

    // The same link in another message, by someone else: the same call, nothing new.
    world.standin.clear_requests();
    let other_ts = "1795320099.000200";
    let (event, _) = posted(&world, "C0CHAN0002", CREATOR, other_ts, &[url]);
    let answer = world
        .event(&world.event_callback("Ev0ROOM0002", event))
        .await;
    assert_eq!(answer.status, 200);
    assert_eq!(world.run_worker().await, Vec::<String>::new());
    assert_eq!(world.slack_methods(), ["chat.unfurl"]);
    let unfurl = &world.standin.requests_for("chat.unfurl")[0].body;
    assert_eq!(unfurl["error"], Value::Null);
    let messages = world.standin.messages();
    let second = messages
        .iter()
        .find(|m| m.channel == "C0CHAN0002" && m.ts == other_ts)
        .expect("the second message");
    assert_eq!(
        second.unfurls[url]["blocks"][0]["call_id"],
        call_id.as_str(),
        "unfurled into the second message"
    );
    assert_eq!(unfurl["unfurls"][url]["blocks"][0]["call_id"], call_id);
    assert_eq!(world.standin.calls().len(), 1, "registered once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_foreign_link_makes_no_job_and_no_slack_call() {
    let mut world = World::start().await;
    world.standin.add_message(CHANNEL, TS);
    let answer = world
        .event(&world.event_callback(
            "Ev0FOREIGN1",
            link_shared(
                CHANNEL,
                SHARER,
                TS,
                &[
                    "https://elsewhere.example.org/meet.example.com",
                    "https://notmeet.example.com/room",
                    // Our host, but no room: the provider's own pages.
                    "https://meet.example.com/",
                    "https://meet.example.com/settings/profile",
                ],
            ),
        ))
        .await;
    assert_eq!(answer.status, 200, "{:?}", answer.json);
    assert_eq!(world.store_requests.total(), 0, "no receipt, no job");
    assert_eq!(world.run_worker().await, Vec::<String>::new());
    assert!(world.standin.requests().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_links_of_ours_are_unfurled_in_one_request() {
    let mut world = World::start_with(WorldOptions {
        config: vec![("UNFURL_DOMAINS", "video.example.org".into())],
        ..WorldOptions::default()
    })
    .await;
    let call = start_call(&mut world, CHANNEL, CREATOR, "Standup").await;
    let unknown = "https://meet.example.com/made-outside-slack";
    // The join template's path shape, on another of our domains.
    let other_domain = "https://video.example.org/abc123";
    let foreign = "https://elsewhere.example.org/x";
    let (event, _) = posted(
        &world,
        CHANNEL,
        SHARER,
        TS,
        &[&call.join_url, unknown, foreign, other_domain, unknown],
    );
    let answer = world
        .event(&world.event_callback("Ev0SEVERAL1", event))
        .await;
    assert_eq!(answer.status, 200);
    assert_eq!(world.run_worker().await, Vec::<String>::new());

    assert_eq!(
        world.slack_methods(),
        ["calls.add", "calls.add", "chat.unfurl"],
        "the two unknown rooms registered, then one unfurl"
    );
    let unfurls = &world.standin.requests_for("chat.unfurl")[0].body["unfurls"];
    let keys: Vec<&String> = unfurls
        .as_object()
        .expect("unfurls object")
        .keys()
        .collect();
    assert_eq!(keys.len(), 3, "{unfurls}");
    assert_eq!(
        unfurls[&call.join_url]["blocks"][0]["call_id"],
        call.call_id
    );
    for (url, room) in [(unknown, "made-outside-slack"), (other_domain, "abc123")] {
        let id = world.call(room).await.slack_call_id.expect("registered");
        assert_eq!(unfurls[url]["blocks"][0]["call_id"], id.as_str());
    }
    assert!(unfurls.get(foreign).is_none());
}

// ---- 4. call_rejected ----------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_rejected_before_anyone_joined_is_ended_and_the_provider_told_once() {
    let provider = ScriptedServer::statuses("/slack-calls/callback", &[200]).await;
    let mut world = World::start_with(WorldOptions {
        config: vec![("PROVIDER_CALLBACK_URL", provider.url())],
        ..WorldOptions::default()
    })
    .await;
    let call = start_call(&mut world, DM, CREATOR, "Quick question").await;

    let event = world.event_callback(
        "Ev0REJECT01",
        call_rejected(&call.call_id, &call.external_unique_id),
    );
    let answer = world.event(&event).await;
    assert_eq!(answer.status, 200);
    assert_eq!(world.store_requests.calls(), ["record_event"]);
    assert!(world.standin.requests().is_empty());
    assert_eq!(world.run_worker().await, Vec::<String>::new());

    assert_eq!(world.slack_methods(), ["calls.end"]);
    assert_eq!(
        world.standin.requests_for("calls.end")[0].body["id"],
        call.call_id
    );
    assert!(world.standin.call(&call.call_id).is_some_and(|c| c.ended()));
    let stored = world.call(&call.external_unique_id).await;
    assert_eq!(stored.state, CallState::Ended);
    assert_eq!(stored.end_reason, Some(EndReason::Rejected));

    let received = provider.received();
    assert_eq!(received.len(), 1, "exactly one callback");
    let callback = &received[0];
    // The provider verifies with its own clock, as it would in production.
    slack_calls::provider::CALLBACK_SIGNATURE
        .verify(
            &SecretString::from(PROVIDER_SECRET.to_owned()),
            &callback.headers,
            &callback.body,
            SystemClock.now(),
        )
        .expect("the callback is signed with the provider secret");
    assert!(
        slack_calls::provider::CALLBACK_SIGNATURE
            .verify(
                &SecretString::from("another-secret".to_owned()),
                &callback.headers,
                &callback.body,
                SystemClock.now(),
            )
            .is_err(),
        "and only with it"
    );
    // Sent back to us as it is, the callback is refused like any forged request.
    // (At the time it was signed, so only the scheme can refuse it.)
    let mut replayed = callback.headers.clone();
    let world_time = world.now();
    world.clock.set(SystemClock.now());
    replayed.remove("content-type");
    let refused = world
        .post(
            "/provider/events",
            &callback.body,
            "application/json",
            replayed,
        )
        .await;
    assert_eq!(refused.status, 401, "{:?}", refused.json);
    world.clock.set(world_time);
    let payload = callback.json();
    assert_eq!(payload["external_unique_id"], call.external_unique_id);
    assert_eq!(payload["slack_call_id"], call.call_id);
    assert_eq!(payload["user_id"], CALLEE);

    // Slack's retry, and the same user's rejection under another event id: nothing more.
    let (status, _) = event_with_headers(
        &world,
        &event,
        &[
            ("x-slack-retry-num", "1"),
            ("x-slack-retry-reason", "http_timeout"),
        ],
    )
    .await;
    assert_eq!(status, 200);
    let again = world.event_callback(
        "Ev0REJECT02",
        call_rejected(&call.call_id, &call.external_unique_id),
    );
    assert_eq!(world.event(&again).await.status, 200);
    assert_eq!(world.run_worker().await, Vec::<String>::new());
    assert_eq!(world.slack_methods(), ["calls.end"]);
    assert_eq!(provider.received().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_provider_callback_is_retried_and_succeeds_on_redelivery() {
    let provider = ScriptedServer::statuses("/slack-calls/callback", &[500, 200]).await;
    let mut world = World::start_with(WorldOptions {
        config: vec![("PROVIDER_CALLBACK_URL", provider.url())],
        ..WorldOptions::default()
    })
    .await;
    let call = start_call(&mut world, DM, CREATOR, "Quick question").await;
    let answer = world
        .event(&world.event_callback(
            "Ev0REJECT03",
            call_rejected(&call.call_id, &call.external_unique_id),
        ))
        .await;
    assert_eq!(answer.status, 200);

    let failed = run_worker_keeping_failures(&mut world).await;
    assert_eq!(failed.len(), 1, "the callback's job is reported for retry");
    assert_eq!(provider.received().len(), 1);
    assert_eq!(
        world.slack_methods(),
        ["calls.end"],
        "the end does not wait"
    );

    // The stream redelivers the failed record: the callback goes out again and succeeds.
    assert_eq!(world.deliver(failed.clone()).await, Vec::<String>::new());
    let received = provider.received();
    assert_eq!(received.len(), 2);
    slack_calls::provider::CALLBACK_SIGNATURE
        .verify(
            &SecretString::from(PROVIDER_SECRET.to_owned()),
            &received[1].headers,
            &received[1].body,
            SystemClock.now(),
        )
        .expect("the retry is signed too");
    assert_eq!(received[1].json()["user_id"], CALLEE);

    // A stray redelivery of a finished job sends nothing.
    assert_eq!(world.deliver(failed).await, Vec::<String>::new());
    assert_eq!(world.run_worker().await, Vec::<String>::new());
    assert_eq!(provider.received().len(), 2);
    assert_eq!(world.slack_methods(), ["calls.end"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provider_callback_retries_are_bounded() {
    let provider = ScriptedServer::statuses("/slack-calls/callback", &[503]).await;
    let mut world = World::start_with(WorldOptions {
        config: vec![("PROVIDER_CALLBACK_URL", provider.url())],
        ..WorldOptions::default()
    })
    .await;
    let call = start_call(&mut world, DM, CREATOR, "Quick question").await;
    let answer = world
        .event(&world.event_callback(
            "Ev0REJECT04",
            call_rejected(&call.call_id, &call.external_unique_id),
        ))
        .await;
    assert_eq!(answer.status, 200);
    let mut failed = run_worker_keeping_failures(&mut world).await;
    assert_eq!(failed.len(), 1);
    let job = job_id(&failed[0]);

    let mut deliveries = 1;
    while !failed.is_empty() {
        assert!(deliveries < 20, "the retries never stop");
        let failures = world.deliver(failed.clone()).await;
        failed.retain(|record| {
            record["dynamodb"]["SequenceNumber"]
                .as_str()
                .is_some_and(|seq| failures.iter().any(|f| f == seq))
        });
        deliveries += 1;
    }
    assert_eq!(
        provider.received().len(),
        MAX_JOB_ATTEMPTS as usize,
        "one callback per attempt, no more"
    );
    let stored = world
        .services
        .store
        .get_job(&job)
        .await
        .expect("store")
        .expect("job");
    assert!(stored.is_finished(), "{stored:?}");
    assert!(
        stored.last_error.is_some(),
        "the job says why it gave up: {stored:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_rejected_after_someone_joined_is_not_ended() {
    let mut world = World::start().await;
    let call = start_call(&mut world, DM, CREATOR, "Quick question").await;
    let answer = world
        .provider(
            &json!({"type": "participant.joined", "external_unique_id": call.external_unique_id,
                           "participant": {"slack_id": CREATOR}}),
        )
        .await;
    assert_eq!(answer.status, 202, "{:?}", answer.json);
    assert_eq!(world.run_worker().await, Vec::<String>::new());
    assert_eq!(world.slack_methods(), ["calls.participants.add"]);

    let answer = world
        .event(&world.event_callback(
            "Ev0REJECT05",
            call_rejected(&call.call_id, &call.external_unique_id),
        ))
        .await;
    assert_eq!(answer.status, 200);
    assert_eq!(world.run_worker().await, Vec::<String>::new());

    assert!(world.standin.requests_for("calls.end").is_empty());
    assert!(world
        .standin
        .call(&call.call_id)
        .is_some_and(|c| !c.ended()));
    let stored = world.call(&call.external_unique_id).await;
    assert_eq!(stored.state, CallState::Active);
    assert_eq!(stored.end_reason, None);
    assert_eq!(stored.rejections.len(), 1, "the rejection is recorded");
}

// ---- 5. Uninstall / revoked tokens -----------------------------------------------------

/// After the installation was disabled: a slash command makes no meeting and no Slack
/// request; its answer says the app is not installed, with the link to install it.
async fn assert_next_command_is_told_to_reinstall(world: &mut World) {
    world.standin.clear_requests();
    world.store_requests.reset();
    let form = world.command_form(CHANNEL, CREATOR, &[("text", "After uninstall")]);
    let answer = world.command(&form).await;
    support::assert_told_not_installed(world, &answer).await;
    assert!(
        world.standin.requests().is_empty(),
        "no Slack request for a disabled installation: {:?}",
        world.slack_methods()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn app_uninstalled_disables_the_installation() {
    let mut world = World::start().await;
    let team = TeamId::parse(world.standin.team_id()).expect("a team id");
    let answer = world
        .event(&world.event_callback("Ev0UNINST01", json!({"type": "app_uninstalled"})))
        .await;
    assert_eq!(answer.status, 200);
    assert_eq!(
        world.store_requests.calls(),
        support::after_installation_lookup(&["record_event"])
    );
    assert_eq!(world.run_worker().await, Vec::<String>::new());
    let installation = world
        .services
        .store
        .get_installation(&InstallationKey::Team(team.clone()))
        .await
        .expect("store")
        .expect("installation recorded");
    assert!(installation.is_disabled());
    assert_eq!(
        installation.disabled_reason.as_deref(),
        Some("app_uninstalled")
    );

    assert_next_command_is_told_to_reinstall(&mut world).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_revoked_disables_the_installation_only_for_bot_tokens() {
    let mut world = World::start().await;
    let team = TeamId::parse(world.standin.team_id()).expect("a team id");

    // User tokens only: nothing of ours changes.
    let answer = world
        .event(&world.event_callback(
            "Ev0REVOKE01",
            json!({"type": "tokens_revoked", "tokens": {"oauth": ["U0USER0001"]}}),
        ))
        .await;
    assert_eq!(answer.status, 200);
    assert_eq!(world.store_requests.total(), 0, "nothing written");
    assert_eq!(world.run_worker().await, Vec::<String>::new());
    assert!(world
        .services
        .store
        .get_installation(&InstallationKey::Team(team.clone()))
        .await
        .expect("store")
        .is_none_or(|i| !i.is_disabled()));

    let answer = world
        .event(&world.event_callback(
            "Ev0REVOKE02",
            json!({"type": "tokens_revoked", "tokens": {"oauth": [], "bot": ["U0BOT00001"]}}),
        ))
        .await;
    assert_eq!(answer.status, 200);
    assert_eq!(world.run_worker().await, Vec::<String>::new());
    let installation = world
        .services
        .store
        .get_installation(&InstallationKey::Team(team.clone()))
        .await
        .expect("store")
        .expect("installation recorded");
    assert!(installation.is_disabled());
    assert_eq!(
        installation.disabled_reason.as_deref(),
        Some("tokens_revoked")
    );

    assert_next_command_is_told_to_reinstall(&mut world).await;
}

// ---- 6. What is refused ----------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_refused_without_a_5xx_and_without_a_write() {
    let world = World::start().await;
    let signed = |body: Vec<u8>, skew: i64| {
        let world = &world;
        async move {
            world
                .post_signed(
                    "/slack/events",
                    &body,
                    "application/json",
                    &slack::SIGNATURE,
                    SIGNING_SECRET,
                    skew,
                )
                .await
        }
    };
    let mut statuses = Vec::new();

    // An event type we do not handle: acknowledged, nothing written.
    let answer = world
        .event(&world.event_callback(
            "Ev0UNKNOWN1",
            json!({"type": "reaction_added", "user": "U0USER0001", "reaction": "thumbsup",
                   "item": {"type": "message", "channel": CHANNEL, "ts": TS}}),
        ))
        .await;
    assert_eq!(answer.status, 200, "{:?}", answer.json);
    statuses.push(answer.status);
    // An envelope type we do not handle either.
    let answer = world
        .event(
            &json!({"type": "app_rate_limited", "team_id": "T0STANDIN", "minute_rate_limited": 1}),
        )
        .await;
    assert_eq!(answer.status, 200);
    statuses.push(answer.status);
    assert_eq!(world.store_requests.total(), 0, "nothing written");

    // Malformed: 400, and Slack is told not to retry.
    for body in [
        &b"{not json"[..],
        b"",
        b"[1, 2, 3]",
        b"\"a string\"",
        b"42",
        br#"{"type": "event_callback", "event": {"type": "link_shared"}}"#,
    ] {
        let answer = signed(body.to_vec(), 0).await;
        assert_eq!(
            answer.status,
            400,
            "{:?}: {:?}",
            String::from_utf8_lossy(body),
            answer.json
        );
        assert_eq!(
            answer
                .headers
                .get("x-slack-no-retry")
                .and_then(|v| v.to_str().ok()),
            Some("1"),
            "{:?}",
            String::from_utf8_lossy(body)
        );
        statuses.push(answer.status);
    }

    // An event id no Slack event has (empty, or too long for a key): refused as
    // malformed, not answered 503 for Slack to retry.
    for event_id in [String::new(), "Ev".repeat(1500)] {
        let body = world.event_callback(&event_id, json!({"type": "app_uninstalled"}));
        let answer = signed(body.to_string().into_bytes(), 0).await;
        assert_eq!(
            answer.status,
            400,
            "event id of {} bytes: {:?}",
            event_id.len(),
            answer.json
        );
        assert_eq!(
            answer
                .headers
                .get("x-slack-no-retry")
                .and_then(|v| v.to_str().ok()),
            Some("1")
        );
        statuses.push(answer.status);
    }

    // Too big: 413 (before anything is parsed).
    let padding = "x".repeat(300 * 1024);
    let big = world.event_callback(
        "Ev0BIG00001",
        json!({"type": "reaction_added", "padding": padding}),
    );
    let answer = signed(big.to_string().into_bytes(), 0).await;
    assert_eq!(answer.status, 413);
    statuses.push(answer.status);

    // Unsigned, forged, stale or from the future: 401.
    let link = world.event_callback(
        "Ev0UNSIGNED",
        link_shared(CHANNEL, SHARER, TS, &["https://meet.example.com/abc"]),
    );
    let bytes = link.to_string().into_bytes();
    let unsigned = world
        .post(
            "/slack/events",
            &bytes,
            "application/json",
            http::HeaderMap::new(),
        )
        .await;
    assert_eq!(unsigned.status, 401);
    statuses.push(unsigned.status);
    for skew in [-301, 301] {
        let answer = signed(bytes.clone(), skew).await;
        assert_eq!(answer.status, 401, "skew {skew}");
        statuses.push(answer.status);
    }
    let forged = world
        .post_signed(
            "/slack/events",
            &bytes,
            "application/json",
            &slack::SIGNATURE,
            "not-the-signing-secret",
            0,
        )
        .await;
    assert_eq!(forged.status, 401);
    statuses.push(forged.status);

    assert!(
        statuses.iter().all(|s| !s.is_server_error()),
        "{statuses:?}"
    );
    assert_eq!(world.store_requests.total(), 0, "nothing written");
    assert!(world.standin.requests().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_with_malformed_ids_are_refused_without_retry() {
    let mut world = World::start().await;
    let url = "https://meet.example.com/abc";
    let without_team = {
        let mut body =
            world.event_callback("Ev0BADID006", link_shared(CHANNEL, SHARER, TS, &[url]));
        body.as_object_mut()
            .map(|envelope| envelope.remove("team_id"));
        body
    };
    let with_team = |team: &str| {
        let mut body = world.event_callback("Ev0BADID005", json!({"type": "app_uninstalled"}));
        body["team_id"] = json!(team);
        body
    };
    let cases = [
        (
            world.event_callback(
                "Ev0BADID001",
                link_shared(CHANNEL, "u0user0002", TS, &[url]),
            ),
            "Slack user id must start with U or W",
        ),
        (
            world.event_callback("Ev0BADID002", link_shared(SHARER, SHARER, TS, &[url])),
            "Slack channel id must start with C, G or D",
        ),
        (
            world.event_callback("Ev0BADID003", call_rejected(CHANNEL, "c1")),
            "Slack call id must start with R",
        ),
        (
            world.event_callback("Ev0BADID004", call_rejected("R0CALL0001", "c\u{1}1")),
            "external id contains a control character",
        ),
        (with_team("C0CHAN0001"), "Slack team id must start with T"),
        (without_team, "team_id is missing"),
    ];
    for (body, reason) in cases {
        let answer = world.event(&body).await;
        assert_eq!(answer.status, 400, "{body}: {:?}", answer.json);
        let error = answer.json["error"].as_str().unwrap_or_default();
        assert!(error.contains(reason), "{error:?} says {reason:?}");
        assert_eq!(
            answer
                .headers
                .get("x-slack-no-retry")
                .and_then(|v| v.to_str().ok()),
            Some("1"),
            "{body}"
        );
    }
    assert_eq!(world.store_requests.total(), 0, "nothing written");
    assert_eq!(world.run_worker().await, Vec::<String>::new());
    assert!(world.standin.requests().is_empty());
}

/// Slack sends `link_shared` for a link typed into the composer (`"channel":
/// "COMPOSER"`, an `unfurl_id`, `source: composer`): the preview goes to the composer by
/// its `unfurl_id`. Posted, the message gets its own event and its own unfurl.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn links_in_the_composer_are_unfurled_in_the_composer_then_in_the_message() {
    let mut world = World::start().await;
    let call = start_call(&mut world, CHANNEL, CREATOR, "Standup").await;
    let draft = world.standin.new_composer_unfurl(CHANNEL, SHARER);
    let answer = world
        .event(&world.event_callback("Ev0COMPOSE1", draft.event(SHARER, &[&call.join_url])))
        .await;
    assert_eq!(answer.status, 200, "{:?}", answer.json);
    assert_eq!(world.run_worker().await, Vec::<String>::new());
    assert_eq!(world.slack_methods(), ["chat.unfurl"]);
    let unfurl = &world.standin.requests_for("chat.unfurl")[0];
    assert_eq!(unfurl.error, None, "accepted: {:?}", unfurl.body);
    assert_eq!(unfurl.body["unfurl_id"], draft.unfurl_id.as_str());
    assert_eq!(unfurl.body["source"], "composer");
    assert!(unfurl.body.get("channel").is_none(), "{}", unfurl.body);
    let composed = world.standin.composer_unfurls();
    assert_eq!(
        composed[0].unfurls[&call.join_url]["blocks"][0]["call_id"],
        call.call_id.as_str()
    );

    world.standin.clear_requests();
    let (event, shared) = posted(&world, CHANNEL, SHARER, TS, &[&call.join_url]);
    let answer = world
        .event(&world.event_callback("Ev0COMPOSE2", event))
        .await;
    assert_eq!(answer.status, 200, "{:?}", answer.json);
    assert_eq!(world.run_worker().await, Vec::<String>::new());
    assert_eq!(
        world.slack_methods(),
        ["chat.unfurl"],
        "no second calls.add"
    );
    let unfurl = &world.standin.requests_for("chat.unfurl")[0];
    assert_eq!(unfurl.error, None);
    assert_eq!(unfurl.body["unfurl_id"], shared.unfurl_id.as_str());
}

/// A composer link without an `unfurl_id` cannot be reached by `chat.unfurl`: nothing is
/// recorded, and no room is registered for it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_composer_link_without_an_unfurl_id_is_left_alone() {
    let mut world = World::start().await;
    let draft_ts = "U0USER0002-909b5454-75f8-4ac4-b325-1b40e230bbd8";
    let answer = world
        .event(&world.event_callback(
            "Ev0COMPOSE3",
            link_shared(
                "COMPOSER",
                SHARER,
                draft_ts,
                &["https://meet.example.com/never-registered"],
            ),
        ))
        .await;
    assert_eq!(answer.status, 200, "{:?}", answer.json);
    assert_eq!(world.store_requests.total(), 0, "nothing recorded");
    assert_eq!(world.run_worker().await, Vec::<String>::new());
    assert!(world.standin.requests().is_empty(), "nothing sent to Slack");
}

/// Events without `unfurl_id` name the message by `channel` + `ts`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_an_unfurl_id_the_message_is_named_by_channel_and_ts() {
    let mut world = World::start().await;
    let call = start_call(&mut world, CHANNEL, CREATOR, "Standup").await;
    world
        .standin
        .link_shared(CHANNEL, TS, &[call.join_url.as_str()]);
    let answer = world
        .event(&world.event_callback(
            "Ev0NOUNFID1",
            link_shared(CHANNEL, SHARER, TS, &[&call.join_url]),
        ))
        .await;
    assert_eq!(answer.status, 200, "{:?}", answer.json);
    assert_eq!(world.run_worker().await, Vec::<String>::new());
    let unfurl = &world.standin.requests_for("chat.unfurl")[0];
    assert_eq!(unfurl.error, None);
    assert_eq!(unfurl.body["channel"], CHANNEL);
    assert_eq!(unfurl.body["ts"], TS);
    assert!(unfurl.body.get("unfurl_id").is_none());
}
