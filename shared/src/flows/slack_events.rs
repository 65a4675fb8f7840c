//! Slack events, acknowledged in one store write: the receipt that makes each
//! `event_id` count once, together with the job that does the work after the ack
//! (Slack wants `link_shared` acknowledged before `chat.unfurl`).

use crate::domain::{EventReceipt, Job, JobKind};
use crate::slack::payloads::{Event, EventCallback, LinkLocation, SharedLink};
use crate::store::{ReceiptOutcome, StoreError};

use super::Services;

#[derive(Debug, PartialEq, Eq)]
pub enum EventAck {
    /// Recorded with its job; the worker takes it from here.
    Recorded,
    /// Seen before (a Slack retry): nothing done.
    Duplicate,
    /// Nothing for us to do (an event we do not handle, links not ours, links still in
    /// the composer).
    Ignored,
}

pub async fn handle_event_callback(
    callback: &EventCallback,
    services: &Services,
) -> Result<EventAck, StoreError> {
    let now = services.clock.now();
    let team_id = callback.team_id.clone();
    let kind = match &callback.event {
        Event::LinkShared {
            channel,
            message_ts,
            links,
            user,
        } => {
            // Slack sends the event again once the message is posted: unfurl it then.
            let LinkLocation::Conversation(channel) = channel else {
                return Ok(EventAck::Ignored);
            };
            let ours = our_links(links, &services.config.unfurl_domains);
            if ours.is_empty() {
                return Ok(EventAck::Ignored);
            }
            let Some(team_id) = team_id else {
                return Ok(without_team());
            };
            JobKind::Unfurl {
                team_id,
                channel: channel.clone(),
                message_ts: message_ts.clone(),
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
        },
        Event::AppUninstalled {} => {
            let Some(team_id) = team_id else {
                return Ok(without_team());
            };
            JobKind::DisableInstallation {
                team_id,
                reason: "app_uninstalled".into(),
            }
        }
        Event::TokensRevoked { tokens } => {
            // Only the bot token matters to us; user tokens are never used.
            let bot_revoked = tokens
                .get("bot")
                .and_then(|bot| bot.as_array())
                .is_some_and(|bot| !bot.is_empty());
            if !bot_revoked {
                return Ok(EventAck::Ignored);
            }
            let Some(team_id) = team_id else {
                return Ok(without_team());
            };
            JobKind::DisableInstallation {
                team_id,
                reason: "tokens_revoked".into(),
            }
        }
        Event::Other => return Ok(EventAck::Ignored),
    };
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

/// An event that needs its workspace arrived without one. The entry point refuses
/// those ([`EventCallback::check`]), so this is for callers that skip the check.
fn without_team() -> EventAck {
    tracing::warn!("event without team_id; ignored");
    EventAck::Ignored
}

/// Links whose host is one of our unfurl domains (or a subdomain of one), in order,
/// without repeats.
pub fn our_links(links: &[SharedLink], unfurl_domains: &[String]) -> Vec<String> {
    let mut ours: Vec<String> = Vec::new();
    for link in links {
        let Some(host) = url::Url::parse(&link.url)
            .ok()
            .filter(|u| matches!(u.scheme(), "https" | "http"))
            .and_then(|u| u.host_str().map(str::to_ascii_lowercase))
        else {
            continue;
        };
        let is_ours = unfurl_domains
            .iter()
            .any(|domain| host == *domain || host.ends_with(&format!(".{domain}")));
        if is_ours && !ours.contains(&link.url) {
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

    #[test]
    fn only_our_domains_are_kept() {
        let domains = vec!["meet.example.com".to_string()];
        let links = [
            link("https://meet.example.com/abc"),
            link("https://evil.example.com/meet.example.com"),
            link("https://eu.meet.example.com/x"),
            link("https://notmeet.example.com/x"),
            link("https://meet.example.com/abc"),
            link("javascript:alert(1)"),
        ];
        assert_eq!(
            our_links(&links, &domains),
            vec![
                "https://meet.example.com/abc".to_string(),
                "https://eu.meet.example.com/x".to_string()
            ]
        );
    }
}
