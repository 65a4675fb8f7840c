//! What the stand-in remembers, as tests and the demo see it.

use std::time::Instant;

use serde::Serialize;
use serde_json::{json, Map, Value};

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
    /// The `error` of an `{"ok":false}` answer.
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

    /// The call object Slack answers with.
    pub(crate) fn to_json(&self) -> Value {
        let mut call = Map::new();
        call.insert("id".into(), json!(self.id));
        call.insert("date_start".into(), json!(self.date_start));
        if let Some(end) = self.date_end {
            call.insert("date_end".into(), json!(end));
        }
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
        call.insert("users".into(), json!(self.participants));
        Value::Object(call)
    }
}

/// A message the stand-in knows: posted with `chat.postMessage`, through an
/// `in_channel` response URL, or announced with `add_message`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StandinMessage {
    pub channel: String,
    pub ts: String,
    pub text: Option<String>,
    pub blocks: Option<Value>,
    /// What `chat.unfurl` attached, by URL.
    pub unfurls: Map<String, Value>,
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
