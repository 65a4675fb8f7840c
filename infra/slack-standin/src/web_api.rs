//! Slack's Web API methods, played strictly: argument presence and types, tokens,
//! ids the stand-in issued, and call state. Each method answers with the JSON Slack
//! sends on success, or the error code Slack documents for the failure.

use std::collections::{BTreeMap, HashMap};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use serde_json::{json, Map, Value};

use crate::fault::ActiveFault;
use crate::model::{RecordedRequest, ResponsePost, StandinCall, StandinMessage, StandinUser};

/// Slack error codes, as `&'static str` so a typo cannot hide in a literal.
pub(crate) mod code {
    pub const NOT_AUTHED: &str = "not_authed";
    pub const INVALID_AUTH: &str = "invalid_auth";
    pub const TOKEN_REVOKED: &str = "token_revoked";
    pub const UNKNOWN_METHOD: &str = "unknown_method";
    pub const INVALID_ARGUMENTS: &str = "invalid_arguments";
    pub const INVALID_CALL_ID: &str = "invalid_call_id";
    pub const INACTIVE_CALL: &str = "inactive_call";
    pub const BAD_USERS: &str = "bad_users";
    pub const USER_NOT_FOUND: &str = "user_not_found";
    pub const INVALID_CREATED_BY: &str = "invalid_created_by";
    pub const INVALID_START_TIME: &str = "invalid_start_time";
    pub const MISSING_CHANNEL: &str = "missing_channel";
    pub const MISSING_TS: &str = "missing_ts";
    pub const MISSING_UNFURLS: &str = "missing_unfurls";
    pub const INVALID_UNFURLS_FORMAT: &str = "invalid_unfurls_format";
    pub const CANNOT_PARSE_ATTACHMENT: &str = "cannot_parse_attachment";
    pub const CANNOT_UNFURL_URL: &str = "cannot_unfurl_url";
    pub const CHANNEL_NOT_FOUND: &str = "channel_not_found";
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
}

pub(crate) type Answer = Result<Map<String, Value>, &'static str>;

/// Slack lets a response URL be used this many times.
const RESPONSE_URL_USES: u32 = 5;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TokenKind {
    Bot,
    User,
}

#[derive(Debug, Clone)]
pub(crate) struct TokenInfo {
    pub team_id: String,
    pub kind: TokenKind,
    pub revoked: bool,
}

#[derive(Debug, Clone)]
pub(crate) struct ResponseUrl {
    pub channel: String,
    pub team_id: String,
    pub uses: u32,
}

/// Everything the stand-in knows. Guarded by one mutex, never held across an await.
#[derive(Debug)]
pub(crate) struct State {
    pub started: Instant,
    pub tokens: HashMap<String, TokenInfo>,
    pub calls: BTreeMap<String, StandinCall>,
    next_call: u64,
    pub messages: Vec<StandinMessage>,
    next_ts: u64,
    pub response_urls: HashMap<String, ResponseUrl>,
    next_response_url: u64,
    pub response_posts: Vec<ResponsePost>,
    pub requests: Vec<RecordedRequest>,
    pub faults: Vec<ActiveFault>,
}

pub(crate) fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default()
}

impl State {
    pub fn new() -> Self {
        State {
            started: Instant::now(),
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
        }
    }

    pub fn offset_ms(&self, at: Instant) -> u64 {
        at.saturating_duration_since(self.started).as_millis() as u64
    }

    pub fn add_token(&mut self, token: &str, team_id: &str) {
        // Slack's prefixes: xoxb- bot, xoxp- user. Anything else is treated as a bot token.
        let kind = if token.starts_with("xoxp-") {
            TokenKind::User
        } else {
            TokenKind::Bot
        };
        self.tokens.insert(
            token.to_owned(),
            TokenInfo {
                team_id: team_id.to_owned(),
                kind,
                revoked: false,
            },
        );
    }

    /// A fresh response URL path for `channel` of `team_id`; call blocks posted to it
    /// must name calls that team registered.
    pub fn new_response_url(&mut self, channel: &str, team_id: &str) -> String {
        self.next_response_url += 1;
        let id = format!(
            "{team_id}/{:012}/{:016x}",
            self.next_response_url,
            0x9e37_79b9_7f4a_7c15u64.wrapping_mul(self.next_response_url)
        );
        self.response_urls.insert(
            id.clone(),
            ResponseUrl {
                channel: channel.to_owned(),
                team_id: team_id.to_owned(),
                uses: 0,
            },
        );
        id
    }

    pub fn add_message(&mut self, channel: &str, ts: &str) {
        if !self.has_message(channel, ts) {
            self.messages.push(StandinMessage {
                channel: channel.to_owned(),
                ts: ts.to_owned(),
                text: None,
                blocks: None,
                unfurls: Map::new(),
            });
        }
    }

    fn has_message(&self, channel: &str, ts: &str) -> bool {
        self.messages
            .iter()
            .any(|message| message.channel == channel && message.ts == ts)
    }

    fn new_ts(&mut self) -> String {
        self.next_ts += 1;
        format!("{}.{:06}", unix_now(), self.next_ts % 1_000_000)
    }

    /// Who is calling: `not_authed`, `invalid_auth` and `token_revoked` as Slack answers.
    pub fn authenticate(&self, token: Option<&str>) -> Result<TokenInfo, &'static str> {
        let token = token.filter(|t| !t.is_empty()).ok_or(code::NOT_AUTHED)?;
        let info = self.tokens.get(token).ok_or(code::INVALID_AUTH)?;
        if info.revoked {
            return Err(code::TOKEN_REVOKED);
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
            "calls.participants.add" => self.participants_add(caller, args),
            "calls.participants.remove" => self.participants_remove(caller, args),
            "chat.unfurl" => self.chat_unfurl(caller, args),
            "chat.postEphemeral" => self.chat_post_ephemeral(caller, args),
            "chat.postMessage" => self.chat_post_message(caller, args),
            _ => Err(code::UNKNOWN_METHOD),
        }
    }

    fn calls_add(&mut self, caller: &TokenInfo, args: &Map<String, Value>) -> Answer {
        let external_unique_id =
            required_string(args, "external_unique_id", code::INVALID_ARGUMENTS)?;
        let join_url = required_string(args, "join_url", code::INVALID_ARGUMENTS)?;
        require_http_url(&join_url)?;
        let desktop_app_join_url = optional_string(args, "desktop_app_join_url")?;
        let external_display_id = optional_string(args, "external_display_id")?;
        let title = optional_string(args, "title")?;
        let created_by = optional_string(args, "created_by")?;
        match (&created_by, caller.kind) {
            // "When this method is called with a user token, created_by is optional …
            // Otherwise, the field is required."
            (None, TokenKind::Bot) => return Err(code::INVALID_ARGUMENTS),
            (Some(user), _) if !is_user_id(user) => return Err(code::INVALID_CREATED_BY),
            _ => {}
        }
        let date_start = match optional_integer(args, "date_start", code::INVALID_START_TIME)? {
            Some(start) if start < 0 => return Err(code::INVALID_START_TIME),
            Some(start) => start,
            None => unix_now(),
        };
        let participants = match args.get("users").filter(|v| !v.is_null()) {
            Some(users) => users_arg(users)?,
            None => Vec::new(),
        };
        if has_duplicates(&participants) {
            return Err(code::BAD_USERS);
        }

        self.next_call += 1;
        let call = StandinCall {
            id: format!("R{:09}", self.next_call),
            team_id: caller.team_id.clone(),
            external_unique_id,
            join_url,
            desktop_app_join_url,
            external_display_id,
            title,
            created_by,
            date_start,
            date_end: None,
            duration: None,
            participants,
        };
        let answer = json!({ "call": call.to_json() });
        self.calls.insert(call.id.clone(), call);
        Ok(object(answer))
    }

    fn calls_update(&mut self, caller: &TokenInfo, args: &Map<String, Value>) -> Answer {
        let title = optional_string(args, "title")?;
        let join_url = optional_string(args, "join_url")?;
        if let Some(url) = &join_url {
            require_http_url(url)?;
        }
        let desktop_app_join_url = optional_string(args, "desktop_app_join_url")?;
        let call = self.own_call(caller, args)?;
        if title.is_some() {
            call.title = title;
        }
        if let Some(url) = join_url {
            call.join_url = url;
        }
        if desktop_app_join_url.is_some() {
            call.desktop_app_join_url = desktop_app_join_url;
        }
        Ok(object(json!({ "call": call.to_json() })))
    }

    fn calls_info(&mut self, caller: &TokenInfo, args: &Map<String, Value>) -> Answer {
        let call = self.own_call(caller, args)?;
        Ok(object(json!({ "call": call.to_json() })))
    }

    fn calls_end(&mut self, caller: &TokenInfo, args: &Map<String, Value>) -> Answer {
        let duration = match optional_integer(args, "duration", code::INVALID_ARGUMENTS)? {
            Some(d) if d < 0 => return Err(code::INVALID_ARGUMENTS),
            other => other,
        };
        let call = self.own_call(caller, args)?;
        if call.ended() {
            return Err(code::INACTIVE_CALL);
        }
        let now = unix_now();
        call.date_end = Some(now);
        call.duration = Some(duration.unwrap_or_else(|| (now - call.date_start).max(0)));
        Ok(Map::new())
    }

    fn participants_add(&mut self, caller: &TokenInfo, args: &Map<String, Value>) -> Answer {
        let users = required_users(args)?;
        let call = self.live_call(caller, args)?;
        let mut after = call.participants.clone();
        for user in users {
            // All or nothing: one user already present fails the whole request.
            if after
                .iter()
                .any(|present| present.identity() == user.identity())
            {
                return Err(code::BAD_USERS);
            }
            after.push(user);
        }
        call.participants = after;
        Ok(Map::new())
    }

    fn participants_remove(&mut self, caller: &TokenInfo, args: &Map<String, Value>) -> Answer {
        let users = required_users(args)?;
        let call = self.live_call(caller, args)?;
        let mut after = call.participants.clone();
        for user in users {
            let position = after
                .iter()
                .position(|present| present.identity() == user.identity())
                .ok_or(code::BAD_USERS)?;
            after.remove(position);
        }
        call.participants = after;
        Ok(Map::new())
    }

    fn chat_unfurl(&mut self, caller: &TokenInfo, args: &Map<String, Value>) -> Answer {
        let channel = required_string(args, "channel", code::MISSING_CHANNEL)?;
        let ts = required_string(args, "ts", code::MISSING_TS)?;
        let unfurls = match args.get("unfurls").filter(|v| !v.is_null()) {
            None => return Err(code::MISSING_UNFURLS),
            Some(value) => decode_json_arg(value).ok_or(code::INVALID_UNFURLS_FORMAT)?,
        };
        let Value::Object(unfurls) = unfurls else {
            return Err(code::INVALID_UNFURLS_FORMAT);
        };
        if unfurls.is_empty() {
            return Err(code::INVALID_UNFURLS_FORMAT);
        }
        for (url, unfurl) in &unfurls {
            if !is_http_url(url) {
                return Err(code::INVALID_UNFURLS_FORMAT);
            }
            let Some(unfurl) = unfurl.as_object() else {
                return Err(code::CANNOT_PARSE_ATTACHMENT);
            };
            if let Some(blocks) = unfurl.get("blocks") {
                self.check_blocks(caller, blocks)
                    .map_err(|_| code::CANNOT_PARSE_ATTACHMENT)?;
            } else if !unfurl.contains_key("text") && !unfurl.contains_key("title") {
                return Err(code::CANNOT_PARSE_ATTACHMENT);
            }
        }
        // Slack only lets an app unfurl links in a message it was told about
        // (`link_shared`); the stand-in's equivalent is a message it knows.
        let message = self
            .messages
            .iter_mut()
            .find(|message| message.channel == channel && message.ts == ts)
            .ok_or(code::CANNOT_UNFURL_URL)?;
        message.unfurls.extend(unfurls);
        Ok(Map::new())
    }

    fn chat_post_ephemeral(&mut self, caller: &TokenInfo, args: &Map<String, Value>) -> Answer {
        let channel = required_string(args, "channel", code::CHANNEL_NOT_FOUND)?;
        if !is_channel_id(&channel) {
            return Err(code::CHANNEL_NOT_FOUND);
        }
        let user = required_string(args, "user", code::INVALID_ARGUMENTS)?;
        if !is_user_id(&user) {
            return Err(code::USER_NOT_FOUND);
        }
        self.message_content(caller, args)?;
        Ok(object(json!({ "message_ts": self.new_ts() })))
    }

    fn chat_post_message(&mut self, caller: &TokenInfo, args: &Map<String, Value>) -> Answer {
        let channel = required_string(args, "channel", code::CHANNEL_NOT_FOUND)?;
        if !is_channel_id(&channel) {
            return Err(code::CHANNEL_NOT_FOUND);
        }
        let (text, blocks) = self.message_content(caller, args)?;
        let ts = self.new_ts();
        self.messages.push(StandinMessage {
            channel: channel.clone(),
            ts: ts.clone(),
            text: text.clone(),
            blocks: blocks.clone(),
            unfurls: Map::new(),
        });
        let mut message = json!({ "type": "message", "ts": ts });
        if let Some(text) = text {
            message["text"] = json!(text);
        }
        if let Some(blocks) = blocks {
            message["blocks"] = blocks;
        }
        Ok(object(
            json!({ "channel": channel, "ts": ts, "message": message }),
        ))
    }

    /// `text` and/or `blocks` of a message: one of them is required (`no_text`).
    fn message_content(
        &self,
        caller: &TokenInfo,
        args: &Map<String, Value>,
    ) -> Result<(Option<String>, Option<Value>), &'static str> {
        let text = optional_string(args, "text")?.filter(|t| !t.trim().is_empty());
        let blocks = match args.get("blocks").filter(|v| !v.is_null()) {
            None => None,
            Some(value) => {
                let blocks = decode_json_arg(value).ok_or(code::INVALID_BLOCKS_FORMAT)?;
                self.check_blocks(caller, &blocks)?;
                Some(blocks)
            }
        };
        if text.is_none() && blocks.is_none() {
            return Err(code::NO_TEXT);
        }
        Ok((text, blocks))
    }

    /// Blocks must be an array of typed objects; a call block must name a call this team
    /// registered.
    fn check_blocks(&self, caller: &TokenInfo, blocks: &Value) -> Result<(), &'static str> {
        check_blocks(blocks, |id| {
            self.calls
                .get(id)
                .is_some_and(|call| call.team_id == caller.team_id)
        })
    }

    /// The call named by `id`, if this team registered it.
    fn own_call(
        &mut self,
        caller: &TokenInfo,
        args: &Map<String, Value>,
    ) -> Result<&mut StandinCall, &'static str> {
        let id = required_string(args, "id", code::INVALID_ARGUMENTS)?;
        self.calls
            .get_mut(&id)
            .filter(|call| call.team_id == caller.team_id)
            .ok_or(code::INVALID_CALL_ID)
    }

    fn live_call(
        &mut self,
        caller: &TokenInfo,
        args: &Map<String, Value>,
    ) -> Result<&mut StandinCall, &'static str> {
        let call = self.own_call(caller, args)?;
        if call.ended() {
            return Err(code::INACTIVE_CALL);
        }
        Ok(call)
    }

    /// A post to a response URL: counted, shape-checked, and for `in_channel` answers
    /// remembered as a message in the URL's channel.
    pub fn response_post(
        &mut self,
        id: &str,
        body: Result<Value, &'static str>,
    ) -> Result<(), (u16, &'static str)> {
        let Some(url) = self.response_urls.get(id).cloned() else {
            return Err((404, code::EXPIRED_URL));
        };
        if url.uses >= RESPONSE_URL_USES {
            return Err((404, code::USED_URL));
        }
        let body = body.map_err(|code| (400, code))?;
        let Value::Object(message) = body else {
            return Err((400, code::JSON_NOT_OBJECT));
        };
        let caller = TokenInfo {
            team_id: url.team_id.clone(),
            kind: TokenKind::Bot,
            revoked: false,
        };
        let in_channel = match message.get("response_type") {
            None | Some(Value::Null) => false,
            Some(Value::String(kind)) if kind == "in_channel" => true,
            Some(Value::String(kind)) if kind == "ephemeral" => false,
            Some(_) => return Err((400, code::INVALID_ARGUMENTS)),
        };
        for flag in ["replace_original", "delete_original"] {
            if message.get(flag).is_some_and(|v| !v.is_boolean()) {
                return Err((400, code::INVALID_ARGUMENTS));
            }
        }
        let (text, blocks) = self
            .message_content(&caller, &message)
            .map_err(|code| (400, code))?;
        if let Some(entry) = self.response_urls.get_mut(id) {
            entry.uses += 1;
        }
        if in_channel {
            let ts = self.new_ts();
            self.messages.push(StandinMessage {
                channel: url.channel,
                ts,
                text,
                blocks,
                unfurls: Map::new(),
            });
        }
        Ok(())
    }
}

fn object(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

/// A string argument; `null` counts as absent, any other type is `invalid_arguments`.
fn optional_string(args: &Map<String, Value>, name: &str) -> Result<Option<String>, &'static str> {
    match args.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(code::INVALID_ARGUMENTS),
    }
}

fn required_string(
    args: &Map<String, Value>,
    name: &str,
    missing: &'static str,
) -> Result<String, &'static str> {
    optional_string(args, name)?
        .filter(|s| !s.trim().is_empty())
        .ok_or(missing)
}

/// An integer argument: a JSON integer, or a string of digits (form bodies).
fn optional_integer(
    args: &Map<String, Value>,
    name: &str,
    invalid: &'static str,
) -> Result<Option<i64>, &'static str> {
    match args.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n.as_i64().map(Some).ok_or(invalid),
        Some(Value::String(s)) => s.trim().parse::<i64>().map(Some).map_err(|_| invalid),
        Some(_) => Err(invalid),
    }
}

/// A JSON argument: the value itself (JSON bodies), or a string holding JSON (forms).
fn decode_json_arg(value: &Value) -> Option<Value> {
    match value {
        Value::String(text) => serde_json::from_str(text).ok(),
        other => Some(other.clone()),
    }
}

fn required_users(args: &Map<String, Value>) -> Result<Vec<StandinUser>, &'static str> {
    let users = args
        .get("users")
        .filter(|v| !v.is_null())
        .ok_or(code::INVALID_ARGUMENTS)?;
    let users = users_arg(users)?;
    if users.is_empty() {
        return Err(code::INVALID_ARGUMENTS);
    }
    if has_duplicates(&users) {
        return Err(code::BAD_USERS);
    }
    Ok(users)
}

/// Each entry is `{"slack_id"}` or `{"external_id", "display_name"[, "avatar_url"]}`.
fn users_arg(value: &Value) -> Result<Vec<StandinUser>, &'static str> {
    let Some(Value::Array(entries)) = decode_json_arg(value) else {
        return Err(code::INVALID_ARGUMENTS);
    };
    entries.iter().map(user_entry).collect()
}

fn user_entry(entry: &Value) -> Result<StandinUser, &'static str> {
    let Value::Object(fields) = entry else {
        return Err(code::INVALID_ARGUMENTS);
    };
    let field = |name| optional_string(fields, name).map(|v| v.filter(|s| !s.trim().is_empty()));
    let user = StandinUser {
        slack_id: field("slack_id")?,
        external_id: field("external_id")?,
        display_name: field("display_name")?,
        avatar_url: field("avatar_url")?,
    };
    match (&user.slack_id, &user.external_id, &user.display_name) {
        (Some(id), _, _) if !is_user_id(id) => Err(code::USER_NOT_FOUND),
        (Some(_), _, _) => Ok(user),
        (None, Some(_), Some(_)) => Ok(user),
        _ => Err(code::INVALID_ARGUMENTS),
    }
}

fn has_duplicates(users: &[StandinUser]) -> bool {
    users
        .iter()
        .enumerate()
        .any(|(i, user)| users[..i].iter().any(|u| u.identity() == user.identity()))
}

pub(crate) fn check_blocks(
    blocks: &Value,
    known_call: impl Fn(&str) -> bool,
) -> Result<(), &'static str> {
    let Value::Array(blocks) = blocks else {
        return Err(code::INVALID_BLOCKS_FORMAT);
    };
    for block in blocks {
        let kind = block
            .get("type")
            .and_then(Value::as_str)
            .ok_or(code::INVALID_BLOCKS)?;
        if kind == "call" {
            let id = block
                .get("call_id")
                .and_then(Value::as_str)
                .ok_or(code::INVALID_BLOCKS)?;
            if !known_call(id) {
                return Err(code::INVALID_BLOCKS);
            }
        }
    }
    Ok(())
}

/// Slack ids: a type letter, then upper-case letters and digits.
fn is_id(value: &str, prefixes: &[char]) -> bool {
    let mut chars = value.chars();
    chars.next().is_some_and(|first| prefixes.contains(&first))
        && value.len() >= 2
        && chars.all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
}

fn is_user_id(value: &str) -> bool {
    is_id(value, &['U', 'W'])
}

fn is_channel_id(value: &str) -> bool {
    is_id(value, &['C', 'G', 'D'])
}

fn is_http_url(value: &str) -> bool {
    (value.starts_with("https://") || value.starts_with("http://"))
        && value.len() > "https://".len()
}

fn require_http_url(value: &str) -> Result<(), &'static str> {
    if is_http_url(value) {
        Ok(())
    } else {
        Err(code::INVALID_ARGUMENTS)
    }
}
