//! The worker's event sources: the table's stream (job inserts) and the schedule
//! (stale-call sweep). One Lambda receives both; [`WorkerEvent`] tells them apart.

use aws_lambda_events::event::dynamodb::{Event as StreamEvent, EventRecord};
use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use aws_lambda_events::event::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};
use serde::Deserialize;

use std::time::{Duration, Instant};

use crate::flows::jobs::{run_job, run_stored_job, JobOutcome};
use crate::flows::sweep::sweep_stale_calls;
use crate::flows::Services;
use crate::metrics;
use crate::store::dynamodb::stream::{inserted_job, InsertedJob};

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

/// The `detail-type` of the schedule's events.
pub const SCHEDULED_EVENT: &str = "Scheduled Event";

/// Whatever invoked the worker. Any JSON deserialises into one of these, so an
/// unexpected payload is answered, not failed.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum WorkerEvent {
    /// A batch from the table's stream.
    Stream(StreamEvent),
    /// An EventBridge event: the sweep's schedule when its `detail-type` is
    /// [`SCHEDULED_EVENT`].
    Schedule(EventBridgeEvent),
    /// `Records` that are not DynamoDB stream records: nothing here for us to retry.
    OtherRecords {
        #[serde(rename = "Records")]
        records: serde_json::Value,
    },
    /// Anything else.
    Unknown(serde_json::Value),
}

/// Handles whatever invoked the worker. `deadline` is when the invocation times out
/// (Lambda's context), if known. Returns the JSON to answer with.
pub async fn handle_worker_event(
    services: &Services,
    event: WorkerEvent,
    deadline: Option<Instant>,
) -> Result<serde_json::Value, WorkerError> {
    match event {
        WorkerEvent::Stream(event) => {
            let response = handle_stream_records(services, &event.records, deadline).await;
            Ok(serde_json::to_value(response).unwrap_or_default())
        }
        WorkerEvent::Schedule(event) if event.detail_type == SCHEDULED_EVENT => {
            let report = sweep_stale_calls(services)
                .await
                .map_err(|error| WorkerError::Sweep(error.to_string()))?;
            tracing::info!(?report, "stale-call sweep finished");
            metrics::emit(metrics::sweep_repairs(
                report.ended_abandoned + report.ended_too_old + report.repairs_queued,
            ));
            Ok(serde_json::json!({
                "live_calls": report.live_calls,
                "ended_abandoned": report.ended_abandoned,
                "ended_too_old": report.ended_too_old,
                "repairs_due": report.repairs_due,
                "repairs_queued": report.repairs_queued,
                "errors": report.errors,
            }))
        }
        WorkerEvent::OtherRecords { records } => {
            // Why they are not stream records, for the log (the reason names a field).
            let error = serde_json::from_value::<Vec<EventRecord>>(records)
                .err()
                .map(|error| error.to_string());
            tracing::error!(?error, "records that are not DynamoDB stream records");
            Ok(serde_json::json!({ "batchItemFailures": [] }))
        }
        WorkerEvent::Schedule(_) | WorkerEvent::Unknown(_) => {
            tracing::warn!("worker invoked with an unknown payload; ignored");
            Ok(serde_json::json!({}))
        }
    }
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
        let Some(inserted) = inserted_job(record) else {
            tracing::debug!(event_name = %record.event_name, "stream record skipped");
            continue;
        };
        let job_id = match &inserted {
            InsertedJob::Job(job) => job.id.clone(),
            InsertedJob::Id(id) => id.clone(),
        };
        // The first job always runs, so even a short function timeout makes progress.
        let out_of_time = ran_one
            && deadline
                .is_some_and(|d| d.saturating_duration_since(Instant::now()) < JOB_TIME_RESERVE);
        ran_one = true;
        let retry_reason = if out_of_time {
            Some("no time left in this invocation".to_owned())
        } else {
            let outcome = match inserted {
                InsertedJob::Job(job) => run_job(*job, services).await,
                InsertedJob::Id(id) => run_stored_job(&id, services).await,
            };
            match outcome {
                JobOutcome::Done | JobOutcome::Failed(_) | JobOutcome::Deferred(_) => None,
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

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use serde_json::json;

    use super::*;
    use crate::config::Config;
    use crate::secrets::StaticSecrets;
    use crate::slack::RetryPolicy;
    use crate::store::embedded::EmbeddedStore;

    fn parse(payload: serde_json::Value) -> WorkerEvent {
        serde_json::from_value(payload.clone()).unwrap_or_else(|e| panic!("{payload}: {e}"))
    }

    #[test]
    fn stream_batches_are_stream_events() {
        let event = parse(json!({"Records": [{
            "awsRegion": "us-east-1", "eventID": "1", "eventName": "INSERT",
            "eventSource": "aws:dynamodb",
            "dynamodb": {"ApproximateCreationDateTime": 1_700_000_000.5,
                         "Keys": {"pk": {"S": "JOB#j1"}, "sk": {"S": "JOB"}},
                         "NewImage": {"pk": {"S": "JOB#j1"}, "sk": {"S": "JOB"}, "attempts": {"N": "0"}},
                         "SequenceNumber": "100", "SizeBytes": 10, "StreamViewType": "NEW_IMAGE"}}]}));
        let WorkerEvent::Stream(event) = event else {
            panic!("not a stream event: {event:?}");
        };
        assert_eq!(event.records.len(), 1);
        assert_eq!(
            inserted_job(&event.records[0]),
            Some(InsertedJob::Id("j1".into())),
            "an image without the job's fields gives its id"
        );
        assert!(matches!(
            parse(json!({"Records": []})),
            WorkerEvent::Stream(event) if event.records.is_empty()
        ));
    }

    /// What `infra/redrive-dead-letters.sh` invokes the worker with (its Python test
    /// builds the same file): a stream batch whose job is the one stored.
    #[test]
    fn a_redriven_job_is_a_stream_event_with_the_stored_job() {
        let fixture = include_str!("../../../infra/testdata/dead-letters/worker-event.json");
        let event = parse(serde_json::from_str(fixture).expect("JSON"));
        let WorkerEvent::Stream(event) = event else {
            panic!("not a stream event: {event:?}");
        };
        let [record] = event.records.as_slice() else {
            panic!("one record: {:?}", event.records);
        };
        let id = "start-6f1c2a9be0d44e8a9c3b7d21a5e4f019";
        assert_eq!(
            crate::store::dynamodb::stream::inserted_job_id(record).as_deref(),
            Some(id)
        );
        let job: crate::domain::Job =
            serde_dynamo::from_item(record.change.new_image.clone()).expect("a stored job");
        assert_eq!(job.id, id);
        assert_eq!(job.status, crate::domain::JobStatus::Pending);
        assert_eq!(job.attempts, 4);
        assert!(matches!(
            job.kind,
            crate::domain::JobKind::RegisterCall { .. }
        ));
    }

    #[test]
    fn schedules_are_eventbridge_events() {
        let event = parse(
            json!({"version": "0", "id": "sweep", "detail-type": "Scheduled Event",
            "source": "aws.events", "account": "123456789012", "time": "2026-11-22T04:00:00Z",
            "region": "us-east-1", "resources": [], "detail": {}}),
        );
        assert!(matches!(event, WorkerEvent::Schedule(e) if e.detail_type == SCHEDULED_EVENT));
    }

    #[test]
    fn anything_else_still_deserialises() {
        let sqs = json!({"Records": [{"messageId": "m1", "eventSource": "aws:sqs", "body": "{}"}]});
        assert!(matches!(parse(sqs), WorkerEvent::OtherRecords { .. }));
        assert!(matches!(
            parse(json!({"Records": null})),
            WorkerEvent::OtherRecords { .. }
        ));
        for payload in [
            json!({}),
            json!({"hello": "world"}),
            json!([1, 2]),
            json!("x"),
            json!(null),
        ] {
            assert!(
                matches!(parse(payload.clone()), WorkerEvent::Unknown(_)),
                "{payload}"
            );
        }
    }

    /// Each source gets its answer; nothing that is not ours fails the invocation.
    #[tokio::test]
    async fn every_payload_is_answered() {
        let secrets = StaticSecrets::from_lookup(|_| Some("secret".to_owned())).expect("secrets");
        let services = crate::wiring::services_with(
            Arc::new(Config::from_lookup(|_| None).expect("defaults")),
            Arc::new(EmbeddedStore::in_memory()),
            Arc::new(secrets),
            RetryPolicy::worker(),
        )
        .expect("services");
        let answer = |payload: serde_json::Value| {
            let services = services.clone();
            async move {
                handle_worker_event(&services, parse(payload), None)
                    .await
                    .expect("answered")
            }
        };
        let no_failures = json!({ "batchItemFailures": [] });
        assert_eq!(answer(json!({"Records": []})).await, no_failures);
        let sqs = json!({"Records": [{"messageId": "m1", "eventSource": "aws:sqs"}]});
        assert_eq!(answer(sqs).await, no_failures);
        assert_eq!(
            answer(json!({"detail-type": "Scheduled Event", "source": "aws.events", "detail": {}}))
                .await,
            json!({"live_calls": 0, "ended_abandoned": 0, "ended_too_old": 0,
                   "repairs_due": 0, "repairs_queued": 0, "errors": 0})
        );
        let other_rule = json!({"detail-type": "EC2 Instance State-change Notification",
                                "source": "aws.ec2", "detail": {}});
        assert_eq!(answer(other_rule).await, json!({}));
        assert_eq!(answer(json!({"hello": "world"})).await, json!({}));
    }
}
