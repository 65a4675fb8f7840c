//! What a step's failure means for its job: retry later, or give up for good.

use secrecy::SecretString;

use crate::domain::{Job, JobKind, Workspace};
use crate::flows::installation::{self, TokenError};
use crate::flows::Services;
use crate::slack::{RetryClass, SlackError};
use crate::store::{modify_call_from, StoreError};

use super::register;

/// Why a job step stopped.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum StepError {
    Retry(String),
    /// Retry, but not before this wait (Slack's `Retry-After`, longer than a run's budget).
    RetryAfter(String, std::time::Duration),
    Fail(String),
}

impl From<StoreError> for StepError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Malformed(reason) => StepError::Fail(format!("malformed item: {reason}")),
            other => StepError::Retry(other.to_string()),
        }
    }
}

impl From<TokenError> for StepError {
    fn from(error: TokenError) -> Self {
        match error {
            TokenError::Store(store) => store.into(),
            error if error.is_retryable() => StepError::Retry(error.to_string()),
            error => StepError::Fail(error.to_string()),
        }
    }
}

/// What a failed Slack call means for the job: retry, give up, or deal with a dead token.
pub(super) async fn slack_failure(
    error: SlackError,
    workspace: &Workspace,
    token: &SecretString,
    services: &Services,
) -> StepError {
    if let RetryClass::RateLimited {
        retry_after: Some(wait),
    } = error.class()
    {
        StepError::RetryAfter(error.to_string(), wait)
    } else if error.is_retryable() {
        StepError::Retry(error.to_string())
    } else if error.is_token_dead() {
        on_dead_token(workspace, token, &error, services).await
    } else {
        StepError::Fail(error.to_string())
    }
}

/// Slack rejected the token. A newer one may be there already (refreshed, rotated in
/// the secret): retry with it; else the installation is disabled so nobody waits on a
/// dead token.
pub(super) async fn on_dead_token(
    workspace: &Workspace,
    used: &SecretString,
    error: &SlackError,
    services: &Services,
) -> StepError {
    match installation::token_rejected(services, workspace, used, error).await {
        Ok(true) => {
            StepError::Retry("the bot token was replaced; retrying with the new one".into())
        }
        Ok(false) => StepError::Fail(format!("the bot token was rejected: {error}")),
        Err(token_error) => {
            tracing::warn!(error = %token_error, "could not disable the installation");
            StepError::Fail(format!("the bot token was rejected: {error}"))
        }
    }
}

/// After the last attempt: make sure nobody waits for a call that will never come. An
/// unregistered call fails and its starter is told; a registered one stops owing what
/// its registration could not finish (its block, ending a discarded Slack call).
pub(super) async fn give_up(job: &Job, services: &Services) {
    let JobKind::RegisterCall { external_unique_id } = &job.kind else {
        return;
    };
    let call = match services.store.get_call(external_unique_id).await {
        Ok(Some(call)) => call,
        Ok(None) => return,
        Err(error) => {
            tracing::warn!(%error, "could not read the call given up on");
            return;
        }
    };
    if call.slack_call_id.is_none() {
        register::fail_call(
            &call,
            "Slack did not answer in time, so the call could not be shared. Please try again.",
            "registration kept failing",
            services,
        )
        .await;
        return;
    }
    let settled = modify_call_from(services.store.as_ref(), call, |c| {
        let mut changed = false;
        if c.owes_block() {
            tracing::warn!("the call block is given up on");
            changed |= c.acknowledge_block_refused();
        }
        for slack_call_id in c.discarded_slack_call_ids.clone() {
            tracing::error!(%slack_call_id, "a discarded Slack call is given up on, not ended");
            changed |= c.forget_discarded(&slack_call_id);
        }
        changed.then(Vec::new)
    })
    .await;
    if let Err(error) = settled {
        tracing::warn!(%error, "could not record what was given up on");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secrets::SecretsError;

    #[test]
    fn store_failures_are_retried_unless_the_item_is_unreadable() {
        assert!(matches!(
            StepError::from(StoreError::Unavailable("timeout".into())),
            StepError::Retry(_)
        ));
        assert!(matches!(
            StepError::from(StoreError::Conflict),
            StepError::Retry(_)
        ));
        assert_eq!(
            StepError::from(StoreError::Malformed("CALL#c1".into())),
            StepError::Fail("malformed item: CALL#c1".into())
        );
    }

    #[test]
    fn a_missing_installation_fails_and_a_secrets_outage_retries() {
        assert!(matches!(
            StepError::from(TokenError::NotInstalled),
            StepError::Fail(_)
        ));
        assert!(matches!(
            StepError::from(TokenError::Store(StoreError::Malformed("x".into()))),
            StepError::Fail(_)
        ));
        assert!(matches!(
            StepError::from(TokenError::Secrets(SecretsError::Fetch {
                secret_id: "slack".into(),
                reason: "down".into(),
            })),
            StepError::Retry(_)
        ));
    }
}
