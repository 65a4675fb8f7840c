//! Events from the provider's backend: participants joined / left, call renamed or
//! moved, call ended. The whole batch is validated before any of it is applied; each
//! call is then updated with optimistic locking, with the Slack work enqueued in the
//! same write.

use serde::{Deserialize, Serialize};

use crate::domain::{CallUser, EndReason, Job, JobKind, UnixSeconds};
use crate::store::{modify_call, StoreError};

use super::Services;

/// Most events one request may carry.
pub const MAX_EVENTS_PER_REQUEST: usize = 100;
/// Longest `external_unique_id` accepted: generous for any provider's ids, and well
/// inside the store's key size limit (a longer one could never name a call of ours).
pub const MAX_EXTERNAL_ID_BYTES: usize = 1024;

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ProviderParticipant {
    #[serde(default)]
    pub slack_id: Option<String>,
    #[serde(default)]
    pub external_id: Option<String>,
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub avatar_url: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "type")]
pub enum ProviderEvent {
    #[serde(rename = "call.ended")]
    CallEnded {
        external_unique_id: String,
        #[serde(default)]
        duration: Option<i64>,
        #[serde(default)]
        occurred_at: Option<UnixSeconds>,
        #[serde(default)]
        event_id: Option<String>,
    },
    #[serde(rename = "participant.joined")]
    ParticipantJoined {
        external_unique_id: String,
        participant: ProviderParticipant,
        #[serde(default)]
        occurred_at: Option<UnixSeconds>,
        #[serde(default)]
        event_id: Option<String>,
    },
    #[serde(rename = "participant.left")]
    ParticipantLeft {
        external_unique_id: String,
        participant: ProviderParticipant,
        #[serde(default)]
        occurred_at: Option<UnixSeconds>,
        #[serde(default)]
        event_id: Option<String>,
    },
    #[serde(rename = "call.updated")]
    CallUpdated {
        external_unique_id: String,
        #[serde(default)]
        title: Option<String>,
        #[serde(default)]
        join_url: Option<String>,
        #[serde(default)]
        desktop_app_join_url: Option<String>,
        #[serde(default)]
        event_id: Option<String>,
    },
}

impl ProviderEvent {
    pub fn external_unique_id(&self) -> &str {
        match self {
            ProviderEvent::CallEnded {
                external_unique_id, ..
            }
            | ProviderEvent::ParticipantJoined {
                external_unique_id, ..
            }
            | ProviderEvent::ParticipantLeft {
                external_unique_id, ..
            }
            | ProviderEvent::CallUpdated {
                external_unique_id, ..
            } => external_unique_id,
        }
    }

    fn event_id(&self) -> Option<&str> {
        match self {
            ProviderEvent::CallEnded { event_id, .. }
            | ProviderEvent::ParticipantJoined { event_id, .. }
            | ProviderEvent::ParticipantLeft { event_id, .. }
            | ProviderEvent::CallUpdated { event_id, .. } => event_id.as_deref(),
        }
    }
}

/// A participant as Slack will show them. Validated, so the worker never sends Slack
/// a user it will reject.
fn call_user(participant: &ProviderParticipant) -> Result<CallUser, String> {
    let non_empty = |v: &Option<String>| {
        v.as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    if let Some(avatar) = &participant.avatar_url {
        if !is_web_url(avatar, true) {
            return Err("participant.avatar_url must be an https URL".into());
        }
    }
    if let Some(slack_id) = non_empty(&participant.slack_id) {
        if !slack_id.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err("participant.slack_id is not a Slack user id".into());
        }
        return Ok(CallUser::Slack { slack_id });
    }
    let Some(external_id) = non_empty(&participant.external_id) else {
        return Err("participant needs slack_id or external_id".into());
    };
    let Some(display_name) = non_empty(&participant.display_name) else {
        return Err("an external participant needs display_name".into());
    };
    Ok(CallUser::External {
        external_id,
        display_name,
        avatar_url: participant.avatar_url.clone(),
    })
}

fn is_web_url(value: &str, https_only: bool) -> bool {
    url::Url::parse(value)
        .map(|u| {
            u.host().is_some() && (u.scheme() == "https" || (!https_only && u.scheme() == "http"))
        })
        .unwrap_or(false)
}

/// A batch that failed validation: nothing of it is applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BatchError {
    #[error("the body is not valid JSON: {0}")]
    NotJson(String),
    #[error(
        "the body must be one event object or an array of 1 to {MAX_EVENTS_PER_REQUEST} events"
    )]
    BadShape,
    #[error("event {index}: {reason}")]
    BadEvent { index: usize, reason: String },
}

/// An event ready to apply, with the participant already validated.
#[derive(Debug, Clone)]
struct ValidEvent {
    event: ProviderEvent,
    user: Option<CallUser>,
}

/// Parses and validates the whole body.
pub fn parse_batch(body: &[u8]) -> Result<Vec<ProviderEvent>, BatchError> {
    Ok(validate(body)?.into_iter().map(|v| v.event).collect())
}

fn validate(body: &[u8]) -> Result<Vec<ValidEvent>, BatchError> {
    let value: serde_json::Value =
        serde_json::from_slice(body).map_err(|error| BatchError::NotJson(error.to_string()))?;
    let items = match value {
        serde_json::Value::Array(items)
            if !items.is_empty() && items.len() <= MAX_EVENTS_PER_REQUEST =>
        {
            items
        }
        serde_json::Value::Object(_) => vec![value],
        _ => return Err(BatchError::BadShape),
    };
    items
        .into_iter()
        .enumerate()
        .map(|(index, item)| {
            let bad = |reason: String| BatchError::BadEvent { index, reason };
            let event: ProviderEvent =
                serde_json::from_value(item).map_err(|e| bad(e.to_string()))?;
            if event.external_unique_id().trim().is_empty() {
                return Err(bad("external_unique_id is empty".into()));
            }
            if event.external_unique_id().len() > MAX_EXTERNAL_ID_BYTES {
                return Err(bad(format!(
                    "external_unique_id is longer than {MAX_EXTERNAL_ID_BYTES} bytes"
                )));
            }
            if event
                .event_id()
                .is_some_and(|id| id.trim().is_empty() || id.len() > 200)
            {
                return Err(bad("event_id must be 1 to 200 characters".into()));
            }
            let user = match &event {
                ProviderEvent::ParticipantJoined { participant, .. }
                | ProviderEvent::ParticipantLeft { participant, .. } => {
                    Some(call_user(participant).map_err(bad)?)
                }
                ProviderEvent::CallEnded { duration, .. } => {
                    if duration.is_some_and(|d| d < 0) {
                        return Err(bad("duration must not be negative".into()));
                    }
                    None
                }
                ProviderEvent::CallUpdated {
                    title,
                    join_url,
                    desktop_app_join_url,
                    ..
                } => {
                    if title.is_none() && join_url.is_none() && desktop_app_join_url.is_none() {
                        return Err(bad(
                            "call.updated needs title, join_url or desktop_app_join_url".into(),
                        ));
                    }
                    if title
                        .as_deref()
                        .is_some_and(|t| t.trim().is_empty() || t.chars().count() > 255)
                    {
                        return Err(bad("title must be 1 to 255 characters".into()));
                    }
                    if join_url.as_deref().is_some_and(|u| !is_web_url(u, false)) {
                        return Err(bad("join_url must be an http(s) URL".into()));
                    }
                    None
                }
            };
            Ok(ValidEvent { event, user })
        })
        .collect()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EventStatus {
    /// Changed the call; Slack will be updated.
    Applied,
    /// Valid but changed nothing (already applied, out of order, after the end).
    Ignored,
    /// No call with that `external_unique_id`; nothing created.
    NotFound,
    /// The store failed; send the event again.
    Error,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EventResult {
    pub index: usize,
    pub external_unique_id: String,
    pub status: EventStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<&'static str>,
}

/// Validates `body`, then applies it. `Err` = nothing applied.
pub async fn apply_provider_events(
    body: &[u8],
    services: &Services,
) -> Result<Vec<EventResult>, BatchError> {
    let events = validate(body)?;
    let mut results: Vec<Option<EventResult>> = vec![None; events.len()];

    // One write per call, with all of its events applied in order.
    let mut call_ids: Vec<&str> = Vec::new();
    for valid in &events {
        let id = valid.event.external_unique_id();
        if !call_ids.contains(&id) {
            call_ids.push(id);
        }
    }
    for call_id in call_ids {
        let indexes: Vec<usize> = (0..events.len())
            .filter(|&i| events[i].event.external_unique_id() == call_id)
            .collect();
        let mut statuses: Vec<(EventStatus, Option<&'static str>)> = Vec::new();
        let outcome = modify_call(services.store.as_ref(), call_id, |call| {
            let now = services.clock.now();
            statuses.clear();
            let mut changed = false;
            for &index in &indexes {
                let status = apply_one(call, &events[index], now);
                changed |= status.0 == EventStatus::Applied;
                statuses.push(status);
            }
            changed.then(|| {
                vec![Job::new(
                    JobKind::SyncCall {
                        external_unique_id: call.external_unique_id.clone(),
                    },
                    now,
                )]
            })
        })
        .await;
        let per_event: Vec<(EventStatus, Option<&'static str>)> = match outcome {
            Ok(Some(_)) => statuses.clone(),
            Ok(None) => {
                vec![(EventStatus::NotFound, Some("unknown external_unique_id")); indexes.len()]
            }
            Err(error) => {
                log_store_error(&error);
                vec![(EventStatus::Error, Some("store unavailable, send again")); indexes.len()]
            }
        };
        for (&index, (status, reason)) in indexes.iter().zip(per_event) {
            results[index] = Some(EventResult {
                index,
                external_unique_id: call_id.to_owned(),
                status,
                reason,
            });
        }
    }
    Ok(results.into_iter().flatten().collect())
}

fn log_store_error(error: &StoreError) {
    tracing::error!(%error, "provider events could not be applied");
}

fn apply_one(
    call: &mut crate::domain::Call,
    valid: &ValidEvent,
    now: UnixSeconds,
) -> (EventStatus, Option<&'static str>) {
    if let Some(event_id) = valid.event.event_id() {
        if call.provider_event_ids.iter().any(|seen| seen == event_id) {
            return (EventStatus::Ignored, Some("duplicate event_id"));
        }
    }
    if !call.is_live() {
        return (EventStatus::Ignored, Some("the call has ended"));
    }
    let changed = match &valid.event {
        ProviderEvent::CallEnded {
            duration,
            occurred_at,
            ..
        } => call.end(
            EndReason::Provider,
            occurred_at.unwrap_or(now).min(now),
            *duration,
        ),
        ProviderEvent::ParticipantJoined { occurred_at, .. } => match &valid.user {
            Some(user) => call.participant_joined(user.clone(), *occurred_at, now),
            None => false,
        },
        ProviderEvent::ParticipantLeft { occurred_at, .. } => match &valid.user {
            Some(user) => call.participant_left(user.clone(), *occurred_at, now),
            None => false,
        },
        ProviderEvent::CallUpdated {
            title,
            join_url,
            desktop_app_join_url,
            ..
        } => call.update_details(
            title.clone(),
            join_url.clone(),
            desktop_app_join_url.clone(),
            now,
        ),
    };
    if let Some(event_id) = valid.event.event_id() {
        call.remember_provider_event(event_id);
    }
    if changed {
        (EventStatus::Applied, None)
    } else {
        (
            EventStatus::Ignored,
            Some("no change (already applied or out of order)"),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_errors_name_the_index() {
        let body = br#"[{"type":"call.ended","external_unique_id":"a"},{"type":"participant.joined","external_unique_id":"a","participant":{"external_id":"x"}}]"#;
        let error = parse_batch(body).expect_err("external participant without a name");
        assert_eq!(
            error,
            BatchError::BadEvent {
                index: 1,
                reason: "an external participant needs display_name".into()
            }
        );
        let error = parse_batch(br#"{"type":"call.exploded","external_unique_id":"a"}"#)
            .expect_err("unknown type");
        assert!(matches!(error, BatchError::BadEvent { index: 0, .. }));
        let long_id = format!(
            r#"{{"type":"call.ended","external_unique_id":"{}"}}"#,
            "x".repeat(MAX_EXTERNAL_ID_BYTES + 1)
        );
        assert!(matches!(
            parse_batch(long_id.as_bytes()),
            Err(BatchError::BadEvent { index: 0, .. })
        ));
        assert_eq!(parse_batch(b"[]"), Err(BatchError::BadShape));
        assert_eq!(parse_batch(b"42"), Err(BatchError::BadShape));
        assert!(matches!(parse_batch(b"{"), Err(BatchError::NotJson(_))));
        let too_many = format!(
            "[{}]",
            vec![r#"{"type":"call.ended","external_unique_id":"a"}"#; 101].join(",")
        );
        assert_eq!(parse_batch(too_many.as_bytes()), Err(BatchError::BadShape));
    }

    #[test]
    fn valid_batch_parses() {
        let events = parse_batch(
            br#"[{"type":"participant.joined","external_unique_id":"a","participant":{"slack_id":"U1"},"occurred_at":5,"event_id":"e1"},
                 {"type":"call.updated","external_unique_id":"a","title":"New"},
                 {"type":"call.ended","external_unique_id":"a","duration":60}]"#,
        )
        .expect("valid");
        assert_eq!(events.len(), 3);
    }
}
