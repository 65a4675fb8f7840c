//! What the provider's backend sends to `POST /provider/events`: one event object or an
//! array of them, each about one call of ours (by `external_unique_id`). A batch is
//! validated whole, here, before any of it is applied: [`parse_batch`] gives events
//! whose ids are parsed and whose participants are already users Slack will accept.

use serde::Deserialize;

use crate::domain::ids::parse_field;
pub use crate::domain::limits::MAX_TITLE_CHARS;
use crate::domain::limits::{
    truncate_chars, url_fits, MAX_DISPLAY_NAME_CHARS, MAX_PARTICIPANT_ID_BYTES, MAX_URL_BYTES,
};
use crate::domain::{CallUser, ExternalId, UnixSeconds, UserId};

/// Most events one request may carry.
pub const MAX_EVENTS_PER_REQUEST: usize = 100;
/// Longest `event_id` accepted: the call remembers the latest ones for deduplication.
pub const MAX_EVENT_ID_BYTES: usize = 200;

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ProviderParticipant {
    #[serde(default)]
    pub slack_id: Option<String>,
    #[serde(default)]
    pub external_id: Option<String>,
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub avatar_url: Option<String>,
}

/// One event as the provider sends it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "type")]
pub enum ProviderEvent {
    #[serde(rename = "call.ended")]
    CallEnded {
        external_unique_id: String,
        #[serde(default)]
        duration: Option<i64>,
        #[serde(default)]
        occurred_at: Option<UnixSeconds>,
        #[serde(default)]
        event_id: Option<String>,
    },
    #[serde(rename = "participant.joined")]
    ParticipantJoined {
        external_unique_id: String,
        participant: ProviderParticipant,
        #[serde(default)]
        occurred_at: Option<UnixSeconds>,
        #[serde(default)]
        event_id: Option<String>,
    },
    #[serde(rename = "participant.left")]
    ParticipantLeft {
        external_unique_id: String,
        participant: ProviderParticipant,
        #[serde(default)]
        occurred_at: Option<UnixSeconds>,
        #[serde(default)]
        event_id: Option<String>,
    },
    #[serde(rename = "call.updated")]
    CallUpdated {
        external_unique_id: String,
        #[serde(default)]
        title: Option<String>,
        #[serde(default)]
        join_url: Option<String>,
        #[serde(default)]
        desktop_app_join_url: Option<String>,
        #[serde(default)]
        occurred_at: Option<UnixSeconds>,
        #[serde(default)]
        event_id: Option<String>,
    },
}

/// An event that passed validation, ready to apply to its call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidEvent {
    pub external_unique_id: ExternalId,
    /// The provider's id for the event, so a resent event is applied once.
    pub event_id: Option<String>,
    pub change: CallChange,
}

/// What a valid event does to its call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallChange {
    Ended {
        duration: Option<i64>,
        occurred_at: Option<UnixSeconds>,
    },
    ParticipantJoined {
        user: CallUser,
        occurred_at: Option<UnixSeconds>,
    },
    ParticipantLeft {
        user: CallUser,
        occurred_at: Option<UnixSeconds>,
    },
    DetailsUpdated {
        title: Option<String>,
        join_url: Option<String>,
        desktop_app_join_url: Option<String>,
        occurred_at: Option<UnixSeconds>,
    },
}

impl CallChange {
    /// The person a join or leave is about.
    pub fn participant(&self) -> Option<&CallUser> {
        match self {
            CallChange::ParticipantJoined { user, .. }
            | CallChange::ParticipantLeft { user, .. } => Some(user),
            CallChange::Ended { .. } | CallChange::DetailsUpdated { .. } => None,
        }
    }
}

impl ValidEvent {
    /// The event timed at `signed_at` (when its request was signed) unless it says when
    /// it happened. Every event then has a time, so a late or replayed request is older
    /// than the state it would undo and is ignored, `event_id` or not.
    pub fn timed(mut self, signed_at: UnixSeconds) -> Self {
        match &mut self.change {
            CallChange::Ended { occurred_at, .. }
            | CallChange::ParticipantJoined { occurred_at, .. }
            | CallChange::ParticipantLeft { occurred_at, .. }
            | CallChange::DetailsUpdated { occurred_at, .. } => {
                occurred_at.get_or_insert(signed_at);
            }
        }
        self
    }
}

/// A batch that failed validation: nothing of it is applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BatchError {
    #[error("the body is not valid JSON: {0}")]
    NotJson(String),
    #[error(
        "the body must be one event object or an array of 1 to {MAX_EVENTS_PER_REQUEST} events"
    )]
    BadShape,
    #[error("event {index}: {reason}")]
    BadEvent { index: usize, reason: String },
}

/// Parses and validates the whole body: every event valid, or the first problem found.
pub fn parse_batch(body: &[u8]) -> Result<Vec<ValidEvent>, BatchError> {
    let value: serde_json::Value =
        serde_json::from_slice(body).map_err(|error| BatchError::NotJson(error.to_string()))?;
    let items = match value {
        serde_json::Value::Array(items)
            if !items.is_empty() && items.len() <= MAX_EVENTS_PER_REQUEST =>
        {
            items
        }
        serde_json::Value::Object(_) => vec![value],
        _ => return Err(BatchError::BadShape),
    };
    items
        .into_iter()
        .enumerate()
        .map(|(index, item)| {
            serde_json::from_value::<ProviderEvent>(item)
                .map_err(|error| error.to_string())
                .and_then(ProviderEvent::validate)
                .map_err(|reason| BatchError::BadEvent { index, reason })
        })
        .collect()
}

impl ProviderEvent {
    pub fn external_unique_id(&self) -> &str {
        match self {
            ProviderEvent::CallEnded {
                external_unique_id, ..
            }
            | ProviderEvent::ParticipantJoined {
                external_unique_id, ..
            }
            | ProviderEvent::ParticipantLeft {
                external_unique_id, ..
            }
            | ProviderEvent::CallUpdated {
                external_unique_id, ..
            } => external_unique_id,
        }
    }

    pub fn event_id(&self) -> Option<&str> {
        match self {
            ProviderEvent::CallEnded { event_id, .. }
            | ProviderEvent::ParticipantJoined { event_id, .. }
            | ProviderEvent::ParticipantLeft { event_id, .. }
            | ProviderEvent::CallUpdated { event_id, .. } => event_id.as_deref(),
        }
    }

    /// Checks the event, common fields first; the reason names the first problem.
    pub fn validate(self) -> Result<ValidEvent, String> {
        let external_unique_id: ExternalId =
            parse_field("external_unique_id", self.external_unique_id())
                .map_err(|error| error.to_string())?;
        if self
            .event_id()
            .is_some_and(|id| id.trim().is_empty() || id.len() > MAX_EVENT_ID_BYTES)
        {
            return Err(format!(
                "event_id must be 1 to {MAX_EVENT_ID_BYTES} characters"
            ));
        }
        let (event_id, change) = match self {
            ProviderEvent::ParticipantJoined {
                participant,
                occurred_at,
                event_id,
                ..
            } => {
                let user = call_user(&participant)?;
                let change = CallChange::ParticipantJoined { user, occurred_at };
                (event_id, change)
            }
            ProviderEvent::ParticipantLeft {
                participant,
                occurred_at,
                event_id,
                ..
            } => {
                let user = call_user(&participant)?;
                let change = CallChange::ParticipantLeft { user, occurred_at };
                (event_id, change)
            }
            ProviderEvent::CallEnded {
                duration,
                occurred_at,
                event_id,
                ..
            } => {
                if duration.is_some_and(|d| d < 0) {
                    return Err("duration must not be negative".into());
                }
                let change = CallChange::Ended {
                    duration,
                    occurred_at,
                };
                (event_id, change)
            }
            ProviderEvent::CallUpdated {
                title,
                join_url,
                desktop_app_join_url,
                occurred_at,
                event_id,
                ..
            } => {
                if title.is_none() && join_url.is_none() && desktop_app_join_url.is_none() {
                    return Err("call.updated needs title, join_url or desktop_app_join_url".into());
                }
                if title.as_deref().is_some_and(|t| t.trim().is_empty()) {
                    return Err(format!("title must be 1 to {MAX_TITLE_CHARS} characters"));
                }
                // A longer title is cut, as a person would expect.
                let title = title.map(|t| truncate_chars(t.trim(), MAX_TITLE_CHARS));
                if join_url.as_deref().is_some_and(|u| !is_web_url(u, false)) {
                    return Err("join_url must be an http(s) URL".into());
                }
                if join_url.as_deref().is_some_and(|u| !url_fits(u)) {
                    return Err(format!("join_url must be at most {MAX_URL_BYTES} bytes"));
                }
                if desktop_app_join_url
                    .as_deref()
                    .is_some_and(|u| !url_fits(u))
                {
                    return Err(format!(
                        "desktop_app_join_url must be at most {MAX_URL_BYTES} bytes"
                    ));
                }
                let change = CallChange::DetailsUpdated {
                    title,
                    join_url,
                    desktop_app_join_url,
                    occurred_at,
                };
                (event_id, change)
            }
        };
        Ok(ValidEvent {
            external_unique_id,
            event_id,
            change,
        })
    }
}

/// A participant as Slack will show them. Validated, so the worker never sends Slack
/// a user it will reject.
fn call_user(participant: &ProviderParticipant) -> Result<CallUser, String> {
    let non_empty = |v: &Option<String>| {
        v.as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    if let Some(avatar) = &participant.avatar_url {
        if !is_web_url(avatar, true) {
            return Err("participant.avatar_url must be an https URL".into());
        }
        if !url_fits(avatar) {
            return Err(format!(
                "participant.avatar_url must be at most {MAX_URL_BYTES} bytes"
            ));
        }
    }
    if let Some(slack_id) = non_empty(&participant.slack_id) {
        let slack_id: UserId =
            parse_field("participant.slack_id", slack_id).map_err(|error| error.to_string())?;
        return Ok(CallUser::Slack { slack_id });
    }
    let Some(external_id) = non_empty(&participant.external_id) else {
        return Err("participant needs slack_id or external_id".into());
    };
    if external_id.len() > MAX_PARTICIPANT_ID_BYTES {
        return Err(format!(
            "participant.external_id must be at most {MAX_PARTICIPANT_ID_BYTES} bytes"
        ));
    }
    let Some(display_name) = non_empty(&participant.display_name) else {
        return Err("an external participant needs display_name".into());
    };
    // A longer name is cut, as a person would expect.
    let display_name = truncate_chars(&display_name, MAX_DISPLAY_NAME_CHARS);
    Ok(CallUser::External {
        external_id,
        display_name,
        avatar_url: participant.avatar_url.clone(),
    })
}

/// Checks each event's `desktop_app_join_url` against the scheme the deployment's
/// `DESKTOP_JOIN_URL_TEMPLATE` uses (or `https`): a provider cannot point Slack's
/// "join" button at another application.
pub fn check_desktop_urls(
    events: &[ValidEvent],
    desktop_template: Option<&str>,
) -> Result<(), BatchError> {
    let allowed = desktop_template
        .and_then(|t| t.split_once(':'))
        .map(|(scheme, _)| scheme);
    for (index, event) in events.iter().enumerate() {
        let CallChange::DetailsUpdated {
            desktop_app_join_url: Some(url),
            ..
        } = &event.change
        else {
            continue;
        };
        let scheme = url::Url::parse(url).ok().map(|u| u.scheme().to_owned());
        let fits = scheme
            .as_deref()
            .is_some_and(|s| s == "https" || Some(s) == allowed);
        if !fits {
            let wanted = match allowed {
                Some(scheme) if scheme != "https" => format!("{scheme}: or https:"),
                _ => "https:".to_owned(),
            };
            return Err(BatchError::BadEvent {
                index,
                reason: format!("desktop_app_join_url must be a {wanted} URL"),
            });
        }
    }
    Ok(())
}

fn is_web_url(value: &str, https_only: bool) -> bool {
    url::Url::parse(value)
        .map(|u| {
            u.host().is_some() && (u.scheme() == "https" || (!https_only && u.scheme() == "http"))
        })
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ids::{id, MAX_EXTERNAL_ID_BYTES};

    #[test]
    fn batch_errors_name_the_index() {
        let body = br#"[{"type":"call.ended","external_unique_id":"a"},{"type":"participant.joined","external_unique_id":"a","participant":{"external_id":"x"}}]"#;
        let error = parse_batch(body).expect_err("external participant without a name");
        assert_eq!(
            error,
            BatchError::BadEvent {
                index: 1,
                reason: "an external participant needs display_name".into()
            }
        );
        let error = parse_batch(br#"{"type":"call.exploded","external_unique_id":"a"}"#)
            .expect_err("unknown type");
        assert!(matches!(error, BatchError::BadEvent { index: 0, .. }));
        let long_id = format!(
            r#"{{"type":"call.ended","external_unique_id":"{}"}}"#,
            "x".repeat(MAX_EXTERNAL_ID_BYTES + 1)
        );
        assert_eq!(
            parse_batch(long_id.as_bytes()),
            Err(BatchError::BadEvent {
                index: 0,
                reason: "external_unique_id is invalid: external id is longer than 1024 bytes"
                    .into()
            })
        );
        assert_eq!(parse_batch(b"[]"), Err(BatchError::BadShape));
        assert_eq!(parse_batch(b"42"), Err(BatchError::BadShape));
        assert!(matches!(parse_batch(b"{"), Err(BatchError::NotJson(_))));
        let too_many = format!(
            "[{}]",
            vec![r#"{"type":"call.ended","external_unique_id":"a"}"#; 101].join(",")
        );
        assert_eq!(parse_batch(too_many.as_bytes()), Err(BatchError::BadShape));
    }

    #[test]
    fn valid_batch_parses() {
        let events = parse_batch(
            br#"[{"type":"participant.joined","external_unique_id":"a","participant":{"slack_id":"U1"},"occurred_at":5,"event_id":"e1"},
                 {"type":"call.updated","external_unique_id":"a","title":"New"},
                 {"type":"call.ended","external_unique_id":"a","duration":60}]"#,
        )
        .expect("valid");
        assert_eq!(events.len(), 3);
    }

    #[test]
    fn valid_events_carry_their_participant_as_a_slack_user() {
        let events = parse_batch(
            br#"[{"type":"participant.left","external_unique_id":"a","participant":{"slack_id":" U1 ","external_id":"x"},"event_id":"e2"},
                 {"type":"participant.joined","external_unique_id":"b","participant":{"external_id":"x","display_name":" Ada ","avatar_url":"https://img.example/a.png"},"occurred_at":7}]"#,
        )
        .expect("valid");
        assert_eq!(
            events,
            [
                ValidEvent {
                    external_unique_id: id("a"),
                    event_id: Some("e2".into()),
                    change: CallChange::ParticipantLeft {
                        user: CallUser::Slack { slack_id: id("U1") },
                        occurred_at: None,
                    },
                },
                ValidEvent {
                    external_unique_id: id("b"),
                    event_id: None,
                    change: CallChange::ParticipantJoined {
                        user: CallUser::External {
                            external_id: "x".into(),
                            display_name: "Ada".into(),
                            avatar_url: Some("https://img.example/a.png".into()),
                        },
                        occurred_at: Some(7),
                    },
                },
            ]
        );
    }

    #[test]
    fn each_rule_has_its_reason() {
        let reason = |event: &str| match parse_batch(event.as_bytes()) {
            Err(BatchError::BadEvent { index: 0, reason }) => reason,
            other => panic!("{event}: {other:?}"),
        };
        for (event, expected) in [
            (
                r#"{"type":"call.ended","external_unique_id":" "}"#,
                "external_unique_id is invalid: external id is empty",
            ),
            (
                r#"{"type":"call.ended","external_unique_id":"a\u0000b"}"#,
                "external_unique_id is invalid: external id contains a control character",
            ),
            (
                r#"{"type":"call.ended","external_unique_id":"a","event_id":""}"#,
                "event_id must be 1 to 200 characters",
            ),
            (
                r#"{"type":"call.ended","external_unique_id":"a","duration":-1}"#,
                "duration must not be negative",
            ),
            (
                r#"{"type":"call.updated","external_unique_id":"a"}"#,
                "call.updated needs title, join_url or desktop_app_join_url",
            ),
            (
                r#"{"type":"call.updated","external_unique_id":"a","title":" "}"#,
                "title must be 1 to 255 characters",
            ),
            (
                r#"{"type":"call.updated","external_unique_id":"a","join_url":"ftp://x.example/"}"#,
                "join_url must be an http(s) URL",
            ),
            (
                r#"{"type":"participant.joined","external_unique_id":"a","participant":{"slack_id":"U1","avatar_url":"http://img.example/a.png"}}"#,
                "participant.avatar_url must be an https URL",
            ),
            (
                r#"{"type":"participant.joined","external_unique_id":"a","participant":{"slack_id":"U-1"}}"#,
                "participant.slack_id is invalid: Slack user id must continue with uppercase letters and digits only",
            ),
            (
                r#"{"type":"participant.joined","external_unique_id":"a","participant":{"slack_id":"u0user01"}}"#,
                "participant.slack_id is invalid: Slack user id must start with U or W",
            ),
            (
                r#"{"type":"participant.left","external_unique_id":"a","participant":{}}"#,
                "participant needs slack_id or external_id",
            ),
            (
                &format!(
                    r#"{{"type":"participant.left","external_unique_id":"a","participant":{{"external_id":"{}","display_name":"x"}}}}"#,
                    "g".repeat(MAX_PARTICIPANT_ID_BYTES + 1)
                ),
                "participant.external_id must be at most 255 bytes",
            ),
            (
                &format!(
                    r#"{{"type":"participant.joined","external_unique_id":"a","participant":{{"slack_id":"U1","avatar_url":"https://img.example/{}"}}}}"#,
                    "a".repeat(MAX_URL_BYTES)
                ),
                "participant.avatar_url must be at most 2048 bytes",
            ),
            (
                &format!(
                    r#"{{"type":"call.updated","external_unique_id":"a","join_url":"https://m.example/{}"}}"#,
                    "r".repeat(MAX_URL_BYTES)
                ),
                "join_url must be at most 2048 bytes",
            ),
            (
                &format!(
                    r#"{{"type":"call.updated","external_unique_id":"a","desktop_app_join_url":"app://{}"}}"#,
                    "r".repeat(MAX_URL_BYTES)
                ),
                "desktop_app_join_url must be at most 2048 bytes",
            ),
        ] {
            assert_eq!(reason(event), expected, "{event}");
        }
    }

    #[test]
    fn events_without_a_time_take_the_signed_timestamp() {
        let events = parse_batch(
            br#"[{"type": "participant.left", "external_unique_id": "c1", "participant": {"slack_id": "U1"}},
                 {"type": "participant.joined", "external_unique_id": "c1", "participant": {"slack_id": "U1"}, "occurred_at": 5},
                 {"type": "call.updated", "external_unique_id": "c1", "title": "T"},
                 {"type": "call.ended", "external_unique_id": "c1"}]"#,
        )
        .expect("valid");
        let times: Vec<Option<UnixSeconds>> = events
            .into_iter()
            .map(|event| match event.timed(100).change {
                CallChange::Ended { occurred_at, .. }
                | CallChange::ParticipantJoined { occurred_at, .. }
                | CallChange::ParticipantLeft { occurred_at, .. }
                | CallChange::DetailsUpdated { occurred_at, .. } => occurred_at,
            })
            .collect();
        assert_eq!(times, [Some(100), Some(5), Some(100), Some(100)]);
    }

    #[test]
    fn long_names_and_titles_are_cut_not_refused() {
        let name = "N".repeat(MAX_DISPLAY_NAME_CHARS + 50);
        let title = "✓".repeat(MAX_TITLE_CHARS + 1);
        let body = format!(
            r#"[{{"type":"participant.joined","external_unique_id":"a","participant":{{"external_id":"g","display_name":"{name}"}}}},
                {{"type":"call.updated","external_unique_id":"a","title":"{title}"}}]"#
        );
        let events = parse_batch(body.as_bytes()).expect("valid");
        match &events[0].change {
            CallChange::ParticipantJoined {
                user: CallUser::External { display_name, .. },
                ..
            } => assert_eq!(display_name.chars().count(), MAX_DISPLAY_NAME_CHARS),
            other => panic!("{other:?}"),
        }
        match &events[1].change {
            CallChange::DetailsUpdated { title: Some(t), .. } => {
                assert_eq!(t.chars().count(), MAX_TITLE_CHARS)
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn desktop_urls_keep_to_the_templates_scheme_or_https() {
        let events = |url: &str| {
            parse_batch(
                format!(
                    r#"[{{"type":"call.ended","external_unique_id":"a"}},
                        {{"type":"call.updated","external_unique_id":"a","desktop_app_join_url":"{url}"}}]"#
                )
                .as_bytes(),
            )
            .expect("valid")
        };
        let template = Some("meetapp://join/{room}");
        assert_eq!(
            check_desktop_urls(&events("meetapp://join/r1"), template),
            Ok(())
        );
        assert_eq!(
            check_desktop_urls(&events("https://m.example/r1"), template),
            Ok(())
        );
        assert_eq!(
            check_desktop_urls(&events("otherapp://x"), template),
            Err(BatchError::BadEvent {
                index: 1,
                reason: "desktop_app_join_url must be a meetapp: or https: URL".into()
            })
        );
        assert_eq!(
            check_desktop_urls(&events("meetapp://join/r1"), None),
            Err(BatchError::BadEvent {
                index: 1,
                reason: "desktop_app_join_url must be a https: URL".into()
            })
        );
        assert!(check_desktop_urls(&events("not a url"), template).is_err());
    }
}
