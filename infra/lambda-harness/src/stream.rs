//! The table's DynamoDB stream, read from DynamoDB Local and shaped as the Lambda event
//! the worker receives, through the `FilterCriteria` the template deploys.

use std::collections::HashMap;

use aws_sdk_dynamodbstreams::types::ShardIteratorType;
use serde_json::{json, Value};

/// Reads new stream records of one table.
pub struct StreamPump {
    streams: aws_sdk_dynamodbstreams::Client,
    stream_arn: String,
    /// Next iterator per shard; `None` once a shard is closed and drained.
    iterators: HashMap<String, Option<String>>,
    /// The last sequence number read per shard, to resume after a lost iterator.
    last_sequence: HashMap<String, String>,
    filters: Vec<Value>,
}

impl StreamPump {
    /// Follows `table`'s stream from its start, filtering as the deployed event source
    /// mapping does.
    pub async fn new(dynamodb: &aws_sdk_dynamodb::Client, table: &str) -> StreamPump {
        let description = dynamodb
            .describe_table()
            .table_name(table)
            .send()
            .await
            .unwrap_or_else(|error| panic!("describe_table {table}: {error:?}"));
        let stream_arn = description
            .table()
            .and_then(|t| t.latest_stream_arn())
            .unwrap_or_else(|| {
                panic!("table {table} has no stream: is StreamSpecification in template.yaml?")
            })
            .to_owned();
        let endpoint = testkit::aws::emulator_endpoint(testkit::aws::DYNAMODB_ENDPOINT_VAR);
        let sdk = testkit::aws::sdk_config(testkit::aws::DYNAMODB_ENDPOINT_VAR).await;
        let config = aws_sdk_dynamodbstreams::config::Builder::from(&sdk)
            .endpoint_url(endpoint)
            .build();
        StreamPump {
            streams: aws_sdk_dynamodbstreams::Client::from_conf(config),
            stream_arn,
            iterators: HashMap::new(),
            last_sequence: HashMap::new(),
            filters: worker_stream_filters(),
        }
    }

    /// Records written since the last call, in order, as the worker's event source
    /// would deliver them (only those the filter lets through).
    pub async fn next_records(&mut self) -> Vec<Value> {
        let stream = self
            .streams
            .describe_stream()
            .stream_arn(&self.stream_arn)
            .send()
            .await
            .unwrap_or_else(|error| panic!("describe_stream: {error:?}"));
        let shard_ids: Vec<String> = stream
            .stream_description()
            .map(|d| {
                d.shards()
                    .iter()
                    .filter_map(|s| s.shard_id().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        let mut records = Vec::new();
        for shard_id in shard_ids {
            if !self.iterators.contains_key(&shard_id) {
                let iterator = self.shard_iterator(&shard_id).await;
                self.iterators.insert(shard_id.clone(), iterator);
            }
            let mut renewed = false;
            while let Some(Some(iterator)) = self.iterators.get(&shard_id).cloned() {
                let output = match self
                    .streams
                    .get_records()
                    .shard_iterator(iterator)
                    .send()
                    .await
                {
                    Ok(output) => output,
                    // DynamoDB Local invalidates an iterator taken on a shard that was
                    // still empty once records arrive: take a new one where we were.
                    Err(error)
                        if !renewed
                            && error.as_service_error().is_some_and(|e| {
                                e.is_trimmed_data_access_exception()
                                    || e.is_expired_iterator_exception()
                            }) =>
                    {
                        renewed = true;
                        let iterator = self.shard_iterator(&shard_id).await;
                        self.iterators.insert(shard_id.clone(), iterator);
                        continue;
                    }
                    Err(error) => panic!("get_records: {error:?}"),
                };
                let batch = output.records();
                let empty = batch.is_empty();
                if let Some(sequence) = batch
                    .last()
                    .and_then(|r| r.dynamodb())
                    .and_then(|c| c.sequence_number())
                {
                    self.last_sequence
                        .insert(shard_id.clone(), sequence.to_owned());
                }
                records.extend(batch.iter().map(|r| lambda_record(r, &self.stream_arn)));
                self.iterators.insert(
                    shard_id.clone(),
                    output.next_shard_iterator().map(str::to_owned),
                );
                if empty {
                    break;
                }
            }
        }
        records
            .into_iter()
            .filter(|record| {
                self.filters
                    .iter()
                    .any(|filter| matches_pattern(record, filter))
            })
            .collect()
    }
}

impl StreamPump {
    /// An iterator just after the last record read from `shard_id`, or at its start.
    async fn shard_iterator(&self, shard_id: &str) -> Option<String> {
        let request = self
            .streams
            .get_shard_iterator()
            .stream_arn(&self.stream_arn)
            .shard_id(shard_id);
        let request = match self.last_sequence.get(shard_id) {
            Some(sequence) => request
                .shard_iterator_type(ShardIteratorType::AfterSequenceNumber)
                .sequence_number(sequence),
            None => request.shard_iterator_type(ShardIteratorType::TrimHorizon),
        };
        request
            .send()
            .await
            .unwrap_or_else(|error| panic!("get_shard_iterator: {error:?}"))
            .shard_iterator()
            .map(str::to_owned)
    }
}

/// `{"Records": [...]}`: the event the worker's Lambda receives.
pub fn stream_event(records: Vec<Value>) -> Value {
    json!({ "Records": records })
}

fn lambda_record(record: &aws_sdk_dynamodbstreams::types::Record, arn: &str) -> Value {
    let change = record.dynamodb();
    let item = |image: Option<&HashMap<String, aws_sdk_dynamodbstreams::types::AttributeValue>>| {
        image.map_or(json!({}), |image| {
            let item: serde_dynamo::Item = image.clone().into();
            serde_json::to_value(item).unwrap_or_default()
        })
    };
    json!({
        "eventID": record.event_id(),
        "eventName": record.event_name().map(|n| n.as_str()),
        "eventVersion": record.event_version(),
        "eventSource": "aws:dynamodb",
        "awsRegion": record.aws_region(),
        "dynamodb": {
            "ApproximateCreationDateTime": change.and_then(|c| c.approximate_creation_date_time()).map(|t| t.secs()),
            "Keys": item(change.and_then(|c| c.keys.as_ref())),
            "NewImage": item(change.and_then(|c| c.new_image.as_ref())),
            "SequenceNumber": change.and_then(|c| c.sequence_number()),
            "SizeBytes": change.and_then(|c| c.size_bytes()),
            "StreamViewType": change.and_then(|c| c.stream_view_type()).map(|v| v.as_str()),
        },
        "eventSourceARN": arn,
    })
}

/// The `FilterCriteria` patterns of the DynamoDB event source in `template.yaml`.
pub fn worker_stream_filters() -> Vec<Value> {
    let path = testkit::template::template_path();
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|error| panic!("cannot read {}: {error}", path.display()));
    let template: serde_yaml_ng::Value = serde_yaml_ng::from_str(&text)
        .unwrap_or_else(|error| panic!("{}: {error}", path.display()));
    let mut patterns = Vec::new();
    if let Some(resources) = template["Resources"].as_mapping() {
        for resource in resources.values() {
            let Some(events) = resource["Properties"]["Events"].as_mapping() else {
                continue;
            };
            for event in events.values() {
                if event["Type"].as_str() != Some("DynamoDB") {
                    continue;
                }
                for filter in event["Properties"]["FilterCriteria"]["Filters"]
                    .as_sequence()
                    .into_iter()
                    .flatten()
                {
                    if let Some(pattern) = filter["Pattern"].as_str() {
                        patterns.push(
                            serde_json::from_str(pattern).unwrap_or_else(|error| {
                                panic!("filter pattern {pattern}: {error}")
                            }),
                        );
                    }
                }
            }
        }
    }
    assert!(
        !patterns.is_empty(),
        "template.yaml has no DynamoDB stream filter for the worker"
    );
    patterns
}

/// Lambda event filtering, for the patterns the template uses: objects match field by
/// field, arrays list the accepted values.
pub fn matches_pattern(value: &Value, pattern: &Value) -> bool {
    match pattern {
        Value::Object(fields) => fields
            .iter()
            .all(|(key, sub)| matches_pattern(&value[key], sub)),
        Value::Array(accepted) => accepted.iter().any(|candidate| match candidate {
            Value::Object(_) => matches_pattern(value, candidate),
            other => value == other,
        }),
        other => value == other,
    }
}
