//! The app's OAuth side: the authorize page (`GET /oauth/v2/authorize`), which
//! redirects back with a single-use code or `error=access_denied`, and
//! `oauth.v2.access` for both grants (`authorization_code`, `refresh_token`), with
//! token rotation when the app has it on.

use std::collections::HashMap;

use serde::Serialize;
use serde_json::{json, Map, Value};

use crate::args::{given_string, optional_string};
use crate::model::{STANDIN_APP_ID, STANDIN_BOT_USER};
use crate::web_api::{code, object, Answer, State, TokenInfo, TokenKind};
use crate::DEFAULT_TEAM_ID;

/// The app's client id (the shape of Slack's `2141029472.691202649728`).
pub const STANDIN_CLIENT_ID: &str = "1000000001.2000000002";
/// The app's client secret.
pub const STANDIN_CLIENT_SECRET: &str = "standin-client-secret";
/// The user who approves an install unless a test says otherwise.
pub const STANDIN_INSTALLER: &str = "U0INSTALLER";
/// How long an authorization code may wait to be exchanged.
const CODE_LIFETIME_SECS: i64 = 10 * 60;
/// How long a rotating access token lives: Slack's `expires_in` of 12 hours.
pub(crate) const ROTATING_TOKEN_SECS: i64 = 12 * 60 * 60;

/// Who approves the next installs, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Grant {
    /// The workspace; `None` for an org-wide install.
    pub team_id: Option<String>,
    pub enterprise_id: Option<String>,
    pub org_wide: bool,
    pub installer: String,
    /// The bot scopes asked for on the authorize page.
    pub scope: String,
}

impl Grant {
    /// The workspace the tokens act in, or the organisation for an org-wide install.
    fn owner(&self) -> String {
        match (&self.team_id, &self.enterprise_id) {
            (Some(team), _) => team.clone(),
            (None, Some(enterprise)) => enterprise.clone(),
            (None, None) => DEFAULT_TEAM_ID.to_owned(),
        }
    }
}

#[derive(Debug)]
struct IssuedCode {
    grant: Grant,
    redirect_uri: Option<String>,
    issued_at: i64,
}

/// A token pair `oauth.v2.access` handed out, for tests to find it again (e.g. in a
/// raw table scan, where it must not appear).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IssuedToken {
    pub access_token: String,
    pub refresh_token: Option<String>,
    /// `None` for an org-wide install.
    pub team_id: Option<String>,
    pub enterprise_id: Option<String>,
    pub is_enterprise_install: bool,
    /// `authorization_code` or `refresh_token`.
    pub grant_type: String,
}

/// What the stand-in remembers about the OAuth side.
#[derive(Debug, Default)]
pub(crate) struct OAuthState {
    /// Whether the app has token rotation on.
    pub rotation: bool,
    /// Who approves on the authorize page; `None`: [`STANDIN_INSTALLER`] in the default
    /// workspace.
    pub approver: Option<Grant>,
    /// The next authorize is refused by the user.
    pub deny_next: bool,
    codes: HashMap<String, IssuedCode>,
    /// Refresh tokens not used yet; each may be used once.
    refresh_tokens: HashMap<String, Grant>,
    next: u64,
    pub issued: Vec<IssuedToken>,
}

/// Where the authorize page sends the browser, or why it refuses (HTTP status, code).
pub(crate) type Redirect = Result<String, (u16, &'static str)>;

impl State {
    /// `GET /oauth/v2/authorize?client_id&scope&redirect_uri&state`.
    pub fn authorize(&mut self, args: &Map<String, Value>) -> Redirect {
        let arg = |name| given_string(args, name).ok().flatten();
        if arg("client_id").as_deref() != Some(STANDIN_CLIENT_ID) {
            return Err((400, code::INVALID_CLIENT_ID));
        }
        // The stand-in has no app settings to take a default redirect URL from.
        let redirect_uri = arg("redirect_uri")
            .filter(|uri| crate::web_api::is_http_url(uri))
            .ok_or((400, code::BAD_REDIRECT_URI))?;
        let scope = arg("scope").unwrap_or_default();
        if scope.is_empty() && arg("user_scope").is_none() {
            return Err((400, code::NO_SCOPES));
        }
        let mut back: Vec<(&str, String)> = Vec::new();
        if std::mem::take(&mut self.oauth.deny_next) {
            back.push(("error", "access_denied".into()));
        } else {
            let mut grant = self.oauth.approver.clone().unwrap_or(Grant {
                team_id: Some(DEFAULT_TEAM_ID.to_owned()),
                enterprise_id: None,
                org_wide: false,
                installer: STANDIN_INSTALLER.to_owned(),
                scope: String::new(),
            });
            grant.scope = scope;
            self.oauth.next += 1;
            let serial = self.oauth.next;
            let code = format!("{serial}.{}", self.fresh_hex());
            let issued_at = self.unix_now();
            self.oauth.codes.insert(
                code.clone(),
                IssuedCode {
                    grant,
                    redirect_uri: Some(redirect_uri.clone()),
                    issued_at,
                },
            );
            back.push(("code", code));
        }
        if let Some(state) = arg("state") {
            back.push(("state", state));
        }
        let query =
            serde_urlencoded::to_string(&back).map_err(|_| (400, code::INVALID_ARGUMENTS))?;
        let joiner = if redirect_uri.contains('?') { '&' } else { '?' };
        Ok(format!("{redirect_uri}{joiner}{query}"))
    }

    /// `oauth.v2.access`: client credentials as HTTP Basic (or the `client_id` and
    /// `client_secret` fields), then a code or a refresh token.
    pub fn oauth_v2_access(
        &mut self,
        basic: Option<(String, String)>,
        args: &Map<String, Value>,
    ) -> Answer {
        let (client_id, client_secret) = match basic {
            Some(pair) => (Some(pair.0), Some(pair.1)),
            None => (
                optional_string(args, "client_id")?,
                optional_string(args, "client_secret")?,
            ),
        };
        if client_id.as_deref() != Some(STANDIN_CLIENT_ID) {
            return Err(code::INVALID_CLIENT_ID);
        }
        if client_secret.as_deref() != Some(STANDIN_CLIENT_SECRET) {
            return Err(code::BAD_CLIENT_SECRET);
        }
        match optional_string(args, "grant_type")?.as_deref() {
            None | Some("authorization_code") => self.exchange_code(args),
            Some("refresh_token") => self.exchange_refresh_token(args),
            Some(_) => Err(code::INVALID_GRANT_TYPE),
        }
    }

    fn exchange_code(&mut self, args: &Map<String, Value>) -> Answer {
        let code = given_string(args, "code")?.ok_or(code::INVALID_CODE)?;
        let now = self.unix_now();
        let issued = self.oauth.codes.get(&code).ok_or(code::INVALID_CODE)?;
        if now - issued.issued_at >= CODE_LIFETIME_SECS {
            return Err(code::INVALID_CODE);
        }
        // "This must match the originally submitted URI (if one was sent)."
        if issued.redirect_uri.is_some()
            && given_string(args, "redirect_uri")? != issued.redirect_uri
        {
            return Err(code::BAD_REDIRECT_URI);
        }
        let issued = self.oauth.codes.remove(&code).ok_or(code::INVALID_CODE)?;
        let mut answer = self.issue_tokens(&issued.grant, "authorization_code");
        answer.insert(
            "authed_user".into(),
            json!({ "id": issued.grant.installer }),
        );
        Ok(answer)
    }

    fn exchange_refresh_token(&mut self, args: &Map<String, Value>) -> Answer {
        let refresh_token =
            given_string(args, "refresh_token")?.ok_or(code::INVALID_REFRESH_TOKEN)?;
        // Single use: whoever presents it first wins; a second use is refused.
        let grant = self
            .oauth
            .refresh_tokens
            .remove(&refresh_token)
            .ok_or(code::INVALID_REFRESH_TOKEN)?;
        Ok(self.issue_tokens(&grant, "refresh_token"))
    }

    /// A fresh bot token for the grant (expiring, with a refresh token, when the app
    /// rotates tokens), in the shape of Slack's documented `oauth.v2.access` answers.
    fn issue_tokens(&mut self, grant: &Grant, grant_type: &str) -> Map<String, Value> {
        let owner = grant.owner();
        self.oauth.next += 1;
        let serial = self.oauth.next;
        let rotating = self.oauth.rotation;
        let access_token = if rotating {
            format!("xoxe.xoxb-1-{owner}-{serial}-{}", self.fresh_hex())
        } else {
            format!("xoxb-{owner}-{serial}-{}", self.fresh_hex())
        };
        let expires_at = rotating.then(|| self.unix_now() + ROTATING_TOKEN_SECS);
        self.tokens.insert(
            access_token.clone(),
            TokenInfo {
                team_id: owner,
                enterprise_id: grant.enterprise_id.clone(),
                org_wide: grant.org_wide,
                kind: TokenKind::Bot,
                revoked: false,
                expires_at,
            },
        );
        let refresh_token = rotating.then(|| format!("xoxe-1-{serial}-{}", self.fresh_hex()));
        if let Some(refresh) = &refresh_token {
            self.oauth
                .refresh_tokens
                .insert(refresh.clone(), grant.clone());
        }
        self.oauth.issued.push(IssuedToken {
            access_token: access_token.clone(),
            refresh_token: refresh_token.clone(),
            team_id: grant.team_id.clone(),
            enterprise_id: grant.enterprise_id.clone(),
            is_enterprise_install: grant.org_wide,
            grant_type: grant_type.to_owned(),
        });
        let team = match &grant.team_id {
            Some(team) => json!({"id": team, "name": self.team_name(team)}),
            None => Value::Null,
        };
        let enterprise = match &grant.enterprise_id {
            Some(id) => json!({"id": id, "name": format!("Organisation {id}")}),
            None => Value::Null,
        };
        let mut answer = object(json!({
            "app_id": STANDIN_APP_ID,
            "scope": grant.scope,
            "token_type": "bot",
            "access_token": access_token,
            "bot_user_id": STANDIN_BOT_USER,
            "team": team,
            "enterprise": enterprise,
            "is_enterprise_install": grant.org_wide,
        }));
        if let Some(refresh) = refresh_token {
            answer.insert("expires_in".into(), json!(ROTATING_TOKEN_SECS));
            answer.insert("refresh_token".into(), json!(refresh));
        }
        answer
    }

    /// Revokes every token of the workspace (or org-wide install) `owner`.
    pub fn uninstall(&mut self, owner: &str) -> bool {
        let mut any = false;
        for info in self.tokens.values_mut() {
            if info.team_id == owner && !info.revoked {
                info.revoked = true;
                any = true;
            }
        }
        self.oauth
            .refresh_tokens
            .retain(|_, grant| grant.owner() != owner);
        any
    }

    fn team_name(&self, team_id: &str) -> String {
        self.workspaces
            .get(team_id)
            .map_or_else(|| format!("Workspace {team_id}"), |w| w.name.clone())
    }
}
