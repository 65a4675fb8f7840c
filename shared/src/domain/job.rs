//! Jobs: Slack work handed from an entry point to the worker through the outbox.

use serde::{Deserialize, Serialize};

use super::call::UnixSeconds;
use super::ids::{ChannelId, ExternalId, SlackCallId, UserId};
use super::notice::ProviderNotice;
use super::unfurl::UnfurlSource;
use super::workspace::Workspace;

/// What the worker has to do. Each kind is idempotent: running it twice (stream
/// redelivery) has the effect of running it once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum JobKind {
    /// `calls.add`, then post the call block through the call's `response_url`.
    RegisterCall { external_unique_id: ExternalId },
    /// Bring Slack's call object in line with the call: details, end, and the
    /// participants named (by identity; what one write changed, so a sync's work does
    /// not grow with the call).
    SyncCall {
        external_unique_id: ExternalId,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        participants: Vec<String>,
        /// The version of the call the write that named them was made from: when that
        /// write alone left people owed, their sync settles the call's flag
        /// ([`super::Call::settle_participants`]).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        written_at: Option<u64>,
    },
    /// A DM call was declined: record it, end the call if nobody joined, tell the provider.
    RejectCall {
        slack_call_id: SlackCallId,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        external_unique_id: Option<ExternalId>,
        user_id: UserId,
        channel_id: ChannelId,
        rejected_at: UnixSeconds,
        /// The workspace the rejection came from: only its calls are touched. Unset on
        /// jobs written before calls were scoped by workspace.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        workspace: Option<Workspace>,
    },
    /// `chat.unfurl` the links of ours in one shared message (or message composer),
    /// registering rooms that have no live call.
    Unfurl {
        /// Flattened, so a job written when it held only `team_id` still reads.
        #[serde(flatten)]
        workspace: Workspace,
        /// The conversation; unset for a link still in the message composer.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        channel: Option<ChannelId>,
        message_ts: String,
        /// `link_shared`'s `unfurl_id` and `source`, which `chat.unfurl` takes in place
        /// of `channel` + `ts` (older jobs have neither).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        unfurl_id: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        source: Option<UnfurlSource>,
        user_id: UserId,
        links: Vec<String>,
    },
    /// Tell the provider's backend (`PROVIDER_CALLBACK_URL`) about something Slack saw.
    NotifyProvider {
        external_unique_id: ExternalId,
        payload: ProviderNotice,
    },
    /// The app was uninstalled or its tokens revoked: disable the workspace's installation.
    DisableInstallation {
        #[serde(flatten)]
        workspace: Workspace,
        reason: String,
    },
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
    /// The run holding the lease ([`Lease::run`]), so a run recognises its own lease.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leased_by: Option<String>,
    /// When the job was enqueued, in milliseconds, where latency is measured from it
    /// (a call's registration: from the answer to `/call` to its call block).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enqueued_at_ms: Option<i64>,
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
            leased_by: None,
            enqueued_at_ms: None,
            version: 0,
        }
    }

    /// The same job under a chosen id: inserting it twice fails, so the id can make
    /// the insert a receipt (of the request that asked for it, say).
    pub fn with_id(mut self, id: String) -> Self {
        self.id = id;
        self
    }

    pub fn is_finished(&self) -> bool {
        self.status != JobStatus::Pending
    }

    /// Whether a run holds the job at `now` (a lease that has run out holds nothing).
    pub fn is_leased(&self, now: UnixSeconds) -> bool {
        self.leased_until.is_some_and(|until| until > now)
    }

    /// Whether a run may start now: the job is pending and nobody holds it.
    pub fn is_claimable(&self, now: UnixSeconds) -> bool {
        !self.is_finished() && !self.is_leased(now)
    }

    /// A run starts: counts the attempt and holds the job with `lease`. Stored as one
    /// conditional write, so of two racing deliveries only one runs it.
    pub fn begin_attempt(&mut self, lease: &Lease) {
        self.attempts += 1;
        self.leased_until = Some(lease.until);
        self.leased_by = Some(lease.run.clone());
    }

    /// Whether `lease` is the one holding the job (its run may go on and end it).
    pub fn is_held_by(&self, lease: &Lease) -> bool {
        self.leased_by.as_deref() == Some(lease.run.as_str())
            && self.leased_until == Some(lease.until)
    }

    /// A run that took no lease (see [`JobKind::needs_lease`]) counts its attempt when
    /// it ends instead of when it starts.
    pub fn count_unleased_attempt(&mut self) {
        self.attempts += 1;
    }

    /// More runs have started than `max_attempts` allows.
    pub fn is_out_of_attempts(&self, max_attempts: u32) -> bool {
        self.attempts > max_attempts
    }

    /// The job is over (`Done`, or `Failed` for `reason`) and frees its lease.
    pub fn finish(&mut self, status: JobStatus, reason: Option<String>) {
        self.status = status;
        self.last_error = reason;
        self.leased_until = None;
        self.leased_by = None;
    }

    /// The run could not finish: the job stays pending, free for the next delivery,
    /// and remembers why for whoever looks at it.
    pub fn release_for_retry(&mut self, reason: impl Into<String>) {
        self.last_error = Some(reason.into());
        self.leased_until = None;
        self.leased_by = None;
    }
}

/// A run's hold on a job: which run, and until when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    /// Unique per run: a run that sees its own id on the job knows the lease is its own
    /// (a retried write that had landed, say).
    pub run: String,
    pub until: UnixSeconds,
}

impl Lease {
    /// A new run's lease, from `now` for `seconds`.
    pub fn new(now: UnixSeconds, seconds: i64) -> Self {
        Lease {
            run: super::ids::new_id(),
            until: now + seconds,
        }
    }
}

impl JobKind {
    /// A sync of the call's details and end.
    pub fn sync_call(external_unique_id: ExternalId) -> Self {
        JobKind::SyncCall {
            external_unique_id,
            participants: Vec::new(),
            written_at: None,
        }
    }

    /// A sync of the call's details and end, and of `participants` (identities).
    pub fn sync_participants(external_unique_id: ExternalId, participants: Vec<String>) -> Self {
        JobKind::SyncCall {
            external_unique_id,
            participants,
            written_at: None,
        }
    }

    /// The sync a write of the call made from its version `version` enqueues, of the
    /// `participants` it changed.
    pub fn sync_written(
        external_unique_id: ExternalId,
        participants: Vec<String>,
        version: u64,
    ) -> Self {
        JobKind::SyncCall {
            external_unique_id,
            participants,
            written_at: Some(version),
        }
    }

    /// Whether a run must hold the job alone. Registering a call, unfurling, telling
    /// the provider or recording a rejection twice would show twice; syncing a call's
    /// participants, details and end is safe to repeat (Slack answers a repeat as done,
    /// and what it acknowledged is recorded on the call under optimistic locking), so a
    /// sync skips the lease and its write.
    pub fn needs_lease(&self) -> bool {
        !matches!(self, JobKind::SyncCall { .. })
    }

    /// The call whose reconciliation covers this job's work: when its run cannot go on
    /// now, the call's needs-sync marker has the sweep enqueue the work again.
    pub fn repaired_call(&self) -> Option<&ExternalId> {
        match self {
            JobKind::RegisterCall { external_unique_id }
            | JobKind::SyncCall {
                external_unique_id, ..
            } => Some(external_unique_id),
            _ => None,
        }
    }

    /// The kind's name, as serialised and as logged.
    pub fn name(&self) -> &'static str {
        match self {
            JobKind::RegisterCall { .. } => "register_call",
            JobKind::SyncCall { .. } => "sync_call",
            JobKind::RejectCall { .. } => "reject_call",
            JobKind::Unfurl { .. } => "unfurl",
            JobKind::NotifyProvider { .. } => "notify_provider",
            JobKind::DisableInstallation { .. } => "disable_installation",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ids::id;

    fn job() -> Job {
        Job::new(JobKind::sync_call(id("c1")), 1_000)
    }

    #[test]
    fn an_attempt_counts_and_holds_the_job_until_its_lease_runs_out() {
        let mut job = job();
        assert!(!job.is_leased(1_000));
        assert!(job.is_claimable(1_000));
        let first = Lease::new(1_000, 90);
        job.begin_attempt(&first);
        assert_eq!(job.attempts, 1);
        assert!(job.is_leased(1_000));
        assert!(job.is_leased(1_089));
        assert!(!job.is_claimable(1_089));
        assert!(!job.is_leased(1_090), "free once the lease has run out");
        assert!(job.is_claimable(1_090));
        assert!(job.is_held_by(&first));
        let second = Lease::new(1_090, 90);
        assert_ne!(second.run, first.run, "each run its own id");
        job.begin_attempt(&second);
        assert_eq!(job.attempts, 2);
        assert_eq!(job.leased_until, Some(1_180));
        assert!(job.is_held_by(&second));
        assert!(!job.is_held_by(&first));
    }

    #[test]
    fn attempts_are_bounded_after_the_last_allowed_run() {
        let mut job = job();
        for _ in 0..3 {
            job.begin_attempt(&Lease::new(1_000, 90));
        }
        assert!(!job.is_out_of_attempts(3));
        job.begin_attempt(&Lease::new(1_000, 90));
        assert!(job.is_out_of_attempts(3));
        let mut unleased = self::job();
        unleased.count_unleased_attempt();
        assert_eq!(unleased.attempts, 1);
        assert_eq!(unleased.leased_until, None);
    }

    #[test]
    fn finishing_ends_the_job_and_frees_it() {
        let mut done = job();
        done.begin_attempt(&Lease::new(1_000, 90));
        done.finish(JobStatus::Done, None);
        assert!(done.is_finished());
        assert!(!done.is_claimable(1_000));
        assert_eq!(done.leased_by, None);
        assert_eq!(done.status, JobStatus::Done);
        assert_eq!(done.last_error, None);
        assert!(!done.is_leased(1_000));

        let mut failed = job();
        failed.begin_attempt(&Lease::new(1_000, 90));
        failed.release_for_retry("timeout");
        failed.finish(JobStatus::Failed, Some("too many attempts".into()));
        assert_eq!(failed.status, JobStatus::Failed);
        assert_eq!(failed.last_error.as_deref(), Some("too many attempts"));
        assert!(!failed.is_leased(1_000));
    }

    #[test]
    fn a_release_keeps_the_job_pending_and_says_why() {
        let mut job = job();
        job.begin_attempt(&Lease::new(1_000, 90));
        job.release_for_retry("ratelimited");
        assert!(!job.is_finished());
        assert!(!job.is_leased(1_000));
        assert_eq!(job.leased_by, None);
        assert!(job.is_claimable(1_000));
        assert_eq!(job.attempts, 1, "a release is no new attempt");
        assert_eq!(job.last_error.as_deref(), Some("ratelimited"));
    }

    #[test]
    fn kind_names_match_the_serialised_tag() {
        let kinds = [
            JobKind::RegisterCall {
                external_unique_id: id("c1"),
            },
            JobKind::sync_call(id("c1")),
            JobKind::RejectCall {
                slack_call_id: id("R1"),
                external_unique_id: None,
                user_id: id("U1"),
                channel_id: id("D1"),
                rejected_at: 1,
                workspace: Some(Workspace::team(id("T1"))),
            },
            JobKind::Unfurl {
                workspace: Workspace::team(id("T1")),
                channel: Some(id("C1")),
                message_ts: "1.2".into(),
                unfurl_id: None,
                source: None,
                user_id: id("U1"),
                links: Vec::new(),
            },
            JobKind::DisableInstallation {
                workspace: Workspace::team(id("T1")),
                reason: "app_uninstalled".into(),
            },
        ];
        for kind in kinds {
            let tagged = serde_json::to_value(&kind).unwrap_or_default();
            assert_eq!(tagged["kind"], kind.name(), "{kind:?}");
            assert_eq!(
                kind.needs_lease(),
                kind.name() != "sync_call",
                "only a sync is safe to run twice at once: {kind:?}"
            );
        }
    }

    #[test]
    fn unfurl_jobs_written_before_unfurl_ids_still_read() {
        let old = serde_json::json!({
            "id": "j1", "kind": "unfurl", "status": "pending", "created_at": 1,
            "team_id": "T1", "channel": "C1", "message_ts": "1.2", "user_id": "U1",
            "links": ["https://meet.example/r"],
        });
        let job: Job = serde_json::from_value(old).expect("an older unfurl job reads");
        assert!(matches!(
            job.kind,
            JobKind::Unfurl { channel: Some(ref c), unfurl_id: None, source: None, .. } if c == "C1"
        ));
        let JobKind::Unfurl { workspace, .. } = job.kind else {
            panic!("an unfurl job");
        };
        assert_eq!(workspace, Workspace::team(id("T1")));
    }

    #[test]
    fn jobs_written_before_workspaces_still_read_and_org_installs_round_trip() {
        let old = serde_json::json!({
            "id": "j1", "kind": "disable_installation", "status": "pending", "created_at": 1,
            "team_id": "T1", "reason": "app_uninstalled",
        });
        let job: Job = serde_json::from_value(old).expect("an older job reads");
        assert_eq!(
            job.kind,
            JobKind::DisableInstallation {
                workspace: Workspace::team(id("T1")),
                reason: "app_uninstalled".into()
            }
        );
        let old = serde_json::json!({
            "id": "j2", "kind": "reject_call", "status": "pending", "created_at": 1,
            "slack_call_id": "R1", "user_id": "U1", "channel_id": "D1", "rejected_at": 1,
        });
        let job: Job = serde_json::from_value(old).expect("an older rejection reads");
        assert!(matches!(
            job.kind,
            JobKind::RejectCall {
                workspace: None,
                ..
            }
        ));

        let org = Workspace {
            team_id: id("T2"),
            enterprise_id: Some(id("E1")),
            is_enterprise_install: true,
        };
        let kind = JobKind::DisableInstallation {
            workspace: org.clone(),
            reason: "tokens_revoked".into(),
        };
        let json = serde_json::to_value(&kind).unwrap_or_default();
        assert_eq!(json["team_id"], "T2");
        assert_eq!(json["enterprise_id"], "E1");
        let back: JobKind = serde_json::from_value(json).expect("reads back");
        assert_eq!(back, kind);
    }
}
