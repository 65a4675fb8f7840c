//! The participant half of a sync: each participant named (or, after a late
//! registration, every one) is read, Slack is told what it owes them, and each item
//! records what Slack now shows, at the version read. An item written meanwhile
//! (a newer event, another run) is read again and its state sent again: whatever order
//! runs go in, the last one to record anything has sent the latest state.

use secrecy::SecretString;

use crate::domain::{Call, Job, JobKind, Participant, ParticipantChange, SlackCallId};
use crate::flows::Services;
use crate::slack::SlackError;
use crate::store::{StoreError, MAX_PARTICIPANTS_PER_REQUEST, MAX_PARTICIPANTS_PER_WRITE};

use super::sync::{change_participants, Change};

/// Most users one `calls.participants.add`/`.remove` carries (our batching; Slack
/// documents no limit). A call shows everyone present; only the requests are split.
pub const MAX_USERS_PER_SLACK_REQUEST: usize = 100;
/// Rounds of "read again, send again" before the rest is left to a follow-up job.
const MAX_ROUNDS: usize = 3;

/// Which participants a sync looks at.
#[derive(Debug, Clone, Copy)]
pub(super) enum Scope<'a> {
    /// Those a write changed (the job names them), and the version of the call that
    /// write was made from, when the job knows it.
    Named(&'a [String], Option<u64>),
    /// Every participant of the call (a registration that found people there).
    All,
}

impl Scope<'_> {
    pub(super) fn is_empty(&self) -> bool {
        matches!(self, Scope::Named(identities, _) if identities.is_empty())
    }
}

#[derive(Debug)]
pub(super) enum SyncError {
    Slack(SlackError),
    Store(StoreError),
}

impl From<StoreError> for SyncError {
    fn from(error: StoreError) -> Self {
        SyncError::Store(error)
    }
}

/// Tells Slack what it owes the participants in `scope`, and records it on them.
/// Returns whether every one in scope is settled (nothing left to a follow-up job).
pub(super) async fn sync_participants(
    call: &Call,
    slack_call_id: &SlackCallId,
    scope: Scope<'_>,
    token: &SecretString,
    services: &Services,
) -> Result<bool, SyncError> {
    let id = &call.external_unique_id;
    let people = match scope {
        Scope::Named(identities, _) => read(services, id, identities).await?,
        Scope::All => services.store.list_participants(id).await?,
    };
    let mut owed: Vec<(Participant, ParticipantChange)> = people
        .into_iter()
        .filter_map(|p| p.pending().map(|change| (p, change)))
        .collect();
    for _ in 0..MAX_ROUNDS {
        if owed.is_empty() {
            return Ok(true);
        }
        let told = tell_slack(owed, slack_call_id, token, services).await?;
        let moved = record(services, id, told).await?;
        if moved.is_empty() {
            return Ok(true);
        }
        tracing::info!(
            count = moved.len(),
            "participants changed meanwhile; sending their state again"
        );
        owed = read(services, id, &moved)
            .await?
            .into_iter()
            .filter_map(|p| p.resend().map(|change| (p, change)))
            .collect();
    }
    if !owed.is_empty() {
        let identities = owed.iter().map(|(p, _)| p.identity().to_owned()).collect();
        let follow_up = Job::new(
            JobKind::sync_participants(id.clone(), identities),
            services.clock.now(),
        );
        services.store.enqueue_jobs(&[follow_up]).await?;
        return Ok(false);
    }
    Ok(true)
}

async fn read(
    services: &Services,
    call: &crate::domain::ExternalId,
    identities: &[String],
) -> Result<Vec<Participant>, StoreError> {
    let mut people = Vec::with_capacity(identities.len());
    for chunk in identities.chunks(MAX_PARTICIPANTS_PER_REQUEST) {
        people.extend(services.store.get_participants(call, chunk).await?);
    }
    // In the order named (the order of the events), as Slack is told.
    people.sort_by_key(|p| identities.iter().position(|id| id == p.identity()));
    Ok(people)
}

/// Sends the changes, adds then removes, in batches; returns the participants with
/// what Slack confirmed applied.
async fn tell_slack(
    owed: Vec<(Participant, ParticipantChange)>,
    slack_call_id: &SlackCallId,
    token: &SecretString,
    services: &Services,
) -> Result<Vec<Participant>, SyncError> {
    let (adds, removes): (Vec<_>, Vec<_>) = owed
        .into_iter()
        .partition(|(_, change)| matches!(change, ParticipantChange::Add(_)));
    let mut told = Vec::new();
    for (batch, kind) in [(adds, Change::Add), (removes, Change::Remove)] {
        for chunk in batch.chunks(MAX_USERS_PER_SLACK_REQUEST) {
            let users: Vec<_> = chunk
                .iter()
                .map(|(_, change)| match change {
                    ParticipantChange::Add(user) | ParticipantChange::Remove(user) => user.clone(),
                })
                .collect();
            let applied = change_participants(services, token, slack_call_id, &users, kind)
                .await
                .map_err(SyncError::Slack)?;
            for (mut participant, change) in chunk.iter().cloned() {
                let identity = participant.identity().to_owned();
                let refused = applied
                    .refused
                    .iter()
                    .find(|(user, _)| user.identity() == identity);
                match (refused, kind) {
                    (Some((_, code)), Change::Add) => participant.refuse(code),
                    // Someone Slack no longer knows is not shown either.
                    (Some(_), Change::Remove) => participant.acknowledge(&change),
                    (None, _) => participant.acknowledge(&change),
                }
                told.push(participant);
            }
        }
    }
    Ok(told)
}

/// Writes what Slack confirmed, at the versions read; the identities of those written
/// meanwhile by someone else.
async fn record(
    services: &Services,
    call: &crate::domain::ExternalId,
    told: Vec<Participant>,
) -> Result<Vec<String>, StoreError> {
    let mut moved = Vec::new();
    for chunk in told.chunks(MAX_PARTICIPANTS_PER_WRITE) {
        let mut batch = chunk.to_vec();
        match services.store.update_participants(call, &mut batch).await {
            Ok(()) => continue,
            Err(StoreError::Conflict) if batch.len() > 1 => {}
            Err(StoreError::Conflict) => {
                moved.extend(batch.iter().map(|p| p.identity().to_owned()));
                continue;
            }
            Err(error) => return Err(error),
        }
        // One of them moved: each on its own, so the others are recorded.
        for participant in chunk {
            let mut one = [participant.clone()];
            match services.store.update_participants(call, &mut one).await {
                Ok(()) => {}
                Err(StoreError::Conflict) => moved.push(participant.identity().to_owned()),
                Err(error) => return Err(error),
            }
        }
    }
    Ok(moved)
}
