//! Identifiers. Slack's ids (team, enterprise, channel, user, call) and the external
//! ids of calls are types that only hold valid values: each is parsed once, where a
//! request or a stored item is read, so a flow cannot pass a channel where a team is
//! meant, and the store never sees an unchecked id. Serialised, each is the plain
//! string it was parsed from.

use std::fmt;
use std::str::FromStr;

use rand::RngCore;
use serde::{Deserialize, Serialize};

/// 128 random bits, hex: unique enough for job ids and call ids.
pub fn new_id() -> String {
    let mut bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// Longest Slack id accepted. Slack's are 9 to 11 characters; the bound leaves them
/// room to grow and keeps junk out of keys and logs.
pub const MAX_SLACK_ID_BYTES: usize = 32;
/// Longest `external_unique_id` accepted: generous for any provider's ids, and well
/// inside the store's key size limit (a longer one could never name a call of ours).
pub const MAX_EXTERNAL_ID_BYTES: usize = 1024;

/// Which kind of id failed to parse, as people call it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdKind {
    Team,
    Enterprise,
    Channel,
    User,
    SlackCall,
    External,
}

impl fmt::Display for IdKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            IdKind::Team => "Slack team id",
            IdKind::Enterprise => "Slack enterprise id",
            IdKind::Channel => "Slack channel id",
            IdKind::User => "Slack user id",
            IdKind::SlackCall => "Slack call id",
            IdKind::External => "external id",
        })
    }
}

/// Why a value is not an id of its kind. Never quotes the value: it may be huge, or
/// not meant for logs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("{kind} is empty")]
    Empty { kind: IdKind },
    #[error("{kind} is longer than {max} bytes")]
    TooLong { kind: IdKind, max: usize },
    #[error("{kind} must start with {prefixes}")]
    WrongPrefix {
        kind: IdKind,
        prefixes: &'static str,
    },
    #[error("{kind} must continue with uppercase letters and digits only")]
    NotUppercaseAlphanumeric { kind: IdKind },
    #[error("{kind} contains a control character")]
    ControlCharacter { kind: IdKind },
}

impl IdError {
    pub fn kind(&self) -> IdKind {
        match self {
            IdError::Empty { kind }
            | IdError::TooLong { kind, .. }
            | IdError::WrongPrefix { kind, .. }
            | IdError::NotUppercaseAlphanumeric { kind }
            | IdError::ControlCharacter { kind } => *kind,
        }
    }
}

/// An id that did not parse, and the request field it came from: what a refused
/// request is told.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field} is invalid: {error}")]
pub struct InvalidField {
    pub field: &'static str,
    #[source]
    pub error: IdError,
}

/// Parses `value`, found in the request field `field`, as an id of type `T`.
pub fn parse_field<T>(field: &'static str, value: impl Into<String>) -> Result<T, InvalidField>
where
    T: TryFrom<String, Error = IdError>,
{
    T::try_from(value.into()).map_err(|error| InvalidField { field, error })
}

/// Slack's shape: one of `prefixes`, then uppercase letters and digits (at least one).
fn check_slack_id(
    value: &str,
    kind: IdKind,
    prefixes: &[char],
    prefixes_text: &'static str,
) -> Result<(), IdError> {
    if value.is_empty() {
        return Err(IdError::Empty { kind });
    }
    if value.len() > MAX_SLACK_ID_BYTES {
        return Err(IdError::TooLong {
            kind,
            max: MAX_SLACK_ID_BYTES,
        });
    }
    let mut chars = value.chars();
    if !chars.next().is_some_and(|first| prefixes.contains(&first)) {
        return Err(IdError::WrongPrefix {
            kind,
            prefixes: prefixes_text,
        });
    }
    let rest = chars.as_str();
    if rest.is_empty()
        || !rest
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
    {
        return Err(IdError::NotUppercaseAlphanumeric { kind });
    }
    Ok(())
}

fn check_external_id(value: &str) -> Result<(), IdError> {
    let kind = IdKind::External;
    if value.trim().is_empty() {
        return Err(IdError::Empty { kind });
    }
    if value.len() > MAX_EXTERNAL_ID_BYTES {
        return Err(IdError::TooLong {
            kind,
            max: MAX_EXTERNAL_ID_BYTES,
        });
    }
    if value.chars().any(char::is_control) {
        return Err(IdError::ControlCharacter { kind });
    }
    Ok(())
}

/// An id type: a `String` that passed `$check`, built only through `parse` and
/// `TryFrom` (serde included).
macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $check:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            pub fn parse(value: &str) -> Result<Self, IdError> {
                $check(value)?;
                Ok($name(value.to_owned()))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = IdError;

            fn try_from(value: String) -> Result<Self, IdError> {
                $check(&value)?;
                Ok($name(value))
            }
        }

        impl FromStr for $name {
            type Err = IdError;

            fn from_str(value: &str) -> Result<Self, IdError> {
                $name::parse(value)
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }
    };
}

id_type!(
    /// A Slack workspace: `T` and uppercase letters and digits.
    TeamId,
    |value| check_slack_id(value, IdKind::Team, &['T'], "T")
);

id_type!(
    /// A Slack Enterprise Grid organisation: `E` and uppercase letters and digits.
    EnterpriseId,
    |value| check_slack_id(value, IdKind::Enterprise, &['E'], "E")
);

id_type!(
    /// A conversation: a channel (`C`), a private channel or group DM (`G`) or a
    /// direct message (`D`), then uppercase letters and digits.
    ChannelId,
    |value| check_slack_id(value, IdKind::Channel, &['C', 'G', 'D'], "C, G or D")
);

impl ChannelId {
    /// A direct message between two people (`D…`). Group DMs and channels are not.
    pub fn is_direct_message(&self) -> bool {
        self.0.starts_with('D')
    }
}

id_type!(
    /// A Slack user: `U`, or `W` for Enterprise Grid users. Bot users have `U` ids
    /// too; the `B…` ids Slack has are bot ids, never in the user fields we read.
    UserId,
    |value| check_slack_id(value, IdKind::User, &['U', 'W'], "U or W")
);

id_type!(
    /// A call object in Slack, as `calls.add` names it: `R` and uppercase letters and
    /// digits.
    SlackCallId,
    |value| check_slack_id(value, IdKind::SlackCall, &['R'], "R")
);

id_type!(
    /// Our id for a call, unique across all calls: Slack's `external_unique_id`, often
    /// the provider's own id for the meeting. Not blank, at most
    /// [`MAX_EXTERNAL_ID_BYTES`], no control characters.
    ExternalId,
    check_external_id
);

/// `value` as an id of the type the test wants; panics if it is not one.
#[cfg(test)]
pub(crate) fn id<T: FromStr<Err = IdError>>(value: &str) -> T {
    value
        .parse()
        .unwrap_or_else(|error| panic!("test id {value:?}: {error}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn team_ids() {
        assert_eq!(
            TeamId::parse("T0STANDIN").map(String::from),
            Ok("T0STANDIN".into())
        );
        assert_eq!(
            TeamId::parse("T1").map(|id| id.to_string()),
            Ok("T1".into())
        );
        let kind = IdKind::Team;
        assert_eq!(TeamId::parse(""), Err(IdError::Empty { kind }));
        assert_eq!(
            TeamId::parse("C0123"),
            Err(IdError::WrongPrefix {
                kind,
                prefixes: "T"
            })
        );
        assert_eq!(
            TeamId::parse("t0123"),
            Err(IdError::WrongPrefix {
                kind,
                prefixes: "T"
            })
        );
        assert_eq!(
            TeamId::parse("T0abc"),
            Err(IdError::NotUppercaseAlphanumeric { kind })
        );
        assert_eq!(
            TeamId::parse("T"),
            Err(IdError::NotUppercaseAlphanumeric { kind })
        );
        assert_eq!(
            TeamId::parse(&format!("T{}", "0".repeat(MAX_SLACK_ID_BYTES))),
            Err(IdError::TooLong {
                kind,
                max: MAX_SLACK_ID_BYTES
            })
        );
        assert!(TeamId::parse(&format!("T{}", "0".repeat(MAX_SLACK_ID_BYTES - 1))).is_ok());
        assert_eq!(
            TeamId::parse("T01\n"),
            Err(IdError::NotUppercaseAlphanumeric { kind })
        );
    }

    #[test]
    fn enterprise_ids() {
        assert!(EnterpriseId::parse("E0ORG0001").is_ok());
        let kind = IdKind::Enterprise;
        assert_eq!(EnterpriseId::parse(""), Err(IdError::Empty { kind }));
        assert_eq!(
            EnterpriseId::parse("T0ORG0001"),
            Err(IdError::WrongPrefix {
                kind,
                prefixes: "E"
            })
        );
        assert_eq!(
            EnterpriseId::parse("e0org0001"),
            Err(IdError::WrongPrefix {
                kind,
                prefixes: "E"
            })
        );
        assert_eq!(
            EnterpriseId::parse("E0org0001"),
            Err(IdError::NotUppercaseAlphanumeric { kind })
        );
        assert!(matches!(
            EnterpriseId::parse(&"E".repeat(MAX_SLACK_ID_BYTES + 1)),
            Err(IdError::TooLong { .. })
        ));
        assert_eq!(
            EnterpriseId::parse("E0\u{7}"),
            Err(IdError::NotUppercaseAlphanumeric { kind })
        );
    }

    #[test]
    fn channel_ids() {
        for valid in ["C0CHAN0001", "G0PRIVATE1", "D0DIRECT01", "C1"] {
            assert!(ChannelId::parse(valid).is_ok(), "{valid}");
        }
        let kind = IdKind::Channel;
        assert_eq!(ChannelId::parse(""), Err(IdError::Empty { kind }));
        for wrong in ["U0USER0001", "c0chan0001", "#general", " C0CHAN0001"] {
            assert_eq!(
                ChannelId::parse(wrong),
                Err(IdError::WrongPrefix {
                    kind,
                    prefixes: "C, G or D"
                }),
                "{wrong}"
            );
        }
        assert_eq!(
            ChannelId::parse("C0chan"),
            Err(IdError::NotUppercaseAlphanumeric { kind })
        );
        assert!(matches!(
            ChannelId::parse(&"C".repeat(MAX_SLACK_ID_BYTES + 1)),
            Err(IdError::TooLong { .. })
        ));
        assert_eq!(
            ChannelId::parse("C0\tX"),
            Err(IdError::NotUppercaseAlphanumeric { kind })
        );
    }

    #[test]
    fn user_ids() {
        for valid in ["U0USER0001", "W0GRID0001", "U1"] {
            assert!(UserId::parse(valid).is_ok(), "{valid}");
        }
        let kind = IdKind::User;
        assert_eq!(UserId::parse(""), Err(IdError::Empty { kind }));
        for wrong in ["B0BOT0001", "u0user0001", "C0CHAN0001", "@ada"] {
            assert_eq!(
                UserId::parse(wrong),
                Err(IdError::WrongPrefix {
                    kind,
                    prefixes: "U or W"
                }),
                "{wrong}"
            );
        }
        assert_eq!(
            UserId::parse("U-1"),
            Err(IdError::NotUppercaseAlphanumeric { kind })
        );
        assert!(matches!(
            UserId::parse(&format!("U{}", "A".repeat(MAX_SLACK_ID_BYTES))),
            Err(IdError::TooLong { .. })
        ));
        assert_eq!(
            UserId::parse("U0\u{0}"),
            Err(IdError::NotUppercaseAlphanumeric { kind })
        );
    }

    #[test]
    fn slack_call_ids() {
        assert!(SlackCallId::parse("R000000001").is_ok());
        let kind = IdKind::SlackCall;
        assert_eq!(SlackCallId::parse(""), Err(IdError::Empty { kind }));
        assert_eq!(
            SlackCallId::parse("C000000001"),
            Err(IdError::WrongPrefix {
                kind,
                prefixes: "R"
            })
        );
        assert_eq!(
            SlackCallId::parse("r000000001"),
            Err(IdError::WrongPrefix {
                kind,
                prefixes: "R"
            })
        );
        assert_eq!(
            SlackCallId::parse("R0abc"),
            Err(IdError::NotUppercaseAlphanumeric { kind })
        );
        assert!(matches!(
            SlackCallId::parse(&"R".repeat(MAX_SLACK_ID_BYTES + 1)),
            Err(IdError::TooLong { .. })
        ));
        assert_eq!(
            SlackCallId::parse("R0\r"),
            Err(IdError::NotUppercaseAlphanumeric { kind })
        );
    }

    #[test]
    fn external_ids() {
        // Providers' ids come in any shape: case, punctuation and spaces are theirs.
        for valid in [
            "c1",
            "link-0123abcd",
            "123-456-7890",
            " padded ",
            "Zoom Meeting 42",
            "ünïcødé",
        ] {
            assert_eq!(
                ExternalId::parse(valid).map(String::from),
                Ok(valid.to_owned()),
                "kept as given"
            );
        }
        let kind = IdKind::External;
        assert_eq!(ExternalId::parse(""), Err(IdError::Empty { kind }));
        assert_eq!(ExternalId::parse(" \t "), Err(IdError::Empty { kind }));
        assert_eq!(
            ExternalId::parse("call\n1"),
            Err(IdError::ControlCharacter { kind })
        );
        assert_eq!(
            ExternalId::parse("call\u{7f}"),
            Err(IdError::ControlCharacter { kind })
        );
        assert!(ExternalId::parse(&"x".repeat(MAX_EXTERNAL_ID_BYTES)).is_ok());
        assert_eq!(
            ExternalId::parse(&"x".repeat(MAX_EXTERNAL_ID_BYTES + 1)),
            Err(IdError::TooLong {
                kind,
                max: MAX_EXTERNAL_ID_BYTES
            })
        );
    }

    #[test]
    fn errors_name_the_kind_and_never_the_value() {
        let huge = "u".repeat(10_000);
        let error = UserId::parse(&huge).expect_err("too long");
        assert_eq!(error.to_string(), "Slack user id is longer than 32 bytes");
        assert_eq!(error.kind(), IdKind::User);
        let error = ExternalId::parse(&format!("{huge}\n")).expect_err("too long");
        assert_eq!(error.to_string(), "external id is longer than 1024 bytes");
        assert_eq!(
            ChannelId::parse("secret-value").map_err(|e| e.to_string()),
            Err("Slack channel id must start with C, G or D".to_owned())
        );
    }

    #[test]
    fn a_field_error_names_the_field_and_the_kind() {
        let error = parse_field::<UserId>("user_id", "C0CHAN0001").expect_err("a channel");
        assert_eq!(
            error.to_string(),
            "user_id is invalid: Slack user id must start with U or W"
        );
        assert_eq!(error.error.kind(), IdKind::User);
        assert_eq!(
            parse_field::<ChannelId>("channel_id", "C0CHAN0001").map(String::from),
            Ok("C0CHAN0001".to_owned())
        );
    }

    #[test]
    fn serde_is_the_plain_string_and_validates() {
        let team = TeamId::parse("T0001").expect("valid");
        assert_eq!(
            serde_json::to_value(&team).ok(),
            Some(serde_json::json!("T0001"))
        );
        assert_eq!(
            serde_json::from_str::<TeamId>(r#""T0001""#).ok(),
            Some(team)
        );
        let error = serde_json::from_str::<TeamId>(r#""C0001""#).expect_err("not a team");
        assert!(
            error
                .to_string()
                .contains("Slack team id must start with T"),
            "{error}"
        );
        assert!(serde_json::from_str::<ExternalId>(r#""""#).is_err());
        assert!(serde_json::from_str::<UserId>("42").is_err());
    }

    #[test]
    fn ids_compare_with_strings_and_each_other() {
        let user = UserId::parse("U1").expect("valid");
        assert_eq!(user, "U1");
        assert!(user == *"U1");
        assert_eq!(user.as_str(), "U1");
        assert_eq!(user.as_ref(), "U1");
        assert_eq!("U1".parse::<UserId>(), Ok(user.clone()));
        assert_eq!(UserId::try_from("U1".to_owned()), Ok(user.clone()));
        assert!(UserId::parse("U2").is_ok_and(|u2| user < u2));
    }

    #[test]
    fn only_d_conversations_are_direct_messages() {
        assert!(id::<ChannelId>("D0DM00001").is_direct_message());
        assert!(!id::<ChannelId>("G0GROUP01").is_direct_message());
        assert!(!id::<ChannelId>("C0CHAN001").is_direct_message());
    }
}
