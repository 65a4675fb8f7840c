//! What the stand-in remembers, as tests and the demo see it.

use std::time::Instant;

use serde::Serialize;
use serde_json::{json, Map, Value};

/// The stand-in app's id, shown in call blocks (`call.v1.app_id`).
pub const STANDIN_APP_ID: &str = "A0STANDIN";
/// The bot user that posts the app's messages.
pub const STANDIN_BOT_USER: &str = "U0STANDINBOT";
/// The bot id on the app's messages.
pub const STANDIN_BOT_ID: &str = "B0STANDIN";

/// One request the stand-in received, in arrival order.
#[derive(Debug, Clone, Serialize)]
pub struct RecordedRequest {
    /// `calls.add`, …, or `response_url` for posts to a response URL.
    pub method: String,
    /// The JSON body, or the form fields as a JSON object of strings. `Null` when the
    /// body could not be decoded.
    pub body: Value,
    #[serde(skip)]
    pub at: Instant,
    /// Milliseconds since the stand-in started.
    pub offset_ms: u64,
    /// The token presented (bearer header or `token` field); stand-in tokens are fake.
    pub token: Option<String>,
    pub content_type: Option<String>,
    /// The HTTP status answered; `None` while unanswered (a hang, or in flight).
    pub status: Option<u16>,
    /// The `error` of the answer: of an `{"ok":false}` answer, and of the
    /// `{"ok":true,"error":…}` answers Slack documents for `bad_users` and `inactive_call`.
    pub error: Option<String>,
}

/// A participant, in Slack's `users` shape.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StandinUser {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub slack_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub avatar_url: Option<String>,
}

impl StandinUser {
    /// The Slack id when given, else the external id: what makes two entries one person.
    pub fn identity(&self) -> &str {
        self.slack_id
            .as_deref()
            .or(self.external_id.as_deref())
            .unwrap_or_default()
    }
}

/// A call registered with `calls.add`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StandinCall {
    /// `R…`
    pub id: String,
    pub team_id: String,
    pub external_unique_id: String,
    pub join_url: String,
    pub desktop_app_join_url: Option<String>,
    pub external_display_id: Option<String>,
    pub title: Option<String>,
    pub created_by: Option<String>,
    pub date_start: i64,
    /// Set by `calls.end`.
    pub date_end: Option<i64>,
    /// The `duration` given to `calls.end`, else the time from start to end.
    pub duration: Option<i64>,
    /// Who is in the call now.
    pub participants: Vec<StandinUser>,
    /// Everyone who was ever in the call, in first-join order.
    pub all_participants: Vec<StandinUser>,
    /// The channels a call block naming this call was posted or unfurled into.
    pub channels: Vec<String>,
}

impl StandinCall {
    pub fn ended(&self) -> bool {
        self.date_end.is_some()
    }

    /// Identities of the current participants, in join order.
    pub fn participant_ids(&self) -> Vec<String> {
        self.participants
            .iter()
            .map(|user| user.identity().to_owned())
            .collect()
    }

    pub(crate) fn join(&mut self, user: StandinUser) {
        if !self
            .all_participants
            .iter()
            .any(|known| known.identity() == user.identity())
        {
            self.all_participants.push(user.clone());
        }
        self.participants.push(user);
    }

    pub(crate) fn shown_in(&mut self, channel: &str) {
        if !self.channels.iter().any(|known| known == channel) {
            self.channels.push(channel.to_owned());
        }
    }

    /// The call object the `calls.*` methods answer with: the fields of the Java SDK's
    /// `Call` model, `date_end` once ended and `channels` once shown somewhere.
    pub(crate) fn to_json(&self) -> Value {
        let mut call = Map::new();
        call.insert("id".into(), json!(self.id));
        call.insert("date_start".into(), json!(self.date_start));
        call.insert("external_unique_id".into(), json!(self.external_unique_id));
        call.insert("join_url".into(), json!(self.join_url));
        for (name, value) in [
            ("desktop_app_join_url", &self.desktop_app_join_url),
            ("external_display_id", &self.external_display_id),
            ("title", &self.title),
        ] {
            if let Some(value) = value {
                call.insert(name.into(), json!(value));
            }
        }
        if let Some(end) = self.date_end {
            call.insert("date_end".into(), json!(end));
        }
        if !self.channels.is_empty() {
            call.insert("channels".into(), json!(self.channels));
        }
        call.insert("users".into(), json!(self.participants));
        Value::Object(call)
    }

    /// The `call.v1` object Slack renders into a call block of a message it hands back
    /// (Java SDK `BlockKitTest.parseCallBlock`, python-slack-sdk `test_blocks.py`).
    pub(crate) fn to_block_v1(&self) -> Value {
        let sizes = [
            "32", "36", "48", "64", "72", "96", "128", "192", "512", "1024", "original",
        ];
        let icons: Map<String, Value> = sizes
            .iter()
            .map(|size| {
                (
                    format!("image_{size}"),
                    json!(format!(
                        "https://avatars.slack-edge.com/standin/{STANDIN_APP_ID}_{size}.png"
                    )),
                )
            })
            .collect();
        let mut v1 = json!({
            "id": self.id,
            "app_id": STANDIN_APP_ID,
            "app_icon_urls": icons,
            "date_start": self.date_start,
            "active_participants": self.participants,
            "all_participants": self.all_participants,
            "join_url": self.join_url,
            "created_by": self.created_by,
            // A running call shows `date_end: 0` in Slack's real payload.
            "date_end": self.date_end.unwrap_or(0),
            "channels": self.channels,
            "is_dm_call": self.channels.iter().any(|c| c.starts_with('D')),
            "was_rejected": false,
            "was_missed": false,
            "was_accepted": false,
            "has_ended": self.ended(),
        });
        for (name, value) in [
            ("display_id", &self.external_display_id),
            ("name", &self.title),
            ("desktop_app_join_url", &self.desktop_app_join_url),
        ] {
            if let Some(value) = value {
                v1[name] = json!(value);
            }
        }
        v1
    }
}

/// A message the stand-in knows: posted with `chat.postMessage`, through an
/// `in_channel` response URL, or announced with `add_message` / `link_shared`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StandinMessage {
    pub channel: String,
    pub ts: String,
    pub text: Option<String>,
    pub blocks: Option<Value>,
    /// The links in it, when the stand-in knows them; `chat.unfurl` may only unfurl
    /// those (`cannot_unfurl_message`). `None` (from `add_message`) allows any.
    pub links: Option<Vec<String>>,
    /// The `unfurl_id` a `link_shared` event would carry for it.
    pub unfurl_id: Option<String>,
    /// What `chat.unfurl` attached, by URL.
    pub unfurls: Map<String, Value>,
}

impl StandinMessage {
    pub(crate) fn new(channel: &str, ts: &str) -> Self {
        StandinMessage {
            channel: channel.to_owned(),
            ts: ts.to_owned(),
            text: None,
            blocks: None,
            links: None,
            unfurl_id: None,
            unfurls: Map::new(),
        }
    }
}

/// What a `link_shared` event tells the app, for a link the stand-in knows: the
/// arguments `chat.unfurl` takes in either of its forms.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LinkShared {
    /// The channel, or `COMPOSER` for a link still in the message composer.
    pub channel: String,
    /// The message's `ts`; for the composer a `U…-…` draft id, not a timestamp.
    pub message_ts: String,
    pub unfurl_id: String,
    /// `conversations_history` or `composer`.
    pub source: String,
}

impl LinkShared {
    /// The `link_shared` event (the `event` of an `event_callback`), in the shape of
    /// Slack's documented example (api.slack.com/events/link_shared).
    pub fn event(&self, user: &str, links: &[&str]) -> Value {
        let links: Vec<Value> = links
            .iter()
            .map(|url| json!({"domain": domain_of(url), "url": url}))
            .collect();
        json!({
            "type": "link_shared",
            "channel": self.channel,
            "is_bot_user_member": true,
            "user": user,
            "message_ts": self.message_ts,
            "unfurl_id": self.unfurl_id,
            "source": self.source,
            "links": links,
            "event_ts": self.message_ts,
        })
    }
}

fn domain_of(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    rest.split(['/', '?', '#']).next().unwrap_or(rest)
}

/// A link in the message composer that `chat.unfurl` (`source=composer`) may preview.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ComposerUnfurl {
    pub unfurl_id: String,
    /// The channel whose composer holds the draft.
    pub channel: String,
    pub user: String,
    pub message_ts: String,
    /// What `chat.unfurl` attached, by URL.
    pub unfurls: Map<String, Value>,
}

/// How the stand-in's bot relates to a channel, for `chat.postMessage` and
/// `chat.postEphemeral`. Channels never configured are [`ChannelAccess::Member`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum ChannelAccess {
    /// The bot is in it and may post.
    Member,
    /// The bot can see it but is not in it: `not_in_channel`.
    NotMember,
    /// Archived: `is_archived`.
    Archived,
    /// A conversation the bot's token cannot see, such as a DM between two people:
    /// `channel_not_found`.
    Invisible,
}

/// A post to a response URL the stand-in handed out (accepted or not).
#[derive(Debug, Clone, Serialize)]
pub struct ResponsePost {
    pub url: String,
    /// The channel the URL was issued for.
    pub channel: String,
    pub body: Value,
    /// Whether the stand-in accepted it (`None` while unanswered).
    pub accepted: Option<bool>,
    #[serde(skip)]
    pub at: Instant,
    pub offset_ms: u64,
}
