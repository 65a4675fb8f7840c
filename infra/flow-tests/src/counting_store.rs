//! A store wrapper that counts every request by method (the flow tests pin what a
//! call's life costs) and can fail a chosen `update_call`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use slack_calls::store::layer::StoreLayer;
use slack_calls::store::{CallStore, StoreError};

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

impl StoreLayer for CountingStore {
    fn inner(&self) -> &dyn CallStore {
        self.inner.as_ref()
    }

    fn before(&self, method: &'static str) -> Result<(), StoreError> {
        self.count(method);
        if method == "update_call" {
            let due =
                self.failing_update_call
                    .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1));
            if due == Ok(1) {
                return Err(StoreError::Unavailable(
                    "injected: update_call failed".into(),
                ));
            }
        }
        Ok(())
    }
}
