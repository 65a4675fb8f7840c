//! `register_call`: `calls.add`, then the call block in the conversation, then whatever
//! arrived meanwhile. When Slack refuses for good, the person who started the call is
//! told why in plain words.

use secrecy::SecretString;

use crate::domain::{Call, CallState, CallUser, ExternalId};
use crate::flows::installation::{self, TokenError, REINSTALL_MESSAGE};
use crate::flows::Services;
use crate::metrics;
use crate::slack::api::CallsAdd;
use crate::slack::payloads::ResponseMessage;
use crate::slack::{ApiErrorCode, SlackError};
use crate::store::modify_call_from;

use super::call_block::{post_call_block, usable_response_url};
use super::outcome::{self, StepError};
use super::sync::sync_call;
use super::Progress;

pub(super) async fn register_call(
    external_unique_id: &ExternalId,
    services: &Services,
    progress: &mut Progress,
) -> Result<(), StepError> {
    let Some(call) = services.store.get_call(external_unique_id).await? else {
        return Err(StepError::Fail("the call no longer exists".into()));
    };
    progress.call = Some(call.clone());
    if call.slack_call_id.is_none() && call.state != CallState::Registering {
        tracing::info!(state = ?call.state, "call ended or failed before registration; nothing to do");
        return Ok(());
    }
    let token = match installation::bot_token(services, &call.team_id).await {
        Ok(token) => token,
        Err(TokenError::NotInstalled) => {
            fail_call(&call, REINSTALL_MESSAGE, "app not installed", services).await;
            return Err(StepError::Fail(
                "the app is not installed in this workspace".into(),
            ));
        }
        Err(error) => return Err(error.into()),
    };

    let call = if call.slack_call_id.is_none() {
        match add_to_slack(&call, &token, services).await {
            Ok(call) => call,
            Err(error) => {
                return Err(explain_registration_failure(&call, error, &token, services).await)
            }
        }
    } else {
        call
    };
    progress.call = Some(call.clone());
    post_call_block(&call, &token, services, progress).await?;
    // Participants or an end may have arrived while the call was registering. The
    // block's record must not wait for them: a repeated post would show twice.
    if progress
        .call_as_shown()
        .is_some_and(|shown| !shown.pending_sync().is_empty())
    {
        progress.record_now(services).await?;
    }
    sync_call(&call.external_unique_id, services, progress).await
}

/// `calls.add`, then records Slack's id on the call.
///
/// Slack refuses the whole call when one of its `users` is refused (`user_not_found`
/// for a deleted user, say): it is then added without them, and the sync that follows
/// adds them one by one, leaving out only the one Slack refuses.
pub(super) async fn add_to_slack(
    call: &Call,
    token: &SecretString,
    services: &Services,
) -> Result<Call, SlackError> {
    let mut present: Vec<CallUser> = call.showable_participants().cloned().collect();
    let mut request = CallsAdd {
        external_unique_id: call.external_unique_id.clone(),
        join_url: call.join_url.clone(),
        created_by: Some(call.created_by.clone()),
        date_start: Some(call.date_start),
        desktop_app_join_url: call.desktop_join_url.clone(),
        external_display_id: call.external_display_id.clone(),
        title: call.title.clone(),
        users: (!present.is_empty()).then_some(present.clone()),
    };
    let added = match services.slack.calls_add(token, &request).await {
        // A definite refusal: Slack registered nothing, so adding it again cannot
        // register it twice.
        Err(error) if error.is_about_one_user() && request.users.is_some() => {
            tracing::info!(%error, "calls.add refused a participant; adding the call without them");
            request.users = None;
            present.clear();
            services.slack.calls_add(token, &request).await?
        }
        answer => answer?,
    };
    tracing::info!(slack_call_id = %added.id, "call registered in Slack");
    metrics::emit(metrics::call_registered(&call.team_id));
    // Written at once, on the copy in hand: a repeated calls.add would register twice.
    let recorded = modify_call_from(services.store.as_ref(), call.clone(), |c| {
        if c.slack_call_id.is_some() {
            return None;
        }
        c.mark_registered(added.id.clone());
        // Whoever was in the call when it was added is shown already.
        c.acknowledge_added(&present);
        Some(Vec::new())
    })
    .await;
    match recorded {
        Ok(Some(call)) => Ok(call),
        Ok(None) => Err(SlackError::InvalidResponse {
            method: "calls.add",
            reason: "the call vanished while it was being registered".into(),
        }),
        // Slack has the call but its id could not be recorded. The job is retried,
        // which repeats `calls.add` with the same external_unique_id: the narrowest
        // window left without a Slack lookup by external id.
        Err(error) => Err(SlackError::Transport {
            method: "calls.add",
            reason: format!("registered, but recording the id failed: {error}"),
        }),
    }
}

/// Turns a failed registration into the job's outcome, telling the user in plain words
/// when retrying cannot help.
async fn explain_registration_failure(
    call: &Call,
    error: SlackError,
    token: &SecretString,
    services: &Services,
) -> StepError {
    let message = if error.is_token_dead() {
        REINSTALL_MESSAGE.to_owned()
    } else {
        plain_words(&error)
    };
    let reason = error.to_string();
    let outcome = outcome::slack_failure(error, &call.team_id, token, services).await;
    if matches!(outcome, StepError::Fail(_)) {
        fail_call(call, &message, &reason, services).await;
    }
    outcome
}

/// What a person should read when Slack refuses a call for good.
fn plain_words(error: &SlackError) -> String {
    let code = error
        .code()
        .map(ApiErrorCode::as_str)
        .unwrap_or("unknown_error");
    let what = match code {
        "not_authorized" => "Slack does not allow this app to start a call in this conversation.",
        "invalid_created_by" | "user_not_found" => {
            "Slack did not recognise the person who started the call."
        }
        "missing_scope" | "no_permission" | "access_denied" => {
            "The calls app is missing a permission it needs. Ask an admin to reinstall it."
        }
        "team_access_not_granted" | "enterprise_is_restricted" => {
            "The calls app has not been granted access to this workspace."
        }
        "ekm_access_denied" => "Your administrators have suspended posting calls.",
        _ => "Slack refused to register the call.",
    };
    format!("{what} ({code})")
}

/// Marks the call failed and tells its starter why (ephemerally, through response_url).
pub(super) async fn fail_call(call: &Call, message: &str, reason: &str, services: &Services) {
    let reason = reason.to_owned();
    metrics::emit(metrics::call_failed(&call.team_id, &reason));
    if let Err(error) = modify_call_from(services.store.as_ref(), call.clone(), |c| {
        (c.failure.is_none() && c.slack_call_id.is_none()).then(|| {
            c.mark_failed(reason.clone());
            Vec::new()
        })
    })
    .await
    {
        tracing::warn!(%error, "could not mark the call failed");
    }
    if let Some(response_url) = usable_response_url(call, services) {
        if let Err(error) = services
            .slack
            .post_response_url(response_url, &ResponseMessage::ephemeral(message))
            .await
        {
            tracing::warn!(%error, "could not tell the user why the call failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(code: &str) -> SlackError {
        SlackError::Api {
            method: "calls.add",
            code: ApiErrorCode::parse(code),
        }
    }

    #[test]
    fn refusals_are_explained_with_their_code() {
        assert_eq!(
            plain_words(&refused("not_authorized")),
            "Slack does not allow this app to start a call in this conversation. (not_authorized)"
        );
        assert!(plain_words(&refused("missing_scope")).contains("reinstall"));
        assert_eq!(
            plain_words(&refused("brand_new_error")),
            "Slack refused to register the call. (brand_new_error)"
        );
        let not_an_api_error = SlackError::Http {
            method: "calls.add",
            status: 400,
        };
        assert!(plain_words(&not_an_api_error).ends_with("(unknown_error)"));
    }
}
