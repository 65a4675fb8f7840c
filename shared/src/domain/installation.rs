//! An installation of the app: in one workspace, or in a whole Enterprise Grid
//! organisation (an org-wide install). Its bot credentials are held sealed (encrypted
//! by a [`TokenCipher`](crate::cipher::TokenCipher)): the domain and the store never
//! see a token in clear.

use std::fmt;

use secrecy::SecretString;
use serde::{Deserialize, Serialize};

use super::call::UnixSeconds;
use super::ids::{EnterpriseId, IdError, TeamId, UserId};
use super::workspace::Workspace;

/// How long before its expiry a rotating token is refreshed (Slack's SDKs use the same).
pub const REFRESH_AHEAD_SECONDS: i64 = 2 * 60 * 60;

/// What an installation is stored under: the workspace it serves, or the organisation
/// for an org-wide install. Written as `TEAM#T…` / `ORG#E…`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum InstallationKey {
    Team(TeamId),
    Enterprise(EnterpriseId),
}

impl InstallationKey {
    /// The keys that may hold the installation serving `workspace`, in the order to
    /// try them: a request made under an org-wide install names the organisation first;
    /// otherwise the workspace's own installation wins over its organisation's.
    pub fn lookup_order(workspace: &Workspace) -> Vec<InstallationKey> {
        let team = InstallationKey::Team(workspace.team_id.clone());
        match &workspace.enterprise_id {
            Some(enterprise) if workspace.is_enterprise_install => {
                vec![InstallationKey::Enterprise(enterprise.clone()), team]
            }
            Some(enterprise) => vec![team, InstallationKey::Enterprise(enterprise.clone())],
            None => vec![team],
        }
    }
}

impl fmt::Display for InstallationKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InstallationKey::Team(team) => write!(f, "TEAM#{team}"),
            InstallationKey::Enterprise(enterprise) => write!(f, "ORG#{enterprise}"),
        }
    }
}

impl From<InstallationKey> for String {
    fn from(key: InstallationKey) -> String {
        key.to_string()
    }
}

impl TryFrom<String> for InstallationKey {
    type Error = IdError;

    fn try_from(value: String) -> Result<Self, IdError> {
        if let Some(team) = value.strip_prefix("TEAM#") {
            return TeamId::parse(team).map(InstallationKey::Team);
        }
        if let Some(enterprise) = value.strip_prefix("ORG#") {
            return EnterpriseId::parse(enterprise).map(InstallationKey::Enterprise);
        }
        // Neither prefix: read as a bare team id, which reports what is wrong with it.
        TeamId::parse(&value).map(InstallationKey::Team)
    }
}

/// Ciphertext of one token, base64: opaque to everything but a `TokenCipher`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Sealed(String);

impl Sealed {
    pub fn from_base64(text: String) -> Self {
        Sealed(text)
    }

    pub fn as_base64(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Sealed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Encrypted, but still nothing a log line needs.
        f.write_str("Sealed([redacted])")
    }
}

/// The bot token, and with token rotation its refresh token and expiry, all sealed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SealedCredentials {
    pub bot_token: Sealed,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<Sealed>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<UnixSeconds>,
}

impl SealedCredentials {
    /// Whether the bot token should be refreshed at `now`: it rotates and expires
    /// within [`REFRESH_AHEAD_SECONDS`].
    pub fn due_for_refresh(&self, now: UnixSeconds) -> bool {
        self.refresh_token.is_some()
            && self
                .expires_at
                .is_some_and(|expires_at| expires_at - now <= REFRESH_AHEAD_SECONDS)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(try_from = "StoredInstallation")]
pub struct Installation {
    pub key: InstallationKey,
    /// The installing workspace; absent for an org-wide install.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub team_id: Option<TeamId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub team_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enterprise_id: Option<EnterpriseId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enterprise_name: Option<String>,
    #[serde(default)]
    pub is_enterprise_install: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bot_user_id: Option<UserId>,
    #[serde(default)]
    pub bot_scopes: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub installer_user_id: Option<UserId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub installed_at: Option<UnixSeconds>,
    /// Absent in single-workspace mode (the token is the secret's) and once the tokens
    /// were revoked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials: Option<SealedCredentials>,
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
    /// An installation with nothing known but its key (a single-workspace marker).
    pub fn new(key: InstallationKey) -> Self {
        let (team_id, enterprise_id) = match &key {
            InstallationKey::Team(team) => (Some(team.clone()), None),
            InstallationKey::Enterprise(enterprise) => (None, Some(enterprise.clone())),
        };
        Installation {
            is_enterprise_install: matches!(key, InstallationKey::Enterprise(_)),
            key,
            team_id,
            team_name: None,
            enterprise_id,
            enterprise_name: None,
            app_id: None,
            bot_user_id: None,
            bot_scopes: Vec::new(),
            installer_user_id: None,
            installed_at: None,
            credentials: None,
            disabled_at: None,
            disabled_reason: None,
            revoked_token_fingerprint: None,
            version: 0,
        }
    }

    /// The single-workspace marker of `team_id`.
    pub fn for_team(team_id: TeamId) -> Self {
        Installation::new(InstallationKey::Team(team_id))
    }

    pub fn is_disabled(&self) -> bool {
        self.disabled_at.is_some()
    }

    /// Disable the installation and drop its tokens. `dead_token_fingerprint` names the
    /// token that stopped working (see [`token_fingerprint`]).
    pub fn disable(
        &mut self,
        reason: impl Into<String>,
        dead_token_fingerprint: Option<String>,
        now: UnixSeconds,
    ) {
        self.credentials = None;
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

    /// Whether this installation serves `workspace` (its team, or its organisation's
    /// org-wide install).
    pub fn serves(&self, workspace: &Workspace) -> bool {
        match &self.key {
            InstallationKey::Team(team) => *team == workspace.team_id,
            InstallationKey::Enterprise(enterprise) => {
                workspace.enterprise_id.as_ref() == Some(enterprise)
            }
        }
    }
}

/// The stored shape, old items included: before many workspaces an item had only a
/// `team_id` (single-workspace disable markers) and called the scopes `scopes`.
#[derive(Deserialize)]
struct StoredInstallation {
    #[serde(default)]
    key: Option<InstallationKey>,
    #[serde(default)]
    team_id: Option<TeamId>,
    #[serde(default)]
    team_name: Option<String>,
    #[serde(default)]
    enterprise_id: Option<EnterpriseId>,
    #[serde(default)]
    enterprise_name: Option<String>,
    #[serde(default)]
    is_enterprise_install: bool,
    #[serde(default)]
    app_id: Option<String>,
    #[serde(default)]
    bot_user_id: Option<UserId>,
    #[serde(default, alias = "scopes")]
    bot_scopes: Vec<String>,
    #[serde(default)]
    installer_user_id: Option<UserId>,
    #[serde(default)]
    installed_at: Option<UnixSeconds>,
    #[serde(default)]
    credentials: Option<SealedCredentials>,
    #[serde(default)]
    disabled_at: Option<UnixSeconds>,
    #[serde(default)]
    disabled_reason: Option<String>,
    #[serde(default)]
    revoked_token_fingerprint: Option<String>,
    #[serde(default)]
    version: u64,
}

/// An item with neither a key nor a team.
#[derive(Debug, thiserror::Error)]
#[error("an installation needs a key or a team_id")]
pub struct KeylessInstallation;

impl TryFrom<StoredInstallation> for Installation {
    type Error = KeylessInstallation;

    fn try_from(stored: StoredInstallation) -> Result<Self, KeylessInstallation> {
        let key = match (stored.key, &stored.team_id) {
            (Some(key), _) => key,
            (None, Some(team)) => InstallationKey::Team(team.clone()),
            (None, None) => return Err(KeylessInstallation),
        };
        Ok(Installation {
            key,
            team_id: stored.team_id,
            team_name: stored.team_name,
            enterprise_id: stored.enterprise_id,
            enterprise_name: stored.enterprise_name,
            is_enterprise_install: stored.is_enterprise_install,
            app_id: stored.app_id,
            bot_user_id: stored.bot_user_id,
            bot_scopes: stored.bot_scopes,
            installer_user_id: stored.installer_user_id,
            installed_at: stored.installed_at,
            credentials: stored.credentials,
            disabled_at: stored.disabled_at,
            disabled_reason: stored.disabled_reason,
            revoked_token_fingerprint: stored.revoked_token_fingerprint,
            version: stored.version,
        })
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ids::id;

    fn workspace(team: &str, enterprise: Option<&str>, org_install: bool) -> Workspace {
        Workspace {
            team_id: id(team),
            enterprise_id: enterprise.map(id),
            is_enterprise_install: org_install,
        }
    }

    #[test]
    fn lookup_order_tries_the_org_first_only_for_an_org_wide_install() {
        let team = InstallationKey::Team(id("T1"));
        let org = InstallationKey::Enterprise(id("E1"));
        assert_eq!(
            InstallationKey::lookup_order(&workspace("T1", None, false)),
            vec![team.clone()]
        );
        assert_eq!(
            InstallationKey::lookup_order(&workspace("T1", Some("E1"), false)),
            vec![team.clone(), org.clone()]
        );
        assert_eq!(
            InstallationKey::lookup_order(&workspace("T1", Some("E1"), true)),
            vec![org, team]
        );
    }

    #[test]
    fn keys_are_written_with_their_kind_and_read_back() {
        let org = InstallationKey::Enterprise(id("E1"));
        assert_eq!(org.to_string(), "ORG#E1");
        assert_eq!(
            InstallationKey::try_from("ORG#E1".to_owned()).ok(),
            Some(org)
        );
        assert_eq!(
            InstallationKey::try_from("TEAM#T1".to_owned()).ok(),
            Some(InstallationKey::Team(id("T1")))
        );
        assert!(InstallationKey::try_from("ORG#T1".to_owned()).is_err());
        assert!(InstallationKey::try_from("USER#U1".to_owned()).is_err());
    }

    #[test]
    fn old_single_workspace_markers_still_read() {
        let old = serde_json::json!({
            "team_id": "T1", "scopes": ["calls:write"], "disabled_at": 5,
            "disabled_reason": "app_uninstalled", "revoked_token_fingerprint": "ab", "version": 3,
        });
        let read: Installation = serde_json::from_value(old).expect("an old item reads");
        assert_eq!(read.key, InstallationKey::Team(id("T1")));
        assert_eq!(read.bot_scopes, vec!["calls:write".to_owned()]);
        assert!(read.is_disabled() && read.credentials.is_none());
        assert_eq!(read.version, 3);
        assert!(serde_json::from_value::<Installation>(serde_json::json!({"version": 1})).is_err());
    }

    #[test]
    fn a_round_trip_keeps_everything_and_debug_shows_no_ciphertext() {
        let mut installation = Installation::new(InstallationKey::Enterprise(id("E1")));
        installation.credentials = Some(SealedCredentials {
            bot_token: Sealed::from_base64("c2VhbGVk".into()),
            refresh_token: Some(Sealed::from_base64("cmVmcmVzaA==".into())),
            expires_at: Some(100),
        });
        let json = serde_json::to_value(&installation).expect("serialisable");
        assert_eq!(json["key"], "ORG#E1");
        let read: Installation = serde_json::from_value(json).expect("reads back");
        assert_eq!(read.credentials, installation.credentials);
        assert!(read.serves(&workspace("T9", Some("E1"), true)));
        assert!(!read.serves(&workspace("T9", Some("E2"), true)));
        let shown = format!("{installation:?}");
        assert!(!shown.contains("c2VhbGVk") && !shown.contains("cmVmcmVzaA"));
    }

    #[test]
    fn refresh_is_due_two_hours_before_expiry_and_only_for_rotating_tokens() {
        let rotating = SealedCredentials {
            bot_token: Sealed::from_base64("a".into()),
            refresh_token: Some(Sealed::from_base64("b".into())),
            expires_at: Some(10_000 + REFRESH_AHEAD_SECONDS),
        };
        assert!(!rotating.due_for_refresh(9_999));
        assert!(rotating.due_for_refresh(10_000));
        let fixed = SealedCredentials {
            refresh_token: None,
            ..rotating
        };
        assert!(!fixed.due_for_refresh(1_000_000));
    }
}
