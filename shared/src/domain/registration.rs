//! Who may register a call in Slack, and the Slack calls added for it too many: at
//! most one Slack call per meeting.

use serde::{Deserialize, Serialize};

use super::{Call, SlackCallId, UnixSeconds};

/// Which job may call `calls.add` for a call, and until when (a crashed job's claim
/// lapses).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegistrationClaim {
    pub by: String,
    pub until: UnixSeconds,
}

impl Call {
    /// Claims the registration for job `by` until `until`: `false` when the call is
    /// registered already, no longer live, or another job's claim still holds at
    /// `now`. A job may renew its own claim (its retry, say).
    pub fn claim_registration(&mut self, by: &str, now: UnixSeconds, until: UnixSeconds) -> bool {
        if self.slack_call_id.is_some()
            || !self.is_live()
            || self.registration_held_by_other(by, now)
        {
            return false;
        }
        self.registration_claim = Some(RegistrationClaim {
            by: by.to_owned(),
            until,
        });
        true
    }

    /// Whether a job other than `by` holds the registration at `now`.
    pub fn registration_held_by_other(&self, by: &str, now: UnixSeconds) -> bool {
        self.registration_claim
            .as_ref()
            .is_some_and(|claim| claim.by != by && claim.until > now)
    }

    /// `calls.add` answered `slack_call_id`: the call's id if it has none yet (`true`),
    /// else a Slack call too many, remembered until it is ended (`false`).
    pub fn record_added(&mut self, slack_call_id: SlackCallId) -> bool {
        self.registration_claim = None;
        match &self.slack_call_id {
            None => {
                self.mark_registered(slack_call_id);
                true
            }
            Some(existing) if *existing == slack_call_id => true,
            Some(_) => {
                if !self.discarded_slack_call_ids.contains(&slack_call_id) {
                    self.discarded_slack_call_ids.push(slack_call_id);
                }
                false
            }
        }
    }

    /// A discarded Slack call was ended: nothing left to do for it.
    pub fn forget_discarded(&mut self, slack_call_id: &SlackCallId) -> bool {
        let before = self.discarded_slack_call_ids.len();
        self.discarded_slack_call_ids
            .retain(|id| id != slack_call_id);
        self.discarded_slack_call_ids.len() != before
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::call::tests::call;

    #[test]
    fn one_job_holds_the_registration_until_its_claim_lapses() {
        let mut fresh = call();
        fresh.slack_call_id = None;
        assert!(fresh.claim_registration("job-a", 1_000, 1_090));
        assert!(
            !fresh.claim_registration("job-b", 1_050, 1_140),
            "held by a"
        );
        assert!(fresh.registration_held_by_other("job-b", 1_050));
        assert!(
            fresh.claim_registration("job-a", 1_050, 1_140),
            "a renews its own"
        );
        assert!(
            fresh.claim_registration("job-b", 1_140, 1_230),
            "a's claim lapsed"
        );
        assert!(fresh.record_added(SlackCallId::parse("R9").expect("id")));
        assert_eq!(fresh.registration_claim, None);
        assert!(
            !fresh.claim_registration("job-c", 2_000, 2_090),
            "registered"
        );
    }

    #[test]
    fn a_second_slack_call_is_remembered_until_ended() {
        let mut registered = call();
        let extra = SlackCallId::parse("R2").expect("id");
        assert!(registered.record_added(SlackCallId::parse("R1").expect("id")));
        assert!(!registered.record_added(extra.clone()));
        assert!(!registered.record_added(extra.clone()));
        assert_eq!(
            registered.discarded_slack_call_ids,
            std::slice::from_ref(&extra)
        );
        assert_eq!(
            registered.slack_call_id.as_ref().map(SlackCallId::as_str),
            Some("R1")
        );
        assert!(registered.forget_discarded(&extra));
        assert!(!registered.forget_discarded(&extra));
        assert!(registered.discarded_slack_call_ids.is_empty());
    }
}
