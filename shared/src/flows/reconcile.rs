//! Reconciliation, the sweep's first pass: every call Slack still lacks something for
//! (registration, call block, participants, details, end, a failure notice) whose
//! repair is due gets its job enqueued again, with backoff ([`Call::start_repair`]). A
//! query of the sparse needs-sync index, then one read and one write per due call.

use crate::domain::{Call, Job, JobKind, RepairJob};
use crate::store::{modify_call, StoreError};

use super::jobs::MAX_JOB_ATTEMPTS;
use super::Services;

/// Repairs one sweep enqueues at most, the most overdue first (the index's order): each
/// is a read and a write, and the sweep must end well within the worker's timeout. The
/// rest are due still, for the next sweep.
pub const MAX_REPAIRS_PER_SWEEP: usize = 500;

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RepairReport {
    /// Calls whose repair was due (some may be left for the next sweep).
    pub due: usize,
    /// Jobs enqueued for them.
    pub queued: usize,
    /// Calls that could not be repaired this time (store errors); the next sweep retries.
    pub errors: usize,
}

/// Enqueues the job of every call whose repair is due now.
pub async fn repair_due_calls(services: &Services) -> Result<RepairReport, StoreError> {
    let now = services.clock.now();
    let due = services.store.calls_due_for_sync(now).await?;
    let mut report = RepairReport {
        due: due.len(),
        ..RepairReport::default()
    };
    if due.len() > MAX_REPAIRS_PER_SWEEP {
        tracing::warn!(due = due.len(), "more repairs due than one sweep makes");
    }
    for external_unique_id in due.into_iter().take(MAX_REPAIRS_PER_SWEEP) {
        let mut queued = None;
        // The index is eventually consistent and another sweep may run: the call as
        // read decides, and the write is conditional on its version.
        let outcome = modify_call(services.store.as_ref(), &external_unique_id, |call| {
            queued = None;
            let job = repair_job(call, now)?;
            queued = Some((job.kind.name(), call.reconciliation.rounds));
            Some(vec![job])
        })
        .await;
        match (outcome, queued) {
            (Ok(_), Some((kind, round))) => {
                tracing::info!(call = %external_unique_id, kind, round, "repair enqueued");
                report.queued += 1;
            }
            (Ok(_), None) => {}
            (Err(error), _) => {
                tracing::warn!(%error, call = %external_unique_id, "sweep could not repair a call");
                report.errors += 1;
            }
        }
    }
    Ok(report)
}

/// Starts a repair round of `call` if one is due, and the job that does it.
fn repair_job(call: &mut Call, now: i64) -> Option<Job> {
    let kind = call.start_repair(now)?;
    let external_unique_id = call.external_unique_id.clone();
    let mut job = match kind {
        RepairJob::Register => Job::new(JobKind::RegisterCall { external_unique_id }, now),
        RepairJob::Sync => Job::new(JobKind::sync_call(external_unique_id), now),
    };
    if kind == RepairJob::Register {
        // A registration's runs count across rounds (the first job and every round
        // before this one ran at least once), so one that keeps failing reaches its last
        // attempt and gives up, telling its starter. A sync never gives up on the call:
        // its end must reach Slack however long Slack is away.
        job.attempts = call.reconciliation.rounds.min(MAX_JOB_ATTEMPTS);
    }
    Some(job)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ids::id;
    use crate::domain::{CallKind, NewCall, Workspace};

    fn registering() -> Call {
        Call::new(
            NewCall {
                external_unique_id: id("c1"),
                workspace: Workspace::team(id("T1")),
                channel_id: Some(id("C1")),
                created_by: id("U1"),
                kind: CallKind::Video,
                title: None,
                join_url: "https://meet.example/c1".into(),
                desktop_join_url: None,
                external_display_id: None,
                response_url: Some("https://hooks.example/1".into()),
            },
            1_000,
        )
    }

    #[test]
    fn a_registration_that_keeps_failing_reaches_its_last_attempt() {
        let mut call = registering();
        let mut now = 1_000;
        assert!(repair_job(&mut call, now).is_none(), "not due yet");
        let mut attempts = Vec::new();
        for _ in 0..7 {
            now = call.sync_due_at().unwrap_or_default();
            let job = repair_job(&mut call, now).expect("due");
            assert!(matches!(job.kind, JobKind::RegisterCall { .. }));
            attempts.push(job.attempts);
        }
        assert_eq!(attempts, [1, 2, 3, 4, 5, 5, 5]);
        // Its first run counts one more: past the limit, it gives up.
        let mut last = Job::new(
            JobKind::RegisterCall {
                external_unique_id: id("c1"),
            },
            now,
        );
        last.attempts = MAX_JOB_ATTEMPTS;
        last.count_unleased_attempt();
        assert!(last.is_out_of_attempts(MAX_JOB_ATTEMPTS));
    }

    #[test]
    fn a_sync_repair_starts_a_fresh_job() {
        let mut call = registering();
        call.mark_registered(id("R1"));
        call.acknowledge_block_posted();
        call.end(crate::domain::EndReason::Provider, 2_000, None);
        for _ in 0..7 {
            let now = call.sync_due_at().unwrap_or_default();
            let job = repair_job(&mut call, now).expect("due");
            assert!(matches!(job.kind, JobKind::SyncCall { .. }));
            assert_eq!(job.attempts, 0);
        }
    }
}
