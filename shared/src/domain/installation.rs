//! A workspace's installation of the app.

use secrecy::SecretString;
use serde::{Deserialize, Serialize};

use super::call::UnixSeconds;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Installation {
    pub team_id: String,
    /// The team's bot token (multi-workspace installs). In single-workspace mode it is
    /// absent and the token comes from the secret.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "serialize_secret"
    )]
    pub bot_token: Option<SecretString>,
    #[serde(default)]
    pub scopes: Vec<String>,
    /// Set when the app was uninstalled or its tokens revoked; requests for the team
    /// are then answered with "reinstall the app".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disabled_at: Option<UnixSeconds>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disabled_reason: Option<String>,
    #[serde(default)]
    pub version: u64,
}

impl Installation {
    pub fn is_disabled(&self) -> bool {
        self.disabled_at.is_some()
    }

    /// Disable the installation and drop its token.
    pub fn disable(&mut self, reason: impl Into<String>, now: UnixSeconds) {
        self.bot_token = None;
        self.disabled_at.get_or_insert(now);
        self.disabled_reason = Some(reason.into());
    }
}

fn serialize_secret<S: serde::Serializer>(
    token: &Option<SecretString>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    use secrecy::ExposeSecret;
    match token {
        Some(token) => serializer.serialize_some(token.expose_secret()),
        None => serializer.serialize_none(),
    }
}
