//! Store decorators (a cache, a job announcer, a request counter) written as hooks
//! around one delegation: a type that implements [`StoreLayer`] is a [`CallStore`] that
//! passes every request on to its inner store, so a new store method is delegated here
//! once instead of in every decorator.

use async_trait::async_trait;

use super::{CallStore, JobClaim, ReceiptOutcome, StoreError};
use crate::domain::installation::InstallationKey;
use crate::domain::OAuthState;
use crate::domain::{
    Call, EventReceipt, ExternalId, Installation, Job, Lease, Participant, SlackCallId, UnixSeconds,
};

/// A decorator of a [`CallStore`]: every request goes to [`StoreLayer::inner`], with the
/// hooks around it. `method` is always the name of the [`CallStore`] method.
#[async_trait]
pub trait StoreLayer: Send + Sync {
    /// The store requests are passed on to.
    fn inner(&self) -> &dyn CallStore;

    /// Runs before every request; an error answers it without passing it on.
    fn before(&self, _method: &'static str) -> Result<(), StoreError> {
        Ok(())
    }

    /// Runs after a write that enqueued `jobs` succeeded (a duplicate
    /// [`CallStore::record_event`] enqueued nothing, so it is not reported).
    fn after_write(&self, _method: &'static str, _jobs: &[Job]) {}

    /// [`CallStore::get_installation`], after [`StoreLayer::before`].
    async fn on_get_installation(
        &self,
        key: &InstallationKey,
    ) -> Result<Option<Installation>, StoreError> {
        self.inner().get_installation(key).await
    }

    /// [`CallStore::put_installation`], after [`StoreLayer::before`].
    async fn on_put_installation(&self, installation: &mut Installation) -> Result<(), StoreError> {
        self.inner().put_installation(installation).await
    }

    /// [`CallStore::delete_installation`], after [`StoreLayer::before`].
    async fn on_delete_installation(&self, key: &InstallationKey) -> Result<(), StoreError> {
        self.inner().delete_installation(key).await
    }
}

#[async_trait]
impl<L: StoreLayer> CallStore for L {
    async fn create_call(&self, call: &Call, jobs: &[Job]) -> Result<(), StoreError> {
        self.before("create_call")?;
        self.inner().create_call(call, jobs).await?;
        self.after_write("create_call", jobs);
        Ok(())
    }

    async fn get_call(&self, external_unique_id: &ExternalId) -> Result<Option<Call>, StoreError> {
        self.before("get_call")?;
        self.inner().get_call(external_unique_id).await
    }

    async fn find_call_by_slack_id(
        &self,
        slack_call_id: &SlackCallId,
    ) -> Result<Option<Call>, StoreError> {
        self.before("find_call_by_slack_id")?;
        self.inner().find_call_by_slack_id(slack_call_id).await
    }

    async fn calls_by_join_url(&self, join_url: &str) -> Result<Vec<Call>, StoreError> {
        self.before("calls_by_join_url")?;
        self.inner().calls_by_join_url(join_url).await
    }

    async fn update_call(&self, call: &mut Call, jobs: &[Job]) -> Result<(), StoreError> {
        self.before("update_call")?;
        self.inner().update_call(call, jobs).await?;
        self.after_write("update_call", jobs);
        Ok(())
    }

    async fn list_live_calls(&self) -> Result<Vec<Call>, StoreError> {
        self.before("list_live_calls")?;
        self.inner().list_live_calls().await
    }

    async fn calls_due_for_sync(&self, now: UnixSeconds) -> Result<Vec<ExternalId>, StoreError> {
        self.before("calls_due_for_sync")?;
        self.inner().calls_due_for_sync(now).await
    }

    async fn record_event(
        &self,
        receipt: &EventReceipt,
        jobs: &[Job],
    ) -> Result<ReceiptOutcome, StoreError> {
        self.before("record_event")?;
        let outcome = self.inner().record_event(receipt, jobs).await?;
        if outcome == ReceiptOutcome::New {
            self.after_write("record_event", jobs);
        }
        Ok(outcome)
    }

    async fn enqueue_jobs(&self, jobs: &[Job]) -> Result<(), StoreError> {
        self.before("enqueue_jobs")?;
        self.inner().enqueue_jobs(jobs).await?;
        self.after_write("enqueue_jobs", jobs);
        Ok(())
    }

    async fn get_job(&self, id: &str) -> Result<Option<Job>, StoreError> {
        self.before("get_job")?;
        self.inner().get_job(id).await
    }

    async fn update_job(&self, job: &mut Job) -> Result<(), StoreError> {
        self.before("update_job")?;
        self.inner().update_job(job).await
    }

    async fn claim_job(
        &self,
        job: &Job,
        lease: &Lease,
        now: UnixSeconds,
    ) -> Result<JobClaim, StoreError> {
        self.before("claim_job")?;
        self.inner().claim_job(job, lease, now).await
    }

    async fn update_call_and_job(
        &self,
        call: &mut Call,
        job: &mut Job,
        jobs: &[Job],
    ) -> Result<(), StoreError> {
        self.before("update_call_and_job")?;
        self.inner().update_call_and_job(call, job, jobs).await?;
        self.after_write("update_call_and_job", jobs);
        Ok(())
    }

    async fn get_installation(
        &self,
        key: &InstallationKey,
    ) -> Result<Option<Installation>, StoreError> {
        self.before("get_installation")?;
        self.on_get_installation(key).await
    }

    async fn get_participants(
        &self,
        call: &ExternalId,
        identities: &[String],
    ) -> Result<Vec<Participant>, StoreError> {
        self.before("get_participants")?;
        self.inner().get_participants(call, identities).await
    }

    async fn list_participants(&self, call: &ExternalId) -> Result<Vec<Participant>, StoreError> {
        self.before("list_participants")?;
        self.inner().list_participants(call).await
    }

    async fn update_call_and_participants(
        &self,
        call: &mut Call,
        participants: &mut [Participant],
        jobs: &[Job],
    ) -> Result<(), StoreError> {
        self.before("update_call_and_participants")?;
        self.inner()
            .update_call_and_participants(call, participants, jobs)
            .await?;
        self.after_write("update_call_and_participants", jobs);
        Ok(())
    }

    async fn update_participants(
        &self,
        call: &ExternalId,
        participants: &mut [Participant],
    ) -> Result<(), StoreError> {
        self.before("update_participants")?;
        self.inner().update_participants(call, participants).await
    }

    async fn put_installation(&self, installation: &mut Installation) -> Result<(), StoreError> {
        self.before("put_installation")?;
        self.on_put_installation(installation).await
    }

    async fn put_oauth_state(&self, state: &OAuthState) -> Result<(), StoreError> {
        self.before("put_oauth_state")?;
        self.inner().put_oauth_state(state).await
    }

    async fn take_oauth_state(&self, state: &str) -> Result<Option<OAuthState>, StoreError> {
        self.before("take_oauth_state")?;
        self.inner().take_oauth_state(state).await
    }

    async fn delete_installation(&self, key: &InstallationKey) -> Result<(), StoreError> {
        self.before("delete_installation")?;
        self.on_delete_installation(key).await
    }
}
