//! What only the DynamoDB adapter has: the item layout the table's indexes, TTL and
//! stream filter rely on, one request per method, error mapping and timeouts. Runs on
//! DynamoDB Local (see `testkit`).

mod support;

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::config::interceptors::BeforeTransmitInterceptorContextRef;
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::error::BoxError;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;
use slack_calls::domain::oauth_state::OAUTH_STATE_TTL_SECONDS;
use slack_calls::domain::{EndReason, EventReceipt, JobStatus, Lease, OAuthState};
use slack_calls::store::dynamodb::{
    DynamoStore, CALL_RETENTION_SECONDS, JOB_RETENTION_SECONDS, OPERATION_TIMEOUT,
};
use slack_calls::store::{CallStore, JobClaim, StoreError};
use testkit::aws::DYNAMODB_ENDPOINT_VAR;

use support::*;

type Item = HashMap<String, AttributeValue>;

async fn raw_item(client: &Client, table: &str, pk: &str, sk: &str) -> Item {
    client
        .get_item()
        .table_name(table)
        .key("pk", AttributeValue::S(pk.into()))
        .key("sk", AttributeValue::S(sk.into()))
        .consistent_read(true)
        .send()
        .await
        .expect("GetItem")
        .item
        .unwrap_or_else(|| panic!("no item {pk}/{sk}"))
}

fn s(value: &str) -> Option<AttributeValue> {
    Some(AttributeValue::S(value.into()))
}

fn n(value: i64) -> Option<AttributeValue> {
    Some(AttributeValue::N(value.to_string()))
}

#[tokio::test]
async fn call_items_carry_keys_live_marker_and_ttl() {
    let (client, table) = testkit::dynamodb::fresh_table().await;
    let store = DynamoStore::new(client.clone(), &table);
    let mut call = new_call(NOW);
    store.create_call(&call, &[]).await.unwrap();
    let pk = format!("CALL#{}", call.external_unique_id);

    let item = raw_item(&client, &table, &pk, "CALL").await;
    assert_eq!(item.get("live").cloned(), s("LIVE"));
    assert_eq!(item.get("created_at").cloned(), n(NOW));
    assert_eq!(item.get("join_url").cloned(), s(&call.join_url));
    assert!(
        !item.contains_key("expires_at"),
        "a live call never expires"
    );
    assert!(
        !item.contains_key("slack_call_id"),
        "no empty index key before registration"
    );

    call.mark_registered(id("R0LAYOUT"));
    store.update_call(&mut call, &[]).await.unwrap();
    let item = raw_item(&client, &table, &pk, "CALL").await;
    assert_eq!(item.get("slack_call_id").cloned(), s("R0LAYOUT"));
    assert_eq!(item.get("live").cloned(), s("LIVE"));
    assert_eq!(item.get("version").cloned(), n(1));

    call.end(EndReason::Provider, NOW + 900, None);
    store.update_call(&mut call, &[]).await.unwrap();
    let item = raw_item(&client, &table, &pk, "CALL").await;
    assert!(
        !item.contains_key("live"),
        "the full put drops the live marker"
    );
    assert_eq!(
        item.get("expires_at").cloned(),
        n(NOW + 900 + CALL_RETENTION_SECONDS)
    );

    let mut failed = new_call(NOW);
    failed.mark_failed("not_in_channel");
    store.create_call(&failed, &[]).await.unwrap();
    let item = raw_item(
        &client,
        &table,
        &format!("CALL#{}", failed.external_unique_id),
        "CALL",
    )
    .await;
    assert!(!item.contains_key("live"));
    assert!(
        !item.contains_key("slack_call_id"),
        "no Slack id, no index key (and an empty one cannot be had)"
    );
    assert_eq!(
        item.get("expires_at").cloned(),
        n(NOW + CALL_RETENTION_SECONDS)
    );
}

#[tokio::test]
async fn job_receipt_and_installation_items() {
    let (client, table) = testkit::dynamodb::fresh_table().await;
    let store = DynamoStore::new(client.clone(), &table);
    let call = new_call(NOW);
    let job = sync_job(&call, NOW);
    let receipt = EventReceipt::new("EvLAYOUT", NOW);
    store
        .record_event(&receipt, std::slice::from_ref(&job))
        .await
        .unwrap();

    let item = raw_item(&client, &table, &format!("JOB#{}", job.id), "JOB").await;
    assert_eq!(item.get("kind").cloned(), s("sync_call"));
    assert_eq!(item.get("status").cloned(), s("pending"));
    assert_eq!(
        item.get("expires_at").cloned(),
        n(NOW + JOB_RETENTION_SECONDS)
    );
    assert!(!item.contains_key("live"));

    let item = raw_item(&client, &table, "EVENT#EvLAYOUT", "EVENT").await;
    assert_eq!(item.get("expires_at").cloned(), n(receipt.expires_at));

    let mut installation = installation("T0LAYOUT", "xoxb-layout");
    store.put_installation(&mut installation).await.unwrap();
    let item = raw_item(&client, &table, "TEAM#T0LAYOUT", "INSTALL").await;
    assert_eq!(item.get("key").cloned(), s("TEAM#T0LAYOUT"));
    let credentials = item.get("credentials").and_then(|c| c.as_m().ok());
    assert_eq!(
        credentials.and_then(|c| c.get("bot_token")).cloned(),
        s("xoxb-layout"),
        "the sealed token, as the store was given it"
    );
    assert_eq!(item.get("version").cloned(), n(1));
    assert!(!item.contains_key("expires_at"), "installations are kept");

    let (state, _) = OAuthState::issue(NOW);
    store.put_oauth_state(&state).await.unwrap();
    let item = raw_item(&client, &table, &format!("STATE#{}", state.state), "STATE").await;
    assert_eq!(
        item.get("expires_at").cloned(),
        n(NOW + OAUTH_STATE_TTL_SECONDS),
        "the table's TTL removes abandoned states"
    );
    assert_eq!(
        item.get("browser_digest").cloned(),
        s(&state.browser_digest)
    );
}

/// Counts HTTP attempts, retries included.
#[derive(Debug, Clone, Default)]
struct CountRequests(Arc<AtomicUsize>);

impl Intercept for CountRequests {
    fn name(&self) -> &'static str {
        "CountRequests"
    }

    fn read_before_transmit(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        self.0.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

#[tokio::test]
async fn every_method_is_one_request() {
    let (_, table) = testkit::dynamodb::fresh_table().await;
    let sdk_config = testkit::aws::sdk_config(DYNAMODB_ENDPOINT_VAR).await;
    let counter = CountRequests::default();
    let client = Client::from_conf(
        aws_sdk_dynamodb::config::Builder::from(&sdk_config)
            .interceptor(counter.clone())
            .build(),
    );
    let store = DynamoStore::new(client, table);
    let requests = || counter.0.load(Ordering::SeqCst);
    let mut last = 0;
    let mut assert_one = |what: &str| {
        let now = requests();
        assert_eq!(now - last, 1, "{what} took {} requests", now - last);
        last = now;
    };

    let mut call = new_call(NOW);
    let jobs = vec![sync_job(&call, NOW), sync_job(&call, NOW)];
    store.create_call(&call, &jobs).await.unwrap();
    assert_one("create_call with jobs");
    store.create_call(&call, &[]).await.unwrap_err();
    assert_one("create_call refused");
    store.get_call(&call.external_unique_id).await.unwrap();
    assert_one("get_call");
    call.mark_registered(id("R0COUNT"));
    let sync = sync_job(&call, NOW);
    store.update_call(&mut call, &[sync]).await.unwrap();
    assert_one("update_call with a job");
    store.update_call(&mut call, &[]).await.unwrap();
    assert_one("update_call");
    store.find_call_by_slack_id(&id("R0COUNT")).await.unwrap();
    assert_one("find_call_by_slack_id");
    store
        .find_call_by_join_url(&call.workspace(), &call.join_url)
        .await
        .unwrap();
    assert_one("find_call_by_join_url");
    store.list_live_calls().await.unwrap();
    assert_one("list_live_calls");
    store
        .record_event(&EventReceipt::new("EvCOUNT", NOW), &jobs[..0])
        .await
        .unwrap();
    assert_one("record_event");
    store
        .record_event(&EventReceipt::new("EvCOUNT", NOW), &[sync_job(&call, NOW)])
        .await
        .unwrap();
    assert_one("record_event duplicate");
    store
        .enqueue_jobs(&[sync_job(&call, NOW), sync_job(&call, NOW)])
        .await
        .unwrap();
    assert_one("enqueue_jobs");
    let mut job = store.get_job(&jobs[0].id).await.unwrap().unwrap();
    assert_one("get_job");
    store.update_job(&mut job).await.unwrap();
    assert_one("update_job");
    let lease = Lease::new(NOW, 90);
    let JobClaim::Claimed(mut job) = store.claim_job(&job, &lease, NOW).await.unwrap() else {
        panic!("claimed");
    };
    assert_one("claim_job");
    store.claim_job(&jobs[1], &lease, NOW).await.unwrap();
    assert_one("claim_job of another job");
    job.finish(JobStatus::Done, None);
    let follow_up = sync_job(&call, NOW);
    store
        .update_call_and_job(&mut call, &mut job, &[follow_up])
        .await
        .unwrap();
    assert_one("update_call_and_job");
    let mut installation = installation("T0COUNT", "xoxb-count");
    store.put_installation(&mut installation).await.unwrap();
    assert_one("put_installation");
    store.get_installation(&team_key("T0COUNT")).await.unwrap();
    assert_one("get_installation");
    store
        .delete_installation(&team_key("T0COUNT"))
        .await
        .unwrap();
    assert_one("delete_installation");
    let (state, _) = OAuthState::issue(NOW);
    store.put_oauth_state(&state).await.unwrap();
    assert_one("put_oauth_state");
    store.take_oauth_state(&state.state).await.unwrap();
    assert_one("take_oauth_state");
    store.take_oauth_state(&state.state).await.unwrap();
    assert_one("take_oauth_state of a used state");
}

#[tokio::test]
async fn store_failures_are_unavailable_and_never_show_item_contents() {
    let client = testkit::dynamodb::client().await;
    let store = DynamoStore::new(client, testkit::unique_name("missing-table"));
    let mut call = new_call(NOW);
    call.title = Some("xoxb-call-secret".into());
    let mut installation = installation("T0FAIL", "xoxb-install-secret");

    let failures = [
        store.create_call(&call, &[]).await.unwrap_err(),
        store
            .create_call(&call, &[sync_job(&call, NOW)])
            .await
            .unwrap_err(),
        store.update_call(&mut call, &[]).await.unwrap_err(),
        store.put_installation(&mut installation).await.unwrap_err(),
        store.get_call(&id("x")).await.unwrap_err(),
        store.list_live_calls().await.unwrap_err(),
    ];
    for failure in failures {
        let StoreError::Unavailable(text) = &failure else {
            panic!("expected Unavailable, got {failure:?}");
        };
        assert!(text.contains("ResourceNotFoundException"), "{text}");
        assert!(!text.contains("secret"), "item contents leaked: {text}");
    }
}

#[tokio::test]
async fn from_sdk_config_honours_the_standard_endpoint_variable() {
    let (_, table) = testkit::dynamodb::fresh_table().await;
    let sdk_config = testkit::aws::sdk_config(DYNAMODB_ENDPOINT_VAR).await;
    let store = DynamoStore::from_sdk_config(&sdk_config, table);
    let call = new_call(NOW);
    store.create_call(&call, &[]).await.unwrap();
    assert_eq!(
        store.get_call(&call.external_unique_id).await.unwrap(),
        Some(call)
    );
}

/// A server that accepts connections and never answers: the operation timeout, not the
/// caller's patience, ends the request.
#[tokio::test]
async fn a_hanging_dynamodb_costs_at_most_the_operation_timeout() {
    let silent = std::net::TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    let endpoint = format!("http://{}", silent.local_addr().expect("address"));
    // Set on the loader, the endpoint outranks AWS_ENDPOINT_URL_DYNAMODB.
    let sdk_config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .load()
        .await;
    let store = DynamoStore::from_sdk_config(&sdk_config, "any-table");

    let started = Instant::now();
    let failure = store.get_call(&id("x")).await.unwrap_err();
    let elapsed = started.elapsed();
    assert!(matches!(failure, StoreError::Unavailable(_)), "{failure:?}");
    assert!(
        elapsed >= OPERATION_TIMEOUT - Duration::from_millis(100),
        "{elapsed:?}"
    );
    assert!(
        elapsed < OPERATION_TIMEOUT + Duration::from_millis(700),
        "{elapsed:?}"
    );
    drop(silent);
}

/// Forwards connections to `upstream`; the first connection's answer is held back for
/// `delay`, as if the network lost it for a while after DynamoDB applied the request.
async fn proxy_delaying_first_answer(upstream: String, delay: Duration) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let address = listener.local_addr().expect("address");
    tokio::spawn(async move {
        let mut first = true;
        while let Ok((client, _)) = listener.accept().await {
            let hold = if std::mem::take(&mut first) {
                delay
            } else {
                Duration::ZERO
            };
            let upstream = upstream.clone();
            tokio::spawn(async move {
                let Ok(server) = tokio::net::TcpStream::connect(&upstream).await else {
                    return;
                };
                let (mut client_read, mut client_write) = client.into_split();
                let (mut server_read, mut server_write) = server.into_split();
                let requests = tokio::io::copy(&mut client_read, &mut server_write);
                let answers = async {
                    tokio::time::sleep(hold).await;
                    tokio::io::copy(&mut server_read, &mut client_write).await
                };
                let _ = tokio::join!(requests, answers);
            });
        }
    });
    format!("http://{address}")
}

/// A store whose first request is applied but answered after the attempt timeout, so
/// the SDK retries it; and a counter of the attempts.
async fn store_losing_its_first_answer(table: &str) -> (DynamoStore, CountRequests) {
    let upstream = testkit::aws::emulator_endpoint(DYNAMODB_ENDPOINT_VAR)
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_owned();
    let proxy = proxy_delaying_first_answer(upstream, Duration::from_secs(2)).await;
    let sdk_config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(proxy)
        .load()
        .await;
    let counter = CountRequests::default();
    let config = slack_calls::store::dynamodb::client_config(&sdk_config)
        .to_builder()
        .interceptor(counter.clone())
        .build();
    (DynamoStore::new(Client::from_conf(config), table), counter)
}

/// The first attempt is applied but its answer arrives after the attempt timeout, so the
/// SDK retries. The retry carries the same transaction token, and DynamoDB answers it
/// as done: the caller sees its create succeed, not a phantom `AlreadyExists`.
#[tokio::test]
async fn a_retried_write_that_was_already_applied_succeeds() {
    let (client, table) = testkit::dynamodb::fresh_table().await;
    let (store, counter) = store_losing_its_first_answer(&table).await;

    let call = new_call(NOW);
    store
        .create_call(&call, &[])
        .await
        .expect("the retry is recognised as done");
    let attempts = counter.0.load(Ordering::SeqCst);
    assert!(
        attempts >= 2,
        "the first attempt timed out and was retried ({attempts})"
    );
    let direct = DynamoStore::new(client, &table);
    assert_eq!(
        direct.get_call(&call.external_unique_id).await.unwrap(),
        Some(call)
    );
}

/// The same for the writes that are not transactions: an update at a version (a plain
/// `PutItem`) and a job's claim (an `UpdateItem`). Their retries fail their condition,
/// and the stored item shows the write as their own: done, not a conflict or a lease
/// held by someone else.
#[tokio::test]
async fn a_retried_put_or_claim_that_was_already_applied_succeeds() {
    let (client, table) = testkit::dynamodb::fresh_table().await;
    let direct = DynamoStore::new(client, &table);
    let call = new_call(NOW);
    let job = sync_job(&call, NOW);
    direct
        .create_call(&call, std::slice::from_ref(&job))
        .await
        .unwrap();

    let (store, counter) = store_losing_its_first_answer(&table).await;
    let mut renamed = call.clone();
    renamed.title = Some("Renamed once".into());
    store
        .update_call(&mut renamed, &[])
        .await
        .expect("the retried put is recognised as done");
    assert!(counter.0.load(Ordering::SeqCst) >= 2, "retried");
    assert_eq!(renamed.version, 1);
    assert_eq!(
        direct.get_call(&call.external_unique_id).await.unwrap(),
        Some(renamed)
    );

    let (store, counter) = store_losing_its_first_answer(&table).await;
    let lease = Lease::new(NOW, 90);
    let claim = store.claim_job(&job, &lease, NOW).await.unwrap();
    assert!(counter.0.load(Ordering::SeqCst) >= 2, "retried");
    let JobClaim::Claimed(claimed) = claim else {
        panic!("the retried claim is the run's own: {claim:?}");
    };
    assert_eq!(claimed.attempts, 1, "counted once");
    assert_eq!(direct.get_job(&job.id).await.unwrap(), Some(claimed));
}
