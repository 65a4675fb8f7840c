//! How a run's end is recorded on its job: with the run's last confirmations on the
//! call in the same request, or, when either was written meanwhile, each on its own
//! from a fresh copy.

use crate::domain::{Call, Job, JobKind, JobStatus, Lease, UnixSeconds};
use crate::flows::Services;
use crate::store::{modify_call, StoreError};

use super::{JobOutcome, Progress, MAX_JOB_ATTEMPTS};

/// How a run ended.
#[derive(Debug, Clone)]
pub(super) enum End {
    Done,
    Failed(String),
    Retry(String),
    /// Handed to the call's repair, due no earlier than `until`.
    Defer {
        reason: String,
        until: UnixSeconds,
    },
}

impl End {
    /// Records on `call` what the end asks of it: a deferral pushes its repair out.
    fn apply_to_call(&self, call: &mut Call) -> bool {
        match self {
            End::Defer { until, .. } => call.defer_repair(*until),
            _ => false,
        }
    }
}

/// Applies the run's end to `job`; what the caller is told.
fn apply_end(job: &mut Job, end: &End, leased: bool) -> JobOutcome {
    if !leased {
        job.count_unleased_attempt();
    }
    match end {
        End::Done => {
            job.finish(JobStatus::Done, None);
            JobOutcome::Done
        }
        End::Failed(reason) => {
            job.finish(JobStatus::Failed, Some(reason.clone()));
            JobOutcome::Failed(reason.clone())
        }
        // A run without a lease counts its attempt at its end: the last allowed one
        // ends the job.
        End::Retry(_) if !leased && job.attempts >= MAX_JOB_ATTEMPTS => {
            let reason = "too many attempts".to_owned();
            job.finish(JobStatus::Failed, Some(reason.clone()));
            JobOutcome::Failed(reason)
        }
        // The job is over; the call's needs-sync marker brings the work back.
        End::Defer { reason, until } => {
            job.finish(
                JobStatus::Failed,
                Some(format!(
                    "deferred to the call's repair (not before {until}): {reason}"
                )),
            );
            JobOutcome::Deferred(reason.clone())
        }
        End::Retry(reason) => {
            // The job stays pending, free for the next delivery; the reason helps
            // whoever looks at it later.
            job.release_for_retry(reason.clone());
            JobOutcome::Retry(reason.clone())
        }
    }
}

/// Records the job's end, with the run's last confirmations on the call in the same
/// request. When the call or the job was written meanwhile, each is written on its own
/// from a fresh copy.
pub(super) async fn record_end(
    services: &Services,
    job: &mut Job,
    lease: Option<&Lease>,
    end: End,
    progress: Progress,
) -> JobOutcome {
    let store = services.store.as_ref();
    let mut ended = job.clone();
    let outcome = apply_end(&mut ended, &end, lease.is_some());
    let last_change = progress.call.clone().and_then(|mut call| {
        let acked = progress.acks.apply(&mut call);
        (end.apply_to_call(&mut call) | acked).then_some(call)
    });
    let written = match last_change {
        Some(mut call) => store.update_call_and_job(&mut call, &mut ended, &[]).await,
        None => store.update_job(&mut ended).await,
    };
    let result = match written {
        Ok(()) => {
            *job = ended;
            return outcome;
        }
        Err(StoreError::Conflict) => record_separately(services, job, lease, &end, &progress).await,
        Err(error) => Err(error),
    };
    match result {
        Ok(fresh) => fresh.unwrap_or(outcome),
        // A run to retry is retried either way; a rerun finds what is left, if anything.
        Err(_) if matches!(outcome, JobOutcome::Retry(_)) => outcome,
        Err(error) => {
            tracing::warn!(%error, "could not record the job's end");
            JobOutcome::Retry(error.to_string())
        }
    }
}

/// The slow path of [`record_end`]: the confirmations on a fresh copy of the call,
/// then the end on a fresh copy of the job, unless another run has ended it or holds
/// it now. `Some(outcome)` when the fresh job changed what the caller is told.
async fn record_separately(
    services: &Services,
    job: &mut Job,
    lease: Option<&Lease>,
    end: &End,
    progress: &Progress,
) -> Result<Option<JobOutcome>, StoreError> {
    let store = services.store.as_ref();
    let touches_call = !progress.acks.is_empty() || matches!(end, End::Defer { .. });
    if let (Some(call), true) = (&progress.call, touches_call) {
        let now = services.clock.now();
        modify_call(store, &call.external_unique_id, |c| {
            let acked = progress.acks.apply(c);
            // The call moved on while Slack was told (a newer rename, say, whose own
            // sync may have finished first): Slack may show this run's older state, so
            // a sync follows from the state as stored now.
            let moved_on = acked && !c.pending_sync().is_empty();
            (end.apply_to_call(c) | acked).then(|| {
                moved_on
                    .then(|| Job::new(JobKind::sync_call(c.external_unique_id.clone()), now))
                    .into_iter()
                    .collect()
            })
        })
        .await?;
    }
    let Some(mut stored) = store.get_job(&job.id).await? else {
        return Ok(None);
    };
    let taken_over = lease.is_some_and(|lease| !stored.is_held_by(lease));
    if stored.is_finished() || taken_over {
        return Ok(None);
    }
    let outcome = apply_end(&mut stored, end, lease.is_some());
    store.update_job(&mut stored).await?;
    *job = stored;
    Ok(Some(outcome))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ids::id;
    use crate::domain::JobKind;

    fn job() -> Job {
        Job::new(JobKind::sync_call(id("c1")), 1_000)
    }

    #[test]
    fn a_leased_run_was_counted_when_it_started() {
        let mut leased = job();
        leased.begin_attempt(&Lease::new(1_000, 90));
        let mut done = leased.clone();
        assert_eq!(apply_end(&mut done, &End::Done, true), JobOutcome::Done);
        assert_eq!((done.attempts, done.status), (1, JobStatus::Done));
        assert_eq!(done.leased_by, None);

        let mut retried = leased;
        let outcome = apply_end(&mut retried, &End::Retry("ratelimited".into()), true);
        assert_eq!(outcome, JobOutcome::Retry("ratelimited".into()));
        assert_eq!((retried.attempts, retried.status), (1, JobStatus::Pending));
        assert_eq!(retried.last_error.as_deref(), Some("ratelimited"));
    }

    #[test]
    fn an_unleased_run_counts_at_its_end_and_the_last_allowed_one_ends_the_job() {
        let mut first = job();
        let outcome = apply_end(&mut first, &End::Retry("timeout".into()), false);
        assert_eq!(outcome, JobOutcome::Retry("timeout".into()));
        assert_eq!((first.attempts, first.status), (1, JobStatus::Pending));

        let mut last = job();
        last.attempts = MAX_JOB_ATTEMPTS - 1;
        let outcome = apply_end(&mut last, &End::Retry("timeout".into()), false);
        assert_eq!(outcome, JobOutcome::Failed("too many attempts".into()));
        assert_eq!(last.attempts, MAX_JOB_ATTEMPTS);
        assert_eq!(last.status, JobStatus::Failed);

        let mut failed = job();
        let outcome = apply_end(&mut failed, &End::Failed("gone".into()), false);
        assert_eq!(outcome, JobOutcome::Failed("gone".into()));
        assert_eq!((failed.attempts, failed.status), (1, JobStatus::Failed));
    }
}
