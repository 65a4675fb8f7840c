//! A store wrapper that counts every request by method (the flow tests pin what a
//! call's life costs) and can fail a chosen `update_call`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use slack_calls::domain::OAuthState;
use slack_calls::domain::{
    Call, EventReceipt, ExternalId, Installation, InstallationKey, Job, Lease, Participant,
    SlackCallId, UnixSeconds,
};
use slack_calls::store::{CallStore, JobClaim, ReceiptOutcome, StoreError};

/// Counts every store request by method, then passes it on; can fail a chosen
/// `update_call` as an unreachable store would.
pub struct CountingStore {
    inner: Arc<dyn CallStore>,
    counts: std::sync::Mutex<Vec<&'static str>>,
    total: AtomicUsize,
    /// `update_call`s to pass before the next one fails (0: none is failed).
    failing_update_call: AtomicUsize,
}

impl CountingStore {
    pub fn new(inner: Arc<dyn CallStore>) -> Self {
        CountingStore {
            inner,
            counts: std::sync::Mutex::new(Vec::new()),
            total: AtomicUsize::new(0),
            failing_update_call: AtomicUsize::new(0),
        }
    }

    /// Fails the `nth` `update_call` from now (1: the next one) with `Unavailable`,
    /// once; nothing is written.
    pub fn fail_update_call(&self, nth: usize) {
        self.failing_update_call.store(nth, Ordering::SeqCst);
    }

    fn count(&self, method: &'static str) {
        self.total.fetch_add(1, Ordering::SeqCst);
        self.counts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(method);
    }

    pub fn total(&self) -> usize {
        self.total.load(Ordering::SeqCst)
    }

    /// The methods called, in order.
    pub fn calls(&self) -> Vec<&'static str> {
        self.counts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub fn reset(&self) {
        self.total.store(0, Ordering::SeqCst);
        self.counts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
    }
}

#[async_trait]
impl CallStore for CountingStore {
    async fn create_call(&self, call: &Call, jobs: &[Job]) -> Result<(), StoreError> {
        self.count("create_call");
        self.inner.create_call(call, jobs).await
    }
    async fn get_call(&self, external_unique_id: &ExternalId) -> Result<Option<Call>, StoreError> {
        self.count("get_call");
        self.inner.get_call(external_unique_id).await
    }
    async fn find_call_by_slack_id(
        &self,
        slack_call_id: &SlackCallId,
    ) -> Result<Option<Call>, StoreError> {
        self.count("find_call_by_slack_id");
        self.inner.find_call_by_slack_id(slack_call_id).await
    }
    async fn calls_by_join_url(&self, join_url: &str) -> Result<Vec<Call>, StoreError> {
        self.count("calls_by_join_url");
        self.inner.calls_by_join_url(join_url).await
    }
    async fn update_call(&self, call: &mut Call, jobs: &[Job]) -> Result<(), StoreError> {
        self.count("update_call");
        let due = self
            .failing_update_call
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1));
        if due == Ok(1) {
            return Err(StoreError::Unavailable(
                "injected: update_call failed".into(),
            ));
        }
        self.inner.update_call(call, jobs).await
    }
    async fn calls_due_for_sync(&self, now: UnixSeconds) -> Result<Vec<ExternalId>, StoreError> {
        self.count("calls_due_for_sync");
        self.inner.calls_due_for_sync(now).await
    }
    async fn list_live_calls(&self) -> Result<Vec<Call>, StoreError> {
        self.count("list_live_calls");
        self.inner.list_live_calls().await
    }
    async fn record_event(
        &self,
        receipt: &EventReceipt,
        jobs: &[Job],
    ) -> Result<ReceiptOutcome, StoreError> {
        self.count("record_event");
        self.inner.record_event(receipt, jobs).await
    }
    async fn enqueue_jobs(&self, jobs: &[Job]) -> Result<(), StoreError> {
        self.count("enqueue_jobs");
        self.inner.enqueue_jobs(jobs).await
    }
    async fn get_job(&self, id: &str) -> Result<Option<Job>, StoreError> {
        self.count("get_job");
        self.inner.get_job(id).await
    }
    async fn update_job(&self, job: &mut Job) -> Result<(), StoreError> {
        self.count("update_job");
        self.inner.update_job(job).await
    }
    async fn claim_job(
        &self,
        job: &Job,
        lease: &Lease,
        now: UnixSeconds,
    ) -> Result<JobClaim, StoreError> {
        self.count("claim_job");
        self.inner.claim_job(job, lease, now).await
    }
    async fn update_call_and_job(
        &self,
        call: &mut Call,
        job: &mut Job,
        jobs: &[Job],
    ) -> Result<(), StoreError> {
        self.count("update_call_and_job");
        self.inner.update_call_and_job(call, job, jobs).await
    }
    async fn get_installation(
        &self,
        key: &InstallationKey,
    ) -> Result<Option<Installation>, StoreError> {
        self.count("get_installation");
        self.inner.get_installation(key).await
    }
    async fn delete_installation(&self, key: &InstallationKey) -> Result<(), StoreError> {
        self.count("delete_installation");
        self.inner.delete_installation(key).await
    }
    async fn put_installation(&self, installation: &mut Installation) -> Result<(), StoreError> {
        self.count("put_installation");
        self.inner.put_installation(installation).await
    }

    async fn get_participants(
        &self,
        call: &ExternalId,
        identities: &[String],
    ) -> Result<Vec<Participant>, StoreError> {
        self.count("get_participants");
        self.inner.get_participants(call, identities).await
    }

    async fn list_participants(&self, call: &ExternalId) -> Result<Vec<Participant>, StoreError> {
        self.count("list_participants");
        self.inner.list_participants(call).await
    }

    async fn update_call_and_participants(
        &self,
        call: &mut Call,
        participants: &mut [Participant],
        jobs: &[Job],
    ) -> Result<(), StoreError> {
        self.count("update_call_and_participants");
        self.inner
            .update_call_and_participants(call, participants, jobs)
            .await
    }

    async fn update_participants(
        &self,
        call: &ExternalId,
        participants: &mut [Participant],
    ) -> Result<(), StoreError> {
        self.count("update_participants");
        self.inner.update_participants(call, participants).await
    }

    async fn put_oauth_state(&self, state: &OAuthState) -> Result<(), StoreError> {
        self.count("put_oauth_state");
        self.inner.put_oauth_state(state).await
    }
    async fn take_oauth_state(&self, state: &str) -> Result<Option<OAuthState>, StoreError> {
        self.count("take_oauth_state");
        self.inner.take_oauth_state(state).await
    }
}
