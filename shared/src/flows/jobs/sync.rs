//! `sync_call`: makes Slack's call object match the call (joins, leaves, details, end),
//! noting each change Slack confirmed; the job records them with its end.

use secrecy::SecretString;

use crate::domain::{CallUser, ExternalId, ParticipantsSettled, ShownDetails, SlackCallId};
use crate::flows::installation;
use crate::flows::Services;
use crate::slack::api::{CallsEnd, CallsParticipants, CallsUpdate};
use crate::slack::SlackError;

use super::outcome::{slack_failure, StepError};
use super::participants::{sync_participants, Scope};
use super::Progress;

/// Makes Slack's call object match the call: joins and leaves of the participants in
/// `scope`, details, end, in that order. Works on the call in `progress` when the run
/// has it, else reads it.
pub(super) async fn sync_call(
    external_unique_id: &ExternalId,
    scope: Scope<'_>,
    services: &Services,
    progress: &mut Progress,
) -> Result<(), StepError> {
    if progress.call.is_none() {
        let Some(call) = services.store.get_call(external_unique_id).await? else {
            return Err(StepError::Fail("the call no longer exists".into()));
        };
        progress.call = Some(call);
    }
    let Some(call) = progress.call_as_shown() else {
        return Err(StepError::Fail("the call no longer exists".into()));
    };
    let plan = call.pending_sync();
    // A sync naming nobody on a call that may owe someone (the sweep's repair, say)
    // reads them all: what was not confirmed is on their items.
    let scope = match scope {
        Scope::Named(&[], _) if call.owes_participants() => Scope::All,
        scope => scope,
    };
    let participants_owed = call.takes_participant_changes() && !scope.is_empty();
    if plan.is_empty() && !participants_owed {
        return Ok(());
    }
    let Some(slack_call_id) = call.slack_call_id.clone() else {
        return Ok(());
    };
    let token = installation::bot_token(services, &call.workspace()).await?;
    let workspace = call.workspace();

    if participants_owed {
        match sync_participants(&call, &slack_call_id, scope, &token, services).await {
            Ok(true) => {
                progress.acks.participants_settled = match scope {
                    Scope::All => Some(ParticipantsSettled::All(call.version)),
                    Scope::Named(_, written_at) => written_at.map(ParticipantsSettled::Write),
                };
            }
            // Some were left to a follow-up job: the flag stays for the sweep.
            Ok(false) => {}
            Err(super::participants::SyncError::Slack(error)) => {
                return Err(slack_failure(error, &workspace, &token, services).await)
            }
            Err(super::participants::SyncError::Store(error)) => return Err(error.into()),
        }
    }
    if plan.update {
        let request = CallsUpdate {
            id: slack_call_id.clone(),
            title: call.title.clone(),
            join_url: Some(call.join_url.clone()),
            desktop_app_join_url: call.desktop_join_url.clone(),
        };
        if let Err(error) = services.slack.calls_update(&token, &request).await {
            // The call ended in Slack meanwhile: nothing left to update.
            if !error.is_already_ended() {
                return Err(slack_failure(error, &workspace, &token, services).await);
            }
        }
        progress.acks.details = Some(ShownDetails {
            title: request.title,
            join_url: request.join_url,
            desktop_join_url: request.desktop_app_join_url,
        });
    }
    if plan.end {
        let request = CallsEnd {
            id: slack_call_id.clone(),
            duration: call.duration_for_slack(),
        };
        match services.slack.calls_end(&token, &request).await {
            Ok(()) => tracing::info!("call ended in Slack"),
            // Already ended: the idempotent success it is.
            Err(error) if error.is_already_ended() => {}
            Err(error) => return Err(slack_failure(error, &workspace, &token, services).await),
        }
        progress.acks.ended = true;
    }
    Ok(())
}

#[derive(Debug, Clone, Copy)]
pub(super) enum Change {
    Add,
    Remove,
}

/// What Slack made of a change, user by user.
#[derive(Debug, Default)]
pub(super) struct Applied {
    /// Slack shows the change (made now, or made before: `bad_users`).
    pub(super) done: Vec<CallUser>,
    /// Slack refused the user (`user_not_found`), with its code.
    pub(super) refused: Vec<(CallUser, String)>,
}

/// `calls.participants.add`/`.remove` for several users in one request. Slack refuses
/// the whole request over one user (`bad_users` for someone already in or already out,
/// `user_not_found` for someone it does not know) and applies none of it; then each
/// user is sent on their own, so only that user is left out.
pub(super) async fn change_participants(
    services: &Services,
    token: &SecretString,
    slack_call_id: &SlackCallId,
    users: &[CallUser],
    change: Change,
) -> Result<Applied, SlackError> {
    let send = |users: Vec<CallUser>| {
        let request = CallsParticipants {
            id: slack_call_id.clone(),
            users,
        };
        async move {
            match change {
                Change::Add => services.slack.calls_participants_add(token, &request).await,
                Change::Remove => {
                    services
                        .slack
                        .calls_participants_remove(token, &request)
                        .await
                }
            }
        }
    };
    let mut applied = Applied::default();
    if users.len() > 1 {
        match send(users.to_vec()).await {
            Ok(()) => {
                applied.done = users.to_vec();
                return Ok(applied);
            }
            Err(error) if error.is_about_one_user() => {
                tracing::info!(%error, "one of the participants was refused; sending them one by one");
            }
            Err(error) => return Err(error),
        }
    }
    for user in users {
        match send(vec![user.clone()]).await {
            Ok(()) => applied.done.push(user.clone()),
            // Already in (or already out): what Slack shows is what we wanted.
            Err(error) if error.is_bad_users() => applied.done.push(user.clone()),
            Err(error) if error.is_about_one_user() => {
                let code = error
                    .code()
                    .map(|c| c.as_str().to_owned())
                    .unwrap_or_default();
                tracing::warn!(user = user.identity(), %code, ?change, "slack refused a participant; the others go on");
                applied.refused.push((user.clone(), code));
            }
            Err(error) => return Err(error),
        }
    }
    Ok(applied)
}
