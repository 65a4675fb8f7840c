//! What one call's life costs: DynamoDB requests by operation and the capacity they
//! consume, Slack requests, function invocations and their durations, and from those
//! the cost per 1,000 calls at on-demand prices. The one command, from the repository
//! root (runs the emulators for the bench only):
//!
//! ```text
//! ./infra/emulators.sh start && . .tools/run/emulators.env && cargo bench -p lambda-harness --bench call_life; ./infra/emulators.sh stop
//! ```
//!
//! The life: `/call`, three joins in one provider batch, a leave, a rename, the end,
//! the worker run after each. Requests go through the real entry points (the handlers
//! the Lambda functions call, fed signed requests) and the worker is fed the table's
//! own stream (DynamoDB Local); Slack is the stand-in. Every DynamoDB request is made
//! with `ReturnConsumedCapacity=TOTAL`, set and summed by an interceptor on the client.
//! Durations are measured on loopback with this build: they are not production's, and
//! the Lambda lines of the table scale with them. `CALL_LIFE_RUNS` sets how many lives
//! (default 20); the first pays what a fresh container pays once a minute (the team's
//! installation read), the averages are over all of them.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aws_sdk_dynamodb::config::interceptors::{
    BeforeSerializationInterceptorContextMut, FinalizerInterceptorContextRef,
};
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::error::BoxError;
use aws_sdk_dynamodb::operation::{
    batch_get_item::{BatchGetItemInput, BatchGetItemOutput},
    get_item::{GetItemInput, GetItemOutput},
    put_item::{PutItemInput, PutItemOutput},
    query::{QueryInput, QueryOutput},
    transact_write_items::{TransactWriteItemsInput, TransactWriteItemsOutput},
    update_item::{UpdateItemInput, UpdateItemOutput},
};
use aws_sdk_dynamodb::types::{ConsumedCapacity, ReturnConsumedCapacity};
use http::HeaderMap;
use lambda_harness::stream::StreamPump;
use secrecy::SecretString;
use serde_json::{json, Value};
use slack_calls::clock::SystemClock;
use slack_calls::entry::{commands, provider as provider_entry, worker};
use slack_calls::flows::Services;
use slack_calls::signing::SignatureScheme;
use slack_standin::SlackStandin;

mod support;

const SIGNING_SECRET: &str = "bench-signing-secret-0123456789";
const PROVIDER_SECRET: &str = "bench-provider-secret-0123456789";
const CHANNEL: &str = "C0BENCH001";
const USER: &str = "U0BENCH001";

/// The same life before the store work (main at 512cec6, this bench): 26 GetItem, 1
/// Query, 21 TransactWriteItems; 26.5 read and 114 write units.
const BEFORE_REQUESTS: f64 = 48.0;
const BEFORE_CAPACITY: f64 = 140.5;

/// On-demand list prices, us-east-1, as found on 2026-11-28 (see README).
const PRICE_PER_MILLION_WRU: f64 = 0.625;
const PRICE_PER_MILLION_RRU: f64 = 0.125;
const PRICE_PER_GB_SECOND_ARM: f64 = 0.000_013_333_4;
const PRICE_PER_MILLION_INVOCATIONS: f64 = 0.20;
const PRICE_PER_MILLION_HTTP_API_REQUESTS: f64 = 1.00;

/// DynamoDB requests and consumed capacity, by operation.
#[derive(Debug, Default, Clone)]
struct Usage {
    by_operation: BTreeMap<&'static str, (usize, f64)>,
}

impl Usage {
    fn requests(&self) -> usize {
        self.by_operation.values().map(|(n, _)| n).sum()
    }

    fn units(&self, reads: bool) -> f64 {
        self.by_operation
            .iter()
            .filter(|(op, _)| is_read(op) == reads)
            .map(|(_, (_, units))| units)
            .sum()
    }

    fn minus(&self, before: &Usage) -> Usage {
        let mut by_operation = self.by_operation.clone();
        for (op, (n, units)) in &before.by_operation {
            let entry = by_operation.entry(op).or_default();
            entry.0 -= n;
            entry.1 -= units;
        }
        by_operation.retain(|_, (n, _)| *n > 0);
        Usage { by_operation }
    }
}

fn is_read(operation: &str) -> bool {
    matches!(operation, "GetItem" | "Query" | "BatchGetItem")
}

/// Asks every request for its consumed capacity and adds it up per operation.
#[derive(Debug, Clone, Default)]
struct Meter(Arc<Mutex<Usage>>);

impl Meter {
    fn usage(&self) -> Usage {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn add(&self, operation: &'static str, capacity: &[ConsumedCapacity]) {
        let units: f64 = capacity.iter().filter_map(|c| c.capacity_units).sum();
        let mut usage = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let entry = usage.by_operation.entry(operation).or_default();
        entry.0 += 1;
        entry.1 += units;
    }
}

impl Intercept for Meter {
    fn name(&self) -> &'static str {
        "Meter"
    }

    fn modify_before_serialization(
        &self,
        context: &mut BeforeSerializationInterceptorContextMut<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let input = context.input_mut();
        let total = Some(ReturnConsumedCapacity::Total);
        if let Some(i) = input.downcast_mut::<GetItemInput>() {
            i.return_consumed_capacity = total;
        } else if let Some(i) = input.downcast_mut::<PutItemInput>() {
            i.return_consumed_capacity = total;
        } else if let Some(i) = input.downcast_mut::<UpdateItemInput>() {
            i.return_consumed_capacity = total;
        } else if let Some(i) = input.downcast_mut::<TransactWriteItemsInput>() {
            i.return_consumed_capacity = total;
        } else if let Some(i) = input.downcast_mut::<QueryInput>() {
            i.return_consumed_capacity = total;
        } else if let Some(i) = input.downcast_mut::<BatchGetItemInput>() {
            i.return_consumed_capacity = total;
        } else {
            return Err("an operation the meter does not know".into());
        }
        Ok(())
    }

    fn read_after_execution(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let Some(Ok(output)) = context.output_or_error() else {
            // A failed request (a condition that did not hold): DynamoDB Local reports
            // no capacity for it; the happy life has none.
            return Ok(());
        };
        if let Some(o) = output.downcast_ref::<GetItemOutput>() {
            self.add("GetItem", o.consumed_capacity.as_slice());
        } else if let Some(o) = output.downcast_ref::<PutItemOutput>() {
            self.add("PutItem", o.consumed_capacity.as_slice());
        } else if let Some(o) = output.downcast_ref::<UpdateItemOutput>() {
            self.add("UpdateItem", o.consumed_capacity.as_slice());
        } else if let Some(o) = output.downcast_ref::<TransactWriteItemsOutput>() {
            self.add("TransactWriteItems", o.consumed_capacity());
        } else if let Some(o) = output.downcast_ref::<QueryOutput>() {
            self.add("Query", o.consumed_capacity.as_slice());
        } else if let Some(o) = output.downcast_ref::<BatchGetItemOutput>() {
            self.add("BatchGetItem", o.consumed_capacity());
        }
        Ok(())
    }
}

/// Invocations and their summed durations, per function.
#[derive(Debug, Default, Clone)]
struct Invocations(BTreeMap<&'static str, (usize, Vec<Duration>)>);

impl Invocations {
    fn record(&mut self, function: &'static str, took: Duration) {
        let entry = self.0.entry(function).or_default();
        entry.0 += 1;
        entry.1.push(took);
    }
}

struct Bench {
    services: Services,
    standin: SlackStandin,
    pump: StreamPump,
    meter: Meter,
    invocations: Invocations,
}

impl Bench {
    async fn start() -> Bench {
        let meter = Meter::default();
        let secrets = support::BenchSecrets {
            signing: SIGNING_SECRET,
            provider: PROVIDER_SECRET,
        };
        let support::Backend {
            mut services,
            standin,
            pump,
        } = support::backend(meter.clone(), secrets, |standin| {
            let api_url = standin.api_url();
            let origin = api_url
                .trim_end_matches('/')
                .trim_end_matches("/api")
                .to_owned();
            vec![
                ("SLACK_API_URL", api_url),
                ("RESPONSE_URL_HOSTS", origin),
                (
                    "JOIN_URL_TEMPLATE",
                    "https://meet.example.com/{room}".into(),
                ),
            ]
        })
        .await;
        services.clock = Arc::new(SystemClock);
        Bench {
            services,
            standin,
            pump,
            meter,
            invocations: Invocations::default(),
        }
    }

    fn signed(
        scheme: &SignatureScheme,
        secret: &str,
        body: &[u8],
        content_type: &str,
    ) -> HeaderMap {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(0));
        let mut headers = scheme.signed_headers(&SecretString::from(secret.to_owned()), now, body);
        if let Ok(value) = content_type.parse() {
            headers.insert(http::header::CONTENT_TYPE, value);
        }
        headers
    }

    /// `/call` through the call-button entry point; the new call's external id.
    async fn command(&mut self, title: &str) -> u16 {
        let response_url = self.standin.new_response_url(CHANNEL);
        let form = serde_urlencoded::to_string([
            ("team_id", self.standin.team_id()),
            ("team_domain", "acme"),
            ("channel_id", CHANNEL),
            ("channel_name", "general"),
            ("user_id", USER),
            ("user_name", "ada"),
            ("command", "/call"),
            ("text", title),
            ("response_url", response_url.as_str()),
            ("trigger_id", "1.2.3"),
        ])
        .unwrap_or_default();
        let headers = Self::signed(
            &slack_calls::slack::SIGNATURE,
            SIGNING_SECRET,
            form.as_bytes(),
            "application/x-www-form-urlencoded",
        );
        let started = Instant::now();
        let answer = commands::handle_command(&self.services, &headers, form.as_bytes()).await;
        self.invocations.record("call-button", started.elapsed());
        answer.status().as_u16()
    }

    async fn provider(&mut self, events: &Value) -> u16 {
        let body = events.to_string();
        let headers = Self::signed(
            &slack_calls::provider::SIGNATURE,
            PROVIDER_SECRET,
            body.as_bytes(),
            "application/json",
        );
        let started = Instant::now();
        let answer =
            provider_entry::handle_provider_events(&self.services, &headers, body.as_bytes()).await;
        self.invocations.record("call-end", started.elapsed());
        answer.status().as_u16()
    }

    /// Feeds the worker what the stream delivered, one invocation per batch, until quiet.
    async fn run_worker(&mut self) {
        for _ in 0..20 {
            let Some(event) = support::next_worker_event(&mut self.pump).await else {
                return;
            };
            let started = Instant::now();
            let answer = worker::handle_worker_event(&self.services, event, None)
                .await
                .unwrap_or_else(|error| panic!("worker: {error}"));
            self.invocations.record("worker", started.elapsed());
            assert_eq!(answer["batchItemFailures"], json!([]), "no job may fail");
        }
    }

    /// One whole life; checks it went as it should.
    async fn life(&mut self, n: usize) {
        self.standin.clear_requests();
        assert_eq!(self.command(&format!("Bench {n}")).await, 200);
        self.run_worker().await;
        let adds = self.standin.requests_for("calls.add");
        let id = adds
            .last()
            .and_then(|add| add.body["external_unique_id"].as_str())
            .unwrap_or_else(|| panic!("no calls.add"))
            .to_owned();
        let user = |slack_id: &str| json!({"slack_id": slack_id});
        let lifecycle = [
            json!([
                {"type": "participant.joined", "external_unique_id": id, "participant": user(USER)},
                {"type": "participant.joined", "external_unique_id": id, "participant": user("U0BENCH002")},
                {"type": "participant.joined", "external_unique_id": id,
                 "participant": {"external_id": "guest-7", "display_name": "Guest Seven"}},
            ]),
            json!({"type": "participant.left", "external_unique_id": id, "participant": user("U0BENCH002")}),
            json!({"type": "call.updated", "external_unique_id": id, "title": format!("Bench {n}, part 2")}),
            json!({"type": "call.ended", "external_unique_id": id}),
        ];
        for events in &lifecycle {
            assert_eq!(self.provider(events).await, 202);
            self.run_worker().await;
        }
        let methods: Vec<String> = self
            .standin
            .requests()
            .into_iter()
            .map(|r| r.method)
            .collect();
        // The container asks whose the secret's token is once, in its first life.
        let mut expected = vec![
            "calls.add",
            "response_url",
            "calls.participants.add",
            "calls.participants.remove",
            "calls.update",
            "calls.end",
        ];
        if n == 0 {
            expected.insert(0, "auth.test");
        }
        assert_eq!(methods, expected, "the life's Slack requests");
    }
}

/// `MemorySize` of each function in `template.yaml`, in MB.
fn memory_sizes() -> BTreeMap<&'static str, f64> {
    let text = std::fs::read_to_string(testkit::template::template_path())
        .unwrap_or_else(|error| panic!("template.yaml: {error}"));
    let template: serde_yaml_ng::Value =
        serde_yaml_ng::from_str(&text).unwrap_or_else(|error| panic!("template.yaml: {error}"));
    [
        ("call-button", "CallButtonFunction"),
        ("call-end", "CallEndFunction"),
        ("worker", "WorkerFunction"),
    ]
    .into_iter()
    .map(|(function, resource)| {
        let memory = template["Resources"][resource]["Properties"]["MemorySize"]
            .as_f64()
            .unwrap_or_else(|| panic!("{resource} has no MemorySize"));
        (function, memory)
    })
    .collect()
}

fn print_usage(title: &str, usage: &Usage, lives: f64) {
    println!("\n{title}");
    println!("| operation | requests | capacity units |");
    println!("|---|---:|---:|");
    for (op, (n, units)) in &usage.by_operation {
        println!("| {op} | {:.1} | {:.1} |", *n as f64 / lives, units / lives);
    }
    println!(
        "| **all** | **{:.1}** | **{:.1}** ({:.1} read, {:.1} write) |",
        usage.requests() as f64 / lives,
        (usage.units(true) + usage.units(false)) / lives,
        usage.units(true) / lives,
        usage.units(false) / lives,
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let runs: usize = std::env::var("CALL_LIFE_RUNS")
        .ok()
        .and_then(|runs| runs.parse().ok())
        .filter(|runs| *runs > 0)
        .unwrap_or(20);
    let mut bench = Bench::start().await;

    bench.life(0).await;
    let first = bench.meter.usage();
    let first_slack = bench.standin.requests().len();
    for n in 1..runs {
        bench.life(n).await;
    }
    let all = bench.meter.usage();
    let steady = all.minus(&first);
    println!("call life x{runs}: /call, 3 joins in one batch, a leave, a rename, the end");
    print_usage(
        "first life (a fresh container: reads the team's installation)",
        &first,
        1.0,
    );
    if runs > 1 {
        print_usage(
            &format!("per life, lives 2-{runs} (warm)"),
            &steady,
            (runs - 1) as f64,
        );
    }
    let lives_after_first = (runs.max(2) - 1) as f64;
    let (warm, warm_lives) = if runs > 1 {
        (&steady, lives_after_first)
    } else {
        (&first, 1.0)
    };
    println!(
        "\nvs. before: requests x{:.2} ({:.1} of {BEFORE_REQUESTS}), capacity units x{:.2} ({:.1} of {BEFORE_CAPACITY})",
        warm.requests() as f64 / warm_lives / BEFORE_REQUESTS,
        warm.requests() as f64 / warm_lives,
        (warm.units(true) + warm.units(false)) / warm_lives / BEFORE_CAPACITY,
        (warm.units(true) + warm.units(false)) / warm_lives,
    );
    println!("Slack requests per life: {first_slack}");

    let lives = runs as f64;
    let memory = memory_sizes();
    println!("\n| function | MemorySize | invocations per life | mean duration (loopback) | GB-s per life |");
    println!("|---|---:|---:|---:|---:|");
    let mut gb_seconds = 0.0;
    let mut invocations = 0.0;
    for (function, (count, durations)) in &bench.invocations.0 {
        // Lambda bills each invocation rounded up to the millisecond.
        let billed_ms: f64 = durations
            .iter()
            .map(|d| (d.as_secs_f64() * 1_000.0).ceil())
            .sum();
        let mb = memory.get(function).copied().unwrap_or(0.0);
        let gbs = billed_ms / 1_000.0 * mb / 1_024.0 / lives;
        let mean_ms = durations.iter().map(Duration::as_secs_f64).sum::<f64>() * 1_000.0
            / durations.len().max(1) as f64;
        println!(
            "| {function} | {mb} MB | {:.1} | {mean_ms:.1} ms | {gbs:.5} |",
            *count as f64 / lives
        );
        gb_seconds += gbs;
        invocations += *count as f64 / lives;
    }
    let api_requests = bench
        .invocations
        .0
        .iter()
        .filter(|(function, _)| **function != "worker")
        .map(|(_, (count, _))| *count as f64 / lives)
        .sum::<f64>();

    let thousand = 1_000.0;
    let rru = all.units(true) / lives * thousand;
    let wru = all.units(false) / lives * thousand;
    let rows = [
        (
            "DynamoDB read request units",
            rru,
            PRICE_PER_MILLION_RRU / 1e6,
            "$0.125 per million",
        ),
        (
            "DynamoDB write request units",
            wru,
            PRICE_PER_MILLION_WRU / 1e6,
            "$0.625 per million",
        ),
        (
            "Lambda invocations",
            invocations * thousand,
            PRICE_PER_MILLION_INVOCATIONS / 1e6,
            "$0.20 per million",
        ),
        (
            "Lambda GB-seconds (arm64, loopback durations)",
            gb_seconds * thousand,
            PRICE_PER_GB_SECOND_ARM,
            "$0.0000133334 per GB-s",
        ),
        (
            "API Gateway HTTP API requests",
            api_requests * thousand,
            PRICE_PER_MILLION_HTTP_API_REQUESTS / 1e6,
            "$1.00 per million",
        ),
        (
            "KMS requests",
            0.0,
            0.0,
            "none: the table uses the AWS-owned key",
        ),
        (
            "Secrets Manager GetSecretValue",
            0.0,
            0.0,
            "cached per container (5 min): not per call; $0.05 per 10,000",
        ),
    ];
    println!("\nCost per 1,000 calls (this life; us-east-1 on-demand prices of 2026-11-28)");
    println!("| item | per 1,000 calls | price | cost |");
    println!("|---|---:|---|---:|");
    let mut total = 0.0;
    for (item, quantity, unit_price, price) in rows {
        let cost = quantity * unit_price;
        total += cost;
        println!("| {item} | {quantity:.1} | {price} | ${cost:.4} |");
    }
    println!("| **total** | | | **${total:.4}** |");
}
