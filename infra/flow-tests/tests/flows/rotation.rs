//! Token rotation against the stand-in, whose refresh tokens are single-use: a
//! rotating bot token due for refresh in two containers at once is refreshed once, and
//! both go on with the new token.

use std::sync::Arc;

use http::StatusCode;
use secrecy::ExposeSecret;
use slack_calls::domain::{TeamId, Workspace};
use slack_calls::flows::installation::{bot_token, TokenCaches};

use flow_tests::world::World;

use crate::install::{attempt, get};

const TEAM: &str = "T0ROTATE1";
/// Slack's rotating tokens live 12 hours; ours are refreshed in their last two.
const INTO_THE_LAST_TWO_HOURS: i64 = 10 * 3600 + 60;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_containers_refreshing_at_once_use_the_refresh_token_once() {
    let world = World::start().await;
    world.standin.set_rotation(true);
    let handle = world.standin.add_workspace(TEAM, None);
    world.standin.authorize_as(&handle, "U0ADMIN");
    let install = attempt(&world).await;
    let done = get(&install.back, Some(&install.cookie)).await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    let first = world.standin.issued_tokens();
    assert_eq!(first.len(), 1);
    assert!(first[0].refresh_token.is_some(), "rotation is on");

    // Ten hours on, in this container and in another one (same table, its own caches).
    world.clock.advance(INTO_THE_LAST_TWO_HOURS);
    let mut other = world.services.clone();
    other.token_caches = Arc::new(TokenCaches::default());
    let workspace = Workspace::team(TeamId::parse(TEAM).expect("team id"));
    let (here, there) = tokio::join!(
        bot_token(&world.services, &workspace),
        bot_token(&other, &workspace)
    );
    let here = here.expect("this container has a token");
    let there = there.expect("the other container has a token");

    let issued = world.standin.issued_tokens();
    let refreshes: Vec<_> = issued
        .iter()
        .filter(|token| token.grant_type == "refresh_token")
        .collect();
    assert_eq!(refreshes.len(), 1, "one refresh-token use won: {issued:?}");
    assert_eq!(here.expose_secret(), refreshes[0].access_token);
    assert_eq!(there.expose_secret(), refreshes[0].access_token);
    assert_ne!(here.expose_secret(), first[0].access_token);

    // The new token works, and a later request in either container needs no refresh.
    let identity = world
        .services
        .slack
        .auth_test(&here)
        .await
        .expect("Slack accepts the refreshed token");
    assert_eq!(identity.team_id.as_str(), TEAM);
    let exchanges = world.standin.requests_for("oauth.v2.access").len();
    bot_token(&other, &workspace).await.expect("token");
    bot_token(&world.services, &workspace).await.expect("token");
    assert_eq!(
        world.standin.requests_for("oauth.v2.access").len(),
        exchanges
    );
}
