//! Tokens at rest, against the emulators: sealed by KMS (moto), stored in DynamoDB
//! (DynamoDB Local), and nowhere readable in a raw scan of the table.

mod support;

use std::sync::Arc;

use secrecy::{ExposeSecret, SecretString};
use slack_calls::cipher::kms::KmsCipher;
use slack_calls::cipher::{CipherError, TokenCipher};
use slack_calls::config::Config;
use slack_calls::domain::{InstallationKey, Workspace};
use slack_calls::flows::installation;
use slack_calls::secrets::{Secrets, StaticSecrets};
use slack_calls::slack::oauth::{Named, OAuthAccess};
use slack_calls::slack::RetryPolicy;
use slack_calls::store::dynamodb::DynamoStore;

use support::id;

const BOT_TOKEN: &str = "xoxe.xoxb-1-raw-scan-secret";
const REFRESH_TOKEN: &str = "xoxe-1-raw-scan-refresh";

async fn kms_cipher() -> KmsCipher {
    let client = testkit::kms::client().await;
    let key_id = testkit::kms::create_key(&client).await;
    KmsCipher::from_sdk_config(&testkit::kms::sdk_config_for_kms().await, key_id)
}

#[tokio::test]
async fn kms_seals_and_opens_only_for_the_same_installation() {
    let cipher = kms_cipher().await;
    let team = InstallationKey::Team(id("T0KMS"));
    let sealed = cipher
        .seal(&team, &SecretString::from(BOT_TOKEN))
        .await
        .expect("sealed");
    assert!(!sealed.as_base64().contains("raw-scan"));
    let opened = cipher.open(&team, &sealed).await.expect("opened");
    assert_eq!(opened.expose_secret(), BOT_TOKEN);

    let elsewhere = InstallationKey::Team(id("T0OTHER"));
    let moved = cipher.open(&elsewhere, &sealed).await;
    assert!(matches!(moved, Err(CipherError::Unreadable)), "{moved:?}");
}

#[tokio::test]
async fn a_raw_scan_of_the_table_shows_no_token() {
    let (client, table) = testkit::dynamodb::fresh_table().await;
    let secrets = StaticSecrets::new(Secrets {
        signing_secret: SecretString::from("signing"),
        bot_token: None,
        provider_webhook_secret: SecretString::from("provider"),
        client_id: None,
        client_secret: None,
        meeting_api_token: None,
    });
    let mut services = slack_calls::wiring::services_with(
        Arc::new(Config::from_lookup(|_| None).expect("default configuration")),
        Arc::new(DynamoStore::new(client.clone(), table.clone())),
        Arc::new(secrets),
        RetryPolicy::worker(),
    )
    .expect("services");
    services.cipher = Arc::new(kms_cipher().await);

    let access = OAuthAccess {
        app_id: Some("A0CALLS".into()),
        team: Some(Named {
            id: id("T0SCAN"),
            name: Some("Scanned".into()),
        }),
        enterprise: None,
        is_enterprise_install: false,
        bot_user_id: Some(id("U0BOT")),
        scope: "commands,calls:write".into(),
        access_token: SecretString::from(BOT_TOKEN),
        refresh_token: Some(SecretString::from(REFRESH_TOKEN)),
        expires_in: Some(43_200),
        authed_user_id: Some(id("U0ADMIN")),
    };
    installation::install(&services, access)
        .await
        .expect("installed");

    let items = client
        .scan()
        .table_name(&table)
        .send()
        .await
        .expect("scan")
        .items
        .unwrap_or_default();
    assert_eq!(items.len(), 1, "the installation");
    let raw = format!("{items:?}");
    for secret in [BOT_TOKEN, REFRESH_TOKEN, "raw-scan"] {
        assert!(!raw.contains(secret), "{secret} readable in the table");
    }
    assert!(raw.contains("TEAM#T0SCAN"));

    // And it still serves its workspace.
    let token = installation::bot_token(&services, &Workspace::team(id("T0SCAN")))
        .await
        .expect("resolved");
    assert_eq!(token.expose_secret(), BOT_TOKEN);
}
