//! A strict, stateful stand-in for Slack's Web API, served over real HTTP on loopback.
//!
//! It plays the `calls.*` methods, `chat.unfurl`, `chat.postEphemeral`,
//! `chat.postMessage` and `response_url` posts the way Slack's current documentation
//! and the official SDKs' fixtures describe them: HTTP 200 with `{"ok":true,…}` or
//! `{"ok":false,"error":CODE}` (and the documented `{"ok":true,"error":…}` for
//! `bad_users` and a second `calls.end`), HTTP 429 with `Retry-After` when rate
//! limited. It refuses what Slack refuses (unknown or revoked tokens, missing or
//! mistyped arguments, ids it never issued, users the workspace does not know, posts
//! where the bot may not post, unfurls of messages or links it was never told about,
//! expired or used-up response URLs), records every request, and can be told to
//! misbehave ([`Fault`]). The README lists each behaviour with its source.
//!
//! ```no_run
//! # async fn demo() {
//! use slack_standin::{Fault, SlackStandin};
//!
//! let slack = SlackStandin::start().await;
//! // Point the code under test at `slack.api_url()` with `slack.bot_token()`, then:
//! slack.inject(Fault::on("calls.add").rate_limited(1).times(1));
//! // … run it …
//! assert_eq!(slack.requests_for("calls.add").len(), 2);
//! # }
//! ```

mod admin;
mod args;
mod body;
mod calls;
mod chat;
mod fault;
mod model;
mod oauth;
mod response_url;
mod server;
mod web_api;
mod workspace;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::net::TcpListener;

pub use fault::{Fault, FaultAction, FaultBuilder};
pub use model::{
    ChannelAccess, ComposerUnfurl, LinkShared, RecordedRequest, ResponsePost, StandinCall,
    StandinMessage, StandinUser, STANDIN_APP_ID, STANDIN_BOT_ID, STANDIN_BOT_USER,
};

pub use oauth::{IssuedToken, STANDIN_CLIENT_ID, STANDIN_CLIENT_SECRET, STANDIN_INSTALLER};
pub use server::AUTHORIZE;
pub use workspace::{WorkspaceHandle, STANDIN_TOKEN_USER};

use fault::ActiveFault;
use oauth::Grant;
use web_api::State;

/// The bot token registered at start.
pub const DEFAULT_BOT_TOKEN: &str = "xoxb-standin-token";
/// The team that token belongs to.
pub const DEFAULT_TEAM_ID: &str = "T0STANDIN";

/// A running stand-in. Dropping it stops the server and every open connection.
pub struct SlackStandin {
    shared: Arc<Shared>,
    addr: SocketAddr,
    bot_token: String,
    server: tokio::task::JoinHandle<()>,
}

struct Shared {
    state: Mutex<State>,
    addr: SocketAddr,
}

impl Shared {
    fn state(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves plain data behind; keep serving it.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl std::fmt::Debug for SlackStandin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SlackStandin")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl Drop for SlackStandin {
    fn drop(&mut self) {
        // Aborting the accept loop drops its JoinSet, which aborts every connection,
        // including ones a `hang` fault keeps open.
        self.server.abort();
    }
}

impl SlackStandin {
    /// Starts on `127.0.0.1` at a free port, with [`DEFAULT_BOT_TOKEN`] registered for
    /// [`DEFAULT_TEAM_ID`].
    ///
    /// # Panics
    /// If no loopback port can be bound: a test cannot go on without its Slack.
    pub async fn start() -> SlackStandin {
        match Self::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await {
            Ok(standin) => standin,
            Err(error) => panic!("the Slack stand-in could not bind to loopback: {error}"),
        }
    }

    /// Starts on `addr` (the binary uses a fixed port).
    pub async fn bind(addr: SocketAddr) -> std::io::Result<SlackStandin> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let mut state = State::new();
        state.add_workspace(DEFAULT_TEAM_ID, None);
        state.add_token(DEFAULT_BOT_TOKEN, DEFAULT_TEAM_ID);
        let shared = Arc::new(Shared {
            state: Mutex::new(state),
            addr,
        });
        let server = tokio::spawn(server::accept_loop(listener, shared.clone()));
        Ok(SlackStandin {
            shared,
            addr,
            bot_token: DEFAULT_BOT_TOKEN.to_owned(),
            server,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT/`
    pub fn base_url(&self) -> String {
        format!("http://{}/", self.addr)
    }

    /// The Web API base, `http://127.0.0.1:PORT/api/`: what `SLACK_API_URL` takes.
    pub fn api_url(&self) -> String {
        format!("http://{}/api/", self.addr)
    }

    pub fn bot_token(&self) -> &str {
        &self.bot_token
    }

    pub fn team_id(&self) -> &str {
        DEFAULT_TEAM_ID
    }

    /// Registers a token for `team_id` (`xoxp-` tokens are user tokens, others bot tokens).
    pub fn add_token(&self, token: &str, team_id: &str) {
        self.shared.state().add_token(token, team_id);
    }

    /// The default workspace ([`DEFAULT_TEAM_ID`], token [`DEFAULT_BOT_TOKEN`]).
    pub fn workspace(&self) -> WorkspaceHandle {
        WorkspaceHandle {
            shared: self.shared.clone(),
            team_id: DEFAULT_TEAM_ID.to_owned(),
            enterprise_id: None,
            bot_token: self.bot_token.clone(),
        }
    }

    /// Adds a workspace (of the organisation `enterprise_id`, if given) with a bot token
    /// of its own, `xoxb-<team_id>-standin`. Its calls, channels and messages are out of
    /// reach of every other workspace's tokens (an org-wide token reaches the
    /// workspaces of its organisation).
    pub fn add_workspace(&self, team_id: &str, enterprise_id: Option<&str>) -> WorkspaceHandle {
        let bot_token = workspace::manual_bot_token(team_id);
        {
            let mut state = self.shared.state();
            state.add_workspace(team_id, enterprise_id);
            state.add_token(&bot_token, team_id);
        }
        WorkspaceHandle {
            shared: self.shared.clone(),
            team_id: team_id.to_owned(),
            enterprise_id: enterprise_id.map(str::to_owned),
            bot_token,
        }
    }

    /// The app's `(client_id, client_secret)`, for `oauth.v2.access`.
    pub fn oauth_client(&self) -> (String, String) {
        (
            STANDIN_CLIENT_ID.to_owned(),
            STANDIN_CLIENT_SECRET.to_owned(),
        )
    }

    /// The authorize page, `http://127.0.0.1:PORT/oauth/v2/authorize`: what
    /// `SLACK_AUTHORIZE_URL` takes.
    pub fn authorize_url(&self) -> String {
        format!("http://{}/oauth/v2/authorize", self.addr)
    }

    /// Token rotation on or off for installs from now on (default off). With it on,
    /// `oauth.v2.access` hands out `xoxe.xoxb-` tokens that expire after 12 hours of the
    /// stand-in's clock, each with a single-use `xoxe-1-` refresh token.
    pub fn set_rotation(&self, on: bool) {
        self.shared.state().oauth.rotation = on;
    }

    /// From now on the authorize page installs into `workspace`, approved by `user`
    /// (default: [`STANDIN_INSTALLER`] in the default workspace).
    pub fn authorize_as(&self, workspace: &WorkspaceHandle, user: &str) {
        self.shared.state().oauth.approver = Some(Grant {
            team_id: Some(workspace.team_id.clone()),
            enterprise_id: workspace.enterprise_id.clone(),
            org_wide: false,
            installer: user.to_owned(),
            scope: String::new(),
        });
    }

    /// From now on the authorize page installs org-wide into the organisation
    /// `enterprise_id` (`is_enterprise_install`, `team: null`), approved by `user`.
    pub fn authorize_org_as(&self, enterprise_id: &str, user: &str) {
        self.shared.state().oauth.approver = Some(Grant {
            team_id: None,
            enterprise_id: Some(enterprise_id.to_owned()),
            org_wide: true,
            installer: user.to_owned(),
            scope: String::new(),
        });
    }

    /// The next visitor of the authorize page cancels: it redirects back with
    /// `error=access_denied`.
    pub fn deny_next_authorize(&self) {
        self.shared.state().oauth.deny_next = true;
    }

    /// Every token pair `oauth.v2.access` handed out, in order.
    pub fn issued_tokens(&self) -> Vec<IssuedToken> {
        self.shared.state().oauth.issued.clone()
    }

    /// The app is uninstalled from a workspace (or, given an organisation's id, from the
    /// organisation's org-wide install): every token issued for it is answered with
    /// `token_revoked` from now on, and its refresh tokens are refused. True if any
    /// token was revoked.
    pub fn uninstall(&self, team_or_enterprise_id: &str) -> bool {
        self.shared.state().uninstall(team_or_enterprise_id)
    }

    /// From now on the token is answered with `token_revoked`.
    pub fn revoke_token(&self, token: &str) {
        if let Some(info) = self.shared.state().tokens.get_mut(token) {
            info.revoked = true;
        }
    }

    /// A response URL for a command issued in `channel_id` of the default team, as
    /// Slack puts in slash-command payloads: `http://127.0.0.1:PORT/response/…`.
    pub fn new_response_url(&self, channel_id: &str) -> String {
        self.new_response_url_for(channel_id, DEFAULT_TEAM_ID)
    }

    /// A response URL for a channel of another team.
    pub fn new_response_url_for(&self, channel_id: &str, team_id: &str) -> String {
        let id = {
            let mut state = self.shared.state();
            state.bind_channel(channel_id, team_id);
            state.new_response_url(channel_id, team_id)
        };
        format!("http://{}/response/{id}", self.addr)
    }

    /// Tells the stand-in that a message exists (as a `link_shared` event would), so
    /// `chat.unfurl` may attach to it by `channel` + `ts`. Its links are not known, so
    /// any URL may be unfurled into it; [`SlackStandin::link_shared`] is stricter. It
    /// names no workspace: a channel no one has named yet goes to the first token that
    /// uses it ([`WorkspaceHandle::add_message`] names one).
    pub fn add_message(&self, channel: &str, ts: &str) {
        self.shared.state().add_message(channel, ts);
    }

    /// A posted message with these links, as a `link_shared` event
    /// (`source=conversations_history`) announces it: `chat.unfurl` may then attach
    /// previews of these links only, by `channel` + `ts` or by `unfurl_id` + `source`.
    pub fn link_shared(&self, channel: &str, ts: &str, links: &[&str]) -> LinkShared {
        self.shared.state().link_shared(channel, ts, links)
    }

    /// A link typed into `user`'s message composer in `channel`, as a `link_shared`
    /// event with `channel: "COMPOSER"` and `source: "composer"` announces it.
    /// `chat.unfurl` takes it by `unfurl_id` + `source=composer` only.
    pub fn new_composer_unfurl(&self, channel: &str, user: &str) -> LinkShared {
        self.shared.state().new_composer_unfurl(channel, user)
    }

    /// Composer links announced with [`SlackStandin::new_composer_unfurl`], with what
    /// `chat.unfurl` attached to them.
    pub fn composer_unfurls(&self) -> Vec<ComposerUnfurl> {
        self.shared.state().composer_unfurls.clone()
    }

    /// How the bot relates to `channel` from now on (default: a member everywhere).
    pub fn set_channel_access(&self, channel: &str, access: ChannelAccess) {
        self.shared
            .state()
            .channel_access
            .insert(channel.to_owned(), access);
    }

    /// From now on the workspace does not know this user (never existed, or deleted):
    /// `user_not_found` in `users`, `invalid_created_by`, `user_not_in_channel`.
    pub fn forget_user(&self, user_id: &str) {
        self.shared.state().unknown_users.insert(user_id.to_owned());
    }

    /// Moves the stand-in's clock ahead: response URLs expire 30 minutes after issue,
    /// authorization codes 10 minutes after, rotating tokens 12 hours after, and
    /// `date_start`/`date_end` defaults and message timestamps follow this clock.
    pub fn advance_clock(&self, by: Duration) {
        self.shared.state().clock_offset += by;
    }

    /// Expires a response URL now, whatever its age. False if the stand-in never
    /// issued it.
    pub fn expire_response_url(&self, url: &str) -> bool {
        let prefix = format!("http://{}/response/", self.addr);
        let Some(id) = url.strip_prefix(&prefix) else {
            return false;
        };
        match self.shared.state().response_urls.get_mut(id) {
            Some(entry) => {
                entry.expired = true;
                true
            }
            None => false,
        }
    }

    /// Every request received, in order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.state().requests.clone()
    }

    /// The requests for one method (`response_url` for response URL posts).
    pub fn requests_for(&self, method: &str) -> Vec<RecordedRequest> {
        self.shared
            .state()
            .requests
            .iter()
            .filter(|request| request.method == method)
            .cloned()
            .collect()
    }

    pub fn clear_requests(&self) {
        self.shared.state().requests.clear();
    }

    /// Every call registered, in `calls.add` order.
    pub fn calls(&self) -> Vec<StandinCall> {
        self.shared.state().calls.values().cloned().collect()
    }

    pub fn call(&self, id: &str) -> Option<StandinCall> {
        self.shared.state().calls.get(id).cloned()
    }

    /// The calls registered with this `external_unique_id` (more than one is a bug).
    pub fn calls_with_external_id(&self, external_unique_id: &str) -> Vec<StandinCall> {
        self.shared
            .state()
            .calls
            .values()
            .filter(|call| call.external_unique_id == external_unique_id)
            .cloned()
            .collect()
    }

    /// Posts to response URLs, accepted or refused, in order.
    pub fn response_posts(&self) -> Vec<ResponsePost> {
        self.shared.state().response_posts.clone()
    }

    /// Messages the stand-in knows, with what was unfurled into them.
    pub fn messages(&self) -> Vec<StandinMessage> {
        self.shared.state().messages.clone()
    }

    /// Adds a fault; faults apply in the order injected.
    pub fn inject(&self, fault: Fault) {
        self.shared.state().faults.push(ActiveFault::new(fault));
    }

    pub fn clear_faults(&self) {
        self.shared.state().faults.clear();
    }
}
