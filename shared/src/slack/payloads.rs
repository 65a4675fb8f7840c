//! What Slack sends us and what we answer: slash-command / call-button forms, the
//! Events API envelope and events, call blocks and slash-command responses.
//!
//! Every incoming type tolerates unknown fields; an event type we do not handle parses
//! to [`Event::Other`], never to an error. The ids in events are parsed with the event:
//! a malformed one makes the event malformed. The command form keeps Slack's strings;
//! its ids are parsed when it becomes a command (`entry::commands`).

use serde::{Deserialize, Serialize};

use crate::domain::{
    ChannelId, EnterpriseId, ExternalId, IdError, SlackCallId, TeamId, UserId, Workspace,
};

/// The `application/x-www-form-urlencoded` body of a slash command or call-button press.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct CommandForm {
    pub team_id: String,
    #[serde(default)]
    pub team_domain: Option<String>,
    #[serde(default)]
    pub enterprise_id: Option<String>,
    pub channel_id: String,
    #[serde(default)]
    pub channel_name: Option<String>,
    pub user_id: String,
    #[serde(default)]
    pub user_name: Option<String>,
    /// Set for slash commands (`/call`), absent for the call button.
    #[serde(default)]
    pub command: Option<String>,
    #[serde(default)]
    pub text: Option<String>,
    pub response_url: String,
    #[serde(default)]
    pub trigger_id: Option<String>,
    /// Call button: `video` or `audio`.
    #[serde(default, rename = "type")]
    pub call_type: Option<String>,
    /// Call button, `audio`: the number to dial.
    #[serde(default)]
    pub phone_number: Option<String>,
    /// `true` when the app serves this workspace through its organisation's install.
    #[serde(default)]
    pub is_enterprise_install: Option<String>,
    #[serde(default)]
    pub api_app_id: Option<String>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CommandFormError {
    #[error("the form body could not be decoded: {0}")]
    Undecodable(String),
    #[error("required field {0} is missing or empty")]
    MissingField(&'static str),
}

impl CommandForm {
    /// Decodes the form and checks the fields every request must carry.
    pub fn parse(body: &[u8]) -> Result<Self, CommandFormError> {
        // Decode to pairs first, so a missing field is reported by name rather than as
        // serde's generic "missing field" text.
        let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(body)
            .map_err(|error| CommandFormError::Undecodable(error.to_string()))?;
        for required in ["team_id", "channel_id", "user_id", "response_url"] {
            if !pairs
                .iter()
                .any(|(name, value)| name == required && !value.trim().is_empty())
            {
                return Err(CommandFormError::MissingField(required));
            }
        }
        serde_urlencoded::from_bytes(body)
            .map_err(|error| CommandFormError::Undecodable(error.to_string()))
    }

    /// The slash command's text, trimmed, if any: used as the call title.
    /// The `/call` text as the call's title, cut to its cap.
    pub fn title(&self) -> Option<String> {
        self.text
            .as_deref()
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(|t| {
                crate::domain::limits::truncate_chars(t, crate::domain::limits::MAX_TITLE_CHARS)
            })
    }
}

/// The outer JSON of an Events API request.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Envelope {
    UrlVerification {
        challenge: String,
    },
    EventCallback(Box<EventCallback>),
    /// `app_rate_limited` and whatever Slack adds later.
    #[serde(other)]
    Other,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct EventCallback {
    pub event_id: String,
    #[serde(default)]
    pub event_time: Option<i64>,
    #[serde(default)]
    pub team_id: Option<TeamId>,
    #[serde(default)]
    pub api_app_id: Option<String>,
    #[serde(default)]
    pub enterprise_id: Option<EnterpriseId>,
    /// The installations the event is delivered for; the first is the one it came
    /// through (Slack sends one, and `apps.event.authorizations.list` for the rest).
    #[serde(default)]
    pub authorizations: Vec<Authorization>,
    #[serde(default)]
    pub authed_users: Vec<String>,
    pub event: Event,
}

/// One entry of an event's `authorizations`: an installation of the app. An org-wide
/// install has an `enterprise_id` and no `team_id`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Authorization {
    #[serde(default)]
    pub enterprise_id: Option<EnterpriseId>,
    #[serde(default)]
    pub team_id: Option<TeamId>,
    #[serde(default)]
    pub is_enterprise_install: bool,
}

/// Longest `event_id` accepted. Slack's are a dozen characters; the bound keeps the
/// event receipt's key well inside the store's key size limit.
pub const MAX_EVENT_ID_BYTES: usize = 255;

impl EventCallback {
    /// What the shape alone does not say: the `event_id` can be recorded (not blank,
    /// bounded), and an event about the workspace names it. A callback failing this is
    /// malformed, not worth a retry.
    pub fn check(&self) -> Result<(), String> {
        if self.event_id.trim().is_empty() {
            return Err("event_id is empty".into());
        }
        if self.event_id.len() > MAX_EVENT_ID_BYTES {
            return Err(format!(
                "event_id is longer than {MAX_EVENT_ID_BYTES} bytes"
            ));
        }
        if self.workspace().is_none() && self.event.needs_team() {
            return Err("team_id is missing".into());
        }
        Ok(())
    }

    /// The workspace the event belongs to: the installation it came through
    /// (`authorizations[0]`), in the team the event names when that installation is
    /// the organisation's.
    pub fn workspace(&self) -> Option<Workspace> {
        let authorization = self.authorizations.first();
        let team_id = authorization
            .and_then(|a| a.team_id.clone())
            .or_else(|| self.team_id.clone())?;
        Some(Workspace {
            team_id,
            enterprise_id: authorization
                .and_then(|a| a.enterprise_id.clone())
                .or_else(|| self.enterprise_id.clone()),
            is_enterprise_install: authorization.is_some_and(|a| a.is_enterprise_install),
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct SharedLink {
    #[serde(default)]
    pub domain: Option<String>,
    pub url: String,
}

/// Where a link was shared: in a conversation, or in someone's message composer before
/// the message is sent (Slack's `"channel": "COMPOSER"`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub enum LinkLocation {
    Conversation(ChannelId),
    Composer,
}

/// What `link_shared` names the composer by, in place of a channel id.
pub const COMPOSER: &str = "COMPOSER";

impl TryFrom<String> for LinkLocation {
    type Error = IdError;

    fn try_from(channel: String) -> Result<Self, IdError> {
        if channel == COMPOSER {
            Ok(LinkLocation::Composer)
        } else {
            ChannelId::try_from(channel).map(LinkLocation::Conversation)
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    LinkShared {
        channel: LinkLocation,
        message_ts: String,
        #[serde(default)]
        links: Vec<SharedLink>,
        user: UserId,
        /// What `chat.unfurl` names this share by (with `source`); Slack sends it for
        /// posted messages and for the composer.
        #[serde(default)]
        unfurl_id: Option<String>,
        /// `composer` or `conversations_history`; kept as text so a new source is not
        /// an error.
        #[serde(default)]
        source: Option<String>,
    },
    CallRejected {
        call_id: SlackCallId,
        user_id: UserId,
        channel_id: ChannelId,
        #[serde(default)]
        external_unique_id: Option<ExternalId>,
    },
    AppUninstalled {},
    TokensRevoked {
        #[serde(default)]
        tokens: serde_json::Value,
    },
    /// Every event we do not handle.
    #[serde(other)]
    Other,
}

impl Event {
    /// Events we act on: the work is the workspace's (its token, its calls), so the
    /// callback must say which workspace (`team_id`).
    pub fn needs_team(&self) -> bool {
        !matches!(self, Event::Other)
    }
}

/// `{"type":"call","call_id":"R…"}`
pub fn call_block(slack_call_id: &SlackCallId) -> serde_json::Value {
    serde_json::json!({"type": "call", "call_id": slack_call_id})
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResponseType {
    Ephemeral,
    InChannel,
}

/// A message posted as a slash-command answer or to a `response_url`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResponseMessage {
    pub response_type: ResponseType,
    pub text: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blocks: Option<Vec<serde_json::Value>>,
}

impl ResponseMessage {
    pub fn ephemeral(text: impl Into<String>) -> Self {
        ResponseMessage {
            response_type: ResponseType::Ephemeral,
            text: text.into(),
            blocks: None,
        }
    }

    /// The call block for the channel; `text` is the notification fallback, since call
    /// blocks do not show in notifications.
    pub fn call_in_channel(slack_call_id: &SlackCallId, text: impl Into<String>) -> Self {
        ResponseMessage {
            response_type: ResponseType::InChannel,
            text: text.into(),
            blocks: Some(vec![call_block(slack_call_id)]),
        }
    }
}

/// The synchronous answer to a call-button press: Slack opens the URL for the caller.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallInitiation {
    /// `call` for video, `audio` for a phone call.
    pub response_type: String,
    pub call_initiation_url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub desktop_protocol_call_initiation_url: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ids::id;

    #[test]
    fn command_form_reports_the_missing_field() {
        let error = CommandForm::parse(b"team_id=T1&channel_id=C1&user_id=U1")
            .expect_err("response_url is required");
        assert_eq!(error, CommandFormError::MissingField("response_url"));
    }

    #[test]
    fn command_form_parses_call_button_audio() {
        let form = CommandForm::parse(
            b"team_id=T1&channel_id=C1&user_id=U1&user_name=ann&response_url=https%3A%2F%2Fhooks.slack.com%2Fx&type=audio&phone_number=%2B1-202-555-0145&extra=1",
        )
        .expect("valid form");
        assert_eq!(form.call_type.as_deref(), Some("audio"));
        assert_eq!(form.phone_number.as_deref(), Some("+1-202-555-0145"));
        assert_eq!(form.response_url, "https://hooks.slack.com/x");
    }

    #[test]
    fn unknown_events_are_other_not_errors() {
        let envelope: Envelope = serde_json::from_str(
            r#"{"type":"event_callback","event_id":"Ev1","team_id":"T1","event":{"type":"reaction_added","user":"U1"},"extra":true}"#,
        )
        .expect("unknown event parses");
        let Envelope::EventCallback(callback) = envelope else {
            panic!("expected a callback");
        };
        assert_eq!(callback.event, Event::Other);
        let envelope: Envelope =
            serde_json::from_str(r#"{"type":"app_rate_limited","minute_rate_limited":1}"#)
                .expect("unknown envelope parses");
        assert_eq!(envelope, Envelope::Other);
    }

    #[test]
    fn call_rejected_parses_from_the_documented_example() {
        let envelope: Envelope = serde_json::from_str(
            r#"{"token":"12345FVmRUzNDOAuy4BiWh","team_id":"TL1BBBQBD","api_app_id":"BBBU04BB4","event":{"type":"call_rejected","call_id":"RL731AVEF","user_id":"ULJS1TYR5","channel_id":"DL5JN9K0T","external_unique_id":"123-456-7890"},"type":"event_callback","event_id":"EvLLACMB6BB","event_time":1563448153,"authed_users":["UBBB1TYR5"]}"#,
        )
        .expect("documented example parses");
        let Envelope::EventCallback(callback) = envelope else {
            panic!("expected a callback");
        };
        assert_eq!(callback.event_id, "EvLLACMB6BB");
        assert_eq!(callback.check(), Ok(()));
        assert!(
            matches!(callback.event, Event::CallRejected { ref call_id, .. } if call_id == "RL731AVEF")
        );
    }

    fn callback(event: serde_json::Value) -> Result<EventCallback, serde_json::Error> {
        let envelope: Envelope = serde_json::from_value(serde_json::json!({
            "type": "event_callback", "event_id": "Ev1", "team_id": "T0TEAM0001",
            "event": event,
        }))?;
        match envelope {
            Envelope::EventCallback(callback) => Ok(*callback),
            other => panic!("not a callback: {other:?}"),
        }
    }

    #[test]
    fn link_shared_names_its_conversation_or_the_composer() {
        let shared = |channel: &str| {
            callback(serde_json::json!({
                "type": "link_shared", "channel": channel, "user": "U0USER0001",
                "message_ts": "1.2", "links": [{"url": "https://meet.example/r"}],
            }))
            .map(|callback| callback.event)
        };
        assert!(matches!(
            shared("C0CHAN0001"),
            Ok(Event::LinkShared { channel: LinkLocation::Conversation(channel), .. })
                if channel == "C0CHAN0001"
        ));
        assert!(matches!(
            shared(COMPOSER),
            Ok(Event::LinkShared {
                channel: LinkLocation::Composer,
                ..
            })
        ));
        let error = shared("U0USER0001").expect_err("a user is no channel");
        assert!(
            error
                .to_string()
                .contains("Slack channel id must start with C, G or D"),
            "{error}"
        );
    }

    #[test]
    fn events_with_malformed_ids_do_not_parse() {
        for (event, reason) in [
            (
                serde_json::json!({"type": "link_shared", "channel": "C0CHAN0001",
                    "user": "B0BOT0001", "message_ts": "1.2", "links": []}),
                "Slack user id must start with U or W",
            ),
            (
                serde_json::json!({"type": "call_rejected", "call_id": "C0CHAN0001",
                    "user_id": "U0USER0001", "channel_id": "D0DM0001"}),
                "Slack call id must start with R",
            ),
            (
                serde_json::json!({"type": "call_rejected", "call_id": "R0CALL0001",
                    "user_id": "U0USER0001", "channel_id": "D0DM0001",
                    "external_unique_id": ""}),
                "external id is empty",
            ),
        ] {
            let error = callback(event).expect_err(reason);
            assert!(error.to_string().contains(reason), "{error}");
        }
        // Events we do not handle are not looked into.
        let other = callback(serde_json::json!({"type": "reaction_added", "user": "nobody"}));
        assert!(matches!(other.map(|c| c.event), Ok(Event::Other)));
    }

    #[test]
    fn events_about_the_workspace_must_name_it() {
        let mut uninstalled =
            callback(serde_json::json!({"type": "app_uninstalled"})).expect("parses");
        assert_eq!(uninstalled.check(), Ok(()));
        uninstalled.team_id = None;
        assert_eq!(uninstalled.check(), Err("team_id is missing".into()));
        let mut rejected = callback(serde_json::json!({"type": "call_rejected",
            "call_id": "R0CALL0001", "user_id": "U0USER0001", "channel_id": "D0DM0001"}))
        .expect("parses");
        rejected.team_id = None;
        assert_eq!(
            rejected.check(),
            Err("team_id is missing".into()),
            "a rejection is looked up among its workspace's calls only"
        );
    }

    #[test]
    fn the_workspace_is_the_installation_the_event_came_through() {
        let mut event = serde_json::json!({
            "type": "event_callback", "event_id": "Ev1", "team_id": "T0TEAM0001",
            "enterprise_id": "E0ORG0001", "api_app_id": "A0APP0001",
            "authorizations": [{"enterprise_id": "E0ORG0001", "team_id": null,
                "user_id": "U0BOT0001", "is_bot": true, "is_enterprise_install": true}],
            "event": {"type": "app_uninstalled"},
        });
        let parse = |event: &serde_json::Value| match serde_json::from_value(event.clone()) {
            Ok(Envelope::EventCallback(callback)) => callback.workspace(),
            other => panic!("not a callback: {other:?}"),
        };
        assert_eq!(
            parse(&event),
            Some(Workspace {
                team_id: id("T0TEAM0001"),
                enterprise_id: Some(id("E0ORG0001")),
                is_enterprise_install: true,
            }),
            "an org-wide install: the organisation's, in the event's team"
        );
        event["authorizations"] = serde_json::json!([{"enterprise_id": "E0ORG0001",
            "team_id": "T0TEAM0002", "is_enterprise_install": false}]);
        assert_eq!(
            parse(&event),
            Some(Workspace {
                team_id: id("T0TEAM0002"),
                enterprise_id: Some(id("E0ORG0001")),
                is_enterprise_install: false,
            }),
            "a workspace install inside an organisation"
        );
        event["authorizations"] = serde_json::json!([]);
        event["enterprise_id"] = serde_json::Value::Null;
        assert_eq!(parse(&event), Some(Workspace::team(id("T0TEAM0001"))));
    }

    #[test]
    fn call_block_message_has_the_documented_shape() {
        let message = ResponseMessage::call_in_channel(&id("R123"), "A call was started");
        assert_eq!(
            serde_json::to_value(&message).unwrap_or_default(),
            serde_json::json!({
                "response_type": "in_channel",
                "text": "A call was started",
                "blocks": [{"type": "call", "call_id": "R123"}]
            })
        );
    }
}
