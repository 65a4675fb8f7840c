//! Resolution order, single-workspace mode, rotation races and the installation's
//! life, on the embedded store with a Slack that only knows OAuth and `auth.test`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use secrecy::{ExposeSecret, SecretString};

use super::*;
use crate::clock::{Clock, ManualClock, SystemClock};
use crate::config::Config;
use crate::domain::ids::id;
use crate::domain::SlackCallId;
use crate::secrets::{Secrets, StaticSecrets};
use crate::slack::api::{
    CallsAdd, CallsEnd, CallsParticipants, CallsUpdate, ChatPostEphemeral, ChatPostMessage,
    ChatUnfurl, SlackCall,
};
use crate::slack::oauth::{ClientCredentials, Named, OAuthAccess, OAuthGrant};
use crate::slack::payloads::ResponseMessage;
use crate::slack::{ApiErrorCode, RetryPolicy, SlackApi};
use crate::store::embedded::EmbeddedStore;
use crate::store::CallStore;

const TWELVE_HOURS: i64 = 12 * 3_600;

/// Slack's OAuth as rotation has it: each refresh token works once and brings a new
/// pair. `auth.test` knows the secret's token.
#[derive(Default)]
struct FakeSlack {
    /// The one refresh token that works now, and how many pairs were handed out.
    refresh: Mutex<(String, usize)>,
    refresh_attempts: AtomicUsize,
    auth_tests: AtomicUsize,
    /// While a refresh is under way, this store's installation of T0ROT is renamed
    /// (a write that is not a refresh).
    meddle: Mutex<Option<Arc<dyn CallStore>>>,
}

impl FakeSlack {
    fn refreshes_won(&self) -> usize {
        self.refresh.lock().unwrap().1
    }
}

fn unsupported<T>(method: &'static str) -> Result<T, SlackError> {
    Err(SlackError::Api {
        method,
        code: ApiErrorCode::UnknownMethod,
    })
}

#[async_trait]
impl SlackApi for FakeSlack {
    async fn calls_add(&self, _: &SecretString, _: &CallsAdd) -> Result<SlackCall, SlackError> {
        unsupported("calls.add")
    }
    async fn calls_update(
        &self,
        _: &SecretString,
        _: &CallsUpdate,
    ) -> Result<SlackCall, SlackError> {
        unsupported("calls.update")
    }
    async fn calls_info(&self, _: &SecretString, _: &SlackCallId) -> Result<SlackCall, SlackError> {
        unsupported("calls.info")
    }
    async fn calls_end(&self, _: &SecretString, _: &CallsEnd) -> Result<(), SlackError> {
        unsupported("calls.end")
    }
    async fn calls_participants_add(
        &self,
        _: &SecretString,
        _: &CallsParticipants,
    ) -> Result<(), SlackError> {
        unsupported("calls.participants.add")
    }
    async fn calls_participants_remove(
        &self,
        _: &SecretString,
        _: &CallsParticipants,
    ) -> Result<(), SlackError> {
        unsupported("calls.participants.remove")
    }
    async fn chat_unfurl(&self, _: &SecretString, _: &ChatUnfurl) -> Result<(), SlackError> {
        unsupported("chat.unfurl")
    }
    async fn chat_post_ephemeral(
        &self,
        _: &SecretString,
        _: &ChatPostEphemeral,
    ) -> Result<(), SlackError> {
        unsupported("chat.postEphemeral")
    }
    async fn chat_post_message(
        &self,
        _: &SecretString,
        _: &ChatPostMessage,
    ) -> Result<(), SlackError> {
        unsupported("chat.postMessage")
    }
    async fn post_response_url(&self, _: &str, _: &ResponseMessage) -> Result<(), SlackError> {
        unsupported("response_url")
    }

    async fn oauth_v2_access(
        &self,
        grant: &OAuthGrant,
        client: &ClientCredentials,
    ) -> Result<OAuthAccess, SlackError> {
        assert_eq!(client.client_id, "111.222");
        let OAuthGrant::Refresh { refresh_token } = grant else {
            return unsupported("oauth.v2.access");
        };
        self.refresh_attempts.fetch_add(1, Ordering::SeqCst);
        let meddler = self.meddle.lock().unwrap().take();
        if let Some(store) = meddler {
            let key = InstallationKey::Team(id("T0ROT"));
            let mut renamed = store
                .get_installation(&key)
                .await
                .unwrap()
                .expect("installed");
            renamed.team_name = Some("Renamed".into());
            store.put_installation(&mut renamed).await.unwrap();
        }
        // Slow enough for a rival refresh to start meanwhile.
        tokio::time::sleep(Duration::from_millis(20)).await;
        let mut refresh = self.refresh.lock().unwrap();
        if refresh_token.expose_secret() != refresh.0 {
            return Err(SlackError::Api {
                method: "oauth.v2.access",
                code: ApiErrorCode::InvalidRefreshToken,
            });
        }
        refresh.1 += 1;
        let n = refresh.1;
        refresh.0 = format!("xoxe-1-refresh-{n}");
        Ok(access(&format!("xoxe.xoxb-{n}"), Some(&refresh.0)))
    }

    async fn auth_test(&self, token: &SecretString) -> Result<AuthTest, SlackError> {
        self.auth_tests.fetch_add(1, Ordering::SeqCst);
        if token.expose_secret() != "xoxb-secret-token" {
            return unsupported("auth.test");
        }
        Ok(AuthTest {
            team_id: id("T0SINGLE"),
            team: None,
            enterprise_id: None,
            is_enterprise_install: false,
            user_id: None,
            bot_id: None,
        })
    }
}

/// An answer of `oauth.v2.access` for team T0ROT.
fn access(token: &str, refresh: Option<&str>) -> OAuthAccess {
    OAuthAccess {
        app_id: Some("A0CALLS".into()),
        team: Some(Named {
            id: id("T0ROT"),
            name: Some("Rotating".into()),
        }),
        enterprise: None,
        is_enterprise_install: false,
        bot_user_id: Some(id("U0BOT")),
        scope: "commands,calls:write".into(),
        access_token: SecretString::from(token.to_owned()),
        refresh_token: refresh.map(|r| SecretString::from(r.to_owned())),
        expires_in: refresh.map(|_| TWELVE_HOURS),
        authed_user_id: Some(id("U0ADMIN")),
    }
}

fn org_access(enterprise: &str, team: Option<&str>, org_wide: bool, token: &str) -> OAuthAccess {
    OAuthAccess {
        team: team.map(|team| Named {
            id: id(team),
            name: None,
        }),
        enterprise: Some(Named {
            id: id(enterprise),
            name: Some("Org".into()),
        }),
        is_enterprise_install: org_wide,
        ..access(token, None)
    }
}

/// Services on `store` with the fake Slack; the clock starts at the real time (the
/// installation cache judges expiry by it).
fn services(store: Arc<dyn CallStore>, slack: Arc<FakeSlack>, secret_token: bool) -> Services {
    let secrets = StaticSecrets::new(Secrets {
        signing_secret: SecretString::from("signing"),
        bot_token: secret_token.then(|| SecretString::from("xoxb-secret-token")),
        provider_webhook_secret: SecretString::from("provider"),
        client_id: Some("111.222".into()),
        client_secret: Some(SecretString::from("client-secret")),
        meeting_api_token: None,
    });
    let config = Config::from_lookup(|_| None).expect("default configuration");
    let mut services = crate::wiring::services_with(
        Arc::new(config),
        store,
        Arc::new(secrets),
        RetryPolicy::worker(),
    )
    .expect("services");
    services.slack = slack;
    services.clock = Arc::new(ManualClock::new(SystemClock.now()));
    services
}

fn fresh() -> (Services, Arc<FakeSlack>) {
    let slack = Arc::new(FakeSlack::default());
    let store = Arc::new(EmbeddedStore::in_memory());
    (services(store, slack.clone(), false), slack)
}

fn workspace(team: &str, enterprise: Option<&str>, org_wide: bool) -> Workspace {
    Workspace {
        team_id: id(team),
        enterprise_id: enterprise.map(id),
        is_enterprise_install: org_wide,
    }
}

async fn token_for(services: &Services, workspace: &Workspace) -> Result<String, TokenError> {
    bot_token(services, workspace)
        .await
        .map(|token| token.expose_secret().to_owned())
}

#[tokio::test]
async fn an_install_is_sealed_and_resolved_for_its_workspace_only() {
    let (services, _) = fresh();
    let installed = install(&services, access("xoxb-team-token", None))
        .await
        .expect("installed");
    assert_eq!(installed.key, InstallationKey::Team(id("T0ROT")));
    assert_eq!(installed.bot_scopes, vec!["commands", "calls:write"]);
    let stored = serde_json::to_string(&installed).expect("serialisable");
    assert!(!stored.contains("xoxb-team-token"), "sealed at rest");

    let ours = workspace("T0ROT", None, false);
    assert_eq!(
        token_for(&services, &ours).await.ok().as_deref(),
        Some("xoxb-team-token")
    );
    let found = installation_for(&services, &ours)
        .await
        .expect("installed here");
    assert_eq!(found.app_id.as_deref(), Some("A0CALLS"));
    let resolved = resolve(&services, &ours).await.expect("resolved");
    assert!(!format!("{resolved:?}").contains("xoxb"));
    assert!(matches!(
        token_for(&services, &workspace("T0OTHER", None, false)).await,
        Err(TokenError::NotInstalled)
    ));
}

#[tokio::test]
async fn lookup_prefers_the_workspace_unless_the_request_is_org_wide() {
    let (services, _) = fresh();
    install(&services, org_access("E0ORG", None, true, "xoxb-org"))
        .await
        .expect("org install");
    // A workspace of the organisation without its own installation: the org's.
    let member = workspace("T0MEMBER", Some("E0ORG"), false);
    assert_eq!(
        token_for(&services, &member).await.ok().as_deref(),
        Some("xoxb-org")
    );

    install(
        &services,
        org_access("E0ORG", Some("T0MEMBER"), false, "xoxb-team"),
    )
    .await
    .expect("team install");
    assert_eq!(
        token_for(&services, &member).await.ok().as_deref(),
        Some("xoxb-team")
    );
    let org_wide = workspace("T0MEMBER", Some("E0ORG"), true);
    assert_eq!(
        token_for(&services, &org_wide).await.ok().as_deref(),
        Some("xoxb-org")
    );
    // Another organisation's workspace is served by neither.
    assert!(matches!(
        token_for(&services, &workspace("T0MEMBER2", Some("E0ELSE"), true)).await,
        Err(TokenError::NotInstalled)
    ));
}

#[tokio::test]
async fn the_secrets_token_serves_the_workspace_auth_test_names_and_is_asked_once() {
    let slack = Arc::new(FakeSlack::default());
    let services = services(Arc::new(EmbeddedStore::in_memory()), slack.clone(), true);
    let single = workspace("T0SINGLE", None, false);
    for _ in 0..3 {
        assert_eq!(
            token_for(&services, &single).await.ok().as_deref(),
            Some("xoxb-secret-token")
        );
    }
    assert!(matches!(
        token_for(&services, &workspace("T0OTHER", None, false)).await,
        Err(TokenError::NotInstalled)
    ));
    assert_eq!(slack.auth_tests.load(Ordering::SeqCst), 1, "cached");

    // Uninstalled: the secret's token no longer serves it.
    uninstall(&services, &single).await.expect("uninstalled");
    assert!(matches!(
        token_for(&services, &single).await,
        Err(TokenError::NotInstalled)
    ));
}

/// Installs T0ROT with a rotating token that expires in `expires_in` seconds.
async fn install_rotating(services: &Services, slack: &FakeSlack, expires_in: i64) {
    slack.refresh.lock().unwrap().0 = "xoxe-1-refresh-0".into();
    let access = OAuthAccess {
        expires_in: Some(expires_in),
        ..access("xoxe.xoxb-0", Some("xoxe-1-refresh-0"))
    };
    install(services, access).await.expect("installed");
}

#[tokio::test]
async fn a_due_token_is_refreshed_once_for_concurrent_requests() {
    let (services, slack) = fresh();
    install_rotating(&services, &slack, 3_600).await;
    let ours = workspace("T0ROT", None, false);
    let (first, second) = tokio::join!(token_for(&services, &ours), token_for(&services, &ours));
    assert_eq!(first.ok().as_deref(), Some("xoxe.xoxb-1"));
    assert_eq!(second.ok().as_deref(), Some("xoxe.xoxb-1"));
    assert_eq!(slack.refresh_attempts.load(Ordering::SeqCst), 1);
    let stored = services
        .store
        .get_installation(&InstallationKey::Team(id("T0ROT")))
        .await
        .unwrap()
        .expect("stored");
    assert_eq!(stored.version, 2, "installed, then refreshed once");
    // Not due any more: served without Slack.
    assert_eq!(
        token_for(&services, &ours).await.ok().as_deref(),
        Some("xoxe.xoxb-1")
    );
    assert_eq!(slack.refresh_attempts.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn two_containers_racing_use_the_refresh_token_once_and_both_succeed() {
    let slack = Arc::new(FakeSlack::default());
    let store: Arc<dyn CallStore> = Arc::new(EmbeddedStore::in_memory());
    let first = services(store.clone(), slack.clone(), false);
    let mut second = services(store, slack.clone(), false);
    // One key, as every container of a deployment has (one KMS key).
    second.cipher = first.cipher.clone();
    install_rotating(&first, &slack, 3_600).await;
    let ours = workspace("T0ROT", None, false);
    let (a, b) = tokio::join!(token_for(&first, &ours), token_for(&second, &ours));
    assert_eq!(a.ok().as_deref(), Some("xoxe.xoxb-1"));
    assert_eq!(
        b.ok().as_deref(),
        Some("xoxe.xoxb-1"),
        "the loser uses the winner's"
    );
    assert_eq!(
        slack.refreshes_won(),
        1,
        "exactly one use of the refresh token won"
    );
}

#[tokio::test]
async fn token_expired_refreshes_and_a_revoked_token_disables() {
    let (services, slack) = fresh();
    install_rotating(&services, &slack, TWELVE_HOURS).await;
    let ours = workspace("T0ROT", None, false);
    let used = bot_token(&services, &ours).await.expect("not due yet");
    let expired = SlackError::Api {
        method: "calls.add",
        code: ApiErrorCode::TokenExpired,
    };
    assert!(token_rejected(&services, &ours, &used, &expired)
        .await
        .expect("refreshed"));
    assert_eq!(
        token_for(&services, &ours).await.ok().as_deref(),
        Some("xoxe.xoxb-1")
    );
    // The old token again: someone already replaced it, so just retry.
    assert!(token_rejected(&services, &ours, &used, &expired)
        .await
        .expect("newer"));

    let current = bot_token(&services, &ours).await.expect("current");
    let revoked = SlackError::Api {
        method: "calls.add",
        code: ApiErrorCode::TokenRevoked,
    };
    assert!(!token_rejected(&services, &ours, &current, &revoked)
        .await
        .expect("disabled"));
    assert!(matches!(
        token_for(&services, &ours).await,
        Err(TokenError::NotInstalled)
    ));
}

#[tokio::test]
async fn revocation_drops_the_tokens_and_uninstall_deletes_the_installation() {
    let (services, _) = fresh();
    let key = InstallationKey::Team(id("T0ROT"));
    let ours = workspace("T0ROT", None, false);
    install(&services, access("xoxb-1", None))
        .await
        .expect("installed");
    revoke_bot_tokens(&services, &ours).await.expect("revoked");
    let kept = services
        .store
        .get_installation(&key)
        .await
        .unwrap()
        .expect("kept");
    assert!(kept.credentials.is_none() && kept.is_disabled());
    assert!(matches!(
        token_for(&services, &ours).await,
        Err(TokenError::NotInstalled)
    ));

    // A reinstall replaces it; an uninstall deletes it.
    install(&services, access("xoxb-2", None))
        .await
        .expect("reinstalled");
    assert_eq!(
        token_for(&services, &ours).await.ok().as_deref(),
        Some("xoxb-2")
    );
    uninstall(&services, &ours).await.expect("uninstalled");
    assert!(services
        .store
        .get_installation(&key)
        .await
        .unwrap()
        .is_none());
    uninstall(&services, &ours).await.expect("idempotent");
    assert!(matches!(
        token_for(&services, &ours).await,
        Err(TokenError::NotInstalled)
    ));
}

#[tokio::test]
async fn a_refreshed_pair_survives_another_write_to_its_installation() {
    let slack = Arc::new(FakeSlack::default());
    let store: Arc<dyn CallStore> = Arc::new(EmbeddedStore::in_memory());
    let services = services(store.clone(), slack.clone(), false);
    install_rotating(&services, &slack, 3_600).await;
    *slack.meddle.lock().unwrap() = Some(store.clone());
    let ours = workspace("T0ROT", None, false);
    assert_eq!(
        token_for(&services, &ours).await.ok().as_deref(),
        Some("xoxe.xoxb-1")
    );
    let stored = store
        .get_installation(&InstallationKey::Team(id("T0ROT")))
        .await
        .unwrap()
        .expect("stored");
    assert_eq!(
        stored.team_name.as_deref(),
        Some("Renamed"),
        "the other write kept"
    );
    assert_eq!(stored.version, 3, "installed, renamed, refreshed");
    // The saved pair is the one Slack holds: the next refresh works.
    let opened = services
        .cipher
        .open(
            &stored.key,
            stored
                .credentials
                .as_ref()
                .expect("tokens")
                .refresh_token
                .as_ref()
                .expect("rotating"),
        )
        .await
        .expect("opens");
    assert_eq!(opened.expose_secret(), "xoxe-1-refresh-1");
}
