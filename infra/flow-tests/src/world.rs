//! An in-process world for flow tests: the entry points served over real HTTP on
//! loopback, the store (embedded, or a fresh DynamoDB Local table from template.yaml:
//! see [`crate::backend`]), the worker fed that store's stream of job inserts, Slack
//! played by the stand-in, and a clock that moves only when told to.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use http::StatusCode;
use local_server::server::HttpServer;
use secrecy::SecretString;
use serde_json::{json, Value};
use slack_calls::clock::{Clock, ManualClock};
use slack_calls::config::Config;
use slack_calls::domain::OAuthState;
use slack_calls::domain::{
    Call, EventReceipt, ExternalId, Installation, InstallationKey, Job, Lease, Participant,
    SlackCallId, UnixSeconds,
};
use slack_calls::entry::worker::{handle_worker_event, WorkerError, WorkerEvent};
use slack_calls::flows::Services;
use slack_calls::secrets::{Secrets, StaticSecrets};
use slack_calls::signing::SignatureScheme;
use slack_calls::slack::RetryPolicy;
use slack_calls::store::{CallStore, JobClaim, ReceiptOutcome, StoreError};
use slack_calls::{provider, slack};
use slack_standin::SlackStandin;

use lambda_harness::stream::stream_event;

use crate::backend::{Backend, StoreKind};

pub const SIGNING_SECRET: &str = "world-signing-secret-0123456789";
pub const PROVIDER_SECRET: &str = "world-provider-secret-0123456789";
/// 2026-11-22T04:00:00Z: the world's clock starts here.
pub const START_TIME: i64 = 1_795_320_000;

/// Retries quick enough for tests, bounded like the worker's.
pub fn test_slack_policy() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 3,
        budget: Duration::from_secs(5),
        request_timeout: Duration::from_millis(800),
        base_backoff: Duration::from_millis(20),
    }
}

pub struct WorldOptions {
    /// Extra configuration (`JOIN_URL_TEMPLATE`, `PROVIDER_CALLBACK_URL`, ...).
    pub config: Vec<(&'static str, String)>,
    pub slack_policy: RetryPolicy,
    /// The store is down: every store request fails (DynamoDB: the client gets a dead
    /// endpoint).
    pub store_unreachable: bool,
}

impl Default for WorldOptions {
    fn default() -> Self {
        WorldOptions {
            config: Vec::new(),
            slack_policy: test_slack_policy(),
            store_unreachable: false,
        }
    }
}

pub struct World {
    pub standin: SlackStandin,
    pub services: Services,
    pub clock: Arc<ManualClock>,
    /// Store requests made so far, by method (every method is one DynamoDB request).
    pub store_requests: Arc<CountingStore>,
    pub http: HttpServer,
    backend: Backend,
    client: reqwest::Client,
}

/// What an HTTP endpoint answered.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: http::HeaderMap,
    pub json: Value,
}

impl World {
    pub async fn start() -> World {
        World::start_with(WorldOptions::default()).await
    }

    pub async fn start_with(options: WorldOptions) -> World {
        let (backend, store) =
            Backend::start(StoreKind::from_env(), options.store_unreachable).await;
        let standin = SlackStandin::start().await;
        let api_url = standin.api_url();
        let standin_origin = api_url
            .trim_end_matches('/')
            .trim_end_matches("/api")
            .to_owned();
        let mut settings: Vec<(&'static str, String)> = vec![
            ("SLACK_API_URL", api_url),
            ("SLACK_AUTHORIZE_URL", standin.authorize_url()),
            ("RESPONSE_URL_HOSTS", standin_origin),
            (
                "JOIN_URL_TEMPLATE",
                "https://meet.example.com/{room}".into(),
            ),
        ];
        settings.extend(options.config);
        let config = Config::from_lookup(|name| {
            settings
                .iter()
                .rev()
                .find(|(key, _)| *key == name)
                .map(|(_, value)| value.clone())
        })
        .unwrap_or_else(|error| panic!("test configuration: {error}"));

        let store_requests = Arc::new(CountingStore::new(store));

        let secrets = StaticSecrets::new(Secrets {
            signing_secret: SecretString::from(SIGNING_SECRET),
            bot_token: Some(SecretString::from(standin.bot_token().to_owned())),
            provider_webhook_secret: SecretString::from(PROVIDER_SECRET),
            client_id: Some(standin.oauth_client().0),
            client_secret: Some(SecretString::from(standin.oauth_client().1)),
            meeting_api_token: Some(SecretString::from("meeting-api-token")),
        });
        let mut services = slack_calls::wiring::services_with(
            Arc::new(config),
            store_requests.clone(),
            Arc::new(secrets),
            options.slack_policy,
        )
        .unwrap_or_else(|error| panic!("services: {error}"));
        let clock = Arc::new(ManualClock::new(START_TIME));
        services.clock = clock.clone();
        let http = HttpServer::start(([127, 0, 0, 1], 0).into(), services.clone())
            .await
            .unwrap_or_else(|error| panic!("HTTP server: {error}"));
        World {
            standin,
            services,
            clock,
            store_requests,
            http,
            backend,
            client: reqwest::Client::new(),
        }
    }

    pub fn now(&self) -> i64 {
        self.clock.now()
    }

    /// POSTs `body` to `path`, signed with `secret` under `scheme` at the world's time
    /// (`skew` seconds off, to test the replay window).
    pub async fn post_signed(
        &self,
        path: &str,
        body: &[u8],
        content_type: &str,
        scheme: &SignatureScheme,
        secret: &str,
        skew: i64,
    ) -> Answer {
        let headers = scheme.signed_headers(
            &SecretString::from(secret.to_owned()),
            self.now() + skew,
            body,
        );
        self.post(path, body, content_type, headers).await
    }

    /// POSTs with exactly `headers`.
    pub async fn post(
        &self,
        path: &str,
        body: &[u8],
        content_type: &str,
        headers: http::HeaderMap,
    ) -> Answer {
        let response = self
            .client
            .post(format!("{}{path}", self.http.url()))
            .headers(headers)
            .header("content-type", content_type)
            .body(body.to_vec())
            .send()
            .await
            .unwrap_or_else(|error| panic!("POST {path}: {error}"));
        let status = response.status();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap_or_default();
        Answer {
            status,
            headers,
            json: serde_json::from_str(&text).unwrap_or(Value::String(text)),
        }
    }

    /// The form of a slash command (`/call`) from `user` in `channel`, with a fresh
    /// stand-in response URL; `extra` adds or replaces fields (`("-name", "")` removes one).
    pub fn command_form(&self, channel: &str, user: &str, extra: &[(&str, &str)]) -> String {
        let response_url = self.standin.new_response_url(channel);
        let mut fields: Vec<(String, String)> = [
            ("team_id", self.standin.team_id()),
            ("team_domain", "acme"),
            ("channel_id", channel),
            ("channel_name", "general"),
            ("user_id", user),
            ("user_name", "ada"),
            ("command", "/call"),
            ("text", ""),
            ("response_url", response_url.as_str()),
            ("trigger_id", "1.2.3"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        for (key, value) in extra {
            // `("-field", "")` removes a field.
            let name = key.strip_prefix('-').unwrap_or(key);
            fields.retain(|(k, _)| k != name);
            if !key.starts_with('-') {
                fields.push((key.to_string(), value.to_string()));
            }
        }
        serde_urlencoded::to_string(&fields).unwrap_or_default()
    }

    /// A signed slash command / call-button request with `form` as its body.
    pub async fn command(&self, form: &str) -> Answer {
        self.post_signed(
            "/slack/commands",
            form.as_bytes(),
            "application/x-www-form-urlencoded",
            &slack::SIGNATURE,
            SIGNING_SECRET,
            0,
        )
        .await
    }

    /// A signed Events API request.
    pub async fn event(&self, body: &Value) -> Answer {
        self.post_signed(
            "/slack/events",
            body.to_string().as_bytes(),
            "application/json",
            &slack::SIGNATURE,
            SIGNING_SECRET,
            0,
        )
        .await
    }

    /// An `event_callback` envelope around `event`.
    pub fn event_callback(&self, event_id: &str, event: Value) -> Value {
        json!({
            "token": "legacy", "team_id": self.standin.team_id(), "api_app_id": "A0TEST",
            "type": "event_callback", "event_id": event_id, "event_time": self.now(),
            "authed_users": ["U0TEST0001"], "event": event
        })
    }

    /// A signed provider webhook request.
    pub async fn provider(&self, body: &Value) -> Answer {
        self.post_signed(
            "/provider/events",
            body.to_string().as_bytes(),
            "application/json",
            &provider::SIGNATURE,
            PROVIDER_SECRET,
            0,
        )
        .await
    }

    /// Feeds the worker what the stream delivered since the last call, until the stream
    /// is quiet; returns the sequence numbers the worker reported as failed.
    pub async fn run_worker(&mut self) -> Vec<String> {
        let mut failed = Vec::new();
        for _ in 0..20 {
            let records = self.backend.next_records().await;
            if records.is_empty() {
                break;
            }
            failed.extend(self.deliver(records).await);
        }
        failed
    }

    /// Invokes the worker with `payload`, deserialised as its Lambda runtime does.
    pub async fn invoke_worker(&self, payload: Value) -> Result<Value, WorkerError> {
        let event: WorkerEvent = serde_json::from_value(payload)
            .unwrap_or_else(|error| panic!("not a worker event: {error}"));
        handle_worker_event(&self.services, event, None).await
    }

    /// Feeds the worker exactly `records` (a redelivery, say); returns the failures.
    pub async fn deliver(&self, records: Vec<Value>) -> Vec<String> {
        let response = self
            .invoke_worker(stream_event(records))
            .await
            .unwrap_or_else(|error| panic!("worker: {error}"));
        response["batchItemFailures"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|f| f["itemIdentifier"].as_str().map(str::to_owned))
            .collect()
    }

    /// The next stream records, without running the worker.
    pub async fn stream_records(&mut self) -> Vec<Value> {
        self.backend.next_records().await
    }

    /// Every stream record from the stream's start, without running the worker (to
    /// redeliver everything).
    pub async fn stream_from_start(&mut self) -> Vec<Value> {
        self.backend.records_from_start().await
    }

    /// How many items the store holds, read past the services (and their counting).
    pub async fn stored_items(&self) -> usize {
        self.backend.items().await
    }

    /// The schedule's event: runs the stale-call sweep.
    pub async fn sweep(&self) -> Value {
        self.invoke_worker(
            json!({"version": "0", "id": "sweep", "detail-type": "Scheduled Event", "source": "aws.events",
                   "account": "123456789012", "time": "2026-11-22T04:00:00Z", "region": "us-east-1",
                   "resources": [], "detail": {}}),
        )
        .await
        .unwrap_or_else(|error| panic!("sweep: {error}"))
    }

    /// The one call the store holds for `external_unique_id` (an `ExternalId`, or its
    /// text as Slack received it).
    pub async fn call(&self, external_unique_id: impl AsRef<str>) -> Call {
        let external_unique_id = external_unique_id.as_ref();
        let id = ExternalId::parse(external_unique_id)
            .unwrap_or_else(|error| panic!("{external_unique_id:?}: {error}"));
        self.services
            .store
            .get_call(&id)
            .await
            .unwrap_or_else(|error| panic!("get_call: {error}"))
            .unwrap_or_else(|| panic!("no call {external_unique_id}"))
    }

    /// The participants stored under the call, by identity.
    pub async fn participants(&self, external_unique_id: impl AsRef<str>) -> Vec<Participant> {
        let external_unique_id = external_unique_id.as_ref();
        let id = ExternalId::parse(external_unique_id)
            .unwrap_or_else(|error| panic!("{external_unique_id:?}: {error}"));
        self.services
            .store
            .list_participants(&id)
            .await
            .unwrap_or_else(|error| panic!("list_participants: {error}"))
    }

    /// Slack methods the stand-in received, in order (`response_url` for response posts).
    pub fn slack_methods(&self) -> Vec<String> {
        self.standin
            .requests()
            .into_iter()
            .map(|r| r.method)
            .collect()
    }
}

/// Counts every store request by method, then passes it on; can fail a chosen
/// `update_call` as an unreachable store would.
pub struct CountingStore {
    inner: Arc<dyn CallStore>,
    counts: std::sync::Mutex<Vec<&'static str>>,
    total: AtomicUsize,
    /// `update_call`s to pass before the next one fails (0: none is failed).
    failing_update_call: AtomicUsize,
}

impl CountingStore {
    pub fn new(inner: Arc<dyn CallStore>) -> Self {
        CountingStore {
            inner,
            counts: std::sync::Mutex::new(Vec::new()),
            total: AtomicUsize::new(0),
            failing_update_call: AtomicUsize::new(0),
        }
    }

    /// Fails the `nth` `update_call` from now (1: the next one) with `Unavailable`,
    /// once; nothing is written.
    pub fn fail_update_call(&self, nth: usize) {
        self.failing_update_call.store(nth, Ordering::SeqCst);
    }

    fn count(&self, method: &'static str) {
        self.total.fetch_add(1, Ordering::SeqCst);
        self.counts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(method);
    }

    pub fn total(&self) -> usize {
        self.total.load(Ordering::SeqCst)
    }

    /// The methods called, in order.
    pub fn calls(&self) -> Vec<&'static str> {
        self.counts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub fn reset(&self) {
        self.total.store(0, Ordering::SeqCst);
        self.counts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
    }
}

#[async_trait]
impl CallStore for CountingStore {
    async fn create_call(&self, call: &Call, jobs: &[Job]) -> Result<(), StoreError> {
        self.count("create_call");
        self.inner.create_call(call, jobs).await
    }
    async fn get_call(&self, external_unique_id: &ExternalId) -> Result<Option<Call>, StoreError> {
        self.count("get_call");
        self.inner.get_call(external_unique_id).await
    }
    async fn find_call_by_slack_id(
        &self,
        slack_call_id: &SlackCallId,
    ) -> Result<Option<Call>, StoreError> {
        self.count("find_call_by_slack_id");
        self.inner.find_call_by_slack_id(slack_call_id).await
    }
    async fn calls_by_join_url(&self, join_url: &str) -> Result<Vec<Call>, StoreError> {
        self.count("calls_by_join_url");
        self.inner.calls_by_join_url(join_url).await
    }
    async fn update_call(&self, call: &mut Call, jobs: &[Job]) -> Result<(), StoreError> {
        self.count("update_call");
        let due = self
            .failing_update_call
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1));
        if due == Ok(1) {
            return Err(StoreError::Unavailable(
                "injected: update_call failed".into(),
            ));
        }
        self.inner.update_call(call, jobs).await
    }
    async fn calls_due_for_sync(&self, now: UnixSeconds) -> Result<Vec<ExternalId>, StoreError> {
        self.count("calls_due_for_sync");
        self.inner.calls_due_for_sync(now).await
    }
    async fn list_live_calls(&self) -> Result<Vec<Call>, StoreError> {
        self.count("list_live_calls");
        self.inner.list_live_calls().await
    }
    async fn record_event(
        &self,
        receipt: &EventReceipt,
        jobs: &[Job],
    ) -> Result<ReceiptOutcome, StoreError> {
        self.count("record_event");
        self.inner.record_event(receipt, jobs).await
    }
    async fn enqueue_jobs(&self, jobs: &[Job]) -> Result<(), StoreError> {
        self.count("enqueue_jobs");
        self.inner.enqueue_jobs(jobs).await
    }
    async fn get_job(&self, id: &str) -> Result<Option<Job>, StoreError> {
        self.count("get_job");
        self.inner.get_job(id).await
    }
    async fn update_job(&self, job: &mut Job) -> Result<(), StoreError> {
        self.count("update_job");
        self.inner.update_job(job).await
    }
    async fn claim_job(
        &self,
        job: &Job,
        lease: &Lease,
        now: UnixSeconds,
    ) -> Result<JobClaim, StoreError> {
        self.count("claim_job");
        self.inner.claim_job(job, lease, now).await
    }
    async fn update_call_and_job(
        &self,
        call: &mut Call,
        job: &mut Job,
        jobs: &[Job],
    ) -> Result<(), StoreError> {
        self.count("update_call_and_job");
        self.inner.update_call_and_job(call, job, jobs).await
    }
    async fn get_installation(
        &self,
        key: &InstallationKey,
    ) -> Result<Option<Installation>, StoreError> {
        self.count("get_installation");
        self.inner.get_installation(key).await
    }
    async fn delete_installation(&self, key: &InstallationKey) -> Result<(), StoreError> {
        self.count("delete_installation");
        self.inner.delete_installation(key).await
    }
    async fn put_installation(&self, installation: &mut Installation) -> Result<(), StoreError> {
        self.count("put_installation");
        self.inner.put_installation(installation).await
    }

    async fn get_participants(
        &self,
        call: &ExternalId,
        identities: &[String],
    ) -> Result<Vec<Participant>, StoreError> {
        self.count("get_participants");
        self.inner.get_participants(call, identities).await
    }

    async fn list_participants(&self, call: &ExternalId) -> Result<Vec<Participant>, StoreError> {
        self.count("list_participants");
        self.inner.list_participants(call).await
    }

    async fn update_call_and_participants(
        &self,
        call: &mut Call,
        participants: &mut [Participant],
        jobs: &[Job],
    ) -> Result<(), StoreError> {
        self.count("update_call_and_participants");
        self.inner
            .update_call_and_participants(call, participants, jobs)
            .await
    }

    async fn update_participants(
        &self,
        call: &ExternalId,
        participants: &mut [Participant],
    ) -> Result<(), StoreError> {
        self.count("update_participants");
        self.inner.update_participants(call, participants).await
    }

    async fn put_oauth_state(&self, state: &OAuthState) -> Result<(), StoreError> {
        self.count("put_oauth_state");
        self.inner.put_oauth_state(state).await
    }
    async fn take_oauth_state(&self, state: &str) -> Result<Option<OAuthState>, StoreError> {
        self.count("take_oauth_state");
        self.inner.take_oauth_state(state).await
    }
}
