//! `SecretsManagerSource` against a Secrets Manager emulator (moto, see `testkit`).

use std::time::Duration;

use secrecy::ExposeSecret;
use slack_calls::secrets::{SecretSource, SecretsError, SecretsManagerSource};

fn secret_json(signing_secret: &str) -> String {
    serde_json::json!({
        "signing_secret": signing_secret,
        "bot_token": "xoxb-test-token",
        "provider_webhook_secret": "hook-secret",
        "client_id": "1234.5678",
    })
    .to_string()
}

async fn put_version(client: &aws_sdk_secretsmanager::Client, secret_id: &str, value: &str) {
    client
        .put_secret_value()
        .secret_id(secret_id)
        .secret_string(value)
        .send()
        .await
        .expect("new secret version");
}

#[tokio::test]
async fn fetches_the_json_secret_and_caches_it_until_refresh() {
    let client = testkit::secretsmanager::client().await;
    let secret_id = testkit::secretsmanager::create_secret(&client, &secret_json("first")).await;
    let source = SecretsManagerSource::new(
        client.clone(),
        secret_id.clone(),
        Duration::from_secs(3_600),
    );

    let secrets = source.current().await.expect("fetched");
    assert_eq!(secrets.signing_secret.expose_secret(), "first");
    assert_eq!(
        secrets
            .bot_token
            .as_ref()
            .map(|token| token.expose_secret()),
        Some("xoxb-test-token")
    );
    assert_eq!(secrets.client_id.as_deref(), Some("1234.5678"));
    assert!(secrets.client_secret.is_none());

    put_version(&client, &secret_id, &secret_json("rotated")).await;
    let cached = source.current().await.expect("cached");
    assert_eq!(
        cached.signing_secret.expose_secret(),
        "first",
        "within the TTL the cache answers"
    );

    let refreshed = source.refresh().await.expect("refetched");
    assert_eq!(refreshed.signing_secret.expose_secret(), "rotated");
    assert_eq!(
        source
            .current()
            .await
            .unwrap()
            .signing_secret
            .expose_secret(),
        "rotated"
    );
}

#[tokio::test]
async fn a_new_version_is_seen_once_the_ttl_has_passed() {
    let ttl = Duration::from_millis(600);
    let client = testkit::secretsmanager::client().await;
    let secret_id = testkit::secretsmanager::create_secret(&client, &secret_json("v1")).await;
    let source = SecretsManagerSource::new(client.clone(), secret_id.clone(), ttl);

    assert_eq!(
        source
            .current()
            .await
            .unwrap()
            .signing_secret
            .expose_secret(),
        "v1"
    );
    put_version(&client, &secret_id, &secret_json("v2")).await;
    assert_eq!(
        source
            .current()
            .await
            .unwrap()
            .signing_secret
            .expose_secret(),
        "v1"
    );

    tokio::time::sleep(ttl + Duration::from_millis(100)).await;
    assert_eq!(
        source
            .current()
            .await
            .unwrap()
            .signing_secret
            .expose_secret(),
        "v2"
    );
}

#[tokio::test]
async fn malformed_json_is_reported_without_its_value() {
    let client = testkit::secretsmanager::client().await;
    let value = r#"{"signing_secret": "sekrit-leak-check", "bot_token": 12"#;
    let secret_id = testkit::secretsmanager::create_secret(&client, value).await;
    let source = SecretsManagerSource::new(client, secret_id.clone(), Duration::from_secs(60));

    let error = source.current().await.expect_err("not JSON");
    assert!(
        matches!(&error, SecretsError::Malformed { secret_id: id, .. } if *id == secret_id),
        "{error:?}"
    );
    let shown = format!("{error} {error:?}");
    assert!(!shown.contains("sekrit-leak-check"), "{shown}");

    let client = testkit::secretsmanager::client().await;
    let missing_field = serde_json::json!({"signing_secret": "sekrit-leak-check"}).to_string();
    let secret_id = testkit::secretsmanager::create_secret(&client, &missing_field).await;
    let source = SecretsManagerSource::new(client, secret_id, Duration::from_secs(60));
    let error = source
        .current()
        .await
        .expect_err("provider_webhook_secret is required");
    assert!(matches!(error, SecretsError::Malformed { .. }), "{error:?}");
    assert!(!format!("{error} {error:?}").contains("sekrit-leak-check"));
}

#[tokio::test]
async fn a_missing_secret_is_a_fetch_error() {
    let client = testkit::secretsmanager::client().await;
    let secret_id = testkit::unique_name("never-created");
    let source = SecretsManagerSource::new(client, secret_id.clone(), Duration::from_secs(60));
    let error = source.current().await.expect_err("no such secret");
    let SecretsError::Fetch {
        secret_id: id,
        reason,
    } = &error
    else {
        panic!("expected a fetch error, got {error:?}");
    };
    assert_eq!(*id, secret_id);
    assert!(reason.contains("ResourceNotFoundException"), "{reason}");
}
