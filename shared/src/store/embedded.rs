//! Embedded adapter of [`CallStore`] for local runs and the flow tests: the whole state in
//! memory, written to a JSON file after every write when it has one (so a restart keeps
//! it), with the DynamoDB adapter's semantics: create-once, versions, conflicts,
//! receipts, live listing.
//!
//! [`EmbeddedStore::subscribe_jobs`] announces every job a committed write inserts, as
//! the table's stream hands job inserts to the deployed worker: the flow tests make
//! their stand-in for that stream of it. (A local run's worker hears of jobs from
//! `local-server`'s notifying store instead, which works over either adapter.)

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};

use super::{preferred_call, CallStore, JobClaim, ReceiptOutcome, StoreError};

mod file;
mod oauth_state;
mod participants;
use crate::domain::installation::InstallationKey;
use crate::domain::OAuthState;
use crate::domain::{
    Call, EventReceipt, ExternalId, Installation, Job, Lease, Participant, SlackCallId, UnixSeconds,
};
use file::{io_error, parent_dir, persist};

/// Everything the store holds; also the file's format.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
struct State {
    #[serde(default)]
    calls: BTreeMap<ExternalId, Call>,
    #[serde(default)]
    jobs: BTreeMap<String, Job>,
    #[serde(default)]
    /// Keyed `TEAM#…` / `ORG#…`; files written before many workspaces have bare team
    /// ids, which read as team keys.
    installations: BTreeMap<InstallationKey, Installation>,
    #[serde(default)]
    receipts: BTreeMap<String, EventReceipt>,
    /// Participants by call, then by identity: the items under each call.
    #[serde(default)]
    participants: BTreeMap<ExternalId, BTreeMap<String, Participant>>,
    #[serde(default)]
    oauth_states: BTreeMap<String, OAuthState>,
}

impl State {
    /// Adds `jobs`, refusing ids that exist (a job is never reset by a second enqueue).
    fn insert_jobs(&mut self, jobs: &[Job]) -> Result<(), StoreError> {
        for job in jobs {
            if self.jobs.insert(job.id.clone(), job.clone()).is_some() {
                return Err(StoreError::AlreadyExists);
            }
        }
        Ok(())
    }
}

/// What a write decided, once it saw the current state.
enum Change<T> {
    /// Keep the changed state (and the jobs that come with it).
    Commit(T),
    /// Nothing to write after all (a duplicate event): the jobs are dropped too.
    Skip(T),
}

struct Inner {
    state: State,
    path: Option<PathBuf>,
    job_subscribers: Vec<UnboundedSender<Job>>,
}

/// [`CallStore`] in this process, optionally backed by a file.
pub struct EmbeddedStore {
    // A std mutex: no critical section awaits, and each is short (file I/O included,
    // which keeps the file in the order of the writes).
    inner: Mutex<Inner>,
}

impl std::fmt::Debug for EmbeddedStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let inner = self.lock();
        f.debug_struct("EmbeddedStore")
            .field("path", &inner.path)
            .field("calls", &inner.state.calls.len())
            .field("jobs", &inner.state.jobs.len())
            .finish_non_exhaustive()
    }
}

impl EmbeddedStore {
    /// A store that forgets everything when dropped (tests).
    pub fn in_memory() -> Self {
        Self::with_state(State::default(), None)
    }

    /// A store kept in the JSON file at `path`: read now if it exists (its directory is
    /// created if needed), rewritten atomically after every write.
    pub fn open(path: impl Into<PathBuf>) -> Result<Self, StoreError> {
        let path = path.into();
        let state = match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|error| {
                // serde_json names the position, not the value (the file holds tokens).
                StoreError::Malformed(format!(
                    "{}: not an embedded store file: line {}, column {}",
                    path.display(),
                    error.line(),
                    error.column()
                ))
            })?,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                if let Some(dir) = parent_dir(&path) {
                    std::fs::create_dir_all(dir).map_err(|error| io_error(&path, error))?;
                }
                State::default()
            }
            Err(error) => return Err(io_error(&path, error)),
        };
        tracing::info!(path = %path.display(), calls = state.calls.len(), "embedded store opened");
        Ok(Self::with_state(state, Some(path)))
    }

    fn with_state(state: State, path: Option<PathBuf>) -> Self {
        EmbeddedStore {
            inner: Mutex::new(Inner {
                state,
                path,
                job_subscribers: Vec::new(),
            }),
        }
    }

    /// Jobs as they are inserted (by any method), from now on, in the order of the writes:
    /// each as it was written. Updates to jobs are not announced, as the table's stream
    /// filter passes job inserts only.
    pub fn subscribe_jobs(&self) -> UnboundedReceiver<Job> {
        let (sender, receiver) = unbounded_channel();
        self.lock().job_subscribers.push(sender);
        receiver
    }

    /// Jobs not finished yet, oldest first: what a local worker resumes after a restart
    /// (in Lambda the stream's retries do that).
    pub fn pending_job_ids(&self) -> Vec<String> {
        self.read(|state| {
            let mut pending: Vec<&Job> = state
                .jobs
                .values()
                .filter(|job| !job.is_finished())
                .collect();
            pending.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
            pending.into_iter().map(|job| job.id.clone()).collect()
        })
    }

    /// How many items the store holds (calls, jobs, installations, event receipts,
    /// OAuth states): what a scan of the DynamoDB table would count.
    pub fn item_count(&self) -> usize {
        self.read(|state| {
            state.calls.len()
                + state.jobs.len()
                + state.installations.len()
                + state.receipts.len()
                + state
                    .participants
                    .values()
                    .map(BTreeMap::len)
                    .sum::<usize>()
                + state.oauth_states.len()
        })
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Writes replace the state only once complete, so a panic elsewhere while the
        // lock was held cannot have left it half-changed.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn read<T>(&self, read: impl FnOnce(&State) -> T) -> T {
        read(&self.lock().state)
    }

    /// Applies `change` to a copy of the state and, if it succeeds, persists the copy
    /// and makes it current: all of a write happens, or none of it.
    fn write<T>(
        &self,
        new_jobs: &[Job],
        change: impl FnOnce(&mut State) -> Result<Change<T>, StoreError>,
    ) -> Result<T, StoreError> {
        let mut inner = self.lock();
        let mut next = inner.state.clone();
        let outcome = match change(&mut next)? {
            Change::Commit(outcome) => outcome,
            Change::Skip(outcome) => return Ok(outcome),
        };
        next.insert_jobs(new_jobs)?;
        if let Some(path) = &inner.path {
            persist(path, &next)?;
        }
        inner.state = next;
        inner.job_subscribers.retain(|subscriber| {
            new_jobs
                .iter()
                .all(|job| subscriber.send(job.clone()).is_ok())
        });
        Ok(outcome)
    }
}

/// Optimistic locking: replaces the item at `key` with `next` only if it is still at
/// `expected_version`; `Conflict` if it moved on or is gone.
fn replace_at_version<K: Ord + ?Sized, V: Clone + Versioned>(
    items: &mut BTreeMap<impl std::borrow::Borrow<K> + Ord, V>,
    key: &K,
    expected_version: u64,
    next: &V,
) -> Result<(), StoreError> {
    let stored = items
        .get_mut(key)
        .filter(|stored| stored.version() == expected_version)
        .ok_or(StoreError::Conflict)?;
    *stored = next.clone();
    Ok(())
}

/// What [`replace_at_version`] compares.
trait Versioned {
    fn version(&self) -> u64;
}

impl Versioned for Call {
    fn version(&self) -> u64 {
        self.version
    }
}

impl Versioned for Job {
    fn version(&self) -> u64 {
        self.version
    }
}

#[async_trait]
impl CallStore for EmbeddedStore {
    async fn create_call(&self, call: &Call, jobs: &[Job]) -> Result<(), StoreError> {
        self.write(jobs, |state| {
            if state.calls.contains_key(&call.external_unique_id) {
                return Err(StoreError::AlreadyExists);
            }
            state
                .calls
                .insert(call.external_unique_id.clone(), call.clone());
            Ok(Change::Commit(()))
        })
    }

    async fn get_call(&self, external_unique_id: &ExternalId) -> Result<Option<Call>, StoreError> {
        Ok(self.read(|state| state.calls.get(external_unique_id).cloned()))
    }

    async fn find_call_by_slack_id(
        &self,
        slack_call_id: &SlackCallId,
    ) -> Result<Option<Call>, StoreError> {
        Ok(self.read(|state| {
            preferred_call(
                state
                    .calls
                    .values()
                    .filter(|call| call.slack_call_id.as_ref() == Some(slack_call_id))
                    .cloned(),
            )
        }))
    }

    async fn calls_by_join_url(&self, join_url: &str) -> Result<Vec<Call>, StoreError> {
        Ok(self.read(|state| {
            state
                .calls
                .values()
                .filter(|call| call.join_url == join_url)
                .cloned()
                .collect()
        }))
    }

    async fn update_call(&self, call: &mut Call, jobs: &[Job]) -> Result<(), StoreError> {
        let mut next = call.clone();
        next.version += 1;
        self.write(jobs, |state| {
            replace_at_version(
                &mut state.calls,
                &call.external_unique_id,
                call.version,
                &next,
            )?;
            Ok(Change::Commit(()))
        })?;
        call.version = next.version;
        Ok(())
    }

    async fn calls_due_for_sync(&self, now: UnixSeconds) -> Result<Vec<ExternalId>, StoreError> {
        let mut due: Vec<(UnixSeconds, ExternalId)> = self.read(|state| {
            state
                .calls
                .values()
                .filter_map(|call| Some((call.sync_due_at()?, call.external_unique_id.clone())))
                .filter(|(due_at, _)| *due_at <= now)
                .collect()
        });
        due.sort();
        Ok(due.into_iter().map(|(_, id)| id).collect())
    }

    async fn list_live_calls(&self) -> Result<Vec<Call>, StoreError> {
        let mut live: Vec<Call> = self.read(|state| {
            state
                .calls
                .values()
                .filter(|call| call.is_live())
                .cloned()
                .collect()
        });
        live.sort_by(|a, b| {
            (a.created_at, &a.external_unique_id).cmp(&(b.created_at, &b.external_unique_id))
        });
        Ok(live)
    }

    async fn record_event(
        &self,
        receipt: &EventReceipt,
        jobs: &[Job],
    ) -> Result<ReceiptOutcome, StoreError> {
        self.write(jobs, |state| {
            // An expired receipt counts as absent, as in DynamoDB (whose TTL deletes late).
            if state
                .receipts
                .get(&receipt.event_id)
                .is_some_and(|seen| seen.expires_at >= receipt.received_at)
            {
                return Ok(Change::Skip(ReceiptOutcome::Duplicate));
            }
            // The file would otherwise grow with every event ever received.
            state
                .receipts
                .retain(|_, seen| seen.expires_at >= receipt.received_at);
            state
                .receipts
                .insert(receipt.event_id.clone(), receipt.clone());
            Ok(Change::Commit(ReceiptOutcome::New))
        })
    }

    async fn enqueue_jobs(&self, jobs: &[Job]) -> Result<(), StoreError> {
        self.write(jobs, |_| Ok(Change::Commit(())))
    }

    async fn get_job(&self, id: &str) -> Result<Option<Job>, StoreError> {
        Ok(self.read(|state| state.jobs.get(id).cloned()))
    }

    async fn update_job(&self, job: &mut Job) -> Result<(), StoreError> {
        let mut next = job.clone();
        next.version += 1;
        self.write(&[], |state| {
            replace_at_version(&mut state.jobs, &job.id, job.version, &next)?;
            Ok(Change::Commit(()))
        })?;
        job.version = next.version;
        Ok(())
    }

    async fn claim_job(
        &self,
        job: &Job,
        lease: &Lease,
        now: UnixSeconds,
    ) -> Result<JobClaim, StoreError> {
        // The delivered copy is only a first guess for DynamoDB; here the stored job is
        // at hand anyway.
        self.write(&[], |state| {
            let Some(stored) = state.jobs.get_mut(&job.id) else {
                return Ok(Change::Skip(JobClaim::Missing));
            };
            if stored.is_finished() {
                return Ok(Change::Skip(JobClaim::Finished(stored.clone())));
            }
            if !stored.is_claimable(now) {
                return Ok(Change::Skip(JobClaim::Held(stored.clone())));
            }
            stored.begin_attempt(lease);
            stored.version += 1;
            Ok(Change::Commit(JobClaim::Claimed(stored.clone())))
        })
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
        self.write(jobs, |state| {
            replace_at_version(
                &mut state.calls,
                &call.external_unique_id,
                call.version,
                &next_call,
            )?;
            replace_at_version(&mut state.jobs, &job.id, job.version, &next_job)?;
            Ok(Change::Commit(()))
        })?;
        call.version = next_call.version;
        job.version = next_job.version;
        Ok(())
    }

    async fn get_installation(
        &self,
        key: &InstallationKey,
    ) -> Result<Option<Installation>, StoreError> {
        Ok(self.read(|state| state.installations.get(key).cloned()))
    }

    async fn delete_installation(&self, key: &InstallationKey) -> Result<(), StoreError> {
        self.write(&[], |state| match state.installations.remove(key) {
            Some(_) => Ok(Change::Commit(())),
            None => Ok(Change::Skip(())),
        })
    }

    async fn put_installation(&self, installation: &mut Installation) -> Result<(), StoreError> {
        let mut next = installation.clone();
        next.version += 1;
        self.write(&[], |state| {
            let stored_version = state
                .installations
                .get(&installation.key)
                .map(|stored| stored.version);
            let expected = (installation.version > 0).then_some(installation.version);
            if stored_version != expected {
                return Err(StoreError::Conflict);
            }
            state
                .installations
                .insert(installation.key.clone(), next.clone());
            Ok(Change::Commit(()))
        })?;
        installation.version = next.version;
        Ok(())
    }

    async fn get_participants(
        &self,
        call: &ExternalId,
        identities: &[String],
    ) -> Result<Vec<Participant>, StoreError> {
        self.participants_named(call, identities)
    }

    async fn list_participants(&self, call: &ExternalId) -> Result<Vec<Participant>, StoreError> {
        Ok(self.participants_of(call))
    }

    async fn update_call_and_participants(
        &self,
        call: &mut Call,
        participants: &mut [Participant],
        jobs: &[Job],
    ) -> Result<(), StoreError> {
        self.write_call_and_participants(call, participants, jobs)
    }

    async fn update_participants(
        &self,
        call: &ExternalId,
        participants: &mut [Participant],
    ) -> Result<(), StoreError> {
        self.write_participants(call, participants)
    }

    async fn put_oauth_state(&self, state: &OAuthState) -> Result<(), StoreError> {
        self.insert_oauth_state(state)
    }

    async fn take_oauth_state(&self, state: &str) -> Result<Option<OAuthState>, StoreError> {
        self.remove_oauth_state(state)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ids::id;
    use crate::domain::installation::{Sealed, SealedCredentials};
    use crate::domain::{CallKind, JobKind, NewCall};

    fn call(external_id: &str) -> Call {
        Call::new(
            NewCall {
                external_unique_id: id(external_id),
                workspace: crate::domain::Workspace::team(id("T1")),
                channel_id: Some(id("C1")),
                created_by: id("U1"),
                kind: CallKind::Audio,
                title: Some("Planning".into()),
                join_url: format!("https://meet.example/{external_id}"),
                desktop_join_url: None,
                external_display_id: None,
                response_url: None,
            },
            1_000,
        )
    }

    fn job(call_id: &str) -> Job {
        Job::new(JobKind::sync_call(id(call_id)), 1_000)
    }

    fn installation() -> Installation {
        Installation {
            credentials: Some(SealedCredentials {
                bot_token: Sealed::from_base64("c2VhbGVk".into()),
                refresh_token: None,
                expires_at: None,
            }),
            ..Installation::for_team(id("T1"))
        }
    }

    #[tokio::test]
    async fn state_survives_a_restart() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("nested/state.json");
        let mut stored_call = call("c1");
        let queued = job("c1");
        {
            let store = EmbeddedStore::open(&path).expect("opened");
            store
                .create_call(&stored_call, std::slice::from_ref(&queued))
                .await
                .unwrap();
            stored_call.mark_registered(id("R1"));
            store.update_call(&mut stored_call, &[]).await.unwrap();
            store.put_installation(&mut installation()).await.unwrap();
            let receipt = EventReceipt::new("Ev1", 1_000);
            store.record_event(&receipt, &[]).await.unwrap();
        }

        let reopened = EmbeddedStore::open(&path).expect("reopened");
        assert_eq!(
            reopened.item_count(),
            4,
            "a call, a job, an installation, a receipt"
        );
        assert_eq!(
            reopened.get_call(&id("c1")).await.unwrap(),
            Some(stored_call)
        );
        assert_eq!(reopened.get_job(&queued.id).await.unwrap(), Some(queued));
        let installation = reopened
            .get_installation(&InstallationKey::Team(id("T1")))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            installation
                .credentials
                .as_ref()
                .map(|c| c.bot_token.as_base64()),
            Some("c2VhbGVk")
        );
        assert_eq!(installation.version, 1);
        let again = EventReceipt::new("Ev1", 1_001);
        assert_eq!(
            reopened.record_event(&again, &[]).await.unwrap(),
            ReceiptOutcome::Duplicate
        );

        let leftovers: Vec<_> = std::fs::read_dir(path.parent().unwrap())
            .unwrap()
            .map(|entry| entry.unwrap().file_name())
            .collect();
        assert_eq!(leftovers, vec![std::ffi::OsString::from("state.json")]);
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn the_file_is_private_to_its_owner() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("state.json");
        let store = EmbeddedStore::open(&path).unwrap();
        store.put_installation(&mut installation()).await.unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "mode {mode:o} lets others read tokens");
    }

    #[tokio::test]
    async fn a_failed_write_changes_nothing() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("gone/state.json");
        let store = EmbeddedStore::open(&path).unwrap();
        std::fs::remove_dir_all(dir.path().join("gone")).unwrap();
        let mut receiver = store.subscribe_jobs();

        let failure = store.create_call(&call("c1"), &[job("c1")]).await;
        assert!(
            matches!(failure, Err(StoreError::Unavailable(_))),
            "{failure:?}"
        );
        assert_eq!(store.get_call(&id("c1")).await.unwrap(), None);
        assert!(receiver.try_recv().is_err(), "no job announced");
    }

    #[test]
    fn a_corrupt_file_is_refused_without_echoing_it() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("state.json");
        std::fs::write(
            &path,
            r#"{"installations": {"T1": {"bot_token": "xoxb-corrupt"#,
        )
        .unwrap();
        let error = EmbeddedStore::open(&path).expect_err("corrupt");
        assert!(matches!(error, StoreError::Malformed(_)), "{error:?}");
        assert!(!error.to_string().contains("xoxb-corrupt"), "{error}");
    }

    #[tokio::test]
    async fn subscribers_hear_of_inserted_jobs_only() {
        let store = EmbeddedStore::in_memory();
        let mut receiver = store.subscribe_jobs();
        let mut c1 = call("c1");
        let (first, second, third, fourth) = (job("c1"), job("c1"), job("c1"), job("c1"));

        store
            .create_call(&c1, std::slice::from_ref(&first))
            .await
            .unwrap();
        store
            .update_call(&mut c1, std::slice::from_ref(&second))
            .await
            .unwrap();
        let receipt = EventReceipt::new("Ev1", 1_000);
        store
            .record_event(&receipt, std::slice::from_ref(&third))
            .await
            .unwrap();
        store.record_event(&receipt, &[job("c1")]).await.unwrap();
        let mut updated = first.clone();
        store.update_job(&mut updated).await.unwrap();
        store.create_call(&c1, &[job("c1")]).await.unwrap_err();
        store
            .enqueue_jobs(std::slice::from_ref(&fourth))
            .await
            .unwrap();

        let mut heard = Vec::new();
        while let Ok(job) = receiver.try_recv() {
            heard.push(job);
        }
        assert_eq!(heard, [first, second, third, fourth], "each as inserted");

        drop(receiver);
        store.enqueue_jobs(&[job("c1")]).await.unwrap();
        assert!(
            store.lock().job_subscribers.is_empty(),
            "closed subscribers are dropped"
        );
    }

    /// Someone else writes between every read and write: `modify_call` gives up after
    /// its bounded number of tries instead of spinning.
    #[tokio::test(start_paused = true)]
    async fn modify_call_gives_up_after_its_attempts() {
        let store = EmbeddedStore::in_memory();
        store.create_call(&call("c1"), &[]).await.unwrap();
        let mut runs = 0;
        let c1 = id("c1");
        let result = crate::store::modify_call(&store, &c1, |draft| {
            runs += 1;
            if let Some(stored) = store.lock().state.calls.get_mut(&c1) {
                stored.version += 1;
            }
            draft.title = Some(format!("try {runs}"));
            Some(Vec::new())
        })
        .await;
        assert!(matches!(result, Err(StoreError::Conflict)), "{result:?}");
        assert_eq!(runs, crate::store::MODIFY_CALL_ATTEMPTS);
        let stored = store.get_call(&id("c1")).await.unwrap().unwrap();
        assert_eq!(
            stored.title.as_deref(),
            Some("Planning"),
            "no try was written"
        );
    }
}
