//! Many workspaces, one deployment: a second workspace (same app, same signing secret)
//! reaches neither the first's calls nor its token through any entry point; a room
//! pasted in both is a Slack call in each, which the provider's events all update; an
//! uninstalled workspace and another app are answered without any work; org-wide
//! installs are recorded on the calls.

use crate::support;

use flow_tests::world::{World, WorldOptions};
use secrecy::SecretString;
use serde_json::{json, Value};
use slack_calls::domain::{CallState, EndReason, InstallationKey, TeamId, Workspace};
use slack_calls::flows::installation;
use slack_calls::slack::oauth::{Named, OAuthAccess};
use support::{assert_told_not_installed, start_call};

const TEAM_B: &str = "T0SECOND01";
const TOKEN_B: &str = "xoxb-second-workspace-token";
const CHANNEL_A: &str = "C0CHANA001";
const CHANNEL_B: &str = "C0CHANB001";
const USER_A: &str = "U0USERA001";
const USER_B: &str = "U0USERB001";
const TS: &str = "1795320000.000100";
const TS_2: &str = "1795320001.000200";

fn team(id: &str) -> TeamId {
    TeamId::parse(id).expect("a team id")
}

/// Installs the app in workspace `team_id` with its own bot token: the one place that
/// knows how an installation is made.
async fn install_workspace(world: &World, team_id: &str, token: &str) {
    world.standin.add_token(token, team_id);
    let access = OAuthAccess {
        app_id: None,
        team: Some(Named {
            id: team(team_id),
            name: None,
        }),
        enterprise: None,
        is_enterprise_install: false,
        bot_user_id: None,
        scope: "calls:write,chat:write,commands,links:read,links:write".into(),
        access_token: SecretString::from(token.to_owned()),
        refresh_token: None,
        expires_in: None,
        authed_user_id: None,
    };
    installation::install(&world.services, access)
        .await
        .expect("installation stored");
}

/// A `/call` form from `team_id`, with a response URL of that workspace.
fn form_in(
    world: &World,
    team_id: &str,
    channel: &str,
    user: &str,
    extra: &[(&str, &str)],
) -> String {
    let response_url = world.standin.new_response_url_for(channel, team_id);
    let mut fields = vec![
        ("team_id", team_id),
        ("response_url", response_url.as_str()),
    ];
    fields.extend_from_slice(extra);
    world.command_form(channel, user, &fields)
}

/// An `event_callback` delivered for workspace `team_id`'s installation.
fn event_in(world: &World, team_id: &str, event_id: &str, event: Value) -> Value {
    let mut body = world.event_callback(event_id, event);
    body["team_id"] = json!(team_id);
    body["authorizations"] = json!([{"enterprise_id": null, "team_id": team_id,
        "user_id": "U0BOT00001", "is_bot": true, "is_enterprise_install": false}]);
    body
}

/// `link_shared` for a message with `urls` posted in `channel` by `user`.
fn shared(world: &World, channel: &str, ts: &str, user: &str, urls: &[&str]) -> Value {
    world
        .standin
        .link_shared(channel, ts, urls)
        .event(user, urls)
}

/// Every Slack Web API request since the last clear was made with `token` (posts to a
/// response URL carry none: the URL is the workspace's).
fn assert_all_with(world: &World, token: &str) {
    let requests: Vec<_> = world
        .standin
        .requests()
        .into_iter()
        .filter(|request| request.method != "response_url")
        .collect();
    assert!(!requests.is_empty(), "some Slack request was expected");
    for request in requests {
        assert_eq!(
            request.token.as_deref(),
            Some(token),
            "{} used another workspace's token",
            request.method
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_workspace_reaches_neither_the_first_s_calls_nor_its_token() {
    let mut world = World::start().await;
    install_workspace(&world, TEAM_B, TOKEN_B).await;
    let token_a = world.standin.bot_token().to_owned();
    let a = start_call(&mut world, CHANNEL_A, USER_A, "A's standup").await;
    let a_before = world.call(&a.external_unique_id).await;

    // /call in B: B's own call, registered in B with B's token.
    let form = form_in(&world, TEAM_B, CHANNEL_B, USER_B, &[("text", "B's call")]);
    let answer = world.command(&form).await;
    assert_eq!(answer.status, 200, "{:?}", answer.json);
    assert_eq!(world.run_worker().await, Vec::<String>::new());
    assert_all_with(&world, TOKEN_B);
    let adds = world.standin.requests_for("calls.add");
    assert_eq!(adds.len(), 1);
    let b_id = adds[0].body["external_unique_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert_eq!(world.call(&b_id).await.team_id, team(TEAM_B));
    let in_slack = world.standin.calls_with_external_id(&b_id);
    assert_eq!(in_slack.len(), 1);
    assert_eq!(in_slack[0].team_id, TEAM_B);

    // A's join link pasted in B: a Slack call of B's for the room, unfurled with B's
    // token; A's call is not B's to show.
    world.standin.clear_requests();
    let event = shared(&world, CHANNEL_B, TS, USER_B, &[&a.join_url]);
    let answer = world
        .event(&event_in(&world, TEAM_B, "Ev0B000001", event))
        .await;
    assert_eq!(answer.status, 200, "{:?}", answer.json);
    assert_eq!(world.run_worker().await, Vec::<String>::new());
    assert_all_with(&world, TOKEN_B);
    assert_eq!(world.slack_methods(), ["calls.add", "chat.unfurl"]);
    let unfurl = &world.standin.requests_for("chat.unfurl")[0].body;
    let shown = unfurl["unfurls"][&a.join_url]["blocks"][0]["call_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert_ne!(shown, a.call_id, "not A's Slack call");
    assert_eq!(
        world.standin.call(&shown).map(|call| call.team_id),
        Some(TEAM_B.to_owned())
    );

    // call_rejected from B naming A's call, by both ids and by Slack's id alone.
    world.standin.clear_requests();
    for (event_id, external_id) in [
        ("Ev0B000002", Some(&a.external_unique_id)),
        ("Ev0B000003", None),
    ] {
        let mut rejected = json!({"type": "call_rejected", "call_id": a.call_id,
            "user_id": USER_B, "channel_id": "D0DMCHAN01"});
        if let Some(external_id) = external_id {
            rejected["external_unique_id"] = json!(external_id);
        }
        let answer = world
            .event(&event_in(&world, TEAM_B, event_id, rejected))
            .await;
        assert_eq!(answer.status, 200, "{:?}", answer.json);
    }
    assert_eq!(world.run_worker().await, Vec::<String>::new());
    assert!(
        world.standin.requests().is_empty(),
        "{:?}",
        world.slack_methods()
    );
    let a_now = world.call(&a.external_unique_id).await;
    assert_eq!(a_now.state, CallState::Active);
    assert!(a_now.rejections.is_empty(), "{:?}", a_now.rejections);
    assert_eq!(a_now.slack_call_id, a_before.slack_call_id);

    // B uninstalls: B's installation only; A still starts calls with A's token.
    let answer = world
        .event(&event_in(
            &world,
            TEAM_B,
            "Ev0B000004",
            json!({"type": "app_uninstalled"}),
        ))
        .await;
    assert_eq!(answer.status, 200);
    assert_eq!(world.run_worker().await, Vec::<String>::new());
    let store = world.services.store.clone();
    let installation = |team_id: &str| {
        let store = store.clone();
        let team_id = team(team_id);
        async move {
            store
                .get_installation(&InstallationKey::Team(team_id))
                .await
                .expect("store")
        }
    };
    // Uninstalling deletes B's installation, tokens and all.
    assert!(installation(TEAM_B).await.is_none());
    // B's live calls are ended with it, unannounced: the provider's events for them
    // change nothing and reach no Slack.
    let b_call = world.call(&b_id).await;
    assert_eq!(b_call.state, CallState::Ended);
    assert_eq!(b_call.end_reason, Some(EndReason::Uninstalled));
    world.standin.clear_requests();
    let answer = world
        .provider(
            &json!({"type": "participant.joined", "external_unique_id": b_id,
                           "participant": {"external_id": "guest-1", "display_name": "Guest"}}),
        )
        .await;
    assert_eq!(answer.status, 202, "{:?}", answer.json);
    assert_eq!(answer.json["results"][0]["status"], "ignored");
    assert_eq!(world.run_worker().await, Vec::<String>::new());
    assert!(
        world.standin.requests().is_empty(),
        "{:?}",
        world.slack_methods()
    );
    let a_team = world.standin.team_id().to_owned();
    assert!(installation(&a_team).await.is_none_or(|i| !i.is_disabled()));
    start_call(&mut world, CHANNEL_A, USER_A, "A again").await;
    assert_eq!(
        world.call(&a.external_unique_id).await.state,
        CallState::Active,
        "A's live call is untouched"
    );
    let form = world.command_form(CHANNEL_A, USER_A, &[("text", "A once more")]);
    assert_eq!(world.command(&form).await.status, 200);
    assert_eq!(world.run_worker().await, Vec::<String>::new());
    assert_all_with(&world, &token_a);

    // B, uninstalled: told so; its events are acknowledged and ignored.
    world.standin.clear_requests();
    world.store_requests.reset();
    let form = form_in(&world, TEAM_B, CHANNEL_B, USER_B, &[]);
    let answer = world.command(&form).await;
    assert_told_not_installed(&mut world, &answer).await;
    let event = shared(&world, CHANNEL_B, TS_2, USER_B, &[&a.join_url]);
    let answer = world
        .event(&event_in(&world, TEAM_B, "Ev0B000005", event))
        .await;
    assert_eq!(answer.status, 200, "{:?}", answer.json);
    assert_eq!(world.run_worker().await, Vec::<String>::new());
    assert!(
        world.standin.requests().is_empty(),
        "{:?}",
        world.slack_methods()
    );
    assert!(
        !world.store_requests.calls().contains(&"record_event"),
        "nothing recorded: {:?}",
        world.store_requests.calls()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_room_pasted_in_two_workspaces_is_a_slack_call_in_each_and_the_provider_updates_both() {
    let mut world = World::start().await;
    install_workspace(&world, TEAM_B, TOKEN_B).await;
    let team_a = world.standin.team_id().to_owned();
    let token_a = world.standin.bot_token().to_owned();
    let url = "https://meet.example.com/shared-room";

    for (team_id, channel, ts, user, event_id) in [
        (team_a.as_str(), CHANNEL_A, TS, USER_A, "Ev0ROOMA01"),
        (TEAM_B, CHANNEL_B, TS, USER_B, "Ev0ROOMB01"),
        // Pasted again in each: the same call there, nothing new.
        (team_a.as_str(), CHANNEL_A, TS_2, USER_A, "Ev0ROOMA02"),
        (TEAM_B, CHANNEL_B, TS_2, USER_B, "Ev0ROOMB02"),
    ] {
        let event = shared(&world, channel, ts, user, &[url]);
        let answer = world
            .event(&event_in(&world, team_id, event_id, event))
            .await;
        assert_eq!(answer.status, 200, "{event_id}: {:?}", answer.json);
        assert_eq!(world.run_worker().await, Vec::<String>::new(), "{event_id}");
    }
    let mut in_slack = world.standin.calls();
    in_slack.sort_by(|x, y| x.team_id.cmp(&y.team_id));
    let teams: Vec<&str> = in_slack.iter().map(|call| call.team_id.as_str()).collect();
    let mut expected = vec![team_a.as_str(), TEAM_B];
    expected.sort();
    assert_eq!(teams, expected, "one Slack call in each workspace");
    assert!(in_slack.iter().all(|call| call.join_url == url));
    let adds = world.standin.requests_for("calls.add");
    let mut add_tokens: Vec<_> = adds.iter().filter_map(|r| r.token.clone()).collect();
    add_tokens.sort();
    let mut both = vec![token_a.clone(), TOKEN_B.to_owned()];
    both.sort();
    assert_eq!(add_tokens, both, "each registered with its own token");
    for workspace in [
        Workspace::team(team(&team_a)),
        Workspace::team(team(TEAM_B)),
    ] {
        let call = world
            .services
            .store
            .find_call_by_join_url(&workspace, url)
            .await
            .expect("store")
            .expect("a call in each workspace");
        assert!(call.room_shared, "{workspace}: marked shared");
    }

    // The provider names the room once: both calls are updated, each with its token.
    world.standin.clear_requests();
    let guest = json!({"external_id": "guest-7", "display_name": "Guest Seven"});
    let answer = world
        .provider(
            &json!({"type": "participant.joined", "external_unique_id": "shared-room",
                           "participant": guest}),
        )
        .await;
    assert_eq!(answer.status, 202, "{:?}", answer.json);
    assert_eq!(answer.json["results"][0]["status"], "applied");
    assert_eq!(world.run_worker().await, Vec::<String>::new());
    let adds = world.standin.requests_for("calls.participants.add");
    let mut tokens: Vec<_> = adds.iter().filter_map(|r| r.token.clone()).collect();
    tokens.sort();
    assert_eq!(tokens, both, "one participants.add in each workspace");
    for call in world.standin.calls() {
        assert_eq!(
            call.participants.len(),
            1,
            "{}: {:?}",
            call.team_id,
            call.participants
        );
    }

    let answer = world
        .provider(&json!({"type": "call.ended", "external_unique_id": "shared-room"}))
        .await;
    assert_eq!(answer.status, 202, "{:?}", answer.json);
    assert_eq!(world.run_worker().await, Vec::<String>::new());
    assert!(
        world.standin.calls().iter().all(|call| call.ended()),
        "the room's end ends both"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_for_another_app_are_refused_without_any_work() {
    let mut world = World::start_with(WorldOptions {
        config: vec![("SLACK_APP_ID", "A0TEST".into())],
        ..WorldOptions::default()
    })
    .await;
    let form = world.command_form(CHANNEL_A, USER_A, &[("api_app_id", "A0OTHER")]);
    let answer = world.command(&form).await;
    assert_eq!(answer.status, 403, "{:?}", answer.json);
    let event = shared(
        &world,
        CHANNEL_A,
        TS,
        USER_A,
        &["https://meet.example.com/r1"],
    );
    let mut body = world.event_callback("Ev0OTHER01", event);
    body["api_app_id"] = json!("A0OTHER");
    let answer = world.event(&body).await;
    assert_eq!(answer.status, 403, "{:?}", answer.json);
    assert_eq!(
        answer.headers.get("x-slack-no-retry").map(|v| v.as_bytes()),
        Some(&b"1"[..])
    );
    assert_eq!(world.store_requests.total(), 0, "not even a read");
    assert_eq!(world.run_worker().await, Vec::<String>::new());
    assert!(world.standin.requests().is_empty());

    // Ours: served.
    let form = world.command_form(CHANNEL_A, USER_A, &[("api_app_id", "A0TEST")]);
    let answer = world.command(&form).await;
    assert_eq!(answer.status, 200, "{:?}", answer.json);
    assert_eq!(world.run_worker().await, Vec::<String>::new());
    assert_eq!(world.standin.requests_for("calls.add").len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_org_wide_install_records_the_workspace_and_its_organisation_on_calls() {
    let mut world = World::start().await;
    let form = world.command_form(
        CHANNEL_A,
        USER_A,
        &[
            ("enterprise_id", "E0ORG00001"),
            ("is_enterprise_install", "true"),
        ],
    );
    let answer = world.command(&form).await;
    assert_eq!(answer.status, 200, "{:?}", answer.json);
    assert_eq!(world.run_worker().await, Vec::<String>::new());
    let adds = world.standin.requests_for("calls.add");
    let id = adds[0].body["external_unique_id"]
        .as_str()
        .unwrap_or_default();
    let call = world.call(id).await;
    let team_a = world.standin.team_id().to_owned();
    let org_workspace = Workspace {
        team_id: team(&team_a),
        enterprise_id: Some("E0ORG00001".parse().expect("an enterprise id")),
        is_enterprise_install: true,
    };
    assert_eq!(call.workspace(), org_workspace);

    // An event through the org's installation: no team in `authorizations`, the
    // workspace's team on the event.
    let event = shared(
        &world,
        CHANNEL_A,
        TS,
        USER_A,
        &["https://meet.example.com/org-room"],
    );
    let mut body = world.event_callback("Ev0ORG0001", event);
    body["enterprise_id"] = json!("E0ORG00001");
    body["authorizations"] = json!([{"enterprise_id": "E0ORG00001", "team_id": null,
        "user_id": "U0BOT00001", "is_bot": true, "is_enterprise_install": true}]);
    let answer = world.event(&body).await;
    assert_eq!(answer.status, 200, "{:?}", answer.json);
    assert_eq!(world.run_worker().await, Vec::<String>::new());
    assert_eq!(world.call("org-room").await.workspace(), org_workspace);
}
