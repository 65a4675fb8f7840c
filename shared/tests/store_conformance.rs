//! One suite, two adapters: the embedded store and the DynamoDB store (on DynamoDB
//! Local, each test on a fresh table made from `template.yaml`). Both must behave the
//! same, so the flow suite (`infra/flow-tests`), which runs on the embedded store by
//! default, holds on DynamoDB too (`./infra/test.sh` also runs it there).
//!
//! Plain `cargo test` runs the embedded half; the DynamoDB half needs the emulators and
//! is built only by `./infra/test.sh` (testkit's `emulators` feature).

mod support;

use std::sync::Arc;

use slack_calls::domain::installation::{Sealed, SealedCredentials};
use slack_calls::domain::OAuthState;
use slack_calls::domain::{
    CallState, CallUser, EndReason, EventReceipt, ExternalId, InstallationKey, Job, JobStatus,
    Lease, Participant, Rejection, Workspace,
};
use slack_calls::store::{
    modify_call, modify_call_from, CallStore, JobClaim, ReceiptOutcome, StoreError,
};

use support::*;

/// The workspace of [`new_call`]'s calls.
fn ours() -> Workspace {
    Workspace::team(id("T0001"))
}

macro_rules! conformance_suite {
    ($adapter:ident, $store:expr) => {
        mod $adapter {
            use super::*;

            conformance_suite!(@cases $store;
                create_once,
                absent_items_are_none_and_cannot_be_updated,
                stale_update_conflicts_and_writes_nothing,
                concurrent_modifications_all_survive,
                modify_call_skips_when_nothing_changes,
                lookups_by_slack_id_and_join_url,
                reused_join_url_finds_the_live_call,
                join_url_lookups_are_scoped_by_workspace,
                live_listing_follows_state_and_creation_order,
                live_listing_spans_pages,
                calls_due_for_sync_follow_what_slack_lacks,
                event_receipts_dedupe_and_drop_duplicate_jobs,
                expired_receipt_counts_as_new,
                jobs_enqueue_get_update_with_versions,
                jobs_are_claimed_by_one_run_at_a_time,
                a_call_and_a_job_are_written_together_or_not_at_all,
                a_stale_update_is_refused_even_when_identical,
                modify_call_from_tries_the_copy_in_hand,
                installations_are_versioned,
                every_call_field_round_trips,
                every_job_kind_round_trips,
                every_installation_field_round_trips,
                participants_are_written_with_their_call_at_their_versions,
                participants_are_updated_at_their_versions_all_or_nothing,
                participants_list_across_pages,
                an_oauth_state_is_taken_once,
                installations_are_keyed_by_team_or_organisation,
            );
        }
    };
    (@cases $store:expr; $($case:ident),+ $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $case() {
                let store: Arc<dyn CallStore> = $store;
                cases::$case(store).await;
            }
        )+
    };
}

conformance_suite!(
    embedded,
    Arc::new(slack_calls::store::embedded::EmbeddedStore::in_memory())
);

testkit::with_emulators! {
    conformance_suite!(dynamodb, {
        let (client, table) = testkit::dynamodb::fresh_table().await;
        Arc::new(slack_calls::store::dynamodb::DynamoStore::new(
            client, table,
        ))
    });
}

mod cases {
    use super::*;

    pub async fn create_once(store: Arc<dyn CallStore>) {
        let call = new_call(NOW);
        let job = sync_job(&call, NOW);
        store
            .create_call(&call, std::slice::from_ref(&job))
            .await
            .expect("created");
        assert_eq!(
            store.get_call(&call.external_unique_id).await.unwrap(),
            Some(call.clone())
        );
        assert_eq!(store.get_job(&job.id).await.unwrap(), Some(job));

        let mut impostor = call.clone();
        impostor.created_by = id("U9999");
        let impostor_job = sync_job(&impostor, NOW);
        let second = store
            .create_call(&impostor, std::slice::from_ref(&impostor_job))
            .await;
        assert!(
            matches!(second, Err(StoreError::AlreadyExists)),
            "{second:?}"
        );
        let without_jobs = store.create_call(&impostor, &[]).await;
        assert!(
            matches!(without_jobs, Err(StoreError::AlreadyExists)),
            "{without_jobs:?}"
        );
        assert_eq!(
            store.get_call(&call.external_unique_id).await.unwrap(),
            Some(call)
        );
        assert_eq!(
            store.get_job(&impostor_job.id).await.unwrap(),
            None,
            "a refused create enqueues nothing"
        );
    }

    pub async fn absent_items_are_none_and_cannot_be_updated(store: Arc<dyn CallStore>) {
        assert_eq!(store.get_call(&id("no-such-call")).await.unwrap(), None);
        assert_eq!(
            store.find_call_by_slack_id(&id("R404")).await.unwrap(),
            None
        );
        assert_eq!(
            store
                .find_call_by_join_url(&ours(), "https://meet.example/404")
                .await
                .unwrap(),
            None
        );
        assert_eq!(store.get_job("no-such-job").await.unwrap(), None);
        assert!(store
            .get_installation(&team_key("T404"))
            .await
            .unwrap()
            .is_none());
        assert!(store.list_live_calls().await.unwrap().is_empty());

        let mut ghost = new_call(NOW);
        let result = store.update_call(&mut ghost, &[]).await;
        assert!(matches!(result, Err(StoreError::Conflict)), "{result:?}");
        assert_eq!(ghost.version, 0, "a failed update leaves the version alone");
        let mut ghost_job = sync_job(&ghost, NOW);
        let result = store.update_job(&mut ghost_job).await;
        assert!(matches!(result, Err(StoreError::Conflict)), "{result:?}");
        let mut ghost_installation = installation("T404", "xoxb-404");
        ghost_installation.version = 3;
        let result = store.put_installation(&mut ghost_installation).await;
        assert!(matches!(result, Err(StoreError::Conflict)), "{result:?}");
        assert!(store
            .get_installation(&team_key("T404"))
            .await
            .unwrap()
            .is_none());

        let untouched = modify_call(store.as_ref(), &id("no-such-call"), |_| {
            panic!("nothing to change on an absent call")
        })
        .await
        .unwrap();
        assert_eq!(untouched, None);
    }

    pub async fn stale_update_conflicts_and_writes_nothing(store: Arc<dyn CallStore>) {
        let call = new_call(NOW);
        store.create_call(&call, &[]).await.unwrap();
        let mut first = store
            .get_call(&call.external_unique_id)
            .await
            .unwrap()
            .unwrap();
        let mut stale = first.clone();

        first.title = Some("First writer".into());
        let first_job = sync_job(&first, NOW);
        store
            .update_call(&mut first, std::slice::from_ref(&first_job))
            .await
            .unwrap();
        assert_eq!(first.version, 1);

        stale.title = Some("Stale writer".into());
        let stale_job = sync_job(&stale, NOW);
        let result = store
            .update_call(&mut stale, std::slice::from_ref(&stale_job))
            .await;
        assert!(matches!(result, Err(StoreError::Conflict)), "{result:?}");
        assert_eq!(stale.version, 0);
        let result = store.update_call(&mut stale, &[]).await;
        assert!(matches!(result, Err(StoreError::Conflict)), "{result:?}");

        assert_eq!(
            store.get_call(&call.external_unique_id).await.unwrap(),
            Some(first.clone())
        );
        assert_eq!(store.get_job(&first_job.id).await.unwrap(), Some(first_job));
        assert_eq!(
            store.get_job(&stale_job.id).await.unwrap(),
            None,
            "the stale write's job was not enqueued"
        );

        first.title = Some("First writer again".into());
        store.update_call(&mut first, &[]).await.unwrap();
        assert_eq!(first.version, 2);
        assert_eq!(
            store.get_call(&call.external_unique_id).await.unwrap(),
            Some(first)
        );
    }

    pub async fn concurrent_modifications_all_survive(store: Arc<dyn CallStore>) {
        const WRITERS: usize = 16;
        let call = new_call(NOW);
        store.create_call(&call, &[]).await.unwrap();
        let tasks: Vec<_> = (0..WRITERS)
            .map(|writer| {
                let store = store.clone();
                let call_id = call.external_unique_id.clone();
                tokio::spawn(async move {
                    modify_call(store.as_ref(), &call_id, |call| {
                        call.record_rejection(Rejection {
                            user_id: id(&format!("U{writer:04}")),
                            channel_id: id("D0001"),
                            at: NOW + 1,
                        });
                        Some(vec![sync_job(call, NOW + 1)])
                    })
                    .await
                })
            })
            .collect();
        for task in tasks {
            let written = task
                .await
                .expect("task ran")
                .expect("modify_call succeeded");
            assert!(written.is_some());
        }
        let stored = store
            .get_call(&call.external_unique_id)
            .await
            .unwrap()
            .unwrap();
        let mut present: Vec<&str> = stored
            .rejections
            .iter()
            .map(|rejection| rejection.user_id.as_str())
            .collect();
        present.sort_unstable();
        let expected: Vec<String> = (0..WRITERS).map(|writer| format!("U{writer:04}")).collect();
        assert_eq!(
            present,
            expected.iter().map(String::as_str).collect::<Vec<_>>()
        );
        assert_eq!(
            stored.version, WRITERS as u64,
            "one version per successful write"
        );
    }

    pub async fn modify_call_skips_when_nothing_changes(store: Arc<dyn CallStore>) {
        let call = new_call(NOW);
        store.create_call(&call, &[]).await.unwrap();
        let result = modify_call(store.as_ref(), &call.external_unique_id, |draft| {
            draft.title = Some("edited, then abandoned".into());
            None
        })
        .await
        .unwrap();
        assert_eq!(
            result,
            Some(call.clone()),
            "returns the stored call, not the draft"
        );
        assert_eq!(
            store.get_call(&call.external_unique_id).await.unwrap(),
            Some(call.clone())
        );

        let ended = modify_call(store.as_ref(), &call.external_unique_id, |draft| {
            draft
                .end(EndReason::Provider, NOW + 60, Some(60))
                .then(Vec::new)
        })
        .await
        .unwrap()
        .unwrap();
        assert_eq!(ended.state, CallState::Ended);
        assert_eq!(ended.version, 1);
        assert_eq!(
            store.get_call(&call.external_unique_id).await.unwrap(),
            Some(ended)
        );
    }

    pub async fn lookups_by_slack_id_and_join_url(store: Arc<dyn CallStore>) {
        let call = new_call(NOW);
        let other = new_call(NOW);
        store.create_call(&call, &[]).await.unwrap();
        store.create_call(&other, &[]).await.unwrap();
        // (An empty Slack id cannot even be asked for: `SlackCallId` refuses it.)

        let mut registered = call.clone();
        registered.mark_registered(id("R0123ABC"));
        store.update_call(&mut registered, &[]).await.unwrap();
        assert_eq!(
            store.find_call_by_slack_id(&id("R0123ABC")).await.unwrap(),
            Some(registered.clone())
        );
        assert_eq!(
            store
                .find_call_by_join_url(&ours(), &call.join_url)
                .await
                .unwrap(),
            Some(registered.clone())
        );
        assert_eq!(
            store
                .find_call_by_join_url(&ours(), &other.join_url)
                .await
                .unwrap(),
            Some(other)
        );

        let old_url = registered.join_url.clone();
        registered.update_details(None, Some(format!("{old_url}/moved")), None, None, NOW + 5);
        store.update_call(&mut registered, &[]).await.unwrap();
        assert_eq!(
            store
                .find_call_by_join_url(&ours(), &old_url)
                .await
                .unwrap(),
            None
        );
        assert_eq!(
            store
                .find_call_by_join_url(&ours(), &format!("{old_url}/moved"))
                .await
                .unwrap(),
            Some(registered)
        );
    }

    pub async fn reused_join_url_finds_the_live_call(store: Arc<dyn CallStore>) {
        let shared_url = format!(
            "https://meet.example/personal-{}",
            slack_calls::domain::ids::new_id()
        );
        let mut older_ended = new_call(NOW);
        older_ended.join_url = shared_url.clone();
        older_ended.end(EndReason::Provider, NOW + 10, None);
        let mut live = new_call(NOW + 20);
        live.join_url = shared_url.clone();
        let mut newer_ended = new_call(NOW + 30);
        newer_ended.join_url = shared_url.clone();
        newer_ended.end(EndReason::Provider, NOW + 40, None);
        for call in [&older_ended, &live, &newer_ended] {
            store.create_call(call, &[]).await.unwrap();
        }
        assert_eq!(
            store
                .find_call_by_join_url(&ours(), &shared_url)
                .await
                .unwrap(),
            Some(live.clone())
        );

        let mut ending = live.clone();
        ending.end(EndReason::Provider, NOW + 50, None);
        store.update_call(&mut ending, &[]).await.unwrap();
        assert_eq!(
            store
                .find_call_by_join_url(&ours(), &shared_url)
                .await
                .unwrap(),
            Some(newer_ended),
            "with none live, the most recently created"
        );
    }

    /// A room pasted in two workspaces is a call in each: each sees only its own,
    /// and the room's calls are all listed.
    pub async fn join_url_lookups_are_scoped_by_workspace(store: Arc<dyn CallStore>) {
        let room_url = format!(
            "https://meet.example/room-{}",
            slack_calls::domain::ids::new_id()
        );
        let mut mine = new_call(NOW);
        mine.join_url = room_url.clone();
        let mut theirs = new_call(NOW + 10);
        theirs.join_url = room_url.clone();
        theirs.team_id = id("T0002");
        theirs.enterprise_id = Some(id("E0002"));
        for call in [&mine, &theirs] {
            store.create_call(call, &[]).await.unwrap();
        }
        assert_eq!(
            store
                .find_call_by_join_url(&ours(), &room_url)
                .await
                .unwrap(),
            Some(mine.clone()),
            "not the other workspace's newer call"
        );
        let other = Workspace::team(id("T0002"));
        assert_eq!(
            store
                .find_call_by_join_url(&other, &room_url)
                .await
                .unwrap(),
            Some(theirs.clone())
        );
        assert_eq!(
            store
                .find_call_by_join_url(&Workspace::team(id("T0003")), &room_url)
                .await
                .unwrap(),
            None
        );
        let mut all = store.calls_by_join_url(&room_url).await.unwrap();
        all.sort_by_key(|call| call.created_at);
        assert_eq!(all, vec![mine, theirs]);
    }

    pub async fn live_listing_follows_state_and_creation_order(store: Arc<dyn CallStore>) {
        let newest = new_call(NOW + 300);
        let oldest = new_call(NOW + 100);
        let middle = new_call(NOW + 200);
        let mut failed = new_call(NOW + 150);
        failed.mark_failed("calls.add failed");
        for call in [&newest, &oldest, &middle, &failed] {
            store.create_call(call, &[]).await.unwrap();
        }
        let ids = |calls: Vec<slack_calls::domain::Call>| -> Vec<ExternalId> {
            calls
                .into_iter()
                .map(|call| call.external_unique_id)
                .collect()
        };
        assert_eq!(
            ids(store.list_live_calls().await.unwrap()),
            [&oldest, &middle, &newest].map(|call| call.external_unique_id.clone())
        );

        let mut active = middle.clone();
        active.mark_registered(id("R0MIDDLE"));
        store.update_call(&mut active, &[]).await.unwrap();
        let mut ended = oldest.clone();
        ended.end(EndReason::Abandoned, NOW + 400, None);
        store.update_call(&mut ended, &[]).await.unwrap();

        let live = store.list_live_calls().await.unwrap();
        assert_eq!(
            live,
            vec![active, newest],
            "ended and failed calls are not live"
        );
    }

    /// The needs-sync marker is written with the call: set while Slack lacks anything
    /// (an unregistered call, an unsent end), gone once it lacks nothing, listed when due.
    pub async fn calls_due_for_sync_follow_what_slack_lacks(store: Arc<dyn CallStore>) {
        use slack_calls::domain::repair::FIRST_REPAIR_DELAY;
        let early = new_call(NOW);
        let later = new_call(NOW + 100);
        for call in [&later, &early] {
            store.create_call(call, &[]).await.unwrap();
        }
        assert!(store
            .calls_due_for_sync(NOW + FIRST_REPAIR_DELAY - 1)
            .await
            .unwrap()
            .is_empty());
        assert_eq!(
            store
                .calls_due_for_sync(NOW + FIRST_REPAIR_DELAY)
                .await
                .unwrap(),
            std::slice::from_ref(&early.external_unique_id)
        );
        assert_eq!(
            store.calls_due_for_sync(NOW + 1_000).await.unwrap(),
            [&early, &later].map(|call| call.external_unique_id.clone()),
            "the most overdue first"
        );

        // Registered, its block posted: nothing owed, off the index.
        let mut synced = early.clone();
        synced.mark_registered(id("R0EARLY"));
        synced.acknowledge_block_posted();
        store.update_call(&mut synced, &[]).await.unwrap();
        assert_eq!(
            store.calls_due_for_sync(NOW + 1_000).await.unwrap(),
            std::slice::from_ref(&later.external_unique_id)
        );
        // Ended, and Slack not told yet: owed again, though no longer live.
        synced.end(EndReason::Provider, NOW + 2_000, None);
        store.update_call(&mut synced, &[]).await.unwrap();
        assert_eq!(
            store
                .calls_due_for_sync(NOW + 2_000 + FIRST_REPAIR_DELAY)
                .await
                .unwrap(),
            [&later, &early].map(|call| call.external_unique_id.clone())
        );
        synced.acknowledge_end();
        store.update_call(&mut synced, &[]).await.unwrap();
        assert_eq!(
            store.calls_due_for_sync(NOW + 10_000).await.unwrap(),
            std::slice::from_ref(&later.external_unique_id)
        );
    }

    /// Large calls, so the live listing exceeds what one DynamoDB page (1 MB) holds.
    pub async fn live_listing_spans_pages(store: Arc<dyn CallStore>) {
        const CALLS: i64 = 7;
        let mut created = Vec::new();
        for i in 0..CALLS {
            let mut call = new_call(NOW + i);
            call.title = Some(format!("{i:03}{}", "x".repeat(200_000)));
            store.create_call(&call, &[]).await.unwrap();
            created.push(call.external_unique_id);
        }
        let listed: Vec<ExternalId> = store
            .list_live_calls()
            .await
            .unwrap()
            .into_iter()
            .map(|call| call.external_unique_id)
            .collect();
        assert_eq!(listed, created);
    }

    pub async fn event_receipts_dedupe_and_drop_duplicate_jobs(store: Arc<dyn CallStore>) {
        let receipt = EventReceipt::new("Ev0001", NOW);
        let call = new_call(NOW);
        let first_jobs = vec![sync_job(&call, NOW), sync_job(&call, NOW)];
        assert_eq!(
            store.record_event(&receipt, &first_jobs).await.unwrap(),
            ReceiptOutcome::New
        );
        for job in &first_jobs {
            assert_eq!(store.get_job(&job.id).await.unwrap().as_ref(), Some(job));
        }

        let retry = EventReceipt::new("Ev0001", NOW + 30);
        let retry_jobs = vec![sync_job(&call, NOW + 30)];
        assert_eq!(
            store.record_event(&retry, &retry_jobs).await.unwrap(),
            ReceiptOutcome::Duplicate
        );
        assert_eq!(
            store.get_job(&retry_jobs[0].id).await.unwrap(),
            None,
            "a duplicate writes no job"
        );
        assert_eq!(
            store.record_event(&retry, &[]).await.unwrap(),
            ReceiptOutcome::Duplicate
        );

        let other = EventReceipt::new("Ev0002", NOW + 30);
        assert_eq!(
            store.record_event(&other, &[]).await.unwrap(),
            ReceiptOutcome::New
        );
        assert_eq!(
            store.record_event(&other, &[]).await.unwrap(),
            ReceiptOutcome::Duplicate
        );
    }

    pub async fn expired_receipt_counts_as_new(store: Arc<dyn CallStore>) {
        let receipt = EventReceipt::new("Ev0003", NOW);
        assert_eq!(
            store.record_event(&receipt, &[]).await.unwrap(),
            ReceiptOutcome::New
        );
        let at_expiry = EventReceipt::new("Ev0003", receipt.expires_at);
        assert_eq!(
            store.record_event(&at_expiry, &[]).await.unwrap(),
            ReceiptOutcome::Duplicate
        );
        let after_expiry = EventReceipt::new("Ev0003", receipt.expires_at + 1);
        let call = new_call(NOW);
        let job = sync_job(&call, after_expiry.received_at);
        assert_eq!(
            store
                .record_event(&after_expiry, std::slice::from_ref(&job))
                .await
                .unwrap(),
            ReceiptOutcome::New,
            "a receipt past its expiry is gone, even if TTL has not deleted it yet"
        );
        assert_eq!(store.get_job(&job.id).await.unwrap(), Some(job));
    }

    pub async fn jobs_enqueue_get_update_with_versions(store: Arc<dyn CallStore>) {
        store
            .enqueue_jobs(&[])
            .await
            .expect("nothing to enqueue is fine");
        let call = new_call(NOW);
        let jobs = vec![sync_job(&call, NOW), sync_job(&call, NOW + 1)];
        store.enqueue_jobs(&jobs).await.unwrap();
        let single = sync_job(&call, NOW + 2);
        store
            .enqueue_jobs(std::slice::from_ref(&single))
            .await
            .unwrap();
        for job in jobs.iter().chain([&single]) {
            assert_eq!(store.get_job(&job.id).await.unwrap().as_ref(), Some(job));
        }

        let mut running = store.get_job(&jobs[0].id).await.unwrap().unwrap();
        let mut stale = running.clone();
        running.attempts += 1;
        running.last_error = Some("ratelimited".into());
        store.update_job(&mut running).await.unwrap();
        assert_eq!(running.version, 1);
        running.status = JobStatus::Done;
        store.update_job(&mut running).await.unwrap();
        assert_eq!(running.version, 2);

        stale.status = JobStatus::Failed;
        let result = store.update_job(&mut stale).await;
        assert!(matches!(result, Err(StoreError::Conflict)), "{result:?}");
        assert_eq!(stale.version, 0);
        assert_eq!(
            store.get_job(&jobs[0].id).await.unwrap(),
            Some(running.clone())
        );

        // Enqueuing a job again must not reset it to pending.
        let again = store.enqueue_jobs(std::slice::from_ref(&jobs[0])).await;
        assert!(matches!(again, Err(StoreError::AlreadyExists)), "{again:?}");
        let again = store
            .enqueue_jobs(&[sync_job(&call, NOW), jobs[1].clone()])
            .await;
        assert!(matches!(again, Err(StoreError::AlreadyExists)), "{again:?}");
        assert_eq!(store.get_job(&jobs[0].id).await.unwrap(), Some(running));
    }

    pub async fn jobs_are_claimed_by_one_run_at_a_time(store: Arc<dyn CallStore>) {
        let call = new_call(NOW);
        let job = sync_job(&call, NOW);
        store
            .enqueue_jobs(std::slice::from_ref(&job))
            .await
            .unwrap();

        let first = Lease::new(NOW, 90);
        let JobClaim::Claimed(claimed) = store.claim_job(&job, &first, NOW).await.unwrap() else {
            panic!("a pending job is claimed");
        };
        let mut expected = job.clone();
        expected.begin_attempt(&first);
        expected.version = 1;
        assert_eq!(claimed, expected);
        assert_eq!(
            store.get_job(&job.id).await.unwrap(),
            Some(expected.clone())
        );

        let second = Lease::new(NOW + 10, 90);
        assert_eq!(
            store.claim_job(&job, &second, NOW + 10).await.unwrap(),
            JobClaim::Held(expected.clone()),
            "held while the first lease lasts; nothing written"
        );
        assert_eq!(store.get_job(&job.id).await.unwrap(), Some(expected));

        // The first run crashed: its lease runs out and the next run takes the job (the
        // copy it was delivered is stale: the stored job decides).
        let third = Lease::new(first.until, 90);
        let JobClaim::Claimed(retaken) = store.claim_job(&job, &third, first.until).await.unwrap()
        else {
            panic!("an expired lease frees the job");
        };
        assert_eq!(retaken.attempts, 2);
        assert!(retaken.is_held_by(&third));
        assert_eq!(retaken.version, 2);

        let mut done = retaken;
        done.finish(JobStatus::Done, None);
        store.update_job(&mut done).await.unwrap();
        let late = Lease::new(third.until + 1, 90);
        assert_eq!(
            store.claim_job(&job, &late, third.until + 1).await.unwrap(),
            JobClaim::Finished(done.clone())
        );
        assert_eq!(store.get_job(&job.id).await.unwrap(), Some(done));
        assert_eq!(
            store
                .claim_job(&sync_job(&call, NOW), &late, NOW)
                .await
                .unwrap(),
            JobClaim::Missing
        );
    }

    pub async fn a_call_and_a_job_are_written_together_or_not_at_all(store: Arc<dyn CallStore>) {
        let call = new_call(NOW);
        let job = sync_job(&call, NOW);
        store
            .create_call(&call, std::slice::from_ref(&job))
            .await
            .unwrap();

        let mut stale_call = call.clone();
        let mut changed = call.clone();
        changed.title = Some("Acknowledged".into());
        let mut ended = job.clone();
        ended.finish(JobStatus::Done, None);
        let follow_up = sync_job(&call, NOW + 1);
        store
            .update_call_and_job(&mut changed, &mut ended, std::slice::from_ref(&follow_up))
            .await
            .unwrap();
        assert_eq!((changed.version, ended.version), (1, 1));
        assert_eq!(
            store.get_call(&call.external_unique_id).await.unwrap(),
            Some(changed.clone())
        );
        assert_eq!(store.get_job(&job.id).await.unwrap(), Some(ended.clone()));
        assert_eq!(store.get_job(&follow_up.id).await.unwrap(), Some(follow_up));

        // Either one stale: nothing is written, not even the other one.
        let other_job = sync_job(&call, NOW + 2);
        store
            .enqueue_jobs(std::slice::from_ref(&other_job))
            .await
            .unwrap();
        let mut other_ended = other_job.clone();
        other_ended.finish(JobStatus::Failed, Some("boom".into()));
        stale_call.title = Some("Stale".into());
        let never = sync_job(&call, NOW + 3);
        let result = store
            .update_call_and_job(
                &mut stale_call,
                &mut other_ended,
                std::slice::from_ref(&never),
            )
            .await;
        assert!(matches!(result, Err(StoreError::Conflict)), "{result:?}");
        assert_eq!(other_ended.version, 0);
        assert_eq!(
            store.get_job(&other_job.id).await.unwrap(),
            Some(other_job.clone())
        );
        assert_eq!(store.get_job(&never.id).await.unwrap(), None);

        let mut stale_job = job.clone();
        stale_job.finish(JobStatus::Failed, Some("late".into()));
        let mut current = changed.clone();
        current.title = Some("Not written".into());
        let result = store
            .update_call_and_job(&mut current, &mut stale_job, &[])
            .await;
        assert!(matches!(result, Err(StoreError::Conflict)), "{result:?}");
        assert_eq!(
            store.get_call(&call.external_unique_id).await.unwrap(),
            Some(changed)
        );
        assert_eq!(store.get_job(&job.id).await.unwrap(), Some(ended));
    }

    /// The DynamoDB adapter recognises its own retried write by a token of the write,
    /// not by the item: a twin write from the same stale version is still a conflict.
    pub async fn a_stale_update_is_refused_even_when_identical(store: Arc<dyn CallStore>) {
        let call = new_call(NOW);
        let job = sync_job(&call, NOW);
        store
            .create_call(&call, std::slice::from_ref(&job))
            .await
            .unwrap();
        let mut first = call.clone();
        first.title = Some("Once".into());
        let mut twin = first.clone();
        store.update_call(&mut first, &[]).await.unwrap();
        let result = store.update_call(&mut twin, &[]).await;
        assert!(matches!(result, Err(StoreError::Conflict)), "{result:?}");
        assert_eq!(twin.version, 0);

        let mut done = job.clone();
        done.finish(JobStatus::Done, None);
        let mut twin = done.clone();
        store.update_job(&mut done).await.unwrap();
        let result = store.update_job(&mut twin).await;
        assert!(matches!(result, Err(StoreError::Conflict)), "{result:?}");
        assert_eq!(store.get_job(&job.id).await.unwrap(), Some(done));
        assert_eq!(
            store.get_call(&call.external_unique_id).await.unwrap(),
            Some(first)
        );
    }

    pub async fn modify_call_from_tries_the_copy_in_hand(store: Arc<dyn CallStore>) {
        let call = new_call(NOW);
        store.create_call(&call, &[]).await.unwrap();
        let append = |c: &mut slack_calls::domain::Call| {
            let title = c.title.clone().unwrap_or_default();
            c.title = Some(format!("{title}+"));
            Some(Vec::new())
        };
        let first = modify_call_from(store.as_ref(), call.clone(), append)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(first.version, 1);
        // A stale copy: the change runs again on the stored call, not on the copy.
        let second = modify_call_from(store.as_ref(), call.clone(), append)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(second.version, 2);
        assert_eq!(
            second.title,
            Some(format!("{}++", call.title.clone().unwrap_or_default()))
        );
        assert_eq!(
            store.get_call(&call.external_unique_id).await.unwrap(),
            Some(second)
        );
        let mut gone = new_call(NOW);
        gone.title = Some("never stored".into());
        assert_eq!(
            modify_call_from(store.as_ref(), gone, append)
                .await
                .unwrap(),
            None
        );
    }

    pub async fn installations_are_versioned(store: Arc<dyn CallStore>) {
        let mut installation = installation("T0100", "xoxb-first");
        store.put_installation(&mut installation).await.unwrap();
        assert_eq!(installation.version, 1);

        let mut rival = support::installation("T0100", "xoxb-rival");
        let result = store.put_installation(&mut rival).await;
        assert!(
            matches!(result, Err(StoreError::Conflict)),
            "version 0 means new: {result:?}"
        );
        assert_eq!(rival.version, 0);

        installation.credentials = Some(SealedCredentials {
            bot_token: Sealed::from_base64("c2VhbGVkLXJvdGF0ZWQ=".into()),
            refresh_token: Some(Sealed::from_base64("cmVmcmVzaC0y".into())),
            expires_at: Some(NOW + 43_200),
        });
        store.put_installation(&mut installation).await.unwrap();
        assert_eq!(installation.version, 2);
        let mut stale = installation.clone();
        stale.version = 1;
        let result = store.put_installation(&mut stale).await;
        assert!(matches!(result, Err(StoreError::Conflict)), "{result:?}");

        let stored = store
            .get_installation(&team_key("T0100"))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            installation_fields(&stored),
            installation_fields(&installation)
        );
    }

    pub async fn an_oauth_state_is_taken_once(store: Arc<dyn CallStore>) {
        let (state, _) = OAuthState::issue(NOW);
        store.put_oauth_state(&state).await.unwrap();
        let again = store.put_oauth_state(&state).await;
        assert!(matches!(again, Err(StoreError::AlreadyExists)), "{again:?}");
        assert_eq!(store.take_oauth_state("unknown0").await.unwrap(), None);

        // Two redirects with the same state at once: exactly one gets it.
        let takes = (0..4).map(|_| {
            let store = store.clone();
            let key = state.state.clone();
            tokio::spawn(async move { store.take_oauth_state(&key).await })
        });
        let mut taken = Vec::new();
        for take in takes {
            if let Some(found) = take.await.unwrap().unwrap() {
                taken.push(found);
            }
        }
        assert_eq!(
            taken,
            std::slice::from_ref(&state),
            "taken exactly once, every field back"
        );
        assert_eq!(store.take_oauth_state(&state.state).await.unwrap(), None);

        // An expired state the TTL has not removed yet is still answered (and removed):
        // the caller tells the person it expired.
        let (old, _) = OAuthState::issue(NOW - 3_600);
        store.put_oauth_state(&old).await.unwrap();
        let found = store.take_oauth_state(&old.state).await.unwrap();
        assert!(found.is_some_and(|found| found.is_expired(NOW)));
    }

    pub async fn every_call_field_round_trips(store: Arc<dyn CallStore>) {
        let call = full_call();
        store.create_call(&call, &[]).await.unwrap();
        assert_eq!(
            store.get_call(&call.external_unique_id).await.unwrap(),
            Some(call.clone())
        );

        let mut ended = call.clone();
        ended.state = CallState::Ended;
        store.update_call(&mut ended, &[]).await.unwrap();
        assert_eq!(
            store.get_call(&call.external_unique_id).await.unwrap(),
            Some(ended.clone())
        );
        assert_eq!(
            store
                .find_call_by_slack_id(ended.slack_call_id.as_ref().unwrap())
                .await
                .unwrap(),
            Some(ended)
        );

        let minimal = new_call(NOW);
        store.create_call(&minimal, &[]).await.unwrap();
        assert_eq!(
            store.get_call(&minimal.external_unique_id).await.unwrap(),
            Some(minimal)
        );
    }

    pub async fn every_job_kind_round_trips(store: Arc<dyn CallStore>) {
        let jobs = jobs_of_every_kind();
        let call = new_call(NOW);
        store.create_call(&call, &jobs[..2]).await.unwrap();
        store
            .record_event(&EventReceipt::new("Ev0004", NOW), &jobs[2..3])
            .await
            .unwrap();
        store.enqueue_jobs(&jobs[3..]).await.unwrap();
        for job in &jobs {
            assert_eq!(store.get_job(&job.id).await.unwrap().as_ref(), Some(job));
        }
        let mut updated: Job = jobs[3].clone();
        updated.status = JobStatus::Done;
        store.update_job(&mut updated).await.unwrap();
        assert_eq!(store.get_job(&updated.id).await.unwrap(), Some(updated));
    }

    pub async fn every_installation_field_round_trips(store: Arc<dyn CallStore>) {
        let mut active = installation("T0200", "xoxb-1234-5678-secret");
        store.put_installation(&mut active).await.unwrap();
        let stored = store
            .get_installation(&team_key("T0200"))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(installation_fields(&stored), installation_fields(&active));

        let mut disabled = stored;
        disabled.disable("tokens_revoked", Some("fedcba9876543210".into()), NOW + 99);
        store.put_installation(&mut disabled).await.unwrap();
        let stored = store
            .get_installation(&team_key("T0200"))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(installation_fields(&stored), installation_fields(&disabled));
        assert!(stored.credentials.is_none() && stored.is_disabled());
    }

    pub async fn installations_are_keyed_by_team_or_organisation(store: Arc<dyn CallStore>) {
        let mut team = installation("T0300", "c2VhbGVkLXRlYW0=");
        store.put_installation(&mut team).await.unwrap();
        let mut org = org_installation("E0300", "c2VhbGVkLW9yZw==");
        store.put_installation(&mut org).await.unwrap();
        let stored = store
            .get_installation(&InstallationKey::Enterprise(id("E0300")))
            .await
            .unwrap()
            .expect("the org-wide install");
        assert_eq!(installation_fields(&stored), installation_fields(&org));
        assert!(stored.is_enterprise_install && stored.team_id.is_none());

        store
            .delete_installation(&InstallationKey::Enterprise(id("E0300")))
            .await
            .unwrap();
        assert!(store
            .get_installation(&InstallationKey::Enterprise(id("E0300")))
            .await
            .unwrap()
            .is_none());
        store
            .delete_installation(&InstallationKey::Enterprise(id("E0300")))
            .await
            .expect("deleting twice is fine");
        let kept = store.get_installation(&team_key("T0300")).await.unwrap();
        assert_eq!(kept.map(|i| i.version), Some(1), "the team's is untouched");

        // Deleted, then installed again: a new item (version 0 means new).
        let mut again = org_installation("E0300", "c2VhbGVkLWFnYWlu");
        store.put_installation(&mut again).await.unwrap();
        assert_eq!(again.version, 1);
    }

    fn identities(people: &[Participant]) -> Vec<String> {
        let mut ids: Vec<String> = people.iter().map(|p| p.identity().to_owned()).collect();
        ids.sort();
        ids
    }

    pub async fn participants_are_written_with_their_call_at_their_versions(
        store: Arc<dyn CallStore>,
    ) {
        let call = new_call(NOW);
        store.create_call(&call, &[]).await.unwrap();
        let all = participants();
        let names = identities(&all);
        assert_eq!(
            store
                .get_participants(&call.external_unique_id, &names)
                .await
                .unwrap(),
            vec![],
            "none stored yet"
        );

        let mut draft = call.clone();
        draft.participant_count = 3;
        let mut people = all.clone();
        let job = sync_job(&call, NOW);
        store
            .update_call_and_participants(&mut draft, &mut people, std::slice::from_ref(&job))
            .await
            .unwrap();
        assert_eq!(draft.version, 1);
        assert!(people.iter().all(|p| p.version == 1));
        let mut stored = store
            .get_participants(&call.external_unique_id, &names)
            .await
            .unwrap();
        stored.sort_by(|a, b| a.identity().cmp(b.identity()));
        let mut expected = people.clone();
        expected.sort_by(|a, b| a.identity().cmp(b.identity()));
        assert_eq!(stored, expected, "every field round-trips");
        assert_eq!(store.get_job(&job.id).await.unwrap(), Some(job));
        let other = new_call(NOW);
        assert_eq!(
            store
                .get_participants(&other.external_unique_id, &names)
                .await
                .unwrap(),
            vec![],
            "participants belong to their call"
        );

        // A participant created twice, or a stale call: nothing of the write lands.
        let mut again = draft.clone();
        let mut twice = vec![all[0].clone()];
        let stale_job = sync_job(&call, NOW + 1);
        assert!(matches!(
            store
                .update_call_and_participants(
                    &mut again,
                    &mut twice,
                    std::slice::from_ref(&stale_job)
                )
                .await,
            Err(StoreError::Conflict)
        ));
        let mut stale_call = call.clone();
        let mut fresh = vec![Participant::new(CallUser::Slack {
            slack_id: id("U0009"),
        })];
        assert!(matches!(
            store
                .update_call_and_participants(&mut stale_call, &mut fresh, &[])
                .await,
            Err(StoreError::Conflict)
        ));
        assert_eq!(store.get_job(&stale_job.id).await.unwrap(), None);
        assert_eq!(
            store
                .get_participants(&call.external_unique_id, &["U0009".to_owned()])
                .await
                .unwrap(),
            vec![]
        );
        assert_eq!(
            store
                .get_call(&call.external_unique_id)
                .await
                .unwrap()
                .unwrap()
                .version,
            1
        );
        let too_many: Vec<String> = (0..=slack_calls::store::MAX_PARTICIPANTS_PER_REQUEST)
            .map(|i| format!("g{i}"))
            .collect();
        assert!(store
            .get_participants(&call.external_unique_id, &too_many)
            .await
            .is_err());
    }

    pub async fn participants_are_updated_at_their_versions_all_or_nothing(
        store: Arc<dyn CallStore>,
    ) {
        let mut call = new_call(NOW);
        store.create_call(&call, &[]).await.unwrap();
        let mut people = participants();
        store
            .update_call_and_participants(&mut call, &mut people, &[])
            .await
            .unwrap();
        let id_ = call.external_unique_id.clone();

        let mut one = vec![people[0].clone()];
        one[0].shown = None;
        store.update_participants(&id_, &mut one).await.unwrap();
        assert_eq!(one[0].version, 2);

        // people[0] is stale now: the others in the same write are not written either.
        let mut stale = people.clone();
        for p in &mut stale {
            p.refused = Some("stale write".into());
        }
        assert!(matches!(
            store.update_participants(&id_, &mut stale).await,
            Err(StoreError::Conflict)
        ));
        let stored = store
            .get_participants(&id_, &identities(&people))
            .await
            .unwrap();
        assert!(stored
            .iter()
            .all(|p| p.refused.as_deref() != Some("stale write")));
        let mut unknown = vec![Participant::new(CallUser::Slack {
            slack_id: id("U0009"),
        })];
        unknown[0].version = 1;
        assert!(matches!(
            store.update_participants(&id_, &mut unknown).await,
            Err(StoreError::Conflict)
        ));
        let mut fresh = people[1..].to_vec();
        store.update_participants(&id_, &mut fresh).await.unwrap();
        assert!(fresh.iter().all(|p| p.version == 2));
        assert_eq!(
            store.get_call(&id_).await.unwrap().unwrap().version,
            1,
            "the call is untouched"
        );
    }

    pub async fn participants_list_across_pages(store: Arc<dyn CallStore>) {
        // DynamoDB pages a query at 1 MB: 400 participants of ~3 KB each are two pages.
        const PEOPLE: usize = 400;
        let mut call = new_call(NOW);
        store.create_call(&call, &[]).await.unwrap();
        let avatar = format!("https://meet.example/a/{}.png", "x".repeat(3_000));
        let everyone: Vec<Participant> = (0..PEOPLE)
            .map(|i| {
                let mut p = Participant::new(CallUser::External {
                    external_id: format!("guest-{i:04}"),
                    display_name: format!("Guest {i}"),
                    avatar_url: Some(avatar.clone()),
                });
                p.joined(p.user.clone(), NOW);
                p
            })
            .collect();
        for chunk in everyone.chunks(slack_calls::store::MAX_PARTICIPANTS_PER_WRITE) {
            let mut chunk = chunk.to_vec();
            store
                .update_call_and_participants(&mut call, &mut chunk, &[])
                .await
                .unwrap();
        }
        let listed = store
            .list_participants(&call.external_unique_id)
            .await
            .unwrap();
        assert_eq!(identities(&listed), identities(&everyone));
        assert!(listed.iter().all(|p| p.present && p.version == 1));
        assert_eq!(
            store
                .list_participants(&new_call(NOW).external_unique_id)
                .await
                .unwrap(),
            vec![]
        );
    }
}
