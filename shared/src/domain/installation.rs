//! A workspace's installation of the app.

use secrecy::SecretString;
use serde::{Deserialize, Serialize};

use super::call::UnixSeconds;
use super::ids::TeamId;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Installation {
    pub team_id: TeamId,
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
    /// Fingerprint of the token that died, so a reinstall (a new token in the
    /// secret, in single-workspace mode) is recognised without storing the token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_token_fingerprint: Option<String>,
    #[serde(default)]
    pub version: u64,
}

impl Installation {
    pub fn new(team_id: TeamId) -> Self {
        Installation {
            team_id,
            bot_token: None,
            scopes: Vec::new(),
            disabled_at: None,
            disabled_reason: None,
            revoked_token_fingerprint: None,
            version: 0,
        }
    }

    pub fn is_disabled(&self) -> bool {
        self.disabled_at.is_some()
    }

    /// Disable the installation and drop its token. `dead_token_fingerprint` names the
    /// token that stopped working (see [`token_fingerprint`]).
    pub fn disable(
        &mut self,
        reason: impl Into<String>,
        dead_token_fingerprint: Option<String>,
        now: UnixSeconds,
    ) {
        self.bot_token = None;
        self.disabled_at.get_or_insert(now);
        self.disabled_reason = Some(reason.into());
        if dead_token_fingerprint.is_some() {
            self.revoked_token_fingerprint = dead_token_fingerprint;
        }
    }

    /// Back in service (a reinstall brought a new token).
    pub fn enable(&mut self) {
        self.disabled_at = None;
        self.disabled_reason = None;
    }
}

/// A short one-way fingerprint of a token: enough to tell two tokens apart, useless
/// to anyone who reads it.
pub fn token_fingerprint(token: &SecretString) -> String {
    use secrecy::ExposeSecret;
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(token.expose_secret().as_bytes());
    hex::encode(&digest[..8])
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
