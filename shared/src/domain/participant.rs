//! Who is in a call: participants as Slack's `users` arrays take them, their presence,
//! and the ones Slack refused to show.

use serde::{Deserialize, Serialize};

use super::call::UnixSeconds;
use super::ids::UserId;

/// A participant as Slack's `users` arrays take it: a Slack user, or an external one
/// with a display name. Serialises to exactly Slack's shape.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum CallUser {
    Slack {
        slack_id: UserId,
    },
    External {
        external_id: String,
        display_name: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        avatar_url: Option<String>,
    },
}

impl CallUser {
    /// The participant's identity: the Slack id when known, else the provider's id.
    /// A person who leaves and rejoins keeps it, so they stay one participant.
    pub fn identity(&self) -> &str {
        match self {
            CallUser::Slack { slack_id } => slack_id.as_str(),
            CallUser::External { external_id, .. } => external_id,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Participant {
    pub user: CallUser,
    /// In the call right now, as far as the provider has told us.
    pub present: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_joined_at: Option<UnixSeconds>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_left_at: Option<UnixSeconds>,
}

/// A participant Slack refused to show (`user_not_found`: never a user of the workspace,
/// or deleted). Left out of every later change, so the others still get through.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefusedParticipant {
    /// [`CallUser::identity`] of the participant.
    pub identity: String,
    /// Slack's error code.
    pub code: String,
}
