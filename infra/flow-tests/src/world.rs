//! An in-process world for flow tests: the entry points served over real HTTP on
//! loopback, the store (embedded, or a fresh DynamoDB Local table from template.yaml:
//! see [`crate::backend`]), the worker fed that store's stream of job inserts, Slack
//! played by the stand-in, and a clock that moves only when told to.

use std::sync::Arc;
use std::time::Duration;

use http::StatusCode;
use local_server::server::HttpServer;
use secrecy::SecretString;
use serde_json::{json, Value};
use slack_calls::clock::{Clock, ManualClock};
use slack_calls::config::Config;
use slack_calls::domain::{Call, ExternalId, Participant};
use slack_calls::entry::worker::{handle_worker_event, WorkerError, WorkerEvent};
use slack_calls::flows::Services;
use slack_calls::secrets::{Secrets, StaticSecrets};
use slack_calls::signing::SignatureScheme;
use slack_calls::slack::RetryPolicy;
use slack_calls::{provider, slack};
use slack_standin::SlackStandin;

use lambda_harness::stream::stream_event;

use crate::backend::{Backend, StoreKind};
pub use crate::counting_store::CountingStore;

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
