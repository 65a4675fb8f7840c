//! Helpers shared by the flow tests: a started call, a provider callback receiver, and
//! what counts as a store write.

#![allow(dead_code)] // each test file uses a different part of this module

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::{HeaderMap, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use lambda_harness::world::World;
use serde_json::Value;
use tokio::net::TcpListener;

/// Store methods that write (every other method only reads).
pub const STORE_WRITES: [&str; 6] = [
    "create_call",
    "update_call",
    "record_event",
    "enqueue_jobs",
    "update_job",
    "put_installation",
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

/// The Slack methods the stand-in received since its log was last cleared.
pub fn methods(world: &World) -> Vec<String> {
    world.slack_methods()
}

/// One request the provider callback receiver got.
#[derive(Debug, Clone)]
pub struct Received {
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Received {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
}

/// A tiny HTTP server standing in for the provider's backend: records every request and
/// answers with the scripted statuses in turn (the last one repeats).
pub struct CallbackServer {
    pub addr: SocketAddr,
    received: Arc<Mutex<Vec<Received>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for CallbackServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl CallbackServer {
    pub async fn start(statuses: &[u16]) -> CallbackServer {
        let listener = TcpListener::bind(("127.0.0.1", 0))
            .await
            .expect("bind the callback receiver");
        let addr = listener.local_addr().expect("local addr");
        let received: Arc<Mutex<Vec<Received>>> = Arc::default();
        let statuses: Arc<Vec<u16>> = Arc::new(if statuses.is_empty() {
            vec![200]
        } else {
            statuses.to_vec()
        });
        let log = received.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let log = log.clone();
                let statuses = statuses.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |request: Request<Incoming>| {
                        let log = log.clone();
                        let statuses = statuses.clone();
                        async move {
                            let (parts, body) = request.into_parts();
                            let body = body
                                .collect()
                                .await
                                .map(|b| b.to_bytes())
                                .unwrap_or_default();
                            let index = {
                                let mut log = log.lock().unwrap_or_else(|p| p.into_inner());
                                log.push(Received {
                                    headers: parts.headers,
                                    body,
                                });
                                log.len() - 1
                            };
                            let status = statuses[index.min(statuses.len() - 1)];
                            let mut response = Response::new(Full::new(Bytes::from_static(b"{}")));
                            *response.status_mut() =
                                StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
                            Ok::<_, Infallible>(response)
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        CallbackServer {
            addr,
            received,
            task,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}/slack-calls/callback", self.addr)
    }

    pub fn received(&self) -> Vec<Received> {
        self.received
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
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
