//! `register_call`: `calls.add` (under the call's registration claim), then the call block in the conversation, then whatever
//! arrived meanwhile. When Slack refuses for good, the person who started the call is
//! told why in plain words.

use secrecy::SecretString;

use crate::domain::{Call, CallState, ExternalId};
use crate::flows::installation::{self, TokenError, REINSTALL_MESSAGE};
use crate::flows::Services;
use crate::metrics;
use crate::slack::{ApiErrorCode, SlackError};
use crate::store::modify_call_from;

use super::call_block::post_call_block;
use super::failure_notice::{tell, tell_failure, Told};
use super::outcome::{self, StepError};
use super::participants::Scope;
use super::registration::{add_to_slack, claim_registration, end_discarded, Claim};
use super::sync::sync_call;
use super::Progress;

pub(super) async fn register_call(
    external_unique_id: &ExternalId,
    job_id: &str,
    services: &Services,
    progress: &mut Progress,
) -> Result<(), StepError> {
    let Some(call) = services.store.get_call(external_unique_id).await? else {
        return Err(StepError::Fail("the call no longer exists".into()));
    };
    progress.call = Some(call.clone());
    if call.reconciliation.untold_failure.is_some() {
        return tell_failure(call, services).await;
    }
    if call.slack_call_id.is_none() && call.state != CallState::Registering {
        tracing::info!(state = ?call.state, "call ended or failed before registration; nothing to do");
        return Ok(());
    }
    let token = match installation::bot_token(services, &call.workspace()).await {
        Ok(token) => token,
        Err(TokenError::NotInstalled) => {
            fail_call(&call, REINSTALL_MESSAGE, "app not installed", services).await;
            return Err(StepError::Fail(
                "the app is not installed in this workspace".into(),
            ));
        }
        Err(error) => return Err(error.into()),
    };

    let call = match claim_registration(call, job_id, services).await? {
        Claim::Registered(call) => call,
        Claim::NotLive(call) => {
            tracing::info!(state = ?call.state, "call ended or failed before registration; nothing to do");
            return Ok(());
        }
        Claim::Ours(call) => match add_to_slack(&call, &token, services).await {
            Ok(call) => call,
            Err(error) => {
                return Err(explain_registration_failure(&call, error, &token, services).await)
            }
        },
    };
    let call = end_discarded(call, &token, services).await?;
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
    // People who joined while it registered are added now, all of them.
    let scope = if call.participant_count > 0 {
        Scope::All
    } else {
        Scope::Named(&[], None)
    };
    sync_call(&call.external_unique_id, scope, services, progress).await
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
    let outcome = outcome::slack_failure(error, &call.workspace(), token, services).await;
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

/// Marks the call failed and tells its starter why (ephemerally). The message waits on
/// the call until they are told: the sweep's repair tells them after an outage.
pub(super) async fn fail_call(call: &Call, message: &str, reason: &str, services: &Services) {
    let mut marked = false;
    let stored = modify_call_from(services.store.as_ref(), call.clone(), |c| {
        marked = c.failure.is_none() && c.slack_call_id.is_none();
        marked.then(|| {
            c.mark_failed(reason);
            c.owe_failure_notice(message);
            Vec::new()
        })
    })
    .await;
    if marked {
        metrics::emit(metrics::call_failed(&call.team_id, reason));
    }
    match stored {
        Ok(Some(stored)) => {
            if let Err(error) = tell_failure(stored, services).await {
                tracing::warn!(?error, "the starter will be told on the call's repair");
            }
        }
        Ok(None) => {}
        Err(error) => {
            tracing::warn!(%error, "could not mark the call failed");
            if let Told::Later(why) = tell(call, message, services).await {
                tracing::warn!(%why, "could not tell the user why the call failed");
            }
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
