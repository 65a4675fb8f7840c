//! `unfurl`: `chat.unfurl` the links of ours in one shared message, registering rooms
//! that were never registered (made outside Slack) on the way.

use sha2::{Digest, Sha256};

use crate::domain::{Call, CallKind, CallState, ChannelId, ExternalId, NewCall, TeamId, UserId};
use crate::flows::installation;
use crate::flows::Services;
use crate::meeting::url_template::display_id;
use crate::slack::api::ChatUnfurl;
use crate::slack::payloads::call_block;
use crate::store::StoreError;

use super::outcome::{on_dead_token, slack_failure, StepError};
use super::register::add_to_slack;

/// Our id for a room first seen as a pasted link: the same link always maps to the
/// same call, so two unfurls of it never register it twice.
pub fn external_id_for_link(url: &str) -> ExternalId {
    let digest = Sha256::digest(url.as_bytes());
    // An invariant, not an input check: `link-` and 32 hex digits, whatever the URL.
    #[allow(clippy::expect_used)]
    ExternalId::parse(&format!("link-{}", hex::encode(&digest[..16])))
        .expect("link- and hex digits make an external id")
}

pub(super) async fn unfurl(
    team_id: &TeamId,
    channel: &ChannelId,
    message_ts: &str,
    user_id: &UserId,
    links: &[String],
    services: &Services,
) -> Result<(), StepError> {
    let token = installation::bot_token(services, team_id).await?;
    let mut unfurls = serde_json::Map::new();
    for url in links {
        if unfurls.contains_key(url) {
            continue;
        }
        let call = match services.store.find_call_by_join_url(url).await? {
            Some(call) => call,
            None => call_for_unknown_room(team_id, channel, user_id, url, services).await?,
        };
        if call.state == CallState::Failed {
            continue;
        }
        let call = if call.slack_call_id.is_none() {
            match add_to_slack(&call, &token, services).await {
                Ok(call) => call,
                Err(error) if error.is_retryable() => {
                    return Err(StepError::Retry(error.to_string()))
                }
                Err(error) if error.is_token_dead() => {
                    return Err(on_dead_token(team_id, &token, &error, services).await)
                }
                Err(error) => {
                    tracing::warn!(%error, "link could not be registered; not unfurled");
                    continue;
                }
            }
        } else {
            call
        };
        if let Some(slack_call_id) = &call.slack_call_id {
            unfurls.insert(
                url.clone(),
                serde_json::json!({"blocks": [call_block(slack_call_id)]}),
            );
        }
    }
    if unfurls.is_empty() {
        return Ok(());
    }
    let request = ChatUnfurl {
        channel: channel.clone(),
        ts: message_ts.to_owned(),
        unfurls,
    };
    match services.slack.chat_unfurl(&token, &request).await {
        Ok(()) => Ok(()),
        Err(error) => Err(slack_failure(error, team_id, &token, services).await),
    }
}

/// A link to a room of ours that was never registered (made outside Slack): it becomes
/// a call created by whoever shared it.
async fn call_for_unknown_room(
    team_id: &TeamId,
    channel: &ChannelId,
    user_id: &UserId,
    url: &str,
    services: &Services,
) -> Result<Call, StepError> {
    let external_unique_id = external_id_for_link(url);
    let call = Call::new(
        NewCall {
            external_unique_id: external_unique_id.clone(),
            team_id: team_id.clone(),
            channel_id: Some(channel.clone()),
            created_by: user_id.clone(),
            kind: CallKind::Video,
            title: None,
            join_url: url.to_owned(),
            desktop_join_url: None,
            external_display_id: Some(display_id(url)),
            response_url: None,
        },
        services.clock.now(),
    );
    match services.store.create_call(&call, &[]).await {
        Ok(()) => Ok(call),
        Err(StoreError::AlreadyExists) => services
            .store
            .get_call(&external_unique_id)
            .await?
            .ok_or_else(|| StepError::Retry("the link's call vanished".into())),
        Err(error) => Err(error.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_link_always_maps_to_the_same_call_and_links_differ() {
        let room = "https://meet.example/room-1";
        let id = external_id_for_link(room);
        assert_eq!(external_id_for_link(room), id);
        assert_ne!(external_id_for_link("https://meet.example/room-2"), id);
        assert!(id.as_str().starts_with("link-"));
        assert_eq!(
            id.as_str().len(),
            "link-".len() + 32,
            "16 bytes of hex: {id}"
        );
    }
}
