//! The demo's second workspace: someone installs the app there through the install
//! link, with the stand-in playing Slack's authorize page, and `/call` in that
//! workspace registers its call with the bot token that install obtained.

use std::time::Instant;

use http::header::{COOKIE, LOCATION, SET_COOKIE};
use slack_standin::WorkspaceHandle;

use super::{DemoError, Driver};

const SECOND_TEAM: &str = "T0DEMO0002";
const SECOND_CHANNEL: &str = "C0DEMO0B01";
const SECOND_CHANNEL_NAME: &str = "planning";
const SECOND_STARTER: &str = "U0DEMO0B01";
const SECOND_STARTER_NAME: &str = "lin";
const INSTALLER: &str = "U0DEMO0ADM";

/// What the install left behind: the workspace, and the bot token Slack issued to it.
pub(super) struct Installed {
    workspace: WorkspaceHandle,
    bot_token: String,
}

impl Driver<'_> {
    /// A browser opens the install link, approves on Slack's authorize page, and is
    /// sent back to the app, which exchanges the code and stores the installation.
    pub(super) async fn install_second_workspace(
        &mut self,
        step: usize,
    ) -> Result<Installed, DemoError> {
        let started = Instant::now();
        let workspace = self.standin.add_workspace(SECOND_TEAM, None);
        self.standin.authorize_as(&workspace, INSTALLER);
        // A browser that shows each redirect instead of following it, so the cookie
        // the install link sets can be handed back as a browser would.
        let browser = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| self.fail(step, e.to_string()))?;
        let link = format!("{}/slack/install", self.base_url);
        let start = browser
            .get(&link)
            .send()
            .await
            .map_err(|e| self.fail(step, format!("GET {link}: {e}")))?;
        let cookie = header(&start, SET_COOKIE)
            .and_then(|cookie| cookie.split(';').next().map(str::to_owned))
            .ok_or_else(|| self.fail(step, "the install link set no cookie".into()))?;
        let authorize = redirect_of(&start).ok_or_else(|| {
            self.fail(
                step,
                format!("the install link answered {}", start.status()),
            )
        })?;
        let approved = browser
            .get(&authorize)
            .send()
            .await
            .map_err(|e| self.fail(step, format!("Slack's authorize page: {e}")))?;
        let back = redirect_of(&approved).ok_or_else(|| {
            self.fail(
                step,
                format!("Slack's authorize page answered {}", approved.status()),
            )
        })?;
        let finished = browser
            .get(&back)
            .header(COOKIE, cookie)
            .send()
            .await
            .map_err(|e| self.fail(step, format!("the OAuth redirect: {e}")))?;
        let status = finished.status();
        let page = finished.text().await.unwrap_or_default();
        if !status.is_success() || !page.contains("Calls is installed") {
            return Err(self.fail(step, format!("the install page answered {status}: {page}")));
        }
        let bot_token = self
            .standin
            .issued_tokens()
            .into_iter()
            .rev()
            .find(|issued| issued.team_id.as_deref() == Some(SECOND_TEAM))
            .map(|issued| issued.access_token)
            .ok_or_else(|| self.fail(step, "oauth.v2.access issued no token".into()))?;
        self.step(
            started,
            format!(
                "workspace {SECOND_TEAM} installs the app from {link}: Slack's authorize page, \
                 back to the app, \"Calls is installed\" (a bot token of its own from oauth.v2.access)"
            ),
        );
        Ok(Installed {
            workspace,
            bot_token,
        })
    }

    /// `/call` in the second workspace: its call is registered with its own token.
    pub(super) async fn call_in_second_workspace(
        &mut self,
        step: usize,
        installed: &Installed,
    ) -> Result<(), DemoError> {
        let started = Instant::now();
        let response_url = installed.workspace.new_response_url(SECOND_CHANNEL);
        let form = serde_urlencoded::to_string([
            ("api_app_id", slack_standin::STANDIN_APP_ID),
            ("team_id", SECOND_TEAM),
            ("team_domain", "sandbox-two"),
            ("channel_id", SECOND_CHANNEL),
            ("channel_name", SECOND_CHANNEL_NAME),
            ("user_id", SECOND_STARTER),
            ("user_name", SECOND_STARTER_NAME),
            ("command", "/call"),
            ("text", "Planning"),
            ("response_url", response_url.as_str()),
            ("trigger_id", "13345224609.738474921.8088930838d88f008e1"),
        ])
        .map_err(|e| self.fail(step, e.to_string()))?;
        self.post_command(form)
            .await
            .map_err(|e| self.fail(step, e))?;
        let added = self.wait_for("calls.add", 2, step).await?;
        let post = self.wait_for("response_url", 2, step).await?;
        if added.token.as_deref() != Some(installed.bot_token.as_str()) {
            return Err(self.fail(
                step,
                "the second workspace's call was not registered with its own token".into(),
            ));
        }
        let call_id = post.body["blocks"][0]["call_id"]
            .as_str()
            .unwrap_or_default();
        self.step(
            started,
            format!(
                "/call Planning in #{SECOND_CHANNEL_NAME} of {SECOND_TEAM} -> call object {call_id}, \
                 registered with that workspace's own token"
            ),
        );
        Ok(())
    }
}

fn header(response: &reqwest::Response, name: http::HeaderName) -> Option<String> {
    response
        .headers()
        .get(name)
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned)
}

/// Where a `302` sends the browser.
fn redirect_of(response: &reqwest::Response) -> Option<String> {
    if response.status() != reqwest::StatusCode::FOUND {
        return None;
    }
    header(response, LOCATION)
}
