//! `POST /slack/commands`: the slash command and the call button.

use std::time::Duration;

use http::{HeaderMap, Response, StatusCode};

use crate::domain::CallKind;
use crate::flows::start_call::{start_call, StartCall, StartOutcome, StartedFrom, TRY_AGAIN};
use crate::flows::Services;
use crate::slack;
use crate::slack::payloads::{CallInitiation, CommandForm, ResponseMessage};
use crate::slack::response_url::check_response_url;

use super::{authenticate, error_response, json_response};

/// Slack's forms are small; anything bigger is not Slack.
pub const MAX_COMMAND_BODY_BYTES: usize = 16 * 1024;
/// Slack gives up after 3 s; the answer must leave in time even if a dependency hangs.
pub const ANSWER_DEADLINE: Duration = Duration::from_millis(2_500);

pub async fn handle_command(
    services: &Services,
    headers: &HeaderMap,
    body: &[u8],
) -> Response<String> {
    if body.len() > MAX_COMMAND_BODY_BYTES {
        return error_response(StatusCode::PAYLOAD_TOO_LARGE, "the body is too large");
    }
    if let Err(refusal) = authenticate(services, headers, body, &slack::SIGNATURE, |s| {
        &s.signing_secret
    })
    .await
    {
        return refusal;
    }
    let form = match CommandForm::parse(body) {
        Ok(form) => form,
        Err(error) => return error_response(StatusCode::BAD_REQUEST, &error.to_string()),
    };
    if let Err(error) = check_response_url(&form.response_url, &services.config.response_url_hosts)
    {
        tracing::warn!(%error, "response_url refused");
        return error_response(StatusCode::BAD_REQUEST, &error.to_string());
    }
    let (started_from, kind) = match (&form.command, form.call_type.as_deref()) {
        (Some(_), _) => (StartedFrom::SlashCommand, CallKind::Video),
        (None, None | Some("video")) => (StartedFrom::CallButton, CallKind::Video),
        (None, Some("audio")) => (StartedFrom::CallButton, CallKind::Audio),
        (None, Some(_)) => {
            return error_response(StatusCode::BAD_REQUEST, "type must be video or audio");
        }
    };
    let command = StartCall {
        started_from,
        team_id: form.team_id.clone(),
        channel_id: form.channel_id.clone(),
        user_id: form.user_id.clone(),
        user_name: form
            .user_name
            .clone()
            .unwrap_or_else(|| form.user_id.clone()),
        title: form.title(),
        kind,
        phone_number: form.phone_number.clone(),
        response_url: form.response_url.clone(),
    };
    let outcome = tokio::time::timeout(ANSWER_DEADLINE, start_call(command, services))
        .await
        .unwrap_or_else(|_| {
            tracing::error!("starting the call took too long");
            StartOutcome::Refused(TRY_AGAIN.into())
        });
    answer(started_from, kind, outcome)
}

fn answer(started_from: StartedFrom, kind: CallKind, outcome: StartOutcome) -> Response<String> {
    let message = match outcome {
        StartOutcome::Started {
            join_url,
            desktop_join_url,
            ..
        } => match started_from {
            StartedFrom::CallButton => {
                let initiation = CallInitiation {
                    response_type: match kind {
                        CallKind::Video => "call".into(),
                        CallKind::Audio => "audio".into(),
                    },
                    call_initiation_url: join_url,
                    desktop_protocol_call_initiation_url: desktop_join_url,
                };
                return json_response(
                    StatusCode::OK,
                    &serde_json::to_value(initiation).unwrap_or_default(),
                );
            }
            StartedFrom::SlashCommand => {
                let mut text = format!("Your call is ready: <{join_url}|join it in your browser>");
                if let Some(desktop) = desktop_join_url {
                    text.push_str(&format!(" or <{desktop}|in the app>"));
                }
                text.push_str(". It will appear in this conversation in a moment.");
                ResponseMessage::ephemeral(text)
            }
        },
        StartOutcome::LoginRequired { login_url } => ResponseMessage::ephemeral(format!(
            "Please <{login_url}|sign in to your meeting account> first, then start the call again."
        )),
        StartOutcome::Refused(reason) => ResponseMessage::ephemeral(reason),
    };
    json_response(
        StatusCode::OK,
        &serde_json::to_value(message).unwrap_or_default(),
    )
}
