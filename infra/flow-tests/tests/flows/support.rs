//! Helpers shared by the flow tests: what "registered once" means, a started call,
//! stream and job helpers, what counts as a store write, and small HTTP servers standing
//! in for the provider's meeting API and its callback receiver.

use bytes::Bytes;
use flow_tests::world::{Answer, World, START_TIME};
use http::{HeaderMap, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use slack_calls::domain::{CallState, Job};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use tokio::net::TcpListener;

/// The store requests a fresh container's ack path makes before `then`: the one
/// installation read that tells whether the app serves the workspace (later requests
/// find it in the container's cache).
pub fn after_installation_lookup(then: &[&'static str]) -> Vec<&'static str> {
    let mut requests = vec!["get_installation"];
    requests.extend_from_slice(then);
    requests
}

/// `answer` is the ephemeral "not installed here" with the install link of the world's
/// HTTP server (derived from the request's host), and nothing else happened: no store
/// write, no meeting, no Slack request.
pub async fn assert_told_not_installed(world: &mut World, answer: &Answer) {
    assert_eq!(answer.status, 200, "{:?}", answer.json);
    assert_eq!(
        answer.json["response_type"], "ephemeral",
        "{:?}",
        answer.json
    );
    let text = answer.json["text"].as_str().unwrap_or_default();
    let link = format!(
        "<{}/slack/install|Install it>",
        world.http.url().trim_end_matches('/')
    );
    assert!(
        text.contains("not installed in this workspace") && text.contains(&link),
        "{text}"
    );
    let slack_before = world.standin.requests().len();
    assert_eq!(world.run_worker().await, Vec::<String>::new());
    assert_eq!(
        world.standin.requests().len(),
        slack_before,
        "nothing for the worker to send: {:?}",
        world.slack_methods()
    );
    assert!(
        world
            .store_requests
            .calls()
            .iter()
            .all(|method| *method == "get_installation"),
        "no write: {:?}",
        world.store_requests.calls()
    );
}

/// What one registered call looks like from Slack's side.
#[derive(Debug)]
pub struct Registered {
    pub external_unique_id: String,
    /// The `calls.add` body as Slack received it.
    pub add: Value,
    /// The body posted to the response URL.
    pub post: Value,
}

/// After the worker ran for exactly one started call: exactly one accepted `calls.add` (with the
/// fields every call carries), exactly one accepted `in_channel` post of the call block to
/// `channel`'s response URL, and the stored call `Active` with Slack's id and the block
/// marked posted.
pub async fn assert_registered_once(world: &World, channel: &str, user: &str) -> Registered {
    // Refused attempts (a 429, a 503) may come first; one was accepted.
    let adds: Vec<_> = world
        .standin
        .requests_for("calls.add")
        .into_iter()
        .filter(|r| r.status == Some(200) && r.error.is_none())
        .collect();
    assert_eq!(adds.len(), 1, "exactly one accepted calls.add: {adds:#?}");
    let add = adds[0].body.clone();

    let external_unique_id = add["external_unique_id"]
        .as_str()
        .filter(|id| !id.is_empty())
        .unwrap_or_else(|| panic!("external_unique_id missing: {add}"))
        .to_owned();
    assert!(
        add["join_url"]
            .as_str()
            .is_some_and(|u| u.starts_with("https://")),
        "join_url: {add}"
    );
    assert_eq!(add["created_by"], user, "created_by is the Slack user");
    assert_eq!(
        add["date_start"], START_TIME,
        "date_start is the world's now"
    );
    assert!(
        add["external_display_id"]
            .as_str()
            .is_some_and(|id| !id.trim().is_empty()),
        "external_display_id: {add}"
    );

    let registered = world.standin.calls_with_external_id(&external_unique_id);
    assert_eq!(registered.len(), 1, "one Slack call: {registered:#?}");
    let slack_call_id = registered[0].id.clone();
    assert!(slack_call_id.starts_with('R'), "{slack_call_id}");

    let posts = world.standin.response_posts();
    assert_eq!(posts.len(), 1, "exactly one response_url post: {posts:#?}");
    let post = posts[0].body.clone();
    assert_eq!(posts[0].accepted, Some(true), "{post}");
    assert_eq!(posts[0].channel, channel, "posted to the command's channel");
    assert_eq!(post["response_type"], "in_channel", "{post}");
    assert_eq!(
        post["blocks"],
        json!([{"type": "call", "call_id": slack_call_id}]),
        "{post}"
    );
    assert!(
        post["text"].as_str().is_some_and(|t| !t.trim().is_empty()),
        "a notification fallback text: {post}"
    );

    let call = world.call(&external_unique_id).await;
    assert_eq!(call.state, CallState::Active);
    assert_eq!(
        call.slack_call_id.as_ref().map(|id| id.as_str()),
        Some(slack_call_id.as_str())
    );
    assert!(call.block_posted, "block_posted is recorded");
    assert_eq!(call.failure, None);

    Registered {
        external_unique_id,
        add,
        post,
    }
}

/// A 9-digit display id as `123-456-789`.
pub fn is_display_id(value: &Value) -> bool {
    value.as_str().is_some_and(|id| {
        id.len() == 11
            && id.char_indices().all(|(i, c)| {
                if i == 3 || i == 7 {
                    c == '-'
                } else {
                    c.is_ascii_digit()
                }
            })
    })
}

/// The job ids of the job inserts among `records`.
pub fn job_ids(records: &[Value]) -> Vec<String> {
    records
        .iter()
        .filter_map(|r| r["dynamodb"]["Keys"]["pk"]["S"].as_str())
        .filter_map(|pk| pk.strip_prefix("JOB#"))
        .map(str::to_owned)
        .collect()
}

pub fn sequence_numbers(records: &[Value]) -> Vec<String> {
    records
        .iter()
        .filter_map(|r| r["dynamodb"]["SequenceNumber"].as_str())
        .map(str::to_owned)
        .collect()
}

/// The stream records of the one job the ack path wrote.
pub async fn the_job_records(world: &mut World) -> (Vec<Value>, String) {
    let records = world.stream_records().await;
    let ids = job_ids(&records);
    assert_eq!(ids.len(), 1, "one job insert: {records:#?}");
    let id = ids[0].clone();
    (records, id)
}

pub async fn job(world: &World, id: &str) -> Job {
    world
        .services
        .store
        .get_job(id)
        .await
        .unwrap_or_else(|error| panic!("get_job: {error}"))
        .unwrap_or_else(|| panic!("no job {id}"))
}

/// Items in the world's real store: the table, or the embedded store (bypassing the
/// store under test).
pub async fn table_items(world: &World) -> usize {
    world.stored_items().await
}

// ---- the meeting provider's HTTP API -----------------------------------------------

/// Store methods that write (every other method only reads).
pub const STORE_WRITES: [&str; 10] = [
    "create_call",
    "update_call",
    "record_event",
    "enqueue_jobs",
    "update_job",
    "claim_job",
    "update_call_and_job",
    "put_installation",
    "update_call_and_participants",
    "update_participants",
];

/// The store writes made since the counting store was last reset.
pub fn store_writes(world: &World) -> Vec<&'static str> {
    world
        .store_requests
        .calls()
        .into_iter()
        .filter(|method| STORE_WRITES.contains(method))
        .collect()
}

/// The participants Slack (the stand-in) shows on its call `slack_call_id`.
pub fn participants_shown(world: &World, slack_call_id: &str) -> Vec<String> {
    world
        .standin
        .call(slack_call_id)
        .expect("the stand-in knows the call")
        .participant_ids()
}

/// A call started with the slash command and registered by the worker.
#[derive(Debug, Clone)]
pub struct Started {
    pub external_unique_id: String,
    pub join_url: String,
    /// Slack's `R…` id.
    pub call_id: String,
}

/// `/call <title>` from `user` in `channel`, then the worker: the call is registered
/// and its block posted. Clears the stand-in's request log and the store's counts.
pub async fn start_call(world: &mut World, channel: &str, user: &str, title: &str) -> Started {
    let form = world.command_form(channel, user, &[("text", title)]);
    let answer = world.command(&form).await;
    assert_eq!(answer.status, 200, "{:?}", answer.json);
    assert_eq!(world.run_worker().await, Vec::<String>::new());
    let adds = world.standin.requests_for("calls.add");
    let add = &adds.last().expect("calls.add was made").body;
    let external_unique_id = add["external_unique_id"]
        .as_str()
        .expect("external id")
        .to_owned();
    let join_url = add["join_url"].as_str().expect("join url").to_owned();
    let calls = world.standin.calls_with_external_id(&external_unique_id);
    assert_eq!(calls.len(), 1, "registered once");
    let started = Started {
        external_unique_id,
        join_url,
        call_id: calls[0].id.clone(),
    };
    world.standin.clear_requests();
    world.store_requests.reset();
    started
}

/// Runs the worker over the stream until it is quiet, like [`World::run_worker`], but
/// returns the records the worker reported as failed, for the test to redeliver.
pub async fn run_worker_keeping_failures(world: &mut World) -> Vec<Value> {
    let mut failed_records = Vec::new();
    for _ in 0..20 {
        let records = world.stream_records().await;
        if records.is_empty() {
            break;
        }
        let failed = world.deliver(records.clone()).await;
        failed_records.extend(records.into_iter().filter(|record| {
            record["dynamodb"]["SequenceNumber"]
                .as_str()
                .is_some_and(|seq| failed.iter().any(|f| f == seq))
        }));
    }
    failed_records
}

/// The job id a stream record inserts.
pub fn job_id(record: &Value) -> String {
    record["dynamodb"]["NewImage"]["pk"]["S"]
        .as_str()
        .and_then(|pk| pk.strip_prefix("JOB#"))
        .expect("a job insert")
        .to_owned()
}

/// How a [`ScriptedServer`] answers one request.
#[derive(Debug, Clone)]
pub enum Scripted {
    /// This status, with this JSON body.
    Json(u16, Value),
    /// Never answers (the caller's timeout must cut it).
    Hang,
}

/// One request a [`ScriptedServer`] received.
#[derive(Debug, Clone)]
pub struct Received {
    pub method: String,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Received {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    }
}

/// A tiny HTTP server standing in for the provider's backend (its meeting API, its
/// callback receiver): records every request and answers the n-th with the n-th
/// scripted answer (the last one repeats).
pub struct ScriptedServer {
    addr: SocketAddr,
    path: String,
    received: Arc<Mutex<Vec<Received>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for ScriptedServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl ScriptedServer {
    pub async fn start(path: &str, answers: Vec<Scripted>) -> ScriptedServer {
        let listener = TcpListener::bind(("127.0.0.1", 0))
            .await
            .unwrap_or_else(|error| panic!("bind: {error}"));
        let addr = listener
            .local_addr()
            .unwrap_or_else(|error| panic!("local_addr: {error}"));
        let received: Arc<Mutex<Vec<Received>>> = Arc::default();
        let answers = Arc::new(if answers.is_empty() {
            vec![Scripted::Json(200, json!({}))]
        } else {
            answers
        });
        let log = received.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let log = log.clone();
                let answers = answers.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |request: Request<Incoming>| {
                        answer(request, log.clone(), answers.clone())
                    });
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        ScriptedServer {
            addr,
            path: path.to_owned(),
            received,
            task,
        }
    }

    /// Answers every request with `statuses` in turn and an empty JSON object.
    pub async fn statuses(path: &str, statuses: &[u16]) -> ScriptedServer {
        let answers = statuses
            .iter()
            .map(|&s| Scripted::Json(s, json!({})))
            .collect();
        ScriptedServer::start(path, answers).await
    }

    pub fn url(&self) -> String {
        format!("http://{}{}", self.addr, self.path)
    }

    pub fn received(&self) -> Vec<Received> {
        self.received
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

async fn answer(
    request: Request<Incoming>,
    log: Arc<Mutex<Vec<Received>>>,
    answers: Arc<Vec<Scripted>>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let (parts, body) = request.into_parts();
    let body = body
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let index = {
        let mut log = log.lock().unwrap_or_else(|p| p.into_inner());
        log.push(Received {
            method: parts.method.to_string(),
            headers: parts.headers,
            body,
        });
        log.len() - 1
    };
    match answers[index.min(answers.len() - 1)].clone() {
        Scripted::Hang => std::future::pending().await,
        Scripted::Json(status, body) => {
            let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
            *response.status_mut() =
                StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            response.headers_mut().insert(
                http::header::CONTENT_TYPE,
                http::HeaderValue::from_static("application/json"),
            );
            Ok(response)
        }
    }
}

/// Sends provider events; expects `202` (never a 5xx to resend forever) and returns
/// the per-event statuses, in the batch's order.
pub async fn send_provider_events(world: &World, body: &Value) -> Vec<String> {
    let answer = world.provider(body).await;
    assert_eq!(answer.status, 202, "{body} -> {:?}", answer.json);
    answer.json["results"]
        .as_array()
        .expect("per-event results")
        .iter()
        .map(|r| r["status"].as_str().unwrap_or_default().to_owned())
        .collect()
}
