//! Proof that a Slack event (by `event_id`) was handled, so retries are no-ops.

use serde::{Deserialize, Serialize};

use super::call::UnixSeconds;

/// How long a receipt is kept; Slack retries within minutes.
pub const EVENT_RECEIPT_TTL_SECONDS: i64 = 3_600;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventReceipt {
    pub event_id: String,
    pub received_at: UnixSeconds,
    pub expires_at: UnixSeconds,
}

impl EventReceipt {
    pub fn new(event_id: impl Into<String>, now: UnixSeconds) -> Self {
        EventReceipt {
            event_id: event_id.into(),
            received_at: now,
            expires_at: now + EVENT_RECEIPT_TTL_SECONDS,
        }
    }
}
