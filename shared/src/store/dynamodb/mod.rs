//! DynamoDB adapter of [`CallStore`]: the single table described in `template.yaml`.
//!
//! | item | pk | sk |
//! |---|---|---|
//! | call | `CALL#<external_unique_id>` | `CALL` |
//! | job | `JOB#<id>` | `JOB` |
//! | installation | `TEAM#<team_id>` or `ORG#<enterprise_id>` | `INSTALL` |
//! | event receipt | `EVENT#<event_id>` | `EVENT` |
//! | participant | `CALL#<external_unique_id>` | `P#<identity>` |
//! | OAuth state | `STATE#<state>` | `STATE` |
//!
//! Items (`items.rs`) are the domain types as `serde_dynamo` maps them, plus the key
//! attributes and: `live` (calls, only while live: the sparse `live_calls` index),
//! `needs_sync` + `sync_due_at` (calls, only while Slack lacks something for them: the
//! sparse `needs_sync` index the sweep repairs from),
//! `expires_at` (the table's TTL: calls 30 days after they stop being live, jobs 7 days
//! after creation, receipts and OAuth states as they say). Each trait method is one request:
//! reads one `GetItem` or `Query` (more pages only past 1 MB of results); a job's claim
//! and an update of one item at its version one `PutItem`; every other
//! write (inserts, and writes of several items) one `TransactWriteItems` (see
//! `DynamoStore::write` for why).
//!
//! Reads by key are strongly consistent (optimistic locking reads what it then
//! conditions on); lookups through an index are eventually consistent, as GSIs are.

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_dynamodb::config::retry::RetryConfig;
use aws_sdk_dynamodb::config::timeout::TimeoutConfig;
use aws_sdk_dynamodb::error::{DisplayErrorContext, SdkError};
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValuesOnConditionCheckFailure};
use aws_sdk_dynamodb::Client;
use serde::de::DeserializeOwned;
use tracing::Instrument as _;

use crate::telemetry::dynamodb_span;

use super::{preferred_call, CallStore, JobClaim, ReceiptOutcome, StoreError};
use crate::domain::installation::InstallationKey;
use crate::domain::OAuthState;
use crate::domain::{
    Call, EventReceipt, ExternalId, Installation, Job, JobStatus, Lease, Participant, SlackCallId,
    UnixSeconds,
};

mod claim;
mod items;
mod needs_sync;
mod oauth_state;
mod participants;
pub mod stream;

pub use items::{
    call_expires_at, call_pk, event_pk, installation_pk, job_item, job_pk, oauth_state_pk, Item,
    CALL_RETENTION_SECONDS, JOB_RETENTION_SECONDS, JOB_SK, LIVE, NEEDS_SYNC,
};
use items::{
    call_item, from_item, installation_item, item_pk, key, receipt_item, ConditionalPut, CALL_SK,
    INSTALLATION_SK, WRITE_TOKEN,
};
pub use needs_sync::NEEDS_SYNC_INDEX;

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

    /// The ids of the jobs still pending, oldest first: for the local server, which has
    /// no stream and resumes them at start. A `Scan` of the whole table, so never on a
    /// Lambda's path (no role is granted `Scan`).
    pub async fn pending_job_ids(&self) -> Result<Vec<String>, StoreError> {
        let pending: AttributeValue = serde_dynamo::to_attribute_value(JobStatus::Pending)
            .map_err(|error| StoreError::Malformed(error.to_string()))?;
        let items: Vec<Item> = self
            .client
            .scan()
            .table_name(&self.table)
            .filter_expression("sk = :job AND #status = :pending")
            .projection_expression("pk, created_at")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":job", AttributeValue::S(JOB_SK.to_owned()))
            .expression_attribute_values(":pending", pending)
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|error| unavailable("Scan", error))?;
        let mut pending: Vec<(i64, String)> = items
            .iter()
            .filter_map(|item| {
                let id = item_pk(item).strip_prefix(items::JOB_PK_PREFIX)?.to_owned();
                let created_at = match item.get("created_at") {
                    Some(AttributeValue::N(n)) => n.parse().unwrap_or_default(),
                    _ => 0,
                };
                Some((created_at, id))
            })
            .collect();
        pending.sort();
        Ok(pending.into_iter().map(|(_, id)| id).collect())
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
            .instrument(dynamodb_span("GetItem", &self.table))
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
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(index)
            .key_condition_expression("#attribute = :value")
            .expression_attribute_names("#attribute", attribute)
            .expression_attribute_values(":value", AttributeValue::S(value.to_owned()));
        let items = query_all(query, &self.table).await?;
        items
            .into_iter()
            .map(|item| {
                let pk = item_pk(&item);
                from_item(item, &pk, CALL_SK)
            })
            .collect()
    }

    /// Writes `primaries` and inserts `jobs`, atomically, in one request.
    ///
    /// A `TransactWriteItems`, even for one item: the SDK gives it a client request
    /// token and retries with the same token, so an attempt that timed out after
    /// DynamoDB applied it is answered "done" on retry. A retried conditional insert
    /// would instead fail its own condition and report a duplicate that never happened
    /// (a dropped event, a refused call). The price is twice the write units of a
    /// plain put: [`Self::put_at_version`] avoids it where the stored item can tell.
    async fn write(
        &self,
        primaries: Vec<ConditionalPut>,
        jobs: &[Job],
    ) -> Result<WriteOutcome, StoreError> {
        let primary_count = primaries.len();
        let mut puts = primaries;
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
            .instrument(dynamodb_span("TransactWriteItems", &self.table))
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
        match classify_cancellation(&codes, primary_count) {
            Some(outcome) => outcome,
            None => Err(unavailable("TransactWriteItems", error)),
        }
    }

    /// Replaces one item at its expected version with a plain conditional `PutItem`
    /// (half the write units of a transaction). A retry of an attempt that had landed
    /// fails its condition; DynamoDB then returns the stored item, and if that carries
    /// this write's token, the write is ours and done. (A twin write of the same item
    /// by someone else carries another token: still a conflict.)
    async fn put_at_version(&self, mut put: ConditionalPut) -> Result<WriteOutcome, StoreError> {
        let token = AttributeValue::S(crate::domain::ids::new_id());
        put.set(WRITE_TOKEN, token.clone());
        let error = match put
            .into_put_item(&self.client, &self.table)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .instrument(dynamodb_span("PutItem", &self.table))
            .await
        {
            Ok(_) => return Ok(WriteOutcome::Written),
            Err(error) => error,
        };
        match error.as_service_error() {
            Some(PutItemError::ConditionalCheckFailedException(failed)) => {
                let stored_token = failed.item().and_then(|item| item.get(WRITE_TOKEN));
                if stored_token == Some(&token) {
                    Ok(WriteOutcome::Written)
                } else {
                    Ok(WriteOutcome::PrimaryConditionFailed)
                }
            }
            _ => Err(unavailable("PutItem", error)),
        }
    }
}

/// What a canceled transaction means for the caller; `None` when it was canceled for
/// a reason of the store's own (throttling, validation...).
fn classify_cancellation(
    codes: &[&str],
    primary_count: usize,
) -> Option<Result<WriteOutcome, StoreError>> {
    let failed_condition = codes
        .iter()
        .position(|code| *code == "ConditionalCheckFailed");
    match failed_condition {
        Some(index) if index < primary_count => Some(Ok(WriteOutcome::PrimaryConditionFailed)),
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
    /// The condition of an item other than a job insert failed.
    PrimaryConditionFailed,
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

/// Every item `query` finds, page after page.
async fn query_all(
    query: aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder,
    table: &str,
) -> Result<Vec<Item>, StoreError> {
    query
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .instrument(dynamodb_span("Query", table))
        .await
        .map_err(|error| unavailable("Query", error))
}

#[async_trait]
impl CallStore for DynamoStore {
    async fn create_call(&self, call: &Call, jobs: &[Job]) -> Result<(), StoreError> {
        let put = ConditionalPut::insert(call_item(call)?);
        match self.write(vec![put], jobs).await? {
            WriteOutcome::Written => Ok(()),
            WriteOutcome::PrimaryConditionFailed => Err(StoreError::AlreadyExists),
        }
    }

    async fn get_call(&self, external_unique_id: &ExternalId) -> Result<Option<Call>, StoreError> {
        self.get(call_pk(external_unique_id), CALL_SK).await
    }

    async fn find_call_by_slack_id(
        &self,
        slack_call_id: &SlackCallId,
    ) -> Result<Option<Call>, StoreError> {
        let calls = self
            .query_calls(
                BY_SLACK_CALL_ID_INDEX,
                "slack_call_id",
                slack_call_id.as_str(),
            )
            .await?;
        Ok(preferred_call(calls))
    }

    async fn calls_by_join_url(&self, join_url: &str) -> Result<Vec<Call>, StoreError> {
        if join_url.is_empty() {
            return Ok(Vec::new());
        }
        // The index is keyed by the URL alone (items written before workspaces read as
        // they are); the few calls of one URL are told apart by their team afterwards.
        self.query_calls(BY_JOIN_URL_INDEX, "join_url", join_url)
            .await
    }

    async fn update_call(&self, call: &mut Call, jobs: &[Job]) -> Result<(), StoreError> {
        let mut next = call.clone();
        next.version += 1;
        let put = ConditionalPut::at_version(call_item(&next)?, call.version);
        let outcome = if jobs.is_empty() {
            self.put_at_version(put).await?
        } else {
            self.write(vec![put], jobs).await?
        };
        match outcome {
            WriteOutcome::Written => {
                call.version = next.version;
                Ok(())
            }
            WriteOutcome::PrimaryConditionFailed => Err(StoreError::Conflict),
        }
    }

    async fn calls_due_for_sync(&self, now: UnixSeconds) -> Result<Vec<ExternalId>, StoreError> {
        needs_sync::calls_due(&self.client, &self.table, now).await
    }

    async fn list_live_calls(&self) -> Result<Vec<Call>, StoreError> {
        // The index's sort key is `created_at`: pages come oldest first.
        self.query_calls(LIVE_CALLS_INDEX, "live", LIVE).await
    }

    async fn record_event(
        &self,
        receipt: &EventReceipt,
        jobs: &[Job],
    ) -> Result<ReceiptOutcome, StoreError> {
        // Always a transaction: a receipt stored by our own retry and one stored by a
        // genuine duplicate look the same, so only the request token can tell them apart.
        let put = ConditionalPut::receipt(receipt_item(receipt)?, receipt.received_at);
        match self.write(vec![put], jobs).await? {
            WriteOutcome::Written => Ok(ReceiptOutcome::New),
            WriteOutcome::PrimaryConditionFailed => Ok(ReceiptOutcome::Duplicate),
        }
    }

    async fn enqueue_jobs(&self, jobs: &[Job]) -> Result<(), StoreError> {
        self.write(Vec::new(), jobs).await.map(|_| ())
    }

    async fn get_job(&self, id: &str) -> Result<Option<Job>, StoreError> {
        self.get(job_pk(id), JOB_SK).await
    }

    async fn update_job(&self, job: &mut Job) -> Result<(), StoreError> {
        let mut next = job.clone();
        next.version += 1;
        let put = ConditionalPut::at_version(job_item(&next)?, job.version);
        match self.put_at_version(put).await? {
            WriteOutcome::Written => {
                job.version = next.version;
                Ok(())
            }
            WriteOutcome::PrimaryConditionFailed => Err(StoreError::Conflict),
        }
    }

    async fn claim_job(
        &self,
        job: &Job,
        lease: &Lease,
        now: UnixSeconds,
    ) -> Result<JobClaim, StoreError> {
        claim::claim_job(&self.client, &self.table, job, lease, now).await
    }

    async fn update_call_and_job(
        &self,
        call: &mut Call,
        job: &mut Job,
        jobs: &[Job],
    ) -> Result<(), StoreError> {
        let mut next_call = call.clone();
        next_call.version += 1;
        let mut next_job = job.clone();
        next_job.version += 1;
        let puts = vec![
            ConditionalPut::at_version(call_item(&next_call)?, call.version),
            ConditionalPut::at_version(job_item(&next_job)?, job.version),
        ];
        match self.write(puts, jobs).await? {
            WriteOutcome::Written => {
                call.version = next_call.version;
                job.version = next_job.version;
                Ok(())
            }
            WriteOutcome::PrimaryConditionFailed => Err(StoreError::Conflict),
        }
    }

    async fn get_installation(
        &self,
        key: &InstallationKey,
    ) -> Result<Option<Installation>, StoreError> {
        self.get(installation_pk(key), INSTALLATION_SK).await
    }

    async fn delete_installation(&self, key: &InstallationKey) -> Result<(), StoreError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(items::key(installation_pk(key), INSTALLATION_SK)))
            .send()
            .instrument(dynamodb_span("DeleteItem", &self.table))
            .await
            .map_err(|error| unavailable("DeleteItem", error))?;
        Ok(())
    }

    async fn put_installation(&self, installation: &mut Installation) -> Result<(), StoreError> {
        let mut next = installation.clone();
        next.version += 1;
        let put =
            ConditionalPut::at_version_or_new(installation_item(&next)?, installation.version);
        // A transaction: installations are written rarely, and carry tokens that the
        // stored-item comparison of `put_at_version` would have to read back.
        match self.write(vec![put], &[]).await? {
            WriteOutcome::Written => {
                installation.version = next.version;
                Ok(())
            }
            WriteOutcome::PrimaryConditionFailed => Err(StoreError::Conflict),
        }
    }

    async fn get_participants(
        &self,
        call: &ExternalId,
        identities: &[String],
    ) -> Result<Vec<Participant>, StoreError> {
        self.read_participants(call, identities).await
    }

    async fn list_participants(&self, call: &ExternalId) -> Result<Vec<Participant>, StoreError> {
        self.query_participants(call).await
    }

    async fn update_call_and_participants(
        &self,
        call: &mut Call,
        participants: &mut [Participant],
        jobs: &[Job],
    ) -> Result<(), StoreError> {
        self.write_call_and_participants(call, participants, jobs)
            .await
    }

    async fn update_participants(
        &self,
        call: &ExternalId,
        participants: &mut [Participant],
    ) -> Result<(), StoreError> {
        self.write_participants(call, participants).await
    }

    async fn put_oauth_state(&self, state: &OAuthState) -> Result<(), StoreError> {
        self.insert_oauth_state(state).await
    }

    async fn take_oauth_state(&self, state: &str) -> Result<Option<OAuthState>, StoreError> {
        self.remove_oauth_state(state).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn cancellation_reasons_map_to_store_outcomes() {
        let outcome = |codes: &[&str], primaries| classify_cancellation(codes, primaries);
        assert!(matches!(
            outcome(&["ConditionalCheckFailed", "None"], 1),
            Some(Ok(WriteOutcome::PrimaryConditionFailed))
        ));
        assert!(matches!(
            outcome(&["None", "ConditionalCheckFailed"], 1),
            Some(Err(StoreError::AlreadyExists))
        ));
        assert!(matches!(
            outcome(&["None", "ConditionalCheckFailed", "None"], 2),
            Some(Ok(WriteOutcome::PrimaryConditionFailed))
        ));
        assert!(matches!(
            outcome(&["None", "None", "ConditionalCheckFailed"], 2),
            Some(Err(StoreError::AlreadyExists))
        ));
        assert!(matches!(
            outcome(&["ConditionalCheckFailed"], 0),
            Some(Err(StoreError::AlreadyExists))
        ));
        assert!(matches!(
            outcome(&["None", "TransactionConflict"], 1),
            Some(Err(StoreError::Conflict))
        ));
        assert!(outcome(&["ThrottlingError", "None"], 1).is_none());
        assert!(outcome(&["ValidationError"], 1).is_none());
    }
}
