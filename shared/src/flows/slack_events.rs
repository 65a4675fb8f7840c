//! Slack events, acknowledged in one store write: the receipt that makes each
//! `event_id` count once, together with the job that does the work after the ack
//! (Slack wants `link_shared` acknowledged before `chat.unfurl`).

use crate::config::Config;
use crate::domain::{EventReceipt, Job, JobKind, UnfurlSource, UnfurlTarget};
use crate::meeting::room::RoomPattern;
use crate::slack::payloads::{Event, EventCallback, LinkLocation, SharedLink};
use crate::store::{ReceiptOutcome, StoreError};

use super::installation::TokenError;
use super::tenant::{self, Admission, Origin};
use super::Services;

/// Room links one `link_shared` event may unfurl.
pub const MAX_LINKS_PER_EVENT: usize = 5;

#[derive(Debug, PartialEq, Eq)]
pub enum EventAck {
    /// Recorded with its job; the worker takes it from here.
    Recorded,
    /// Seen before (a Slack retry): nothing done.
    Duplicate,
    /// Nothing for us to do (an event we do not handle, links not ours, links still in
    /// the composer).
    Ignored,
    /// From a workspace without the app: acknowledged, nothing done.
    NotInstalled,
    /// Sent for another app: refused.
    OtherApp,
}

#[derive(Debug, thiserror::Error)]
pub enum EventError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Installation(#[from] TokenError),
}

pub async fn handle_event_callback(
    callback: &EventCallback,
    services: &Services,
) -> Result<EventAck, EventError> {
    let now = services.clock.now();
    // Every event we act on is its workspace's (the entry point refuses those without).
    if !callback.event.needs_team() {
        return Ok(EventAck::Ignored);
    }
    let Some(workspace) = callback.workspace() else {
        tracing::warn!("event without team_id; ignored");
        return Ok(EventAck::Ignored);
    };
    let kind = match &callback.event {
        Event::LinkShared {
            channel,
            message_ts,
            links,
            user,
            unfurl_id,
            source,
        } => {
            let channel = match channel {
                LinkLocation::Conversation(channel) => Some(channel.clone()),
                LinkLocation::Composer => None,
            };
            let source = source.as_deref().and_then(UnfurlSource::parse);
            // Nothing is registered for a share `chat.unfurl` could not reach.
            if UnfurlTarget::of_event(channel.as_ref(), message_ts, unfurl_id.as_deref(), source)
                .is_none()
            {
                return Ok(EventAck::Ignored);
            }
            let ours = room_links(links, &services.config);
            if ours.is_empty() {
                return Ok(EventAck::Ignored);
            }
            JobKind::Unfurl {
                workspace: workspace.clone(),
                channel,
                message_ts: message_ts.clone(),
                unfurl_id: unfurl_id.clone(),
                source,
                user_id: user.clone(),
                links: ours,
            }
        }
        Event::CallRejected {
            call_id,
            user_id,
            channel_id,
            external_unique_id,
        } => JobKind::RejectCall {
            slack_call_id: call_id.clone(),
            external_unique_id: external_unique_id.clone(),
            user_id: user_id.clone(),
            channel_id: channel_id.clone(),
            rejected_at: callback.event_time.unwrap_or(now),
            workspace: Some(workspace.clone()),
        },
        Event::AppUninstalled {} => JobKind::DisableInstallation {
            workspace: workspace.clone(),
            reason: "app_uninstalled".into(),
        },
        Event::TokensRevoked { tokens } => {
            // Only the bot token matters to us; user tokens are never used.
            let bot_revoked = tokens
                .get("bot")
                .and_then(|bot| bot.as_array())
                .is_some_and(|bot| !bot.is_empty());
            if !bot_revoked {
                return Ok(EventAck::Ignored);
            }
            JobKind::DisableInstallation {
                workspace: workspace.clone(),
                reason: "tokens_revoked".into(),
            }
        }
        Event::Other => return Ok(EventAck::Ignored),
    };
    let origin = Origin {
        workspace,
        app_id: callback.api_app_id.clone(),
    };
    match tenant::admit(services, &origin).await? {
        Admission::Admitted => {}
        Admission::NotInstalled => {
            tracing::info!(workspace = %origin.workspace, "event from a workspace without the app; ignored");
            return Ok(EventAck::NotInstalled);
        }
        Admission::OtherApp => return Ok(EventAck::OtherApp),
    }
    let receipt = EventReceipt::new(callback.event_id.clone(), now);
    match services
        .store
        .record_event(&receipt, &[Job::new(kind, now)])
        .await?
    {
        ReceiptOutcome::New => Ok(EventAck::Recorded),
        ReceiptOutcome::Duplicate => Ok(EventAck::Duplicate),
    }
}

/// Links to rooms of ours (see [`RoomPattern`]), in order, without repeats, at most
/// [`MAX_LINKS_PER_EVENT`]: each may cost a `calls.add`, so one message cannot make
/// the worker register rooms without end.
pub fn room_links(links: &[SharedLink], config: &Config) -> Vec<String> {
    let Some(pattern) = RoomPattern::from_template(&config.join_url_template) else {
        return Vec::new();
    };
    let mut ours: Vec<String> = Vec::new();
    for link in links {
        if ours.len() == MAX_LINKS_PER_EVENT {
            tracing::info!(
                links = links.len(),
                "more room links than one event may unfurl; the rest are left"
            );
            break;
        }
        if !ours.contains(&link.url)
            && pattern
                .room_link(&link.url, &config.unfurl_domains)
                .is_some()
        {
            ours.push(link.url.clone());
        }
    }
    ours
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link(url: &str) -> SharedLink {
        SharedLink {
            domain: None,
            url: url.into(),
        }
    }

    fn config() -> Config {
        Config::from_lookup(|name| match name {
            "JOIN_URL_TEMPLATE" => Some("https://meet.example.com/{room}".into()),
            _ => None,
        })
        .unwrap_or_else(|error| panic!("test config: {error}"))
    }

    #[test]
    fn only_rooms_on_our_domains_are_kept() {
        let links = [
            link("https://meet.example.com/abc"),
            link("https://evil.example.com/meet.example.com"),
            link("https://eu.meet.example.com/x"),
            link("https://notmeet.example.com/x"),
            link("https://meet.example.com/abc"),
            link("javascript:alert(1)"),
            link("https://meet.example.com/"),
            link("https://meet.example.com/settings/profile"),
            link("https://meet.example.com/abc?lang=en#top"),
        ];
        assert_eq!(
            room_links(&links, &config()),
            vec![
                "https://meet.example.com/abc".to_string(),
                "https://eu.meet.example.com/x".to_string(),
                "https://meet.example.com/abc?lang=en#top".to_string(),
            ]
        );
    }

    #[test]
    fn one_event_unfurls_a_bounded_number_of_rooms() {
        let links: Vec<SharedLink> = (0..MAX_LINKS_PER_EVENT + 3)
            .map(|n| link(&format!("https://meet.example.com/room-{n}")))
            .collect();
        let kept = room_links(&links, &config());
        assert_eq!(kept.len(), MAX_LINKS_PER_EVENT);
        assert_eq!(kept[0], "https://meet.example.com/room-0");
    }
}
