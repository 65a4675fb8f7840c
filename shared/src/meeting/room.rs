//! Rooms as links: which pasted links name a room of ours, and the room's own join URL.
//!
//! A link is a room when its host is one of our unfurl domains and its path has the
//! shape of `JOIN_URL_TEMPLATE`'s path with a room name where `{room}` is; its query and
//! fragment are ignored. Anything else on those hosts (the provider's home page, a
//! settings page) is not a call and is never registered.

/// Longest room name taken from a link: our own names are 22 characters, a room named
/// by people ("team-standup") rarely needs more.
pub const MAX_ROOM_CHARS: usize = 128;

/// Stands in for `{room}` while the template is parsed as a URL.
const MARKER: &str = "ROOMNAMEPLACEHOLDER0";

/// A link to a room: its name, and the join URL calls in that room are registered with
/// (the template filled in, on the link's host).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomLink {
    pub room: String,
    pub join_url: String,
}

/// The shape of the join template's path: what comes before and after `{room}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomPattern {
    template: String,
    host: String,
    prefix: String,
    suffix: String,
}

/// Room names as the URL-template provider makes them, and as people pick them:
/// letters, digits, `-` and `_` (URL-safe without escaping).
pub fn is_room_name(value: &str) -> bool {
    (1..=MAX_ROOM_CHARS).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

impl RoomPattern {
    /// The pattern of `template` (`https://meet.example.com/{room}`), or `None` when
    /// `{room}` is not in its path: then no pasted link can be told to be a room.
    pub fn from_template(template: &str) -> Option<Self> {
        let url = url::Url::parse(&template.replace("{room}", MARKER)).ok()?;
        let host = url.host_str()?.to_ascii_lowercase();
        let (prefix, suffix) = url.path().split_once(MARKER)?;
        Some(RoomPattern {
            template: template.to_owned(),
            host,
            prefix: prefix.to_owned(),
            suffix: suffix.to_owned(),
        })
    }

    /// The room `url` links to, if its host is one of `domains` (or a subdomain of one)
    /// and its path is the template's with a room name in it.
    pub fn room_link(&self, url: &str, domains: &[String]) -> Option<RoomLink> {
        let link = url::Url::parse(url).ok()?;
        if !matches!(link.scheme(), "https" | "http") {
            return None;
        }
        let host = link.host_str()?.to_ascii_lowercase();
        let ours = domains
            .iter()
            .any(|domain| host == *domain || host.ends_with(&format!(".{domain}")));
        if !ours {
            return None;
        }
        let room = link
            .path()
            .strip_prefix(&self.prefix)?
            .strip_suffix(&self.suffix)?;
        if !is_room_name(room) {
            return None;
        }
        let filled = self.template.replace("{room}", room);
        let join_url = if host == self.host {
            filled
        } else {
            // The same room path on another of our hosts: that host's join URL.
            let mut on_host = url::Url::parse(&filled).ok()?;
            on_host.set_host(Some(&host)).ok()?;
            on_host.to_string()
        };
        Some(RoomLink {
            room: room.to_owned(),
            join_url,
        })
    }

    /// The join URL of `room` on the template's own host.
    pub fn join_url(&self, room: &str) -> String {
        self.template.replace("{room}", room)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn domains() -> Vec<String> {
        vec!["meet.example.com".into(), "video.example.org".into()]
    }

    fn pattern() -> RoomPattern {
        RoomPattern::from_template("https://meet.example.com/{room}").expect("room in the path")
    }

    #[test]
    fn a_room_link_gives_the_room_and_its_join_url_without_query_or_fragment() {
        for url in [
            "https://meet.example.com/team-standup",
            "https://meet.example.com/team-standup?lang=en",
            "https://MEET.example.com/team-standup#config.startWithAudioMuted=true",
            "http://meet.example.com/team-standup",
        ] {
            assert_eq!(
                pattern().room_link(url, &domains()),
                Some(RoomLink {
                    room: "team-standup".into(),
                    join_url: "https://meet.example.com/team-standup".into()
                }),
                "{url}"
            );
        }
        assert_eq!(
            pattern()
                .room_link("https://eu.meet.example.com/Ab_9", &domains())
                .map(|link| link.join_url),
            Some("https://eu.meet.example.com/Ab_9".into()),
            "a subdomain of ours keeps its host"
        );
        assert_eq!(
            pattern()
                .room_link("https://video.example.org/abc123", &domains())
                .map(|link| link.join_url),
            Some("https://video.example.org/abc123".into())
        );
    }

    #[test]
    fn other_paths_and_hosts_are_not_rooms() {
        let long = format!(
            "https://meet.example.com/{}",
            "a".repeat(MAX_ROOM_CHARS + 1)
        );
        for url in [
            "https://meet.example.com/",
            "https://meet.example.com",
            "https://meet.example.com/a/b",
            "https://meet.example.com/room.html",
            "https://meet.example.com/%F0%9F%98%80",
            "https://video.example.org/r/abc123",
            "https://elsewhere.example.org/room",
            "https://notmeet.example.com/room",
            "ftp://meet.example.com/room",
            "not a url",
            long.as_str(),
        ] {
            assert_eq!(pattern().room_link(url, &domains()), None, "{url}");
        }
    }

    #[test]
    fn templates_with_a_path_around_the_room_are_matched_whole() {
        let pattern = RoomPattern::from_template("https://meet.example.com/rooms/{room}/join")
            .expect("room in the path");
        assert_eq!(
            pattern
                .room_link("https://meet.example.com/rooms/daily/join?x=1", &domains())
                .map(|link| (link.room, link.join_url)),
            Some((
                "daily".into(),
                "https://meet.example.com/rooms/daily/join".into()
            ))
        );
        assert_eq!(
            pattern.room_link("https://meet.example.com/rooms/daily", &domains()),
            None
        );
        assert_eq!(
            pattern.join_url("r1"),
            "https://meet.example.com/rooms/r1/join"
        );
        assert_eq!(
            RoomPattern::from_template("https://meet.example.com/join?room={room}"),
            None,
            "a room in the query cannot be told from a pasted link"
        );
    }

    #[test]
    fn room_names_are_url_safe_and_bounded() {
        assert!(is_room_name("Abc-_9"));
        assert!(!is_room_name(""));
        assert!(!is_room_name("a b"));
        assert!(!is_room_name("a.b"));
        assert!(!is_room_name(&"a".repeat(MAX_ROOM_CHARS + 1)));
    }
}
