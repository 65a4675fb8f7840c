//! The table's stream as the worker sees it: which records are job inserts, and the
//! job each one carries (the stream's `NewImage` is the item the store wrote, so the
//! worker need not read it again).

use aws_lambda_events::event::dynamodb::EventRecord;
use serde_dynamo::AttributeValue;

use super::items::{JOB_PK_PREFIX, JOB_SK};
use crate::domain::Job;

/// A job insert, as far as its record tells.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InsertedJob {
    /// The job as inserted.
    Job(Box<Job>),
    /// Only its id: the image is missing or does not read back as a job.
    Id(String),
}

/// The job a stream record inserted; `None` for any other record.
pub fn inserted_job(record: &EventRecord) -> Option<InsertedJob> {
    let id = inserted_job_id(record)?;
    match serde_dynamo::from_item::<_, Job>(record.change.new_image.clone()) {
        Ok(job) if job.id == id => Some(InsertedJob::Job(Box::new(job))),
        Ok(_) => {
            tracing::warn!(job = %id, "stream image names another job; reading the job");
            Some(InsertedJob::Id(id))
        }
        Err(error) => {
            tracing::warn!(job = %id, %error, "stream image is not a job; reading the job");
            Some(InsertedJob::Id(id))
        }
    }
}

/// The id of the job a stream record inserted; `None` for any other record (a call's
/// change, a job's update, a removal).
pub fn inserted_job_id(record: &EventRecord) -> Option<String> {
    if record.event_name != "INSERT" {
        return None;
    }
    let key = |name: &str| -> Option<&str> {
        let value = record
            .change
            .keys
            .get(name)
            .or_else(|| record.change.new_image.get(name))?;
        match value {
            AttributeValue::S(s) => Some(s),
            _ => None,
        }
    };
    if key("sk")? != JOB_SK {
        return None;
    }
    key("pk")?.strip_prefix(JOB_PK_PREFIX).map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use super::*;
    use crate::store::dynamodb::job_pk;

    fn record(event_name: &str, keys: Value, new_image: Value) -> EventRecord {
        serde_json::from_value(json!({
            "awsRegion": "us-east-1",
            "eventID": "1",
            "eventName": event_name,
            "dynamodb": {
                "ApproximateCreationDateTime": 1_700_000_000,
                "Keys": keys,
                "NewImage": new_image,
                "SequenceNumber": "100",
                "SizeBytes": 10,
            },
        }))
        .expect("a stream record")
    }

    fn keys(pk: &str, sk: &str) -> Value {
        json!({"pk": {"S": pk}, "sk": {"S": sk}})
    }

    #[test]
    fn job_inserts_give_their_job_id() {
        let pk = job_pk("j1");
        assert_eq!(
            inserted_job_id(&record("INSERT", keys(&pk, JOB_SK), json!({}))),
            Some("j1".to_owned())
        );
        // Keys missing from `Keys` are read from the new image.
        assert_eq!(
            inserted_job_id(&record("INSERT", json!({}), keys(&pk, JOB_SK))),
            Some("j1".to_owned())
        );
    }

    #[test]
    fn a_job_insert_carries_the_job_as_written() {
        let job = Job::new(
            crate::domain::JobKind::sync_call(crate::domain::ids::id("c1")),
            1_000,
        );
        let item = super::super::items::job_item(&job).expect("item");
        let image = serde_json::to_value(serde_dynamo::Item::from(item)).expect("json");
        let pk = job_pk(&job.id);
        assert_eq!(
            inserted_job(&record("INSERT", keys(&pk, JOB_SK), image.clone())),
            Some(InsertedJob::Job(Box::new(job.clone())))
        );
        // An image that is not this job's: only the id is trusted.
        let other = job_pk("j2");
        assert_eq!(
            inserted_job(&record("INSERT", keys(&other, JOB_SK), image)),
            Some(InsertedJob::Id("j2".into()))
        );
        assert_eq!(
            inserted_job(&record("INSERT", keys(&pk, JOB_SK), json!({}))),
            Some(InsertedJob::Id(job.id.clone()))
        );
        assert_eq!(
            inserted_job(&record("MODIFY", keys(&pk, JOB_SK), json!({}))),
            None
        );
    }

    #[test]
    fn other_records_give_none() {
        let pk = job_pk("j1");
        for (event_name, keys) in [
            ("MODIFY", keys(&pk, JOB_SK)),
            ("REMOVE", keys(&pk, JOB_SK)),
            ("INSERT", keys("CALL#c1", "CALL")),
            ("INSERT", keys("CALL#c1", JOB_SK)),
            ("INSERT", keys(&pk, "CALL")),
            ("INSERT", json!({"pk": {"S": pk}, "sk": {"N": "1"}})),
            ("INSERT", json!({"sk": {"S": JOB_SK}})),
        ] {
            assert_eq!(
                inserted_job_id(&record(event_name, keys.clone(), json!({}))),
                None,
                "{event_name} {keys}"
            );
        }
    }
}
