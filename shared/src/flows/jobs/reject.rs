//! `reject_call`: a call was declined. Record it and tell the provider's backend when
//! one is configured; end the call only when it was a 1:1 DM nobody joined (in a group
//! DM or a channel, others may still join).

use crate::domain::{
    CallState, EndReason, ExternalId, Job, JobKind, ProviderNotice, Rejection, SlackCallId,
    Workspace,
};
use crate::flows::Services;
use crate::store::modify_call_from;

use super::outcome::StepError;

pub(super) async fn reject_call(
    slack_call_id: &SlackCallId,
    external_unique_id: Option<&ExternalId>,
    workspace: Option<&Workspace>,
    rejection: Rejection,
    services: &Services,
) -> Result<(), StepError> {
    // A call of another workspace is treated as unknown, whichever id named it.
    // (Jobs written before rejections named their workspace are not checked.)
    let ours = |call: &crate::domain::Call| workspace.is_none_or(|w| w.owns(call));
    let call = match external_unique_id {
        Some(id) => services.store.get_call(id).await?.filter(ours),
        None => None,
    };
    let call = match call {
        Some(call) => Some(call),
        None => services
            .store
            .find_call_by_slack_id(slack_call_id)
            .await?
            .filter(ours),
    };
    let Some(call) = call else {
        tracing::info!(%slack_call_id, "rejected call is not one of ours");
        return Ok(());
    };
    let now = services.clock.now();
    let callback_configured = services.config.provider_callback_url.is_some();
    let external_unique_id = call.external_unique_id.clone();
    // Tried on the copy in hand first (read again only if it was stale).
    let updated = modify_call_from(services.store.as_ref(), call, |c| {
        if !c.record_rejection(rejection.clone()) {
            return None;
        }
        let mut jobs = Vec::new();
        let lone_callee = rejection.channel_id.is_direct_message() && c.nobody_joined();
        if lone_callee && c.end(EndReason::Rejected, rejection.at.min(now), None) {
            jobs.push(Job::new(
                JobKind::sync_call(c.external_unique_id.clone()),
                now,
            ));
        }
        if callback_configured {
            jobs.push(Job::new(
                JobKind::NotifyProvider {
                    external_unique_id: c.external_unique_id.clone(),
                    payload: ProviderNotice::CallRejected {
                        external_unique_id: c.external_unique_id.clone(),
                        slack_call_id: c.slack_call_id.clone(),
                        user_id: rejection.user_id.clone(),
                        channel_id: rejection.channel_id.clone(),
                        rejected_at: rejection.at,
                        call_ended: c.state == CallState::Ended,
                    },
                },
                now,
            ));
        }
        Some(jobs)
    })
    .await?;
    if updated.is_some() {
        tracing::info!(call = %external_unique_id, "rejection recorded");
    }
    Ok(())
}
