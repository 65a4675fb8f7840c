//! `SecretsManagerSource` against a Secrets Manager emulator (moto, see `testkit`).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use secrecy::{ExposeSecret, SecretString};
use slack_calls::clock::ManualClock;
use slack_calls::config::Config;
use slack_calls::entry::events::handle_events;
use slack_calls::secrets::{CachePolicy, SecretSource, SecretsError, SecretsManagerSource};
use slack_calls::slack::RetryPolicy;
use slack_calls::store::embedded::EmbeddedStore;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// Where the manual clocks start.
const T0: i64 = 1_795_320_000;

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
    let clock = Arc::new(ManualClock::new(T0));
    let client = testkit::secretsmanager::client().await;
    let secret_id = testkit::secretsmanager::create_secret(&client, &secret_json("v1")).await;
    let source = SecretsManagerSource::with_policy(
        client.clone(),
        secret_id.clone(),
        CachePolicy::default(),
        clock.clone(),
    );

    assert_eq!(signing_secret(&source).await, "v1");
    put_version(&client, &secret_id, &secret_json("v2")).await;
    clock.advance(CachePolicy::default().ttl.as_secs() as i64 - 1);
    assert_eq!(signing_secret(&source).await, "v1", "fresh until the TTL");

    // Past the TTL the cached value still answers at once, and is refreshed meanwhile.
    clock.advance(2);
    assert_eq!(signing_secret(&source).await, "v1");
    assert_eq!(eventually(&source, "v2").await, "v2");
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

// ---- Outages and rotation ---------------------------------------------------------------

async fn signing_secret(source: &SecretsManagerSource) -> String {
    source
        .current()
        .await
        .expect("a secret")
        .signing_secret
        .expose_secret()
        .to_owned()
}

/// The signing secret once it is `wanted` (a background refresh landing), or after 5 s
/// whatever it is then.
async fn eventually(source: &SecretsManagerSource, wanted: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let current = signing_secret(source).await;
        if current == wanted || Instant::now() > deadline {
            return current;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A source for a new secret holding `value` in the emulator, reached through a
/// [`Switch`], with the default cache policy on a manual clock at `T0`.
struct Switched {
    clock: Arc<ManualClock>,
    emulator: aws_sdk_secretsmanager::Client,
    secret_id: String,
    switch: Switch,
    source: SecretsManagerSource,
}

async fn switched_source(value: &str) -> Switched {
    let clock = Arc::new(ManualClock::new(T0));
    let emulator = testkit::secretsmanager::client().await;
    let secret_id = testkit::secretsmanager::create_secret(&emulator, &secret_json(value)).await;
    let switch = Switch::start().await;
    let source = SecretsManagerSource::with_policy(
        switch.client(&emulator),
        secret_id.clone(),
        CachePolicy::default(),
        clock.clone(),
    );
    Switched {
        clock,
        emulator,
        secret_id,
        switch,
        source,
    }
}

/// A TCP proxy to the emulator that can be switched off: off, it drops every
/// connection (open ones included), as an unreachable Secrets Manager would. Counts the
/// `GetSecretValue` requests sent through it, and the connections it dropped.
struct Switch {
    url: String,
    up: watch::Sender<bool>,
    requests: Arc<AtomicUsize>,
    dropped: Arc<AtomicUsize>,
}

impl Switch {
    async fn start() -> Switch {
        let endpoint = testkit::aws::emulator_endpoint(testkit::aws::SECRETS_MANAGER_ENDPOINT_VAR);
        let target = url::Url::parse(&endpoint).expect("endpoint URL");
        let target = format!(
            "{}:{}",
            target.host_str().expect("endpoint host"),
            target.port_or_known_default().expect("endpoint port")
        );
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("address"));
        let (up, watching) = watch::channel(true);
        let requests = Arc::new(AtomicUsize::new(0));
        let dropped = Arc::new(AtomicUsize::new(0));
        let (counter, dropping) = (requests.clone(), dropped.clone());
        tokio::spawn(async move {
            while let Ok((inbound, _)) = listener.accept().await {
                let mut up = watching.clone();
                if !*up.borrow() {
                    dropping.fetch_add(1, Ordering::SeqCst);
                    continue; // dropped: connection reset
                }
                let (target, counter) = (target.clone(), counter.clone());
                tokio::spawn(async move {
                    let Ok(outbound) = TcpStream::connect(&target).await else {
                        return;
                    };
                    tokio::select! {
                        _ = forward(inbound, outbound, counter) => {}
                        _ = up.wait_for(|up| !*up) => {}
                    }
                });
            }
        });
        Switch {
            url,
            up,
            requests,
            dropped,
        }
    }

    fn set(&self, up: bool) {
        self.up.send_replace(up);
    }

    fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }

    /// Connections it dropped while off: each a request that could not be sent.
    fn dropped(&self) -> usize {
        self.dropped.load(Ordering::SeqCst)
    }

    /// A client on the emulator through this switch, with the functions' timeouts and
    /// one attempt per fetch, so each fetch is one request (or dropped connection).
    fn client(&self, client: &aws_sdk_secretsmanager::Client) -> aws_sdk_secretsmanager::Client {
        let base = slack_calls::secrets::secrets_manager_client(
            &aws_config::SdkConfig::builder()
                .behavior_version(aws_config::BehaviorVersion::latest())
                .build(),
        );
        let config = client
            .config()
            .to_builder()
            .timeout_config(base.config().timeout_config().cloned().expect("timeouts"))
            .retry_config(aws_sdk_secretsmanager::config::retry::RetryConfig::disabled())
            .endpoint_url(&self.url)
            .build();
        aws_sdk_secretsmanager::Client::from_conf(config)
    }
}

async fn forward(mut inbound: TcpStream, mut outbound: TcpStream, requests: Arc<AtomicUsize>) {
    const MARK: &[u8] = b"secretsmanager.getsecretvalue";
    let (mut in_read, mut in_write) = inbound.split();
    let (mut out_read, mut out_write) = outbound.split();
    let upstream = async {
        let mut buffer = vec![0u8; 16 * 1024];
        // The end of the previous read, so a mark split across two reads is found.
        let mut tail: Vec<u8> = Vec::new();
        loop {
            let read = match in_read.read(&mut buffer).await {
                Ok(0) | Err(_) => return,
                Ok(read) => read,
            };
            let mut seen = std::mem::take(&mut tail);
            seen.extend(buffer[..read].iter().map(u8::to_ascii_lowercase));
            let found = seen.windows(MARK.len()).filter(|w| *w == MARK).count();
            requests.fetch_add(found, Ordering::SeqCst);
            let keep = seen.len().min(MARK.len() - 1);
            tail = seen[seen.len() - keep..].to_vec();
            if out_write.write_all(&buffer[..read]).await.is_err() {
                return;
            }
        }
    };
    let downstream = tokio::io::copy(&mut out_read, &mut in_write);
    tokio::select! {
        _ = upstream => {}
        _ = downstream => {}
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_manager_down_for_ten_minutes_changes_nothing_for_a_warm_function() {
    let policy = CachePolicy::default();
    let Switched {
        clock,
        emulator,
        secret_id,
        switch,
        source,
    } = switched_source("v1").await;
    assert_eq!(signing_secret(&source).await, "v1");
    assert_eq!(switch.requests(), 1);

    // Down for ten minutes, starting just before the TTL runs out; the secret is
    // rotated meanwhile. Three requests a second, each answered at once with v1.
    switch.set(false);
    clock.advance(policy.ttl.as_secs() as i64 - 60);
    let mut slowest = Duration::ZERO;
    for _ in 0..600 {
        clock.advance(1);
        for _ in 0..3 {
            let started = Instant::now();
            assert_eq!(signing_secret(&source).await, "v1");
            slowest = slowest.max(started.elapsed());
        }
        // Let a background refresh fail before the next second.
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    assert!(
        slowest < Duration::from_millis(100),
        "a request waited {slowest:?} on Secrets Manager"
    );
    // Tried again, but not on every request: once per failure backoff at most.
    let tried = switch.dropped();
    let backoffs = 540 / policy.failure_backoff.as_secs() as usize + 1;
    assert!(
        (1..=backoffs).contains(&tried),
        "tried {tried} times in 1,800 requests ({backoffs} backoffs)"
    );
    put_version(&emulator, &secret_id, &secret_json("v2")).await;

    // Back: the next refresh after the backoff brings the new version.
    switch.set(true);
    clock.advance(policy.failure_backoff.as_secs() as i64);
    assert_eq!(eventually(&source, "v2").await, "v2");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_last_good_secret_is_served_for_a_bounded_time_then_refused() {
    let policy = CachePolicy::default();
    let Switched {
        clock,
        switch,
        source,
        ..
    } = switched_source("v1").await;
    assert_eq!(signing_secret(&source).await, "v1");
    switch.set(false);

    let limit = (policy.ttl + policy.stale_grace).as_secs() as i64;
    clock.advance(limit - 1);
    assert_eq!(signing_secret(&source).await, "v1", "within the grace");
    clock.advance(1);
    let error = source
        .current()
        .await
        .expect_err("past the grace: fail closed");
    assert!(matches!(error, SecretsError::Fetch { .. }), "{error:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_fetch_is_cached_briefly() {
    let policy = CachePolicy::default();
    let Switched {
        clock,
        switch,
        source,
        ..
    } = switched_source("v1").await;
    switch.set(false);
    // A cold container during an outage: the first request pays for one failed fetch,
    // the next ones within the backoff get the same answer without asking.
    source.current().await.expect_err("unreachable");
    assert_eq!(switch.dropped(), 1);
    let started = Instant::now();
    for _ in 0..20 {
        source.current().await.expect_err("cached failure");
        source.refresh().await.expect_err("cached failure");
    }
    assert!(started.elapsed() < Duration::from_millis(100));
    assert_eq!(switch.dropped(), 1, "not asked again within the backoff");

    switch.set(true);
    assert!(source.current().await.is_err(), "still within the backoff");
    clock.advance(policy.failure_backoff.as_secs() as i64);
    assert_eq!(signing_secret(&source).await, "v1");
}

/// The status of a `url_verification` request signed with `secret` at the services' time.
async fn url_verification(services: &slack_calls::flows::Services, secret: &str) -> u16 {
    let body = br#"{"type":"url_verification","token":"legacy","challenge":"ch4llenge"}"#;
    let headers = slack_calls::slack::SIGNATURE.signed_headers(
        &SecretString::from(secret.to_owned()),
        services.clock.now(),
        body,
    );
    handle_events(services, &headers, body)
        .await
        .status()
        .as_u16()
}

/// Services on an in-memory store whose secrets come from `source`, on `clock`.
fn services(
    source: Arc<dyn SecretSource>,
    clock: Arc<ManualClock>,
) -> slack_calls::flows::Services {
    let config = Config::from_lookup(|_| None).expect("default configuration");
    let mut services = slack_calls::wiring::services_with(
        Arc::new(config),
        Arc::new(EmbeddedStore::in_memory()),
        source,
        RetryPolicy::interactive(),
    )
    .expect("services");
    services.clock = clock;
    services
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_signing_secret_is_accepted_at_once() {
    let Switched {
        clock,
        emulator,
        secret_id,
        switch,
        source: plain,
        ..
    } = switched_source("old").await;
    let source = Arc::new(plain);
    let services = services(source.clone(), clock.clone());
    let status = |secret: &'static str| url_verification(&services, secret);

    assert_eq!(status("old").await, 200);
    assert_eq!(switch.requests(), 1);

    // Rotated in Secrets Manager, well within the cache's TTL: the first request signed
    // with the new secret is accepted, after one more fetch; the old one is refused now.
    put_version(&emulator, &secret_id, &secret_json("new")).await;
    assert_eq!(status("new").await, 200);
    assert_eq!(switch.requests(), 2);
    assert_eq!(status("new").await, 200);
    assert_eq!(status("old").await, 401);

    // Bad signatures cannot make us hammer Secrets Manager: one fetch per 10 s at most.
    let interval = CachePolicy::default().min_refresh_interval.as_secs() as i64;
    for _ in 0..20 {
        assert_eq!(status("forged").await, 401);
    }
    assert_eq!(switch.requests(), 2, "refetched less than 10 s ago: none");
    clock.advance(interval);
    for _ in 0..20 {
        assert_eq!(status("forged").await, 401);
    }
    assert_eq!(switch.requests(), 3, "one for the first forged request");
    put_version(&emulator, &secret_id, &secret_json("newer")).await;
    assert_eq!(status("newer").await, 401, "refetched too recently");
    clock.advance(interval);
    assert_eq!(status("newer").await, 200);
    assert_eq!(switch.requests(), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fetch_started_at_init_serves_the_first_request() {
    let Switched { switch, source, .. } = switched_source("v1").await;
    source.prefetch();
    // However soon the first request comes, it shares the fetch init started.
    assert_eq!(signing_secret(&source).await, "v1");
    assert_eq!(switch.requests(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_fetch_at_init_is_tried_again_by_the_first_request() {
    let Switched { switch, source, .. } = switched_source("v1").await;
    switch.set(false);
    source.prefetch();
    let deadline = Instant::now() + Duration::from_secs(5);
    while switch.dropped() == 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(switch.dropped(), 1, "init tried");
    switch.set(true);
    assert_eq!(
        signing_secret(&source).await,
        "v1",
        "not the failure at init"
    );
}
