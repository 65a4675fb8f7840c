//! The worker's event sources: the table's stream (job inserts) and the schedule
//! (stale-call sweep). One Lambda receives both; the payload tells them apart.

use aws_lambda_events::event::dynamodb::{Event as StreamEvent, EventRecord};
use aws_lambda_events::event::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};

use std::time::{Duration, Instant};

use crate::flows::jobs::{run_job, JobOutcome};
use crate::flows::sweep::sweep_stale_calls;
use crate::flows::Services;

#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    /// The sweep could not list live calls; the invocation fails so the error shows
    /// in the function's metrics, and the next schedule tries again.
    #[error("the sweep failed: {0}")]
    Sweep(String),
}

/// A job started this close to the invocation's deadline might be cut off mid-way; it
/// is reported for retry instead, to run in the next invocation.
pub const JOB_TIME_RESERVE: Duration = Duration::from_secs(30);

/// Handles whatever invoked the worker. `deadline` is when the invocation times out
/// (Lambda's context), if known. Returns the JSON to answer with.
pub async fn handle_worker_event(
    services: &Services,
    payload: serde_json::Value,
    deadline: Option<Instant>,
) -> Result<serde_json::Value, WorkerError> {
    if payload.get("Records").is_some() {
        return match serde_json::from_value::<StreamEvent>(payload) {
            Ok(event) => {
                let response = handle_stream_records(services, &event.records, deadline).await;
                Ok(serde_json::to_value(response).unwrap_or_default())
            }
            Err(error) => {
                // Not a DynamoDB stream batch: nothing here for us to retry.
                tracing::error!(%error, "records that are not DynamoDB stream records");
                Ok(serde_json::json!({ "batchItemFailures": [] }))
            }
        };
    }
    if payload.get("detail-type").and_then(|v| v.as_str()) == Some("Scheduled Event") {
        let report = sweep_stale_calls(services)
            .await
            .map_err(|error| WorkerError::Sweep(error.to_string()))?;
        tracing::info!(?report, "stale-call sweep finished");
        return Ok(serde_json::json!({
            "live_calls": report.live_calls,
            "ended_abandoned": report.ended_abandoned,
            "ended_too_old": report.ended_too_old,
            "errors": report.errors,
        }));
    }
    tracing::warn!("worker invoked with an unknown payload; ignored");
    Ok(serde_json::json!({}))
}

/// Runs the job behind every job insert, in order. Records that are not job inserts
/// are skipped, not failed; jobs to retry are reported by sequence number, and so are
/// those there is no time left for before `deadline`.
pub async fn handle_stream_records(
    services: &Services,
    records: &[EventRecord],
    deadline: Option<Instant>,
) -> DynamoDbEventResponse {
    let mut response = DynamoDbEventResponse::default();
    let mut ran_one = false;
    for record in records {
        let Some(job_id) = job_id_of(record) else {
            tracing::debug!(event_name = %record.event_name, "stream record skipped");
            continue;
        };
        // The first job always runs, so even a short function timeout makes progress.
        let out_of_time = ran_one
            && deadline
                .is_some_and(|d| d.saturating_duration_since(Instant::now()) < JOB_TIME_RESERVE);
        ran_one = true;
        let retry_reason = if out_of_time {
            Some("no time left in this invocation".to_owned())
        } else {
            match run_job(&job_id, services).await {
                JobOutcome::Done | JobOutcome::Failed(_) => None,
                JobOutcome::Retry(reason) => Some(reason),
            }
        };
        if let Some(reason) = retry_reason {
            tracing::warn!(job = %job_id, %reason, "job reported for retry");
            let mut failure = DynamoDbBatchItemFailure::default();
            failure.item_identifier = record.change.sequence_number.clone();
            response.batch_item_failures.push(failure);
        }
    }
    response
}

/// The job id of an INSERT of a job item (`pk = JOB#<id>`, `sk = JOB`).
fn job_id_of(record: &EventRecord) -> Option<String> {
    if record.event_name != "INSERT" {
        return None;
    }
    let key = |name: &str| -> Option<String> {
        let value = record
            .change
            .keys
            .get(name)
            .or_else(|| record.change.new_image.get(name))?;
        match value {
            serde_dynamo::AttributeValue::S(s) => Some(s.clone()),
            _ => None,
        }
    };
    if key("sk")? != "JOB" {
        return None;
    }
    key("pk")?.strip_prefix("JOB#").map(str::to_owned)
}
