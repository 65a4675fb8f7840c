//! At most one Slack call per meeting: a job claims the registration on the call before
//! `calls.add`, so of two jobs racing (a `/call` and an unfurl of its room) one adds the
//! call and the other finds its id. A Slack call added anyway (a claim that lapsed
//! mid-run, an id whose recording failed) is ended in Slack, never left ongoing.

use std::time::Duration;

use secrecy::SecretString;

use crate::domain::{Call, Participant, ParticipantChange, SlackCallId};
use crate::flows::Services;
use crate::metrics;
use crate::slack::api::{CallsAdd, CallsEnd};
use crate::slack::SlackError;
use crate::store::{modify_call_from, MAX_PARTICIPANTS_PER_WRITE};

use super::outcome::{slack_failure, StepError};
use super::participants::MAX_USERS_PER_SLACK_REQUEST;
use super::JOB_LEASE_SECONDS;

/// How long a job waits for another job's registration before it is retried later:
/// about as long as a `calls.add` takes with Slack's retries.
const WAIT_POLLS: u32 = 20;
const WAIT_PAUSE: Duration = Duration::from_millis(250);

/// What [`claim_registration`] found.
pub(super) enum Claim {
    /// This job may call `calls.add`: the call as now stored, claimed.
    Ours(Call),
    /// Slack's id is known (registered before, or by the job this one waited for).
    Registered(Call),
    /// The call ended or failed before it was registered: nothing to add.
    NotLive(Call),
}

/// Claims the registration of `call` (as read) for job `claimant`: one conditional
/// write, none when the call is registered already. While another job holds the claim,
/// waits for it to finish, reading the call again; retried later if it does not.
pub(super) async fn claim_registration(
    call: Call,
    claimant: &str,
    services: &Services,
) -> Result<Claim, StepError> {
    let store = services.store.as_ref();
    let mut in_hand = call;
    for poll in 0..=WAIT_POLLS {
        if in_hand.slack_call_id.is_some() {
            return Ok(Claim::Registered(in_hand));
        }
        if !in_hand.is_live() {
            return Ok(Claim::NotLive(in_hand));
        }
        let now = services.clock.now();
        if !in_hand.registration_held_by_other(claimant, now) {
            let until = now + JOB_LEASE_SECONDS;
            let stored = modify_call_from(store, in_hand, |c| {
                c.claim_registration(claimant, now, until).then(Vec::new)
            })
            .await?;
            let Some(stored) = stored else {
                return Err(StepError::Fail("the call no longer exists".into()));
            };
            let ours = stored
                .registration_claim
                .as_ref()
                .is_some_and(|claim| claim.by == claimant);
            if ours && stored.slack_call_id.is_none() && stored.is_live() {
                return Ok(Claim::Ours(stored));
            }
            in_hand = stored;
            continue;
        }
        if poll == WAIT_POLLS {
            break;
        }
        tracing::debug!(poll, "another job is registering the call; waiting for it");
        tokio::time::sleep(WAIT_PAUSE).await;
        in_hand = match store.get_call(&in_hand.external_unique_id).await? {
            Some(call) => call,
            None => return Err(StepError::Fail("the call no longer exists".into())),
        };
    }
    Err(StepError::Retry(
        "another job is registering the call".into(),
    ))
}

/// `calls.add` for a call whose registration this job claimed, then records Slack's
/// id on the call: as its id, or, when another job registered it meanwhile, as one to
/// end ([`end_discarded`]).
///
/// Whoever is already there (the first [`MAX_USERS_PER_SLACK_REQUEST`]) is added with
/// the call; the sync that follows adds the rest. Slack refuses the whole call when one
/// of its `users` is refused (`user_not_found` for a deleted user, say): it is then
/// added without them, and the sync adds them one by one, leaving out only the one
/// Slack refuses.
pub(super) async fn add_to_slack(
    call: &Call,
    token: &SecretString,
    services: &Services,
) -> Result<Call, SlackError> {
    let mut present = already_there(call, services).await;
    let mut request = CallsAdd {
        external_unique_id: call.external_unique_id.clone(),
        join_url: call.join_url.clone(),
        created_by: Some(call.created_by.clone()),
        date_start: Some(call.date_start),
        desktop_app_join_url: call.desktop_join_url.clone(),
        external_display_id: call.external_display_id.clone(),
        title: call.title.clone(),
        users: (!present.is_empty()).then(|| present.iter().map(|p| p.user.clone()).collect()),
    };
    let added = match services.slack.calls_add(token, &request).await {
        // A definite refusal: Slack registered nothing, so adding it again cannot
        // register it twice.
        Err(error) if error.is_about_one_user() && request.users.is_some() => {
            tracing::info!(%error, "calls.add refused a participant; adding the call without them");
            request.users = None;
            present.clear();
            services.slack.calls_add(token, &request).await?
        }
        answer => answer?,
    };
    tracing::info!(slack_call_id = %added.id, "call added in Slack");
    // Written at once, on the claimed copy: a repeated calls.add would register twice.
    let recorded = modify_call_from(services.store.as_ref(), call.clone(), |c| {
        if c.slack_call_id.as_ref() == Some(&added.id)
            || c.discarded_slack_call_ids.contains(&added.id)
        {
            return None;
        }
        c.record_added(added.id.clone());
        Some(Vec::new())
    })
    .await;
    if recorded
        .as_ref()
        .is_ok_and(|c| c.as_ref().and_then(|c| c.slack_call_id.as_ref()) == Some(&added.id))
    {
        // Whoever was in the call when it was added is shown already.
        acknowledge_shown(call, present, services).await;
    }
    match recorded {
        Ok(Some(call)) => {
            if call.slack_call_id.as_ref() == Some(&added.id) {
                metrics::emit(metrics::call_registered(&call.team_id));
            } else {
                tracing::warn!(
                    slack_call_id = %added.id,
                    "another job registered the call first; ending this Slack call"
                );
            }
            Ok(call)
        }
        Ok(None) => {
            end_unrecorded(&added.id, token, services).await;
            Err(SlackError::InvalidResponse {
                method: "calls.add",
                reason: "the call vanished while it was being registered".into(),
            })
        }
        // Slack has the call but its id could not be recorded: it is ended now, and
        // the retried job adds the call again under its claim.
        Err(error) => {
            end_unrecorded(&added.id, token, services).await;
            Err(SlackError::Transport {
                method: "calls.add",
                reason: format!("added, but recording the id failed: {error}"),
            })
        }
    }
}

/// Ends, best effort, a Slack call whose id could not be recorded (the store failed:
/// nowhere to remember it until a retry).
async fn end_unrecorded(slack_call_id: &SlackCallId, token: &SecretString, services: &Services) {
    match end_in_slack(slack_call_id, token, services).await {
        Ok(()) => tracing::info!(%slack_call_id, "unrecorded Slack call ended"),
        Err(error) => {
            tracing::error!(%slack_call_id, %error, "an unrecorded Slack call could not be ended");
        }
    }
}

/// Ends in Slack every discarded Slack call of `call` and forgets it, one write each.
/// A transient failure leaves it remembered for the job's retry.
pub(super) async fn end_discarded(
    mut call: Call,
    token: &SecretString,
    services: &Services,
) -> Result<Call, StepError> {
    for slack_call_id in call.discarded_slack_call_ids.clone() {
        if let Err(error) = end_in_slack(&slack_call_id, token, services).await {
            return Err(slack_failure(error, &call.workspace(), token, services).await);
        }
        tracing::info!(%slack_call_id, "discarded Slack call ended");
        call = modify_call_from(services.store.as_ref(), call, |c| {
            c.forget_discarded(&slack_call_id).then(Vec::new)
        })
        .await?
        .ok_or_else(|| StepError::Fail("the call no longer exists".into()))?;
    }
    Ok(call)
}

async fn end_in_slack(
    slack_call_id: &SlackCallId,
    token: &SecretString,
    services: &Services,
) -> Result<(), SlackError> {
    let request = CallsEnd {
        id: slack_call_id.clone(),
        duration: None,
    };
    match services.slack.calls_end(token, &request).await {
        // Already ended: the idempotent success it is.
        Err(error) if error.is_already_ended() => Ok(()),
        answer => answer,
    }
}

/// The participants present and showable when the call is added (none read when
/// nobody was ever recorded: the usual case).
async fn already_there(call: &Call, services: &Services) -> Vec<Participant> {
    if call.participant_count == 0 {
        return Vec::new();
    }
    match services
        .store
        .list_participants(&call.external_unique_id)
        .await
    {
        Ok(people) => people
            .into_iter()
            .filter(|p| matches!(p.pending(), Some(ParticipantChange::Add(_))))
            .take(MAX_USERS_PER_SLACK_REQUEST)
            .collect(),
        Err(error) => {
            // The sync after the registration adds them instead.
            tracing::warn!(%error, "participants could not be read; adding the call without them");
            Vec::new()
        }
    }
}

/// Records on each participant that Slack shows them. One that moved meanwhile is
/// left as it is: the sync that follows sends it again (Slack takes a repeat as done).
async fn acknowledge_shown(call: &Call, mut present: Vec<Participant>, services: &Services) {
    for participant in &mut present {
        participant.acknowledge(&ParticipantChange::Add(participant.user.clone()));
    }
    for chunk in present.chunks_mut(MAX_PARTICIPANTS_PER_WRITE) {
        if let Err(error) = services
            .store
            .update_participants(&call.external_unique_id, chunk)
            .await
        {
            tracing::info!(%error, "the first participants' record is left to the sync");
        }
    }
}
