//! Which installation a Slack request belongs to, settled before anything is done for
//! it: a request for another app is refused, one from a workspace without the app is
//! answered without any Slack or meeting call.

use crate::config::Config;
use crate::domain::Workspace;

use super::installation::{self, TokenError};
use super::Services;

/// Who sent a Slack request: the workspace it names and the app it was sent to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    pub workspace: Workspace,
    /// `api_app_id`; Slack sends it on every command and event.
    pub app_id: Option<String>,
}

/// What may be done for a request from an [`Origin`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Admission {
    Admitted,
    /// The app is not installed for the workspace (never was, or was uninstalled).
    NotInstalled,
    /// The request names another app than ours.
    OtherApp,
}

/// An installation serving a workspace, as far as the edge needs to know it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Installed {
    /// The app it was installed for, when the installation records it.
    pub app_id: Option<String>,
}

/// The installation serving `workspace`, if any. The one place the edge asks: a
/// workspace is served when it has an installation with tokens (its own, or its
/// organisation's), or in single-workspace mode when the secret's token is its own.
/// Cached per container; the token is not opened here.
pub async fn installed(
    services: &Services,
    workspace: &Workspace,
) -> Result<Option<Installed>, TokenError> {
    match installation::installation_for(services, workspace).await {
        Ok(installation) => Ok(Some(Installed {
            app_id: installation.app_id,
        })),
        Err(TokenError::NotInstalled) => Ok(None),
        Err(error) => Err(error),
    }
}

/// Whether a request from `origin` is served. A configured `SLACK_APP_ID` is checked
/// first, so a request for another app costs no store read.
pub async fn admit(services: &Services, origin: &Origin) -> Result<Admission, TokenError> {
    if !app_matches(services.config.slack_app_id.as_deref(), origin) {
        return Ok(Admission::OtherApp);
    }
    let Some(installed) = installed(services, &origin.workspace).await? else {
        return Ok(Admission::NotInstalled);
    };
    Ok(if app_matches(installed.app_id.as_deref(), origin) {
        Admission::Admitted
    } else {
        Admission::OtherApp
    })
}

/// A request naming no app is not ours once we know which app we are.
fn app_matches(expected: Option<&str>, origin: &Origin) -> bool {
    expected.is_none_or(|expected| origin.app_id.as_deref() == Some(expected))
}

/// Where a workspace without the app installs it: `SLACK_INSTALL_URL`, else the install
/// route on the host the request came to.
pub fn install_url(config: &Config, host: Option<&str>) -> Option<String> {
    if let Some(url) = &config.slack_install_url {
        return Some(url.clone());
    }
    let host = host?.trim();
    let valid = !host.is_empty()
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'));
    if !valid {
        return None;
    }
    let local = host.starts_with("127.0.0.1") || host.starts_with("localhost");
    let scheme = if local { "http" } else { "https" };
    Some(format!("{scheme}://{host}/slack/install"))
}

/// What `/call` answers in a workspace without the app.
pub fn not_installed_message(install_url: Option<&str>) -> String {
    match install_url {
        Some(url) => format!(
            "This calls app is not installed in this workspace yet, or no longer is. <{url}|Install it>, then try again."
        ),
        None => "This calls app is not installed in this workspace yet, or no longer is. Ask an admin to install it, then try again.".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ids::id;

    fn config(pairs: &[(&str, &str)]) -> Config {
        Config::from_lookup(|name| {
            pairs
                .iter()
                .find(|(key, _)| *key == name)
                .map(|(_, value)| (*value).to_owned())
        })
        .unwrap_or_else(|error| panic!("test config: {error}"))
    }

    fn origin(app_id: Option<&str>) -> Origin {
        Origin {
            workspace: Workspace::team(id("T0TEAM0001")),
            app_id: app_id.map(str::to_owned),
        }
    }

    #[test]
    fn only_our_app_matches_once_we_know_it() {
        assert!(app_matches(None, &origin(None)));
        assert!(app_matches(None, &origin(Some("A0OTHER"))));
        assert!(app_matches(Some("A0OURS"), &origin(Some("A0OURS"))));
        assert!(!app_matches(Some("A0OURS"), &origin(Some("A0OTHER"))));
        assert!(!app_matches(Some("A0OURS"), &origin(None)));
    }

    #[test]
    fn the_install_link_is_configured_or_derived_from_a_plain_host() {
        let configured = config(&[("SLACK_INSTALL_URL", "https://calls.example/install")]);
        assert_eq!(
            install_url(&configured, Some("api.example")).as_deref(),
            Some("https://calls.example/install")
        );
        let derived = config(&[]);
        assert_eq!(
            install_url(&derived, Some("abc.execute-api.eu-west-1.amazonaws.com")).as_deref(),
            Some("https://abc.execute-api.eu-west-1.amazonaws.com/slack/install")
        );
        assert_eq!(
            install_url(&derived, Some("127.0.0.1:3000")).as_deref(),
            Some("http://127.0.0.1:3000/slack/install")
        );
        assert_eq!(install_url(&derived, None), None);
        assert_eq!(install_url(&derived, Some("evil.example/x?<a|b>")), None);
        assert!(
            not_installed_message(Some("https://x.example/slack/install"))
                .contains("<https://x.example/slack/install|Install it>")
        );
        assert!(not_installed_message(None).contains("Ask an admin"));
    }
}
