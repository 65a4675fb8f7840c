//! A store decorator that announces every job it writes, so the in-process worker runs
//! jobs as soon as they are written: the local stand-in for the table's stream.

use std::sync::Arc;

use slack_calls::domain::Job;
use slack_calls::store::layer::StoreLayer;
use slack_calls::store::CallStore;
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

impl StoreLayer for NotifyingStore {
    fn inner(&self) -> &dyn CallStore {
        self.inner.as_ref()
    }

    fn after_write(&self, _method: &'static str, jobs: &[Job]) {
        self.announce(jobs);
    }
}
