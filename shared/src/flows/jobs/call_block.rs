//! The call block in the conversation where a call was started: through the command's
//! `response_url` (which also works in DMs and in channels the bot is not in), else
//! with `chat.postMessage` (expired or used-up URL, a host we do not post to). Where
//! the bot cannot post either (not in the channel, a DM between other people), the
//! person who started the call is told ephemerally, with the join link.

use secrecy::SecretString;

use super::outcome::{on_dead_token, StepError};
use super::Progress;
use crate::domain::{Call, CallKind, ChannelId, SlackCallId};
use crate::flows::Services;
use crate::slack::api::{ChatPostEphemeral, ChatPostMessage};
use crate::slack::payloads::{call_block, ResponseMessage};
use crate::slack::response_url::check_response_url;
use crate::slack::SlackError;

/// The call's `response_url`, if we may post to it (an allowed host).
pub(super) fn usable_response_url<'a>(call: &'a Call, services: &Services) -> Option<&'a str> {
    let url = call.response_url.as_deref()?;
    match check_response_url(url, &services.config.response_url_hosts) {
        Ok(()) => Some(url),
        Err(error) => {
            tracing::info!(%error, "response_url not used");
            None
        }
    }
}

/// Posts the call block once, for a call started by a command (pasted rooms are
/// unfurled instead). Slack refusing it everywhere is not a failure of the job: the
/// call is registered, joinable and unfurlable, and its starter has the link. What
/// happened is noted in `progress`, for the job to record.
pub(super) async fn post_call_block(
    call: &Call,
    token: &SecretString,
    services: &Services,
    progress: &mut Progress,
) -> Result<(), StepError> {
    let (Some(_), Some(slack_call_id)) = (&call.response_url, &call.slack_call_id) else {
        return Ok(());
    };
    if call.block_posted || call.block_refused {
        return Ok(());
    }
    let text = notification_text(call);
    let mut posted = false;
    if let Some(response_url) = usable_response_url(call, services) {
        let message = ResponseMessage::call_in_channel(slack_call_id, text.clone());
        match services
            .slack
            .post_response_url(response_url, &message)
            .await
        {
            Ok(()) => posted = true,
            Err(error) if error.is_retryable() => return Err(StepError::Retry(error.to_string())),
            Err(error) => tracing::info!(%error, "response_url refused the call block"),
        }
    }
    if !posted {
        let Some(channel) = &call.channel_id else {
            return Err(StepError::Fail(
                "the call has no conversation to post its block to".into(),
            ));
        };
        match post_message(call, channel, slack_call_id, text, token, services).await {
            Ok(()) => posted = true,
            Err(error) if error.is_retryable() => return Err(StepError::Retry(error.to_string())),
            Err(error) if error.is_token_dead() => {
                return Err(on_dead_token(&call.workspace(), token, &error, services).await)
            }
            Err(error) => {
                tracing::warn!(%error, "the bot cannot post the call block here");
                tell_starter(call, channel, &error, token, services).await;
            }
        }
    }
    if posted {
        progress.acks.block_posted = true;
        progress.posted_block = true;
    } else {
        progress.acks.block_refused = true;
    }
    Ok(())
}

async fn post_message(
    call: &Call,
    channel: &ChannelId,
    slack_call_id: &SlackCallId,
    text: String,
    token: &SecretString,
    services: &Services,
) -> Result<(), SlackError> {
    let request = ChatPostMessage {
        channel: channel.clone(),
        text,
        blocks: Some(vec![call_block(slack_call_id)]),
    };
    services.slack.chat_post_message(token, &request).await?;
    tracing::info!(call = %call.external_unique_id, "call block posted with chat.postMessage");
    Ok(())
}

/// Tells the starter, ephemerally, that the call could not be shown here, with the join
/// link. Best effort: Slack may refuse this too (a DM the bot cannot see).
async fn tell_starter(
    call: &Call,
    channel: &ChannelId,
    refusal: &SlackError,
    token: &SecretString,
    services: &Services,
) {
    let request = ChatPostEphemeral {
        channel: channel.clone(),
        user: call.created_by.clone(),
        text: not_shown_text(call, refusal),
        blocks: None,
    };
    if let Err(error) = services.slack.chat_post_ephemeral(token, &request).await {
        tracing::warn!(%error, "could not tell the starter that the call is not shown");
    }
}

/// What the starter reads when the call cannot be shown in the conversation.
fn not_shown_text(call: &Call, refusal: &SlackError) -> String {
    let why = refusal
        .code()
        .map(|code| code.as_str())
        .unwrap_or("refused");
    format!(
        "Your call could not be shown in this conversation ({why}): <{}|join it here>. \
         To have calls appear here, add the Calls app to the conversation.",
        call.join_url
    )
}

/// The text of the call block's message (what notifications show).
pub(super) fn notification_text(call: &Call) -> String {
    let what = match call.kind {
        CallKind::Video => "a call",
        CallKind::Audio => "a phone call",
    };
    match &call.title {
        Some(title) => format!("<@{}> started {what}: {title}", call.created_by),
        None => format!("<@{}> started {what}", call.created_by),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ids::id;
    use crate::domain::NewCall;
    use crate::slack::ApiErrorCode;

    fn call() -> Call {
        Call::new(
            NewCall {
                external_unique_id: id("c1"),
                workspace: crate::domain::Workspace::team(id("T1")),
                channel_id: Some(id("C1")),
                created_by: id("U1"),
                kind: CallKind::Video,
                title: Some("Standup".into()),
                join_url: "https://meet.example/c1".into(),
                desktop_join_url: None,
                external_display_id: None,
                response_url: None,
            },
            1_000,
        )
    }

    #[test]
    fn the_notification_names_the_starter_the_kind_and_the_title() {
        let mut call = call();
        assert_eq!(notification_text(&call), "<@U1> started a call: Standup");
        call.kind = CallKind::Audio;
        call.title = None;
        assert_eq!(notification_text(&call), "<@U1> started a phone call");
    }

    #[test]
    fn the_starter_gets_the_join_link_and_the_reason() {
        let refusal = SlackError::Api {
            method: "chat.postMessage",
            code: ApiErrorCode::NotInChannel,
        };
        let text = not_shown_text(&call(), &refusal);
        assert!(
            text.contains("<https://meet.example/c1|join it here>"),
            "{text}"
        );
        assert!(text.contains("(not_in_channel)"), "{text}");
    }
}
