//! Response URLs: issued per command, usable up to 5 times within 30 minutes of issue
//! (java-slack-sdk `docs/english/guides/interactive-components.md`, node-slack-sdk
//! `docs/english/legacy/interactive-messages.md`).

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::web_api::{code, State, TokenInfo, TokenKind};

/// Slack lets a response URL be used this many times…
pub(crate) const RESPONSE_URL_USES: u32 = 5;
/// …within this long after it was issued.
pub(crate) const RESPONSE_URL_LIFETIME: Duration = Duration::from_secs(30 * 60);

#[derive(Debug, Clone)]
pub(crate) struct ResponseUrl {
    pub channel: String,
    pub team_id: String,
    pub uses: u32,
    /// When it was issued, by the stand-in's clock.
    pub issued: Instant,
    /// Expired early by a test.
    pub expired: bool,
}

impl State {
    /// A fresh response URL path for `channel` of `team_id`; call blocks posted to it
    /// must name calls that team registered.
    pub fn new_response_url(&mut self, channel: &str, team_id: &str) -> String {
        self.next_response_url += 1;
        let id = format!(
            "{team_id}/{:012}/{:016x}",
            self.next_response_url,
            0x9e37_79b9_7f4a_7c15u64.wrapping_mul(self.next_response_url)
        );
        let issued = self.now();
        self.response_urls.insert(
            id.clone(),
            ResponseUrl {
                channel: channel.to_owned(),
                team_id: team_id.to_owned(),
                uses: 0,
                issued,
                expired: false,
            },
        );
        id
    }

    /// A post to a response URL: counted, shape-checked, and for `in_channel` answers
    /// remembered as a message in the URL's channel. Errors carry the HTTP status.
    pub fn response_post(
        &mut self,
        id: &str,
        body: Result<Value, &'static str>,
    ) -> Result<(), (u16, &'static str)> {
        let Some(url) = self.response_urls.get(id).cloned() else {
            return Err((404, code::EXPIRED_URL));
        };
        if url.expired || self.now().saturating_duration_since(url.issued) >= RESPONSE_URL_LIFETIME
        {
            return Err((404, code::EXPIRED_URL));
        }
        if url.uses >= RESPONSE_URL_USES {
            return Err((404, code::USED_URL));
        }
        let body = body.map_err(|code| (400, code))?;
        let Value::Object(message) = body else {
            return Err((400, code::JSON_NOT_OBJECT));
        };
        // The URL speaks for its workspace: call blocks must name that workspace's calls.
        let enterprise_id = self.enterprise_of(&url.team_id);
        let caller = TokenInfo::workspace(&url.team_id, enterprise_id, TokenKind::Bot);
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
            self.remember_message(&url.channel, &ts, text, blocks);
        }
        Ok(())
    }
}
