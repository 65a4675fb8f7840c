//! The sandbox demo: one call from click to end, through real HTTP against the local
//! server, with the Slack stand-in playing Slack; then a second workspace installs the
//! app through the install link and starts a call of its own. Every line it prints is
//! read back from what the stand-in actually received.

mod second_workspace;

use std::time::{Duration, Instant};

use secrecy::SecretString;
use slack_calls::{provider, slack};
use slack_standin::{RecordedRequest, SlackStandin};

use crate::Sandbox;

const CHANNEL: &str = "C0DEMO0001";
const CHANNEL_NAME: &str = "demo";
const STARTER: &str = "U0DEMO0001";
const STARTER_NAME: &str = "ada";
const JOINER: &str = "U0DEMO0002";
const GUEST_ID: &str = "guest-42";
const GUEST_NAME: &str = "Grace (guest)";
/// How long one step may wait for Slack to see its effect.
const STEP_TIMEOUT: Duration = Duration::from_secs(15);

#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error("step {step}: {reason}")]
    Step { step: usize, reason: String },
}

/// One step of the demo: what Slack would show, and when.
#[derive(Debug, Clone)]
pub struct DemoStep {
    pub number: usize,
    pub line: String,
    pub took: Duration,
}

struct Driver<'a> {
    http: reqwest::Client,
    base_url: String,
    standin: &'a SlackStandin,
    signing_secret: &'a SecretString,
    provider_secret: &'a SecretString,
    steps: Vec<DemoStep>,
    print: &'a mut dyn FnMut(&DemoStep),
}

/// Runs the demo against `sandbox`, calling `print` as each step completes.
pub async fn run(
    sandbox: &Sandbox,
    print: &mut dyn FnMut(&DemoStep),
) -> Result<Vec<DemoStep>, DemoError> {
    let mut driver = Driver {
        http: reqwest::Client::new(),
        base_url: sandbox.running.server.url(),
        standin: &sandbox.standin,
        signing_secret: &sandbox.signing_secret,
        provider_secret: &sandbox.provider_webhook_secret,
        steps: Vec::new(),
        print,
    };
    driver.run().await?;
    Ok(driver.steps)
}

impl Driver<'_> {
    async fn run(&mut self) -> Result<(), DemoError> {
        // 1. Someone types `/call Demo standup`.
        let started = Instant::now();
        let clicked = started;
        let response_url = self.standin.new_response_url(CHANNEL);
        let form = serde_urlencoded::to_string([
            ("team_id", self.standin.team_id()),
            ("team_domain", "sandbox"),
            ("channel_id", CHANNEL),
            ("channel_name", CHANNEL_NAME),
            ("user_id", STARTER),
            ("user_name", STARTER_NAME),
            ("command", "/call"),
            ("text", "Demo standup"),
            ("response_url", response_url.as_str()),
            ("trigger_id", "13345224609.738474920.8088930838d88f008e0"),
        ])
        .map_err(|e| self.fail(1, e.to_string()))?;
        let answer = self.post_command(form).await.map_err(|e| self.fail(1, e))?;
        let ephemeral = answer["text"].as_str().unwrap_or_default().to_owned();
        self.step(started, format!("/call Demo standup in #{CHANNEL_NAME} -> only {STARTER_NAME} sees: \"{ephemeral}\""));

        // 2. The worker registers the call and posts the call block: timed from the click.
        let started = clicked;
        let added = self.wait_for("calls.add", 1, 2).await?;
        let post = self.wait_for("response_url", 1, 2).await?;
        let call_id = post.body["blocks"][0]["call_id"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let join_url = added.body["join_url"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let external_unique_id = added.body["external_unique_id"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        if call_id.is_empty() || join_url.is_empty() {
            return Err(self.fail(2, "the call block or the join URL is missing".into()));
        }
        self.step(
            started,
            format!(
                "#{CHANNEL_NAME} shows a call object {call_id} \"{}\" (display id {}), join URL {join_url}",
                added.body["title"].as_str().unwrap_or_default(),
                added.body["external_display_id"].as_str().unwrap_or("-"),
            ),
        );

        // 3. Someone pastes the join link; Slack sends link_shared; we unfurl it.
        let started = Instant::now();
        let message_ts = "1700000000.000200";
        // The stand-in knows the message and its link, and names it by an unfurl_id.
        let shared = self
            .standin
            .link_shared(CHANNEL, message_ts, &[join_url.as_str()]);
        let event = serde_json::json!({
            "token": "unused-legacy-token",
            "team_id": self.standin.team_id(),
            "api_app_id": slack_standin::STANDIN_APP_ID,
            "type": "event_callback",
            "event_id": "Ev0DEMO0001",
            "event_time": unix_now(),
            "authed_users": [STARTER],
            "event": shared.event(JOINER, &[join_url.as_str()]),
        });
        self.post_signed(
            "/slack/events",
            event.to_string().into_bytes(),
            "application/json",
            &slack::SIGNATURE,
            self.signing_secret,
        )
        .await
        .map_err(|e| self.fail(3, e))?;
        let unfurl = self.wait_for("chat.unfurl", 1, 3).await?;
        let unfurled_id = unfurl.body["unfurls"][join_url.as_str()]["blocks"][0]["call_id"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        self.step(
            started,
            format!("the pasted join link unfurls as the same call object {unfurled_id}"),
        );

        // 4. Two people join: a Slack user and a guest.
        let started = Instant::now();
        self.provider_event(4, serde_json::json!([
            {"type": "participant.joined", "external_unique_id": external_unique_id,
             "participant": {"slack_id": STARTER}, "occurred_at": unix_now(), "event_id": "demo-1"},
            {"type": "participant.joined", "external_unique_id": external_unique_id,
             "participant": {"external_id": GUEST_ID, "display_name": GUEST_NAME}, "occurred_at": unix_now(), "event_id": "demo-2"},
        ]))
        .await?;
        let added = self.wait_for("calls.participants.add", 1, 4).await?;
        self.step(
            started,
            format!(
                "participants shown: {}",
                describe_users(&added.body["users"])
            ),
        );

        // 5. The guest leaves.
        let started = Instant::now();
        self.provider_event(5, serde_json::json!({
            "type": "participant.left", "external_unique_id": external_unique_id,
            "participant": {"external_id": GUEST_ID, "display_name": GUEST_NAME}, "occurred_at": unix_now() + 1, "event_id": "demo-3"
        }))
        .await?;
        let removed = self.wait_for("calls.participants.remove", 1, 5).await?;
        self.step(
            started,
            format!("{} left the call", describe_users(&removed.body["users"])),
        );

        // 6. The meeting is renamed.
        let started = Instant::now();
        self.provider_event(
            6,
            serde_json::json!({
                "type": "call.updated", "external_unique_id": external_unique_id,
                "title": "Demo standup (overtime)", "event_id": "demo-4"
            }),
        )
        .await?;
        let updated = self.wait_for("calls.update", 1, 6).await?;
        self.step(
            started,
            format!(
                "the call is renamed \"{}\"",
                updated.body["title"].as_str().unwrap_or_default()
            ),
        );

        // 7. The meeting ends.
        let started = Instant::now();
        self.provider_event(
            7,
            serde_json::json!({
                "type": "call.ended", "external_unique_id": external_unique_id, "event_id": "demo-5"
            }),
        )
        .await?;
        let ended = self.wait_for("calls.end", 1, 7).await?;
        self.step(
            started,
            format!(
                "the call object greys out: ended after {} s",
                ended.body["duration"]
                    .as_i64()
                    .map_or("?".into(), |d| d.to_string())
            ),
        );

        // 8. A second workspace installs the app; 9. a call there uses its own token.
        let installed = self.install_second_workspace(8).await?;
        self.call_in_second_workspace(9, &installed).await
    }

    fn step(&mut self, started: Instant, line: String) {
        let step = DemoStep {
            number: self.steps.len() + 1,
            line,
            took: started.elapsed(),
        };
        (self.print)(&step);
        self.steps.push(step);
    }

    fn fail(&self, step: usize, reason: String) -> DemoError {
        DemoError::Step { step, reason }
    }

    async fn provider_event(&self, step: usize, body: serde_json::Value) -> Result<(), DemoError> {
        self.post_signed(
            "/provider/events",
            body.to_string().into_bytes(),
            "application/json",
            &provider::SIGNATURE,
            self.provider_secret,
        )
        .await
        .map(|_| ())
        .map_err(|e| self.fail(step, e))
    }

    /// A slash command's form, signed as Slack signs it.
    async fn post_command(&self, form: String) -> Result<serde_json::Value, String> {
        self.post_signed(
            "/slack/commands",
            form.into_bytes(),
            "application/x-www-form-urlencoded",
            &slack::SIGNATURE,
            self.signing_secret,
        )
        .await
    }

    async fn post_signed(
        &self,
        path: &str,
        body: Vec<u8>,
        content_type: &str,
        scheme: &slack_calls::signing::SignatureScheme,
        secret: &SecretString,
    ) -> Result<serde_json::Value, String> {
        let headers = scheme.signed_headers(secret, unix_now(), &body);
        let response = self
            .http
            .post(format!("{}{path}", self.base_url))
            .headers(headers)
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .map_err(|e| format!("POST {path}: {e}"))?;
        let status = response.status();
        let text = response
            .text()
            .await
            .map_err(|e| format!("POST {path}: {e}"))?;
        if !status.is_success() {
            return Err(format!("POST {path} answered {status}: {text}"));
        }
        serde_json::from_str(&text)
            .map_err(|e| format!("POST {path} answered non-JSON ({e}): {text}"))
    }

    /// Waits until the stand-in has received `count` successful `method` requests and
    /// returns the last.
    async fn wait_for(
        &self,
        method: &str,
        count: usize,
        step: usize,
    ) -> Result<RecordedRequest, DemoError> {
        let deadline = Instant::now() + STEP_TIMEOUT;
        loop {
            let answered: Vec<RecordedRequest> = self
                .standin
                .requests_for(method)
                .into_iter()
                .filter(|r| r.status == Some(200) && r.error.is_none())
                .collect();
            if answered.len() >= count {
                if let Some(last) = answered.into_iter().last() {
                    return Ok(last);
                }
            }
            if Instant::now() > deadline {
                return Err(self.fail(step, format!("Slack never received a successful {method}")));
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

fn describe_users(users: &serde_json::Value) -> String {
    users
        .as_array()
        .map(|users| {
            users
                .iter()
                .map(|u| {
                    u["slack_id"]
                        .as_str()
                        .map(|id| format!("<@{id}>"))
                        .or_else(|| u["display_name"].as_str().map(str::to_owned))
                        .unwrap_or_else(|| "someone".into())
                })
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default()
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}
