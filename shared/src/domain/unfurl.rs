//! Where an unfurl goes: a posted message, or a link still in someone's message
//! composer, as `link_shared` names them and `chat.unfurl` takes them.

use serde::{Deserialize, Serialize};

use super::ids::ChannelId;

/// `link_shared`'s `source`: where the link was seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UnfurlSource {
    /// Typed into the message composer, not posted yet (`"channel": "COMPOSER"`).
    Composer,
    /// In a posted message.
    ConversationsHistory,
}

impl UnfurlSource {
    /// Slack's name for it; `None` for a source Slack adds later.
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "composer" => Some(UnfurlSource::Composer),
            "conversations_history" => Some(UnfurlSource::ConversationsHistory),
            _ => None,
        }
    }
}

/// The arguments `chat.unfurl` names its target with: `unfurl_id` + `source` whenever
/// `link_shared` gave them (the only way into the composer), else `channel` + `ts`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum UnfurlTarget {
    Shared {
        unfurl_id: String,
        source: UnfurlSource,
    },
    Message {
        channel: ChannelId,
        ts: String,
    },
}

impl UnfurlTarget {
    /// The target of a `link_shared` event: by `unfurl_id` when it came with a source we
    /// know, else by conversation and timestamp; `None` when neither is there (a
    /// composer link without an `unfurl_id` cannot be unfurled).
    pub fn of_event(
        channel: Option<&ChannelId>,
        message_ts: &str,
        unfurl_id: Option<&str>,
        source: Option<UnfurlSource>,
    ) -> Option<Self> {
        match (unfurl_id.filter(|id| !id.trim().is_empty()), source) {
            (Some(unfurl_id), Some(source)) => Some(UnfurlTarget::Shared {
                unfurl_id: unfurl_id.to_owned(),
                source,
            }),
            _ => channel
                .filter(|_| !message_ts.trim().is_empty())
                .map(|channel| UnfurlTarget::Message {
                    channel: channel.clone(),
                    ts: message_ts.to_owned(),
                }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ids::id;

    #[test]
    fn the_unfurl_id_wins_when_it_comes_with_a_known_source() {
        let channel: ChannelId = id("C0CHAN0001");
        assert_eq!(
            UnfurlTarget::of_event(
                Some(&channel),
                "1.2",
                Some("C0CHAN0001.12.abc"),
                Some(UnfurlSource::ConversationsHistory)
            ),
            Some(UnfurlTarget::Shared {
                unfurl_id: "C0CHAN0001.12.abc".into(),
                source: UnfurlSource::ConversationsHistory
            })
        );
        assert_eq!(
            UnfurlTarget::of_event(Some(&channel), "1.2", Some("x"), None),
            Some(UnfurlTarget::Message {
                channel: channel.clone(),
                ts: "1.2".into()
            }),
            "an unknown source falls back to the message"
        );
        assert_eq!(
            UnfurlTarget::of_event(None, "U1-draft", None, Some(UnfurlSource::Composer)),
            None,
            "a composer link without its unfurl_id cannot be reached"
        );
        assert_eq!(
            UnfurlSource::parse("composer"),
            Some(UnfurlSource::Composer)
        );
        assert_eq!(UnfurlSource::parse("canvas"), None);
    }

    #[test]
    fn targets_serialise_to_chat_unfurls_arguments() {
        let shared = UnfurlTarget::Shared {
            unfurl_id: "U1-abc".into(),
            source: UnfurlSource::Composer,
        };
        assert_eq!(
            serde_json::to_value(&shared).unwrap_or_default(),
            serde_json::json!({"unfurl_id": "U1-abc", "source": "composer"})
        );
        let message = UnfurlTarget::Message {
            channel: id("C0CHAN0001"),
            ts: "1.2".into(),
        };
        assert_eq!(
            serde_json::to_value(&message).unwrap_or_default(),
            serde_json::json!({"channel": "C0CHAN0001", "ts": "1.2"})
        );
    }
}
