//! Reconciliation: what Slack still lacks for a call, recorded on the call until Slack
//! confirms it, and when the scheduled sweep next repairs it. Retries handle blips;
//! this handles outages of any length.
//!
//! The store derives the sparse "needs sync" marker from [`Call::sync_due_at`] on every
//! write of the call, so the marker rides on the writes that create or settle a need.

use serde::{Deserialize, Serialize};

use super::call::{Call, CallState, UnixSeconds};

/// The first repair is due this long after the need arose: the job enqueued with the
/// change normally settles it within seconds.
pub const FIRST_REPAIR_DELAY: i64 = 60;
/// Repairs back off from [`FIRST_REPAIR_DELAY`], doubling, up to this: the sweep's
/// period, so once Slack is back every call heals within one sweep.
pub const MAX_REPAIR_DELAY: i64 = 5 * 60;

/// The call's reconciliation bookkeeping.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reconciliation {
    /// Repair rounds the sweep has started since Slack last confirmed everything.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub rounds: u32,
    /// When the next repair is due, once the sweep has started one (before that:
    /// [`FIRST_REPAIR_DELAY`] after the need arose).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub due_at: Option<UnixSeconds>,
    /// The call failed and its starter has not been told yet: the message to send.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub untold_failure: Option<String>,
    /// Some participant item may hold a change Slack has not confirmed, and which
    /// writes made them owed since Slack last confirmed everyone. Set by the write that
    /// records the change (with the items); cleared by the sync of that write's people
    /// when no other write owed anyone since, or by a sync that read every participant
    /// ([`Call::settle_participants`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub participants_owed: Option<OwedBy>,
}

/// Which writes of the call made participants owed to Slack.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OwedBy {
    /// Only the write made from the call at this version (its sync job names them all).
    Write(u64),
    /// Several writes: only a sync that reads every participant can tell.
    Writes,
}

/// How a sync found the participants it looked at, for the call's flag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParticipantsSettled {
    /// Everyone the write made from the call at this version named is confirmed.
    Write(u64),
    /// Every participant was read and is confirmed, as of the call at this version.
    All(u64),
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

impl Reconciliation {
    pub fn is_empty(&self) -> bool {
        *self == Reconciliation::default()
    }
}

/// The job a repair enqueues: a registration (which also posts the block, ends
/// discarded Slack calls, tells a failure, then syncs) or only a sync.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RepairJob {
    Register,
    Sync,
}

impl Call {
    /// Whether Slack still lacks anything for this call: its registration, its call
    /// block, the end of a discarded Slack call, participants, details or the end, or
    /// the starter's notice that it failed.
    pub fn owes_slack(&self) -> bool {
        self.repair_job().is_some()
    }

    /// What a repair of this call would run, if anything is owed.
    pub fn repair_job(&self) -> Option<RepairJob> {
        if self.reconciliation.untold_failure.is_some() {
            return Some(RepairJob::Register);
        }
        match self.state {
            CallState::Registering => Some(RepairJob::Register),
            CallState::Failed => None,
            CallState::Active | CallState::Ended => {
                if self.owes_block() || !self.discarded_slack_call_ids.is_empty() {
                    Some(RepairJob::Register)
                } else if !self.pending_sync().is_empty() || self.owes_participants() {
                    Some(RepairJob::Sync)
                } else {
                    None
                }
            }
        }
    }

    /// A participant change may still be owed to Slack (their items tell which), and
    /// Slack takes participant changes for the call.
    pub fn owes_participants(&self) -> bool {
        self.reconciliation.participants_owed.is_some() && self.takes_participant_changes()
    }

    /// The write being made from this call (at its current version) leaves someone
    /// owed to Slack.
    pub fn owe_participants(&mut self) {
        let this_write = OwedBy::Write(self.version);
        let owed = &mut self.reconciliation.participants_owed;
        *owed = match *owed {
            None => Some(this_write),
            Some(by) if by == this_write => Some(by),
            Some(_) => Some(OwedBy::Writes),
        };
    }

    /// A sync confirmed what it looked at: the flag is cleared when that covers every
    /// owed change (the only owing write's people; or everyone, and the call not
    /// written since). Returns whether that changed anything.
    pub fn settle_participants(&mut self, settled: ParticipantsSettled) -> bool {
        let covered = match (settled, self.reconciliation.participants_owed) {
            (_, None) => false,
            (ParticipantsSettled::Write(version), Some(by)) => by == OwedBy::Write(version),
            (ParticipantsSettled::All(version), Some(_)) => self.version == version,
        };
        if covered {
            self.reconciliation.participants_owed = None;
        }
        covered
    }

    /// The call block is still to be posted (a call started by a command).
    pub fn owes_block(&self) -> bool {
        self.response_url.is_some()
            && self.slack_call_id.is_some()
            && !self.block_posted
            && !self.block_refused
    }

    /// When the sweep should next repair the call; `None` when Slack lacks nothing.
    /// Before the first repair: a while after the latest change that made the need.
    pub fn sync_due_at(&self) -> Option<UnixSeconds> {
        if !self.owes_slack() {
            return None;
        }
        Some(
            self.reconciliation
                .due_at
                .unwrap_or_else(|| self.need_since() + FIRST_REPAIR_DELAY),
        )
    }

    /// The sweep starts a repair round at `now`, if one is due: counts it, backs the next
    /// one off, and says which job to enqueue.
    pub fn start_repair(&mut self, now: UnixSeconds) -> Option<RepairJob> {
        if self.sync_due_at().is_none_or(|due| due > now) {
            return None;
        }
        let job = self.repair_job()?;
        let rec = &mut self.reconciliation;
        rec.rounds = rec.rounds.saturating_add(1);
        let delay = FIRST_REPAIR_DELAY
            .saturating_mul(1i64 << rec.rounds.min(16))
            .min(MAX_REPAIR_DELAY);
        rec.due_at = Some(now + delay);
        Some(job)
    }

    /// Slack asked us to wait (`Retry-After`): no repair before `until`. Returns whether
    /// that changed anything.
    pub fn defer_repair(&mut self, until: UnixSeconds) -> bool {
        if !self.owes_slack() || self.sync_due_at().is_some_and(|due| due >= until) {
            return false;
        }
        self.reconciliation.due_at = Some(until);
        true
    }

    /// Slack confirmed everything: the next need starts a fresh backoff. Returns whether
    /// that changed anything.
    pub fn settle_repairs(&mut self) -> bool {
        let rec = &self.reconciliation;
        if (rec.rounds, rec.due_at) == (0, None) || self.owes_slack() {
            return false;
        }
        self.reconciliation.rounds = 0;
        self.reconciliation.due_at = None;
        true
    }

    /// The call failed; its starter is to be told `message` (until told).
    pub fn owe_failure_notice(&mut self, message: impl Into<String>) {
        self.reconciliation.untold_failure = Some(message.into());
    }

    /// The starter was told the call failed. Returns whether that is news.
    pub fn acknowledge_failure_told(&mut self) -> bool {
        self.reconciliation.untold_failure.take().is_some()
    }

    /// The latest change that could have made a need: creation, provider activity, end.
    fn need_since(&self) -> UnixSeconds {
        self.created_at
            .max(self.last_activity_at)
            .max(self.ended_at.unwrap_or(UnixSeconds::MIN))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::call::tests::{call, slack};
    use crate::domain::ids::id;
    use crate::domain::{EndReason, Participant, Presence};

    /// `user` joins at `at`: their item owes Slack the add, and the call says so.
    fn join(call: &mut Call, user: &str, at: UnixSeconds) -> Participant {
        let mut person = Participant::new(slack(user));
        call.record_presence(&mut person, Presence::Joined(slack(user)), None, at);
        person
    }

    #[test]
    fn a_synced_call_owes_nothing_and_each_lack_is_owed() {
        let mut call = call();
        assert_eq!(call.repair_job(), None);
        assert_eq!(call.sync_due_at(), None);

        join(&mut call, "U2", 1_100);
        assert!(call.owes_participants());
        assert_eq!(call.repair_job(), Some(RepairJob::Sync));
        assert_eq!(call.sync_due_at(), Some(1_100 + FIRST_REPAIR_DELAY));

        let mut unposted = call.clone();
        unposted.response_url = Some("https://hooks.example/1".into());
        assert_eq!(unposted.repair_job(), Some(RepairJob::Register));
        unposted.acknowledge_block_refused();
        assert_eq!(unposted.repair_job(), Some(RepairJob::Sync));

        let mut discarded = call.clone();
        discarded.discarded_slack_call_ids.push(id("R2"));
        assert_eq!(discarded.repair_job(), Some(RepairJob::Register));

        let mut settled = call.clone();
        assert!(!settled.settle_participants(ParticipantsSettled::All(call.version + 1)));
        assert!(settled.settle_participants(ParticipantsSettled::All(call.version)));
        assert_eq!(settled.repair_job(), None);

        call.end(EndReason::Provider, 1_200, None);
        assert_eq!(call.repair_job(), Some(RepairJob::Sync), "the end is owed");
        call.acknowledge_end();
        assert_eq!(
            call.reconciliation.participants_owed, None,
            "an ended call owes nobody"
        );
        assert_eq!(call.repair_job(), None);
    }

    #[test]
    fn the_sync_of_the_only_owing_write_settles_the_participants() {
        let mut call = call();
        call.version = 4;
        join(&mut call, "U2", 1_100);
        join(&mut call, "U3", 1_100);
        assert_eq!(
            call.reconciliation.participants_owed,
            Some(OwedBy::Write(4))
        );
        let mut later = call.clone();

        assert!(!call.settle_participants(ParticipantsSettled::Write(3)));
        assert!(call.settle_participants(ParticipantsSettled::Write(4)));
        assert!(!call.owes_participants());

        // Another write owed someone too: its people may still be unconfirmed.
        later.version = 5;
        join(&mut later, "U4", 1_200);
        assert_eq!(later.reconciliation.participants_owed, Some(OwedBy::Writes));
        assert!(!later.settle_participants(ParticipantsSettled::Write(4)));
        assert!(!later.settle_participants(ParticipantsSettled::Write(5)));
        assert!(later.settle_participants(ParticipantsSettled::All(5)));
    }

    #[test]
    fn an_unregistered_call_owes_its_registration_until_it_failed_and_was_told() {
        let mut call = call();
        call.slack_call_id = None;
        call.state = CallState::Registering;
        assert_eq!(call.repair_job(), Some(RepairJob::Register));
        call.mark_failed("registration kept failing");
        call.owe_failure_notice("Slack did not answer");
        assert_eq!(call.repair_job(), Some(RepairJob::Register));
        assert!(call.acknowledge_failure_told());
        assert!(!call.acknowledge_failure_told());
        assert_eq!(call.repair_job(), None);
    }

    #[test]
    fn repairs_back_off_from_a_minute_to_the_sweep_period() {
        let mut call = call();
        join(&mut call, "U2", 1_000);
        let first = 1_000 + FIRST_REPAIR_DELAY;
        assert_eq!(call.start_repair(first - 1), None, "not due yet");
        let mut now = first;
        let mut delays = Vec::new();
        for _ in 0..6 {
            assert_eq!(call.start_repair(now), Some(RepairJob::Sync));
            let due = call.sync_due_at().unwrap_or_default();
            delays.push(due - now);
            assert_eq!(call.start_repair(due - 1), None);
            now = due;
        }
        assert_eq!(delays, [120, 240, 300, 300, 300, 300]);
        assert_eq!(call.reconciliation.rounds, 6);

        assert!(call.defer_repair(now + 1_000), "Retry-After pushes it out");
        assert!(!call.defer_repair(now + 10), "never pulls it in");
        assert_eq!(call.sync_due_at(), Some(now + 1_000));

        assert!(call.settle_participants(ParticipantsSettled::Write(call.version)));
        assert!(call.settle_repairs());
        assert!(call.reconciliation.is_empty());
        assert!(!call.settle_repairs());
    }
}
