//! Events from the provider's backend, already validated at the edge
//! ([`crate::provider::events`]): participants joined / left, call renamed or moved,
//! call ended. Each call is updated with optimistic locking, all of its events in one
//! write, with the Slack work enqueued in the same write.

use serde::Serialize;

use std::collections::BTreeMap;

use crate::domain::{
    Call, CallUser, EndReason, ExternalId, Job, JobKind, Participant, Presence, TeamId, UnixSeconds,
};
use crate::meeting::room::{is_room_name, RoomPattern};
use crate::provider::events::{CallChange, ValidEvent};
use crate::store::{
    conflict_backoff, preferred_call, StoreError, MAX_PARTICIPANTS_PER_WRITE, MODIFY_CALL_ATTEMPTS,
};

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
        let named = apply_to_call(call_id, &indexes, events, services).await;
        let mut per_event = named.per_event(indexes.len());
        for other in calls_of_room(call_id, &named, services).await {
            let forwarded = apply_to_call(&other, &indexes, events, services).await;
            merge(&mut per_event, forwarded.per_event(indexes.len()));
        }
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

/// Some events applied to one call in one write: the call as stored, and a status per
/// event.
struct Applied {
    outcome: Result<Option<Call>, StoreError>,
    statuses: Statuses,
}

impl Applied {
    /// A status per event, the call's absence or the store's failure included.
    fn per_event(&self, events: usize) -> Statuses {
        match &self.outcome {
            Ok(Some(_)) => self.statuses.clone(),
            Ok(None) => vec![(EventStatus::NotFound, Some("unknown external_unique_id")); events],
            // Resending cannot help a record that cannot be read: no 503 for it.
            Err(error @ StoreError::Malformed(_)) => {
                log_store_error(error);
                vec![
                    (
                        EventStatus::Ignored,
                        Some("the call's record cannot be read")
                    );
                    events
                ]
            }
            Err(error) => {
                log_store_error(error);
                vec![(EventStatus::Error, Some("store unavailable, send again")); events]
            }
        }
    }
}

/// One event's status over several calls: a failure first (send again), then what
/// applied anywhere; between equals, the later call's.
fn merge(into: &mut Statuses, other: Statuses) {
    let rank = |status: EventStatus| match status {
        EventStatus::NotFound => 0,
        EventStatus::Ignored => 1,
        EventStatus::Applied => 2,
        EventStatus::Error => 3,
    };
    for (mine, theirs) in into.iter_mut().zip(other) {
        if rank(theirs.0) >= rank(mine.0) {
            *mine = theirs;
        }
    }
}

/// The events at `indexes` applied to one call, in writes of at most
/// [`MAX_PARTICIPANTS_PER_WRITE`] events each; the call as stored, and a status per
/// event. Each write carries the call (small: counts, not people), the participants
/// the events touched, and the job that syncs them: its bytes do not grow with the call.
async fn apply_to_call(
    call_id: &ExternalId,
    indexes: &[usize],
    events: &[ValidEvent],
    services: &Services,
) -> Applied {
    let mut statuses: Statuses = Vec::new();
    let mut stored = Ok(None);
    for chunk in indexes.chunks(MAX_PARTICIPANTS_PER_WRITE) {
        let (outcome, chunk_statuses) = apply_chunk(call_id, chunk, events, services).await;
        statuses.extend(chunk_statuses);
        match outcome {
            Ok(Some(call)) => stored = Ok(Some(call)),
            outcome => return Applied { outcome, statuses },
        }
    }
    Applied {
        outcome: stored,
        statuses,
    }
}

/// One write's worth of events: read the call and the people they name, apply, write
/// all of it at the versions read; on a conflict, again from a fresh read.
async fn apply_chunk(
    call_id: &ExternalId,
    indexes: &[usize],
    events: &[ValidEvent],
    services: &Services,
) -> (Result<Option<Call>, StoreError>, Statuses) {
    let store = services.store.as_ref();
    let order: Vec<String> = indexes
        .iter()
        .filter_map(|&i| {
            events[i]
                .change
                .participant()
                .map(|u| u.identity().to_owned())
        })
        .collect();
    let mut identities = order.clone();
    identities.sort();
    identities.dedup();
    let mut attempt = 0;
    loop {
        let call = match store.get_call(call_id).await {
            Ok(Some(call)) => call,
            other => return (other, Vec::new()),
        };
        // Nobody recorded yet (a call's first joins): nobody to read.
        let stored = if identities.is_empty() || call.participant_count == 0 {
            Vec::new()
        } else {
            match store.get_participants(call_id, &identities).await {
                Ok(stored) => stored,
                Err(error) => return (Err(error), Vec::new()),
            }
        };
        let mut people: BTreeMap<String, Participant> = stored
            .into_iter()
            .map(|p| (p.identity().to_owned(), p))
            .collect();
        let before = people.clone();
        let mut draft = call.clone();
        let now = services.clock.now();
        let statuses: Statuses = indexes
            .iter()
            .map(|&i| apply_one(&mut draft, &mut people, &events[i], now))
            .collect();
        let applied = statuses.iter().any(|(s, _)| *s == EventStatus::Applied);
        // Remembered even when Slack is owed nothing: a leave's time keeps an older
        // join, arriving later, from re-adding the person.
        let mut changed: Vec<Participant> = people
            .into_values()
            .filter(|p| before.get(p.identity()) != Some(p))
            .collect();
        if !applied && changed.is_empty() {
            return (Ok(Some(call)), statuses);
        }
        // In the order the events named them, as Slack is told.
        changed.sort_by_key(|p| order.iter().position(|id| id == p.identity()));
        let owed: Vec<String> = changed
            .iter()
            .filter(|p| p.pending().is_some())
            .map(|p| p.identity().to_owned())
            .collect();
        let jobs = if applied {
            vec![Job::new(
                JobKind::sync_written(draft.external_unique_id.clone(), owed, call.version),
                now,
            )]
        } else {
            Vec::new()
        };
        let written = if changed.is_empty() {
            store.update_call(&mut draft, &jobs).await
        } else {
            store
                .update_call_and_participants(&mut draft, &mut changed, &jobs)
                .await
        };
        match written {
            Ok(()) => return (Ok(Some(draft)), statuses),
            Err(StoreError::Conflict) if attempt + 1 < MODIFY_CALL_ATTEMPTS => {
                attempt += 1;
                tokio::time::sleep(conflict_backoff(attempt)).await;
            }
            Err(error) => return (Err(error), statuses),
        }
    }
}

/// The provider names a room, not each call of it. Other calls the events belong to:
///
/// - a reused room (a daily stand-up, a personal room): events naming a call that had
///   ended before them, or a room we only know from a pasted link, belong to the room's
///   live call (not the events that ended the call just now: they were its own);
/// - a room pasted in several workspaces is a call in each: every other workspace's
///   live call of the room gets them too (asked only of calls marked `room_shared`, so
///   an ordinary call's events cost no lookup).
async fn calls_of_room(
    call_id: &ExternalId,
    named: &Applied,
    services: &Services,
) -> Vec<ExternalId> {
    let applied_here = named
        .statuses
        .iter()
        .any(|(status, _)| *status == EventStatus::Applied);
    let (join_url, named_call) = match &named.outcome {
        Ok(Some(call)) => (call.join_url.clone(), Some(call)),
        Ok(None) if is_room_name(call_id.as_str()) => {
            let pattern = RoomPattern::from_template(&services.config.join_url_template);
            match pattern.map(|pattern| pattern.join_url(call_id.as_str())) {
                Some(url) => (url, None),
                None => return Vec::new(),
            }
        }
        _ => return Vec::new(),
    };
    // Whether the named call's own workspace gets the events at its live call.
    let own_workspace_too = named_call.is_none_or(|call| !call.is_live() && !applied_here);
    if !own_workspace_too && !named_call.is_some_and(|call| call.room_shared) {
        return Vec::new();
    }
    let live: Vec<Call> = match services.store.calls_by_join_url(&join_url).await {
        Ok(calls) => calls.into_iter().filter(Call::is_live).collect(),
        Err(error) => {
            log_store_error(&error);
            return Vec::new();
        }
    };
    let mut teams: Vec<&TeamId> = Vec::new();
    for call in &live {
        if !teams.contains(&&call.team_id) {
            teams.push(&call.team_id);
        }
    }
    let mut targets = Vec::new();
    for team in teams {
        if !own_workspace_too && named_call.is_some_and(|call| call.team_id == *team) {
            continue;
        }
        let Some(target) = preferred_call(live.iter().filter(|c| c.team_id == *team).cloned())
        else {
            continue;
        };
        if target.external_unique_id != *call_id {
            tracing::info!(room = %call_id, call = %target.external_unique_id, team = %team, "events for the room go to its live call");
            targets.push(target.external_unique_id);
        }
    }
    targets
}

fn log_store_error(error: &StoreError) {
    tracing::error!(%error, "provider events could not be applied");
}

fn apply_one(
    call: &mut Call,
    people: &mut BTreeMap<String, Participant>,
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
    let mut presence = |user: &CallUser, presence: Presence, occurred_at: Option<UnixSeconds>| {
        let participant = people
            .entry(user.identity().to_owned())
            .or_insert_with(|| Participant::new(user.clone()));
        call.record_presence(participant, presence, occurred_at, now)
    };
    let changed = match &event.change {
        CallChange::ParticipantJoined { user, occurred_at } => {
            presence(user, Presence::Joined(user.clone()), *occurred_at)
        }
        CallChange::ParticipantLeft { user, occurred_at } => {
            presence(user, Presence::Left, *occurred_at)
        }
        CallChange::Ended {
            duration,
            occurred_at,
        } => {
            let at = call.event_time(*occurred_at, now).min(now);
            let duration = duration.map(|d| d.min(call.longest_duration(now)));
            call.end(EndReason::Provider, at, duration)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn over_several_calls_a_failure_wins_then_what_applied_anywhere() {
        let not_found = (EventStatus::NotFound, Some("unknown external_unique_id"));
        let ended = (EventStatus::Ignored, Some("the call has ended"));
        let applied = (EventStatus::Applied, None);
        let error = (EventStatus::Error, Some("store unavailable, send again"));

        let mut statuses = vec![not_found, ended, applied, applied];
        merge(&mut statuses, vec![ended, applied, ended, error]);
        assert_eq!(statuses, vec![ended, applied, applied, error]);
        merge(
            &mut statuses,
            vec![not_found, not_found, not_found, applied],
        );
        assert_eq!(statuses, vec![ended, applied, applied, error]);
    }
}
