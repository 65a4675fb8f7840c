//! `unfurl`: `chat.unfurl` the room links of one share (a posted message, or a link in
//! someone's message composer), registering a call for each room without a live one:
//! a room made outside Slack, or a reused room whose last call has ended.

use crate::domain::{
    Call, CallKind, CallState, ChannelId, ExternalId, NewCall, UnfurlSource, UnfurlTarget,
    UnixSeconds, UserId, Workspace,
};
use crate::flows::installation;
use crate::flows::slack_events::MAX_LINKS_PER_EVENT;
use crate::flows::Services;
use crate::meeting::room::{RoomLink, RoomPattern};
use crate::meeting::url_template::display_id;
use crate::slack::api::ChatUnfurl;
use crate::slack::payloads::call_block;
use crate::store::{modify_call_from, preferred_call, StoreError};

use super::outcome::{on_dead_token, slack_failure, StepError};
use super::registration::{add_to_slack, claim_registration, end_discarded, Claim};

/// One `link_shared` event, as its job holds it.
pub(super) struct Share<'a> {
    /// Where the link was shared: its calls and its token are the only ones used.
    pub workspace: &'a Workspace,
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
    let token = installation::bot_token(services, share.workspace).await?;
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
                    return Err(on_dead_token(share.workspace, &token, &error, services).await)
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
        Err(error) => Err(slack_failure(error, share.workspace, &token, services).await),
    }
}

/// The call a room link shows in the share's workspace: the room's live call there,
/// else a new one created by whoever shared the link (a room shared in several
/// workspaces is a call in each). `None` for a room whose call could not be
/// registered, or whose ids are all taken.
async fn call_for_room(
    share: &Share<'_>,
    room: &RoomLink,
    services: &Services,
) -> Result<Option<Call>, StepError> {
    let workspace = share.workspace;
    let calls = services.store.calls_by_join_url(&room.join_url).await?;
    let (mine, elsewhere): (Vec<Call>, Vec<Call>) =
        calls.into_iter().partition(|call| workspace.owns(call));
    let mut elsewhere: Vec<Call> = elsewhere.into_iter().filter(Call::is_live).collect();
    let call = match preferred_call(mine) {
        Some(call) if call.is_live() => call,
        Some(call) if call.state == CallState::Failed => return Ok(None),
        // None yet, or ended: the room is in use again, as a new call.
        _ => match new_room_call(share, room, &mut elsewhere, services).await? {
            Some(call) => call,
            None => return Ok(None),
        },
    };
    Ok(Some(mark_shared(call, &elsewhere, services).await?))
}

/// A new call of `room` in the share's workspace. `elsewhere` (other workspaces' live
/// calls of the room) grows by any met on the way.
async fn new_room_call(
    share: &Share<'_>,
    room: &RoomLink,
    elsewhere: &mut Vec<Call>,
    services: &Services,
) -> Result<Option<Call>, StepError> {
    let workspace = share.workspace;
    let now = services.clock.now();
    for external_unique_id in room_call_ids(&room.room, workspace.team_id.as_str(), now) {
        let mut call = Call::new(
            NewCall {
                external_unique_id: external_unique_id.clone(),
                workspace: workspace.clone(),
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
        call.room_shared = !elsewhere.is_empty();
        match services.store.create_call(&call, &[]).await {
            Ok(()) => {
                tracing::info!(call = %external_unique_id, "pasted room registered as a new call");
                return Ok(Some(call));
            }
            Err(StoreError::AlreadyExists) => {
                let Some(existing) = services.store.get_call(&external_unique_id).await? else {
                    continue;
                };
                if !existing.is_live() || existing.join_url != room.join_url {
                    continue;
                }
                // Another unfurl of the room in this workspace got there first: its call
                // is this one. Another workspace's is not: the next id is tried.
                if workspace.owns(&existing) {
                    return Ok(Some(existing));
                }
                if !elsewhere
                    .iter()
                    .any(|call| call.external_unique_id == existing.external_unique_id)
                {
                    elsewhere.push(existing);
                }
            }
            Err(error) => return Err(error.into()),
        }
    }
    tracing::warn!(room = %room.room, "every id for the room's new call is taken");
    Ok(None)
}

/// Marks `call` and the room's live calls `elsewhere` as shared across workspaces, so
/// the provider's events for any of them reach all (see `flows::provider_events`).
/// Writes only what is not marked yet; returns `call` as stored.
async fn mark_shared(
    call: Call,
    elsewhere: &[Call],
    services: &Services,
) -> Result<Call, StoreError> {
    if elsewhere.is_empty() {
        return Ok(call);
    }
    let mark = |call: &mut Call| {
        (!call.room_shared).then(|| {
            call.room_shared = true;
            Vec::new()
        })
    };
    for other in elsewhere.iter().filter(|other| !other.room_shared) {
        modify_call_from(services.store.as_ref(), other.clone(), mark).await?;
    }
    if call.room_shared {
        return Ok(call);
    }
    let fallback = call.clone();
    Ok(modify_call_from(services.store.as_ref(), call, mark)
        .await?
        .unwrap_or(fallback))
}

/// The ids a new call in `room` may get, in the order tried: the room's name (what the
/// provider calls the room, so its events reach the call), then, when an earlier call
/// of the room holds that, the name and the time of this registration, then those and
/// the team (another workspace registered the room in the same second). A room name has
/// no `.`, so none can be another room's. Ids stay unique across workspaces.
fn room_call_ids(room: &str, team: &str, now: UnixSeconds) -> Vec<ExternalId> {
    [
        room.to_owned(),
        format!("{room}.{now}"),
        format!("{room}.{now}.{team}"),
    ]
    .into_iter()
    .filter_map(|id| ExternalId::try_from(id).ok())
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_room_is_keyed_by_its_name_then_by_name_and_time() {
        let ids = room_call_ids("team-standup", "T0TEAM0002", 1_795_320_000);
        assert_eq!(
            ids.iter().map(ExternalId::as_str).collect::<Vec<_>>(),
            [
                "team-standup",
                "team-standup.1795320000",
                "team-standup.1795320000.T0TEAM0002"
            ]
        );
    }
}
