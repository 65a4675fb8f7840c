//! `sync_call`: makes Slack's call object match the call (joins, leaves, details, end),
//! recording each change Slack acknowledged before making the next.

use secrecy::SecretString;

use crate::domain::{CallUser, ExternalId, SlackCallId};
use crate::flows::installation;
use crate::flows::Services;
use crate::slack::api::{CallsEnd, CallsParticipants, CallsUpdate};
use crate::slack::SlackError;
use crate::store::modify_call;

use super::outcome::{slack_failure, StepError};

/// Makes Slack's call object match the call: joins, leaves, details, end, in that order.
pub(super) async fn sync_call(
    external_unique_id: &ExternalId,
    services: &Services,
) -> Result<(), StepError> {
    let Some(call) = services.store.get_call(external_unique_id).await? else {
        return Err(StepError::Fail("the call no longer exists".into()));
    };
    let plan = call.pending_sync();
    if plan.is_empty() {
        return Ok(());
    }
    let Some(slack_call_id) = call.slack_call_id.clone() else {
        return Ok(());
    };
    let token = installation::bot_token(services, &call.team_id).await?;
    let store = services.store.as_ref();
    let team_id = &call.team_id;

    if !plan.add.is_empty() {
        if let Err(error) =
            change_participants(services, &token, &slack_call_id, &plan.add, Change::Add).await
        {
            return Err(slack_failure(error, team_id, &token, services).await);
        }
        modify_call(store, external_unique_id, |c| {
            c.acknowledge_added(&plan.add).then(Vec::new)
        })
        .await?;
    }
    if !plan.remove.is_empty() {
        if let Err(error) = change_participants(
            services,
            &token,
            &slack_call_id,
            &plan.remove,
            Change::Remove,
        )
        .await
        {
            return Err(slack_failure(error, team_id, &token, services).await);
        }
        modify_call(store, external_unique_id, |c| {
            c.acknowledge_removed(&plan.remove).then(Vec::new)
        })
        .await?;
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
                return Err(slack_failure(error, team_id, &token, services).await);
            }
        }
        modify_call(store, external_unique_id, |c| {
            c.acknowledge_details(
                request.title.clone(),
                request.join_url.clone(),
                request.desktop_app_join_url.clone(),
            )
            .then(Vec::new)
        })
        .await?;
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
            Err(error) => return Err(slack_failure(error, team_id, &token, services).await),
        }
        modify_call(store, external_unique_id, |c| {
            c.acknowledge_end().then(Vec::new)
        })
        .await?;
    }
    Ok(())
}

#[derive(Debug, Clone, Copy)]
enum Change {
    Add,
    Remove,
}

/// `calls.participants.add`/`.remove` for several users in one request. Slack answers
/// `bad_users` when a user is already in (or already out); then each user is sent on
/// their own so one already-applied change does not block the others.
async fn change_participants(
    services: &Services,
    token: &SecretString,
    slack_call_id: &SlackCallId,
    users: &[CallUser],
    change: Change,
) -> Result<(), SlackError> {
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
    match send(users.to_vec()).await {
        Ok(()) => Ok(()),
        Err(error) if error.is_bad_users() && users.len() > 1 => {
            for user in users {
                match send(vec![user.clone()]).await {
                    Ok(()) => {}
                    Err(error) if error.is_bad_users() => {}
                    Err(error) => return Err(error),
                }
            }
            Ok(())
        }
        Err(error) if error.is_bad_users() => Ok(()),
        Err(error) => Err(error),
    }
}
