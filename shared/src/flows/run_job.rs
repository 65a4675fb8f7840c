//! The worker's flow: run one job from the outbox, idempotently.
//!
//! Progress is recorded on the call after every Slack call that succeeds, so a job run
//! twice (stream redelivery, a retry after a crash) never registers, posts or ends
//! twice. Every job ends `done`, `failed(reason)`, or is retried a bounded number of
//! times.

use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

use crate::domain::{
    Call, CallKind, CallState, EndReason, Job, JobKind, JobStatus, NewCall, Rejection,
};
use crate::meeting::url_template::display_id;
use crate::provider::callback::{CallbackError, ProviderNotice};
use crate::slack::api::{CallsAdd, CallsEnd, CallsParticipants, CallsUpdate, ChatUnfurl};
use crate::slack::payloads::{call_block, ResponseMessage};
use crate::slack::{ApiErrorCode, RetryClass, SlackError};
use crate::store::{modify_call, StoreError};

use super::installation::{self, TokenError, REINSTALL_MESSAGE};
use super::Services;

/// Runs of one job before it is given up (the stream retries failed records too, but
/// the count on the job is what bounds the work).
pub const MAX_JOB_ATTEMPTS: u32 = 5;

/// How long a run holds its job: longer than a run takes (Slack retries stay within
/// about 20 s a call), shorter than the worker's 120 s timeout, so the redelivery
/// after a crashed invocation finds the job free.
pub const JOB_LEASE_SECONDS: i64 = 90;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobOutcome {
    /// Finished now or earlier.
    Done,
    /// Finished without success, for the stated reason; not retried.
    Failed(String),
    /// Could not finish now; the caller runs it again later.
    Retry(String),
}

/// Why a job step stopped.
#[derive(Debug)]
enum StepError {
    Retry(String),
    Fail(String),
}

impl From<StoreError> for StepError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Malformed(reason) => StepError::Fail(format!("malformed item: {reason}")),
            other => StepError::Retry(other.to_string()),
        }
    }
}

impl From<TokenError> for StepError {
    fn from(error: TokenError) -> Self {
        match error {
            TokenError::NotInstalled => StepError::Fail(error.to_string()),
            TokenError::Store(store) => store.into(),
            TokenError::Secrets(secrets) => StepError::Retry(secrets.to_string()),
        }
    }
}

pub async fn run_job(job_id: &str, services: &Services) -> JobOutcome {
    let mut job = match services.store.get_job(job_id).await {
        Ok(Some(job)) => job,
        Ok(None) => {
            tracing::warn!(job = job_id, "job not found; nothing to do");
            return JobOutcome::Done;
        }
        Err(error) => return JobOutcome::Retry(error.to_string()),
    };
    if job.is_finished() {
        tracing::debug!(job = job_id, status = ?job.status, "job already finished");
        return JobOutcome::Done;
    }

    let now = services.clock.now();
    if job.leased_until.is_some_and(|until| until > now) {
        return JobOutcome::Retry("the job is running elsewhere".into());
    }
    // Taking the lease and counting the attempt is one conditional write: of two
    // deliveries racing, one runs the job and the other sees a conflict or the lease.
    job.attempts += 1;
    job.leased_until = Some(now + JOB_LEASE_SECONDS);
    if let Err(error) = services.store.update_job(&mut job).await {
        return JobOutcome::Retry(error.to_string());
    }
    let span = tracing::info_span!("job", job = %job.id, kind = kind_name(&job.kind), attempt = job.attempts);
    let _guard = span.enter();

    if job.attempts > MAX_JOB_ATTEMPTS {
        give_up(&job, services).await;
        return finish(
            &mut job,
            services,
            JobStatus::Failed,
            Some("too many attempts".into()),
        )
        .await;
    }

    match execute(&job.kind, services).await {
        Ok(()) => {
            tracing::info!("job done");
            finish(&mut job, services, JobStatus::Done, None).await
        }
        Err(StepError::Fail(reason)) => {
            tracing::warn!(%reason, "job failed");
            finish(&mut job, services, JobStatus::Failed, Some(reason)).await
        }
        Err(StepError::Retry(reason)) => {
            tracing::warn!(%reason, "job will be retried");
            job.last_error = Some(reason.clone());
            job.leased_until = None;
            // Best effort: the lease would lapse anyway, and the reason helps whoever
            // looks at the job later.
            let _ = services.store.update_job(&mut job).await;
            JobOutcome::Retry(reason)
        }
    }
}

async fn finish(
    job: &mut Job,
    services: &Services,
    status: JobStatus,
    reason: Option<String>,
) -> JobOutcome {
    job.status = status;
    job.last_error = reason.clone();
    job.leased_until = None;
    if let Err(error) = services.store.update_job(job).await {
        // The work is done; recording it failed. A rerun finds nothing left to do.
        tracing::warn!(%error, "could not record the job's end");
        return JobOutcome::Retry(error.to_string());
    }
    match reason {
        Some(reason) if status == JobStatus::Failed => JobOutcome::Failed(reason),
        _ => JobOutcome::Done,
    }
}

fn kind_name(kind: &JobKind) -> &'static str {
    match kind {
        JobKind::RegisterCall { .. } => "register_call",
        JobKind::SyncCall { .. } => "sync_call",
        JobKind::RejectCall { .. } => "reject_call",
        JobKind::Unfurl { .. } => "unfurl",
        JobKind::NotifyProvider { .. } => "notify_provider",
        JobKind::DisableInstallation { .. } => "disable_installation",
    }
}

async fn execute(kind: &JobKind, services: &Services) -> Result<(), StepError> {
    match kind {
        JobKind::RegisterCall { external_unique_id } => {
            register_call(external_unique_id, services).await
        }
        JobKind::SyncCall { external_unique_id } => sync_call(external_unique_id, services).await,
        JobKind::RejectCall {
            slack_call_id,
            external_unique_id,
            user_id,
            channel_id,
            rejected_at,
        } => {
            let rejection = Rejection {
                user_id: user_id.clone(),
                channel_id: channel_id.clone(),
                at: *rejected_at,
            };
            reject_call(
                slack_call_id,
                external_unique_id.as_deref(),
                rejection,
                services,
            )
            .await
        }
        JobKind::Unfurl {
            team_id,
            channel,
            message_ts,
            user_id,
            links,
        } => unfurl(team_id, channel, message_ts, user_id, links, services).await,
        JobKind::NotifyProvider { payload, .. } => {
            match services.provider_callback.notify(payload).await {
                Ok(()) => Ok(()),
                Err(CallbackError::NotConfigured) => {
                    tracing::info!("no provider callback configured; nothing to send");
                    Ok(())
                }
                Err(error @ CallbackError::Transient(_)) => {
                    Err(StepError::Retry(error.to_string()))
                }
                Err(error @ CallbackError::Refused(_)) => Err(StepError::Fail(error.to_string())),
            }
        }
        JobKind::DisableInstallation { team_id, reason } => {
            installation::disable(services, team_id, reason, None).await?;
            Ok(())
        }
    }
}

/// After the last attempt: make sure nobody waits for a call that will never come.
async fn give_up(job: &Job, services: &Services) {
    if let JobKind::RegisterCall { external_unique_id } = &job.kind {
        if let Ok(Some(call)) = services.store.get_call(external_unique_id).await {
            if call.slack_call_id.is_none() {
                fail_call(
                    &call,
                    "Slack did not answer in time, so the call could not be shared. Please try again.",
                    "registration kept failing",
                    services,
                )
                .await;
            }
        }
    }
}

// ---- register_call -------------------------------------------------------------

async fn register_call(external_unique_id: &str, services: &Services) -> Result<(), StepError> {
    let Some(call) = services.store.get_call(external_unique_id).await? else {
        return Err(StepError::Fail("the call no longer exists".into()));
    };
    if call.slack_call_id.is_none() && call.state != CallState::Registering {
        tracing::info!(state = ?call.state, "call ended or failed before registration; nothing to do");
        return Ok(());
    }
    let token = match installation::bot_token(services, &call.team_id).await {
        Ok(token) => token,
        Err(TokenError::NotInstalled) => {
            fail_call(&call, REINSTALL_MESSAGE, "app not installed", services).await;
            return Err(StepError::Fail(
                "the app is not installed in this workspace".into(),
            ));
        }
        Err(error) => return Err(error.into()),
    };

    let call = if call.slack_call_id.is_none() {
        match add_to_slack(&call, &token, services).await {
            Ok(call) => call,
            Err(error) => {
                return Err(explain_registration_failure(&call, error, &token, services).await)
            }
        }
    } else {
        call
    };

    if let (Some(response_url), Some(slack_call_id)) = (&call.response_url, &call.slack_call_id) {
        if !call.block_posted {
            let message = ResponseMessage::call_in_channel(slack_call_id, notification_text(&call));
            match services
                .slack
                .post_response_url(response_url, &message)
                .await
            {
                Ok(()) => {
                    modify_call(services.store.as_ref(), &call.external_unique_id, |c| {
                        (!c.block_posted).then(|| {
                            c.block_posted = true;
                            Vec::new()
                        })
                    })
                    .await?;
                }
                Err(error) => {
                    return Err(match error.class() {
                        RetryClass::Transient | RetryClass::RateLimited { .. } => {
                            StepError::Retry(error.to_string())
                        }
                        // An expired response_url cannot be fixed by retrying; the call
                        // itself is registered and can still be joined and unfurled.
                        _ => {
                            StepError::Fail(format!("the call block could not be posted: {error}"))
                        }
                    });
                }
            }
        }
    }
    // Participants or an end may have arrived while the call was registering.
    sync_call(&call.external_unique_id, services).await
}

/// `calls.add`, then records Slack's id on the call.
async fn add_to_slack(
    call: &Call,
    token: &SecretString,
    services: &Services,
) -> Result<Call, SlackError> {
    let present: Vec<_> = call.present_participants().cloned().collect();
    let request = CallsAdd {
        external_unique_id: call.external_unique_id.clone(),
        join_url: call.join_url.clone(),
        created_by: Some(call.created_by.clone()),
        date_start: Some(call.date_start),
        desktop_app_join_url: call.desktop_join_url.clone(),
        external_display_id: call.external_display_id.clone(),
        title: call.title.clone(),
        users: (!present.is_empty()).then_some(present.clone()),
    };
    let added = services.slack.calls_add(token, &request).await?;
    tracing::info!(slack_call_id = %added.id, "call registered in Slack");
    let recorded = modify_call(services.store.as_ref(), &call.external_unique_id, |c| {
        if c.slack_call_id.is_some() {
            return None;
        }
        c.mark_registered(added.id.clone());
        // Whoever was in the call when it was added is shown already.
        for user in &present {
            if !c
                .slack_participants
                .iter()
                .any(|u| u.identity() == user.identity())
            {
                c.slack_participants.push(user.clone());
            }
        }
        Some(Vec::new())
    })
    .await;
    match recorded {
        Ok(Some(call)) => Ok(call),
        Ok(None) => Err(SlackError::InvalidResponse {
            method: "calls.add",
            reason: "the call vanished while it was being registered".into(),
        }),
        // Slack has the call but its id could not be recorded. The job is retried,
        // which repeats `calls.add` with the same external_unique_id: the narrowest
        // window left without a Slack lookup by external id.
        Err(error) => Err(SlackError::Transport {
            method: "calls.add",
            reason: format!("registered, but recording the id failed: {error}"),
        }),
    }
}

/// Turns a failed registration into the job's outcome, telling the user in plain words
/// when retrying cannot help.
async fn explain_registration_failure(
    call: &Call,
    error: SlackError,
    token: &SecretString,
    services: &Services,
) -> StepError {
    let message = match error.class() {
        RetryClass::TokenDead => REINSTALL_MESSAGE.to_owned(),
        _ => plain_words(&error),
    };
    let reason = error.to_string();
    let outcome = step_error(error, &call.team_id, token, services).await;
    if matches!(outcome, StepError::Fail(_)) {
        fail_call(call, &message, &reason, services).await;
    }
    outcome
}

/// What a person should read when Slack refuses a call for good.
fn plain_words(error: &SlackError) -> String {
    let code = error
        .code()
        .map(ApiErrorCode::as_str)
        .unwrap_or("unknown_error");
    let what = match code {
        "not_authorized" => "Slack does not allow this app to start a call in this conversation.",
        "invalid_created_by" | "user_not_found" => {
            "Slack did not recognise the person who started the call."
        }
        "missing_scope" | "no_permission" | "access_denied" => {
            "The calls app is missing a permission it needs. Ask an admin to reinstall it."
        }
        "team_access_not_granted" | "enterprise_is_restricted" => {
            "The calls app has not been granted access to this workspace."
        }
        "ekm_access_denied" => "Your administrators have suspended posting calls.",
        _ => "Slack refused to register the call.",
    };
    format!("{what} ({code})")
}

/// Marks the call failed and tells its starter why (ephemerally, through response_url).
async fn fail_call(call: &Call, message: &str, reason: &str, services: &Services) {
    let reason = reason.to_owned();
    if let Err(error) = modify_call(services.store.as_ref(), &call.external_unique_id, |c| {
        (c.failure.is_none() && c.slack_call_id.is_none()).then(|| {
            c.mark_failed(reason.clone());
            Vec::new()
        })
    })
    .await
    {
        tracing::warn!(%error, "could not mark the call failed");
    }
    if let Some(response_url) = &call.response_url {
        if let Err(error) = services
            .slack
            .post_response_url(response_url, &ResponseMessage::ephemeral(message))
            .await
        {
            tracing::warn!(%error, "could not tell the user why the call failed");
        }
    }
}

fn notification_text(call: &Call) -> String {
    let what = match call.kind {
        CallKind::Video => "a call",
        CallKind::Audio => "a phone call",
    };
    match &call.title {
        Some(title) => format!("<@{}> started {what}: {title}", call.created_by),
        None => format!("<@{}> started {what}", call.created_by),
    }
}

/// Slack rejected the token. A rotated secret may already hold a working one; else the
/// installation is disabled so nobody waits on a dead token.
async fn on_dead_token(
    team_id: &str,
    used: &SecretString,
    error: &SlackError,
    services: &Services,
) -> StepError {
    if let Ok(secrets) = services.secrets.refresh().await {
        if let Some(fresh) = &secrets.bot_token {
            if fresh.expose_secret() != used.expose_secret() {
                return StepError::Retry(
                    "the bot token was rotated; retrying with the new one".into(),
                );
            }
        }
    }
    if let Err(disable_error) =
        installation::disable(services, team_id, &error.to_string(), Some(used)).await
    {
        tracing::warn!(error = %disable_error, "could not disable the installation");
    }
    StepError::Fail(format!("the bot token was rejected: {error}"))
}

/// What a failed Slack call means for the job: retry, give up, or deal with a dead token.
async fn step_error(
    error: SlackError,
    team_id: &str,
    token: &SecretString,
    services: &Services,
) -> StepError {
    match error.class() {
        RetryClass::Transient | RetryClass::RateLimited { .. } => {
            StepError::Retry(error.to_string())
        }
        RetryClass::TokenDead => on_dead_token(team_id, token, &error, services).await,
        RetryClass::Permission | RetryClass::BadRequest => StepError::Fail(error.to_string()),
    }
}

// ---- sync_call -------------------------------------------------------------------

/// Makes Slack's call object match the call: joins, leaves, details, end, in that order.
async fn sync_call(external_unique_id: &str, services: &Services) -> Result<(), StepError> {
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
    let team_id = call.team_id.as_str();

    if !plan.add.is_empty() {
        if let Err(error) =
            change_participants(services, &token, &slack_call_id, &plan.add, true).await
        {
            return Err(step_error(error, team_id, &token, services).await);
        }
        modify_call(store, external_unique_id, |c| {
            let mut changed = false;
            for user in &plan.add {
                if !c
                    .slack_participants
                    .iter()
                    .any(|u| u.identity() == user.identity())
                {
                    c.slack_participants.push(user.clone());
                    changed = true;
                }
            }
            changed.then(Vec::new)
        })
        .await?;
    }
    if !plan.remove.is_empty() {
        if let Err(error) =
            change_participants(services, &token, &slack_call_id, &plan.remove, false).await
        {
            return Err(step_error(error, team_id, &token, services).await);
        }
        modify_call(store, external_unique_id, |c| {
            let before = c.slack_participants.len();
            c.slack_participants
                .retain(|u| !plan.remove.iter().any(|r| r.identity() == u.identity()));
            (c.slack_participants.len() != before).then(Vec::new)
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
            if error.code() != Some(&ApiErrorCode::InactiveCall) {
                return Err(step_error(error, team_id, &token, services).await);
            }
        }
        modify_call(store, external_unique_id, |c| {
            c.slack_title = request.title.clone();
            c.slack_join_url = request.join_url.clone();
            c.slack_desktop_join_url = request.desktop_app_join_url.clone();
            Some(Vec::new())
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
            Err(error) if error.code() == Some(&ApiErrorCode::InactiveCall) => {}
            Err(error) => return Err(step_error(error, team_id, &token, services).await),
        }
        modify_call(store, external_unique_id, |c| {
            (!c.slack_ended).then(|| {
                c.slack_ended = true;
                Vec::new()
            })
        })
        .await?;
    }
    Ok(())
}

/// `calls.participants.add`/`.remove` for several users in one request. Slack answers
/// `bad_users` when a user is already in (or already out); then each user is sent on
/// their own so one already-applied change does not block the others.
async fn change_participants(
    services: &Services,
    token: &SecretString,
    slack_call_id: &str,
    users: &[crate::domain::CallUser],
    add: bool,
) -> Result<(), SlackError> {
    let send = |users: Vec<crate::domain::CallUser>| {
        let request = CallsParticipants {
            id: slack_call_id.to_owned(),
            users,
        };
        async move {
            if add {
                services.slack.calls_participants_add(token, &request).await
            } else {
                services
                    .slack
                    .calls_participants_remove(token, &request)
                    .await
            }
        }
    };
    let is_bad_users = |error: &SlackError| error.code() == Some(&ApiErrorCode::BadUsers);
    match send(users.to_vec()).await {
        Ok(()) => Ok(()),
        Err(error) if is_bad_users(&error) && users.len() > 1 => {
            for user in users {
                match send(vec![user.clone()]).await {
                    Ok(()) => {}
                    Err(error) if is_bad_users(&error) => {}
                    Err(error) => return Err(error),
                }
            }
            Ok(())
        }
        Err(error) if is_bad_users(&error) => Ok(()),
        Err(error) => Err(error),
    }
}

// ---- reject_call -----------------------------------------------------------------

async fn reject_call(
    slack_call_id: &str,
    external_unique_id: Option<&str>,
    rejection: Rejection,
    services: &Services,
) -> Result<(), StepError> {
    let call = match external_unique_id {
        Some(id) => services.store.get_call(id).await?,
        None => None,
    };
    let call = match call {
        Some(call) => Some(call),
        None => services.store.find_call_by_slack_id(slack_call_id).await?,
    };
    let Some(call) = call else {
        tracing::info!(slack_call_id, "rejected call is not one of ours");
        return Ok(());
    };
    let now = services.clock.now();
    let callback_configured = services.config.provider_callback_url.is_some();
    let updated = modify_call(services.store.as_ref(), &call.external_unique_id, |c| {
        if !c.record_rejection(rejection.clone()) {
            return None;
        }
        let mut jobs = Vec::new();
        if c.nobody_joined() && c.end(EndReason::Rejected, rejection.at.min(now), None) {
            jobs.push(Job::new(
                JobKind::SyncCall {
                    external_unique_id: c.external_unique_id.clone(),
                },
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
        tracing::info!(call = %call.external_unique_id, "rejection recorded");
    }
    Ok(())
}

// ---- unfurl ----------------------------------------------------------------------

/// Our id for a room first seen as a pasted link: the same link always maps to the
/// same call, so two unfurls of it never register it twice.
pub fn external_id_for_link(url: &str) -> String {
    let digest = Sha256::digest(url.as_bytes());
    format!("link-{}", hex::encode(&digest[..16]))
}

async fn unfurl(
    team_id: &str,
    channel: &str,
    message_ts: &str,
    user_id: &str,
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
                Err(error) => match error.class() {
                    RetryClass::Transient | RetryClass::RateLimited { .. } => {
                        return Err(StepError::Retry(error.to_string()))
                    }
                    RetryClass::TokenDead => {
                        return Err(on_dead_token(team_id, &token, &error, services).await)
                    }
                    RetryClass::Permission | RetryClass::BadRequest => {
                        tracing::warn!(%error, "link could not be registered; not unfurled");
                        continue;
                    }
                },
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
        channel: channel.to_owned(),
        ts: message_ts.to_owned(),
        unfurls,
    };
    match services.slack.chat_unfurl(&token, &request).await {
        Ok(()) => Ok(()),
        Err(error) => Err(step_error(error, team_id, &token, services).await),
    }
}

/// A link to a room of ours that was never registered (made outside Slack): it becomes
/// a call created by whoever shared it.
async fn call_for_unknown_room(
    team_id: &str,
    channel: &str,
    user_id: &str,
    url: &str,
    services: &Services,
) -> Result<Call, StepError> {
    let external_unique_id = external_id_for_link(url);
    let call = Call::new(
        NewCall {
            external_unique_id: external_unique_id.clone(),
            team_id: team_id.to_owned(),
            channel_id: Some(channel.to_owned()),
            created_by: user_id.to_owned(),
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
