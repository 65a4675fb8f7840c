//! What one join writes to DynamoDB, in a call of 10, 100 and 1,000 participants: the
//! request bytes of the provider event's writes and of the sync that tells Slack, read
//! off the serialised requests by an interceptor on the client (what a proxy in front
//! of DynamoDB would see). With participants as items of their own, the three are
//! about equal. From the repository root (runs the emulators for the bench only):
//!
//! ```text
//! ./infra/emulators.sh start && . .tools/run/emulators.env && cargo bench -p lambda-harness --bench join_bytes; ./infra/emulators.sh stop
//! ```

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

use aws_sdk_dynamodb::config::interceptors::BeforeTransmitInterceptorContextRef;
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::error::BoxError;
use lambda_harness::stream::StreamPump;
use secrecy::SecretString;
use serde_json::{json, Value};
use slack_calls::domain::{Call, CallKind, ExternalId, NewCall, Workspace};
use slack_calls::entry::worker;
use slack_calls::flows::provider_events::apply_provider_events;
use slack_calls::flows::Services;
use slack_calls::provider::events::parse_batch;
use slack_calls::slack::api::CallsAdd;
use slack_standin::SlackStandin;

mod support;

/// Request bytes and requests, by DynamoDB operation.
#[derive(Debug, Default, Clone)]
struct Sent(Arc<Mutex<BTreeMap<String, (usize, usize)>>>);

impl Sent {
    fn take(&self) -> BTreeMap<String, (usize, usize)> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

impl Intercept for Sent {
    fn name(&self) -> &'static str {
        "Sent"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let request = context.request();
        let operation = request
            .headers()
            .get("x-amz-target")
            .and_then(|target| target.rsplit('.').next())
            .unwrap_or("unknown")
            .to_owned();
        let bytes = request.body().bytes().map_or(0, <[u8]>::len);
        let mut sent = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let entry = sent.entry(operation).or_default();
        entry.0 += 1;
        entry.1 += bytes;
        Ok(())
    }
}

fn is_write(operation: &str) -> bool {
    matches!(operation, "PutItem" | "TransactWriteItems" | "UpdateItem")
}

struct Bench {
    services: Services,
    standin: SlackStandin,
    pump: StreamPump,
    sent: Sent,
}

impl Bench {
    async fn start() -> Bench {
        let sent = Sent::default();
        let secrets = support::BenchSecrets {
            signing: "bench-signing-secret",
            provider: "bench-provider-secret",
        };
        let support::Backend {
            services,
            standin,
            pump,
        } = support::backend(sent.clone(), secrets, |standin| {
            vec![
                ("SLACK_API_URL", standin.api_url()),
                (
                    "JOIN_URL_TEMPLATE",
                    "https://meet.example.com/{room}".to_owned(),
                ),
            ]
        })
        .await;
        Bench {
            services,
            standin,
            pump,
            sent,
        }
    }

    /// A call registered in Slack (the stand-in) and stored, as after `/call`.
    async fn call(&self, name: &str) -> ExternalId {
        let id: ExternalId = name.parse().unwrap_or_else(|error| panic!("{error}"));
        let team = self
            .standin
            .team_id()
            .parse()
            .unwrap_or_else(|error| panic!("{error}"));
        let mut call = Call::new(
            NewCall {
                external_unique_id: id.clone(),
                workspace: Workspace::team(team),
                channel_id: None,
                created_by: "U0BENCH001"
                    .parse()
                    .unwrap_or_else(|error| panic!("{error}")),
                kind: CallKind::Video,
                title: Some("All hands".into()),
                join_url: format!("https://meet.example.com/{name}"),
                desktop_join_url: None,
                external_display_id: None,
                response_url: None,
            },
            self.services.clock.now(),
        );
        let token = SecretString::from(self.standin.bot_token().to_owned());
        let added = self
            .services
            .slack
            .calls_add(
                &token,
                &CallsAdd {
                    external_unique_id: id.clone(),
                    join_url: call.join_url.clone(),
                    created_by: Some(call.created_by.clone()),
                    date_start: Some(call.date_start),
                    desktop_app_join_url: None,
                    external_display_id: None,
                    title: call.title.clone(),
                    users: None,
                },
            )
            .await
            .unwrap_or_else(|error| panic!("calls.add: {error}"));
        call.mark_registered(added.id);
        self.services
            .store
            .create_call(&call, &[])
            .await
            .unwrap_or_else(|error| panic!("create_call: {error}"));
        id
    }

    async fn events(&self, events: &Value) {
        let events = parse_batch(events.to_string().as_bytes())
            .unwrap_or_else(|error| panic!("events: {error}"));
        let events: Vec<_> = events
            .into_iter()
            .map(|event| event.timed(self.services.clock.now()))
            .collect();
        for result in apply_provider_events(&events, &self.services).await {
            assert_eq!(
                serde_json::to_value(result.status).unwrap_or_default(),
                "applied"
            );
        }
    }

    async fn run_worker(&mut self) {
        for _ in 0..50 {
            let Some(event) = support::next_worker_event(&mut self.pump).await else {
                return;
            };
            worker::handle_worker_event(&self.services, event, None)
                .await
                .unwrap_or_else(|error| panic!("worker: {error}"));
        }
    }
}

fn join(call: &ExternalId, i: usize) -> Value {
    json!({"type": "participant.joined", "external_unique_id": call.as_str(),
           "participant": {"external_id": format!("guest-{i:05}"),
                           "display_name": format!("A guest with a longish display name, number {i}")}})
}

/// Bytes written (and requests) by one more join to a call of `size` participants:
/// the event's own writes, and the sync's.
async fn one_join(bench: &mut Bench, size: usize) -> ((usize, usize), (usize, usize)) {
    let call = bench.call(&format!("bench-call-{size}")).await;
    let everyone: Vec<Value> = (0..size).map(|i| join(&call, i)).collect();
    for batch in everyone.chunks(100) {
        bench.events(&Value::Array(batch.to_vec())).await;
        bench.run_worker().await;
    }
    bench.sent.take();
    bench.events(&join(&call, size)).await;
    let event = bench.sent.take();
    bench.run_worker().await;
    let sync = bench.sent.take();
    let shown = bench
        .standin
        .calls()
        .into_iter()
        .find(|c| c.external_unique_id == call.as_str())
        .map_or(0, |c| c.participant_ids().len());
    assert_eq!(shown, size + 1, "Slack shows everyone");
    let written = |sent: &BTreeMap<String, (usize, usize)>| {
        sent.iter()
            .filter(|(op, _)| is_write(op))
            .fold((0, 0), |(n, b), (_, (n2, b2))| (n + n2, b + b2))
    };
    (written(&event), written(&sync))
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let mut bench = Bench::start().await;
    println!("bytes written to DynamoDB by one join (request bodies of its writes)");
    println!(
        "{:>13} | {:>18} | {:>18} | {:>11}",
        "participants", "event: writes/bytes", "sync: writes/bytes", "total bytes"
    );
    for size in [10, 100, 1_000] {
        let ((event_writes, event_bytes), (sync_writes, sync_bytes)) =
            one_join(&mut bench, size).await;
        println!(
            "{size:>13} | {event_writes:>8} / {event_bytes:>7} | {sync_writes:>8} / {sync_bytes:>7} | {:>11}",
            event_bytes + sync_bytes
        );
    }
}
