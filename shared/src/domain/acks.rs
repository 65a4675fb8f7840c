//! What Slack confirmed during one run of a job, held until it is recorded on the call:
//! the worker records a run's last confirmations together with the job's end, in one
//! write, instead of one write per Slack request.

use super::call::Call;

/// Details Slack now shows (`calls.update`): title, join URL, desktop join URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShownDetails {
    pub title: Option<String>,
    pub join_url: Option<String>,
    pub desktop_join_url: Option<String>,
}

/// Confirmations not yet recorded on the call, in the order Slack gave them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SlackAcks {
    pub block_posted: bool,
    /// Slack refused the call block everywhere (its starter was told instead).
    pub block_refused: bool,
    pub details: Option<ShownDetails>,
    pub ended: bool,
    /// Slack confirmed the participants a sync looked at ([`Call::settle_participants`]).
    pub participants_settled: Option<super::repair::ParticipantsSettled>,
}

impl SlackAcks {
    pub fn is_empty(&self) -> bool {
        *self == SlackAcks::default()
    }

    /// Records them on `call` (any copy of it: each step is idempotent). Returns
    /// whether anything changed.
    pub fn apply(&self, call: &mut Call) -> bool {
        let mut changed = false;
        if self.block_posted {
            changed |= call.acknowledge_block_posted();
        }
        if self.block_refused {
            changed |= call.acknowledge_block_refused();
        }
        if let Some(details) = &self.details {
            changed |= call.acknowledge_details(
                details.title.clone(),
                details.join_url.clone(),
                details.desktop_join_url.clone(),
            );
        }
        if self.ended {
            changed |= call.acknowledge_end();
        }
        if let Some(settled) = self.participants_settled {
            changed |= call.settle_participants(settled);
        }
        if changed {
            call.settle_repairs();
        }
        changed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::call::tests::call;
    use crate::domain::EndReason;

    #[test]
    fn applying_records_every_confirmation_once() {
        let mut call = call();
        call.update_details(Some("Renamed".into()), None, None, None, 2_000);
        let acks = SlackAcks {
            block_posted: true,
            block_refused: false,
            details: Some(ShownDetails {
                title: call.title.clone(),
                join_url: Some(call.join_url.clone()),
                desktop_join_url: call.desktop_join_url.clone(),
            }),
            ended: false,
            participants_settled: None,
        };
        assert!(!acks.is_empty());
        let mut copy = call.clone();
        assert!(acks.apply(&mut copy));
        assert!(copy.pending_sync().is_empty(), "{:?}", copy.pending_sync());
        assert!(copy.block_posted);
        assert!(!acks.apply(&mut copy), "a second time is no news");

        copy.end(EndReason::Provider, 2_005, None);
        let end = SlackAcks {
            ended: true,
            ..SlackAcks::default()
        };
        assert!(end.apply(&mut copy));
        assert!(copy.slack_ended);
        assert!(copy.pending_sync().is_empty());
    }

    #[test]
    fn nothing_confirmed_changes_nothing() {
        let acks = SlackAcks::default();
        assert!(acks.is_empty());
        let mut call = call();
        let before = call.clone();
        assert!(!acks.apply(&mut call));
        assert_eq!(call, before);
    }
}
