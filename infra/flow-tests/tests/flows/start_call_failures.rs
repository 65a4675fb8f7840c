//! Starting a call when its dependencies fail: the meeting provider's HTTP API, the
//! store, and Slack (through the stand-in's fault injection) while the worker registers
//! the call. Over real HTTP against DynamoDB Local, the worker fed the table's stream.

use crate::support;

use std::time::{Duration, Instant};

use flow_tests::world::{World, WorldOptions};
use serde_json::{json, Value};
use slack_calls::domain::{CallState, InstallationKey, JobStatus, TeamId};
use slack_standin::Fault;
use support::{
    after_installation_lookup, assert_registered_once, job, sequence_numbers, table_items,
    the_job_records, Scripted, ScriptedServer,
};

const CHANNEL: &str = "C0CHAN0001";
const MEETING_API_PATH: &str = "/v1/meetings";
const USER: &str = "U0USER0001";
/// Slack gives up after 3 s; a coarse bound only, not a timing test.
const SLACK_DEADLINE: Duration = Duration::from_millis(2_900);

fn text(answer: &Value) -> String {
    answer["text"].as_str().unwrap_or_default().to_owned()
}

fn assert_ephemeral_containing(answer: &Value, words: &[&str]) {
    assert_eq!(answer["response_type"], "ephemeral", "{answer}");
    let text = text(answer).to_lowercase();
    for word in words {
        assert!(
            text.contains(&word.to_lowercase()),
            "{text:?} should say {word:?}"
        );
    }
}

// ---- the meeting provider's HTTP API ----------------------------------------------

async fn provider_world(api: &ScriptedServer) -> World {
    World::start_with(WorldOptions {
        config: vec![("MEETING_API_URL", api.url())],
        ..WorldOptions::default()
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_http_provider_s_meeting_becomes_the_call() {
    let api = ScriptedServer::start(
        MEETING_API_PATH,
        vec![Scripted::Json(
            201,
            json!({
                "join_url": "https://video.example.org/j/abc123",
                "desktop_join_url": "videoapp://j/abc123",
                "id": "mtg-abc123",
                "display_id": "ABC 123",
            }),
        )],
    )
    .await;
    let mut world = provider_world(&api).await;
    let form = world.command_form(CHANNEL, USER, &[("text", "Planning")]);
    let answer = world.command(&form).await;
    assert_eq!(answer.status, 200, "{:?}", answer.json);
    assert_ephemeral_containing(&answer.json, &["https://video.example.org/j/abc123"]);
    assert_eq!(
        world.store_requests.calls(),
        after_installation_lookup(&["create_call"])
    );
    assert!(world.standin.requests().is_empty());

    let requests = api.received();
    assert_eq!(requests.len(), 1, "{requests:#?}");
    assert_eq!(requests[0].method, "POST");
    assert_eq!(
        requests[0].header("authorization").as_deref(),
        Some("Bearer meeting-api-token")
    );
    assert!(
        requests[0]
            .header("content-type")
            .as_deref()
            .is_some_and(|t| t.starts_with("application/json")),
        "{:?}",
        requests[0].header("content-type")
    );
    assert_eq!(
        requests[0].json(),
        json!({
            "team_id": world.standin.team_id(),
            "user_id": USER,
            "user_name": "ada",
            "channel_id": CHANNEL,
            "title": "Planning",
            "type": "video",
        })
    );

    assert_eq!(world.run_worker().await, Vec::<String>::new());
    assert_eq!(world.standin.requests_for("calls.add").len(), 1);
    let registered = assert_registered_once(&world, CHANNEL, USER).await;
    assert_eq!(registered.external_unique_id, "mtg-abc123");
    assert_eq!(
        registered.add["join_url"],
        "https://video.example.org/j/abc123"
    );
    assert_eq!(
        registered.add["desktop_app_join_url"],
        "videoapp://j/abc123"
    );
    assert_eq!(registered.add["external_display_id"], "ABC 123");
    assert_eq!(registered.add["title"], "Planning");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_http_provider_s_login_link_is_shown_and_no_call_is_made() {
    let login = "https://video.example.org/login?next=slack";
    let api = ScriptedServer::start(
        MEETING_API_PATH,
        vec![Scripted::Json(401, json!({ "login_url": login }))],
    )
    .await;
    let mut world = provider_world(&api).await;
    let form = world.command_form(CHANNEL, USER, &[]);
    let answer = world.command(&form).await;
    assert_eq!(answer.status, 200, "{:?}", answer.json);
    assert_ephemeral_containing(&answer.json, &[login, "sign in"]);
    assert_eq!(api.received().len(), 1);
    assert_eq!(world.store_requests.calls(), after_installation_lookup(&[]));
    assert_eq!(world.run_worker().await, Vec::<String>::new());
    assert!(world.standin.requests().is_empty());
    assert_eq!(table_items(&world).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_or_silent_http_provider_means_try_again_in_time() {
    for (case, answer) in [
        ("HTTP 500", Scripted::Json(500, json!({"error": "boom"}))),
        ("no answer", Scripted::Hang),
    ] {
        let api = ScriptedServer::start(MEETING_API_PATH, vec![answer]).await;
        let mut world = provider_world(&api).await;
        let form = world.command_form(CHANNEL, USER, &[]);
        let started = Instant::now();
        let answer = world.command(&form).await;
        let took = started.elapsed();
        assert_eq!(answer.status, 200, "{case}: {:?}", answer.json);
        assert!(took < SLACK_DEADLINE, "{case}: answered after {took:?}");
        assert_ephemeral_containing(&answer.json, &["try again"]);
        assert_eq!(api.received().len(), 1, "{case}");
        assert_eq!(
            world.store_requests.calls(),
            after_installation_lookup(&[]),
            "{case}"
        );
        assert_eq!(world.run_worker().await, Vec::<String>::new(), "{case}");
        assert!(world.standin.requests().is_empty(), "{case}");
        assert_eq!(table_items(&world).await, 0, "{case}");
    }
}

// ---- the store -----------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_store_down_the_user_is_told_to_try_again_in_time() {
    let world = World::start_with(WorldOptions {
        store_unreachable: true,
        ..WorldOptions::default()
    })
    .await;
    let form = world.command_form(CHANNEL, USER, &[("text", "Standup")]);
    let started = Instant::now();
    let answer = world.command(&form).await;
    let took = started.elapsed();
    assert_eq!(answer.status, 200, "{:?}", answer.json);
    assert!(took < SLACK_DEADLINE, "answered after {took:?}");
    assert_ephemeral_containing(&answer.json, &["could not be started", "try again"]);
    assert_eq!(
        world.store_requests.calls(),
        ["get_installation"],
        "one attempt to read whether the app is installed, and no write"
    );
    assert_eq!(table_items(&world).await, 0, "nothing written");
    assert!(
        world.standin.requests().is_empty(),
        "{:?}",
        world.slack_methods()
    );
}

// ---- Slack failing while the worker registers the call ------------------------------

/// Starts a call with a slash command; returns the job's stream records and its id.
async fn start(world: &mut World) -> (Vec<Value>, String) {
    let form = world.command_form(CHANNEL, USER, &[("text", "Standup")]);
    let answer = world.command(&form).await;
    assert_eq!(answer.status, 200, "{:?}", answer.json);
    assert_eq!(
        world.store_requests.calls(),
        after_installation_lookup(&["create_call"])
    );
    the_job_records(world).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limited_calls_add_waits_and_registers_once() {
    let mut world = World::start().await;
    world
        .standin
        .inject(Fault::on("calls.add").rate_limited(1).times(1));
    let (records, job_id) = start(&mut world).await;
    assert_eq!(world.deliver(records).await, Vec::<String>::new());

    let adds = world.standin.requests_for("calls.add");
    assert_eq!(adds.len(), 2, "retried after the 429");
    assert_eq!(adds[0].status, Some(429));
    let gap = adds[1].at.duration_since(adds[0].at);
    assert!(
        gap >= Duration::from_millis(900),
        "Retry-After: 1 was honoured ({gap:?})"
    );
    assert_registered_once(&world, CHANNEL, USER).await;
    assert_eq!(job(&world, &job_id).await.status, JobStatus::Done);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_5xx_from_slack_is_retried_and_registers_once() {
    let mut world = World::start().await;
    world
        .standin
        .inject(Fault::on("calls.add").http_status(503).times(1));
    let (records, job_id) = start(&mut world).await;
    assert_eq!(world.deliver(records).await, Vec::<String>::new());

    let adds = world.standin.requests_for("calls.add");
    assert_eq!(adds.len(), 2, "retried after the 503");
    assert_eq!(adds[0].status, Some(503));
    assert_registered_once(&world, CHANNEL, USER).await;
    assert_eq!(job(&world, &job_id).await.status, JobStatus::Done);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn not_authorized_is_explained_to_the_user_and_not_retried() {
    let mut world = World::start().await;
    world
        .standin
        .inject(Fault::on("calls.add").slack_error("not_authorized"));
    let (records, job_id) = start(&mut world).await;
    assert_eq!(
        world.deliver(records).await,
        Vec::<String>::new(),
        "a permission problem is not retried"
    );
    assert_eq!(world.standin.requests_for("calls.add").len(), 1);

    let posts = world.standin.response_posts();
    assert_eq!(posts.len(), 1, "{posts:#?}");
    assert_ephemeral_containing(&posts[0].body, &["Slack does not allow this app"]);
    assert!(posts[0].body.get("blocks").is_none(), "{}", posts[0].body);
    assert!(world.standin.calls().is_empty());

    let job = job(&world, &job_id).await;
    assert_eq!(job.status, JobStatus::Failed);
    assert!(
        job.last_error
            .as_deref()
            .is_some_and(|e| e.contains("not_authorized")),
        "{:?}",
        job.last_error
    );
    let external_unique_id = world.standin.requests_for("calls.add")[0].body["external_unique_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let call = world.call(&external_unique_id).await;
    assert_eq!(call.state, CallState::Failed);
    assert_eq!(call.slack_call_id, None);
    assert!(call.failure.is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_auth_disables_the_installation_and_later_commands_say_reinstall() {
    let mut world = World::start().await;
    let team = TeamId::parse(world.standin.team_id()).expect("a team id");
    world
        .standin
        .inject(Fault::on("calls.add").slack_error("invalid_auth"));
    let (records, job_id) = start(&mut world).await;
    assert_eq!(world.deliver(records).await, Vec::<String>::new());
    assert_eq!(world.standin.requests_for("calls.add").len(), 1);

    let installation = world
        .services
        .store
        .get_installation(&InstallationKey::Team(team.clone()))
        .await
        .unwrap_or_else(|error| panic!("get_installation: {error}"))
        .unwrap_or_else(|| panic!("no installation for {team}"));
    assert!(installation.is_disabled(), "{installation:?}");
    assert_eq!(job(&world, &job_id).await.status, JobStatus::Failed);
    let first = world.standin.requests_for("calls.add")[0].body["external_unique_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert_eq!(world.call(&first).await.state, CallState::Failed);
    let posts = world.standin.response_posts();
    assert_eq!(posts.len(), 1, "{posts:#?}");
    assert_ephemeral_containing(&posts[0].body, &["reinstall"]);

    // Later, from the same team: no meeting, no Slack request; the answer itself says
    // the app is not installed, with the link to install it again.
    world.standin.clear_faults();
    world.store_requests.reset();
    let form = world.command_form(CHANNEL, USER, &[]);
    let answer = world.command(&form).await;
    support::assert_told_not_installed(&mut world, &answer).await;
    assert_eq!(
        world.standin.requests_for("calls.add").len(),
        1,
        "no calls.add for a disabled installation"
    );
    assert!(world.standin.calls().is_empty());
    assert_eq!(world.standin.response_posts().len(), 1, "nothing posted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_slack_is_retried_by_redelivery_and_registers_once() {
    let mut world = World::start().await;
    world.standin.inject(Fault::on("calls.add").hang());
    let (records, job_id) = start(&mut world).await;
    assert_eq!(
        world.deliver(records.clone()).await,
        sequence_numbers(&records),
        "the job's record is reported for retry"
    );
    let hung = world.standin.requests_for("calls.add");
    assert!(!hung.is_empty());
    assert!(hung.iter().all(|r| r.status.is_none()), "none answered");
    assert!(world.standin.calls().is_empty());
    assert!(world.standin.response_posts().is_empty());
    assert_eq!(job(&world, &job_id).await.status, JobStatus::Pending);

    world.standin.clear_faults();
    assert_eq!(world.deliver(records).await, Vec::<String>::new());
    let external_unique_id = world.standin.requests_for("calls.add")[0].body["external_unique_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert_eq!(
        world
            .standin
            .calls_with_external_id(&external_unique_id)
            .len(),
        1
    );
    assert_eq!(world.standin.calls().len(), 1);
    let posts = world.standin.response_posts();
    assert_eq!(posts.len(), 1, "{posts:#?}");
    assert_eq!(posts[0].body["response_type"], "in_channel");
    let call = world.call(&external_unique_id).await;
    assert_eq!(call.state, CallState::Active);
    assert!(call.block_posted);
    assert_eq!(job(&world, &job_id).await.status, JobStatus::Done);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_delivered_twice_registers_and_posts_once() {
    let mut world = World::start().await;
    let (records, job_id) = start(&mut world).await;
    assert_eq!(world.deliver(records.clone()).await, Vec::<String>::new());
    assert_eq!(world.deliver(records).await, Vec::<String>::new());

    let registered = assert_registered_once(&world, CHANNEL, USER).await;
    assert_eq!(
        world
            .standin
            .calls_with_external_id(&registered.external_unique_id)
            .len(),
        1
    );
    assert_eq!(
        world.slack_methods(),
        ["auth.test", "calls.add", "response_url"]
    );
    assert_eq!(job(&world, &job_id).await.status, JobStatus::Done);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_delivered_twice_at_once_registers_and_posts_once() {
    let mut world = World::start().await;
    let (records, job_id) = start(&mut world).await;
    let (a, b) = tokio::join!(
        world.deliver(records.clone()),
        world.deliver(records.clone())
    );
    // One run may yield to the other (reported for retry); the stream then redelivers it.
    let failed: Vec<String> = a.into_iter().chain(b).collect();
    let ours = sequence_numbers(&records);
    assert!(failed.iter().all(|f| ours.contains(f)), "{failed:?}");
    if !failed.is_empty() {
        assert_eq!(world.deliver(records).await, Vec::<String>::new());
    }

    let registered = assert_registered_once(&world, CHANNEL, USER).await;
    assert_eq!(world.standin.requests_for("calls.add").len(), 1);
    assert_eq!(world.standin.requests_for("response_url").len(), 1);
    assert_eq!(
        world
            .standin
            .calls_with_external_id(&registered.external_unique_id)
            .len(),
        1
    );
    assert_eq!(job(&world, &job_id).await.status, JobStatus::Done);
}
