//! A call as we track it: what Slack should show, and what Slack has been told so far.
//!
//! The "desired" fields (participants' presence, title, URLs, state) follow the provider;
//! the `slack_*` fields record what Slack has acknowledged. The worker syncs the
//! difference, so a job run twice, or two jobs racing, never sends a change twice.

use serde::{Deserialize, Serialize};

use super::ids::{ChannelId, EnterpriseId, ExternalId, SlackCallId, TeamId, UserId};
pub use super::participant::{CallUser, Participant, RefusedParticipant};
use super::workspace::Workspace;

/// Seconds since the Unix epoch, UTC: the unit Slack uses everywhere.
pub type UnixSeconds = i64;

/// How many provider `event_id`s a call remembers for dedupe.
const MAX_REMEMBERED_PROVIDER_EVENTS: usize = 100;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CallKind {
    Video,
    Audio,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CallState {
    /// Written by the ack path; `calls.add` not done yet.
    Registering,
    /// Registered in Slack (`slack_call_id` is set).
    Active,
    /// Over. `slack_ended` says whether Slack has been told.
    Ended,
    /// Could not be registered; `failure` says why. Never shown in Slack.
    Failed,
}

impl CallState {
    /// Registering and Active calls are "live": listed for the stale-call sweep.
    pub fn is_live(self) -> bool {
        matches!(self, CallState::Registering | CallState::Active)
    }
}

/// Why a call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EndReason {
    /// The provider said so (`call.ended`).
    Provider,
    /// Rejected in a DM before anybody joined.
    Rejected,
    /// No participants and no provider event for `STALE_CALL_MINUTES`.
    Abandoned,
    /// Older than `MAX_CALL_HOURS`.
    TooOld,
    /// The app was uninstalled from the call's workspace (or its bot token revoked):
    /// nothing more is done for the call, in Slack or here.
    Uninstalled,
}

/// A DM call declined by its callee (`call_rejected`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rejection {
    pub user_id: UserId,
    pub channel_id: ChannelId,
    pub at: UnixSeconds,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Call {
    /// Our id for the call, unique across all calls; Slack's `external_unique_id`.
    pub external_unique_id: ExternalId,
    /// Slack's `R…` id, once `calls.add` succeeded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slack_call_id: Option<SlackCallId>,
    pub team_id: TeamId,
    /// The team's Enterprise Grid organisation, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enterprise_id: Option<EnterpriseId>,
    /// Whether the app serves this call through an organisation-wide install.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub enterprise_install: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel_id: Option<ChannelId>,
    /// The Slack user who started (or shared) the call.
    pub created_by: UserId,
    pub kind: CallKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    pub join_url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub desktop_join_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_display_id: Option<String>,
    /// Where the call block is posted (slash command / call button). Unset for unfurls.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_url: Option<String>,
    pub state: CallState,
    pub created_at: UnixSeconds,
    /// The start shown in Slack (`date_start`).
    pub date_start: UnixSeconds,
    /// Last time the provider told us anything about this call.
    pub last_activity_at: UnixSeconds,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended_at: Option<UnixSeconds>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_reason: Option<EndReason>,
    /// Duration the provider reported with `call.ended`, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reported_duration: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<String>,
    #[serde(default)]
    pub participants: Vec<Participant>,
    #[serde(default)]
    pub rejections: Vec<Rejection>,
    /// Recent provider `event_id`s, so a redelivered provider event is applied once.
    #[serde(default)]
    pub provider_event_ids: Vec<String>,
    /// When the latest applied rename or URL change happened: an older one is stale.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details_updated_at: Option<UnixSeconds>,

    // What Slack has acknowledged so far (progress markers for idempotent jobs).
    /// The call block was posted (through `response_url`, else `chat.postMessage`).
    #[serde(default)]
    pub block_posted: bool,
    /// Slack refused the call block wherever it could go; the starter was told with the
    /// join link. Not tried again.
    #[serde(default)]
    pub block_refused: bool,
    /// Participants Slack refused to show; never sent again.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub refused_participants: Vec<RefusedParticipant>,
    /// Participants Slack currently shows (after our last successful add/remove).
    #[serde(default)]
    pub slack_participants: Vec<CallUser>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slack_title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slack_join_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slack_desktop_join_url: Option<String>,
    #[serde(default)]
    pub slack_ended: bool,
    /// The job that may call `calls.add` for this call now, so two jobs (a registration
    /// and an unfurl of the same room, say) never both do.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registration_claim: Option<super::RegistrationClaim>,
    /// Slack calls added for this call besides `slack_call_id` (a `calls.add` that lost
    /// a race): each is ended in Slack, then forgotten.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub discarded_slack_call_ids: Vec<SlackCallId>,
    /// Its room is a call in another workspace too (a link pasted there): the
    /// provider's events for this call are meant for those calls as well.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub room_shared: bool,
    /// What Slack still lacks, and when the sweep repairs it ([`super::repair`]).
    #[serde(
        default,
        skip_serializing_if = "super::repair::Reconciliation::is_empty"
    )]
    pub reconciliation: super::repair::Reconciliation,

    /// Optimistic-locking version: every successful write increments it by one.
    #[serde(default)]
    pub version: u64,
}

/// What a new call is made from.
#[derive(Debug, Clone)]
pub struct NewCall {
    pub external_unique_id: ExternalId,
    pub workspace: Workspace,
    pub channel_id: Option<ChannelId>,
    pub created_by: UserId,
    pub kind: CallKind,
    pub title: Option<String>,
    pub join_url: String,
    pub desktop_join_url: Option<String>,
    pub external_display_id: Option<String>,
    pub response_url: Option<String>,
}

impl Call {
    /// The workspace the call belongs to (whose token Slack is told with).
    pub fn workspace(&self) -> Workspace {
        Workspace {
            team_id: self.team_id.clone(),
            enterprise_id: self.enterprise_id.clone(),
            is_enterprise_install: self.enterprise_install,
        }
    }

    /// A call in `Registering` state, not yet known to Slack.
    pub fn new(new: NewCall, now: UnixSeconds) -> Self {
        Call {
            external_unique_id: new.external_unique_id,
            slack_call_id: None,
            team_id: new.workspace.team_id,
            enterprise_id: new.workspace.enterprise_id,
            enterprise_install: new.workspace.is_enterprise_install,
            channel_id: new.channel_id,
            created_by: new.created_by,
            kind: new.kind,
            title: new.title,
            join_url: new.join_url,
            desktop_join_url: new.desktop_join_url,
            external_display_id: new.external_display_id,
            response_url: new.response_url,
            state: CallState::Registering,
            created_at: now,
            date_start: now,
            last_activity_at: now,
            ended_at: None,
            end_reason: None,
            reported_duration: None,
            failure: None,
            participants: Vec::new(),
            rejections: Vec::new(),
            provider_event_ids: Vec::new(),
            details_updated_at: None,
            block_posted: false,
            block_refused: false,
            refused_participants: Vec::new(),
            slack_participants: Vec::new(),
            slack_title: None,
            slack_join_url: None,
            slack_desktop_join_url: None,
            slack_ended: false,
            registration_claim: None,
            discarded_slack_call_ids: Vec::new(),
            room_shared: false,
            reconciliation: Default::default(),
            version: 0,
        }
    }

    pub fn is_live(&self) -> bool {
        self.state.is_live()
    }

    /// `calls.add` succeeded: remember Slack's id and what Slack now shows.
    pub fn mark_registered(&mut self, slack_call_id: SlackCallId) {
        self.slack_call_id = Some(slack_call_id);
        self.slack_title = self.title.clone();
        self.slack_join_url = Some(self.join_url.clone());
        self.slack_desktop_join_url = self.desktop_join_url.clone();
        if self.state == CallState::Registering {
            self.state = CallState::Active;
        }
    }

    /// Registration failed for good; the reason is for people.
    pub fn mark_failed(&mut self, reason: impl Into<String>) {
        if self.is_live() {
            self.state = CallState::Failed;
        }
        self.failure = Some(reason.into());
    }

    /// Ends the call (once). Returns false when it had already ended or failed.
    pub fn end(&mut self, reason: EndReason, at: UnixSeconds, duration: Option<i64>) -> bool {
        if !self.is_live() {
            return false;
        }
        self.state = CallState::Ended;
        self.ended_at = Some(at);
        self.end_reason = Some(reason);
        self.reported_duration = duration;
        for participant in &mut self.participants {
            participant.present = false;
        }
        true
    }

    /// Seconds to report to `calls.end`: the provider's figure, else from the stored start.
    pub fn duration_for_slack(&self) -> Option<i64> {
        self.reported_duration
            .or_else(|| self.ended_at.map(|end| (end - self.date_start).max(0)))
    }

    /// Records a join. With `occurred_at`, a join older than the participant's latest
    /// leave is stale and ignored. Returns whether anything changed.
    pub fn participant_joined(
        &mut self,
        user: CallUser,
        occurred_at: Option<UnixSeconds>,
        now: UnixSeconds,
    ) -> bool {
        if !self.is_live() {
            return false;
        }
        self.last_activity_at = now;
        let at = occurred_at.unwrap_or(now);
        match self.participant_mut(user.identity()) {
            Some(existing) => {
                if occurred_at.is_some() && existing.last_left_at.is_some_and(|left| at < left) {
                    return false;
                }
                // A rejoin may bring a better display name or avatar: keep the newest.
                existing.user = user;
                existing.last_joined_at = Some(existing.last_joined_at.map_or(at, |j| j.max(at)));
                let changed = !existing.present;
                existing.present = true;
                changed
            }
            None => {
                self.participants.push(Participant {
                    user,
                    present: true,
                    last_joined_at: Some(at),
                    last_left_at: None,
                });
                true
            }
        }
    }

    /// Records a leave. With `occurred_at`, a leave older than the participant's latest
    /// join is stale and ignored. Returns whether anything changed.
    pub fn participant_left(
        &mut self,
        user: CallUser,
        occurred_at: Option<UnixSeconds>,
        now: UnixSeconds,
    ) -> bool {
        if !self.is_live() {
            return false;
        }
        self.last_activity_at = now;
        let at = occurred_at.unwrap_or(now);
        let Some(existing) = self.participant_mut(user.identity()) else {
            // A leave for someone we never saw join: remember it, so a late join
            // that happened before it is ignored too.
            self.participants.push(Participant {
                user,
                present: false,
                last_joined_at: None,
                last_left_at: Some(at),
            });
            return false;
        };
        if occurred_at.is_some() && existing.last_joined_at.is_some_and(|joined| at < joined) {
            return false;
        }
        existing.last_left_at = Some(existing.last_left_at.map_or(at, |l| l.max(at)));
        let changed = existing.present;
        existing.present = false;
        changed
    }

    /// Applies a rename or new URLs made at `occurred_at` (else now). A change older
    /// than the latest one applied is stale and ignored. Returns whether anything changed.
    pub fn update_details(
        &mut self,
        title: Option<String>,
        join_url: Option<String>,
        desktop_join_url: Option<String>,
        occurred_at: Option<UnixSeconds>,
        now: UnixSeconds,
    ) -> bool {
        if !self.is_live() {
            return false;
        }
        self.last_activity_at = now;
        let at = occurred_at.unwrap_or(now);
        if self.details_updated_at.is_some_and(|latest| at < latest) {
            return false;
        }
        self.details_updated_at = Some(at);
        let mut changed = false;
        if let Some(title) = title.filter(|t| Some(t) != self.title.as_ref()) {
            self.title = Some(title);
            changed = true;
        }
        if let Some(url) = join_url.filter(|u| *u != self.join_url) {
            self.join_url = url;
            changed = true;
        }
        if let Some(url) = desktop_join_url.filter(|u| Some(u) != self.desktop_join_url.as_ref()) {
            self.desktop_join_url = Some(url);
            changed = true;
        }
        changed
    }

    /// Remembers a provider `event_id`; false if it was seen before (a redelivery).
    pub fn remember_provider_event(&mut self, event_id: &str) -> bool {
        if self.provider_event_ids.iter().any(|seen| seen == event_id) {
            return false;
        }
        if self.provider_event_ids.len() >= MAX_REMEMBERED_PROVIDER_EVENTS {
            self.provider_event_ids.remove(0);
        }
        self.provider_event_ids.push(event_id.to_owned());
        true
    }

    /// Records a DM rejection (once per user). Returns whether it was new.
    pub fn record_rejection(&mut self, rejection: Rejection) -> bool {
        if self
            .rejections
            .iter()
            .any(|r| r.user_id == rejection.user_id)
        {
            return false;
        }
        self.rejections.push(rejection);
        true
    }

    /// Nobody has joined yet (the rule for ending a rejected DM call).
    pub fn nobody_joined(&self) -> bool {
        self.participants.iter().all(|p| p.last_joined_at.is_none())
    }

    pub fn present_participants(&self) -> impl Iterator<Item = &CallUser> {
        self.participants
            .iter()
            .filter(|p| p.present)
            .map(|p| &p.user)
    }

    /// Present participants Slack has not refused: the ones to show.
    pub fn showable_participants(&self) -> impl Iterator<Item = &CallUser> {
        self.present_participants()
            .filter(|u| !self.is_refused(u.identity()))
    }

    /// Slack refused to show `user` (`code`). Returns whether that is news.
    pub fn refuse_participant(&mut self, user: &CallUser, code: &str) -> bool {
        if self.is_refused(user.identity()) {
            return false;
        }
        self.refused_participants.push(RefusedParticipant {
            identity: user.identity().to_owned(),
            code: code.to_owned(),
        });
        true
    }

    pub fn is_refused(&self, identity: &str) -> bool {
        self.refused_participants
            .iter()
            .any(|refused| refused.identity == identity)
    }

    fn participant_mut(&mut self, identity: &str) -> Option<&mut Participant> {
        self.participants
            .iter_mut()
            .find(|p| p.user.identity() == identity)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A registered call in a channel: the fixture of the domain's tests.
    pub(crate) fn call() -> Call {
        let mut call = Call::new(
            NewCall {
                external_unique_id: ExternalId::parse("c1").expect("id"),
                workspace: Workspace::team(TeamId::parse("T1").expect("id")),
                channel_id: Some(ChannelId::parse("C1").expect("id")),
                created_by: UserId::parse("U1").expect("id"),
                kind: CallKind::Video,
                title: Some("Standup".into()),
                join_url: "https://meet.example/r".into(),
                desktop_join_url: None,
                external_display_id: None,
                response_url: None,
            },
            1_000,
        );
        call.mark_registered(SlackCallId::parse("R1").expect("id"));
        call
    }

    pub(crate) fn slack(id: &str) -> CallUser {
        CallUser::Slack {
            slack_id: UserId::parse(id).expect("a user id"),
        }
    }

    #[test]
    fn late_leave_older_than_rejoin_is_ignored() {
        let mut call = call();
        assert!(call.participant_joined(slack("U2"), Some(10), 10));
        assert!(call.participant_left(slack("U2"), Some(20), 20));
        assert!(call.participant_joined(slack("U2"), Some(30), 30));
        assert!(!call.participant_left(slack("U2"), Some(25), 31));
        assert_eq!(call.present_participants().count(), 1);
        assert_eq!(
            call.participants.len(),
            1,
            "a rejoin is the same participant"
        );
    }

    #[test]
    fn late_join_older_than_leave_is_ignored() {
        let mut call = call();
        assert!(!call.participant_left(slack("U2"), Some(20), 20));
        assert!(!call.participant_joined(slack("U2"), Some(10), 21));
        assert_eq!(call.present_participants().count(), 0);
    }

    #[test]
    fn nothing_applies_after_the_end() {
        let mut call = call();
        assert!(call.end(EndReason::Provider, 100, None));
        assert!(!call.end(EndReason::Provider, 101, None));
        assert!(!call.participant_joined(slack("U2"), None, 102));
        assert!(!call.update_details(Some("x".into()), None, None, None, 103));
        assert_eq!(
            call.duration_for_slack(),
            Some(100 - 1_000i64).map(|d| d.max(0))
        );
    }

    #[test]
    fn an_older_rename_does_not_undo_a_newer_one() {
        let mut call = call();
        assert!(call.update_details(Some("New".into()), None, None, Some(20), 30));
        assert!(!call.update_details(Some("Old".into()), None, None, Some(10), 31));
        assert_eq!(call.title.as_deref(), Some("New"));
        // Equal times apply in arrival order; a newer one applies.
        assert!(call.update_details(Some("Same time".into()), None, None, Some(20), 32));
        assert!(call.update_details(None, Some("https://m.example/2".into()), None, Some(25), 33));
        assert_eq!(call.details_updated_at, Some(25));
        assert_eq!(call.title.as_deref(), Some("Same time"));
    }

    #[test]
    fn provider_events_are_remembered_once() {
        let mut call = call();
        assert!(call.remember_provider_event("e1"));
        assert!(!call.remember_provider_event("e1"));
        for i in 0..200 {
            call.remember_provider_event(&format!("x{i}"));
        }
        assert!(call.provider_event_ids.len() <= MAX_REMEMBERED_PROVIDER_EVENTS);
    }

    #[test]
    fn external_user_serialises_in_slack_shape() {
        let user = CallUser::External {
            external_id: "e1".into(),
            display_name: "Guest".into(),
            avatar_url: None,
        };
        assert_eq!(
            serde_json::to_value(&user).unwrap_or_default(),
            serde_json::json!({"external_id": "e1", "display_name": "Guest"})
        );
    }
}
