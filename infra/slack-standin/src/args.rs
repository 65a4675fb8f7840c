//! Reading method arguments the way Slack does, from JSON bodies (typed values) and
//! form bodies (every value a string, structured ones JSON-encoded).

use serde_json::{Map, Value};

use crate::model::StandinUser;
use crate::web_api::{code, State};

/// A string argument. `null` counts as absent; an array is `invalid_array_arg` ("The
/// method was passed an array as an argument. Please only input valid strings."), any
/// other type `invalid_arguments`.
pub(crate) fn optional_string(
    args: &Map<String, Value>,
    name: &str,
) -> Result<Option<String>, &'static str> {
    match args.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(Value::Array(_)) => Err(code::INVALID_ARRAY_ARG),
        Some(_) => Err(code::INVALID_ARGUMENTS),
    }
}

/// A string argument that must be present and not blank (`missing` otherwise).
pub(crate) fn required_string(
    args: &Map<String, Value>,
    name: &str,
    missing: &'static str,
) -> Result<String, &'static str> {
    optional_string(args, name)?
        .filter(|s| !s.trim().is_empty())
        .ok_or(missing)
}

/// A string argument where blank counts as absent.
pub(crate) fn given_string(
    args: &Map<String, Value>,
    name: &str,
) -> Result<Option<String>, &'static str> {
    Ok(optional_string(args, name)?.filter(|s| !s.trim().is_empty()))
}

/// An integer argument: a JSON integer, or a string of digits (form bodies).
pub(crate) fn optional_integer(
    args: &Map<String, Value>,
    name: &str,
    invalid: &'static str,
) -> Result<Option<i64>, &'static str> {
    match args.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n.as_i64().map(Some).ok_or(invalid),
        Some(Value::String(s)) => s.trim().parse::<i64>().map(Some).map_err(|_| invalid),
        Some(_) => Err(invalid),
    }
}

/// A JSON argument: the value itself (JSON bodies), or a string holding JSON (forms).
pub(crate) fn decode_json_arg(value: &Value) -> Option<Value> {
    match value {
        Value::String(text) => serde_json::from_str(text).ok(),
        other => Some(other.clone()),
    }
}

/// `users`: a JSON array (JSON bodies) or a string holding one (forms, as every
/// official SDK sends it). Each entry is `{"slack_id"}` or
/// `{"external_id", "display_name"[, "avatar_url"]}`; a Slack id the workspace does not
/// know is `user_not_found`.
pub(crate) fn users_arg(state: &State, value: &Value) -> Result<Vec<StandinUser>, &'static str> {
    let Some(Value::Array(entries)) = decode_json_arg(value) else {
        return Err(code::INVALID_ARGUMENTS);
    };
    entries
        .iter()
        .map(|entry| user_entry(state, entry))
        .collect()
}

fn user_entry(state: &State, entry: &Value) -> Result<StandinUser, &'static str> {
    let Value::Object(fields) = entry else {
        return Err(code::INVALID_ARGUMENTS);
    };
    let field = |name| given_string(fields, name);
    let user = StandinUser {
        slack_id: field("slack_id")?,
        external_id: field("external_id")?,
        display_name: field("display_name")?,
        avatar_url: field("avatar_url")?,
    };
    match (&user.slack_id, &user.external_id, &user.display_name) {
        (Some(id), _, _) if !state.knows_user(id) => Err(code::USER_NOT_FOUND),
        (Some(_), _, _) => Ok(user),
        (None, Some(_), Some(_)) => Ok(user),
        _ => Err(code::INVALID_ARGUMENTS),
    }
}

pub(crate) fn has_duplicates(users: &[StandinUser]) -> bool {
    users
        .iter()
        .enumerate()
        .any(|(i, user)| users[..i].iter().any(|u| u.identity() == user.identity()))
}
