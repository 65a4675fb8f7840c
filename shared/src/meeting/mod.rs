//! The meeting-provider port: where join URLs come from.

use async_trait::async_trait;

use crate::domain::{CallKind, ChannelId, ExternalId, TeamId, UserId};

pub mod http_api;
pub mod room;
pub mod url_template;

/// What the provider is asked to set up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MeetingRequest {
    pub team_id: TeamId,
    pub user_id: UserId,
    pub user_name: String,
    pub channel_id: ChannelId,
    pub title: Option<String>,
    pub kind: CallKind,
    pub phone_number: Option<String>,
}

/// A meeting ready to join.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Meeting {
    /// Unique across all the provider's meetings: Slack's `external_unique_id`.
    pub external_unique_id: ExternalId,
    /// The room everyone joins: what the call object in the conversation shows.
    pub join_url: String,
    pub desktop_join_url: Option<String>,
    /// Short, human-readable id shown in the call object.
    pub display_id: Option<String>,
    /// What the caller's Slack opens instead of the room, for a phone call: the dial
    /// URL holds the number, which the conversation must never see.
    pub caller: Option<CallerUrls>,
}

/// The URLs only the caller is given (the call button's answer).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallerUrls {
    pub url: String,
    pub desktop_url: Option<String>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MeetingError {
    /// The user must sign in to the provider first.
    #[error("the user must sign in to the meeting provider first")]
    LoginRequired { login_url: String },
    /// This provider cannot place phone calls.
    #[error("the meeting provider cannot place phone calls")]
    PhoneCallsUnsupported,
    /// The request cannot be served as asked (an undialable phone number, say).
    #[error("{0}")]
    InvalidRequest(String),
    /// The provider failed, timed out or answered something we do not understand.
    #[error("the meeting provider is unavailable: {0}")]
    Unavailable(String),
}

#[async_trait]
pub trait MeetingProvider: Send + Sync {
    async fn allocate(&self, request: &MeetingRequest) -> Result<Meeting, MeetingError>;
}
