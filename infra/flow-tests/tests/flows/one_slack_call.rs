//! At most one Slack call per meeting: a registration and an unfurl of the same room
//! racing add one Slack call, and a Slack call whose id could not be recorded is ended,
//! never left ongoing.

use std::time::Duration;

use flow_tests::world::World;
use slack_standin::Fault;

use crate::support::run_worker_keeping_failures;

const CHANNEL: &str = "C0CHAN0001";
const CREATOR: &str = "U0USER0001";
const SHARER: &str = "U0USER0002";
const TS: &str = "1795320000.000100";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registration_and_an_unfurl_of_its_room_racing_add_one_slack_call() {
    let mut world = World::start().await;
    let form = world.command_form(CHANNEL, CREATOR, &[("text", "Race")]);
    assert_eq!(world.command(&form).await.status, 200);
    let register = world.stream_records().await;
    assert_eq!(register.len(), 1, "the register job");
    let live = world
        .services
        .store
        .list_live_calls()
        .await
        .expect("live calls");
    assert_eq!(live.len(), 1);
    let call = &live[0];
    let join_url = call.join_url.clone();

    let shared = world.standin.link_shared(CHANNEL, TS, &[&join_url]);
    let event = world.event_callback("Ev0RACE0001", shared.event(SHARER, &[&join_url]));
    assert_eq!(world.event(&event).await.status, 200);
    let unfurl = world.stream_records().await;
    assert_eq!(unfurl.len(), 1, "the unfurl job");

    // Slack is slow to answer calls.add: both jobs are inside registration at once.
    world.standin.inject(
        Fault::on("calls.add")
            .latency(Duration::from_millis(400))
            .times(2),
    );
    let (register_failed, unfurl_failed) = tokio::join!(
        world.deliver(register.clone()),
        world.deliver(unfurl.clone())
    );
    assert_eq!(register_failed, Vec::<String>::new());
    assert_eq!(unfurl_failed, Vec::<String>::new());
    assert_eq!(world.run_worker().await, Vec::<String>::new());

    assert_eq!(
        world.standin.requests_for("calls.add").len(),
        1,
        "one calls.add"
    );
    let in_slack = world
        .standin
        .calls_with_external_id(call.external_unique_id.as_str());
    assert_eq!(in_slack.len(), 1, "one Slack call");
    assert!(world.standin.requests_for("calls.end").is_empty());
    let stored = world.call(&call.external_unique_id).await;
    assert_eq!(
        stored.slack_call_id.as_ref().map(|id| id.as_str()),
        Some(in_slack[0].id.as_str())
    );
    assert_eq!(stored.registration_claim, None);
    let unfurled = world.standin.requests_for("chat.unfurl");
    assert_eq!(unfurled.len(), 1);
    assert_eq!(
        unfurled[0].body["unfurls"][&join_url]["blocks"][0]["call_id"],
        in_slack[0].id.as_str(),
        "the unfurl shows the one Slack call"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slack_call_whose_id_could_not_be_recorded_is_ended_and_the_call_registered_once() {
    let mut world = World::start().await;
    let form = world.command_form(CHANNEL, CREATOR, &[("text", "Lost id")]);
    assert_eq!(world.command(&form).await.status, 200);
    // The register job's first call write claims the registration; its second, which
    // records Slack's id, fails.
    world.store_requests.fail_update_call(2);
    let failed = run_worker_keeping_failures(&mut world).await;
    assert_eq!(failed.len(), 1, "the register job is retried");
    let adds = world.standin.requests_for("calls.add");
    assert_eq!(adds.len(), 1);
    let external_unique_id = adds[0].body["external_unique_id"]
        .as_str()
        .expect("external id")
        .to_owned();
    let first = world.standin.calls_with_external_id(&external_unique_id);
    assert_eq!(first.len(), 1);
    assert!(
        first[0].date_end.is_some(),
        "the unrecorded Slack call is ended"
    );

    assert_eq!(world.deliver(failed).await, Vec::<String>::new());
    assert_eq!(world.run_worker().await, Vec::<String>::new());
    let in_slack = world.standin.calls_with_external_id(&external_unique_id);
    assert_eq!(in_slack.len(), 2, "added again by the retry");
    let ongoing: Vec<_> = in_slack.iter().filter(|c| c.date_end.is_none()).collect();
    assert_eq!(
        ongoing.len(),
        1,
        "one Slack call left ongoing: {in_slack:?}"
    );
    let stored = world.call(&external_unique_id).await;
    assert_eq!(
        stored.slack_call_id.as_ref().map(|id| id.as_str()),
        Some(ongoing[0].id.as_str())
    );
    assert!(stored.discarded_slack_call_ids.is_empty());
    assert_eq!(stored.registration_claim, None);
    assert!(
        stored.block_posted,
        "the retry went on to post the call block"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slack_call_added_after_the_claim_lapsed_is_ended_even_when_the_end_fails_first() {
    let mut world = World::start().await;
    let form = world.command_form(CHANNEL, CREATOR, &[("text", "Lapse")]);
    assert_eq!(world.command(&form).await.status, 200);
    let register = world.stream_records().await;
    let live = world
        .services
        .store
        .list_live_calls()
        .await
        .expect("live calls");
    let external_unique_id = live[0].external_unique_id.clone();
    let join_url = live[0].join_url.clone();
    let shared = world.standin.link_shared(CHANNEL, TS, &[&join_url]);
    let event = world.event_callback("Ev0LAPSE001", shared.event(SHARER, &[&join_url]));
    assert_eq!(world.event(&event).await.status, 200);
    let unfurl = world.stream_records().await;
    assert_eq!((register.len(), unfurl.len()), (1, 1));

    // The registration's calls.add is slow; meanwhile its claim lapses and the unfurl
    // takes over. Ending the surplus Slack call fails at first.
    world.standin.inject(
        Fault::on("calls.add")
            .latency(Duration::from_millis(600))
            .times(1),
    );
    world
        .standin
        .inject(Fault::on("calls.end").http_status(500));
    let (register_failed, unfurl_failed) = tokio::join!(world.deliver(register.clone()), async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        world.clock.advance(120);
        world.deliver(unfurl.clone()).await
    });
    assert_eq!(
        world.standin.requests_for("calls.add").len(),
        2,
        "both added"
    );
    let stored = world.call(&external_unique_id).await;
    assert_eq!(stored.discarded_slack_call_ids.len(), 1, "{stored:?}");
    let discarded = stored.discarded_slack_call_ids[0].clone();
    assert_ne!(stored.slack_call_id.as_ref(), Some(&discarded));
    let retried: Vec<_> = [(register, register_failed), (unfurl, unfurl_failed)]
        .into_iter()
        .filter(|(_, failed)| !failed.is_empty())
        .flat_map(|(records, _)| records)
        .collect();
    assert_eq!(retried.len(), 1, "the job that lost is retried");

    world.standin.clear_faults();
    assert_eq!(world.deliver(retried).await, Vec::<String>::new());
    assert_eq!(world.run_worker().await, Vec::<String>::new());
    let stored = world.call(&external_unique_id).await;
    assert!(stored.discarded_slack_call_ids.is_empty());
    let in_slack = world
        .standin
        .calls_with_external_id(external_unique_id.as_str());
    assert_eq!(in_slack.len(), 2);
    for call in &in_slack {
        let ours = stored.slack_call_id.as_ref().map(|id| id.as_str()) == Some(call.id.as_str());
        assert_eq!(
            call.date_end.is_none(),
            ours,
            "only ours is ongoing: {in_slack:?}"
        );
    }
    assert_eq!(
        in_slack
            .iter()
            .find(|c| c.id == discarded.as_str())
            .map(|c| c.date_end.is_some()),
        Some(true)
    );
}
