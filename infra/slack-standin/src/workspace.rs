//! Workspaces (teams), their organisations, and which of them a token may act in:
//! calls, channels and messages belong to one workspace, and a token of another one
//! is answered as if they did not exist.

use std::sync::Arc;

use serde_json::{json, Map, Value};

use crate::model::{LinkShared, STANDIN_APP_ID, STANDIN_BOT_ID, STANDIN_BOT_USER};
use crate::web_api::{object, State, TokenInfo, TokenKind};
use crate::Shared;

/// The user an `xoxp-` token registered with `add_token` belongs to.
pub const STANDIN_TOKEN_USER: &str = "U0STANDINUSER";

/// A workspace the stand-in knows.
#[derive(Debug, Clone)]
pub(crate) struct WorkspaceInfo {
    pub name: String,
    pub enterprise_id: Option<String>,
}

/// The bot token a workspace added by a test gets, as if installed by hand.
pub(crate) fn manual_bot_token(team_id: &str) -> String {
    format!("xoxb-{team_id}-standin")
}

impl State {
    pub fn add_workspace(&mut self, team_id: &str, enterprise_id: Option<&str>) {
        self.workspaces.insert(
            team_id.to_owned(),
            WorkspaceInfo {
                name: format!("Workspace {team_id}"),
                enterprise_id: enterprise_id.map(str::to_owned),
            },
        );
    }

    /// The organisation a workspace belongs to, if any.
    pub fn enterprise_of(&self, team_id: &str) -> Option<String> {
        self.workspaces
            .get(team_id)
            .and_then(|workspace| workspace.enterprise_id.clone())
    }

    /// Whether `caller` may act on something that belongs to `owner` (a team id, or an
    /// organisation id for what an org-wide token created).
    pub fn covers(&self, caller: &TokenInfo, owner: &str) -> bool {
        owner == caller.team_id
            || (caller.org_wide
                && caller.enterprise_id.is_some()
                && self.enterprise_of(owner) == caller.enterprise_id)
    }

    /// Binds `channel` to `team_id` unless it already belongs to a workspace.
    pub fn bind_channel(&mut self, channel: &str, team_id: &str) {
        self.channel_team
            .entry(channel.to_owned())
            .or_insert_with(|| team_id.to_owned());
    }

    /// Whether `caller` can see `channel`. A channel no one has named yet becomes the
    /// caller's; one of another workspace is invisible to it.
    pub fn sees_channel(&mut self, caller: &TokenInfo, channel: &str) -> bool {
        match self.channel_team.get(channel) {
            Some(owner) => self.covers(caller, owner),
            None => {
                self.bind_channel(channel, &caller.team_id);
                true
            }
        }
    }

    /// `auth.test`: who the token is, in the shape of Slack's documented example and
    /// the node SDK's `AuthTestResponse`.
    pub fn auth_test(&self, caller: &TokenInfo) -> Map<String, Value> {
        let team_name = match self.workspaces.get(&caller.team_id) {
            Some(workspace) => workspace.name.clone(),
            None if caller.org_wide => format!("Organisation {}", caller.team_id),
            None => format!("Workspace {}", caller.team_id),
        };
        let domain = caller.team_id.to_ascii_lowercase();
        let url = if caller.org_wide {
            format!("https://{domain}.enterprise.slack.com/")
        } else {
            format!("https://{domain}.slack.com/")
        };
        let mut answer = object(json!({
            "url": url,
            "team": team_name,
            "team_id": caller.team_id,
            "is_enterprise_install": caller.org_wide,
        }));
        match caller.kind {
            TokenKind::Bot => {
                answer.insert("user".into(), json!("standin-bot"));
                answer.insert("user_id".into(), json!(STANDIN_BOT_USER));
                answer.insert("bot_id".into(), json!(STANDIN_BOT_ID));
                answer.insert("app_id".into(), json!(STANDIN_APP_ID));
            }
            TokenKind::User => {
                answer.insert("user".into(), json!("standin-user"));
                answer.insert("user_id".into(), json!(STANDIN_TOKEN_USER));
            }
        }
        if let Some(enterprise) = &caller.enterprise_id {
            answer.insert("enterprise_id".into(), json!(enterprise));
        }
        if let Some(at) = caller.expires_at {
            answer.insert("expires_in".into(), json!((at - self.unix_now()).max(0)));
        }
        answer
    }
}

/// One workspace of a running stand-in, with a bot token registered for it (as if the
/// app had been installed there by hand). Its channels, messages and calls are its own.
#[derive(Clone)]
pub struct WorkspaceHandle {
    pub(crate) shared: Arc<Shared>,
    pub(crate) team_id: String,
    pub(crate) enterprise_id: Option<String>,
    pub(crate) bot_token: String,
}

impl std::fmt::Debug for WorkspaceHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkspaceHandle")
            .field("team_id", &self.team_id)
            .field("enterprise_id", &self.enterprise_id)
            .finish_non_exhaustive()
    }
}

impl WorkspaceHandle {
    pub fn team_id(&self) -> &str {
        &self.team_id
    }

    pub fn enterprise_id(&self) -> Option<&str> {
        self.enterprise_id.as_deref()
    }

    /// The bot token registered for this workspace when it was added.
    pub fn bot_token(&self) -> &str {
        &self.bot_token
    }

    /// Makes `channel` one of this workspace's (unless another workspace has it).
    pub fn add_channel(&self, channel: &str) {
        self.shared.state().bind_channel(channel, &self.team_id);
    }

    /// A response URL for a command issued in `channel` of this workspace.
    pub fn new_response_url(&self, channel: &str) -> String {
        let id = {
            let mut state = self.shared.state();
            state.bind_channel(channel, &self.team_id);
            state.new_response_url(channel, &self.team_id)
        };
        format!("http://{}/response/{id}", self.shared.addr)
    }

    /// As [`crate::SlackStandin::add_message`], in a channel of this workspace.
    pub fn add_message(&self, channel: &str, ts: &str) {
        let mut state = self.shared.state();
        state.bind_channel(channel, &self.team_id);
        state.add_message(channel, ts);
    }

    /// As [`crate::SlackStandin::link_shared`], in a channel of this workspace.
    pub fn link_shared(&self, channel: &str, ts: &str, links: &[&str]) -> LinkShared {
        let mut state = self.shared.state();
        state.bind_channel(channel, &self.team_id);
        state.link_shared(channel, ts, links)
    }

    /// As [`crate::SlackStandin::new_composer_unfurl`], in a channel of this workspace.
    pub fn new_composer_unfurl(&self, channel: &str, user: &str) -> LinkShared {
        let mut state = self.shared.state();
        state.bind_channel(channel, &self.team_id);
        state.new_composer_unfurl(channel, user)
    }
}
