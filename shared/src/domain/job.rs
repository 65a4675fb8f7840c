//! Jobs: Slack work handed from an entry point to the worker through the outbox.

use serde::{Deserialize, Serialize};

use super::call::UnixSeconds;
use crate::provider::callback::ProviderNotice;

/// What the worker has to do. Each kind is idempotent: running it twice (stream
/// redelivery) has the effect of running it once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum JobKind {
    /// `calls.add`, then post the call block through the call's `response_url`.
    RegisterCall { external_unique_id: String },
    /// Bring Slack's call object in line with the call: participants, details, end.
    SyncCall { external_unique_id: String },
    /// A DM call was declined: record it, end the call if nobody joined, tell the provider.
    RejectCall {
        slack_call_id: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        external_unique_id: Option<String>,
        user_id: String,
        channel_id: String,
        rejected_at: UnixSeconds,
    },
    /// `chat.unfurl` the links of ours in one shared message, registering unknown rooms.
    Unfurl {
        team_id: String,
        channel: String,
        message_ts: String,
        user_id: String,
        links: Vec<String>,
    },
    /// Tell the provider's backend (`PROVIDER_CALLBACK_URL`) about something Slack saw.
    NotifyProvider {
        external_unique_id: String,
        payload: ProviderNotice,
    },
    /// The app was uninstalled or its tokens revoked: disable the team's installation.
    DisableInstallation { team_id: String, reason: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobStatus {
    Pending,
    Done,
    Failed,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Job {
    pub id: String,
    #[serde(flatten)]
    pub kind: JobKind,
    pub status: JobStatus,
    /// Runs started so far; bounded by the worker.
    #[serde(default)]
    pub attempts: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    pub created_at: UnixSeconds,
    /// Set while a worker runs the job: another delivery of it leaves it alone until
    /// then (a run that crashed frees it when this passes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leased_until: Option<UnixSeconds>,
    /// Optimistic-locking version, as on calls.
    #[serde(default)]
    pub version: u64,
}

impl Job {
    pub fn new(kind: JobKind, now: UnixSeconds) -> Self {
        Job {
            id: super::ids::new_id(),
            kind,
            status: JobStatus::Pending,
            attempts: 0,
            last_error: None,
            created_at: now,
            leased_until: None,
            version: 0,
        }
    }

    pub fn is_finished(&self) -> bool {
        self.status != JobStatus::Pending
    }
}
