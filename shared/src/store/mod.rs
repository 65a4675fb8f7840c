//! The call-state store port, and its adapters: DynamoDB (deployed) and an embedded
//! file-backed store (local runs). Both pass one conformance suite.

use async_trait::async_trait;

use crate::domain::{Call, EventReceipt, Installation, Job};

pub mod dynamodb;
pub mod embedded;

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
    /// An item could not be read back into the domain (written by a newer version?).
    #[error("stored item is malformed: {0}")]
    Malformed(String),
}

/// Whether an event was new (recorded now) or had been seen before.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventRecord {
    New,
    Duplicate,
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

    async fn get_call(&self, external_unique_id: &str) -> Result<Option<Call>, StoreError>;

    /// Finds a call by Slack's `R…` id.
    async fn find_call_by_slack_id(&self, slack_call_id: &str) -> Result<Option<Call>, StoreError>;

    /// Finds a call by its current join URL (exact match).
    async fn find_call_by_join_url(&self, join_url: &str) -> Result<Option<Call>, StoreError>;

    /// Writes `call` if the stored version is still `call.version`, and enqueues `jobs`,
    /// atomically. On success `call.version` is incremented to the stored version.
    /// `Conflict` if the stored version differs or the call is gone.
    async fn update_call(&self, call: &mut Call, jobs: &[Job]) -> Result<(), StoreError>;

    /// Calls in `Registering` or `Active` state (the sparse active-calls index).
    async fn list_live_calls(&self) -> Result<Vec<Call>, StoreError>;

    /// Records `receipt` if its `event_id` was not seen before, together with `jobs`,
    /// atomically. A duplicate writes nothing.
    async fn record_event(
        &self,
        receipt: &EventReceipt,
        jobs: &[Job],
    ) -> Result<EventRecord, StoreError>;

    /// Enqueues jobs on their own (atomically).
    async fn enqueue_jobs(&self, jobs: &[Job]) -> Result<(), StoreError>;

    async fn get_job(&self, id: &str) -> Result<Option<Job>, StoreError>;

    /// Writes `job` if the stored version is still `job.version`; increments it on
    /// success. Updating a job never re-triggers the worker (only inserts do).
    async fn update_job(&self, job: &mut Job) -> Result<(), StoreError>;

    async fn get_installation(&self, team_id: &str) -> Result<Option<Installation>, StoreError>;

    /// Creates or replaces the installation if its stored version is still
    /// `installation.version` (0 = must not exist); increments it on success.
    async fn put_installation(&self, installation: &mut Installation) -> Result<(), StoreError>;
}
