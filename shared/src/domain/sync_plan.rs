//! The other half of a call: what Slack has been told. The worker sends Slack the
//! difference between what a call should show and what Slack acknowledged, then records
//! each acknowledgement, so a job run twice never sends a change twice.

use super::call::{Call, CallState};
use super::participant::CallUser;

impl Call {
    /// What the worker still has to tell Slack to make the call object true.
    pub fn pending_sync(&self) -> SyncPlan {
        if self.slack_call_id.is_none() || self.slack_ended {
            return SyncPlan::default();
        }
        // An ended call greys out in Slack as a whole: no point removing people first.
        if self.state == CallState::Ended {
            return SyncPlan {
                end: true,
                ..SyncPlan::default()
            };
        }
        let add: Vec<CallUser> = self
            .showable_participants()
            .filter(|u| !self.is_shown(u.identity()))
            .cloned()
            .collect();
        let remove: Vec<CallUser> = self
            .slack_participants
            .iter()
            .filter(|shown_user| {
                !self
                    .present_participants()
                    .any(|u| u.identity() == shown_user.identity())
            })
            .cloned()
            .collect();
        let update = self.title != self.slack_title
            || Some(&self.join_url) != self.slack_join_url.as_ref()
            || self.desktop_join_url != self.slack_desktop_join_url;
        SyncPlan {
            add,
            remove,
            update,
            end: false,
        }
    }

    /// Slack now shows `users` too (`calls.add` with them, `calls.participants.add`).
    /// Returns whether anything changed.
    pub fn acknowledge_added(&mut self, users: &[CallUser]) -> bool {
        let mut changed = false;
        for user in users {
            if !self.is_shown(user.identity()) {
                self.slack_participants.push(user.clone());
                changed = true;
            }
        }
        changed
    }

    /// Slack no longer shows `users` (`calls.participants.remove`). Returns whether
    /// anything changed.
    pub fn acknowledge_removed(&mut self, users: &[CallUser]) -> bool {
        let before = self.slack_participants.len();
        self.slack_participants
            .retain(|shown| !users.iter().any(|u| u.identity() == shown.identity()));
        self.slack_participants.len() != before
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

    fn is_shown(&self, identity: &str) -> bool {
        self.slack_participants
            .iter()
            .any(|u| u.identity() == identity)
    }
}

/// The Slack calls still owed for one call, in the order they are made.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncPlan {
    pub add: Vec<CallUser>,
    pub remove: Vec<CallUser>,
    pub update: bool,
    pub end: bool,
}

impl SyncPlan {
    pub fn is_empty(&self) -> bool {
        self.add.is_empty() && self.remove.is_empty() && !self.update && !self.end
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::call::tests::{call, slack};
    use crate::domain::EndReason;

    #[test]
    fn sync_plan_is_the_difference_with_what_slack_shows() {
        let mut call = call();
        call.participant_joined(slack("U2"), None, 1);
        call.participant_joined(slack("U3"), None, 1);
        call.slack_participants = vec![slack("U3"), slack("U4")];
        call.update_details(Some("Renamed".into()), None, None, None, 2);
        let plan = call.pending_sync();
        assert_eq!(plan.add, vec![slack("U2")]);
        assert_eq!(plan.remove, vec![slack("U4")]);
        assert!(plan.update);
        assert!(!plan.end);
    }

    #[test]
    fn ended_call_only_owes_the_end() {
        let mut call = call();
        call.participant_joined(slack("U2"), None, 1);
        call.slack_participants = vec![slack("U2")];
        call.end(EndReason::Provider, 5, None);
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
    fn acknowledged_additions_merge_by_identity() {
        let mut call = call();
        call.slack_participants = vec![slack("U2")];
        let renamed = CallUser::External {
            external_id: "U2".into(),
            display_name: "Same identity".into(),
            avatar_url: None,
        };
        assert!(call.acknowledge_added(&[slack("U3"), renamed, slack("U3")]));
        assert_eq!(call.slack_participants, vec![slack("U2"), slack("U3")]);
        assert!(!call.acknowledge_added(&[slack("U2"), slack("U3")]));
        assert!(!call.acknowledge_added(&[]));
    }

    #[test]
    fn acknowledged_removals_drop_only_those_shown() {
        let mut call = call();
        call.slack_participants = vec![slack("U2"), slack("U3"), slack("U4")];
        assert!(call.acknowledge_removed(&[slack("U3"), slack("U9")]));
        assert_eq!(call.slack_participants, vec![slack("U2"), slack("U4")]);
        assert!(!call.acknowledge_removed(&[slack("U3")]));
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
        call.participant_joined(slack("U2"), None, 1);
        call.slack_participants = vec![slack("U4")];
        call.update_details(
            Some("Renamed".into()),
            None,
            Some("app://r".into()),
            None,
            2,
        );
        let plan = call.pending_sync();
        assert!(call.acknowledge_added(&plan.add));
        assert!(call.acknowledge_removed(&plan.remove));
        assert!(call.acknowledge_details(
            call.title.clone(),
            Some(call.join_url.clone()),
            call.desktop_join_url.clone()
        ));
        assert!(call.pending_sync().is_empty(), "{:?}", call.pending_sync());

        call.end(EndReason::Provider, 5, None);
        assert!(call.pending_sync().end);
        assert!(call.acknowledge_end());
        assert!(call.pending_sync().is_empty());
    }
}
