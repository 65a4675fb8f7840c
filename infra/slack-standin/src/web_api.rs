//! Slack's Web API methods, played strictly: argument presence and types, tokens,
//! ids the stand-in issued, and call state. Each method answers with the JSON Slack
//! sends on success, or the error code Slack documents for the failure. The methods
//! themselves live in `calls` and `chat`; this module holds the state they share.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value};

use crate::fault::ActiveFault;
use crate::model::{
    ChannelAccess, ComposerUnfurl, LinkShared, RecordedRequest, ResponsePost, StandinCall,
    StandinMessage,
};
use crate::oauth::OAuthState;
use crate::response_url::ResponseUrl;
use crate::workspace::WorkspaceInfo;

/// Slack error codes, as `&'static str` so a typo cannot hide in a literal.
pub(crate) mod code {
    pub const NOT_AUTHED: &str = "not_authed";
    pub const INVALID_AUTH: &str = "invalid_auth";
    pub const TOKEN_REVOKED: &str = "token_revoked";
    pub const UNKNOWN_METHOD: &str = "unknown_method";
    pub const INVALID_ARGUMENTS: &str = "invalid_arguments";
    pub const MISSING_ARGUMENT: &str = "missing_argument";
    pub const INVALID_ARG_NAME: &str = "invalid_arg_name";
    pub const INVALID_ARRAY_ARG: &str = "invalid_array_arg";
    pub const INVALID_CALL_ID: &str = "invalid_call_id";
    pub const INACTIVE_CALL: &str = "inactive_call";
    pub const BAD_USERS: &str = "bad_users";
    pub const USER_NOT_FOUND: &str = "user_not_found";
    pub const INVALID_CREATED_BY: &str = "invalid_created_by";
    pub const INVALID_START_TIME: &str = "invalid_start_time";
    pub const MISSING_CHANNEL: &str = "missing_channel";
    pub const MISSING_TS: &str = "missing_ts";
    pub const MISSING_UNFURLS: &str = "missing_unfurls";
    pub const MISSING_UNFURL_ID: &str = "missing_unfurl_id";
    pub const MISSING_SOURCE: &str = "missing_source";
    pub const INVALID_UNFURL_ID: &str = "invalid_unfurl_id";
    pub const INVALID_SOURCE: &str = "invalid_source";
    pub const INVALID_UNFURLS_FORMAT: &str = "invalid_unfurls_format";
    pub const CANNOT_PARSE_ATTACHMENT: &str = "cannot_parse_attachment";
    pub const CANNOT_FIND_CHANNEL: &str = "cannot_find_channel";
    pub const CANNOT_FIND_MESSAGE: &str = "cannot_find_message";
    pub const CANNOT_UNFURL_MESSAGE: &str = "cannot_unfurl_message";
    pub const CHANNEL_NOT_FOUND: &str = "channel_not_found";
    pub const NOT_IN_CHANNEL: &str = "not_in_channel";
    pub const IS_ARCHIVED: &str = "is_archived";
    pub const USER_NOT_IN_CHANNEL: &str = "user_not_in_channel";
    pub const NO_TEXT: &str = "no_text";
    pub const INVALID_BLOCKS: &str = "invalid_blocks";
    pub const INVALID_BLOCKS_FORMAT: &str = "invalid_blocks_format";
    pub const MISSING_POST_TYPE: &str = "missing_post_type";
    pub const INVALID_POST_TYPE: &str = "invalid_post_type";
    pub const INVALID_CHARSET: &str = "invalid_charset";
    pub const INVALID_JSON: &str = "invalid_json";
    pub const JSON_NOT_OBJECT: &str = "json_not_object";
    pub const INVALID_FORM_DATA: &str = "invalid_form_data";
    pub const EXPIRED_URL: &str = "expired_url";
    pub const USED_URL: &str = "used_url";
    pub const TOKEN_EXPIRED: &str = "token_expired";
    pub const INVALID_CLIENT_ID: &str = "invalid_client_id";
    pub const BAD_CLIENT_SECRET: &str = "bad_client_secret";
    pub const INVALID_CODE: &str = "invalid_code";
    pub const BAD_REDIRECT_URI: &str = "bad_redirect_uri";
    pub const INVALID_GRANT_TYPE: &str = "invalid_grant_type";
    pub const INVALID_REFRESH_TOKEN: &str = "invalid_refresh_token";
    pub const NO_SCOPES: &str = "no_scopes";
}

/// The fields of an `{"ok":true,…}` answer (an `error` among them makes Slack's
/// documented `{"ok":true,"error":…}` shape), or the code of an `{"ok":false}` one.
pub(crate) type Answer = Result<Map<String, Value>, &'static str>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TokenKind {
    Bot,
    User,
}

#[derive(Debug, Clone)]
pub(crate) struct TokenInfo {
    /// The workspace the token acts in; for an org-wide install, the organisation's id.
    pub team_id: String,
    /// The organisation of that workspace (or the org-wide install's organisation).
    pub enterprise_id: Option<String>,
    /// Issued to an org-wide install: acts in every workspace of `enterprise_id`.
    pub org_wide: bool,
    pub kind: TokenKind,
    pub revoked: bool,
    /// Unix seconds on the stand-in's clock from which the token is `token_expired`.
    pub expires_at: Option<i64>,
}

impl TokenInfo {
    /// A token that never expires, for one workspace.
    pub fn workspace(team_id: &str, enterprise_id: Option<String>, kind: TokenKind) -> Self {
        TokenInfo {
            team_id: team_id.to_owned(),
            enterprise_id,
            org_wide: false,
            kind,
            revoked: false,
            expires_at: None,
        }
    }
}

/// Everything the stand-in knows. Guarded by one mutex, never held across an await.
#[derive(Debug)]
pub(crate) struct State {
    pub started: Instant,
    /// How far tests moved the stand-in's clock ahead of the real one.
    pub clock_offset: Duration,
    pub tokens: HashMap<String, TokenInfo>,
    pub calls: BTreeMap<String, StandinCall>,
    pub next_call: u64,
    pub messages: Vec<StandinMessage>,
    next_ts: u64,
    pub response_urls: HashMap<String, ResponseUrl>,
    pub next_response_url: u64,
    pub response_posts: Vec<ResponsePost>,
    pub requests: Vec<RecordedRequest>,
    pub faults: Vec<ActiveFault>,
    pub channel_access: HashMap<String, ChannelAccess>,
    /// User ids the workspace does not know (never existed, or deleted).
    pub unknown_users: HashSet<String>,
    pub composer_unfurls: Vec<ComposerUnfurl>,
    next_unfurl: u64,
    /// Workspaces by team id.
    pub workspaces: BTreeMap<String, WorkspaceInfo>,
    /// Which workspace each channel belongs to; a channel is bound when a test or a
    /// token first names it.
    pub channel_team: HashMap<String, String>,
    pub oauth: OAuthState,
}

impl State {
    pub fn new() -> Self {
        State {
            started: Instant::now(),
            clock_offset: Duration::ZERO,
            tokens: HashMap::new(),
            calls: BTreeMap::new(),
            next_call: 0,
            messages: Vec::new(),
            next_ts: 0,
            response_urls: HashMap::new(),
            next_response_url: 0,
            response_posts: Vec::new(),
            requests: Vec::new(),
            faults: Vec::new(),
            channel_access: HashMap::new(),
            unknown_users: HashSet::new(),
            composer_unfurls: Vec::new(),
            next_unfurl: 0,
            workspaces: BTreeMap::new(),
            channel_team: HashMap::new(),
            oauth: OAuthState::default(),
        }
    }

    pub fn offset_ms(&self, at: Instant) -> u64 {
        at.saturating_duration_since(self.started).as_millis() as u64
    }

    /// The stand-in's clock: the real one, moved ahead by [`State::clock_offset`].
    pub fn now(&self) -> Instant {
        Instant::now() + self.clock_offset
    }

    /// Unix seconds by the stand-in's clock.
    pub fn unix_now(&self) -> i64 {
        let real = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or_default();
        (real + self.clock_offset.as_secs()) as i64
    }

    pub fn add_token(&mut self, token: &str, team_id: &str) {
        // Slack's prefixes: xoxb- bot, xoxp- user. Anything else is treated as a bot token.
        let kind = if token.starts_with("xoxp-") {
            TokenKind::User
        } else {
            TokenKind::Bot
        };
        let enterprise_id = self.enterprise_of(team_id);
        self.tokens.insert(
            token.to_owned(),
            TokenInfo::workspace(team_id, enterprise_id, kind),
        );
    }

    pub fn add_message(&mut self, channel: &str, ts: &str) {
        if self.message_mut(channel, ts).is_none() {
            self.messages.push(StandinMessage::new(channel, ts));
        }
    }

    /// A posted message with these links, as a `link_shared` event
    /// (`source=conversations_history`) would announce it.
    pub fn link_shared(&mut self, channel: &str, ts: &str, links: &[&str]) -> LinkShared {
        let unfurl_id = format!("{channel}.{}.{}", ts.replace('.', ""), self.fresh_hex());
        let links: Vec<String> = links.iter().map(|link| (*link).to_owned()).collect();
        let message = match self.message_mut(channel, ts) {
            Some(message) => message,
            None => {
                self.messages.push(StandinMessage::new(channel, ts));
                let last = self.messages.len() - 1;
                &mut self.messages[last]
            }
        };
        let known = message.links.get_or_insert_with(Vec::new);
        for link in links {
            if !known.contains(&link) {
                known.push(link);
            }
        }
        let unfurl_id = message.unfurl_id.get_or_insert(unfurl_id).clone();
        LinkShared {
            channel: channel.to_owned(),
            message_ts: ts.to_owned(),
            unfurl_id,
            source: "conversations_history".into(),
        }
    }

    /// A link typed into `user`'s message composer in `channel`, not posted yet.
    pub fn new_composer_unfurl(&mut self, channel: &str, user: &str) -> LinkShared {
        // Slack's composer ids look like `U123ABC456-909b5454-…`, not like timestamps.
        let draft = format!("{user}-{}", self.fresh_hex());
        self.composer_unfurls.push(ComposerUnfurl {
            unfurl_id: draft.clone(),
            channel: channel.to_owned(),
            user: user.to_owned(),
            message_ts: draft.clone(),
            unfurls: Map::new(),
        });
        LinkShared {
            channel: "COMPOSER".into(),
            message_ts: draft.clone(),
            unfurl_id: draft,
            source: "composer".into(),
        }
    }

    pub(crate) fn fresh_hex(&mut self) -> String {
        self.next_unfurl += 1;
        let n = self.next_unfurl;
        format!(
            "{:016x}{:016x}",
            0x9e37_79b9_7f4a_7c15u64.wrapping_mul(n),
            0xc2b2_ae3d_27d4_eb4fu64.wrapping_mul(n)
        )
    }

    pub fn message_mut(&mut self, channel: &str, ts: &str) -> Option<&mut StandinMessage> {
        self.messages
            .iter_mut()
            .find(|message| message.channel == channel && message.ts == ts)
    }

    pub fn new_ts(&mut self) -> String {
        self.next_ts += 1;
        format!("{}.{:06}", self.unix_now(), self.next_ts % 1_000_000)
    }

    pub fn access(&self, channel: &str) -> ChannelAccess {
        self.channel_access
            .get(channel)
            .copied()
            .unwrap_or(ChannelAccess::Member)
    }

    /// Whether the workspace knows this user id (well-formed and not forgotten).
    pub fn knows_user(&self, user: &str) -> bool {
        is_user_id(user) && !self.unknown_users.contains(user)
    }

    /// Who is calling: `not_authed`, `invalid_auth`, `token_revoked` and
    /// `token_expired` as Slack answers.
    pub fn authenticate(&self, token: Option<&str>) -> Result<TokenInfo, &'static str> {
        let token = token.filter(|t| !t.is_empty()).ok_or(code::NOT_AUTHED)?;
        let info = self.tokens.get(token).ok_or(code::INVALID_AUTH)?;
        if info.revoked {
            return Err(code::TOKEN_REVOKED);
        }
        if info.expires_at.is_some_and(|at| self.unix_now() >= at) {
            return Err(code::TOKEN_EXPIRED);
        }
        Ok(info.clone())
    }

    pub fn dispatch(
        &mut self,
        method: &str,
        caller: &TokenInfo,
        args: &Map<String, Value>,
    ) -> Answer {
        match method {
            "calls.add" => self.calls_add(caller, args),
            "calls.update" => self.calls_update(caller, args),
            "calls.info" => self.calls_info(caller, args),
            "calls.end" => self.calls_end(caller, args),
            "calls.participants.add" => self.participants_change(caller, args, true),
            "calls.participants.remove" => self.participants_change(caller, args, false),
            "chat.unfurl" => self.chat_unfurl(caller, args),
            "chat.postEphemeral" => self.chat_post_ephemeral(caller, args),
            "chat.postMessage" => self.chat_post_message(caller, args),
            "auth.test" => Ok(self.auth_test(caller)),
            _ => Err(code::UNKNOWN_METHOD),
        }
    }
}

pub(crate) fn object(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

/// Slack ids: a type letter, then upper-case letters and digits.
fn is_id(value: &str, prefixes: &[char]) -> bool {
    let mut chars = value.chars();
    chars.next().is_some_and(|first| prefixes.contains(&first))
        && value.len() >= 2
        && chars.all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
}

pub(crate) fn is_user_id(value: &str) -> bool {
    is_id(value, &['U', 'W'])
}

/// A conversation id; `COMPOSER` (the `link_shared` channel of a link still in the
/// message composer) looks like one but names no conversation.
pub(crate) fn is_channel_id(value: &str) -> bool {
    is_id(value, &['C', 'G', 'D']) && value != "COMPOSER"
}

pub(crate) fn is_http_url(value: &str) -> bool {
    (value.starts_with("https://") || value.starts_with("http://"))
        && value.len() > "https://".len()
}

pub(crate) fn require_http_url(value: &str) -> Result<(), &'static str> {
    if is_http_url(value) {
        Ok(())
    } else {
        Err(code::INVALID_ARGUMENTS)
    }
}
