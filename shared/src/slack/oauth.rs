//! OAuth with Slack: `oauth.v2.access` for both grants (an install's code, a rotating
//! token's refresh), and `auth.test`, which names the workspace a token belongs to.
//!
//! The app's credentials travel as HTTP Basic (Slack's advice), never in the body;
//! tokens in answers are [`SecretString`]s, so `Debug` never shows them.

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::Value;

use super::error::SlackError;
use crate::domain::{EnterpriseId, TeamId, UserId};
use crate::secrets::Secrets;

pub(super) const OAUTH_V2_ACCESS: &str = "oauth.v2.access";
pub(super) const AUTH_TEST: &str = "auth.test";

/// What is exchanged for a token.
#[derive(Clone)]
pub enum OAuthGrant {
    /// The code Slack's authorize page redirected back with.
    Code {
        code: SecretString,
        redirect_uri: Option<String>,
    },
    /// A rotating token's refresh token (single use).
    Refresh { refresh_token: SecretString },
}

impl std::fmt::Debug for OAuthGrant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OAuthGrant::Code { redirect_uri, .. } => f
                .debug_struct("Code")
                .field("redirect_uri", redirect_uri)
                .finish_non_exhaustive(),
            OAuthGrant::Refresh { .. } => f.write_str("Refresh"),
        }
    }
}

impl OAuthGrant {
    /// The form fields of the request (the client credentials go in the header).
    pub fn form(&self) -> Vec<(&'static str, String)> {
        match self {
            OAuthGrant::Code { code, redirect_uri } => {
                let mut form = vec![
                    ("grant_type", "authorization_code".to_owned()),
                    ("code", code.expose_secret().to_owned()),
                ];
                if let Some(uri) = redirect_uri {
                    form.push(("redirect_uri", uri.clone()));
                }
                form
            }
            OAuthGrant::Refresh { refresh_token } => vec![
                ("grant_type", "refresh_token".to_owned()),
                ("refresh_token", refresh_token.expose_secret().to_owned()),
            ],
        }
    }
}

/// The app's client id and secret.
#[derive(Clone)]
pub struct ClientCredentials {
    pub client_id: String,
    pub client_secret: SecretString,
}

impl std::fmt::Debug for ClientCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientCredentials")
            .field("client_id", &self.client_id)
            .field("client_secret", &"[redacted]")
            .finish()
    }
}

impl ClientCredentials {
    /// The secret's `client_id` and `client_secret`, when both are set.
    pub fn from_secrets(secrets: &Secrets) -> Option<Self> {
        Some(ClientCredentials {
            client_id: secrets.client_id.clone()?,
            client_secret: secrets.client_secret.clone()?,
        })
    }

    /// The `Authorization: Basic …` value.
    pub fn basic_authorization(&self) -> String {
        use base64::Engine as _;
        let pair = format!("{}:{}", self.client_id, self.client_secret.expose_secret());
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(pair)
        )
    }
}

/// An id with its display name, as Slack names a team or an organisation.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Named<T> {
    pub id: T,
    #[serde(default)]
    pub name: Option<String>,
}

/// `oauth.v2.access`'s answer: the bot token of an installation and who it is for.
#[derive(Debug, Clone)]
pub struct OAuthAccess {
    pub app_id: Option<String>,
    /// Absent (null) for an org-wide install.
    pub team: Option<Named<TeamId>>,
    pub enterprise: Option<Named<EnterpriseId>>,
    pub is_enterprise_install: bool,
    pub bot_user_id: Option<UserId>,
    /// Comma-separated, as Slack sends it.
    pub scope: String,
    pub access_token: SecretString,
    /// With token rotation on: the single-use refresh token and the access token's
    /// life in seconds.
    pub refresh_token: Option<SecretString>,
    pub expires_in: Option<i64>,
    pub authed_user_id: Option<UserId>,
}

impl OAuthAccess {
    pub fn scopes(&self) -> Vec<String> {
        self.scope
            .split(',')
            .map(str::trim)
            .filter(|scope| !scope.is_empty())
            .map(str::to_owned)
            .collect()
    }
}

#[derive(Deserialize)]
struct RawAccess {
    #[serde(default)]
    app_id: Option<String>,
    #[serde(default)]
    team: Option<Named<TeamId>>,
    #[serde(default)]
    enterprise: Option<Named<EnterpriseId>>,
    #[serde(default)]
    is_enterprise_install: bool,
    #[serde(default)]
    bot_user_id: Option<UserId>,
    #[serde(default)]
    scope: Option<String>,
    #[serde(default)]
    token_type: Option<String>,
    #[serde(default)]
    access_token: Option<SecretString>,
    #[serde(default)]
    refresh_token: Option<SecretString>,
    #[serde(default)]
    expires_in: Option<i64>,
    #[serde(default)]
    authed_user: Option<AuthedUser>,
}

#[derive(Deserialize)]
struct AuthedUser {
    #[serde(default)]
    id: Option<UserId>,
}

/// Reads an `{"ok": true}` answer of `oauth.v2.access`. The reason of a failure never
/// quotes the answer: it holds tokens.
pub(super) fn access_of(answer: Value) -> Result<OAuthAccess, SlackError> {
    let invalid = |reason: &str| SlackError::InvalidResponse {
        method: OAUTH_V2_ACCESS,
        reason: reason.to_owned(),
    };
    let raw = RawAccess::deserialize(answer)
        .map_err(|_| invalid("the answer does not have oauth.v2.access's shape"))?;
    if raw.token_type.as_deref().is_some_and(|kind| kind != "bot") {
        return Err(invalid("the token is not a bot token"));
    }
    let access_token = raw
        .access_token
        .ok_or_else(|| invalid("the answer has no bot token (no bot scopes granted?)"))?;
    if raw.team.is_none() && raw.enterprise.is_none() {
        return Err(invalid(
            "the answer names neither a team nor an organisation",
        ));
    }
    Ok(OAuthAccess {
        app_id: raw.app_id,
        team: raw.team,
        enterprise: raw.enterprise,
        is_enterprise_install: raw.is_enterprise_install,
        bot_user_id: raw.bot_user_id,
        scope: raw.scope.unwrap_or_default(),
        access_token,
        refresh_token: raw.refresh_token,
        expires_in: raw.expires_in,
        authed_user_id: raw.authed_user.and_then(|user| user.id),
    })
}

/// `auth.test`'s answer: whose token it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthTest {
    pub team_id: TeamId,
    pub team: Option<String>,
    pub enterprise_id: Option<EnterpriseId>,
    pub is_enterprise_install: bool,
    pub user_id: Option<UserId>,
    pub bot_id: Option<String>,
}

pub(super) fn auth_test_of(answer: &Value) -> Result<AuthTest, SlackError> {
    let text = |name: &str| {
        answer
            .get(name)
            .and_then(Value::as_str)
            .filter(|text| !text.is_empty())
    };
    let team_id = text("team_id")
        .and_then(|id| TeamId::parse(id).ok())
        .ok_or_else(|| SlackError::InvalidResponse {
            method: AUTH_TEST,
            reason: "the answer has no valid team_id".into(),
        })?;
    Ok(AuthTest {
        team_id,
        team: text("team").map(str::to_owned),
        enterprise_id: text("enterprise_id").and_then(|id| EnterpriseId::parse(id).ok()),
        is_enterprise_install: answer
            .get("is_enterprise_install")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        user_id: text("user_id").and_then(|id| UserId::parse(id).ok()),
        bot_id: text("bot_id").map(str::to_owned),
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// The shape of Slack's documented example, with rotation on.
    fn answer() -> Value {
        json!({
            "ok": true, "access_token": "xoxe.xoxb-1-secret", "token_type": "bot",
            "scope": "commands,calls:write,links:read", "bot_user_id": "U0KRQLJ9H",
            "app_id": "A0KRD7HC3", "team": {"name": "Slack Softball Team", "id": "T9TK3CUKW"},
            "enterprise": {"name": "slack-sports", "id": "E12345678"},
            "authed_user": {"id": "U1234", "scope": "chat:write", "access_token": "xoxp-1", "token_type": "user"},
            "is_enterprise_install": false, "refresh_token": "xoxe-1-refresh", "expires_in": 43200,
        })
    }

    #[test]
    fn an_install_answer_is_read_and_its_tokens_never_shown() {
        let access = access_of(answer()).expect("a valid answer");
        assert_eq!(
            access.team.as_ref().map(|t| t.id.as_str()),
            Some("T9TK3CUKW")
        );
        assert_eq!(
            access.enterprise.as_ref().and_then(|e| e.name.as_deref()),
            Some("slack-sports")
        );
        assert_eq!(access.access_token.expose_secret(), "xoxe.xoxb-1-secret");
        assert_eq!(access.expires_in, Some(43_200));
        assert_eq!(
            access.authed_user_id.as_ref().map(UserId::as_str),
            Some("U1234")
        );
        assert_eq!(
            access.scopes(),
            vec!["commands", "calls:write", "links:read"]
        );
        let shown = format!("{access:?}");
        assert!(
            !shown.contains("xoxe") && !shown.contains("xoxp"),
            "{shown}"
        );
    }

    #[test]
    fn an_org_install_has_no_team_and_a_user_token_only_answer_is_refused() {
        let mut org = answer();
        org["team"] = Value::Null;
        org["is_enterprise_install"] = json!(true);
        let access = access_of(org).expect("an org install");
        assert!(access.team.is_none() && access.is_enterprise_install);

        let mut user_only = answer();
        user_only["token_type"] = json!("user");
        assert!(access_of(user_only).is_err());
        let mut malformed = answer();
        malformed["team"] = json!({"id": "xoxb-leak"});
        let error = access_of(malformed).expect_err("bad team id").to_string();
        assert!(!error.contains("xoxb"), "{error}");
    }

    #[test]
    fn grants_and_credentials_never_show_their_secrets() {
        let grant = OAuthGrant::Refresh {
            refresh_token: SecretString::from("xoxe-1-r"),
        };
        assert!(!format!("{grant:?}").contains("xoxe"));
        assert_eq!(grant.form()[0], ("grant_type", "refresh_token".to_owned()));
        let client = ClientCredentials {
            client_id: "123.456".into(),
            client_secret: SecretString::from("shh"),
        };
        assert!(!format!("{client:?}").contains("shh"));
        // base64("123.456:shh")
        assert_eq!(client.basic_authorization(), "Basic MTIzLjQ1NjpzaGg=");
    }

    #[test]
    fn auth_test_names_the_team_and_organisation() {
        let read = auth_test_of(&json!({
            "ok": true, "team": "Acme", "team_id": "T1", "user_id": "U2", "bot_id": "B3",
            "enterprise_id": "", "is_enterprise_install": false,
        }))
        .expect("valid");
        assert_eq!(read.team_id.as_str(), "T1");
        assert!(read.enterprise_id.is_none());
        assert!(auth_test_of(&json!({"ok": true})).is_err());
    }
}
