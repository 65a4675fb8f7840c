//! The call-state store port, and its adapters: DynamoDB (deployed) and an embedded
//! file-backed store (local runs). Both pass one conformance suite.

use std::time::Duration;

use async_trait::async_trait;
use rand::Rng;

use crate::domain::installation::InstallationKey;
use crate::domain::OAuthState;
use crate::domain::{
    Call, EventReceipt, ExternalId, Installation, Job, Lease, Participant, SlackCallId,
    UnixSeconds, Workspace,
};

pub mod dynamodb;
pub mod embedded;
pub mod installation_cache;
pub mod layer;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A create-once write found the item already there.
    #[error("item already exists")]
    AlreadyExists,
    /// An optimistic-locking write found another version (someone else wrote first),
    /// or the item it updates is gone.
    #[error("the item was changed concurrently")]
    Conflict,
    /// The store could not be reached or answered with an error; nothing is known to
    /// have been written.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// An item could not be read back into the domain (written by a newer version?
    /// an id that does not parse?).
    #[error("stored item is malformed: {0}")]
    Malformed(String),
}

/// Whether an event was new (recorded now) or had been seen before.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReceiptOutcome {
    New,
    Duplicate,
}

/// What [`CallStore::claim_job`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobClaim {
    /// The run holds the job: here as stored now, its attempt counted.
    Claimed(Job),
    /// Done or failed already: nothing to run.
    Finished(Job),
    /// Another run holds it.
    Held(Job),
    /// No such job.
    Missing,
}

/// Calls, jobs, installations and event receipts, with conditional writes.
///
/// Every method is one request to the backing store (one round trip in DynamoDB).
/// "Atomically" means all of the write happens or none of it does.
#[async_trait]
pub trait CallStore: Send + Sync {
    /// Creates `call` (which must not exist yet) and enqueues `jobs`, atomically.
    /// `AlreadyExists` when a call with that `external_unique_id` exists.
    async fn create_call(&self, call: &Call, jobs: &[Job]) -> Result<(), StoreError>;

    async fn get_call(&self, external_unique_id: &ExternalId) -> Result<Option<Call>, StoreError>;

    /// Finds a call by Slack's `R…` id.
    async fn find_call_by_slack_id(
        &self,
        slack_call_id: &SlackCallId,
    ) -> Result<Option<Call>, StoreError>;

    /// Every call whose current join URL is `join_url` (exact match), in every
    /// workspace: a room shared in several workspaces is a call in each.
    async fn calls_by_join_url(&self, join_url: &str) -> Result<Vec<Call>, StoreError>;

    /// Finds `workspace`'s call by its current join URL (exact match). When several of
    /// its calls share the URL (a reused personal room), the live one, else the most
    /// recently created. Another workspace's call of the URL is never answered.
    async fn find_call_by_join_url(
        &self,
        workspace: &Workspace,
        join_url: &str,
    ) -> Result<Option<Call>, StoreError> {
        let calls = self.calls_by_join_url(join_url).await?;
        Ok(preferred_call(
            calls.into_iter().filter(|call| workspace.owns(call)),
        ))
    }

    /// Writes `call` if the stored version is still `call.version`, and enqueues `jobs`,
    /// atomically. On success `call.version` is incremented to the stored version.
    /// `Conflict` if the stored version differs or the call is gone.
    async fn update_call(&self, call: &mut Call, jobs: &[Job]) -> Result<(), StoreError>;

    /// Calls in `Registering` or `Active` state (the sparse active-calls index).
    async fn list_live_calls(&self) -> Result<Vec<Call>, StoreError>;

    /// The calls Slack still lacks something for whose repair is due at `now`
    /// ([`Call::sync_due_at`]: the sparse needs-sync index), the most overdue first.
    async fn calls_due_for_sync(&self, now: UnixSeconds) -> Result<Vec<ExternalId>, StoreError>;

    /// Records `receipt` if its `event_id` was not seen before, together with `jobs`,
    /// atomically. A duplicate writes nothing.
    async fn record_event(
        &self,
        receipt: &EventReceipt,
        jobs: &[Job],
    ) -> Result<ReceiptOutcome, StoreError>;

    /// Enqueues jobs on their own (atomically). Jobs are only ever inserted: a job id
    /// that exists fails this and every other enqueuing write with `AlreadyExists`, so a
    /// job is never reset to pending.
    async fn enqueue_jobs(&self, jobs: &[Job]) -> Result<(), StoreError>;

    async fn get_job(&self, id: &str) -> Result<Option<Job>, StoreError>;

    /// Writes `job` if the stored version is still `job.version`; increments it on
    /// success. Updating a job never re-triggers the worker (only inserts do).
    async fn update_job(&self, job: &mut Job) -> Result<(), StoreError>;

    /// Starts a run of `job` without reading it first: counts the attempt and holds the
    /// job with `lease` ([`Job::begin_attempt`]) if it is pending and nobody holds it at
    /// `now`. `job` is the job as delivered; its version is tried first (one conditional
    /// write), the stored job decides when it moved. Otherwise says why not, with the
    /// job as stored.
    async fn claim_job(
        &self,
        job: &Job,
        lease: &Lease,
        now: UnixSeconds,
    ) -> Result<JobClaim, StoreError>;

    /// Writes `call` and `job`, each if its stored version is still the one it
    /// carries, and enqueues `jobs`, atomically: a job's end recorded with its last
    /// call change in one request. On success both versions are incremented.
    /// `Conflict` if either moved or is gone.
    async fn update_call_and_job(
        &self,
        call: &mut Call,
        job: &mut Job,
        jobs: &[Job],
    ) -> Result<(), StoreError>;

    async fn get_installation(
        &self,
        key: &InstallationKey,
    ) -> Result<Option<Installation>, StoreError>;

    /// The stored participants of the call `call` among `identities` (at most
    /// [`MAX_PARTICIPANTS_PER_REQUEST`]), in no particular order; those never stored
    /// are left out. Strongly consistent.
    async fn get_participants(
        &self,
        call: &ExternalId,
        identities: &[String],
    ) -> Result<Vec<Participant>, StoreError>;

    /// Every participant stored under the call `call`, by identity: for a registration
    /// that finds people already there, never on a participant event's path.
    async fn list_participants(&self, call: &ExternalId) -> Result<Vec<Participant>, StoreError>;

    /// Writes `call` if its stored version is still `call.version`, each of
    /// `participants` (under `call`, at most [`MAX_PARTICIPANTS_PER_WRITE`]) if its
    /// stored version is still the one it carries (0: must not exist), and enqueues
    /// `jobs`, atomically. On success every version is incremented. `Conflict` if any
    /// moved.
    async fn update_call_and_participants(
        &self,
        call: &mut Call,
        participants: &mut [Participant],
        jobs: &[Job],
    ) -> Result<(), StoreError>;

    /// Writes each of `participants` of the call `call` (at most
    /// [`MAX_PARTICIPANTS_PER_WRITE`]) if its stored version is still the one it
    /// carries, atomically; increments them on success. `Conflict` if any moved.
    async fn update_participants(
        &self,
        call: &ExternalId,
        participants: &mut [Participant],
    ) -> Result<(), StoreError>;

    /// Creates or replaces the installation (under `installation.key`) if its stored
    /// version is still `installation.version` (0 = must not exist); increments it on
    /// success. Token rotation relies on it: of two refreshes, one write wins.
    async fn put_installation(&self, installation: &mut Installation) -> Result<(), StoreError>;

    /// Records an install attempt's state. `AlreadyExists` if that state exists.
    async fn put_oauth_state(&self, state: &OAuthState) -> Result<(), StoreError>;

    /// Removes the state and answers it, if it was there: a state is taken once, even
    /// by two redirects at the same moment. An expired state that is still stored is
    /// answered (and removed) too; the caller checks its expiry.
    async fn take_oauth_state(&self, state: &str) -> Result<Option<OAuthState>, StoreError>;

    /// Deletes the installation and its tokens, whatever its version. Idempotent.
    async fn delete_installation(&self, key: &InstallationKey) -> Result<(), StoreError>;
}

/// Most participants one read names ([`CallStore::get_participants`]): DynamoDB's
/// `BatchGetItem` takes 100 keys.
pub const MAX_PARTICIPANTS_PER_REQUEST: usize = 100;
/// Most participants one write carries: DynamoDB's transactions take 100 items, and a
/// write of participants also carries their call and a job.
pub const MAX_PARTICIPANTS_PER_WRITE: usize = 50;

/// `participants` as a write stores them: each at its next version. A write carries at
/// most [`MAX_PARTICIPANTS_PER_WRITE`] of them (one transaction's worth in DynamoDB);
/// callers split larger changes, so more is a bug, answered as a failed write.
pub(crate) fn participants_at_next_version(
    participants: &[Participant],
) -> Result<Vec<Participant>, StoreError> {
    if participants.len() > MAX_PARTICIPANTS_PER_WRITE {
        return Err(StoreError::Unavailable(format!(
            "a write carries at most {MAX_PARTICIPANTS_PER_WRITE} participants"
        )));
    }
    Ok(participants
        .iter()
        .map(|p| Participant {
            version: p.version + 1,
            ..p.clone()
        })
        .collect())
}

/// How many times [`modify_call`] tries before giving up with `Conflict`.
pub const MODIFY_CALL_ATTEMPTS: u32 = 10;
/// Upper bounds of the random pause between two tries: doubles from the first to the
/// cap. Sixteen writers racing on one call all land well within a second or two.
const MODIFY_CALL_FIRST_BACKOFF: Duration = Duration::from_millis(10);
const MODIFY_CALL_MAX_BACKOFF: Duration = Duration::from_millis(400);

/// Read-modify-write of one call under optimistic locking.
///
/// Reads the call (`Ok(None)` when there is none), lets `change` edit a copy, and writes
/// it with [`CallStore::update_call`] together with the jobs `change` returns. `change`
/// returning `None` means there is nothing to write. When another writer got there
/// first, the call is read again and `change` runs again on the fresh copy (so it must
/// derive everything from the call it is given), a bounded number of times with a
/// jittered pause; after that the `Conflict` is returned.
///
/// Returns the call as it is now stored.
pub async fn modify_call<F>(
    store: &dyn CallStore,
    external_unique_id: &ExternalId,
    change: F,
) -> Result<Option<Call>, StoreError>
where
    F: FnMut(&mut Call) -> Option<Vec<Job>> + Send,
{
    let Some(stored) = store.get_call(external_unique_id).await? else {
        return Ok(None);
    };
    modify_loop(store, stored, true, change).await
}

/// [`modify_call`] starting from a copy of the call already in hand: the first write
/// is tried at that copy's version, and the call is read again only if someone else
/// wrote it since (one request instead of two when nobody did).
pub async fn modify_call_from<F>(
    store: &dyn CallStore,
    in_hand: Call,
    change: F,
) -> Result<Option<Call>, StoreError>
where
    F: FnMut(&mut Call) -> Option<Vec<Job>> + Send,
{
    modify_loop(store, in_hand, false, change).await
}

/// The loop of both: `first` is the copy to try first, `fresh` whether it was just read.
async fn modify_loop<F>(
    store: &dyn CallStore,
    first: Call,
    fresh: bool,
    mut change: F,
) -> Result<Option<Call>, StoreError>
where
    F: FnMut(&mut Call) -> Option<Vec<Job>> + Send,
{
    let external_unique_id = first.external_unique_id.clone();
    let mut next = Some(first);
    let mut attempt = 0;
    loop {
        let from_hand = next.is_some() && !fresh;
        let stored = match next.take() {
            Some(call) => call,
            None => match store.get_call(&external_unique_id).await? {
                Some(call) => call,
                None => return Ok(None),
            },
        };
        let mut call = stored.clone();
        let Some(jobs) = change(&mut call) else {
            return Ok(Some(stored));
        };
        match store.update_call(&mut call, &jobs).await {
            Ok(()) => return Ok(Some(call)),
            // The copy in hand was stale: no race to back off from, just read it.
            Err(StoreError::Conflict) if from_hand => {}
            Err(StoreError::Conflict) if attempt + 1 < MODIFY_CALL_ATTEMPTS => {
                attempt += 1;
                let pause = conflict_backoff(attempt);
                tracing::debug!(
                    external_unique_id = %external_unique_id,
                    attempt,
                    ?pause,
                    "call changed concurrently; reading it again"
                );
                tokio::time::sleep(pause).await;
            }
            Err(error) => return Err(error),
        }
    }
}

/// "Full jitter": a uniform pause up to an exponentially growing bound, so racing
/// writers spread out instead of colliding again in lockstep.
pub(crate) fn conflict_backoff(attempt: u32) -> Duration {
    let bound = MODIFY_CALL_FIRST_BACKOFF
        .saturating_mul(1 << attempt.min(16))
        .min(MODIFY_CALL_MAX_BACKOFF);
    let millis = u64::try_from(bound.as_millis()).unwrap_or(u64::MAX);
    Duration::from_millis(rand::rng().random_range(0..=millis))
}

/// Which call a lookup by a non-unique attribute (a reused join URL) answers with:
/// the live one, else the most recently created.
pub(crate) fn preferred_call(calls: impl IntoIterator<Item = Call>) -> Option<Call> {
    calls.into_iter().max_by_key(|call| {
        (
            call.is_live(),
            call.created_at,
            call.external_unique_id.clone(),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_to_its_cap_and_stays_under_it() {
        let bounds: Vec<Duration> = (1..MODIFY_CALL_ATTEMPTS)
            .map(|attempt| {
                (0..200)
                    .map(|_| conflict_backoff(attempt))
                    .max()
                    .unwrap_or_default()
            })
            .collect();
        for (attempt, longest) in (1..).zip(&bounds) {
            let bound = MODIFY_CALL_FIRST_BACKOFF * 2u32.pow(attempt);
            assert!(
                *longest <= bound.min(MODIFY_CALL_MAX_BACKOFF),
                "{attempt}: {longest:?}"
            );
        }
        assert!(bounds
            .last()
            .is_some_and(|longest| *longest > MODIFY_CALL_MAX_BACKOFF / 2));
    }
}
