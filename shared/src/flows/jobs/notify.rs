//! `notify_provider`: tell the provider's backend (`PROVIDER_CALLBACK_URL`) about
//! something Slack saw.

use crate::domain::ProviderNotice;
use crate::flows::Services;
use crate::provider::callback::CallbackError;

use super::outcome::StepError;

pub(super) async fn notify_provider(
    payload: &ProviderNotice,
    services: &Services,
) -> Result<(), StepError> {
    match services.provider_callback.notify(payload).await {
        Ok(()) => Ok(()),
        Err(CallbackError::NotConfigured) => {
            tracing::info!("no provider callback configured; nothing to send");
            Ok(())
        }
        Err(error @ CallbackError::Transient(_)) => Err(StepError::Retry(error.to_string())),
        Err(error @ CallbackError::Refused(_)) => Err(StepError::Fail(error.to_string())),
    }
}
