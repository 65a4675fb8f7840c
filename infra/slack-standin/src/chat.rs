//! `chat.unfurl`, `chat.postMessage`, `chat.postEphemeral`, and the block checks they
//! share with response URL posts.

use serde_json::{json, Map, Value};

use crate::args::{decode_json_arg, given_string, optional_string, required_string};
use crate::model::{
    ChannelAccess, StandinMessage, STANDIN_APP_ID, STANDIN_BOT_ID, STANDIN_BOT_USER,
};
use crate::web_api::{code, is_channel_id, is_http_url, object, Answer, State, TokenInfo};

/// Where `chat.unfurl` attaches its previews.
enum UnfurlTarget {
    /// `channel` + `ts`: a posted message.
    Message { channel: String, ts: String },
    /// `unfurl_id` + `source=conversations_history`: a posted message, by its unfurl id.
    History(String),
    /// `unfurl_id` + `source=composer`: a link still in the message composer.
    Composer(String),
}

impl State {
    pub(crate) fn chat_unfurl(&mut self, caller: &TokenInfo, args: &Map<String, Value>) -> Answer {
        // "Both channel and ts must be provided together, or unfurl_id and source must
        // be provided together."
        let unfurl_id = given_string(args, "unfurl_id")?;
        let source = given_string(args, "source")?;
        let target = if unfurl_id.is_some() || source.is_some() {
            let unfurl_id = unfurl_id.ok_or(code::MISSING_UNFURL_ID)?;
            match source.as_deref().ok_or(code::MISSING_SOURCE)? {
                "composer" => UnfurlTarget::Composer(unfurl_id),
                "conversations_history" => UnfurlTarget::History(unfurl_id),
                _ => return Err(code::INVALID_SOURCE),
            }
        } else {
            UnfurlTarget::Message {
                channel: required_string(args, "channel", code::MISSING_CHANNEL)?,
                ts: required_string(args, "ts", code::MISSING_TS)?,
            }
        };
        let unfurls = self.unfurls_arg(caller, args)?;

        let message = match target {
            UnfurlTarget::Composer(id) => {
                let channel = self
                    .composer_unfurls
                    .iter()
                    .find(|draft| draft.unfurl_id == id)
                    .map(|draft| draft.channel.clone())
                    .ok_or(code::INVALID_UNFURL_ID)?;
                // Another workspace's draft is answered as an unknown id.
                if !self.sees_channel(caller, &channel) {
                    return Err(code::INVALID_UNFURL_ID);
                }
                let draft = self
                    .composer_unfurls
                    .iter_mut()
                    .find(|draft| draft.unfurl_id == id)
                    .ok_or(code::INVALID_UNFURL_ID)?;
                draft.unfurls.extend(unfurls);
                return Ok(Map::new());
            }
            UnfurlTarget::History(id) => {
                let channel = self
                    .messages
                    .iter()
                    .find(|message| message.unfurl_id.as_deref() == Some(id.as_str()))
                    .map(|message| message.channel.clone())
                    .ok_or(code::INVALID_UNFURL_ID)?;
                if !self.sees_channel(caller, &channel) {
                    return Err(code::INVALID_UNFURL_ID);
                }
                self.messages
                    .iter_mut()
                    .find(|message| message.unfurl_id.as_deref() == Some(id.as_str()))
                    .ok_or(code::INVALID_UNFURL_ID)?
            }
            UnfurlTarget::Message { channel, ts } => {
                // The composer's `channel: "COMPOSER"` and `message_ts` name no message;
                // another workspace's channel cannot be located with this token.
                if !is_channel_id(&channel)
                    || self.access(&channel) == ChannelAccess::Invisible
                    || !self.sees_channel(caller, &channel)
                {
                    return Err(code::CANNOT_FIND_CHANNEL);
                }
                self.message_mut(&channel, &ts)
                    .ok_or(code::CANNOT_FIND_MESSAGE)?
            }
        };
        if let Some(links) = &message.links {
            if unfurls.keys().any(|url| !links.contains(url)) {
                return Err(code::CANNOT_UNFURL_MESSAGE);
            }
        }
        message.unfurls.extend(unfurls.clone());
        let channel = message.channel.clone();
        for unfurl in unfurls.values() {
            if let Some(blocks) = unfurl.get("blocks") {
                self.show_calls(&channel, blocks);
            }
        }
        Ok(Map::new())
    }

    /// `unfurls`: a map (or, in forms, a JSON string of one) from URL to an attachment
    /// or `{"blocks": […]}`.
    fn unfurls_arg(
        &self,
        caller: &TokenInfo,
        args: &Map<String, Value>,
    ) -> Result<Map<String, Value>, &'static str> {
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
        Ok(unfurls)
    }

    pub(crate) fn chat_post_ephemeral(
        &mut self,
        caller: &TokenInfo,
        args: &Map<String, Value>,
    ) -> Answer {
        self.postable_channel(caller, args)?;
        let user = required_string(args, "user", code::INVALID_ARGUMENTS)?;
        // The documented code for a recipient who cannot get it there.
        if !self.knows_user(&user) {
            return Err(code::USER_NOT_IN_CHANNEL);
        }
        self.message_content(caller, args)?;
        Ok(object(json!({ "message_ts": self.new_ts() })))
    }

    pub(crate) fn chat_post_message(
        &mut self,
        caller: &TokenInfo,
        args: &Map<String, Value>,
    ) -> Answer {
        let channel = self.postable_channel(caller, args)?;
        let (text, blocks) = self.message_content(caller, args)?;
        let ts = self.new_ts();
        let message = self.remember_message(&channel, &ts, text, blocks);
        let mut shown = json!({
            "type": "message",
            "user": STANDIN_BOT_USER,
            "bot_id": STANDIN_BOT_ID,
            "app_id": STANDIN_APP_ID,
            "team": caller.team_id,
            "ts": ts,
        });
        if let Some(text) = &message.text {
            shown["text"] = json!(text);
        }
        if let Some(blocks) = &message.blocks {
            shown["blocks"] = self.rendered_blocks(blocks);
        }
        Ok(object(
            json!({ "channel": channel, "ts": ts, "message": shown }),
        ))
    }

    /// The `channel` argument, if the bot may post there. Another workspace's channel
    /// is one the token cannot see.
    fn postable_channel(
        &mut self,
        caller: &TokenInfo,
        args: &Map<String, Value>,
    ) -> Result<String, &'static str> {
        let channel = required_string(args, "channel", code::CHANNEL_NOT_FOUND)?;
        if !is_channel_id(&channel) || !self.sees_channel(caller, &channel) {
            return Err(code::CHANNEL_NOT_FOUND);
        }
        match self.access(&channel) {
            ChannelAccess::Member => Ok(channel),
            ChannelAccess::NotMember => Err(code::NOT_IN_CHANNEL),
            ChannelAccess::Archived => Err(code::IS_ARCHIVED),
            ChannelAccess::Invisible => Err(code::CHANNEL_NOT_FOUND),
        }
    }

    /// Records a message now in `channel`, and the channel on every call it shows.
    pub(crate) fn remember_message(
        &mut self,
        channel: &str,
        ts: &str,
        text: Option<String>,
        blocks: Option<Value>,
    ) -> StandinMessage {
        let mut links = text.as_deref().map(links_in).unwrap_or_default();
        if let Some(blocks) = &blocks {
            self.show_calls(channel, blocks);
            links.extend(links_in(&blocks.to_string()));
        }
        let mut message = StandinMessage::new(channel, ts);
        message.text = text;
        message.blocks = blocks;
        message.links = Some(links);
        self.messages.push(message.clone());
        message
    }

    /// `text` and/or `blocks` of a message: one of them is required (`no_text`).
    pub(crate) fn message_content(
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
        let Value::Array(blocks) = blocks else {
            return Err(code::INVALID_BLOCKS_FORMAT);
        };
        for block in blocks {
            let kind = block
                .get("type")
                .and_then(Value::as_str)
                .ok_or(code::INVALID_BLOCKS)?;
            if kind == "call" {
                let known = block
                    .get("call_id")
                    .and_then(Value::as_str)
                    .and_then(|id| self.calls.get(id))
                    .is_some_and(|call| self.covers(caller, &call.team_id));
                if !known {
                    return Err(code::INVALID_BLOCKS);
                }
            }
        }
        Ok(())
    }

    /// Remembers `channel` on every call a call block in `blocks` names.
    fn show_calls(&mut self, channel: &str, blocks: &Value) {
        for id in call_ids(blocks) {
            if let Some(call) = self.calls.get_mut(&id) {
                call.shown_in(channel);
            }
        }
    }

    /// Blocks as Slack hands them back in a message: a call block carries the call
    /// (`block_id`, `api_decoration_available`, `call.v1`, `media_backend_type`).
    fn rendered_blocks(&self, blocks: &Value) -> Value {
        let Value::Array(blocks) = blocks else {
            return blocks.clone();
        };
        let rendered = blocks.iter().enumerate().map(|(index, block)| {
            let call = block
                .get("call_id")
                .and_then(Value::as_str)
                .and_then(|id| self.calls.get(id))
                .filter(|_| block.get("type").and_then(Value::as_str) == Some("call"));
            let Some(call) = call else {
                return block.clone();
            };
            let mut block = block.clone();
            if block.get("block_id").is_none() {
                block["block_id"] = json!(format!("standin{index}"));
            }
            block["api_decoration_available"] = json!(false);
            block["call"] =
                json!({"v1": call.to_block_v1(), "media_backend_type": "platform_call"});
            block
        });
        Value::Array(rendered.collect())
    }
}

fn call_ids(blocks: &Value) -> Vec<String> {
    let Value::Array(blocks) = blocks else {
        return Vec::new();
    };
    blocks
        .iter()
        .filter(|block| block.get("type").and_then(Value::as_str) == Some("call"))
        .filter_map(|block| block.get("call_id").and_then(Value::as_str))
        .map(str::to_owned)
        .collect()
}

/// The http(s) links in message text, including Slack's `<url|label>` form.
pub(crate) fn links_in(text: &str) -> Vec<String> {
    text.split(|c: char| c.is_whitespace() || matches!(c, '<' | '>' | '|' | '"'))
        .map(|token| token.trim_end_matches(['.', ',', ';', ':', '!', '?', ')']))
        .filter(|token| is_http_url(token))
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::links_in;

    #[test]
    fn links_are_found_in_plain_and_slack_formatted_text() {
        assert_eq!(
            links_in("join https://meet.example/r1. or <https://meet.example/r2|the room>"),
            ["https://meet.example/r1", "https://meet.example/r2"]
        );
        assert!(links_in("no links here, just http:// alone").is_empty());
    }
}
