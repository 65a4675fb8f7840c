//! The stale-call sweep: providers' webhooks get lost, and a call left "ongoing" in
//! Slack is a lie. Runs on a schedule over the sparse live-calls index, never a scan,
//! after the reconciliation pass ([`super::reconcile`]) re-queued what Slack lacks.

use crate::domain::{Call, EndReason, Job, JobKind, UnixSeconds};
use crate::store::{modify_call_from, StoreError};

use super::Services;

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SweepReport {
    pub live_calls: usize,
    pub ended_abandoned: usize,
    pub ended_too_old: usize,
    /// Calls that could not be ended or repaired this time (store errors); the next
    /// sweep retries.
    pub errors: usize,
    /// Calls Slack lacked something for whose repair was due, and jobs enqueued for them.
    pub repairs_due: usize,
    pub repairs_queued: usize,
}

/// Why `call` should be ended now, if it should.
pub fn stale_reason(
    call: &Call,
    now: UnixSeconds,
    stale_call_minutes: i64,
    max_call_hours: i64,
) -> Option<EndReason> {
    if !call.is_live() {
        return None;
    }
    if now - call.date_start >= max_call_hours * 3_600 {
        return Some(EndReason::TooOld);
    }
    let nobody_in = call.present_count == 0;
    (nobody_in && now - call.last_activity_at >= stale_call_minutes * 60)
        .then_some(EndReason::Abandoned)
}

pub async fn sweep_stale_calls(services: &Services) -> Result<SweepReport, StoreError> {
    // Repairs first: a call this sweep ends enqueues its own sync, not due yet.
    let repairs = super::reconcile::repair_due_calls(services).await?;
    let calls = services.store.list_live_calls().await?;
    let config = &services.config;
    let mut report = SweepReport {
        live_calls: calls.len(),
        errors: repairs.errors,
        repairs_due: repairs.due,
        repairs_queued: repairs.queued,
        ..SweepReport::default()
    };
    for call in calls {
        let now = services.clock.now();
        if stale_reason(&call, now, config.stale_call_minutes, config.max_call_hours).is_none() {
            continue;
        }
        let mut ended_for = None;
        let external_unique_id = call.external_unique_id.clone();
        // The index's copy is tried first; a stale one is read again.
        let outcome = modify_call_from(services.store.as_ref(), call, |c| {
            ended_for = None;
            // Decide on the copy written: the provider may have spoken meanwhile.
            let reason = stale_reason(c, now, config.stale_call_minutes, config.max_call_hours)?;
            // An abandoned call ended when the last thing happened in it, not now.
            let ended_at = match reason {
                EndReason::Abandoned => c.last_activity_at,
                _ => now,
            };
            c.end(reason, ended_at, None).then(|| {
                ended_for = Some(reason);
                vec![Job::new(
                    JobKind::sync_call(c.external_unique_id.clone()),
                    now,
                )]
            })
        })
        .await;
        match (outcome, ended_for) {
            (Ok(Some(_)), Some(EndReason::TooOld)) => report.ended_too_old += 1,
            (Ok(Some(_)), Some(_)) => report.ended_abandoned += 1,
            (Ok(_), None) | (Ok(None), _) => {}
            (Err(error), _) => {
                tracing::warn!(%error, call = %external_unique_id, "sweep could not end a call");
                report.errors += 1;
            }
        }
        if let Some(reason) = ended_for {
            tracing::info!(call = %external_unique_id, ?reason, "stale call ended");
        }
    }
    Ok(report)
}
