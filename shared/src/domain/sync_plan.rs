//! The other half of a call: what Slack has been told. The worker sends Slack the
//! difference between what a call should show and what Slack acknowledged, then records
//! each acknowledgement, so a job run twice never sends a change twice. Participants
//! keep their own half on their items ([`super::Participant::pending`]).

use super::call::{Call, CallState};

impl Call {
    /// What the worker still has to tell Slack about the call itself (details, end).
    pub fn pending_sync(&self) -> SyncPlan {
        if self.slack_call_id.is_none() || self.slack_ended {
            return SyncPlan::default();
        }
        // An ended call greys out in Slack as a whole: no point changing it first.
        if self.state == CallState::Ended {
            return SyncPlan {
                end: true,
                ..SyncPlan::default()
            };
        }
        let update = self.title != self.slack_title
            || Some(&self.join_url) != self.slack_join_url.as_ref()
            || self.desktop_join_url != self.slack_desktop_join_url;
        SyncPlan { update, end: false }
    }

    /// Whether participant changes can (and should) go to Slack now: the call is
    /// registered and not over.
    pub fn takes_participant_changes(&self) -> bool {
        self.slack_call_id.is_some() && !self.slack_ended && self.state != CallState::Ended
    }

    /// Slack now shows these details (`calls.update`). Returns whether anything changed.
    pub fn acknowledge_details(
        &mut self,
        title: Option<String>,
        join_url: Option<String>,
        desktop_join_url: Option<String>,
    ) -> bool {
        let changed = self.slack_title != title
            || self.slack_join_url != join_url
            || self.slack_desktop_join_url != desktop_join_url;
        self.slack_title = title;
        self.slack_join_url = join_url;
        self.slack_desktop_join_url = desktop_join_url;
        changed
    }

    /// Slack shows the call as ended (`calls.end`). Returns whether that is news.
    pub fn acknowledge_end(&mut self) -> bool {
        // An ended call takes no participant changes: none is owed any more.
        self.reconciliation.participants_owed = None;
        !std::mem::replace(&mut self.slack_ended, true)
    }

    /// The call block was posted. Returns whether that is news.
    pub fn acknowledge_block_posted(&mut self) -> bool {
        !std::mem::replace(&mut self.block_posted, true)
    }

    /// The call block could not be posted anywhere. Returns whether that is news.
    pub fn acknowledge_block_refused(&mut self) -> bool {
        !std::mem::replace(&mut self.block_refused, true)
    }
}

/// The Slack calls still owed for the call itself, in the order they are made.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncPlan {
    pub update: bool,
    pub end: bool,
}

impl SyncPlan {
    pub fn is_empty(&self) -> bool {
        !self.update && !self.end
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::call::tests::call;
    use crate::domain::EndReason;

    #[test]
    fn sync_plan_is_the_difference_with_what_slack_shows() {
        let mut call = call();
        assert!(call.pending_sync().is_empty());
        assert!(call.takes_participant_changes());
        call.update_details(Some("Renamed".into()), None, None, None, 2_000);
        let plan = call.pending_sync();
        assert!(plan.update);
        assert!(!plan.end);
    }

    #[test]
    fn ended_call_only_owes_the_end() {
        let mut call = call();
        call.update_details(Some("Renamed".into()), None, None, None, 2_000);
        call.end(EndReason::Provider, 2_005, None);
        assert!(!call.takes_participant_changes());
        assert_eq!(
            call.pending_sync(),
            SyncPlan {
                end: true,
                ..SyncPlan::default()
            }
        );
        call.slack_ended = true;
        assert!(call.pending_sync().is_empty());
    }

    #[test]
    fn acknowledged_details_and_end_report_news_once() {
        let mut call = call();
        let shown = (
            call.slack_title.clone(),
            call.slack_join_url.clone(),
            call.slack_desktop_join_url.clone(),
        );
        assert!(!call.acknowledge_details(shown.0, shown.1, shown.2));
        assert!(call.acknowledge_details(
            Some("Renamed".into()),
            Some("https://meet.example/r2".into()),
            Some("app://r2".into())
        ));
        assert_eq!(call.slack_title.as_deref(), Some("Renamed"));
        assert_eq!(
            call.slack_join_url.as_deref(),
            Some("https://meet.example/r2")
        );
        assert_eq!(call.slack_desktop_join_url.as_deref(), Some("app://r2"));
        assert!(
            call.acknowledge_details(None, None, None),
            "cleared is news too"
        );

        assert!(call.acknowledge_end());
        assert!(!call.acknowledge_end());
        assert!(call.slack_ended);
        assert!(call.acknowledge_block_posted());
        assert!(!call.acknowledge_block_posted());
        assert!(call.block_posted);
    }

    #[test]
    fn acknowledging_the_plan_leaves_nothing_pending() {
        let mut call = call();
        call.update_details(
            Some("Renamed".into()),
            None,
            Some("app://r".into()),
            None,
            2_000,
        );
        assert!(call.acknowledge_details(
            call.title.clone(),
            Some(call.join_url.clone()),
            call.desktop_join_url.clone()
        ));
        assert!(call.pending_sync().is_empty(), "{:?}", call.pending_sync());

        call.end(EndReason::Provider, 2_005, None);
        assert!(call.pending_sync().end);
        assert!(call.acknowledge_end());
        assert!(call.pending_sync().is_empty());
    }
}
