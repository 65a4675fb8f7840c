//! A local Lambda Runtime API (2018-06-01) and the function processes that poll it.
//!
//! The binary under test runs exactly as in Lambda: `lambda_runtime` long-polls
//! `/runtime/invocation/next`, handles the event, and posts the response or error.

use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::Path;
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::TcpListener;
use tokio::sync::{oneshot, Notify};

const PREFIX: &str = "/2018-06-01/runtime";

#[derive(Debug)]
pub enum InvokeError {
    /// The function reported an error (`/invocation/{id}/error` or `/init/error`).
    Function(Value),
    /// No answer in time.
    Timeout,
}

#[derive(Default)]
struct State {
    queue: Mutex<VecDeque<(String, Value)>>,
    queued: Notify,
    waiting: Mutex<HashMap<String, oneshot::Sender<Result<Value, Value>>>>,
    init_errors: Mutex<Vec<Value>>,
    next_id: AtomicU64,
    /// When the process first asked for an event: the end of Lambda's init phase.
    first_poll: OnceLock<Instant>,
}

/// The Runtime API one function process talks to.
pub struct RuntimeApi {
    addr: SocketAddr,
    state: Arc<State>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for RuntimeApi {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl RuntimeApi {
    pub async fn start() -> RuntimeApi {
        let listener = TcpListener::bind(("127.0.0.1", 0))
            .await
            .unwrap_or_else(|error| panic!("cannot bind the runtime API: {error}"));
        let addr = listener
            .local_addr()
            .unwrap_or_else(|error| panic!("no runtime API address: {error}"));
        let state = Arc::new(State::default());
        let server_state = state.clone();
        let server = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let state = server_state.clone();
                let service = hyper::service::service_fn(move |request| {
                    let state = state.clone();
                    async move { Ok::<_, Infallible>(handle(&state, request).await) }
                });
                tokio::spawn(async move {
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        RuntimeApi {
            addr,
            state,
            server,
        }
    }

    /// `host:port`, the value of `AWS_LAMBDA_RUNTIME_API`.
    pub fn address(&self) -> String {
        self.addr.to_string()
    }

    /// When the function first polled `/invocation/next` (its init was over), if it has.
    pub fn first_poll(&self) -> Option<Instant> {
        self.state.first_poll.get().copied()
    }

    /// Delivers `event` to the function and waits for its answer.
    pub async fn invoke(&self, event: Value, timeout: Duration) -> Result<Value, InvokeError> {
        let id = format!(
            "req-{:08}",
            self.state.next_id.fetch_add(1, Ordering::SeqCst)
        );
        let (answer_tx, answer_rx) = oneshot::channel();
        lock(&self.state.waiting).insert(id.clone(), answer_tx);
        lock(&self.state.queue).push_back((id, event));
        self.state.queued.notify_waiters();
        self.state.queued.notify_one();
        match tokio::time::timeout(timeout, answer_rx).await {
            Ok(Ok(Ok(response))) => Ok(response),
            Ok(Ok(Err(error))) => Err(InvokeError::Function(error)),
            _ => match lock(&self.state.init_errors).first() {
                Some(error) => Err(InvokeError::Function(error.clone())),
                None => Err(InvokeError::Timeout),
            },
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

async fn handle(state: &State, request: Request<Incoming>) -> Response<Full<Bytes>> {
    let path = request.uri().path().to_owned();
    let method = request.method().clone();
    let body = request
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let rest = path.strip_prefix(PREFIX).unwrap_or_default();
    match (method, rest) {
        (Method::GET, "/invocation/next") => {
            let _ = state.first_poll.set(Instant::now());
            next_invocation(state).await
        }
        (Method::POST, "/init/error") => {
            lock(&state.init_errors).push(parse(&body));
            reply(StatusCode::ACCEPTED, "{}")
        }
        (Method::POST, rest) if rest.starts_with("/invocation/") => {
            let mut parts = rest.trim_start_matches("/invocation/").splitn(2, '/');
            let id = parts.next().unwrap_or_default().to_owned();
            let outcome = match parts.next() {
                Some("response") => Ok(parse(&body)),
                Some("error") => Err(parse(&body)),
                _ => return reply(StatusCode::NOT_FOUND, "{}"),
            };
            match lock(&state.waiting).remove(&id) {
                Some(waiter) => {
                    let _ = waiter.send(outcome);
                    reply(StatusCode::ACCEPTED, r#"{"status":"OK"}"#)
                }
                None => reply(
                    StatusCode::BAD_REQUEST,
                    r#"{"errorMessage":"unknown request id"}"#,
                ),
            }
        }
        _ => reply(StatusCode::NOT_FOUND, "{}"),
    }
}

async fn next_invocation(state: &State) -> Response<Full<Bytes>> {
    loop {
        let notified = state.queued.notified();
        if let Some((id, event)) = lock(&state.queue).pop_front() {
            let deadline_ms = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as u64)
                + 120_000; // the worker's timeout in template.yaml
            let mut response = Response::new(Full::new(Bytes::from(event.to_string())));
            let headers = response.headers_mut();
            let pairs = [
                ("lambda-runtime-aws-request-id", id.clone()),
                ("lambda-runtime-deadline-ms", deadline_ms.to_string()),
                (
                    "lambda-runtime-invoked-function-arn",
                    "arn:aws:lambda:us-east-1:123456789012:function:local".to_owned(),
                ),
                (
                    "lambda-runtime-trace-id",
                    "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=0"
                        .to_owned(),
                ),
                ("content-type", "application/json".to_owned()),
            ];
            for (name, value) in pairs {
                if let Ok(value) = http::HeaderValue::from_str(&value) {
                    headers.insert(name, value);
                }
            }
            return response;
        }
        notified.await;
    }
}

fn parse(body: &[u8]) -> Value {
    serde_json::from_slice(body)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(body).into_owned()))
}

fn reply(status: StatusCode, body: &'static str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
    *response.status_mut() = status;
    response
}

/// A function binary running against a [`RuntimeApi`]; killed when dropped. Its
/// output is kept for assertions (nothing secret may appear in it).
pub struct FunctionProcess {
    _child: tokio::process::Child,
    output: Arc<Mutex<Vec<String>>>,
}

impl FunctionProcess {
    /// Starts `binary` with only `env` (plus the Lambda variables), like a fresh
    /// container.
    pub fn spawn(binary: &Path, runtime: &RuntimeApi, env: &[(&str, String)]) -> FunctionProcess {
        let name = binary
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "function".into());
        let mut command = tokio::process::Command::new(binary);
        command
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("AWS_LAMBDA_RUNTIME_API", runtime.address())
            .env("AWS_LAMBDA_FUNCTION_NAME", &name)
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
            .env("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/{name}"))
            .env("AWS_LAMBDA_LOG_STREAM_NAME", "2026/11/22/[$LATEST]local")
            .env("AWS_REGION", "us-east-1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        for (key, value) in env {
            command.env(key, value);
        }
        let mut child = command
            .spawn()
            .unwrap_or_else(|error| panic!("cannot start {}: {error}", binary.display()));
        let output = Arc::new(Mutex::new(Vec::new()));
        if let Some(stdout) = child.stdout.take() {
            collect_lines(stdout, output.clone());
        }
        if let Some(stderr) = child.stderr.take() {
            collect_lines(stderr, output.clone());
        }
        FunctionProcess {
            _child: child,
            output,
        }
    }

    /// Everything the process printed so far.
    pub fn output(&self) -> String {
        lock(&self.output).join("\n")
    }
}

fn collect_lines(
    stream: impl tokio::io::AsyncRead + Unpin + Send + 'static,
    into: Arc<Mutex<Vec<String>>>,
) {
    tokio::spawn(async move {
        let mut lines = BufReader::new(stream).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            lock(&into).push(line);
        }
    });
}
