//! How the domain's types become items and back: keys, TTLs, the sparse `live`
//! marker, and the condition each write is made under.

use std::collections::HashMap;

use aws_sdk_dynamodb::operation::put_item::builders::PutItemFluentBuilder;
use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem};
use aws_sdk_dynamodb::Client;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::domain::installation::InstallationKey;
use crate::domain::OAuthState;
use crate::domain::{
    Call, CallState, EventReceipt, ExternalId, Installation, Job, Participant, UnixSeconds,
};
use crate::store::StoreError;

/// A DynamoDB item as the SDK holds it.
pub type Item = HashMap<String, AttributeValue>;

/// The value of `live` on live calls (the sparse index's only partition).
pub const LIVE: &str = "LIVE";
/// The value of `needs_sync` on calls Slack lacks something for (the sparse
/// `needs_sync` index's only partition; `sync_due_at` is its sort key).
pub const NEEDS_SYNC: &str = "SYNC";

pub(super) const CALL_SK: &str = "CALL";
/// Participants are items under their call: `P#<identity>`.
pub(super) const PARTICIPANT_SK_PREFIX: &str = "P#";
/// Also what the worker's stream filter selects job inserts by.
pub const JOB_SK: &str = "JOB";
pub(super) const JOB_PK_PREFIX: &str = "JOB#";
pub(super) const INSTALLATION_SK: &str = "INSTALL";
const EVENT_SK: &str = "EVENT";
pub(super) const OAUTH_STATE_SK: &str = "STATE";

/// Set by each plain `PutItem` to a value of its own, so that a retry of it that finds
/// the item already written can tell its own write from someone else's.
pub(super) const WRITE_TOKEN: &str = "write_token";

const DAY_SECONDS: i64 = 86_400;
/// How long a call stays readable after it stopped being live.
pub const CALL_RETENTION_SECONDS: i64 = 30 * DAY_SECONDS;
/// How long a job stays readable after it was enqueued.
pub const JOB_RETENTION_SECONDS: i64 = 7 * DAY_SECONDS;

const MUST_NOT_EXIST: &str = "attribute_not_exists(#pk)";
const VERSION_MATCHES: &str = "#version = :expected";
/// TTL deletes expired items only eventually: an expired receipt counts as absent.
const RECEIPT_ABSENT_OR_EXPIRED: &str = "attribute_not_exists(#pk) OR #expires_at < :now";

/// One item and the condition it is written under.
pub(super) struct ConditionalPut {
    item: Item,
    condition: &'static str,
    values: Option<Item>,
}

impl ConditionalPut {
    pub(super) fn insert(item: Item) -> Self {
        ConditionalPut {
            item,
            condition: MUST_NOT_EXIST,
            values: None,
        }
    }

    /// Replaces the item only if it is still at `expected_version`. Calls and jobs are
    /// created at version 0, so 0 is a stored version for them.
    pub(super) fn at_version(item: Item, expected_version: u64) -> Self {
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
    pub(super) fn at_version_or_new(item: Item, expected_version: u64) -> Self {
        if expected_version == 0 {
            Self::insert(item)
        } else {
            Self::at_version(item, expected_version)
        }
    }

    pub(super) fn receipt(item: Item, received_at: UnixSeconds) -> Self {
        ConditionalPut {
            item,
            condition: RECEIPT_ABSENT_OR_EXPIRED,
            values: Some(HashMap::from([(
                ":now".to_owned(),
                AttributeValue::N(received_at.to_string()),
            )])),
        }
    }

    /// Adds (or replaces) one attribute of the item.
    pub(super) fn set(&mut self, name: &str, value: AttributeValue) {
        self.item.insert(name.to_owned(), value);
    }

    /// The same write as a single `PutItem`, ready to send.
    pub(super) fn into_put_item(self, client: &Client, table: &str) -> PutItemFluentBuilder {
        let names = self.names();
        client
            .put_item()
            .table_name(table)
            .set_item(Some(self.item))
            .condition_expression(self.condition)
            .set_expression_attribute_names(Some(names))
            .set_expression_attribute_values(self.values)
    }

    pub(super) fn into_transact_item(self, table: &str) -> Result<TransactWriteItem, StoreError> {
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
    #[serde(skip_serializing_if = "Option::is_none")]
    needs_sync: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sync_due_at: Option<UnixSeconds>,
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

pub(super) fn from_item<T: DeserializeOwned>(
    item: Item,
    pk: &str,
    sk: &str,
) -> Result<T, StoreError> {
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

pub(super) fn item_sk(item: &Item) -> String {
    match item.get("sk") {
        Some(AttributeValue::S(sk)) => sk.clone(),
        _ => "(no sk)".to_owned(),
    }
}

pub(super) fn key(pk: String, sk: &str) -> Item {
    HashMap::from([
        ("pk".to_owned(), AttributeValue::S(pk)),
        ("sk".to_owned(), AttributeValue::S(sk.to_owned())),
    ])
}

pub(super) fn item_pk(item: &Item) -> String {
    match item.get("pk") {
        Some(AttributeValue::S(pk)) => pk.clone(),
        _ => "(no pk)".to_owned(),
    }
}

pub(super) const CALL_PK_PREFIX: &str = "CALL#";

pub fn call_pk(external_unique_id: &ExternalId) -> String {
    format!("{CALL_PK_PREFIX}{external_unique_id}")
}

pub fn job_pk(id: &str) -> String {
    format!("{JOB_PK_PREFIX}{id}")
}

/// `TEAM#<team_id>`, or `ORG#<enterprise_id>` for an org-wide install.
pub fn installation_pk(key: &InstallationKey) -> String {
    key.to_string()
}

pub fn event_pk(event_id: &str) -> String {
    format!("EVENT#{event_id}")
}

pub fn oauth_state_pk(state: &str) -> String {
    format!("STATE#{state}")
}

/// When DynamoDB may delete a call: a while after it stopped being live, never before.
pub fn call_expires_at(call: &Call) -> Option<UnixSeconds> {
    match call.state {
        CallState::Registering | CallState::Active => None,
        CallState::Ended => Some(call.ended_at.unwrap_or(call.created_at) + CALL_RETENTION_SECONDS),
        CallState::Failed => Some(call.created_at + CALL_RETENTION_SECONDS),
    }
}

pub(super) fn call_item(call: &Call) -> Result<Item, StoreError> {
    // `slack_call_id` is an index key, which may not be empty: a `SlackCallId` never is.
    to_item(
        call,
        ItemKeys {
            pk: call_pk(&call.external_unique_id),
            sk: CALL_SK,
            live: call.is_live().then_some(LIVE),
            expires_at: call_expires_at(call),
            // Derived on every write of the call: set by the write that makes a need,
            // gone with the one that records Slack's last confirmation.
            needs_sync: call.sync_due_at().map(|_| NEEDS_SYNC),
            sync_due_at: call.sync_due_at(),
        },
    )
}

pub(super) fn participant_sk(identity: &str) -> String {
    format!("{PARTICIPANT_SK_PREFIX}{identity}")
}

/// A participant's item, under its call. It expires a call's retention after the last
/// thing said about the person (a call lives far shorter than that).
pub(super) fn participant_item(
    call: &ExternalId,
    participant: &Participant,
) -> Result<Item, StoreError> {
    let last_heard = participant
        .last_joined_at
        .max(participant.last_left_at)
        .unwrap_or_default();
    let mut item: Item = serde_dynamo::to_item(participant).map_err(|error| {
        StoreError::Malformed(format!(
            "a participant of {call} cannot be written: {error}"
        ))
    })?;
    item.insert("pk".to_owned(), AttributeValue::S(call_pk(call)));
    item.insert(
        "sk".to_owned(),
        AttributeValue::S(participant_sk(participant.identity())),
    );
    item.insert(
        "expires_at".to_owned(),
        AttributeValue::N((last_heard + CALL_RETENTION_SECONDS + DAY_SECONDS).to_string()),
    );
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
            needs_sync: None,
            sync_due_at: None,
            expires_at: Some(job.created_at + JOB_RETENTION_SECONDS),
        },
    )
}

pub(super) fn installation_item(installation: &Installation) -> Result<Item, StoreError> {
    to_item(
        installation,
        ItemKeys {
            pk: installation_pk(&installation.key),
            sk: INSTALLATION_SK,
            live: None,
            needs_sync: None,
            sync_due_at: None,
            expires_at: None,
        },
    )
}

pub(super) fn oauth_state_item(state: &OAuthState) -> Result<Item, StoreError> {
    // The state's own `expires_at` is the TTL attribute.
    to_item(
        state,
        ItemKeys {
            pk: oauth_state_pk(&state.state),
            sk: OAUTH_STATE_SK,
            live: None,
            needs_sync: None,
            sync_due_at: None,
            expires_at: None,
        },
    )
}

pub(super) fn receipt_item(receipt: &EventReceipt) -> Result<Item, StoreError> {
    // The receipt's own `expires_at` is the TTL attribute.
    to_item(
        receipt,
        ItemKeys {
            pk: event_pk(&receipt.event_id),
            sk: EVENT_SK,
            live: None,
            needs_sync: None,
            sync_due_at: None,
            expires_at: None,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ids::id;
    use crate::domain::{CallKind, JobKind, JobStatus, NewCall, ProviderNotice};

    fn call(state: CallState) -> Call {
        let mut call = Call::new(
            NewCall {
                external_unique_id: id("c1"),
                workspace: crate::domain::Workspace::team(id("T1")),
                channel_id: None,
                created_by: id("U1"),
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

    #[test]
    fn only_calls_slack_lacks_something_for_carry_the_needs_sync_marker() {
        let registering = call_item(&call(CallState::Registering)).expect("item");
        assert_eq!(
            registering.get("needs_sync"),
            Some(&AttributeValue::S(NEEDS_SYNC.into()))
        );
        assert_eq!(
            registering.get("sync_due_at"),
            Some(&AttributeValue::N(
                (1_000 + crate::domain::repair::FIRST_REPAIR_DELAY).to_string()
            ))
        );
        let mut synced = call(CallState::Registering);
        synced.mark_registered(id("R1"));
        let item = call_item(&synced).expect("item");
        assert!(!item.contains_key("needs_sync") && !item.contains_key("sync_due_at"));
        synced.end(crate::domain::EndReason::Provider, 2_000, None);
        let item = call_item(&synced).expect("item");
        assert!(
            item.contains_key("needs_sync"),
            "an ended call owes Slack its end"
        );
        assert!(!item.contains_key("live"));
    }

    /// `Job` flattens its internally tagged kind: serde buffers the item and reads the
    /// numbers through `deserialize_any`, which must still give back every field.
    #[test]
    fn job_items_round_trip_through_serde_dynamo() {
        let kinds = [
            JobKind::RegisterCall {
                external_unique_id: id("c1"),
            },
            JobKind::Unfurl {
                workspace: crate::domain::Workspace {
                    team_id: id("T1"),
                    enterprise_id: Some(id("E1")),
                    is_enterprise_install: true,
                },
                channel: Some(id("C1")),
                message_ts: "1.2".into(),
                unfurl_id: None,
                source: None,
                user_id: id("U1"),
                links: vec!["https://meet.example/c1".into()],
            },
            JobKind::Unfurl {
                workspace: crate::domain::Workspace::team(id("T1")),
                channel: None,
                message_ts: "U1-draft".into(),
                unfurl_id: Some("U1-draft".into()),
                source: Some(crate::domain::UnfurlSource::Composer),
                user_id: id("U1"),
                links: vec!["https://meet.example/c1".into()],
            },
            JobKind::NotifyProvider {
                external_unique_id: id("c1"),
                payload: ProviderNotice::CallRejected {
                    external_unique_id: id("c1"),
                    slack_call_id: Some(id("R1")),
                    user_id: id("U2"),
                    channel_id: id("D3"),
                    rejected_at: i64::MIN,
                    call_ended: true,
                },
            },
            JobKind::NotifyProvider {
                external_unique_id: id("c1"),
                payload: ProviderNotice::CallRejected {
                    external_unique_id: id("c1"),
                    slack_call_id: None,
                    user_id: id("U2"),
                    channel_id: id("D3"),
                    rejected_at: i64::MAX,
                    call_ended: false,
                },
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

    /// Jobs enqueued before the notice was typed stored it as a JSON map of the same
    /// shape: they still read back.
    #[test]
    fn notify_provider_jobs_of_the_untyped_shape_read_back() {
        let item: Item = serde_dynamo::to_item(serde_json::json!({
            "id": "j1",
            "kind": "notify_provider",
            "external_unique_id": "c1",
            "payload": {
                "type": "call.rejected",
                "external_unique_id": "c1",
                "slack_call_id": "R1",
                "user_id": "U2",
                "channel_id": "D3",
                "rejected_at": 1_700_000_000,
                "call_ended": false,
            },
            "status": "pending",
            "attempts": 0,
            "created_at": 1_000,
            "version": 0,
            "pk": "JOB#j1",
            "sk": "JOB",
        }))
        .expect("item");
        let job: Job = from_item(item, "JOB#j1", JOB_SK).expect("reads back");
        assert_eq!(
            job.kind,
            JobKind::NotifyProvider {
                external_unique_id: id("c1"),
                payload: ProviderNotice::CallRejected {
                    external_unique_id: id("c1"),
                    slack_call_id: Some(id("R1")),
                    user_id: id("U2"),
                    channel_id: id("D3"),
                    rejected_at: 1_700_000_000,
                    call_ended: false,
                },
            }
        );
    }
    /// Ids are read back through their parsers: a stored id that is not one makes the
    /// item malformed. Keys are the ids' text, byte for byte.
    #[test]
    fn a_stored_id_that_does_not_parse_is_malformed() {
        assert_eq!(call_pk(&id("c1")), "CALL#c1");
        assert_eq!(installation_pk(&InstallationKey::Team(id("T1"))), "TEAM#T1");
        let item = call_item(&call(CallState::Active)).expect("item");
        assert_eq!(item.get("team_id"), Some(&AttributeValue::S("T1".into())));
        for (attribute, value, reason) in [
            ("team_id", "C1", "Slack team id must start with T"),
            ("created_by", "u1", "Slack user id must start with U or W"),
            ("external_unique_id", " ", "external id is empty"),
        ] {
            let mut item = item.clone();
            item.insert(attribute.into(), AttributeValue::S(value.into()));
            let error = from_item::<Call>(item, "CALL#c1", CALL_SK).expect_err("malformed");
            assert!(
                matches!(&error, StoreError::Malformed(text) if text.contains(reason)),
                "{attribute}: {error}"
            );
        }
        let mut job = job_item(&Job::new(
            JobKind::RegisterCall {
                external_unique_id: id("c1"),
            },
            1_000,
        ))
        .expect("item");
        job.insert(
            "external_unique_id".into(),
            AttributeValue::S("c\u{0}1".into()),
        );
        let error = from_item::<Job>(job, "JOB#j1", JOB_SK).expect_err("malformed");
        assert!(matches!(error, StoreError::Malformed(_)), "{error}");
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
