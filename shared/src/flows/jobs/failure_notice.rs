//! Telling a call's starter that it failed: through the command's `response_url`, else
//! ephemerally in the conversation. The message waits on the call until told, so after
//! an outage the sweep's repair tells them: never silence.

use crate::domain::Call;
use crate::flows::installation::{self, TokenError};
use crate::flows::Services;
use crate::slack::api::ChatPostEphemeral;
use crate::slack::payloads::ResponseMessage;
use crate::store::modify_call_from;

use super::call_block::usable_response_url;
use super::outcome::StepError;

/// Whether the starter has been told.
#[derive(Debug)]
pub(super) enum Told {
    Yes,
    /// Nowhere to tell them (no conversation, the bot refused for good).
    Never,
    /// Not now (Slack unavailable): the reason.
    Later(String),
}

/// Tells the starter of `call` (as stored) the failure waiting on it, and records that
/// they were told. `Retry` when Slack could not be reached.
pub(super) async fn tell_failure(call: Call, services: &Services) -> Result<(), StepError> {
    let Some(message) = call.reconciliation.untold_failure.clone() else {
        return Ok(());
    };
    match tell(&call, &message, services).await {
        Told::Yes => tracing::info!("the starter was told that the call failed"),
        Told::Never => tracing::warn!("the starter cannot be told that the call failed"),
        Told::Later(reason) => {
            return Err(StepError::Retry(format!(
                "the starter could not be told that the call failed yet: {reason}"
            )))
        }
    }
    modify_call_from(services.store.as_ref(), call, |c| {
        c.acknowledge_failure_told().then(Vec::new)
    })
    .await?;
    Ok(())
}

/// Sends `message` to the starter of `call`: `response_url` first (the command's own
/// conversation, also where the bot is not a member), else `chat.postEphemeral`
/// (the URL expires after 30 minutes; an outage may outlast it).
pub(super) async fn tell(call: &Call, message: &str, services: &Services) -> Told {
    let mut later = None;
    if let Some(url) = usable_response_url(call, services) {
        match services
            .slack
            .post_response_url(url, &ResponseMessage::ephemeral(message))
            .await
        {
            Ok(()) => return Told::Yes,
            Err(error) if error.is_retryable() => later = Some(error.to_string()),
            Err(error) => tracing::info!(%error, "response_url refused the failure notice"),
        }
    }
    let not_told = |later: Option<String>| later.map_or(Told::Never, Told::Later);
    let Some(channel) = &call.channel_id else {
        return not_told(later);
    };
    let token = match installation::bot_token(services, &call.workspace()).await {
        Ok(token) => token,
        Err(TokenError::NotInstalled) => return not_told(later),
        Err(error) => return Told::Later(error.to_string()),
    };
    let request = ChatPostEphemeral {
        channel: channel.clone(),
        user: call.created_by.clone(),
        text: message.to_owned(),
        blocks: None,
    };
    match services.slack.chat_post_ephemeral(&token, &request).await {
        Ok(()) => Told::Yes,
        Err(error) if error.is_retryable() => Told::Later(error.to_string()),
        Err(error) => {
            tracing::info!(%error, "chat.postEphemeral refused the failure notice");
            not_told(later)
        }
    }
}
