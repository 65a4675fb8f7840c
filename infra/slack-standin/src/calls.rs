//! `calls.add`, `calls.update`, `calls.info`, `calls.end` and
//! `calls.participants.add` / `.remove`.

use serde_json::{json, Map, Value};

use crate::args::{
    given_string, has_duplicates, optional_integer, optional_string, required_string, users_arg,
};
use crate::model::StandinCall;
use crate::web_api::{code, object, require_http_url, Answer, State, TokenInfo, TokenKind};

impl State {
    pub(crate) fn calls_add(&mut self, caller: &TokenInfo, args: &Map<String, Value>) -> Answer {
        let external_unique_id =
            required_string(args, "external_unique_id", code::INVALID_ARGUMENTS)?;
        let join_url = required_string(args, "join_url", code::INVALID_ARGUMENTS)?;
        require_http_url(&join_url)?;
        let desktop_app_join_url = optional_string(args, "desktop_app_join_url")?;
        let external_display_id = optional_string(args, "external_display_id")?;
        let title = optional_string(args, "title")?;
        let created_by = optional_string(args, "created_by")?;
        match (&created_by, caller.kind) {
            // "When this method is called with a user token, created_by is optional …
            // Otherwise, the field is required."
            (None, TokenKind::Bot) => return Err(code::INVALID_ARGUMENTS),
            (Some(user), _) if !self.knows_user(user) => return Err(code::INVALID_CREATED_BY),
            _ => {}
        }
        let date_start = match optional_integer(args, "date_start", code::INVALID_START_TIME)? {
            Some(start) if start < 0 => return Err(code::INVALID_START_TIME),
            Some(start) => start,
            None => self.unix_now(),
        };
        let participants = match args.get("users").filter(|v| !v.is_null()) {
            Some(users) => users_arg(self, users)?,
            None => Vec::new(),
        };
        if has_duplicates(&participants) {
            return Err(code::BAD_USERS);
        }

        self.next_call += 1;
        let mut call = StandinCall {
            id: format!("R{:09}", self.next_call),
            team_id: caller.team_id.clone(),
            external_unique_id,
            join_url,
            desktop_app_join_url,
            external_display_id,
            title,
            created_by,
            date_start,
            date_end: None,
            duration: None,
            participants: Vec::new(),
            all_participants: Vec::new(),
            channels: Vec::new(),
        };
        for user in participants {
            call.join(user);
        }
        let answer = json!({ "call": call.to_json() });
        self.calls.insert(call.id.clone(), call);
        Ok(object(answer))
    }

    pub(crate) fn calls_update(&mut self, caller: &TokenInfo, args: &Map<String, Value>) -> Answer {
        let title = optional_string(args, "title")?;
        let join_url = optional_string(args, "join_url")?;
        if let Some(url) = &join_url {
            require_http_url(url)?;
        }
        let desktop_app_join_url = optional_string(args, "desktop_app_join_url")?;
        let call = self.own_call(caller, args)?;
        // The Java SDK's live test expects an error for an update naming no field.
        if title.is_none() && join_url.is_none() && desktop_app_join_url.is_none() {
            return Err(code::INVALID_ARGUMENTS);
        }
        if title.is_some() {
            call.title = title;
        }
        if let Some(url) = join_url {
            call.join_url = url;
        }
        if desktop_app_join_url.is_some() {
            call.desktop_app_join_url = desktop_app_join_url;
        }
        Ok(object(json!({ "call": call.to_json() })))
    }

    pub(crate) fn calls_info(&mut self, caller: &TokenInfo, args: &Map<String, Value>) -> Answer {
        let call = self.own_call(caller, args)?;
        Ok(object(json!({ "call": call.to_json() })))
    }

    pub(crate) fn calls_end(&mut self, caller: &TokenInfo, args: &Map<String, Value>) -> Answer {
        let duration = match optional_integer(args, "duration", code::INVALID_ARGUMENTS)? {
            Some(d) if d < 0 => return Err(code::INVALID_ARGUMENTS),
            other => other,
        };
        let now = self.unix_now();
        let call = self.own_call(caller, args)?;
        if call.ended() {
            // Slack's documented answer for an ended call keeps `ok` true.
            return Ok(object(json!({ "error": code::INACTIVE_CALL })));
        }
        call.date_end = Some(now);
        call.duration = Some(duration.unwrap_or_else(|| (now - call.date_start).max(0)));
        Ok(object(json!({ "call": call.to_json() })))
    }

    /// `calls.participants.add` (`add`) or `.remove`. A user already in (or not in)
    /// the call gets Slack's documented `{"ok":true,"error":"bad_users"}`, and then the
    /// stand-in applies none of the request (the stricter reading; see the README).
    pub(crate) fn participants_change(
        &mut self,
        caller: &TokenInfo,
        args: &Map<String, Value>,
        add: bool,
    ) -> Answer {
        let id = given_string(args, "id")?.ok_or(code::MISSING_ARGUMENT)?;
        let users = args
            .get("users")
            .filter(|v| !v.is_null())
            .ok_or(code::MISSING_ARGUMENT)?;
        let users = users_arg(self, users)?;
        if users.is_empty() {
            return Err(code::INVALID_ARGUMENTS);
        }
        let call = self.call_of_team(caller, &id)?;
        if call.ended() {
            return Err(code::INACTIVE_CALL);
        }
        let mut after = call.clone();
        for user in users {
            let position = after
                .participants
                .iter()
                .position(|present| present.identity() == user.identity());
            match (add, position) {
                (true, None) => after.join(user),
                (false, Some(position)) => {
                    after.participants.remove(position);
                }
                (true, Some(_)) | (false, None) => {
                    return Ok(object(json!({ "error": code::BAD_USERS })));
                }
            }
        }
        *call = after;
        Ok(object(json!({ "call": call.to_json() })))
    }

    /// The call named by the `id` argument, if this team registered it.
    fn own_call(
        &mut self,
        caller: &TokenInfo,
        args: &Map<String, Value>,
    ) -> Result<&mut StandinCall, &'static str> {
        let id = required_string(args, "id", code::INVALID_ARGUMENTS)?;
        self.call_of_team(caller, &id)
    }

    fn call_of_team(
        &mut self,
        caller: &TokenInfo,
        id: &str,
    ) -> Result<&mut StandinCall, &'static str> {
        // A call of another workspace is answered as one that does not exist.
        let owner = self
            .calls
            .get(id)
            .map(|call| call.team_id.clone())
            .ok_or(code::INVALID_CALL_ID)?;
        if !self.covers(caller, &owner) {
            return Err(code::INVALID_CALL_ID);
        }
        self.calls.get_mut(id).ok_or(code::INVALID_CALL_ID)
    }
}
