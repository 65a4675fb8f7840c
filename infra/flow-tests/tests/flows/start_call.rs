//! Starting a call (issue: call-button, worker, meeting providers), over real HTTP
//! against DynamoDB Local and the Slack stand-in, the worker fed the table's stream.
//!
//! This file: the ways in (slash command in a channel and a DM, the call button for
//! video and audio), what each answers, what the worker then does, and the requests that
//! must be refused. Dependencies failing: `start_call_failures.rs`.

use crate::support;

use flow_tests::world::{World, WorldOptions, SIGNING_SECRET};
use http::HeaderMap;
use secrecy::SecretString;
use serde_json::Value;
use slack_calls::slack;
use support::{assert_registered_once, is_display_id};

const CHANNEL: &str = "C0CHAN0001";
const DM: &str = "D0DIRECT01";
const USER: &str = "U0USER0001";
const FORM: &str = "application/x-www-form-urlencoded";

fn options(config: &[(&'static str, &str)]) -> WorldOptions {
    WorldOptions {
        config: config.iter().map(|(k, v)| (*k, (*v).to_owned())).collect(),
        ..WorldOptions::default()
    }
}

/// The ack path wrote the call and its job in one request and left Slack alone.
fn assert_ack_path_only(world: &World) {
    assert_eq!(
        world.store_requests.calls(),
        support::after_installation_lookup(&["create_call"]),
        "one cached installation read and one write before the answer"
    );
    assert!(
        world.standin.requests().is_empty(),
        "no Slack request before the answer: {:?}",
        world.slack_methods()
    );
}

/// Exactly one `calls.add` and one response URL post were sent, and they registered the call (see
/// [`assert_registered_once`]).
async fn assert_one_calls_add(world: &World, channel: &str) -> support::Registered {
    assert_eq!(
        world.slack_methods(),
        ["auth.test", "calls.add", "response_url"],
        "the token's workspace asked once, one calls.add, one post, nothing else"
    );
    assert_registered_once(world, channel, USER).await
}

/// The `<url|label>` links of a Slack mrkdwn text.
fn links(text: &str) -> Vec<String> {
    text.split('<')
        .skip(1)
        .filter_map(|rest| rest.split(['|', '>']).next())
        .map(str::to_owned)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ack_path_is_one_store_request_and_no_slack_call() {
    let mut world = World::start().await;
    let form = world.command_form(CHANNEL, USER, &[("text", "Daily standup")]);
    let answer = world.command(&form).await;
    assert_eq!(answer.status, 200, "{:?}", answer.json);
    assert_eq!(answer.json["response_type"], "ephemeral");
    assert_ack_path_only(&world);

    assert!(world.run_worker().await.is_empty());
    assert_eq!(
        world.slack_methods(),
        ["auth.test", "calls.add", "response_url"]
    );
}

// ---- the ways in -------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slash_command_in_a_channel_registers_the_call_and_posts_its_block() {
    let mut world = World::start_with(options(&[(
        "DESKTOP_JOIN_URL_TEMPLATE",
        "meetapp://join/{room}",
    )]))
    .await;
    let form = world.command_form(CHANNEL, USER, &[("text", "  Daily standup ")]);
    let answer = world.command(&form).await;
    assert_eq!(answer.status, 200, "{:?}", answer.json);
    assert_eq!(
        answer.json["response_type"], "ephemeral",
        "{:?}",
        answer.json
    );
    let text = answer.json["text"].as_str().unwrap_or_default().to_owned();
    assert_ack_path_only(&world);

    assert_eq!(world.run_worker().await, Vec::<String>::new());
    let registered = assert_one_calls_add(&world, CHANNEL).await;
    let id = &registered.external_unique_id;
    let add = &registered.add;
    assert_eq!(add["join_url"], format!("https://meet.example.com/{id}"));
    assert_eq!(add["desktop_app_join_url"], format!("meetapp://join/{id}"));
    assert!(is_display_id(&add["external_display_id"]), "{add}");
    assert_eq!(add["title"], "Daily standup", "the trimmed command text");
    assert!(
        registered.post["text"]
            .as_str()
            .is_some_and(|t| t.contains(USER) && t.contains("Daily standup")),
        "{}",
        registered.post
    );
    assert_eq!(
        links(&text),
        [
            format!("https://meet.example.com/{id}"),
            format!("meetapp://join/{id}")
        ],
        "the ephemeral answer links to the call: {text}"
    );
    let messages = world.standin.messages();
    assert_eq!(messages.len(), 1, "{messages:#?}");
    assert_eq!(messages[0].channel, CHANNEL);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slash_command_in_a_dm_registers_the_call_and_posts_its_block_there() {
    let mut world = World::start().await;
    let form = world.command_form(DM, USER, &[]);
    let answer = world.command(&form).await;
    assert_eq!(answer.status, 200, "{:?}", answer.json);
    assert_eq!(
        answer.json["response_type"], "ephemeral",
        "{:?}",
        answer.json
    );
    assert_ack_path_only(&world);

    assert_eq!(world.run_worker().await, Vec::<String>::new());
    let registered = assert_one_calls_add(&world, DM).await;
    let add = &registered.add;
    assert_eq!(
        add["join_url"],
        format!("https://meet.example.com/{}", registered.external_unique_id)
    );
    assert!(is_display_id(&add["external_display_id"]), "{add}");
    assert!(
        add.get("title").is_none_or(Value::is_null),
        "no title: {add}"
    );
    assert!(
        add.get("desktop_app_join_url").is_none_or(Value::is_null),
        "no desktop template configured: {add}"
    );
    let call = world.call(&registered.external_unique_id).await;
    assert_eq!(call.channel_id.as_ref().map(|id| id.as_str()), Some(DM));
    let messages = world.standin.messages();
    assert_eq!(messages.len(), 1, "{messages:#?}");
    assert_eq!(messages[0].channel, DM);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_video_call_button_answers_with_the_urls_to_open() {
    let mut world = World::start_with(options(&[(
        "DESKTOP_JOIN_URL_TEMPLATE",
        "meetapp://join/{room}",
    )]))
    .await;
    let form = world.command_form(
        CHANNEL,
        USER,
        &[("-command", ""), ("-text", ""), ("type", "video")],
    );
    let answer = world.command(&form).await;
    assert_eq!(answer.status, 200, "{:?}", answer.json);
    assert_ack_path_only(&world);

    assert_eq!(world.run_worker().await, Vec::<String>::new());
    let registered = assert_one_calls_add(&world, CHANNEL).await;
    let id = &registered.external_unique_id;
    assert_eq!(
        answer.json,
        serde_json::json!({
            "response_type": "call",
            "call_initiation_url": format!("https://meet.example.com/{id}"),
            "desktop_protocol_call_initiation_url": format!("meetapp://join/{id}"),
        })
    );
    let add = &registered.add;
    assert_eq!(add["join_url"], answer.json["call_initiation_url"]);
    assert_eq!(
        add["desktop_app_join_url"],
        answer.json["desktop_protocol_call_initiation_url"]
    );
    assert!(is_display_id(&add["external_display_id"]), "{add}");
    assert!(
        add.get("title").is_none_or(Value::is_null),
        "no title: {add}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_audio_call_button_dials_the_phone_number() {
    let mut world = World::start_with(options(&[
        (
            "PHONE_CALL_URL_TEMPLATE",
            "https://meet.example.com/dial?to={phone}",
        ),
        ("DESKTOP_PHONE_CALL_URL_TEMPLATE", "meetapp://call/{phone}"),
    ]))
    .await;
    let form = world.command_form(
        CHANNEL,
        USER,
        &[
            ("-command", ""),
            ("-text", ""),
            ("type", "audio"),
            ("phone_number", "+1-202-555-0145"),
        ],
    );
    let answer = world.command(&form).await;
    assert_eq!(answer.status, 200, "{:?}", answer.json);
    assert_eq!(
        answer.json,
        serde_json::json!({
            "response_type": "audio",
            "call_initiation_url": "https://meet.example.com/dial?to=%2B1-202-555-0145",
            "desktop_protocol_call_initiation_url": "meetapp://call/+1-202-555-0145",
        })
    );
    assert_ack_path_only(&world);

    assert_eq!(world.run_worker().await, Vec::<String>::new());
    let registered = assert_one_calls_add(&world, CHANNEL).await;
    let add = &registered.add;
    // The conversation sees a call in the room, never the number: only the caller's
    // answer above holds it.
    assert_eq!(
        add["join_url"],
        format!("https://meet.example.com/{}", registered.external_unique_id)
    );
    assert!(
        add.get("desktop_app_join_url").is_none_or(Value::is_null),
        "{add}"
    );
    assert_number_never_reached_slack(&world, &["2025550145", "202-555-0145"]);
    assert!(is_display_id(&add["external_display_id"]), "{add}");
    assert!(
        add.get("title").is_none_or(Value::is_null),
        "no title: {add}"
    );
    let call = world.call(&registered.external_unique_id).await;
    assert_eq!(call.kind, slack_calls::domain::CallKind::Audio);
    assert!(
        registered.post["text"]
            .as_str()
            .is_some_and(|t| t.contains("phone call")),
        "{}",
        registered.post
    );
}

/// `%XX` escapes decoded (a test helper: ASCII only).
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let Ok(byte) = u8::from_str_radix(&text[i + 1..i + 3], 16) {
                out.push(byte);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_phone_number_written_with_spaces_still_gives_valid_urls() {
    let mut world = World::start_with(options(&[
        (
            "PHONE_CALL_URL_TEMPLATE",
            "https://meet.example.com/dial/{phone}",
        ),
        ("DESKTOP_PHONE_CALL_URL_TEMPLATE", "meetapp://call/{phone}"),
    ]))
    .await;
    // As people keep them in their Slack profile.
    let phone = "+44 20 7946 0958";
    let form = world.command_form(
        CHANNEL,
        USER,
        &[
            ("-command", ""),
            ("-text", ""),
            ("type", "audio"),
            ("phone_number", phone),
        ],
    );
    let answer = world.command(&form).await;
    assert_eq!(answer.status, 200, "{:?}", answer.json);
    assert_eq!(answer.json["response_type"], "audio", "{:?}", answer.json);
    let join = answer.json["call_initiation_url"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let desktop = answer.json["desktop_protocol_call_initiation_url"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    for url in [&join, &desktop] {
        assert!(
            !url.chars().any(char::is_whitespace),
            "a URL holds no raw whitespace: {url:?}"
        );
        assert!(reqwest::Url::parse(url).is_ok(), "{url:?}");
    }
    assert_eq!(
        percent_decode(&join),
        format!("https://meet.example.com/dial/{phone}"),
        "the path carries the number itself: {join}"
    );
    assert_eq!(
        percent_decode(&desktop),
        format!("meetapp://call/{phone}"),
        "{desktop}"
    );

    assert_eq!(world.run_worker().await, Vec::<String>::new());
    let registered = assert_one_calls_add(&world, CHANNEL).await;
    assert_eq!(
        registered.add["join_url"],
        format!("https://meet.example.com/{}", registered.external_unique_id)
    );
    assert_ne!(registered.add["join_url"], join.as_str());
    assert_number_never_reached_slack(&world, &["7946", "20%2079"]);
}

/// Nothing Slack received (Web API requests, response URL posts) holds any of
/// `fragments` of the caller's phone number.
fn assert_number_never_reached_slack(world: &World, fragments: &[&str]) {
    let requests = world.standin.requests();
    assert!(!requests.is_empty());
    for request in requests {
        let body = request.body.to_string();
        for fragment in fragments {
            assert!(
                !body.contains(fragment),
                "{} carries the number: {body}",
                request.method
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audio_without_a_phone_template_is_explained_and_starts_nothing() {
    let mut world = World::start().await;
    let form = world.command_form(
        CHANNEL,
        USER,
        &[
            ("-command", ""),
            ("-text", ""),
            ("type", "audio"),
            ("phone_number", "+1-202-555-0145"),
        ],
    );
    let answer = world.command(&form).await;
    assert_eq!(answer.status, 200, "{:?}", answer.json);
    assert_eq!(
        answer.json["response_type"], "ephemeral",
        "{:?}",
        answer.json
    );
    assert!(
        answer.json["text"]
            .as_str()
            .is_some_and(|t| t.contains("Phone calls are not available")),
        "{:?}",
        answer.json
    );
    assert_eq!(
        world.store_requests.calls(),
        support::after_installation_lookup(&[]),
        "no write"
    );
    assert_eq!(world.run_worker().await, Vec::<String>::new());
    assert!(
        world.standin.requests().is_empty(),
        "{:?}",
        world.slack_methods()
    );
    assert_eq!(support::table_items(&world).await, 0, "nothing stored");
}

// ---- requests that must be refused -------------------------------------------------

/// Nothing happened: no store request, nothing in the table, nothing for the worker, and
/// Slack saw nothing.
async fn assert_nothing_happened(world: &mut World, case: &str) {
    assert_eq!(
        world.store_requests.calls(),
        Vec::<&str>::new(),
        "{case}: no store request"
    );
    assert_eq!(world.run_worker().await, Vec::<String>::new(), "{case}");
    assert!(
        world.standin.requests().is_empty(),
        "{case}: Slack saw {:?}",
        world.slack_methods()
    );
    assert_eq!(
        support::table_items(world).await,
        0,
        "{case}: nothing stored"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsigned_stale_and_tampered_requests_are_refused() {
    let mut world = World::start().await;
    let form = world.command_form(CHANNEL, USER, &[]);

    let unsigned = world
        .post("/slack/commands", form.as_bytes(), FORM, HeaderMap::new())
        .await;
    assert_eq!(unsigned.status, 401, "unsigned: {:?}", unsigned.json);

    let stale = world
        .post_signed(
            "/slack/commands",
            form.as_bytes(),
            FORM,
            &slack::SIGNATURE,
            SIGNING_SECRET,
            -301,
        )
        .await;
    assert_eq!(stale.status, 401, "stale: {:?}", stale.json);

    let other = world.command_form(CHANNEL, "U0INTRUDER", &[]);
    let headers = slack::SIGNATURE.signed_headers(
        &SecretString::from(SIGNING_SECRET.to_owned()),
        world.now(),
        other.as_bytes(),
    );
    let tampered = world
        .post("/slack/commands", form.as_bytes(), FORM, headers)
        .await;
    assert_eq!(tampered.status, 401, "tampered: {:?}", tampered.json);
    // The same answer whichever check failed: the reason is in our log only.
    for refused in [&unsigned, &stale, &tampered] {
        assert_eq!(
            refused.json,
            serde_json::json!({ "error": slack_calls::entry::UNAUTHORIZED })
        );
    }

    assert_nothing_happened(&mut world, "unauthenticated").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replayed_command_starts_no_second_call() {
    let mut world = World::start().await;
    let form = world.command_form(CHANNEL, USER, &[("text", "Replayed")]);
    let headers = slack::SIGNATURE.signed_headers(
        &SecretString::from(SIGNING_SECRET.to_owned()),
        world.now(),
        form.as_bytes(),
    );
    let first = world
        .post("/slack/commands", form.as_bytes(), FORM, headers.clone())
        .await;
    assert_eq!(first.status, 200, "{:?}", first.json);
    assert_ack_path_only(&world);
    assert_eq!(world.run_worker().await, Vec::<String>::new());
    let items = support::table_items(&world).await;
    let slack_requests = world.slack_methods();

    // The same signed request again, two minutes later (inside the signature's window).
    world.store_requests.reset();
    world.clock.advance(120);
    let replayed = world
        .post("/slack/commands", form.as_bytes(), FORM, headers)
        .await;
    assert_eq!(replayed.status, 200, "{:?}", replayed.json);
    assert_eq!(
        replayed.json["text"],
        slack_calls::entry::commands::ALREADY_HANDLED
    );
    assert_eq!(
        world.store_requests.calls(),
        ["create_call", "get_job"],
        "the write is refused; the request's job says why"
    );
    assert_eq!(world.run_worker().await, Vec::<String>::new());
    assert_eq!(support::table_items(&world).await, items, "nothing written");
    assert_eq!(
        world.slack_methods(),
        slack_requests,
        "nothing sent to Slack"
    );
    assert_eq!(world.standin.requests_for("calls.add").len(), 1);

    // A new request with the same form is a new request: it starts a call.
    world.store_requests.reset();
    let again = world.command(&form).await;
    assert_eq!(again.status, 200);
    assert_ne!(
        again.json["text"],
        slack_calls::entry::commands::ALREADY_HANDLED
    );
    assert_eq!(world.store_requests.calls(), ["create_call"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_forms_are_refused_with_the_reason() {
    let mut world = World::start().await;
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "undecodable",
            world.command_form(CHANNEL, USER, &[]) + "&team_id=T0OTHER",
            "team_id",
        ),
        (
            "JSON instead of a form",
            serde_json::json!({"team_id": "T0STANDIN", "channel_id": CHANNEL, "user_id": USER})
                .to_string(),
            "team_id",
        ),
        (
            "missing team_id",
            world.command_form(CHANNEL, USER, &[("-team_id", "")]),
            "team_id",
        ),
        (
            "empty team_id",
            world.command_form(CHANNEL, USER, &[("team_id", " ")]),
            "team_id",
        ),
        (
            "missing response_url",
            world.command_form(CHANNEL, USER, &[("-response_url", "")]),
            "response_url",
        ),
        (
            "unknown call type",
            world.command_form(CHANNEL, USER, &[("-command", ""), ("type", "fax")]),
            "type",
        ),
    ];
    for (case, form, field) in cases {
        let answer = world.command(&form).await;
        assert_eq!(answer.status, 400, "{case}: {:?}", answer.json);
        let reason = answer.json["error"].as_str().unwrap_or_default();
        assert!(
            reason.contains(field),
            "{case}: the reason {reason:?} names {field}"
        );
    }
    assert_nothing_happened(&mut world, "malformed").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_ids_are_refused_naming_the_field() {
    let mut world = World::start().await;
    let cases = [
        (
            "user_id",
            "u0user0001",
            "user_id is invalid: Slack user id must start with U or W",
        ),
        (
            "user_id",
            "U0USER\n01",
            "user_id is invalid: Slack user id must continue with uppercase letters and digits only",
        ),
        (
            "channel_id",
            USER,
            "channel_id is invalid: Slack channel id must start with C, G or D",
        ),
        (
            "channel_id",
            "C0CHAN0001C0CHAN0001C0CHAN0001C0CHAN0001",
            "channel_id is invalid: Slack channel id is longer than 32 bytes",
        ),
        (
            "team_id",
            "T0standin",
            "team_id is invalid: Slack team id must continue with uppercase letters and digits only",
        ),
    ];
    for (field, value, reason) in cases {
        let form = world.command_form(CHANNEL, USER, &[(field, value)]);
        let answer = world.command(&form).await;
        assert_eq!(answer.status, 400, "{field}={value:?}: {:?}", answer.json);
        assert_eq!(
            answer.json,
            serde_json::json!({ "error": reason }),
            "{value:?}"
        );
    }
    assert_nothing_happened(&mut world, "malformed ids").await;
}
