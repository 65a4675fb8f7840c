//! `unfurl`: `chat.unfurl` the room links of one share (a posted message, or a link in
//! someone's message composer), registering a call for each room without a live one:
//! a room made outside Slack, or a reused room whose last call has ended.

use crate::domain::{
    Call, CallKind, CallState, ChannelId, ExternalId, NewCall, TeamId, UnfurlSource, UnfurlTarget,
    UnixSeconds, UserId, Workspace,
};
use crate::flows::installation;
use crate::flows::slack_events::MAX_LINKS_PER_EVENT;
use crate::flows::Services;
use crate::meeting::room::{RoomLink, RoomPattern};
use crate::meeting::url_template::display_id;
use crate::slack::api::ChatUnfurl;
use crate::slack::payloads::call_block;
use crate::store::StoreError;

use super::outcome::{on_dead_token, slack_failure, StepError};
use super::registration::{add_to_slack, claim_registration, end_discarded, Claim};

/// One `link_shared` event, as its job holds it.
pub(super) struct Share<'a> {
    pub team_id: &'a TeamId,
    /// Unset for a link still in the message composer.
    pub channel: Option<&'a ChannelId>,
    pub message_ts: &'a str,
    pub unfurl_id: Option<&'a str>,
    pub source: Option<UnfurlSource>,
    pub user_id: &'a UserId,
    pub links: &'a [String],
    /// The job's id: it claims the registration of a room's call.
    pub job_id: &'a str,
}

pub(super) async fn unfurl(share: Share<'_>, services: &Services) -> Result<(), StepError> {
    let Some(target) = UnfurlTarget::of_event(
        share.channel,
        share.message_ts,
        share.unfurl_id,
        share.source,
    ) else {
        return Err(StepError::Fail(
            "the share names nothing chat.unfurl can reach".into(),
        ));
    };
    let Some(pattern) = RoomPattern::from_template(&services.config.join_url_template) else {
        return Ok(());
    };
    let team_id = share.team_id;
    let workspace = Workspace::team(team_id.clone());
    let token = installation::bot_token(services, &workspace).await?;
    let mut unfurls = serde_json::Map::new();
    // Jobs written before the ack path checked the links are checked here too.
    for url in share.links.iter().take(MAX_LINKS_PER_EVENT) {
        if unfurls.contains_key(url) {
            continue;
        }
        let Some(room) = pattern.room_link(url, &services.config.unfurl_domains) else {
            continue;
        };
        let Some(call) = call_for_room(&share, &room, services).await? else {
            continue;
        };
        let call = match claim_registration(call, share.job_id, services).await? {
            Claim::Registered(call) => call,
            Claim::NotLive(_) => continue,
            Claim::Ours(call) => match add_to_slack(&call, &token, services).await {
                Ok(call) => call,
                Err(error) if error.is_retryable() => {
                    return Err(StepError::Retry(error.to_string()))
                }
                Err(error) if error.is_token_dead() => {
                    return Err(on_dead_token(&workspace, &token, &error, services).await)
                }
                Err(error) => {
                    tracing::warn!(%error, "room could not be registered; not unfurled");
                    continue;
                }
            },
        };
        let call = end_discarded(call, &token, services).await?;
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
    let request = ChatUnfurl { target, unfurls };
    match services.slack.chat_unfurl(&token, &request).await {
        Ok(()) => Ok(()),
        Err(error) => Err(slack_failure(error, &workspace, &token, services).await),
    }
}

/// The call a room link shows: the room's live call, else a new one created by whoever
/// shared the link. `None` for a room whose call could not be registered, or whose ids
/// are all taken.
async fn call_for_room(
    share: &Share<'_>,
    room: &RoomLink,
    services: &Services,
) -> Result<Option<Call>, StepError> {
    match services.store.find_call_by_join_url(&room.join_url).await? {
        Some(call) if call.is_live() => return Ok(Some(call)),
        Some(call) if call.state == CallState::Failed => return Ok(None),
        // Ended: the room is in use again, as a new call.
        _ => {}
    }
    let now = services.clock.now();
    for external_unique_id in room_call_ids(&room.room, now) {
        let call = Call::new(
            NewCall {
                external_unique_id: external_unique_id.clone(),
                workspace: Workspace::team(share.team_id.clone()),
                channel_id: share.channel.cloned(),
                created_by: share.user_id.clone(),
                kind: CallKind::Video,
                title: None,
                join_url: room.join_url.clone(),
                desktop_join_url: None,
                external_display_id: Some(display_id(&room.room)),
                response_url: None,
            },
            now,
        );
        match services.store.create_call(&call, &[]).await {
            Ok(()) => {
                tracing::info!(call = %external_unique_id, "pasted room registered as a new call");
                return Ok(Some(call));
            }
            Err(StoreError::AlreadyExists) => {
                // Another unfurl of the room got there first: its call is this one.
                if let Some(existing) = services.store.get_call(&external_unique_id).await? {
                    if existing.is_live() && existing.join_url == room.join_url {
                        return Ok(Some(existing));
                    }
                }
            }
            Err(error) => return Err(error.into()),
        }
    }
    tracing::warn!(room = %room.room, "every id for the room's new call is taken");
    Ok(None)
}

/// The ids a new call in `room` may get, in the order tried: the room's name (what the
/// provider calls the room, so its events reach the call), then, when an earlier call
/// of the room holds that, the name and the time of this registration. A room name has
/// no `.`, so neither can be another room's.
fn room_call_ids(room: &str, now: UnixSeconds) -> Vec<ExternalId> {
    [room.to_owned(), format!("{room}.{now}")]
        .into_iter()
        .filter_map(|id| ExternalId::try_from(id).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_room_is_keyed_by_its_name_then_by_name_and_time() {
        let ids = room_call_ids("team-standup", 1_795_320_000);
        assert_eq!(
            ids.iter().map(ExternalId::as_str).collect::<Vec<_>>(),
            ["team-standup", "team-standup.1795320000"]
        );
    }
}
