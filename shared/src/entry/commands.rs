//! `POST /slack/commands`: the slash command and the call button.

use std::time::Duration;

use http::{HeaderMap, Response, StatusCode};

use crate::domain::ids::parse_field;
use crate::domain::{CallKind, InvalidField, Workspace};
use crate::flows::start_call::{start_call, StartCall, StartOutcome, StartedFrom, TRY_AGAIN};
use crate::flows::tenant::{self, Admission, Origin};
use crate::flows::Services;
use crate::metrics::{self, EntryPoint};
use crate::slack;
use crate::slack::payloads::{CallInitiation, CommandForm, ResponseMessage};
use crate::slack::response_url::check_response_url;

use super::{authenticate, error_response, json_response};

/// Slack's forms are small; anything bigger is not Slack.
pub const MAX_COMMAND_BODY_BYTES: usize = 16 * 1024;
/// Slack gives up after 3 s; the answer must leave in time even if a dependency hangs.
/// Counted from the request's arrival: authentication (a cold secret fetch) included.
pub const ANSWER_DEADLINE: Duration = Duration::from_millis(2_500);
/// The answer to a request sent again: the first one started the call.
pub const ALREADY_HANDLED: &str = "This request was already handled.";
/// The body of the 403 to a request for another app (same signing secret, other app).
pub const OTHER_APP: &str = "this request is for another app";

pub async fn handle_command(
    services: &Services,
    headers: &HeaderMap,
    body: &[u8],
) -> Response<String> {
    let started = std::time::Instant::now();
    let response = answer_request(services, headers, body).await;
    metrics::emit(metrics::answered(EntryPoint::Commands, started.elapsed()));
    response
}

async fn answer_request(services: &Services, headers: &HeaderMap, body: &[u8]) -> Response<String> {
    let deadline = tokio::time::Instant::now() + ANSWER_DEADLINE;
    if body.len() > MAX_COMMAND_BODY_BYTES {
        return error_response(StatusCode::PAYLOAD_TOO_LARGE, "the body is too large");
    }
    let signed = match authenticate(services, headers, body, &slack::SIGNATURE, |s| {
        &s.signing_secret
    })
    .await
    {
        Ok(signed) => signed,
        Err(refusal) => return refusal,
    };
    let form = match CommandForm::parse(body) {
        Ok(form) => form,
        Err(error) => return error_response(StatusCode::BAD_REQUEST, &error.to_string()),
    };
    // The answer never depends on the response_url: the worker posts only to allowed
    // hosts, and falls back to chat.postMessage otherwise.
    if let Err(error) = check_response_url(&form.response_url, &services.config.response_url_hosts)
    {
        tracing::warn!(%error, "response_url will not be used");
    }
    let app_id = form.api_app_id.clone();
    let command = match StartCall::try_from(form) {
        Ok(command) => command,
        Err(error) => return error_response(StatusCode::BAD_REQUEST, &error.to_string()),
    };
    let origin = Origin {
        workspace: command.workspace.clone(),
        app_id,
    };
    if let Some(refusal) =
        refuse_unless_admitted(services, headers, &origin, &command, deadline).await
    {
        return refusal;
    }
    let (started_from, kind) = (command.started_from, command.kind);
    // The same signed request sent again (a replay) has the same digest.
    let started = start_call(command, &signed.digest, services);
    let outcome = tokio::time::timeout_at(deadline, started)
        .await
        .unwrap_or_else(|_| {
            tracing::error!("starting the call took too long");
            StartOutcome::Refused(TRY_AGAIN.into())
        });
    answer(started_from, kind, outcome)
}

/// The answer to a request the workspace's installation does not let through: another
/// app (403), a workspace without the app (ephemeral, with the install link), or no
/// way to tell in time (try again). `None`: go ahead.
async fn refuse_unless_admitted(
    services: &Services,
    headers: &HeaderMap,
    origin: &Origin,
    command: &StartCall,
    deadline: tokio::time::Instant,
) -> Option<Response<String>> {
    let admitted = tokio::time::timeout_at(deadline, tenant::admit(services, origin)).await;
    let message = match admitted {
        Ok(Ok(Admission::Admitted)) => return None,
        Ok(Ok(Admission::NotInstalled)) => {
            tracing::info!(workspace = %origin.workspace, "command from a workspace without the app");
            let host = headers
                .get(http::header::HOST)
                .and_then(|h| h.to_str().ok());
            let url = tenant::install_url(&services.config, host);
            tenant::not_installed_message(url.as_deref())
        }
        Ok(Ok(Admission::OtherApp)) => {
            tracing::warn!(app = ?origin.app_id, "command for another app refused");
            return Some(error_response(StatusCode::FORBIDDEN, OTHER_APP));
        }
        Ok(Err(error)) => {
            tracing::error!(%error, "could not tell whether the app is installed");
            TRY_AGAIN.into()
        }
        Err(_) => {
            tracing::error!("the installation lookup took too long");
            TRY_AGAIN.into()
        }
    };
    Some(answer(
        command.started_from,
        command.kind,
        StartOutcome::Refused(message),
    ))
}

/// Why a decoded form is not a command to start a call.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CommandError {
    #[error(transparent)]
    InvalidField(#[from] InvalidField),
    #[error("type must be video or audio")]
    UnknownCallType,
}

impl TryFrom<CommandForm> for StartCall {
    type Error = CommandError;

    /// The form's ids parsed, and what was pressed: the slash command starts a video
    /// call; the call button says which kind in `type`.
    fn try_from(form: CommandForm) -> Result<Self, CommandError> {
        let workspace = Workspace {
            team_id: parse_field("team_id", form.team_id.as_str())?,
            enterprise_id: match form.enterprise_id.as_deref().map(str::trim) {
                Some(enterprise) if !enterprise.is_empty() => {
                    Some(parse_field("enterprise_id", enterprise)?)
                }
                _ => None,
            },
            is_enterprise_install: form.is_enterprise_install.as_deref() == Some("true"),
        };
        let channel_id = parse_field("channel_id", form.channel_id.as_str())?;
        let user_id = parse_field("user_id", form.user_id.as_str())?;
        let (started_from, kind) = match (&form.command, form.call_type.as_deref()) {
            (Some(_), _) => (StartedFrom::SlashCommand, CallKind::Video),
            (None, None | Some("video")) => (StartedFrom::CallButton, CallKind::Video),
            (None, Some("audio")) => (StartedFrom::CallButton, CallKind::Audio),
            (None, Some(_)) => return Err(CommandError::UnknownCallType),
        };
        let title = form.title();
        Ok(StartCall {
            started_from,
            workspace,
            channel_id,
            user_name: form.user_name.unwrap_or(form.user_id),
            user_id,
            title,
            kind,
            phone_number: form.phone_number,
            response_url: form.response_url,
        })
    }
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
        StartOutcome::AlreadyHandled => ResponseMessage::ephemeral(ALREADY_HANDLED),
    };
    json_response(
        StatusCode::OK,
        &serde_json::to_value(message).unwrap_or_default(),
    )
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use async_trait::async_trait;
    use secrecy::SecretString;

    use super::*;
    use crate::config::Config;
    use crate::domain::ids::{id, IdError, IdKind};
    use crate::meeting::url_template::UrlTemplateProvider;
    use crate::meeting::{Meeting, MeetingError, MeetingProvider, MeetingRequest};
    use crate::secrets::{SecretSource, Secrets, SecretsError, StaticSecrets};
    use crate::store::embedded::EmbeddedStore;

    /// A slash command's form fields, with `changes` replacing (or, empty, removing) some.
    fn form_fields<'a>(changes: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
        let mut fields = vec![
            ("team_id", "T0TEAM0001"),
            ("channel_id", "C0CHAN0001"),
            ("user_id", "U0USER0001"),
            ("command", "/call"),
            ("text", "Standup"),
            ("response_url", "https://hooks.slack.com/x"),
        ];
        for &(name, value) in changes {
            fields.retain(|(field, _)| *field != name);
            if !value.is_empty() {
                fields.push((name, value));
            }
        }
        fields
    }

    /// A slash command's form, with `changes` replacing (or, empty, removing) fields.
    fn form(changes: &[(&str, &str)]) -> CommandForm {
        let body = serde_urlencoded::to_string(form_fields(changes)).expect("encodes");
        CommandForm::parse(body.as_bytes()).expect("a complete form")
    }

    fn refusal(changes: &[(&str, &str)]) -> String {
        StartCall::try_from(form(changes))
            .map(|_| ())
            .expect_err("refused")
            .to_string()
    }

    #[test]
    fn a_form_becomes_a_command_with_parsed_ids() {
        let command = StartCall::try_from(form(&[])).expect("valid");
        assert_eq!(
            command,
            StartCall {
                started_from: StartedFrom::SlashCommand,
                workspace: Workspace::team(id("T0TEAM0001")),
                channel_id: id("C0CHAN0001"),
                user_id: id("U0USER0001"),
                user_name: "U0USER0001".into(),
                title: Some("Standup".into()),
                kind: CallKind::Video,
                phone_number: None,
                response_url: "https://hooks.slack.com/x".into(),
            }
        );
        let button = StartCall::try_from(form(&[
            ("command", ""),
            ("type", "audio"),
            ("user_name", "ada"),
        ]))
        .expect("valid");
        assert_eq!(
            (button.started_from, button.kind, button.user_name.as_str()),
            (StartedFrom::CallButton, CallKind::Audio, "ada")
        );
    }

    #[test]
    fn an_org_wide_install_names_the_workspace_and_its_organisation() {
        let command = StartCall::try_from(form(&[
            ("enterprise_id", "E0ORG0001"),
            ("is_enterprise_install", "true"),
            ("api_app_id", "A0APP0001"),
        ]))
        .expect("valid");
        assert_eq!(
            command.workspace,
            Workspace {
                team_id: id("T0TEAM0001"),
                enterprise_id: Some(id("E0ORG0001")),
                is_enterprise_install: true,
            }
        );
        let workspace_install = StartCall::try_from(form(&[
            ("enterprise_id", "E0ORG0001"),
            ("is_enterprise_install", "false"),
        ]))
        .expect("valid");
        assert!(!workspace_install.workspace.is_enterprise_install);
        assert_eq!(
            refusal(&[("enterprise_id", "T0ORG0001")]),
            "enterprise_id is invalid: Slack enterprise id must start with E"
        );
    }

    #[test]
    fn a_malformed_id_is_refused_naming_its_field() {
        assert_eq!(
            StartCall::try_from(form(&[("user_id", "C0CHAN0001")])).map(|_| ()),
            Err(CommandError::InvalidField(InvalidField {
                field: "user_id",
                error: IdError::WrongPrefix {
                    kind: IdKind::User,
                    prefixes: "U or W"
                }
            }))
        );
        assert_eq!(
            refusal(&[("channel_id", "c0chan0001")]),
            "channel_id is invalid: Slack channel id must start with C, G or D"
        );
        assert_eq!(
            refusal(&[("team_id", "T0\n01")]),
            "team_id is invalid: Slack team id must continue with uppercase letters and digits only"
        );
        assert_eq!(
            refusal(&[("command", ""), ("type", "fax")]),
            "type must be video or audio"
        );
    }

    /// Secrets whose first fetch takes `0` (a cold fetch); later reads are served from
    /// memory, as the deployed source's are.
    struct SlowSecrets(Duration, StaticSecrets, std::sync::atomic::AtomicBool);

    #[async_trait]
    impl SecretSource for SlowSecrets {
        async fn current(&self) -> Result<Arc<Secrets>, SecretsError> {
            if !self.2.swap(true, std::sync::atomic::Ordering::SeqCst) {
                tokio::time::sleep(self.0).await;
            }
            self.1.current().await
        }
        async fn refresh(&self) -> Result<Arc<Secrets>, SecretsError> {
            self.current().await
        }
    }

    /// A meeting provider that takes `0` to answer.
    struct SlowMeetings(Duration, UrlTemplateProvider);

    #[async_trait]
    impl MeetingProvider for SlowMeetings {
        async fn allocate(&self, request: &MeetingRequest) -> Result<Meeting, MeetingError> {
            tokio::time::sleep(self.0).await;
            self.1.allocate(request).await
        }
    }

    /// The answer's text and when it left, after a cold secret fetch of `secrets` and a
    /// meeting provider taking `meeting`.
    async fn answer_after(secrets: Duration, meeting: Duration) -> (String, Duration) {
        let config = Config::from_lookup(|_| None).expect("defaults");
        let provider = UrlTemplateProvider::from_config(&config);
        let source =
            StaticSecrets::from_lookup(|name| Some(format!("{name}-value"))).expect("secrets");
        let mut services = crate::wiring::services_with(
            Arc::new(config),
            Arc::new(EmbeddedStore::in_memory()),
            Arc::new(SlowSecrets(secrets, source, Default::default())),
            crate::slack::RetryPolicy::interactive(),
        )
        .expect("services");
        services.meetings = Arc::new(SlowMeetings(meeting, provider));
        let body = serde_urlencoded::to_string(form_fields(&[])).expect("form");
        let headers = slack::SIGNATURE.signed_headers(
            &SecretString::from("SLACK_SIGNING_SECRET-value".to_owned()),
            services.clock.now(),
            body.as_bytes(),
        );
        let arrived = tokio::time::Instant::now();
        let response = handle_command(&services, &headers, body.as_bytes()).await;
        let left = arrived.elapsed();
        assert_eq!(response.status(), StatusCode::OK);
        let json: serde_json::Value = serde_json::from_str(response.body()).expect("JSON");
        (json["text"].as_str().unwrap_or_default().to_owned(), left)
    }

    #[tokio::test(start_paused = true)]
    async fn the_answer_deadline_counts_from_the_requests_arrival() {
        // Time enough for both: the call starts.
        let (text, left) =
            answer_after(Duration::from_millis(500), Duration::from_millis(500)).await;
        assert!(text.starts_with("Your call is ready"), "{text}");
        assert_eq!(left, Duration::from_millis(1_000));
        // A slow secret fetch uses up the budget the meeting provider would have had.
        let (text, left) =
            answer_after(Duration::from_millis(2_000), Duration::from_millis(1_000)).await;
        assert_eq!(text, TRY_AGAIN);
        assert_eq!(
            left, ANSWER_DEADLINE,
            "the answer leaves 2.5 s after arrival"
        );
    }
}
