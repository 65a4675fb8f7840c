//! Events from the provider's backend, already validated at the edge
//! ([`crate::provider::events`]): participants joined / left, call renamed or moved,
//! call ended. Each call is updated with optimistic locking, all of its events in one
//! write, with the Slack work enqueued in the same write.

use serde::Serialize;

use crate::domain::{Call, EndReason, ExternalId, Job, JobKind, UnixSeconds};
use crate::meeting::room::{is_room_name, RoomPattern};
use crate::provider::events::{CallChange, ValidEvent};
use crate::store::{modify_call, StoreError};

use super::Services;

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
    pub external_unique_id: ExternalId,
    pub status: EventStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<&'static str>,
}

/// Applies a validated batch; one result per event, in the batch's order.
pub async fn apply_provider_events(events: &[ValidEvent], services: &Services) -> Vec<EventResult> {
    let mut results: Vec<Option<EventResult>> = vec![None; events.len()];

    // One write per call, with all of its events applied in order.
    let mut call_ids: Vec<&ExternalId> = Vec::new();
    for event in events {
        let id = &event.external_unique_id;
        if !call_ids.contains(&id) {
            call_ids.push(id);
        }
    }
    for call_id in call_ids {
        let indexes: Vec<usize> = (0..events.len())
            .filter(|&i| events[i].external_unique_id == *call_id)
            .collect();
        let mut applied = apply_to_call(call_id, &indexes, events, services).await;
        if let Some(live) = live_call_of_room(call_id, &applied, services).await {
            applied = apply_to_call(&live, &indexes, events, services).await;
        }
        let (outcome, statuses) = applied;
        let per_event: Vec<(EventStatus, Option<&'static str>)> = match outcome {
            Ok(Some(_)) => statuses,
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
                external_unique_id: call_id.clone(),
                status,
                reason,
            });
        }
    }
    results.into_iter().flatten().collect()
}

type Statuses = Vec<(EventStatus, Option<&'static str>)>;

/// The events at `indexes` applied to one call in one write; the call as stored, and a
/// status per event.
async fn apply_to_call(
    call_id: &ExternalId,
    indexes: &[usize],
    events: &[ValidEvent],
    services: &Services,
) -> (Result<Option<Call>, StoreError>, Statuses) {
    let mut statuses: Statuses = Vec::new();
    let outcome = modify_call(services.store.as_ref(), call_id, |call| {
        let now = services.clock.now();
        statuses.clear();
        let mut changed = false;
        for &index in indexes {
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
    (outcome, statuses)
}

/// Rooms are reused (a daily stand-up, a personal room) and the provider names the
/// room, not the call: events naming a room whose call has ended, or a room we only
/// know from a pasted link, belong to the room's live call, if it has one. (Not the
/// events that ended the call just now: they were its own.)
async fn live_call_of_room(
    call_id: &ExternalId,
    (outcome, statuses): &(Result<Option<Call>, StoreError>, Statuses),
    services: &Services,
) -> Option<ExternalId> {
    let applied_here = statuses
        .iter()
        .any(|(status, _)| *status == EventStatus::Applied);
    let join_url = match outcome {
        Ok(Some(call)) if !call.is_live() && !applied_here => call.join_url.clone(),
        Ok(None) if is_room_name(call_id.as_str()) => {
            RoomPattern::from_template(&services.config.join_url_template)?
                .join_url(call_id.as_str())
        }
        _ => return None,
    };
    match services.store.find_call_by_join_url(&join_url).await {
        Ok(Some(live)) if live.is_live() && live.external_unique_id != *call_id => {
            tracing::info!(room = %call_id, call = %live.external_unique_id, "events for the room go to its live call");
            Some(live.external_unique_id)
        }
        Ok(_) => None,
        Err(error) => {
            log_store_error(&error);
            None
        }
    }
}

fn log_store_error(error: &StoreError) {
    tracing::error!(%error, "provider events could not be applied");
}

fn apply_one(
    call: &mut Call,
    event: &ValidEvent,
    now: UnixSeconds,
) -> (EventStatus, Option<&'static str>) {
    if let Some(event_id) = &event.event_id {
        if call.provider_event_ids.iter().any(|seen| seen == event_id) {
            return (EventStatus::Ignored, Some("duplicate event_id"));
        }
    }
    if !call.is_live() {
        return (EventStatus::Ignored, Some("the call has ended"));
    }
    let changed = match &event.change {
        CallChange::Ended {
            duration,
            occurred_at,
        } => call.end(
            EndReason::Provider,
            occurred_at.unwrap_or(now).min(now),
            *duration,
        ),
        CallChange::ParticipantJoined { user, occurred_at } => {
            call.participant_joined(user.clone(), *occurred_at, now)
        }
        CallChange::ParticipantLeft { user, occurred_at } => {
            call.participant_left(user.clone(), *occurred_at, now)
        }
        CallChange::DetailsUpdated {
            title,
            join_url,
            desktop_app_join_url,
            occurred_at,
        } => call.update_details(
            title.clone(),
            join_url.clone(),
            desktop_app_join_url.clone(),
            *occurred_at,
            now,
        ),
    };
    if let Some(event_id) = &event.event_id {
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
