//! Participants as items under their call (`pk` = the call's, `sk` = `P#<identity>`):
//! read by key in one `BatchGetItem`, listed with one `Query` of the call's partition,
//! written at their versions, alone or with their call in one transaction.

use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes};
use tracing::Instrument as _;

use super::items::{
    call_item, call_pk, from_item, item_sk, key, participant_item, participant_sk, ConditionalPut,
    Item, PARTICIPANT_SK_PREFIX,
};
use super::{query_all, unavailable, DynamoStore, WriteOutcome};
use crate::domain::{Call, ExternalId, Job, Participant};
use crate::store::{participants_at_next_version, StoreError, MAX_PARTICIPANTS_PER_REQUEST};
use crate::telemetry::dynamodb_span;

/// Rounds of `UnprocessedKeys` a read follows before giving up (DynamoDB returns some
/// keys unread when throttled).
const MAX_BATCH_ROUNDS: usize = 5;

impl DynamoStore {
    pub(super) async fn read_participants(
        &self,
        call: &ExternalId,
        identities: &[String],
    ) -> Result<Vec<Participant>, StoreError> {
        if identities.len() > MAX_PARTICIPANTS_PER_REQUEST {
            return Err(StoreError::Unavailable(format!(
                "a read names at most {MAX_PARTICIPANTS_PER_REQUEST} participants"
            )));
        }
        let mut wanted: Vec<&String> = identities.iter().collect();
        wanted.sort();
        wanted.dedup();
        if wanted.is_empty() {
            return Ok(Vec::new());
        }
        let pk = call_pk(call);
        let keys: Vec<Item> = wanted
            .iter()
            .map(|identity| key(pk.clone(), &participant_sk(identity)))
            .collect();
        let mut request = Some(
            KeysAndAttributes::builder()
                .set_keys(Some(keys))
                .consistent_read(true)
                .build()
                .map_err(|error| StoreError::Unavailable(format!("BatchGetItem: {error}")))?,
        );
        let mut found = Vec::new();
        for _ in 0..MAX_BATCH_ROUNDS {
            let Some(keys) = request.take() else {
                break;
            };
            let output = self
                .client
                .batch_get_item()
                .request_items(&self.table, keys)
                .send()
                .instrument(dynamodb_span("BatchGetItem", &self.table))
                .await
                .map_err(|error| unavailable("BatchGetItem", error))?;
            for item in output
                .responses
                .and_then(|mut tables| tables.remove(&self.table))
                .unwrap_or_default()
            {
                let sk = item_sk(&item);
                found.push(from_item(item, &pk, &sk)?);
            }
            request = output
                .unprocessed_keys
                .and_then(|mut tables| tables.remove(&self.table))
                .filter(|rest| !rest.keys().is_empty());
        }
        if request.is_some() {
            return Err(StoreError::Unavailable(
                "BatchGetItem: keys left unread after retries".into(),
            ));
        }
        Ok(found)
    }

    pub(super) async fn query_participants(
        &self,
        call: &ExternalId,
    ) -> Result<Vec<Participant>, StoreError> {
        let pk = call_pk(call);
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
            .expression_attribute_values(":pk", AttributeValue::S(pk.clone()))
            .expression_attribute_values(
                ":prefix",
                AttributeValue::S(PARTICIPANT_SK_PREFIX.to_owned()),
            )
            .consistent_read(true);
        let items = query_all(query, &self.table).await?;
        items
            .into_iter()
            .map(|item| {
                let sk = item_sk(&item);
                from_item(item, &pk, &sk)
            })
            .collect()
    }

    pub(super) async fn write_call_and_participants(
        &self,
        call: &mut Call,
        participants: &mut [Participant],
        jobs: &[Job],
    ) -> Result<(), StoreError> {
        let mut next_call = call.clone();
        next_call.version += 1;
        let next = participants_at_next_version(participants)?;
        let mut puts = vec![ConditionalPut::at_version(
            call_item(&next_call)?,
            call.version,
        )];
        for (current, next) in participants.iter().zip(&next) {
            puts.push(ConditionalPut::at_version_or_new(
                participant_item(&call.external_unique_id, next)?,
                current.version,
            ));
        }
        match self.write(puts, jobs).await? {
            WriteOutcome::Written => {
                call.version = next_call.version;
                participants.clone_from_slice(&next);
                Ok(())
            }
            WriteOutcome::PrimaryConditionFailed => Err(StoreError::Conflict),
        }
    }

    pub(super) async fn write_participants(
        &self,
        call: &ExternalId,
        participants: &mut [Participant],
    ) -> Result<(), StoreError> {
        let next = participants_at_next_version(participants)?;
        if participants.iter().any(|p| p.version == 0) {
            // Only a participant event creates a participant (with its call's counts).
            return Err(StoreError::Conflict);
        }
        let mut puts = participants
            .iter()
            .zip(&next)
            .map(|(current, next)| {
                Ok(ConditionalPut::at_version(
                    participant_item(call, next)?,
                    current.version,
                ))
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        let outcome = match (puts.pop(), puts.is_empty()) {
            (None, _) => WriteOutcome::Written,
            // One participant: a plain conditional put, half a transaction's units.
            (Some(only), true) => self.put_at_version(only).await?,
            (Some(last), false) => {
                puts.push(last);
                self.write(puts, &[]).await?
            }
        };
        match outcome {
            WriteOutcome::Written => {
                participants.clone_from_slice(&next);
                Ok(())
            }
            WriteOutcome::PrimaryConditionFailed => Err(StoreError::Conflict),
        }
    }
}
