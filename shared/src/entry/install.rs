//! `GET /slack/install` and `GET /slack/oauth_redirect`: a person installs the app from
//! a browser. The install link answers `302` to Slack's authorize page and sets the
//! cookie that binds the attempt to this browser; Slack's redirect is checked,
//! exchanged and answered with a small page that says what happened.

use http::header::{HeaderValue, COOKIE, HOST, SET_COOKIE};
use http::request::Parts;
use http::{Method, Response, StatusCode};
use secrecy::{ExposeSecret, SecretString};

use crate::domain::Installation;
use crate::flows::install::{finish_install, start_install, InstallError, OAuthRedirect};
use crate::flows::Services;

use super::install_page::{html_page, redirect};

pub const INSTALL_PATH: &str = "/slack/install";
pub const REDIRECT_PATH: &str = "/slack/oauth_redirect";
/// The cookie that binds an install attempt to the browser that started it.
pub const STATE_COOKIE: &str = "slack_calls_install";
/// Longest query accepted: Slack's redirect carries a code and a state.
const MAX_QUERY_BYTES: usize = 4 * 1024;

/// Answers either route; `parts` is the request as the function or the local server
/// received it (the URL may be absolute, as `lambda_http` makes it, or a bare path).
pub async fn handle_install(services: &Services, parts: &Parts) -> Response<String> {
    let path = parts.uri.path();
    let Some(urls) = InstallUrls::of(services, parts) else {
        return html_page(
            StatusCode::BAD_REQUEST,
            "Bad request",
            "The request does not say which host it was sent to.",
            None,
        );
    };
    if parts.method != Method::GET {
        return html_page(
            StatusCode::METHOD_NOT_ALLOWED,
            "Method not allowed",
            "Open this address in a browser.",
            None,
        );
    }
    if path.ends_with(INSTALL_PATH) {
        begin(services, &urls).await
    } else if path.ends_with(REDIRECT_PATH) {
        finish(services, parts, &urls).await
    } else {
        html_page(StatusCode::NOT_FOUND, "Not found", "No such page.", None)
    }
}

async fn begin(services: &Services, urls: &InstallUrls) -> Response<String> {
    match start_install(services, &urls.redirect_uri).await {
        Ok(start) => {
            let mut response = redirect(&start.authorize_url);
            let cookie = state_cookie(urls, start.browser_nonce.expose_secret(), start.max_age);
            if let Ok(cookie) = HeaderValue::from_str(&cookie) {
                response.headers_mut().insert(SET_COOKIE, cookie);
            }
            response
        }
        Err(error) => {
            tracing::error!(%error, "an install could not start");
            failure_page(&error, urls)
        }
    }
}

async fn finish(services: &Services, parts: &Parts, urls: &InstallUrls) -> Response<String> {
    let query = parts.uri.query().unwrap_or_default();
    let redirect: OAuthRedirect = if query.len() > MAX_QUERY_BYTES {
        OAuthRedirect::default()
    } else {
        serde_urlencoded::from_str(query).unwrap_or_default()
    };
    let nonce = cookie_value(&parts.headers, STATE_COOKIE).map(SecretString::from);
    let mut response = match finish_install(services, &redirect, nonce.as_ref(), &urls.redirect_uri)
        .await
    {
        Ok(installation) => success_page(&installation),
        Err(error) => {
            match &error {
                InstallError::Store(_) | InstallError::Secrets(_) | InstallError::NotStored(_) => {
                    tracing::error!(%error, "an install failed")
                }
                _ => tracing::warn!(%error, "an install was refused"),
            }
            failure_page(&error, urls)
        }
    };
    // The attempt is over either way: the state is used up.
    if let Ok(cookie) = HeaderValue::from_str(&state_cookie(urls, "", 0)) {
        response.headers_mut().insert(SET_COOKIE, cookie);
    }
    response
}

/// The addresses of an install, as the browser sees them.
struct InstallUrls {
    /// Where Slack sends the browser back (`SLACK_REDIRECT_URI`, else this host's).
    redirect_uri: String,
    /// The install link itself, to start again from.
    install_url: String,
    /// The redirect's path: the cookie is sent there and nowhere else.
    cookie_path: String,
}

impl InstallUrls {
    fn of(services: &Services, parts: &Parts) -> Option<InstallUrls> {
        let path = parts.uri.path();
        // Whatever precedes the route (an API stage, a custom domain's base path).
        let prefix = path
            .strip_suffix(INSTALL_PATH)
            .or_else(|| path.strip_suffix(REDIRECT_PATH))
            .unwrap_or_default();
        let origin = origin(parts)?;
        let install_url = format!("{origin}{prefix}{INSTALL_PATH}");
        let redirect_uri = services
            .config
            .slack_redirect_uri
            .clone()
            .unwrap_or_else(|| format!("{origin}{prefix}{REDIRECT_PATH}"));
        let cookie_path = url::Url::parse(&redirect_uri)
            .map(|url| url.path().to_owned())
            .unwrap_or_else(|_| format!("{prefix}{REDIRECT_PATH}"));
        Some(InstallUrls {
            redirect_uri,
            install_url,
            cookie_path,
        })
    }
}

/// `scheme://host[:port]` of the request: from an absolute URI, else the `Host` header
/// with `X-Forwarded-Proto` (plain `http` only on loopback, for local runs).
fn origin(parts: &Parts) -> Option<String> {
    let host = match parts.uri.authority() {
        Some(authority) => authority.as_str().to_owned(),
        None => parts.headers.get(HOST)?.to_str().ok()?.to_owned(),
    };
    let host_is_sane = !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-.:[]".contains(&b));
    if !host_is_sane {
        return None;
    }
    let forwarded = parts
        .headers
        .get("x-forwarded-proto")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(',').next())
        .map(str::trim);
    let loopback = ["127.0.0.1", "localhost", "[::1]"]
        .iter()
        .any(|local| host == *local || host.starts_with(&format!("{local}:")));
    let scheme = match (parts.uri.scheme_str(), forwarded) {
        (Some(scheme), _) => scheme,
        (None, Some("http")) if loopback => "http",
        (None, None) if loopback => "http",
        _ => "https",
    };
    Some(format!("{scheme}://{host}"))
}

/// The state cookie: `value` for `max_age` seconds (0 clears it).
fn state_cookie(urls: &InstallUrls, value: &str, max_age: i64) -> String {
    format!(
        "{STATE_COOKIE}={value}; Max-Age={max_age}; Path={}; Secure; HttpOnly; SameSite=Lax",
        urls.cookie_path
    )
}

/// The value of cookie `name` from the request's `Cookie` header(s).
fn cookie_value(headers: &http::HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, value)| *key == name && !value.is_empty())
        .map(|(_, value)| value.to_owned())
}

fn success_page(installation: &Installation) -> Response<String> {
    let place = match (&installation.team_name, &installation.enterprise_name) {
        (_, Some(org)) if installation.is_enterprise_install => format!("the {org} organisation"),
        (Some(team), _) => team.clone(),
        _ => "your workspace".to_owned(),
    };
    // Opens the app in Slack (desktop or browser).
    let mut open = url::Url::parse("https://slack.com/app_redirect").ok();
    if let Some(url) = &mut open {
        let mut query = url.query_pairs_mut();
        if let Some(app_id) = &installation.app_id {
            query.append_pair("app", app_id);
        }
        if let Some(team) = &installation.team_id {
            query.append_pair("team", team.as_str());
        }
    }
    let open = open
        .filter(|_| installation.app_id.is_some())
        .map(String::from);
    html_page(
        StatusCode::OK,
        "Calls is installed",
        &format!(
            "Calls is now installed in {place}. Type /call in any conversation to start a call."
        ),
        open.as_deref().map(|href| (href, "Open Slack")),
    )
}

fn failure_page(error: &InstallError, urls: &InstallUrls) -> Response<String> {
    let again = Some((urls.install_url.as_str(), "Start again"));
    let (status, title, message, link) = match error {
        InstallError::NotConfigured => (
            StatusCode::SERVICE_UNAVAILABLE,
            "Installing is not set up yet",
            "This app's Slack client id and secret are not configured. Ask its provider to set them up.".to_owned(),
            None,
        ),
        InstallError::MissingState | InstallError::UnknownState => (
            StatusCode::BAD_REQUEST,
            "This install link was already used",
            "Each install link works once. Start again to install the app.".to_owned(),
            again,
        ),
        InstallError::Expired => (
            StatusCode::BAD_REQUEST,
            "This install link expired",
            "An install must be finished within 10 minutes. Start again to install the app.".to_owned(),
            again,
        ),
        InstallError::WrongBrowser => (
            StatusCode::FORBIDDEN,
            "Install from one browser",
            "This install was started in another browser, or your browser did not keep its cookie. Start again in this browser.".to_owned(),
            again,
        ),
        InstallError::Denied => (
            StatusCode::FORBIDDEN,
            "The app was not installed",
            "You cancelled the install in Slack, so nothing was installed.".to_owned(),
            again,
        ),
        InstallError::Refused(code) if code == "invalid_code" => (
            StatusCode::BAD_REQUEST,
            "The app was not installed",
            "Slack's code for this install is no longer valid (invalid_code). Start again to install the app.".to_owned(),
            again,
        ),
        InstallError::Refused(code) => (
            StatusCode::BAD_REQUEST,
            "The app was not installed",
            format!("Slack did not install the app ({code})."),
            again,
        ),
        InstallError::MissingCode => (
            StatusCode::BAD_REQUEST,
            "The app was not installed",
            "Slack's answer did not include an install code.".to_owned(),
            again,
        ),
        InstallError::SlackUnavailable(_) => (
            StatusCode::BAD_GATEWAY,
            "Slack could not be reached",
            "Nothing was installed. Start again in a minute.".to_owned(),
            again,
        ),
        InstallError::Store(_) | InstallError::Secrets(_) | InstallError::NotStored(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            "Something went wrong on our side",
            "Nothing was installed. Start again in a minute.".to_owned(),
            again,
        ),
    };
    html_page(status, title, &message, link)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(uri: &str, headers: &[(&str, &str)]) -> Parts {
        let mut request = http::Request::get(uri);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request.body(()).expect("request").into_parts().0
    }

    #[test]
    fn the_origin_comes_from_the_uri_or_the_host_header() {
        let lambda = parts(
            "https://abc.execute-api.eu-west-1.amazonaws.com/slack/install",
            &[("x-forwarded-proto", "https")],
        );
        assert_eq!(
            origin(&lambda).as_deref(),
            Some("https://abc.execute-api.eu-west-1.amazonaws.com")
        );
        let local = parts("/slack/install", &[("host", "127.0.0.1:3000")]);
        assert_eq!(origin(&local).as_deref(), Some("http://127.0.0.1:3000"));
        let tunnel = parts(
            "/slack/install",
            &[
                ("host", "calls.example.org"),
                ("x-forwarded-proto", "https"),
            ],
        );
        assert_eq!(
            origin(&tunnel).as_deref(),
            Some("https://calls.example.org")
        );
        let sneaky = parts("/slack/install", &[("host", "evil.example/x?")]);
        assert_eq!(origin(&sneaky), None);
        assert_eq!(origin(&parts("/slack/install", &[])), None);
    }

    #[test]
    fn the_state_cookie_is_found_among_others() {
        let request = parts(
            "/slack/oauth_redirect",
            &[("cookie", "a=1; slack_calls_install=n0nce; b=2")],
        );
        assert_eq!(
            cookie_value(&request.headers, STATE_COOKIE).as_deref(),
            Some("n0nce")
        );
        let empty = parts(
            "/slack/oauth_redirect",
            &[("cookie", "slack_calls_install=")],
        );
        assert_eq!(cookie_value(&empty.headers, STATE_COOKIE), None);
    }
}
