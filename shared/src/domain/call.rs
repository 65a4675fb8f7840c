//! A call as we track it: what Slack should show, and what Slack has been told so far.
//!
//! The "desired" fields (participants' presence, title, URLs, state) follow the provider;
//! the `slack_*` fields record what Slack has acknowledged. The worker syncs the
//! difference, so a job run twice, or two jobs racing, never sends a change twice.

use serde::{Deserialize, Serialize};

use super::ids::{ChannelId, EnterpriseId, ExternalId, SlackCallId, TeamId, UserId};
pub use super::participant::{CallUser, Participant, ParticipantChange};
use super::workspace::Workspace;

/// Seconds since the Unix epoch, UTC: the unit Slack uses everywhere.
pub type UnixSeconds = i64;

/// How many provider `event_id`s a call remembers for dedupe.
const MAX_REMEMBERED_PROVIDER_EVENTS: usize = 100;
/// How many rejections a call remembers (its item stays small in a big channel).
const MAX_REMEMBERED_REJECTIONS: usize = 100;
/// How far a provider's event time may lie before the call's creation or after now
/// (clocks differ; a room may open a moment before its call): further counts as that.
pub const EVENT_CLOCK_SKEW_SECONDS: i64 = 300;

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
    /// Participants recorded under the call (each an item of its own).
    #[serde(default)]
    pub participant_count: u32,
    /// Of them, those in the call now.
    #[serde(default)]
    pub present_count: u32,
    /// Someone has joined at some point.
    #[serde(default)]
    pub anyone_joined: bool,
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
            participant_count: 0,
            present_count: 0,
            anyone_joined: false,
            rejections: Vec::new(),
            provider_event_ids: Vec::new(),
            details_updated_at: None,
            block_posted: false,
            block_refused: false,
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
        // Slack greys the whole call out; the participants' items are left as they are.
        self.present_count = 0;
        true
    }

    /// The longest duration a provider may report at `now`: the call's life so far and
    /// a day (its room may have been open before the call); more is clamped to it.
    pub fn longest_duration(&self, now: UnixSeconds) -> i64 {
        (now - self.created_at).max(0).saturating_add(86_400)
    }

    /// Seconds to report to `calls.end`: the provider's figure, else from the stored start.
    pub fn duration_for_slack(&self) -> Option<i64> {
        self.reported_duration
            .or_else(|| self.ended_at.map(|end| (end - self.date_start).max(0)))
    }

    /// When an event said to happen at `occurred_at` (else now) counts as having
    /// happened: within the call's life so far, give or take the clocks' skew, so a
    /// clock far off can neither pin a participant's state far into the future nor
    /// reach back before the call.
    pub fn event_time(&self, occurred_at: Option<UnixSeconds>, now: UnixSeconds) -> UnixSeconds {
        let earliest = self.created_at.min(now) - EVENT_CLOCK_SKEW_SECONDS;
        occurred_at
            .unwrap_or(now)
            .clamp(earliest, now + EVENT_CLOCK_SKEW_SECONDS)
    }

    /// Records a join or a leave of `participant` (this call's) at `occurred_at` (else
    /// now), keeping the call's counts. Whatever order they arrive in, the latest
    /// event about the person decides. Returns whether Slack should show anything else.
    pub fn record_presence(
        &mut self,
        participant: &mut Participant,
        presence: Presence,
        occurred_at: Option<UnixSeconds>,
        now: UnixSeconds,
    ) -> bool {
        if !self.is_live() {
            return false;
        }
        self.last_activity_at = now;
        let at = self.event_time(occurred_at, now);
        if participant.is_unrecorded() {
            self.participant_count = self.participant_count.saturating_add(1);
        }
        let was_present = participant.present;
        let changed = match presence {
            Presence::Joined(user) => {
                // Even a join a later leave overrides: the person was there.
                self.anyone_joined = true;
                participant.joined(user, at)
            }
            Presence::Left => participant.left(at),
        };
        match (was_present, participant.present) {
            (false, true) => self.present_count = self.present_count.saturating_add(1),
            (true, false) => self.present_count = self.present_count.saturating_sub(1),
            _ => {}
        }
        if participant.pending().is_some() {
            // In the same write as the person's item: the sweep's repair finds it even
            // when the sync naming them never lands.
            self.owe_participants();
        }
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
        let at = self.event_time(occurred_at, now);
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
        if self.rejections.len() >= MAX_REMEMBERED_REJECTIONS {
            self.rejections.remove(0);
        }
        self.rejections.push(rejection);
        true
    }

    /// Nobody has joined yet (the rule for ending a rejected DM call).
    pub fn nobody_joined(&self) -> bool {
        !self.anyone_joined
    }
}

/// What a provider event says about a person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Presence {
    Joined(CallUser),
    Left,
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

    fn join(call: &mut Call, p: &mut Participant, at: UnixSeconds) -> bool {
        call.record_presence(p, Presence::Joined(p.user.clone()), Some(at), at)
    }

    #[test]
    fn late_leave_older_than_rejoin_is_ignored() {
        let mut call = call();
        let mut p = Participant::new(slack("U2"));
        assert!(join(&mut call, &mut p, 1_010));
        assert!(call.record_presence(&mut p, Presence::Left, Some(1_020), 1_020));
        assert!(join(&mut call, &mut p, 1_030));
        assert!(!call.record_presence(&mut p, Presence::Left, Some(1_025), 1_031));
        assert!(p.present);
        assert_eq!((call.present_count, call.participant_count), (1, 1));
    }

    #[test]
    fn late_join_older_than_leave_is_ignored() {
        let mut call = call();
        let mut p = Participant::new(slack("U2"));
        assert!(!call.record_presence(&mut p, Presence::Left, Some(1_020), 1_020));
        assert!(!call.record_presence(&mut p, Presence::Joined(slack("U2")), Some(1_010), 1_021));
        assert!(!p.present);
        assert_eq!((call.present_count, call.participant_count), (0, 1));
        assert!(!call.nobody_joined(), "they were there, before the leave");
    }

    #[test]
    fn event_times_are_kept_within_the_calls_life() {
        let call = call();
        assert_eq!(call.event_time(None, 2_000), 2_000);
        assert_eq!(
            call.event_time(Some(i64::MAX), 2_000),
            2_000 + EVENT_CLOCK_SKEW_SECONDS
        );
        assert_eq!(
            call.event_time(Some(i64::MIN), 2_000),
            1_000 - EVENT_CLOCK_SKEW_SECONDS
        );
        assert_eq!(call.event_time(Some(1_500), 2_000), 1_500);
    }

    #[test]
    fn nothing_applies_after_the_end() {
        let mut call = call();
        let mut p = Participant::new(slack("U2"));
        assert!(join(&mut call, &mut p, 1_050));
        assert!(call.end(EndReason::Provider, 1_100, None));
        assert_eq!(call.present_count, 0);
        assert!(!call.end(EndReason::Provider, 1_101, None));
        assert!(!join(&mut call, &mut Participant::new(slack("U3")), 1_102));
        assert!(!call.update_details(Some("x".into()), None, None, None, 1_103));
        assert_eq!(call.duration_for_slack(), Some(100));
    }

    #[test]
    fn an_older_rename_does_not_undo_a_newer_one() {
        let mut call = call();
        assert!(call.update_details(Some("New".into()), None, None, Some(1_020), 1_030));
        assert!(!call.update_details(Some("Old".into()), None, None, Some(1_010), 1_031));
        assert_eq!(call.title.as_deref(), Some("New"));
        // Equal times apply in arrival order; a newer one applies.
        assert!(call.update_details(Some("Same time".into()), None, None, Some(1_020), 1_032));
        assert!(call.update_details(
            None,
            Some("https://m.example/2".into()),
            None,
            Some(1_025),
            1_033
        ));
        assert_eq!(call.details_updated_at, Some(1_025));
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
