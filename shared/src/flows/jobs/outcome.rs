//! What a step's failure means for its job: retry later, or give up for good.

use secrecy::SecretString;

use crate::domain::{Job, JobKind, Workspace};
use crate::flows::installation::{self, TokenError};
use crate::flows::Services;
use crate::slack::SlackError;
use crate::store::StoreError;

use super::register;

/// Why a job step stopped.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum StepError {
    Retry(String),
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
    if error.is_retryable() {
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

/// After the last attempt: make sure nobody waits for a call that will never come.
pub(super) async fn give_up(job: &Job, services: &Services) {
    if let JobKind::RegisterCall { external_unique_id } = &job.kind {
        if let Ok(Some(call)) = services.store.get_call(external_unique_id).await {
            if call.slack_call_id.is_none() {
                register::fail_call(
                    &call,
                    "Slack did not answer in time, so the call could not be shared. Please try again.",
                    "registration kept failing",
                    services,
                )
                .await;
            }
        }
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
