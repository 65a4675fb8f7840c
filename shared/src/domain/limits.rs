//! Caps on what the provider and Slack hand us, so every item stays far below
//! DynamoDB's 400 KB and no value is too long for the index that keys it. Over a cap:
//! a `4xx` naming the field, or truncation where a person would expect it (names,
//! titles).

/// A call's title, in characters (Slack shows far fewer).
pub const MAX_TITLE_CHARS: usize = 255;
/// An external participant's display name, in characters: truncated beyond.
pub const MAX_DISPLAY_NAME_CHARS: usize = 100;
/// A participant's `external_id`, in bytes (part of its item's sort key).
pub const MAX_PARTICIPANT_ID_BYTES: usize = 255;
/// Any URL we store. The join URL keys the `by_join_url` index, whose keys DynamoDB
/// limits to 2,048 bytes.
pub const MAX_URL_BYTES: usize = 2_048;
/// A meeting's display id (`external_display_id`), in characters: truncated beyond.
pub const MAX_DISPLAY_ID_CHARS: usize = 100;

/// `value` cut to at most `max` characters (never inside a character).
pub fn truncate_chars(value: &str, max: usize) -> String {
    match value.char_indices().nth(max) {
        Some((end, _)) => value[..end].to_owned(),
        None => value.to_owned(),
    }
}

/// Whether `url` may be stored: at most [`MAX_URL_BYTES`].
pub fn url_fits(url: &str) -> bool {
    url.len() <= MAX_URL_BYTES
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncation_counts_characters_not_bytes() {
        assert_eq!(truncate_chars("héllo", 2), "hé");
        assert_eq!(truncate_chars("héllo", 5), "héllo");
        assert_eq!(truncate_chars("héllo", 50), "héllo");
        assert_eq!(truncate_chars("✓✓✓", 1), "✓");
        assert!(url_fits(&"u".repeat(MAX_URL_BYTES)));
        assert!(!url_fits(&"u".repeat(MAX_URL_BYTES + 1)));
    }
}
