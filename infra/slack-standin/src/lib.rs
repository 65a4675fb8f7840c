//! A strict, stateful stand-in for Slack's Web API, served over real HTTP on loopback.
//!
//! It plays the `calls.*` methods, `chat.unfurl`, `chat.postEphemeral`,
//! `chat.postMessage` and `response_url` posts the way Slack does: HTTP 200 with
//! `{"ok":true,…}` or `{"ok":false,"error":CODE}`, HTTP 429 with `Retry-After` when rate
//! limited. It refuses what Slack refuses (unknown or revoked tokens, missing or
//! mistyped arguments, ids it never issued, a call ended twice, a participant added
//! twice, an unfurl for a message it was never told about), records every request,
//! and can be told to misbehave ([`Fault`]).
//!
//! ```no_run
//! # async fn demo() {
//! use slack_standin::{Fault, SlackStandin};
//!
//! let slack = SlackStandin::start().await;
//! // Point the code under test at `slack.api_url()` with `slack.bot_token()`, then:
//! slack.inject(Fault::on("calls.add").rate_limited(1).times(1));
//! // … run it …
//! assert_eq!(slack.requests_for("calls.add").len(), 2);
//! # }
//! ```

mod fault;
mod model;
mod web_api;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::{AUTHORIZATION, CONTENT_TYPE, RETRY_AFTER};
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::{json, Map, Value};
use tokio::net::TcpListener;
use tokio::task::JoinSet;

pub use fault::{Fault, FaultAction, FaultBuilder};
pub use model::{RecordedRequest, ResponsePost, StandinCall, StandinMessage, StandinUser};

use fault::ActiveFault;
use web_api::{code, State};

/// The bot token registered at start.
pub const DEFAULT_BOT_TOKEN: &str = "xoxb-standin-token";
/// The team that token belongs to.
pub const DEFAULT_TEAM_ID: &str = "T0STANDIN";

/// A running stand-in. Dropping it stops the server and every open connection.
pub struct SlackStandin {
    shared: Arc<Shared>,
    addr: SocketAddr,
    bot_token: String,
    server: tokio::task::JoinHandle<()>,
}

struct Shared {
    state: Mutex<State>,
    addr: SocketAddr,
}

impl Shared {
    fn state(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves plain data behind; keep serving it.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl std::fmt::Debug for SlackStandin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SlackStandin")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl Drop for SlackStandin {
    fn drop(&mut self) {
        // Aborting the accept loop drops its JoinSet, which aborts every connection,
        // including ones a `hang` fault keeps open.
        self.server.abort();
    }
}

impl SlackStandin {
    /// Starts on `127.0.0.1` at a free port, with [`DEFAULT_BOT_TOKEN`] registered for
    /// [`DEFAULT_TEAM_ID`].
    ///
    /// # Panics
    /// If no loopback port can be bound: a test cannot go on without its Slack.
    pub async fn start() -> SlackStandin {
        match Self::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await {
            Ok(standin) => standin,
            Err(error) => panic!("the Slack stand-in could not bind to loopback: {error}"),
        }
    }

    /// Starts on `addr` (the binary uses a fixed port).
    pub async fn bind(addr: SocketAddr) -> std::io::Result<SlackStandin> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let mut state = State::new();
        state.add_token(DEFAULT_BOT_TOKEN, DEFAULT_TEAM_ID);
        let shared = Arc::new(Shared {
            state: Mutex::new(state),
            addr,
        });
        let server = tokio::spawn(accept_loop(listener, shared.clone()));
        Ok(SlackStandin {
            shared,
            addr,
            bot_token: DEFAULT_BOT_TOKEN.to_owned(),
            server,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT/`
    pub fn base_url(&self) -> String {
        format!("http://{}/", self.addr)
    }

    /// The Web API base, `http://127.0.0.1:PORT/api/`: what `SLACK_API_URL` takes.
    pub fn api_url(&self) -> String {
        format!("http://{}/api/", self.addr)
    }

    pub fn bot_token(&self) -> &str {
        &self.bot_token
    }

    pub fn team_id(&self) -> &str {
        DEFAULT_TEAM_ID
    }

    /// Registers a token for `team_id` (`xoxp-` tokens are user tokens, others bot tokens).
    pub fn add_token(&self, token: &str, team_id: &str) {
        self.shared.state().add_token(token, team_id);
    }

    /// From now on the token is answered with `token_revoked`.
    pub fn revoke_token(&self, token: &str) {
        if let Some(info) = self.shared.state().tokens.get_mut(token) {
            info.revoked = true;
        }
    }

    /// A response URL for a command issued in `channel_id` of the default team, as
    /// Slack puts in slash-command payloads: `http://127.0.0.1:PORT/response/…`.
    pub fn new_response_url(&self, channel_id: &str) -> String {
        self.new_response_url_for(channel_id, DEFAULT_TEAM_ID)
    }

    /// A response URL for a channel of another team.
    pub fn new_response_url_for(&self, channel_id: &str, team_id: &str) -> String {
        let id = self.shared.state().new_response_url(channel_id, team_id);
        format!("http://{}/response/{id}", self.addr)
    }

    /// Tells the stand-in that a message exists (as a `link_shared` event would), so
    /// `chat.unfurl` may attach to it.
    pub fn add_message(&self, channel: &str, ts: &str) {
        self.shared.state().add_message(channel, ts);
    }

    /// Every request received, in order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.state().requests.clone()
    }

    /// The requests for one method (`response_url` for response URL posts).
    pub fn requests_for(&self, method: &str) -> Vec<RecordedRequest> {
        self.shared
            .state()
            .requests
            .iter()
            .filter(|request| request.method == method)
            .cloned()
            .collect()
    }

    pub fn clear_requests(&self) {
        self.shared.state().requests.clear();
    }

    /// Every call registered, in `calls.add` order.
    pub fn calls(&self) -> Vec<StandinCall> {
        self.shared.state().calls.values().cloned().collect()
    }

    pub fn call(&self, id: &str) -> Option<StandinCall> {
        self.shared.state().calls.get(id).cloned()
    }

    /// The calls registered with this `external_unique_id` (more than one is a bug).
    pub fn calls_with_external_id(&self, external_unique_id: &str) -> Vec<StandinCall> {
        self.shared
            .state()
            .calls
            .values()
            .filter(|call| call.external_unique_id == external_unique_id)
            .cloned()
            .collect()
    }

    /// Posts to response URLs, accepted or refused, in order.
    pub fn response_posts(&self) -> Vec<ResponsePost> {
        self.shared.state().response_posts.clone()
    }

    /// Messages the stand-in knows, with what was unfurled into them.
    pub fn messages(&self) -> Vec<StandinMessage> {
        self.shared.state().messages.clone()
    }

    /// Adds a fault; faults apply in the order injected.
    pub fn inject(&self, fault: Fault) {
        self.shared.state().faults.push(ActiveFault::new(fault));
    }

    pub fn clear_faults(&self) {
        self.shared.state().faults.clear();
    }
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else {
                    // Out of file descriptors, say: back off instead of spinning.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                };
                let shared = shared.clone();
                connections.spawn(async move {
                    let service = service_fn(move |request| handle(shared.clone(), request));
                    // A client that gives up mid-request is not the stand-in's problem.
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

type HttpResponse = Response<Full<Bytes>>;

async fn handle(
    shared: Arc<Shared>,
    request: Request<Incoming>,
) -> Result<HttpResponse, Infallible> {
    let path = request.uri().path().to_owned();
    let response = if let Some(method) = path.strip_prefix("/api/") {
        let method = method.to_owned();
        web_api_request(&shared, &method, request).await
    } else if let Some(id) = path.strip_prefix("/response/") {
        let id = id.to_owned();
        response_url_request(&shared, &id, request).await
    } else if let Some(action) = path.strip_prefix("/_standin/") {
        let action = action.to_owned();
        admin_request(&shared, &action, request).await
    } else {
        plain(StatusCode::NOT_FOUND, "not found")
    };
    Ok(response)
}

/// A request body as the Web API decodes it.
struct Decoded {
    /// Arguments, or the code Slack answers when the body cannot be decoded.
    args: Result<Map<String, Value>, &'static str>,
    /// What the request log keeps.
    logged: Value,
    content_type: Option<String>,
    token: Option<String>,
}

async fn decode(request: Request<Incoming>) -> Decoded {
    let (parts, body) = request.into_parts();
    let content_type = parts
        .headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let bearer = parts.headers.get(AUTHORIZATION).map(|v| {
        let value = v.to_str().unwrap_or_default();
        // A header that is not `Bearer <token>` is kept whole, so it matches no token.
        value
            .strip_prefix("Bearer ")
            .unwrap_or(value)
            .trim()
            .to_owned()
    });
    let bytes = match body.collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(_) => Bytes::new(),
    };
    let args = parse_body(content_type.as_deref(), &bytes);
    let logged = match &args {
        Ok(map) => Value::Object(map.clone()),
        Err(_) => Value::Null,
    };
    // Form bodies may carry the token as a field; JSON bodies may not (Slack reads
    // a JSON request's token from the Authorization header only). The header wins.
    let is_form = content_type.as_deref().is_some_and(|kind| {
        kind.to_ascii_lowercase()
            .starts_with("application/x-www-form-urlencoded")
    });
    let token = bearer.or_else(|| {
        args.as_ref()
            .ok()
            .filter(|_| is_form)
            .and_then(|map| map.get("token"))
            .and_then(Value::as_str)
            .map(str::to_owned)
    });
    Decoded {
        args,
        logged,
        content_type,
        token,
    }
}

fn parse_body(
    content_type: Option<&str>,
    bytes: &[u8],
) -> Result<Map<String, Value>, &'static str> {
    let Some(content_type) = content_type else {
        return if bytes.is_empty() {
            Ok(Map::new())
        } else {
            Err(code::MISSING_POST_TYPE)
        };
    };
    let mut params = content_type.split(';').map(str::trim);
    let media_type = params.next().unwrap_or_default().to_ascii_lowercase();
    for param in params {
        if let Some((name, value)) = param.split_once('=') {
            if name.trim().eq_ignore_ascii_case("charset") {
                let charset = value.trim().trim_matches('"').to_ascii_lowercase();
                if charset != "utf-8" && charset != "iso-8859-1" {
                    return Err(code::INVALID_CHARSET);
                }
            }
        }
    }
    match media_type.as_str() {
        "application/json" => match serde_json::from_slice::<Value>(bytes) {
            Ok(Value::Object(map)) => Ok(map),
            Ok(_) => Err(code::JSON_NOT_OBJECT),
            Err(_) => Err(code::INVALID_JSON),
        },
        "application/x-www-form-urlencoded" => {
            let pairs: Vec<(String, String)> =
                serde_urlencoded::from_bytes(bytes).map_err(|_| code::INVALID_FORM_DATA)?;
            Ok(pairs
                .into_iter()
                .map(|(name, value)| (name, Value::String(value)))
                .collect())
        }
        _ => Err(code::INVALID_POST_TYPE),
    }
}

/// What the faults decided for one request.
enum Verdict {
    Proceed,
    Answer(HttpResponse, Option<String>),
    Hang,
}

/// Records the request, then applies faults (latency first, then the first terminal one).
async fn record_and_fault(shared: &Shared, method: &str, decoded: &Decoded) -> (usize, Verdict) {
    let (index, latency, terminal) = {
        let mut state = shared.state();
        let at = Instant::now();
        let offset_ms = state.offset_ms(at);
        state.requests.push(RecordedRequest {
            method: method.to_owned(),
            body: decoded.logged.clone(),
            at,
            offset_ms,
            token: decoded.token.clone(),
            content_type: decoded.content_type.clone(),
            status: None,
            error: None,
        });
        let index = state.requests.len() - 1;
        let mut latency = Duration::ZERO;
        let mut terminal = None;
        for fault in state.faults.iter_mut() {
            match fault.hits(method) {
                Some(FaultAction::Latency(delay)) => latency += *delay,
                Some(action) => {
                    terminal = Some(action.clone());
                    break;
                }
                None => {}
            }
        }
        (index, latency, terminal)
    };
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let verdict = match terminal {
        None | Some(FaultAction::Latency(_)) => Verdict::Proceed,
        Some(FaultAction::Hang) => Verdict::Hang,
        Some(FaultAction::RateLimited { retry_after_secs }) => {
            let mut response = json_response(
                StatusCode::TOO_MANY_REQUESTS,
                &json!({"ok": false, "error": "ratelimited"}),
            );
            response
                .headers_mut()
                .insert(RETRY_AFTER, http::HeaderValue::from(retry_after_secs));
            Verdict::Answer(response, Some("ratelimited".into()))
        }
        Some(FaultAction::HttpStatus(status)) => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let reason = status.canonical_reason().unwrap_or("error");
            Verdict::Answer(plain(status, reason), None)
        }
        Some(FaultAction::Malformed) => {
            let mut response = plain(StatusCode::OK, "<html><body>Gateway says hi</body></html>");
            response.headers_mut().insert(
                CONTENT_TYPE,
                http::HeaderValue::from_static("text/html; charset=utf-8"),
            );
            Verdict::Answer(response, None)
        }
        Some(FaultAction::SlackError(code)) => Verdict::Answer(
            json_response(StatusCode::OK, &json!({"ok": false, "error": code})),
            Some(code),
        ),
    };
    (index, verdict)
}

fn finish(shared: &Shared, index: usize, status: StatusCode, error: Option<String>) {
    if let Some(request) = shared.state().requests.get_mut(index) {
        request.status = Some(status.as_u16());
        request.error = error;
    }
}

async fn web_api_request(
    shared: &Shared,
    method: &str,
    request: Request<Incoming>,
) -> HttpResponse {
    if request.method() != Method::POST {
        return plain(
            StatusCode::METHOD_NOT_ALLOWED,
            "the stand-in takes POST only",
        );
    }
    let decoded = decode(request).await;
    let (index, verdict) = record_and_fault(shared, method, &decoded).await;
    match verdict {
        Verdict::Proceed => {}
        Verdict::Hang => std::future::pending::<()>().await,
        Verdict::Answer(response, error) => {
            finish(shared, index, response.status(), error);
            return response;
        }
    }
    let answer = {
        let mut state = shared.state();
        decoded.args.and_then(|args| {
            let caller = state.authenticate(decoded.token.as_deref())?;
            state.dispatch(method, &caller, &args)
        })
    };
    let (body, error) = match answer {
        Ok(mut fields) => {
            let mut body = Map::new();
            body.insert("ok".into(), Value::Bool(true));
            body.append(&mut fields);
            (Value::Object(body), None)
        }
        Err(code) => (json!({"ok": false, "error": code}), Some(code.to_owned())),
    };
    finish(shared, index, StatusCode::OK, error);
    json_response(StatusCode::OK, &body)
}

async fn response_url_request(
    shared: &Shared,
    id: &str,
    request: Request<Incoming>,
) -> HttpResponse {
    if request.method() != Method::POST {
        return plain(
            StatusCode::METHOD_NOT_ALLOWED,
            "response URLs take POST only",
        );
    }
    let url = format!("http://{}/response/{id}", shared.addr);
    let decoded = decode(request).await;
    let (index, verdict) = record_and_fault(shared, "response_url", &decoded).await;
    match verdict {
        Verdict::Proceed => {}
        Verdict::Hang => std::future::pending::<()>().await,
        Verdict::Answer(response, error) => {
            finish(shared, index, response.status(), error);
            return response;
        }
    }
    // Slack takes response URL messages as JSON only.
    let body = match (decoded.content_type.as_deref(), decoded.args) {
        (Some(kind), Ok(args)) if kind.to_ascii_lowercase().starts_with("application/json") => {
            Ok(Value::Object(args))
        }
        (_, Err(code)) => Err(code),
        (_, Ok(_)) => Err(code::INVALID_POST_TYPE),
    };
    let outcome = {
        let mut state = shared.state();
        let outcome = state.response_post(id, body);
        if let Some(issued) = state.response_urls.get(id).cloned() {
            let at = Instant::now();
            let offset_ms = state.offset_ms(at);
            state.response_posts.push(ResponsePost {
                url,
                channel: issued.channel,
                body: decoded.logged,
                accepted: Some(outcome.is_ok()),
                at,
                offset_ms,
            });
        }
        outcome
    };
    match outcome {
        Ok(()) => {
            finish(shared, index, StatusCode::OK, None);
            json_response(StatusCode::OK, &json!({"ok": true}))
        }
        Err((status, code)) => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
            finish(shared, index, status, Some(code.to_owned()));
            json_response(status, &json!({"ok": false, "error": code}))
        }
    }
}

/// A small control surface for the standalone server (the local demo): issue response
/// URLs, announce messages, add tokens, and look at what was recorded.
async fn admin_request(shared: &Shared, action: &str, request: Request<Incoming>) -> HttpResponse {
    let is_post = request.method() == Method::POST;
    let args = if is_post {
        decode(request).await.args.unwrap_or_default()
    } else {
        Map::new()
    };
    let arg = |name: &str| args.get(name).and_then(Value::as_str).map(str::to_owned);
    let mut state = shared.state();
    match (is_post, action) {
        (true, "response_urls") => {
            let Some(channel) = arg("channel") else {
                return plain(StatusCode::BAD_REQUEST, "channel is required");
            };
            let team = arg("team_id").unwrap_or_else(|| DEFAULT_TEAM_ID.to_owned());
            let id = state.new_response_url(&channel, &team);
            json_response(
                StatusCode::OK,
                &json!({"url": format!("http://{}/response/{id}", shared.addr)}),
            )
        }
        (true, "messages") => match (arg("channel"), arg("ts")) {
            (Some(channel), Some(ts)) => {
                state.add_message(&channel, &ts);
                json_response(StatusCode::OK, &json!({"ok": true}))
            }
            _ => plain(StatusCode::BAD_REQUEST, "channel and ts are required"),
        },
        (true, "tokens") => match (arg("token"), arg("team_id")) {
            (Some(token), Some(team)) => {
                state.add_token(&token, &team);
                json_response(StatusCode::OK, &json!({"ok": true}))
            }
            _ => plain(StatusCode::BAD_REQUEST, "token and team_id are required"),
        },
        (false, "calls") => json_response(
            StatusCode::OK,
            &json!(state.calls.values().collect::<Vec<_>>()),
        ),
        (false, "requests") => json_response(StatusCode::OK, &json!(state.requests)),
        (false, "response_posts") => json_response(StatusCode::OK, &json!(state.response_posts)),
        (false, "messages") => json_response(StatusCode::OK, &json!(state.messages)),
        _ => plain(StatusCode::NOT_FOUND, "unknown stand-in action"),
    }
}

fn json_response(status: StatusCode, body: &Value) -> HttpResponse {
    let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
    *response.status_mut() = status;
    response.headers_mut().insert(
        CONTENT_TYPE,
        http::HeaderValue::from_static("application/json; charset=utf-8"),
    );
    response
}

fn plain(status: StatusCode, text: &'static str) -> HttpResponse {
    let mut response = Response::new(Full::new(Bytes::from_static(text.as_bytes())));
    *response.status_mut() = status;
    response.headers_mut().insert(
        CONTENT_TYPE,
        http::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}
