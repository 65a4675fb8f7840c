//! Decoding a request body as Slack's Web API does: `application/json` objects and
//! `application/x-www-form-urlencoded` forms, with Slack's codes for the rest.

use serde_json::{Map, Value};

use crate::web_api::code;

/// How the arguments arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BodyKind {
    Empty,
    Json,
    Form,
}

/// A decoded body.
#[derive(Debug)]
pub(crate) struct Body {
    pub args: Map<String, Value>,
    pub kind: BodyKind,
    /// The warning Slack adds to a successful answer about the `Content-Type` charset:
    /// `missing_charset` for JSON without one, `superfluous_charset` for a form with one.
    pub warning: Option<&'static str>,
}

/// The media type of a `Content-Type` header, lower-cased, and whether it named a charset.
fn media_type(content_type: &str) -> Result<(String, bool), &'static str> {
    let mut params = content_type.split(';').map(str::trim);
    let media_type = params.next().unwrap_or_default().to_ascii_lowercase();
    let mut has_charset = false;
    for param in params {
        if let Some((name, value)) = param.split_once('=') {
            if name.trim().eq_ignore_ascii_case("charset") {
                let charset = value.trim().trim_matches('"').to_ascii_lowercase();
                if charset != "utf-8" && charset != "iso-8859-1" {
                    return Err(code::INVALID_CHARSET);
                }
                has_charset = true;
            }
        }
    }
    Ok((media_type, has_charset))
}

pub(crate) fn is_json(content_type: Option<&str>) -> bool {
    content_type
        .and_then(|kind| media_type(kind).ok())
        .is_some_and(|(kind, _)| kind == "application/json")
}

pub(crate) fn parse_body(content_type: Option<&str>, bytes: &[u8]) -> Result<Body, &'static str> {
    let Some(content_type) = content_type else {
        return if bytes.is_empty() {
            Ok(Body {
                args: Map::new(),
                kind: BodyKind::Empty,
                warning: None,
            })
        } else {
            Err(code::MISSING_POST_TYPE)
        };
    };
    let (media_type, has_charset) = media_type(content_type)?;
    let (args, kind, warning) = match media_type.as_str() {
        "application/json" => match serde_json::from_slice::<Value>(bytes) {
            Ok(Value::Object(map)) => (
                map,
                BodyKind::Json,
                (!has_charset).then_some("missing_charset"),
            ),
            Ok(_) => return Err(code::JSON_NOT_OBJECT),
            Err(_) => return Err(code::INVALID_JSON),
        },
        "application/x-www-form-urlencoded" => {
            let pairs: Vec<(String, String)> =
                serde_urlencoded::from_bytes(bytes).map_err(|_| code::INVALID_FORM_DATA)?;
            let args = pairs
                .into_iter()
                .map(|(name, value)| (name, Value::String(value)))
                .collect();
            (
                args,
                BodyKind::Form,
                has_charset.then_some("superfluous_charset"),
            )
        }
        _ => return Err(code::INVALID_POST_TYPE),
    };
    for name in args.keys() {
        check_arg_name(name)?;
    }
    Ok(Body {
        args,
        kind,
        warning,
    })
}

/// Argument names: letters, digits and `_`. A PHP-style array name (`users[0]`) is
/// `invalid_array_arg`; any other odd or very long name `invalid_arg_name`.
fn check_arg_name(name: &str) -> Result<(), &'static str> {
    if name.contains('[') {
        return Err(code::INVALID_ARRAY_ARG);
    }
    let plain = name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if name.is_empty() || name.len() > 128 || !plain {
        return Err(code::INVALID_ARG_NAME);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charset_warnings_follow_the_body_kind() {
        let json = parse_body(Some("application/json"), b"{}").expect("json");
        assert_eq!(json.warning, Some("missing_charset"));
        let json = parse_body(Some("application/json; charset=utf-8"), b"{}").expect("json");
        assert_eq!(json.warning, None);
        let form = parse_body(Some("application/x-www-form-urlencoded"), b"a=1").expect("form");
        assert_eq!((form.kind, form.warning), (BodyKind::Form, None));
        let form = parse_body(
            Some("application/x-www-form-urlencoded; charset=utf-8"),
            b"a=1",
        )
        .expect("form");
        assert_eq!(form.warning, Some("superfluous_charset"));
    }

    #[test]
    fn odd_argument_names_are_refused() {
        let form = Some("application/x-www-form-urlencoded");
        assert_eq!(
            parse_body(form, b"users%5B0%5D=x").map(|b| b.kind),
            Err(code::INVALID_ARRAY_ARG)
        );
        assert_eq!(
            parse_body(form, b"user-name=x").map(|b| b.kind),
            Err(code::INVALID_ARG_NAME)
        );
        assert_eq!(
            parse_body(Some("application/json"), br#"{"a b": 1}"#).map(|b| b.kind),
            Err(code::INVALID_ARG_NAME)
        );
    }
}
