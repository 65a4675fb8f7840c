//! What a step's failure means for its job: retry later, or give up for good.

use secrecy::{ExposeSecret, SecretString};

use crate::domain::{Job, JobKind, TeamId};
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
            TokenError::NotInstalled => StepError::Fail(error.to_string()),
            TokenError::Store(store) => store.into(),
            TokenError::Secrets(secrets) => StepError::Retry(secrets.to_string()),
        }
    }
}

/// What a failed Slack call means for the job: retry, give up, or deal with a dead token.
pub(super) async fn slack_failure(
    error: SlackError,
    team_id: &TeamId,
    token: &SecretString,
    services: &Services,
) -> StepError {
    if error.is_retryable() {
        StepError::Retry(error.to_string())
    } else if error.is_token_dead() {
        on_dead_token(team_id, token, &error, services).await
    } else {
        StepError::Fail(error.to_string())
    }
}

/// Slack rejected the token. A rotated secret may already hold a working one; else the
/// installation is disabled so nobody waits on a dead token.
pub(super) async fn on_dead_token(
    team_id: &TeamId,
    used: &SecretString,
    error: &SlackError,
    services: &Services,
) -> StepError {
    if let Ok(secrets) = services.secrets.refresh().await {
        if let Some(fresh) = &secrets.bot_token {
            if fresh.expose_secret() != used.expose_secret() {
                return StepError::Retry(
                    "the bot token was rotated; retrying with the new one".into(),
                );
            }
        }
    }
    if let Err(disable_error) =
        installation::disable(services, team_id, &error.to_string(), Some(used)).await
    {
        tracing::warn!(error = %disable_error, "could not disable the installation");
    }
    StepError::Fail(format!("the bot token was rejected: {error}"))
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
