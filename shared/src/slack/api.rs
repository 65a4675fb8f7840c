//! The Slack Web API port: the methods the flows use, with typed requests.
//!
//! Request structs serialise to exactly the JSON body Slack takes; optional fields
//! are left out when unset.

use async_trait::async_trait;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};

use super::error::SlackError;
use super::oauth::{AuthTest, ClientCredentials, OAuthAccess, OAuthGrant};
use super::payloads::ResponseMessage;
use crate::domain::{CallUser, ChannelId, ExternalId, SlackCallId, UnfurlTarget, UserId};

/// `calls.add`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallsAdd {
    pub external_unique_id: ExternalId,
    pub join_url: String,
    /// Required with a bot token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_by: Option<UserId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date_start: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub desktop_app_join_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_display_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub users: Option<Vec<CallUser>>,
}

/// `calls.update`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallsUpdate {
    pub id: SlackCallId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub join_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub desktop_app_join_url: Option<String>,
}

/// `calls.end`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallsEnd {
    pub id: SlackCallId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<i64>,
}

/// `calls.participants.add` and `calls.participants.remove`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallsParticipants {
    pub id: SlackCallId,
    pub users: Vec<CallUser>,
}

/// `chat.unfurl`: `unfurls` maps each URL to `{"blocks": [...]}`; the target is
/// `unfurl_id` + `source`, or `channel` + `ts`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatUnfurl {
    #[serde(flatten)]
    pub target: UnfurlTarget,
    pub unfurls: serde_json::Map<String, serde_json::Value>,
}

/// `chat.postEphemeral`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatPostEphemeral {
    pub channel: ChannelId,
    pub user: UserId,
    pub text: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blocks: Option<Vec<serde_json::Value>>,
}

/// `chat.postMessage`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatPostMessage {
    pub channel: ChannelId,
    pub text: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blocks: Option<Vec<serde_json::Value>>,
}

/// The call object Slack answers with (`calls.add`, `calls.info`, `calls.update`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlackCall {
    pub id: SlackCallId,
    #[serde(default)]
    pub date_start: Option<i64>,
    #[serde(default)]
    pub date_end: Option<i64>,
    #[serde(default)]
    pub external_unique_id: Option<ExternalId>,
    #[serde(default)]
    pub join_url: Option<String>,
    #[serde(default)]
    pub desktop_app_join_url: Option<String>,
    #[serde(default)]
    pub external_display_id: Option<String>,
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub users: Vec<CallUser>,
}

/// Slack's Web API, as the flows use it. `token` is a bot token (`xoxb-…`).
///
/// Implementations retry within their configured budget and time every request out;
/// an `Err` is final for this attempt of the job.
#[async_trait]
pub trait SlackApi: Send + Sync {
    async fn calls_add(
        &self,
        token: &SecretString,
        request: &CallsAdd,
    ) -> Result<SlackCall, SlackError>;
    async fn calls_update(
        &self,
        token: &SecretString,
        request: &CallsUpdate,
    ) -> Result<SlackCall, SlackError>;
    async fn calls_info(
        &self,
        token: &SecretString,
        id: &SlackCallId,
    ) -> Result<SlackCall, SlackError>;
    async fn calls_end(&self, token: &SecretString, request: &CallsEnd) -> Result<(), SlackError>;
    async fn calls_participants_add(
        &self,
        token: &SecretString,
        request: &CallsParticipants,
    ) -> Result<(), SlackError>;
    async fn calls_participants_remove(
        &self,
        token: &SecretString,
        request: &CallsParticipants,
    ) -> Result<(), SlackError>;
    async fn chat_unfurl(
        &self,
        token: &SecretString,
        request: &ChatUnfurl,
    ) -> Result<(), SlackError>;
    async fn chat_post_ephemeral(
        &self,
        token: &SecretString,
        request: &ChatPostEphemeral,
    ) -> Result<(), SlackError>;
    async fn chat_post_message(
        &self,
        token: &SecretString,
        request: &ChatPostMessage,
    ) -> Result<(), SlackError>;
    /// Posts a message to a slash command's `response_url` (no token: the URL is the
    /// credential). Callers check the URL against the allow-list first.
    async fn post_response_url(
        &self,
        response_url: &str,
        message: &ResponseMessage,
    ) -> Result<(), SlackError>;
    /// `oauth.v2.access`: a code or a refresh token exchanged for a bot token, with the
    /// app's credentials. Sent once, never retried: a refresh token is single use.
    async fn oauth_v2_access(
        &self,
        grant: &OAuthGrant,
        client: &ClientCredentials,
    ) -> Result<OAuthAccess, SlackError>;
    /// `auth.test`: the workspace (and organisation) `token` belongs to.
    async fn auth_test(&self, token: &SecretString) -> Result<AuthTest, SlackError>;
}
