//! The worker's flow: run one job from the outbox, idempotently.
//!
//! Progress is recorded on the call after every Slack call that succeeds, so a job run
//! twice (stream redelivery, a retry after a crash) never registers, posts or ends
//! twice. Every job ends `done`, `failed(reason)`, or is retried a bounded number of
//! times. This file holds the bookkeeping; each job kind has a file of its own.

use crate::domain::{Job, JobKind, JobStatus, Rejection};

use super::Services;
use outcome::StepError;

mod call_block;
mod notify;
mod outcome;
mod register;
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
}

pub async fn run_job(job_id: &str, services: &Services) -> JobOutcome {
    let mut job = match services.store.get_job(job_id).await {
        Ok(Some(job)) => job,
        Ok(None) => {
            tracing::warn!(job = job_id, "job not found; nothing to do");
            return JobOutcome::Done;
        }
        Err(error) => return JobOutcome::Retry(error.to_string()),
    };
    if job.is_finished() {
        tracing::debug!(job = job_id, status = ?job.status, "job already finished");
        return JobOutcome::Done;
    }

    let now = services.clock.now();
    if job.is_leased(now) {
        return JobOutcome::Retry("the job is running elsewhere".into());
    }
    // Taking the lease and counting the attempt is one conditional write: of two
    // deliveries racing, one runs the job and the other sees a conflict or the lease.
    job.begin_attempt(now, JOB_LEASE_SECONDS);
    if let Err(error) = services.store.update_job(&mut job).await {
        return JobOutcome::Retry(error.to_string());
    }
    let span =
        tracing::info_span!("job", job = %job.id, kind = job.kind.name(), attempt = job.attempts);
    let _guard = span.enter();

    if job.is_out_of_attempts(MAX_JOB_ATTEMPTS) {
        outcome::give_up(&job, services).await;
        return finish(
            &mut job,
            services,
            JobStatus::Failed,
            Some("too many attempts".into()),
        )
        .await;
    }

    match execute(&job.kind, services).await {
        Ok(()) => {
            tracing::info!("job done");
            finish(&mut job, services, JobStatus::Done, None).await
        }
        Err(StepError::Fail(reason)) => {
            tracing::warn!(%reason, "job failed");
            finish(&mut job, services, JobStatus::Failed, Some(reason)).await
        }
        Err(StepError::Retry(reason)) => {
            tracing::warn!(%reason, "job will be retried");
            job.release_for_retry(reason.clone());
            // Best effort: the lease would lapse anyway, and the reason helps whoever
            // looks at the job later.
            let _ = services.store.update_job(&mut job).await;
            JobOutcome::Retry(reason)
        }
    }
}

/// Ends the job and records it.
async fn finish(
    job: &mut Job,
    services: &Services,
    status: JobStatus,
    reason: Option<String>,
) -> JobOutcome {
    job.finish(status, reason.clone());
    if let Err(error) = services.store.update_job(job).await {
        // The work is done; recording it failed. A rerun finds nothing left to do.
        tracing::warn!(%error, "could not record the job's end");
        return JobOutcome::Retry(error.to_string());
    }
    match reason {
        Some(reason) if status == JobStatus::Failed => JobOutcome::Failed(reason),
        _ => JobOutcome::Done,
    }
}

async fn execute(kind: &JobKind, services: &Services) -> Result<(), StepError> {
    match kind {
        JobKind::RegisterCall { external_unique_id } => {
            register::register_call(external_unique_id, services).await
        }
        JobKind::SyncCall { external_unique_id } => {
            sync::sync_call(external_unique_id, services).await
        }
        JobKind::RejectCall {
            slack_call_id,
            external_unique_id,
            user_id,
            channel_id,
            rejected_at,
        } => {
            let rejection = Rejection {
                user_id: user_id.clone(),
                channel_id: channel_id.clone(),
                at: *rejected_at,
            };
            reject::reject_call(
                slack_call_id,
                external_unique_id.as_ref(),
                rejection,
                services,
            )
            .await
        }
        JobKind::Unfurl {
            team_id,
            channel,
            message_ts,
            unfurl_id,
            source,
            user_id,
            links,
        } => {
            let share = unfurl::Share {
                team_id,
                channel: channel.as_ref(),
                message_ts,
                unfurl_id: unfurl_id.as_deref(),
                source: *source,
                user_id,
                links,
            };
            unfurl::unfurl(share, services).await
        }
        JobKind::NotifyProvider { payload, .. } => notify::notify_provider(payload, services).await,
        JobKind::DisableInstallation { team_id, reason } => {
            uninstall::disable_installation(team_id, reason, services).await
        }
    }
}
