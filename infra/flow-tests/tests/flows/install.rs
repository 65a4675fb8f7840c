//! Installing the app from a browser: the install link, Slack's authorize page (the
//! stand-in's), the redirect back, the code's exchange, the stored installation. Every
//! way an install can fail stores nothing.

use http::StatusCode;
use secrecy::ExposeSecret;
use slack_calls::domain::{EnterpriseId, InstallationKey, TeamId, Workspace};
use slack_calls::entry::install::{INSTALL_PATH, REDIRECT_PATH, STATE_COOKIE};
use slack_calls::flows::install::BOT_SCOPES;
use slack_calls::flows::installation::bot_token;
use slack_standin::DEFAULT_TEAM_ID;

use flow_tests::world::World;

/// A browser that does not follow redirects, so each hop can be looked at.
fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap_or_else(|error| panic!("client: {error}"))
}

struct Page {
    status: StatusCode,
    location: Option<String>,
    set_cookie: Option<String>,
    body: String,
}

async fn get(url: &str, cookie: Option<&str>) -> Page {
    let mut request = browser().get(url);
    if let Some(cookie) = cookie {
        request = request.header("cookie", cookie);
    }
    let response = request
        .send()
        .await
        .unwrap_or_else(|error| panic!("GET {url}: {error}"));
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned)
    };
    let (location, set_cookie) = (header("location"), header("set-cookie"));
    let status = response.status();
    let body = response.text().await.unwrap_or_default();
    Page {
        status,
        location,
        set_cookie,
        body,
    }
}

/// One install attempt: the install link opened, the authorize page visited.
struct Attempt {
    /// `name=value` of the state cookie the install link set.
    cookie: String,
    /// Where the authorize page sent the browser back (our redirect URL).
    back: String,
}

/// Opens the install link and lets the stand-in's authorize page answer as it is set
/// up to (approve into a workspace, or cancel).
async fn attempt(world: &World) -> Attempt {
    let start = get(&format!("{}{INSTALL_PATH}", world.http.url()), None).await;
    assert_eq!(start.status, StatusCode::FOUND, "{}", start.body);
    let set_cookie = start.set_cookie.expect("the install link sets a cookie");
    let cookie = set_cookie.split(';').next().unwrap_or_default().to_owned();
    let authorize = start.location.expect("the install link redirects");
    let slack = get(&authorize, None).await;
    assert_eq!(slack.status, StatusCode::FOUND, "{}", slack.body);
    Attempt {
        cookie,
        back: slack.location.expect("the authorize page redirects back"),
    }
}

fn team(id: &str) -> InstallationKey {
    InstallationKey::Team(TeamId::parse(id).expect("team id"))
}

async fn installed(world: &World, key: &InstallationKey) -> bool {
    world
        .services
        .store
        .get_installation(key)
        .await
        .expect("store")
        .is_some()
}

fn exchanges(world: &World) -> usize {
    world.standin.requests_for("oauth.v2.access").len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_install_from_the_link_to_a_sealed_installation() {
    let world = World::start().await;
    let workspace = world.standin.add_workspace("T0B", None);
    world.standin.authorize_as(&workspace, "U0ADMIN");

    let start = get(&format!("{}{INSTALL_PATH}", world.http.url()), None).await;
    assert_eq!(start.status, StatusCode::FOUND);
    assert!(
        start.body.contains("Continue to Slack"),
        "a page for clients that do not follow redirects"
    );
    let cookie = start.set_cookie.clone().expect("cookie");
    for attribute in [
        "Max-Age=600",
        &format!("Path={REDIRECT_PATH}"),
        "Secure",
        "HttpOnly",
        "SameSite=Lax",
    ] {
        assert!(
            cookie.split("; ").any(|part| part == attribute),
            "{attribute} missing from {cookie}"
        );
    }
    let authorize = url::Url::parse(start.location.as_deref().expect("location")).expect("URL");
    assert!(authorize
        .as_str()
        .starts_with(&world.standin.authorize_url()));
    let query: std::collections::HashMap<_, _> = authorize.query_pairs().into_owned().collect();
    assert_eq!(query["client_id"], world.standin.oauth_client().0);
    assert_eq!(query["scope"], BOT_SCOPES.join(","));
    let redirect_uri = format!("{}{REDIRECT_PATH}", world.http.url());
    assert_eq!(query["redirect_uri"], redirect_uri);
    assert_eq!(query["state"].len(), 64);

    let slack = get(authorize.as_str(), None).await;
    let back = slack.location.expect("redirect back");
    assert!(back.starts_with(&redirect_uri), "{back}");
    let cookie = cookie.split(';').next().unwrap_or_default().to_owned();
    assert!(cookie.starts_with(&format!("{STATE_COOKIE}=")));
    let done = get(&back, Some(&cookie)).await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    assert!(done.body.contains("Calls is installed"), "{}", done.body);
    assert!(
        done.body.contains("https://slack.com/app_redirect?app="),
        "{}",
        done.body
    );
    assert!(
        done.set_cookie
            .as_deref()
            .is_some_and(|c| c.contains("Max-Age=0")),
        "the cookie is cleared"
    );

    // Exchanged once, with the same redirect URI; stored sealed.
    let access = world.standin.requests_for("oauth.v2.access");
    assert_eq!(access.len(), 1);
    assert_eq!(access[0].body["redirect_uri"], redirect_uri.as_str());
    let installation = world
        .services
        .store
        .get_installation(&team("T0B"))
        .await
        .expect("store")
        .expect("installed");
    assert_eq!(
        installation.team_id.as_ref().map(TeamId::as_str),
        Some("T0B")
    );
    assert_eq!(
        installation.installer_user_id.as_ref().map(|u| u.as_str()),
        Some("U0ADMIN")
    );
    assert_eq!(installation.bot_scopes, BOT_SCOPES);
    assert!(!installation.is_enterprise_install);
    let issued = world.standin.issued_tokens();
    assert_eq!(issued.len(), 1);
    let stored = format!("{installation:?}");
    assert!(
        !stored.contains(&issued[0].access_token),
        "the token is sealed"
    );
    let token = bot_token(
        &world.services,
        &Workspace::team(TeamId::parse("T0B").expect("id")),
    )
    .await
    .expect("the installation serves its workspace");
    assert_eq!(token.expose_secret(), issued[0].access_token);

    // The same redirect again (a reload, or someone replaying it): refused, nothing
    // exchanged or written.
    let version = installation.version;
    let again = get(&back, Some(&cookie)).await;
    assert_eq!(again.status, StatusCode::BAD_REQUEST);
    assert!(again.body.contains("already used"), "{}", again.body);
    assert_eq!(exchanges(&world), 1);
    let after = world
        .services
        .store
        .get_installation(&team("T0B"))
        .await
        .expect("store")
        .expect("still installed");
    assert_eq!(after.version, version);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_state_is_refused() {
    let world = World::start().await;
    let attempt = attempt(&world).await;
    world.clock.advance(601);
    let page = get(&attempt.back, Some(&attempt.cookie)).await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    assert!(page.body.contains("expired"), "{}", page.body);
    assert_eq!(exchanges(&world), 0);
    assert!(!installed(&world, &team(DEFAULT_TEAM_ID)).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_or_another_browsers_cookie_is_refused() {
    let world = World::start().await;
    let without = attempt(&world).await;
    let page = get(&without.back, None).await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    assert!(page.body.contains("another browser"), "{}", page.body);

    // Two browsers start; the first's redirect arrives with the second's cookie.
    let first = attempt(&world).await;
    let second = attempt(&world).await;
    let page = get(&first.back, Some(&second.cookie)).await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    // The refused attempt is used up: its own browser cannot finish it either.
    let page = get(&first.back, Some(&first.cookie)).await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);

    assert_eq!(exchanges(&world), 0);
    assert!(!installed(&world, &team(DEFAULT_TEAM_ID)).await);
    // A redirect with no state at all.
    let page = get(
        &format!("{}{REDIRECT_PATH}?code=1.x", world.http.url()),
        None,
    )
    .await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    assert_eq!(exchanges(&world), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_install_stores_nothing() {
    let world = World::start().await;
    world.standin.deny_next_authorize();
    let attempt = attempt(&world).await;
    assert!(
        attempt.back.contains("error=access_denied"),
        "{}",
        attempt.back
    );
    let page = get(&attempt.back, Some(&attempt.cookie)).await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    assert!(page.body.contains("cancelled"), "{}", page.body);
    assert_eq!(exchanges(&world), 0);
    assert!(!installed(&world, &team(DEFAULT_TEAM_ID)).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_code_slack_refuses_stores_nothing() {
    let world = World::start().await;
    let attempt = attempt(&world).await;
    let mut back = url::Url::parse(&attempt.back).expect("URL");
    let state = back
        .query_pairs()
        .find(|(name, _)| name == "state")
        .map(|(_, value)| value.into_owned())
        .expect("state");
    back.query_pairs_mut()
        .clear()
        .append_pair("code", "1.not-a-code")
        .append_pair("state", &state);
    let page = get(back.as_str(), Some(&attempt.cookie)).await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    assert!(page.body.contains("invalid_code"), "{}", page.body);
    assert_eq!(exchanges(&world), 1, "Slack was asked, and refused");
    assert!(!installed(&world, &team(DEFAULT_TEAM_ID)).await);
    assert!(world.standin.issued_tokens().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_org_wide_install_is_stored_for_the_organisation() {
    let world = World::start().await;
    let workspace = world.standin.add_workspace("T0G", Some("E0ORG"));
    world.standin.authorize_org_as("E0ORG", "U0ADMIN");
    let attempt = attempt(&world).await;
    let page = get(&attempt.back, Some(&attempt.cookie)).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("organisation"), "{}", page.body);

    let enterprise = EnterpriseId::parse("E0ORG").expect("id");
    let installation = world
        .services
        .store
        .get_installation(&InstallationKey::Enterprise(enterprise.clone()))
        .await
        .expect("store")
        .expect("installed for the organisation");
    assert!(installation.is_enterprise_install);
    assert_eq!(installation.team_id, None);
    assert_eq!(installation.enterprise_id.as_ref(), Some(&enterprise));
    assert!(!installed(&world, &team(workspace.team_id())).await);

    // A workspace of the organisation is served by it.
    let member = Workspace {
        team_id: TeamId::parse(workspace.team_id()).expect("id"),
        enterprise_id: Some(enterprise),
        is_enterprise_install: true,
    };
    let token = bot_token(&world.services, &member)
        .await
        .expect("served by the org-wide install");
    let issued = world.standin.issued_tokens();
    assert_eq!(token.expose_secret(), issued[0].access_token);
    assert!(issued[0].is_enterprise_install);
}
