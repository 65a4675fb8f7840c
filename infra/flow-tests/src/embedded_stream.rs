//! The embedded store's stand-in for the table's DynamoDB stream: the jobs the store
//! inserts, shaped as the records the worker's Lambda receives (the JSON the stream pump
//! makes of DynamoDB Local's stream), passed through the template's filter.
//!
//! Each record's image is the item the DynamoDB adapter writes for that job, and its
//! keys are the key attributes `template.yaml` declares: the mapping stays the store's.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use lambda_harness::stream::{matches_pattern, worker_stream_filters};
use serde_json::{json, Value};
use slack_calls::domain::Job;
use slack_calls::store::embedded::EmbeddedStore;
use tokio::sync::mpsc::UnboundedReceiver;

/// Where the stand-in's records say they come from.
const STREAM_ARN: &str =
    "arn:aws:dynamodb:us-east-1:000000000000:table/embedded/stream/2026-11-22T04:00:00.000";

/// Follows one embedded store's job inserts.
pub struct EmbeddedStream {
    inserts: UnboundedReceiver<Job>,
    /// Every record so far, oldest first (a replay starts from the first).
    records: Vec<Value>,
    /// How many of `records` [`EmbeddedStream::next_records`] has handed out.
    delivered: usize,
    key_attributes: Vec<String>,
    view_type: String,
    filters: Vec<Value>,
}

impl EmbeddedStream {
    /// Follows `store` from now on.
    pub fn follow(store: &EmbeddedStore) -> EmbeddedStream {
        let table = testkit::template::calls_table();
        let view_type = table
            .stream_specification
            .map(|stream| stream.stream_view_type)
            .unwrap_or_else(|| {
                panic!("the table has no stream: is StreamSpecification in template.yaml?")
            });
        EmbeddedStream {
            inserts: store.subscribe_jobs(),
            records: Vec::new(),
            delivered: 0,
            key_attributes: table
                .key_schema
                .into_iter()
                .map(|key| key.attribute_name)
                .collect(),
            view_type,
            filters: worker_stream_filters(),
        }
    }

    /// Records of the inserts since the last call, in order, as the worker's event source
    /// would deliver them (only those the filter lets through).
    pub fn next_records(&mut self) -> Vec<Value> {
        self.receive();
        let new = self.records[self.delivered..].to_vec();
        self.delivered = self.records.len();
        self.filtered(new)
    }

    /// Every record from the stream's start (a full redelivery), through the filter.
    pub fn from_start(&mut self) -> Vec<Value> {
        self.receive();
        self.filtered(self.records.clone())
    }

    fn receive(&mut self) {
        while let Ok(job) = self.inserts.try_recv() {
            let sequence = self.records.len() + 1;
            let record = self.record(&job, sequence);
            self.records.push(record);
        }
    }

    fn filtered(&self, records: Vec<Value>) -> Vec<Value> {
        records
            .into_iter()
            .filter(|record| {
                self.filters
                    .iter()
                    .any(|filter| matches_pattern(record, filter))
            })
            .collect()
    }

    /// The INSERT record of `job`, the `sequence`-th of the stream.
    fn record(&self, job: &Job, sequence: usize) -> Value {
        let item = slack_calls::store::dynamodb::job_item(job)
            .unwrap_or_else(|error| panic!("job {} as an item: {error}", job.id));
        let keys: HashMap<String, AttributeValue> = item
            .iter()
            .filter(|(name, _)| self.key_attributes.contains(name))
            .map(|(name, value)| (name.clone(), value.clone()))
            .collect();
        let keys = dynamodb_json(keys);
        let image = dynamodb_json(item);
        let size = keys.to_string().len() + image.to_string().len();
        json!({
            "eventID": format!("{sequence:032x}"),
            "eventName": "INSERT",
            "eventVersion": "1.1",
            "eventSource": "aws:dynamodb",
            "awsRegion": "us-east-1",
            "dynamodb": {
                "ApproximateCreationDateTime": job.created_at,
                "Keys": keys,
                "NewImage": image,
                "SequenceNumber": format!("{sequence:021}"),
                "SizeBytes": size,
                "StreamViewType": self.view_type,
            },
            "eventSourceARN": STREAM_ARN,
        })
    }
}

/// An item in DynamoDB JSON (`{"pk": {"S": "…"}}`), as stream records carry it.
fn dynamodb_json(item: HashMap<String, AttributeValue>) -> Value {
    let item: serde_dynamo::Item = item.into();
    serde_json::to_value(item).unwrap_or_else(|error| panic!("item as JSON: {error}"))
}
