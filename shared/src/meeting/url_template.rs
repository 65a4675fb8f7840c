//! Meetings from URL templates: no provider account needed. `JOIN_URL_TEMPLATE`
//! (default `https://meet.jit.si/{room}`) gets an unguessable room name; phone calls
//! work only when `PHONE_CALL_URL_TEMPLATE` (with `{phone}`) is configured.

use async_trait::async_trait;
use base64::Engine;
use rand::RngCore;

use super::{CallerUrls, Meeting, MeetingError, MeetingProvider, MeetingRequest};
use crate::domain::{CallKind, ExternalId};

/// Room names carry 128 random bits: nobody can guess their way into a call.
const ROOM_BYTES: usize = 16;

#[derive(Debug, Clone)]
pub struct UrlTemplateProvider {
    pub join_url_template: String,
    pub desktop_join_url_template: Option<String>,
    pub phone_call_url_template: Option<String>,
    pub desktop_phone_call_url_template: Option<String>,
}

impl UrlTemplateProvider {
    pub fn from_config(config: &crate::config::Config) -> Self {
        UrlTemplateProvider {
            join_url_template: config.join_url_template.clone(),
            desktop_join_url_template: config.desktop_join_url_template.clone(),
            phone_call_url_template: config.phone_call_url_template.clone(),
            desktop_phone_call_url_template: config.desktop_phone_call_url_template.clone(),
        }
    }
}

/// A fresh URL-safe room name.
pub fn new_room_name() -> String {
    let mut bytes = [0u8; ROOM_BYTES];
    rand::rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// A short, human-readable id for the call object (`123-456-789`), derived from the
/// room so the same room always shows the same id.
pub fn display_id(room: &str) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(room.as_bytes());
    let number = u64::from_be_bytes([
        digest[0], digest[1], digest[2], digest[3], digest[4], digest[5], digest[6], digest[7],
    ]) % 1_000_000_000;
    let digits = format!("{number:09}");
    format!("{}-{}-{}", &digits[0..3], &digits[3..6], &digits[6..9])
}

/// Keeps only what a dial string may hold; `None` if nothing dialable is left or
/// anything else was present.
pub fn normalize_phone_number(raw: &str) -> Option<String> {
    let trimmed = raw.trim();
    let allowed = |c: char| c.is_ascii_digit() || matches!(c, '+' | '-' | ' ' | '(' | ')' | '.');
    if trimmed.is_empty() || !trimmed.chars().all(allowed) {
        return None;
    }
    let digits = trimmed.chars().filter(char::is_ascii_digit).count();
    (3..=20).contains(&digits).then(|| trimmed.to_owned())
}

fn fill(template: &str, room: &str, phone: Option<&str>) -> String {
    // Percent-encoded so it reads the same in a path and in a query: a space is `%20`,
    // never the form encoding's `+`, which a path keeps as a literal plus.
    let phone_encoded = phone.map(|p| {
        url::form_urlencoded::byte_serialize(p.as_bytes())
            .collect::<String>()
            .replace('+', "%20")
    });
    let mut url = template.replace("{room}", room);
    if let Some(phone) = phone_encoded {
        url = url.replace("{phone}", &phone);
    }
    url
}

#[async_trait]
impl MeetingProvider for UrlTemplateProvider {
    async fn allocate(&self, request: &MeetingRequest) -> Result<Meeting, MeetingError> {
        let room = new_room_name();
        let display_id = Some(display_id(&room));
        // An invariant, not an input check: the room name is 22 URL-safe characters.
        #[allow(clippy::expect_used)]
        let external_unique_id =
            ExternalId::parse(&room).expect("a room name makes an external id");
        let room_meeting = Meeting {
            join_url: fill(&self.join_url_template, &room, None),
            desktop_join_url: self
                .desktop_join_url_template
                .as_deref()
                .map(|t| fill(t, &room, None)),
            external_unique_id,
            display_id,
            caller: None,
        };
        if request.kind == CallKind::Video {
            return Ok(room_meeting);
        }
        // `phone_number` is optional for audio: without one, a call in the room.
        let Some(raw) = request
            .phone_number
            .as_deref()
            .filter(|phone| !phone.trim().is_empty())
        else {
            return Ok(room_meeting);
        };
        let template = self
            .phone_call_url_template
            .as_deref()
            .ok_or(MeetingError::PhoneCallsUnsupported)?;
        let phone = normalize_phone_number(raw).ok_or_else(|| {
            MeetingError::InvalidRequest("the phone number is not dialable".into())
        })?;
        // Only the caller gets the number; the conversation sees the room.
        let caller = CallerUrls {
            url: fill(template, &room, Some(&phone)),
            // Desktop protocols take the number as is (`app://+1-202-555-0145`), but a
            // URL cannot hold a space: of what a dialable number may contain, only the
            // space needs escaping.
            desktop_url: self.desktop_phone_call_url_template.as_deref().map(|t| {
                t.replace("{room}", &room)
                    .replace("{phone}", &phone.replace(' ', "%20"))
            }),
        };
        Ok(Meeting {
            caller: Some(caller),
            ..room_meeting
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ids::id;

    fn request(kind: CallKind, phone: Option<&str>) -> MeetingRequest {
        MeetingRequest {
            team_id: id("T1"),
            user_id: id("U1"),
            user_name: "ann".into(),
            channel_id: id("C1"),
            title: None,
            kind,
            phone_number: phone.map(str::to_owned),
        }
    }

    fn provider(phone: bool) -> UrlTemplateProvider {
        UrlTemplateProvider {
            join_url_template: "https://meet.example/{room}".into(),
            desktop_join_url_template: Some("meetapp://join/{room}".into()),
            phone_call_url_template: phone.then(|| "https://meet.example/dial?to={phone}".into()),
            desktop_phone_call_url_template: phone.then(|| "meetapp://{phone}".into()),
        }
    }

    #[tokio::test]
    async fn video_rooms_are_unguessable_and_distinct() {
        let provider = provider(false);
        let a = provider
            .allocate(&request(CallKind::Video, None))
            .await
            .expect("video works");
        let b = provider
            .allocate(&request(CallKind::Video, None))
            .await
            .expect("video works");
        assert_ne!(a.external_unique_id, b.external_unique_id);
        assert_eq!(
            a.external_unique_id.as_str().len(),
            22,
            "128 bits in URL-safe base64"
        );
        assert!(a
            .external_unique_id
            .as_str()
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
        assert_eq!(
            a.join_url,
            format!("https://meet.example/{}", a.external_unique_id)
        );
        assert_eq!(
            a.desktop_join_url,
            Some(format!("meetapp://join/{}", a.external_unique_id))
        );
        let display = a.display_id.expect("display id");
        assert_eq!(display.len(), 11);
    }

    #[tokio::test]
    async fn audio_needs_a_phone_template() {
        let error = provider(false)
            .allocate(&request(CallKind::Audio, Some("+1-202-555-0145")))
            .await
            .expect_err("no phone template");
        assert_eq!(error, MeetingError::PhoneCallsUnsupported);
        let meeting = provider(true)
            .allocate(&request(CallKind::Audio, Some("+1-202-555-0145")))
            .await
            .expect("phone template configured");
        let caller = meeting.caller.expect("the caller dials");
        assert_eq!(caller.url, "https://meet.example/dial?to=%2B1-202-555-0145");
        assert_eq!(
            caller.desktop_url.as_deref(),
            Some("meetapp://+1-202-555-0145")
        );
    }

    #[tokio::test]
    async fn the_room_of_a_phone_call_never_holds_the_number() {
        let meeting = provider(true)
            .allocate(&request(CallKind::Audio, Some("+1-202-555-0145")))
            .await
            .expect("phone template configured");
        let room = meeting.external_unique_id.as_str();
        assert_eq!(meeting.join_url, format!("https://meet.example/{room}"));
        assert_eq!(
            meeting.desktop_join_url,
            Some(format!("meetapp://join/{room}"))
        );
        for shown in [Some(&meeting.join_url), meeting.desktop_join_url.as_ref()]
            .into_iter()
            .flatten()
        {
            assert!(!shown.contains("555"), "{shown}");
        }
    }

    #[tokio::test]
    async fn audio_without_a_number_is_a_call_in_the_room() {
        for phone in [None, Some(""), Some("  ")] {
            for templates in [false, true] {
                let meeting = provider(templates)
                    .allocate(&request(CallKind::Audio, phone))
                    .await
                    .expect("phone_number is optional");
                assert_eq!(meeting.caller, None);
                assert!(meeting.join_url.starts_with("https://meet.example/"));
            }
        }
    }

    #[tokio::test]
    async fn spaces_in_a_number_are_escaped_the_same_in_paths_and_queries() {
        let provider = UrlTemplateProvider {
            phone_call_url_template: Some("https://meet.example/dial/{phone}?to={phone}".into()),
            ..provider(true)
        };
        let meeting = provider
            .allocate(&request(CallKind::Audio, Some("+44 20 (7946) 0958")))
            .await
            .expect("dialable");
        let caller = meeting.caller.expect("the caller dials");
        assert_eq!(
            caller.url,
            "https://meet.example/dial/%2B44%2020%20%287946%29%200958?to=%2B44%2020%20%287946%29%200958"
        );
        assert_eq!(
            caller.desktop_url.as_deref(),
            Some("meetapp://+44%2020%20(7946)%200958")
        );
    }

    #[tokio::test]
    async fn undialable_numbers_are_refused() {
        let error = provider(true)
            .allocate(&request(CallKind::Audio, Some("+1 202<script>")))
            .await
            .expect_err("not dialable");
        assert!(matches!(error, MeetingError::InvalidRequest(_)));
    }
}
