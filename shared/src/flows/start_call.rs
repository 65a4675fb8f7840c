//! Start a call from a slash command or the call button: the ack path.
//!
//! Exactly one store request (the call and its `register_call` job, atomically) and
//! no Slack call: Slack's 3-second budget belongs to the person who clicked.

use crate::domain::{Call, CallKind, ChannelId, ExternalId, Job, JobKind, NewCall, TeamId, UserId};
use crate::meeting::{MeetingError, MeetingRequest};
use crate::metrics;
use crate::store::StoreError;

use super::Services;

/// Where the request to start a call came from; decides the shape of the answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartedFrom {
    /// `/call [title]`: any app can have one.
    SlashCommand,
    /// The call button (partner apps).
    CallButton,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StartCall {
    pub started_from: StartedFrom,
    pub team_id: TeamId,
    pub channel_id: ChannelId,
    pub user_id: UserId,
    pub user_name: String,
    pub title: Option<String>,
    pub kind: CallKind,
    pub phone_number: Option<String>,
    pub response_url: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartOutcome {
    /// The call is written; the worker registers it and posts the call block. The URLs
    /// are the caller's: for a phone call, the dial URLs, which only the caller sees.
    Started {
        external_unique_id: ExternalId,
        join_url: String,
        desktop_join_url: Option<String>,
    },
    /// The user must sign in to the provider first.
    LoginRequired { login_url: String },
    /// No call was started; the reason is for the user.
    Refused(String),
}

pub const TRY_AGAIN: &str = "Sorry, the call could not be started. Please try again.";
pub const NO_PHONE_CALLS: &str =
    "Phone calls are not available with this calls app: start a video call instead.";

pub async fn start_call(command: StartCall, services: &Services) -> StartOutcome {
    let request = MeetingRequest {
        team_id: command.team_id.clone(),
        user_id: command.user_id.clone(),
        user_name: command.user_name.clone(),
        channel_id: command.channel_id.clone(),
        title: command.title.clone(),
        kind: command.kind,
        phone_number: command.phone_number.clone(),
    };
    let meeting = match services.meetings.allocate(&request).await {
        Ok(meeting) => meeting,
        Err(MeetingError::LoginRequired { login_url }) => {
            return StartOutcome::LoginRequired { login_url };
        }
        Err(MeetingError::PhoneCallsUnsupported) => {
            return StartOutcome::Refused(NO_PHONE_CALLS.into());
        }
        Err(MeetingError::InvalidRequest(reason)) => {
            return StartOutcome::Refused(format!("The call could not be started: {reason}."));
        }
        Err(error @ MeetingError::Unavailable(_)) => {
            tracing::warn!(%error, "meeting provider failed");
            return StartOutcome::Refused(TRY_AGAIN.into());
        }
    };

    let now = services.clock.now();
    let call = Call::new(
        NewCall {
            external_unique_id: meeting.external_unique_id.clone(),
            team_id: command.team_id,
            channel_id: Some(command.channel_id),
            created_by: command.user_id,
            kind: command.kind,
            title: command.title,
            join_url: meeting.join_url.clone(),
            desktop_join_url: meeting.desktop_join_url.clone(),
            external_display_id: meeting.display_id,
            response_url: Some(command.response_url),
        },
        now,
    );
    let mut job = Job::new(
        JobKind::RegisterCall {
            external_unique_id: call.external_unique_id.clone(),
        },
        now,
    );
    job.enqueued_at_ms = Some(services.clock.now_millis());
    match services.store.create_call(&call, &[job]).await {
        Ok(()) => {
            tracing::info!(call = %call.external_unique_id, team = %call.team_id, "call started");
            metrics::emit(metrics::call_started(&call.team_id));
            // The caller's own URLs (a phone call's dial URL) go to the caller only.
            let (join_url, desktop_join_url) = match meeting.caller {
                Some(caller) => (caller.url, caller.desktop_url),
                None => (meeting.join_url, meeting.desktop_join_url),
            };
            StartOutcome::Started {
                external_unique_id: meeting.external_unique_id,
                join_url,
                desktop_join_url,
            }
        }
        Err(StoreError::AlreadyExists) => {
            // The provider handed out a meeting id we already track (a reused room).
            tracing::warn!(call = %call.external_unique_id, "meeting id already in use");
            StartOutcome::Refused(
                "That meeting is already registered as another call: please start a new one."
                    .into(),
            )
        }
        Err(error) => {
            tracing::error!(%error, "could not write the new call");
            StartOutcome::Refused(TRY_AGAIN.into())
        }
    }
}
