//! A job's claim as one `UpdateItem`: count the attempt and take the lease if the job is
//! pending and free, without reading it first. DynamoDB returns the job as it is after
//! the update, or, when the condition fails, as it was (which says why, and shows a
//! retried claim that had landed as this run's own lease).

use std::collections::HashMap;

use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue, ReturnValuesOnConditionCheckFailure};
use aws_sdk_dynamodb::Client;
use tracing::Instrument as _;

use super::items::{from_item, job_pk, key, Item, JOB_SK};
use super::unavailable;
use crate::domain::{Job, JobStatus, Lease, UnixSeconds};
use crate::store::{JobClaim, StoreError};
use crate::telemetry::dynamodb_span;

/// [`Job::begin_attempt`], done by DynamoDB.
const BEGIN_ATTEMPT: &str =
    "SET #leased_until = :until, #leased_by = :run ADD #attempts :one, #version :one";
/// [`Job::is_claimable`], checked by DynamoDB (`status` is a reserved word).
const CLAIMABLE: &str = "attribute_exists(#pk) AND #status = :pending \
     AND (attribute_not_exists(#leased_until) OR #leased_until <= :now)";

pub(super) async fn claim_job(
    client: &Client,
    table: &str,
    id: &str,
    lease: &Lease,
    now: UnixSeconds,
) -> Result<JobClaim, StoreError> {
    let pk = job_pk(id);
    let names = HashMap::from(
        [
            "pk",
            "status",
            "leased_until",
            "leased_by",
            "attempts",
            "version",
        ]
        .map(|name| (format!("#{name}"), name.to_owned())),
    );
    let values: Item = HashMap::from([
        (
            ":until".to_owned(),
            AttributeValue::N(lease.until.to_string()),
        ),
        (":run".to_owned(), AttributeValue::S(lease.run.clone())),
        (":one".to_owned(), AttributeValue::N("1".to_owned())),
        (":pending".to_owned(), pending()?),
        (":now".to_owned(), AttributeValue::N(now.to_string())),
    ]);
    let result = client
        .update_item()
        .table_name(table)
        .set_key(Some(key(pk.clone(), JOB_SK)))
        .update_expression(BEGIN_ATTEMPT)
        .condition_expression(CLAIMABLE)
        .set_expression_attribute_names(Some(names))
        .set_expression_attribute_values(Some(values))
        .return_values(ReturnValue::AllNew)
        .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
        .send()
        .instrument(dynamodb_span("UpdateItem", table))
        .await;
    let error = match result {
        Ok(output) => {
            let item = output.attributes.unwrap_or_default();
            return Ok(JobClaim::Claimed(from_item(item, &pk, JOB_SK)?));
        }
        Err(error) => error,
    };
    let Some(UpdateItemError::ConditionalCheckFailedException(failed)) = error.as_service_error()
    else {
        return Err(unavailable("UpdateItem", error));
    };
    let Some(stored) = failed.item().cloned() else {
        return Ok(JobClaim::Missing);
    };
    Ok(verdict(from_item(stored, &pk, JOB_SK)?, lease))
}

/// Why a claim's condition failed, from the job as stored.
fn verdict(stored: Job, lease: &Lease) -> JobClaim {
    if stored.is_held_by(lease) {
        // Our own claim landed and its answer was lost: the SDK's retry found it.
        JobClaim::Claimed(stored)
    } else if stored.is_finished() {
        JobClaim::Finished(stored)
    } else {
        JobClaim::Held(stored)
    }
}

/// How a pending job's status is stored.
fn pending() -> Result<AttributeValue, StoreError> {
    serde_dynamo::to_attribute_value(JobStatus::Pending)
        .map_err(|error| StoreError::Malformed(format!("job status: {error}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ids::id;
    use crate::domain::JobKind;

    fn job() -> Job {
        Job::new(
            JobKind::SyncCall {
                external_unique_id: id("c1"),
            },
            1_000,
        )
    }

    #[test]
    fn a_failed_condition_says_whose_the_job_is() {
        let ours = Lease::new(1_000, 90);
        let mut mine = job();
        mine.begin_attempt(&ours);
        assert_eq!(
            verdict(mine.clone(), &ours),
            JobClaim::Claimed(mine.clone())
        );

        let theirs = Lease::new(1_000, 90);
        assert_eq!(verdict(mine.clone(), &theirs), JobClaim::Held(mine.clone()));

        let mut done = mine;
        done.finish(JobStatus::Done, None);
        assert_eq!(verdict(done.clone(), &ours), JobClaim::Finished(done));
    }

    #[test]
    fn the_condition_matches_how_status_is_stored() {
        assert_eq!(pending().ok(), Some(AttributeValue::S("pending".into())));
        for attribute in ["#status", "#leased_until", "#pk"] {
            assert!(CLAIMABLE.contains(attribute), "{attribute}");
        }
    }
}
