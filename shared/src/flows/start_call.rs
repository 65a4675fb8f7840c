//! Start a call from a slash command or the call button: the ack path.
//!
//! Exactly one store request (the call and its `register_call` job, atomically) and
//! no Slack call: Slack's 3-second budget belongs to the person who clicked.
//!
//! The job's id is derived from the request's id, so the same request sent again (a
//! replay within the signature's 5-minute window) fails that one write and starts
//! nothing: the job is the request's receipt, written with the call.

use crate::domain::{
    Call, CallKind, ChannelId, ExternalId, Job, JobKind, NewCall, UserId, Workspace,
};
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
    /// The workspace the request came from; an org-wide install names its organisation.
    pub workspace: Workspace,
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
    /// This very request was handled before (a replay): nothing new was started.
    AlreadyHandled,
}

pub const TRY_AGAIN: &str = "Sorry, the call could not be started. Please try again.";
pub const NO_PHONE_CALLS: &str =
    "Phone calls are not available with this calls app: start a video call instead.";

/// Starts the call `command` asks for. `request_id` names the request (the same
/// request sent twice has the same id): see the module's note on replays.
pub async fn start_call(command: StartCall, request_id: &str, services: &Services) -> StartOutcome {
    let request = MeetingRequest {
        team_id: command.workspace.team_id.clone(),
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
            workspace: command.workspace,
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
    )
    .with_id(format!("start-{request_id}"));
    job.enqueued_at_ms = Some(services.clock.now_millis());
    let job_id = job.id.clone();
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
        Err(StoreError::AlreadyExists) if is_replay(&job_id, services).await => {
            tracing::warn!(job = %job_id, "a slash command or call button request was replayed");
            StartOutcome::AlreadyHandled
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

/// Whether the write failed because this request's job exists: one more read, only on
/// this rare path.
async fn is_replay(job_id: &str, services: &Services) -> bool {
    match services.store.get_job(job_id).await {
        Ok(job) => job.is_some(),
        Err(error) => {
            tracing::warn!(%error, "could not tell a replay from a reused meeting id");
            false
        }
    }
}
