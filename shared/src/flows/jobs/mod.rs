//! The worker's flow: run one job from the outbox, idempotently.
//!
//! Progress is recorded on the call as Slack confirms it, so a job run twice (stream
//! redelivery, a retry after a crash) never registers, posts or ends twice. Every job
//! ends `done`, `failed(reason)`, or is retried a bounded number of times. This file
//! holds the bookkeeping; each job kind has a file of its own.
//!
//! Store requests per run: a job that must run alone is claimed (one conditional
//! write, no read; the stream delivers the job itself); a sync is not (see
//! [`JobKind::needs_lease`]). The run's last confirmations are written with the job's
//! end, in one request; earlier ones only where repeating a Slack request would show
//! twice (a registration, a posted message).

use crate::domain::{Call, Job, JobKind, Lease, Rejection, SlackAcks};
use crate::metrics;
use crate::store::{modify_call_from, JobClaim, StoreError};

use super::Services;
use ending::{record_end, End};
use outcome::StepError;

mod call_block;
mod ending;
mod failure_notice;
mod notify;
mod outcome;
mod participants;
mod register;
mod registration;
mod reject;
mod sync;
mod unfurl;
mod uninstall;

/// Runs of one job before it is given up (the stream retries failed records too, but
/// the count on the job is what bounds the work).
pub const MAX_JOB_ATTEMPTS: u32 = 5;

/// How long a run holds its job: longer than a run takes (Slack retries stay within
/// about 20 s a call), shorter than the worker's 120 s timeout, so the redelivery
/// after a crashed invocation finds the job free.
pub const JOB_LEASE_SECONDS: i64 = 90;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobOutcome {
    /// Finished now or earlier.
    Done,
    /// Finished without success, for the stated reason; not retried.
    Failed(String),
    /// Could not finish now; the caller runs it again later.
    Retry(String),
    /// Not run to its end now, and no failure either: the call's reconciliation has the
    /// sweep enqueue the work again when it is due (Slack's `Retry-After`, another run
    /// holding the job). The caller does not run it again.
    Deferred(String),
}

/// What a run has come to know: the call it works on, as last read or written, and
/// what Slack confirmed that is not recorded on that call yet.
#[derive(Debug, Default)]
pub(super) struct Progress {
    pub(super) call: Option<Call>,
    pub(super) acks: SlackAcks,
    /// The call block was posted in this run (its latency is measured).
    pub(super) posted_block: bool,
}

impl Progress {
    /// The call with the confirmations so far applied: what Slack shows now.
    pub(super) fn call_as_shown(&self) -> Option<Call> {
        let mut call = self.call.clone()?;
        self.acks.apply(&mut call);
        Some(call)
    }

    /// Writes the confirmations so far now, before a step that must not be repeated
    /// once done (its record is then safe even if a later step fails).
    pub(super) async fn record_now(&mut self, services: &Services) -> Result<(), StoreError> {
        let Some(call) = self.call.clone() else {
            return Ok(());
        };
        if self.acks.is_empty() {
            return Ok(());
        }
        let acks = self.acks.clone();
        self.call = modify_call_from(services.store.as_ref(), call, |c| {
            acks.apply(c).then(Vec::new)
        })
        .await?;
        self.acks = SlackAcks::default();
        Ok(())
    }
}

/// Runs the job behind an outbox insert, `job` as the stream delivered it.
pub async fn run_job(job: Job, services: &Services) -> JobOutcome {
    let now = services.clock.now();
    let (mut job, lease) = if job.kind.needs_lease() {
        // Taking the lease and counting the attempt is one conditional write: of two
        // deliveries racing, one runs the job and the other sees the lease.
        let lease = Lease::new(now, JOB_LEASE_SECONDS);
        match services.store.claim_job(&job, &lease, now).await {
            Ok(JobClaim::Claimed(job)) => (job, Some(lease)),
            Ok(JobClaim::Finished(job)) => {
                tracing::debug!(job = %job.id, status = ?job.status, "job already finished");
                return JobOutcome::Done;
            }
            // Lease contention is no failed attempt: the holder finishes the job, or,
            // had it crashed, the call's repair (or the lease running out) frees it.
            Ok(JobClaim::Held(_)) if job.kind.repaired_call().is_some() => {
                return JobOutcome::Deferred("the job is running elsewhere".into())
            }
            Ok(JobClaim::Held(_)) => {
                return JobOutcome::Retry("the job is running elsewhere".into())
            }
            Ok(JobClaim::Missing) => {
                tracing::warn!(job = %job.id, "job not found; nothing to do");
                return JobOutcome::Done;
            }
            Err(error) => return JobOutcome::Retry(error.to_string()),
        }
    } else {
        (job, None)
    };
    let span =
        tracing::info_span!("job", job = %job.id, kind = job.kind.name(), attempt = job.attempts);
    let _guard = span.enter();

    // Runs counted across the sweep's repairs too (a repair's job starts at its round),
    // so a registration that keeps failing ends here, and its starter is told.
    if job.is_out_of_attempts(MAX_JOB_ATTEMPTS) {
        metrics::emit(metrics::job_given_up(job.kind.name()));
        outcome::give_up(&job, services).await;
        let end = End::Failed("too many attempts".into());
        return record_end(services, &mut job, lease.as_ref(), end, Progress::default()).await;
    }

    let mut progress = Progress::default();
    let end = match execute(&job, services, &mut progress).await {
        Ok(()) => {
            tracing::info!("job done");
            End::Done
        }
        Err(StepError::Fail(reason)) => {
            tracing::warn!(%reason, "job failed");
            End::Failed(reason)
        }
        Err(StepError::Retry(reason)) => {
            tracing::warn!(%reason, "job will be retried");
            End::Retry(reason)
        }
        // Slack asked for a wait longer than a run can: the call's repair comes back
        // then, instead of the stream's immediate retries.
        Err(StepError::RetryAfter(reason, wait))
            if job.kind.repaired_call().is_some() && progress.call.is_some() =>
        {
            let until = services.clock.now() + i64::try_from(wait.as_secs()).unwrap_or(i64::MAX);
            tracing::warn!(%reason, until, "job deferred to the call's repair");
            End::Defer { reason, until }
        }
        Err(StepError::RetryAfter(reason, _)) => {
            tracing::warn!(%reason, "job will be retried");
            End::Retry(reason)
        }
    };
    observe(&job, &progress, services);
    let kind = job.kind.name();
    let outcome = record_end(services, &mut job, lease.as_ref(), end.clone(), progress).await;
    match (&end, &outcome) {
        (End::Retry(_), JobOutcome::Failed(_)) => metrics::emit(metrics::job_given_up(kind)),
        (_, JobOutcome::Retry(_)) => metrics::emit(metrics::job_retried(kind)),
        _ => {}
    }
    outcome
}

/// Metrics of what Slack confirmed in this run.
fn observe(job: &Job, progress: &Progress, services: &Services) {
    let Some(call) = &progress.call else {
        return;
    };
    if progress.acks.ended {
        metrics::emit(metrics::call_ended(&call.team_id));
    }
    if let (true, Some(enqueued_at_ms)) = (progress.posted_block, job.enqueued_at_ms) {
        let after = services.clock.now_millis().saturating_sub(enqueued_at_ms);
        let after = std::time::Duration::from_millis(u64::try_from(after).unwrap_or(0));
        metrics::emit(metrics::call_block_posted(after, &call.team_id));
    }
}

/// Runs the stored job `job_id` (a local worker hears of ids only).
pub async fn run_stored_job(job_id: &str, services: &Services) -> JobOutcome {
    match services.store.get_job(job_id).await {
        Ok(Some(job)) if job.is_finished() => JobOutcome::Done,
        Ok(Some(job)) => run_job(job, services).await,
        Ok(None) => {
            tracing::warn!(job = job_id, "job not found; nothing to do");
            JobOutcome::Done
        }
        Err(error) => JobOutcome::Retry(error.to_string()),
    }
}

async fn execute(job: &Job, services: &Services, progress: &mut Progress) -> Result<(), StepError> {
    match &job.kind {
        JobKind::RegisterCall { external_unique_id } => {
            register::register_call(external_unique_id, &job.id, services, progress).await
        }
        JobKind::SyncCall {
            external_unique_id,
            participants,
            written_at,
        } => {
            let scope = participants::Scope::Named(participants, *written_at);
            sync::sync_call(external_unique_id, scope, services, progress).await
        }
        JobKind::RejectCall {
            slack_call_id,
            external_unique_id,
            user_id,
            channel_id,
            rejected_at,
            workspace,
        } => {
            let rejection = Rejection {
                user_id: user_id.clone(),
                channel_id: channel_id.clone(),
                at: *rejected_at,
            };
            reject::reject_call(
                slack_call_id,
                external_unique_id.as_ref(),
                workspace.as_ref(),
                rejection,
                services,
            )
            .await
        }
        JobKind::Unfurl {
            workspace,
            channel,
            message_ts,
            unfurl_id,
            source,
            user_id,
            links,
        } => {
            let share = unfurl::Share {
                workspace,
                channel: channel.as_ref(),
                message_ts,
                unfurl_id: unfurl_id.as_deref(),
                source: *source,
                user_id,
                links,
                job_id: &job.id,
            };
            unfurl::unfurl(share, services).await
        }
        JobKind::NotifyProvider { payload, .. } => notify::notify_provider(payload, services).await,
        JobKind::DisableInstallation { workspace, reason } => {
            uninstall::disable_installation(workspace, reason, services).await
        }
    }
}
