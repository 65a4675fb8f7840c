//! DynamoDB adapter of [`CallStore`]: the single table described in `template.yaml`.
//!
//! | item | pk | sk |
//! |---|---|---|
//! | call | `CALL#<external_unique_id>` | `CALL` |
//! | job | `JOB#<id>` | `JOB` |
//! | installation | `TEAM#<team_id>` | `INSTALL` |
//! | event receipt | `EVENT#<event_id>` | `EVENT` |
//!
//! Items are the domain types as `serde_dynamo` maps them, plus the key attributes and:
//! `live` (calls, only while live: the sparse `live_calls` index), `expires_at` (the
//! table's TTL: calls 30 days after they stop being live, jobs 7 days after creation,
//! receipts as the receipt says). Each trait method is one request: reads one
//! `GetItem` or `Query` (more pages only past 1 MB of results), writes one
//! `TransactWriteItems`, even for a single item (see `DynamoStore::write` for why).
//!
//! Reads by key are strongly consistent (optimistic locking reads what it then
//! conditions on); lookups through an index are eventually consistent, as GSIs are.

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_dynamodb::config::retry::RetryConfig;
use aws_sdk_dynamodb::config::timeout::TimeoutConfig;
use aws_sdk_dynamodb::error::{DisplayErrorContext, SdkError};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem};
use aws_sdk_dynamodb::Client;
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::{preferred_call, CallStore, EventRecord, StoreError};
use crate::domain::{Call, CallState, EventReceipt, Installation, Job, UnixSeconds};

type Item = HashMap<String, AttributeValue>;

/// Whole-operation budget, retries included: an ack path has 3 s in all, and must still
/// answer Slack after a failed store call.
pub const OPERATION_TIMEOUT: Duration = Duration::from_millis(1_500);
/// One attempt: DynamoDB answers in milliseconds, so a slow attempt is better retried.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_millis(700);
/// Attempts per operation, the first included.
pub const MAX_ATTEMPTS: u32 = 3;
const INITIAL_RETRY_BACKOFF: Duration = Duration::from_millis(25);
const MAX_RETRY_BACKOFF: Duration = Duration::from_millis(250);

pub const BY_SLACK_CALL_ID_INDEX: &str = "by_slack_call_id";
pub const BY_JOIN_URL_INDEX: &str = "by_join_url";
pub const LIVE_CALLS_INDEX: &str = "live_calls";
/// The value of `live` on live calls (the sparse index's only partition).
pub const LIVE: &str = "LIVE";

const CALL_SK: &str = "CALL";
/// Also what the worker's stream filter selects job inserts by.
pub const JOB_SK: &str = "JOB";
const INSTALLATION_SK: &str = "INSTALL";
const EVENT_SK: &str = "EVENT";

const DAY_SECONDS: i64 = 86_400;
/// How long a call stays readable after it stopped being live.
pub const CALL_RETENTION_SECONDS: i64 = 30 * DAY_SECONDS;
/// How long a job stays readable after it was enqueued.
pub const JOB_RETENTION_SECONDS: i64 = 7 * DAY_SECONDS;

const MUST_NOT_EXIST: &str = "attribute_not_exists(#pk)";
const VERSION_MATCHES: &str = "#version = :expected";
/// TTL deletes expired items only eventually: an expired receipt counts as absent.
const RECEIPT_ABSENT_OR_EXPIRED: &str = "attribute_not_exists(#pk) OR #expires_at < :now";

/// The DynamoDB client configuration for code on Slack's 3-second path: bounded
/// timeouts and few, quick retries on top of whatever `sdk_config` holds (region,
/// credentials, `AWS_ENDPOINT_URL_DYNAMODB`...).
pub fn client_config(sdk_config: &aws_config::SdkConfig) -> aws_sdk_dynamodb::Config {
    aws_sdk_dynamodb::config::Builder::from(sdk_config)
        .timeout_config(
            TimeoutConfig::builder()
                .operation_timeout(OPERATION_TIMEOUT)
                .operation_attempt_timeout(ATTEMPT_TIMEOUT)
                .build(),
        )
        .retry_config(
            RetryConfig::standard()
                .with_max_attempts(MAX_ATTEMPTS)
                .with_initial_backoff(INITIAL_RETRY_BACKOFF)
                .with_max_backoff(MAX_RETRY_BACKOFF),
        )
        .build()
}

/// [`CallStore`] on one DynamoDB table.
#[derive(Debug, Clone)]
pub struct DynamoStore {
    client: Client,
    table: String,
}

impl DynamoStore {
    /// A store on `table` through `client`, used as configured.
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        DynamoStore {
            client,
            table: table.into(),
        }
    }

    /// A store on `table` with a client made from `sdk_config` by [`client_config`].
    /// Load the config the standard way, once per container:
    /// `aws_config::defaults(BehaviorVersion::latest()).load().await`.
    pub fn from_sdk_config(sdk_config: &aws_config::SdkConfig, table: impl Into<String>) -> Self {
        Self::new(Client::from_conf(client_config(sdk_config)), table)
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    async fn get<T: DeserializeOwned>(
        &self,
        pk: String,
        sk: &str,
    ) -> Result<Option<T>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(pk.clone(), sk)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|error| unavailable("GetItem", error))?;
        output.item.map(|item| from_item(item, &pk, sk)).transpose()
    }

    /// Every call whose `attribute` is `value` in `index`, all pages.
    async fn query_calls(
        &self,
        index: &str,
        attribute: &str,
        value: &str,
    ) -> Result<Vec<Call>, StoreError> {
        let items: Vec<Item> = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(index)
            .key_condition_expression("#attribute = :value")
            .expression_attribute_names("#attribute", attribute)
            .expression_attribute_values(":value", AttributeValue::S(value.to_owned()))
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|error| unavailable("Query", error))?;
        items
            .into_iter()
            .map(|item| {
                let pk = item_pk(&item);
                from_item(item, &pk, CALL_SK)
            })
            .collect()
    }

    /// Writes `primary` (when given) and inserts `jobs`, atomically, in one request.
    ///
    /// Always a `TransactWriteItems`, even for one item: the SDK gives it a client
    /// request token and retries with the same token, so an attempt that timed out
    /// after DynamoDB applied it is answered "done" on retry. A retried conditional
    /// `PutItem` would instead fail its own condition and report a conflict or a
    /// duplicate that never happened (a dropped event, a refused call). The price is
    /// twice the write units of a plain put.
    async fn write(
        &self,
        primary: Option<ConditionalPut>,
        jobs: &[Job],
    ) -> Result<WriteOutcome, StoreError> {
        let has_primary = primary.is_some();
        let mut puts = Vec::with_capacity(jobs.len() + 1);
        puts.extend(primary);
        for job in jobs {
            puts.push(ConditionalPut::insert(job_item(job)?));
        }
        if puts.is_empty() {
            return Ok(WriteOutcome::Written);
        }
        let items = puts
            .into_iter()
            .map(|put| put.into_transact_item(&self.table))
            .collect::<Result<Vec<_>, _>>()?;
        let error = match self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await
        {
            Ok(_) => return Ok(WriteOutcome::Written),
            Err(error) => error,
        };
        let Some(TransactWriteItemsError::TransactionCanceledException(canceled)) =
            error.as_service_error()
        else {
            return Err(unavailable("TransactWriteItems", error));
        };
        // Reasons come in the order of the items; "None" marks an item that was fine.
        let codes: Vec<&str> = canceled
            .cancellation_reasons()
            .iter()
            .map(|reason| reason.code().unwrap_or("None"))
            .collect();
        match classify_cancellation(&codes, has_primary) {
            Some(outcome) => outcome,
            None => Err(unavailable("TransactWriteItems", error)),
        }
    }
}

/// What a canceled transaction means for the caller; `None` when it was canceled for
/// a reason of the store's own (throttling, validation...).
fn classify_cancellation(
    codes: &[&str],
    has_primary: bool,
) -> Option<Result<WriteOutcome, StoreError>> {
    let failed_condition = codes
        .iter()
        .position(|code| *code == "ConditionalCheckFailed");
    match failed_condition {
        Some(0) if has_primary => Some(Ok(WriteOutcome::PrimaryConditionFailed)),
        // Job inserts are conditional too: a job id that exists means the same job was
        // enqueued before, and it must not be reset to pending.
        Some(_) => Some(Err(StoreError::AlreadyExists)),
        // Another transaction was writing one of the items at the same moment.
        None if codes.contains(&"TransactionConflict") => Some(Err(StoreError::Conflict)),
        None => None,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum WriteOutcome {
    Written,
    /// The condition of the first (non-job) item failed.
    PrimaryConditionFailed,
}

/// One item and the condition it is written under.
struct ConditionalPut {
    item: Item,
    condition: &'static str,
    values: Option<Item>,
}

impl ConditionalPut {
    fn insert(item: Item) -> Self {
        ConditionalPut {
            item,
            condition: MUST_NOT_EXIST,
            values: None,
        }
    }

    /// Replaces the item only if it is still at `expected_version`. Calls and jobs are
    /// created at version 0, so 0 is a stored version for them.
    fn at_version(item: Item, expected_version: u64) -> Self {
        ConditionalPut {
            item,
            condition: VERSION_MATCHES,
            values: Some(HashMap::from([(
                ":expected".to_owned(),
                AttributeValue::N(expected_version.to_string()),
            )])),
        }
    }

    /// As [`Self::at_version`], with version 0 meaning "must not exist yet".
    fn at_version_or_new(item: Item, expected_version: u64) -> Self {
        if expected_version == 0 {
            Self::insert(item)
        } else {
            Self::at_version(item, expected_version)
        }
    }

    fn receipt(item: Item, received_at: UnixSeconds) -> Self {
        ConditionalPut {
            item,
            condition: RECEIPT_ABSENT_OR_EXPIRED,
            values: Some(HashMap::from([(
                ":now".to_owned(),
                AttributeValue::N(received_at.to_string()),
            )])),
        }
    }

    fn into_transact_item(self, table: &str) -> Result<TransactWriteItem, StoreError> {
        let names = self.names();
        let put = Put::builder()
            .table_name(table)
            .set_item(Some(self.item))
            .condition_expression(self.condition)
            .set_expression_attribute_names(Some(names))
            .set_expression_attribute_values(self.values)
            .build()
            .map_err(|error| StoreError::Unavailable(format!("TransactWriteItems: {error}")))?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    /// DynamoDB rejects unused expression attribute names, so only those the condition
    /// mentions.
    fn names(&self) -> HashMap<String, String> {
        ["pk", "version", "expires_at"]
            .into_iter()
            .filter(|name| self.condition.contains(&format!("#{name}")))
            .map(|name| (format!("#{name}"), name.to_owned()))
            .collect()
    }
}

/// The attributes an item carries besides its domain fields.
#[derive(Serialize)]
struct ItemKeys {
    pk: String,
    sk: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    live: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    expires_at: Option<UnixSeconds>,
}

fn to_item<T: Serialize>(entity: &T, keys: ItemKeys) -> Result<Item, StoreError> {
    let malformed = |error: serde_dynamo::Error| {
        StoreError::Malformed(format!("{} cannot be written as an item: {error}", keys.pk))
    };
    let mut item: Item = serde_dynamo::to_item(entity).map_err(malformed)?;
    let keys: Item = serde_dynamo::to_item(&keys).map_err(malformed)?;
    item.extend(keys);
    Ok(item)
}

fn from_item<T: DeserializeOwned>(item: Item, pk: &str, sk: &str) -> Result<T, StoreError> {
    serde_dynamo::from_item(item).map_err(|error| {
        // Installations hold tokens, and serde echoes offending string values.
        let reason = if sk == INSTALLATION_SK {
            "does not match the installation's shape".to_owned()
        } else {
            error.to_string()
        };
        StoreError::Malformed(format!("item {pk}/{sk}: {reason}"))
    })
}

fn key(pk: String, sk: &str) -> Item {
    HashMap::from([
        ("pk".to_owned(), AttributeValue::S(pk)),
        ("sk".to_owned(), AttributeValue::S(sk.to_owned())),
    ])
}

fn item_pk(item: &Item) -> String {
    match item.get("pk") {
        Some(AttributeValue::S(pk)) => pk.clone(),
        _ => "(no pk)".to_owned(),
    }
}

pub fn call_pk(external_unique_id: &str) -> String {
    format!("CALL#{external_unique_id}")
}

pub fn job_pk(id: &str) -> String {
    format!("JOB#{id}")
}

pub fn installation_pk(team_id: &str) -> String {
    format!("TEAM#{team_id}")
}

pub fn event_pk(event_id: &str) -> String {
    format!("EVENT#{event_id}")
}

/// When DynamoDB may delete a call: a while after it stopped being live, never before.
pub fn call_expires_at(call: &Call) -> Option<UnixSeconds> {
    match call.state {
        CallState::Registering | CallState::Active => None,
        CallState::Ended => Some(call.ended_at.unwrap_or(call.created_at) + CALL_RETENTION_SECONDS),
        CallState::Failed => Some(call.created_at + CALL_RETENTION_SECONDS),
    }
}

fn call_item(call: &Call) -> Result<Item, StoreError> {
    let mut item = to_item(
        call,
        ItemKeys {
            pk: call_pk(&call.external_unique_id),
            sk: CALL_SK,
            live: call.is_live().then_some(LIVE),
            expires_at: call_expires_at(call),
        },
    )?;
    // An empty string is not a valid index key: DynamoDB would refuse the whole write.
    if matches!(item.get("slack_call_id"), Some(AttributeValue::S(id)) if id.is_empty()) {
        item.remove("slack_call_id");
    }
    Ok(item)
}

/// The item a job is stored as: what the table's stream carries as a job insert's new
/// image (test stand-ins for the stream build their records from it).
pub fn job_item(job: &Job) -> Result<Item, StoreError> {
    to_item(
        job,
        ItemKeys {
            pk: job_pk(&job.id),
            sk: JOB_SK,
            live: None,
            expires_at: Some(job.created_at + JOB_RETENTION_SECONDS),
        },
    )
}

fn installation_item(installation: &Installation) -> Result<Item, StoreError> {
    to_item(
        installation,
        ItemKeys {
            pk: installation_pk(&installation.team_id),
            sk: INSTALLATION_SK,
            live: None,
            expires_at: None,
        },
    )
}

fn receipt_item(receipt: &EventReceipt) -> Result<Item, StoreError> {
    // The receipt's own `expires_at` is the TTL attribute.
    to_item(
        receipt,
        ItemKeys {
            pk: event_pk(&receipt.event_id),
            sk: EVENT_SK,
            live: None,
            expires_at: None,
        },
    )
}

/// Any failure other than a failed condition: logged, and reported without item
/// contents (the SDK's error context names the error, never the request's values).
fn unavailable<E, R>(operation: &'static str, error: SdkError<E, R>) -> StoreError
where
    E: std::error::Error + 'static,
    R: std::fmt::Debug,
{
    let text = DisplayErrorContext(&error).to_string();
    tracing::warn!(operation, error = %text, "DynamoDB request failed");
    StoreError::Unavailable(format!("{operation}: {text}"))
}

#[async_trait]
impl CallStore for DynamoStore {
    async fn create_call(&self, call: &Call, jobs: &[Job]) -> Result<(), StoreError> {
        let put = ConditionalPut::insert(call_item(call)?);
        match self.write(Some(put), jobs).await? {
            WriteOutcome::Written => Ok(()),
            WriteOutcome::PrimaryConditionFailed => Err(StoreError::AlreadyExists),
        }
    }

    async fn get_call(&self, external_unique_id: &str) -> Result<Option<Call>, StoreError> {
        self.get(call_pk(external_unique_id), CALL_SK).await
    }

    async fn find_call_by_slack_id(&self, slack_call_id: &str) -> Result<Option<Call>, StoreError> {
        if slack_call_id.is_empty() {
            return Ok(None);
        }
        let calls = self
            .query_calls(BY_SLACK_CALL_ID_INDEX, "slack_call_id", slack_call_id)
            .await?;
        Ok(preferred_call(calls))
    }

    async fn find_call_by_join_url(&self, join_url: &str) -> Result<Option<Call>, StoreError> {
        if join_url.is_empty() {
            return Ok(None);
        }
        let calls = self
            .query_calls(BY_JOIN_URL_INDEX, "join_url", join_url)
            .await?;
        Ok(preferred_call(calls))
    }

    async fn update_call(&self, call: &mut Call, jobs: &[Job]) -> Result<(), StoreError> {
        let mut next = call.clone();
        next.version += 1;
        let put = ConditionalPut::at_version(call_item(&next)?, call.version);
        match self.write(Some(put), jobs).await? {
            WriteOutcome::Written => {
                call.version = next.version;
                Ok(())
            }
            WriteOutcome::PrimaryConditionFailed => Err(StoreError::Conflict),
        }
    }

    async fn list_live_calls(&self) -> Result<Vec<Call>, StoreError> {
        // The index's sort key is `created_at`: pages come oldest first.
        self.query_calls(LIVE_CALLS_INDEX, "live", LIVE).await
    }

    async fn record_event(
        &self,
        receipt: &EventReceipt,
        jobs: &[Job],
    ) -> Result<EventRecord, StoreError> {
        let put = ConditionalPut::receipt(receipt_item(receipt)?, receipt.received_at);
        match self.write(Some(put), jobs).await? {
            WriteOutcome::Written => Ok(EventRecord::New),
            WriteOutcome::PrimaryConditionFailed => Ok(EventRecord::Duplicate),
        }
    }

    async fn enqueue_jobs(&self, jobs: &[Job]) -> Result<(), StoreError> {
        self.write(None, jobs).await.map(|_| ())
    }

    async fn get_job(&self, id: &str) -> Result<Option<Job>, StoreError> {
        self.get(job_pk(id), JOB_SK).await
    }

    async fn update_job(&self, job: &mut Job) -> Result<(), StoreError> {
        let mut next = job.clone();
        next.version += 1;
        let put = ConditionalPut::at_version(job_item(&next)?, job.version);
        match self.write(Some(put), &[]).await? {
            WriteOutcome::Written => {
                job.version = next.version;
                Ok(())
            }
            WriteOutcome::PrimaryConditionFailed => Err(StoreError::Conflict),
        }
    }

    async fn get_installation(&self, team_id: &str) -> Result<Option<Installation>, StoreError> {
        self.get(installation_pk(team_id), INSTALLATION_SK).await
    }

    async fn put_installation(&self, installation: &mut Installation) -> Result<(), StoreError> {
        let mut next = installation.clone();
        next.version += 1;
        let put =
            ConditionalPut::at_version_or_new(installation_item(&next)?, installation.version);
        match self.write(Some(put), &[]).await? {
            WriteOutcome::Written => {
                installation.version = next.version;
                Ok(())
            }
            WriteOutcome::PrimaryConditionFailed => Err(StoreError::Conflict),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{CallKind, JobKind, JobStatus, NewCall};

    fn call(state: CallState) -> Call {
        let mut call = Call::new(
            NewCall {
                external_unique_id: "c1".into(),
                team_id: "T1".into(),
                channel_id: None,
                created_by: "U1".into(),
                kind: CallKind::Video,
                title: None,
                join_url: "https://meet.example/c1".into(),
                desktop_join_url: None,
                external_display_id: None,
                response_url: None,
            },
            1_000,
        );
        call.state = state;
        call
    }

    #[test]
    fn client_config_fits_the_slack_budget() {
        let sdk_config = aws_config::SdkConfig::builder()
            .behavior_version(aws_config::BehaviorVersion::latest())
            .build();
        let config = client_config(&sdk_config);
        let timeouts = config.timeout_config().expect("timeouts set");
        assert_eq!(timeouts.operation_timeout(), Some(OPERATION_TIMEOUT));
        assert_eq!(timeouts.operation_attempt_timeout(), Some(ATTEMPT_TIMEOUT));
        let retry = config.retry_config().expect("retry set");
        assert_eq!(retry.max_attempts(), MAX_ATTEMPTS);
        assert_eq!(retry.max_backoff(), MAX_RETRY_BACKOFF);
        assert!(OPERATION_TIMEOUT < Duration::from_secs(3));
    }

    #[test]
    fn only_live_calls_carry_the_live_marker_and_none_expires_while_live() {
        for (state, live, expires_at) in [
            (CallState::Registering, true, None),
            (CallState::Active, true, None),
            (
                CallState::Failed,
                false,
                Some(1_000 + CALL_RETENTION_SECONDS),
            ),
            (
                CallState::Ended,
                false,
                Some(1_000 + CALL_RETENTION_SECONDS),
            ),
        ] {
            let item = call_item(&call(state)).expect("item");
            assert_eq!(item.contains_key("live"), live, "{state:?}");
            let expected = expires_at.map(|at| AttributeValue::N(at.to_string()));
            assert_eq!(item.get("expires_at").cloned(), expected, "{state:?}");
            assert_eq!(item.get("sk"), Some(&AttributeValue::S("CALL".into())));
        }
        let mut ended = call(CallState::Active);
        ended.end(crate::domain::EndReason::TooOld, 5_000, None);
        let item = call_item(&ended).expect("item");
        assert_eq!(
            item.get("expires_at"),
            Some(&AttributeValue::N(
                (5_000 + CALL_RETENTION_SECONDS).to_string()
            ))
        );
    }

    /// `Job` flattens its internally tagged kind: serde buffers the item and reads the
    /// numbers through `deserialize_any`, which must still give back every field.
    #[test]
    fn job_items_round_trip_through_serde_dynamo() {
        let kinds = [
            JobKind::RegisterCall {
                external_unique_id: "c1".into(),
            },
            JobKind::Unfurl {
                team_id: "T1".into(),
                channel: "C1".into(),
                message_ts: "1.2".into(),
                user_id: "U1".into(),
                links: vec!["https://meet.example/c1".into()],
            },
            JobKind::NotifyProvider {
                external_unique_id: "c1".into(),
                payload: serde_json::json!({"n": -3, "big": u64::MAX, "f": 0.5, "null": null, "l": [true, "x"]}),
            },
        ];
        for kind in kinds {
            let mut job = Job::new(kind, 1_000);
            job.attempts = u32::MAX;
            job.status = JobStatus::Failed;
            job.last_error = Some("boom".into());
            job.version = u64::MAX;
            let item = job_item(&job).expect("item");
            assert_eq!(
                item.get("pk"),
                Some(&AttributeValue::S(format!("JOB#{}", job.id)))
            );
            let back: Job = from_item(item, "pk", JOB_SK).expect("reads back");
            assert_eq!(back, job);
        }
    }

    #[test]
    fn cancellation_reasons_map_to_store_outcomes() {
        let outcome = |codes: &[&str], primary| classify_cancellation(codes, primary);
        assert!(matches!(
            outcome(&["ConditionalCheckFailed", "None"], true),
            Some(Ok(WriteOutcome::PrimaryConditionFailed))
        ));
        assert!(matches!(
            outcome(&["None", "ConditionalCheckFailed"], true),
            Some(Err(StoreError::AlreadyExists))
        ));
        assert!(matches!(
            outcome(&["ConditionalCheckFailed"], false),
            Some(Err(StoreError::AlreadyExists))
        ));
        assert!(matches!(
            outcome(&["None", "TransactionConflict"], true),
            Some(Err(StoreError::Conflict))
        ));
        assert!(outcome(&["ThrottlingError", "None"], true).is_none());
        assert!(outcome(&["ValidationError"], true).is_none());
    }

    #[test]
    fn conditions_name_only_the_attributes_they_use() {
        let names = |put: ConditionalPut| {
            let mut names: Vec<String> = put.names().into_keys().collect();
            names.sort();
            names
        };
        assert_eq!(names(ConditionalPut::insert(Item::new())), ["#pk"]);
        assert_eq!(
            names(ConditionalPut::at_version(Item::new(), 3)),
            ["#version"]
        );
        assert_eq!(
            names(ConditionalPut::at_version_or_new(Item::new(), 0)),
            ["#pk"]
        );
        assert_eq!(
            names(ConditionalPut::receipt(Item::new(), 1)),
            ["#expires_at", "#pk"]
        );
    }

    #[test]
    fn malformed_installations_are_reported_without_values() {
        let item = HashMap::from([
            ("team_id".to_owned(), AttributeValue::S("T1".into())),
            ("bot_token".to_owned(), AttributeValue::N("1".into())),
            ("scopes".to_owned(), AttributeValue::S("xoxb-leaky".into())),
        ]);
        let error = from_item::<Installation>(item, "TEAM#T1", INSTALLATION_SK).expect_err("bad");
        assert!(matches!(error, StoreError::Malformed(_)));
        assert!(!error.to_string().contains("xoxb-leaky"), "{error}");
    }
}
