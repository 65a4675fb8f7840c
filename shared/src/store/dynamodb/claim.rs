//! A job's claim as one conditional `PutItem`: the job as delivered, its attempt counted
//! and its lease taken, written only if the stored job is still at the delivered
//! version. When it is not (a redelivery, a rival run), DynamoDB returns the stored job,
//! which says why: finished, held by another run, held by this run (its own retried
//! claim had landed), or free again, which is then claimed from the stored copy.

use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::types::ReturnValuesOnConditionCheckFailure;
use aws_sdk_dynamodb::Client;
use tracing::Instrument as _;

use super::items::{from_item, job_item, job_pk, ConditionalPut, JOB_SK};
use super::unavailable;
use crate::domain::{Job, Lease, UnixSeconds};
use crate::store::{JobClaim, StoreError};
use crate::telemetry::dynamodb_span;

/// Copies of the job tried before giving up with `Conflict` (each new one means another
/// run wrote the job in between).
const CLAIM_TRIES: usize = 3;

pub(super) async fn claim_job(
    client: &Client,
    table: &str,
    delivered: &Job,
    lease: &Lease,
    now: UnixSeconds,
) -> Result<JobClaim, StoreError> {
    let pk = job_pk(&delivered.id);
    let mut candidate = delivered.clone();
    for _ in 0..CLAIM_TRIES {
        if let Some(verdict) = verdict(&candidate, lease, now) {
            return Ok(verdict);
        }
        let mut claimed = candidate.clone();
        claimed.begin_attempt(lease);
        claimed.version += 1;
        let put = ConditionalPut::at_version(job_item(&claimed)?, candidate.version);
        let result = put
            .into_put_item(client, table)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .instrument(dynamodb_span("PutItem", table))
            .await;
        let error = match result {
            Ok(_) => return Ok(JobClaim::Claimed(claimed)),
            Err(error) => error,
        };
        let Some(PutItemError::ConditionalCheckFailedException(failed)) = error.as_service_error()
        else {
            return Err(unavailable("PutItem", error));
        };
        let Some(stored) = failed.item().cloned() else {
            return Ok(JobClaim::Missing);
        };
        candidate = from_item(stored, &pk, JOB_SK)?;
    }
    Err(StoreError::Conflict)
}

/// What the job as stored says before any write: `None` when it is free to claim.
fn verdict(stored: &Job, lease: &Lease, now: UnixSeconds) -> Option<JobClaim> {
    if stored.is_held_by(lease) {
        // Our own claim landed and its answer was lost: the SDK's retry found it.
        Some(JobClaim::Claimed(stored.clone()))
    } else if stored.is_finished() {
        Some(JobClaim::Finished(stored.clone()))
    } else if !stored.is_claimable(now) {
        Some(JobClaim::Held(stored.clone()))
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ids::id;
    use crate::domain::{JobKind, JobStatus};

    fn job() -> Job {
        Job::new(JobKind::sync_call(id("c1")), 1_000)
    }

    #[test]
    fn the_stored_job_says_whose_it_is() {
        let ours = Lease::new(1_000, 90);
        assert_eq!(verdict(&job(), &ours, 1_000), None, "pending and free");

        let mut mine = job();
        mine.begin_attempt(&ours);
        assert_eq!(
            verdict(&mine, &ours, 1_000),
            Some(JobClaim::Claimed(mine.clone()))
        );
        let theirs = Lease::new(1_000, 90);
        assert_eq!(
            verdict(&mine, &theirs, 1_000),
            Some(JobClaim::Held(mine.clone()))
        );
        assert_eq!(
            verdict(&mine, &theirs, ours.until),
            None,
            "the lease ran out"
        );

        let mut done = mine;
        done.finish(JobStatus::Done, None);
        assert_eq!(
            verdict(&done, &theirs, 1_000),
            Some(JobClaim::Finished(done))
        );
    }
}
