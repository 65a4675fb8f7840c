//! A store decorator that announces every job it writes, so the in-process worker runs
//! jobs as soon as they are written: the local stand-in for the table's stream.

use std::sync::Arc;

use async_trait::async_trait;
use slack_calls::domain::OAuthState;
use slack_calls::domain::{
    Call, EventReceipt, ExternalId, Installation, InstallationKey, Job, Lease, Participant,
    SlackCallId, UnixSeconds,
};
use slack_calls::store::{CallStore, JobClaim, ReceiptOutcome, StoreError};
use tokio::sync::mpsc::UnboundedSender;

pub struct NotifyingStore {
    inner: Arc<dyn CallStore>,
    jobs: UnboundedSender<String>,
}

impl NotifyingStore {
    pub fn new(inner: Arc<dyn CallStore>, jobs: UnboundedSender<String>) -> Self {
        NotifyingStore { inner, jobs }
    }

    fn announce(&self, jobs: &[Job]) {
        for job in jobs {
            // The worker may be gone during shutdown; the job stays stored regardless.
            let _ = self.jobs.send(job.id.clone());
        }
    }
}

#[async_trait]
impl CallStore for NotifyingStore {
    async fn create_call(&self, call: &Call, jobs: &[Job]) -> Result<(), StoreError> {
        self.inner.create_call(call, jobs).await?;
        self.announce(jobs);
        Ok(())
    }

    async fn get_call(&self, external_unique_id: &ExternalId) -> Result<Option<Call>, StoreError> {
        self.inner.get_call(external_unique_id).await
    }

    async fn find_call_by_slack_id(
        &self,
        slack_call_id: &SlackCallId,
    ) -> Result<Option<Call>, StoreError> {
        self.inner.find_call_by_slack_id(slack_call_id).await
    }

    async fn calls_by_join_url(&self, join_url: &str) -> Result<Vec<Call>, StoreError> {
        self.inner.calls_by_join_url(join_url).await
    }

    async fn update_call(&self, call: &mut Call, jobs: &[Job]) -> Result<(), StoreError> {
        self.inner.update_call(call, jobs).await?;
        self.announce(jobs);
        Ok(())
    }

    async fn calls_due_for_sync(&self, now: UnixSeconds) -> Result<Vec<ExternalId>, StoreError> {
        self.inner.calls_due_for_sync(now).await
    }

    async fn list_live_calls(&self) -> Result<Vec<Call>, StoreError> {
        self.inner.list_live_calls().await
    }

    async fn record_event(
        &self,
        receipt: &EventReceipt,
        jobs: &[Job],
    ) -> Result<ReceiptOutcome, StoreError> {
        let record = self.inner.record_event(receipt, jobs).await?;
        if record == ReceiptOutcome::New {
            self.announce(jobs);
        }
        Ok(record)
    }

    async fn enqueue_jobs(&self, jobs: &[Job]) -> Result<(), StoreError> {
        self.inner.enqueue_jobs(jobs).await?;
        self.announce(jobs);
        Ok(())
    }

    async fn get_job(&self, id: &str) -> Result<Option<Job>, StoreError> {
        self.inner.get_job(id).await
    }

    async fn update_job(&self, job: &mut Job) -> Result<(), StoreError> {
        self.inner.update_job(job).await
    }

    async fn claim_job(
        &self,
        job: &Job,
        lease: &Lease,
        now: UnixSeconds,
    ) -> Result<JobClaim, StoreError> {
        self.inner.claim_job(job, lease, now).await
    }

    async fn update_call_and_job(
        &self,
        call: &mut Call,
        job: &mut Job,
        jobs: &[Job],
    ) -> Result<(), StoreError> {
        self.inner.update_call_and_job(call, job, jobs).await?;
        self.announce(jobs);
        Ok(())
    }

    async fn get_installation(
        &self,
        key: &InstallationKey,
    ) -> Result<Option<Installation>, StoreError> {
        self.inner.get_installation(key).await
    }

    async fn delete_installation(&self, key: &InstallationKey) -> Result<(), StoreError> {
        self.inner.delete_installation(key).await
    }

    async fn put_installation(&self, installation: &mut Installation) -> Result<(), StoreError> {
        self.inner.put_installation(installation).await
    }

    async fn get_participants(
        &self,
        call: &ExternalId,
        identities: &[String],
    ) -> Result<Vec<Participant>, StoreError> {
        self.inner.get_participants(call, identities).await
    }

    async fn list_participants(&self, call: &ExternalId) -> Result<Vec<Participant>, StoreError> {
        self.inner.list_participants(call).await
    }

    async fn update_call_and_participants(
        &self,
        call: &mut Call,
        participants: &mut [Participant],
        jobs: &[Job],
    ) -> Result<(), StoreError> {
        self.inner
            .update_call_and_participants(call, participants, jobs)
            .await?;
        self.announce(jobs);
        Ok(())
    }

    async fn update_participants(
        &self,
        call: &ExternalId,
        participants: &mut [Participant],
    ) -> Result<(), StoreError> {
        self.inner.update_participants(call, participants).await
    }

    async fn put_oauth_state(&self, state: &OAuthState) -> Result<(), StoreError> {
        self.inner.put_oauth_state(state).await
    }

    async fn take_oauth_state(&self, state: &str) -> Result<Option<OAuthState>, StoreError> {
        self.inner.take_oauth_state(state).await
    }
}
