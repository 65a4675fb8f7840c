//! The HTTP side: accepting connections, decoding requests, applying faults, and
//! answering as Slack's Web API and response URLs do.

use std::convert::Infallible;
use std::sync::Arc;
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

use crate::body::{is_json, parse_body, Body, BodyKind};
use crate::fault::FaultAction;
use crate::model::{RecordedRequest, ResponsePost};
use crate::web_api::code;
use crate::Shared;

pub(crate) async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
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

pub(crate) type HttpResponse = Response<Full<Bytes>>;

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
    } else if path == "/oauth/v2/authorize" {
        authorize_request(&shared, request).await
    } else if let Some(action) = path.strip_prefix("/_standin/") {
        let action = action.to_owned();
        crate::admin::admin_request(&shared, &action, request).await
    } else {
        plain(StatusCode::NOT_FOUND, "not found")
    };
    Ok(response)
}

/// A request body as the Web API decodes it.
pub(crate) struct Decoded {
    /// The body, or the code Slack answers when it cannot be decoded.
    pub body: Result<Body, &'static str>,
    /// What the request log keeps.
    logged: Value,
    content_type: Option<String>,
    token: Option<String>,
    /// HTTP Basic credentials (`oauth.v2.access` takes the client id and secret so).
    basic: Option<(String, String)>,
}

impl Decoded {
    pub(crate) fn into_args(self) -> Result<Map<String, Value>, &'static str> {
        self.body.map(|body| body.args)
    }
}

pub(crate) async fn decode(request: Request<Incoming>) -> Decoded {
    let (parts, body) = request.into_parts();
    let content_type = parts
        .headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let authorization = parts
        .headers
        .get(AUTHORIZATION)
        .map(|v| v.to_str().unwrap_or_default());
    let basic = authorization
        .and_then(|value| value.strip_prefix("Basic "))
        .map(basic_credentials);
    let bearer = authorization.filter(|_| basic.is_none()).map(|value| {
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
    let body = parse_body(content_type.as_deref(), &bytes);
    let logged = match &body {
        Ok(body) => Value::Object(body.args.clone()),
        Err(_) => Value::Null,
    };
    // Form bodies may carry the token as a field; JSON bodies may not (Slack reads
    // a JSON request's token from the Authorization header only). The header wins.
    let token = bearer.or_else(|| {
        body.as_ref()
            .ok()
            .filter(|body| body.kind == BodyKind::Form)
            .and_then(|body| body.args.get("token"))
            .and_then(Value::as_str)
            .map(str::to_owned)
    });
    Decoded {
        body,
        logged,
        content_type,
        token,
        basic,
    }
}

/// `id:secret` from a Basic header's base64; undecodable credentials match no client.
fn basic_credentials(encoded: &str) -> (String, String) {
    use base64::Engine;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .unwrap_or_default();
    match decoded.split_once(':') {
        Some((id, secret)) => (id.to_owned(), secret.to_owned()),
        None => (decoded, String::new()),
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
    let json = is_json(decoded.content_type.as_deref());
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
            match fault.hits(method, json) {
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

/// Records the request and applies the faults: `Ok` with the request's index when it is
/// to be served, `Err` with the faulted answer (recorded as given). A hang never returns.
async fn admit(shared: &Shared, method: &str, decoded: &Decoded) -> Result<usize, HttpResponse> {
    let (index, verdict) = record_and_fault(shared, method, decoded).await;
    match verdict {
        Verdict::Proceed => Ok(index),
        Verdict::Hang => std::future::pending().await,
        Verdict::Answer(response, error) => {
            finish(shared, index, response.status(), error);
            Err(response)
        }
    }
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
    let index = match admit(shared, method, &decoded).await {
        Ok(index) => index,
        Err(answered) => return answered,
    };
    let token = decoded.token;
    let basic = decoded.basic;
    let answer = {
        let mut state = shared.state();
        decoded.body.and_then(|body| {
            // The one method that takes the app's credentials instead of a token.
            let fields = if method == "oauth.v2.access" {
                state.oauth_v2_access(basic, &body.args)?
            } else {
                let caller = state.authenticate(token.as_deref())?;
                state.dispatch(method, &caller, &body.args)?
            };
            Ok((fields, body.warning))
        })
    };
    let (body, error) = match answer {
        Ok((mut fields, warning)) => {
            let mut body = Map::new();
            body.insert("ok".into(), Value::Bool(true));
            body.append(&mut fields);
            // The charset warning, both where older clients read it and where newer
            // ones do (Slack changelog 2016-09-28, "response metadata is on the way").
            if let Some(warning) = warning {
                body.insert("warning".into(), json!(warning));
                body.insert("response_metadata".into(), json!({ "warnings": [warning] }));
            }
            let error = body.get("error").and_then(Value::as_str).map(str::to_owned);
            (Value::Object(body), error)
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
    let index = match admit(shared, "response_url", &decoded).await {
        Ok(index) => index,
        Err(answered) => return answered,
    };
    // Slack takes response URL messages as JSON only.
    let json = is_json(decoded.content_type.as_deref());
    let logged = decoded.logged.clone();
    let body = match (json, decoded.into_args()) {
        (true, Ok(args)) => Ok(Value::Object(args)),
        (_, Err(code)) => Err(code),
        (false, Ok(_)) => Err(code::INVALID_POST_TYPE),
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
                body: logged,
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

/// The authorize page: a browser arrives with the query, and is sent back to the
/// app's redirect URL with a code (or `error=access_denied`), as Slack does once the
/// user approves (or cancels). Refusals are a plain page naming the problem.
async fn authorize_request(shared: &Shared, request: Request<Incoming>) -> HttpResponse {
    if request.method() != Method::GET {
        return plain(
            StatusCode::METHOD_NOT_ALLOWED,
            "the authorize page takes GET",
        );
    }
    let query = request.uri().query().unwrap_or_default().to_owned();
    let args: Map<String, Value> = serde_urlencoded::from_str::<Vec<(String, String)>>(&query)
        .unwrap_or_default()
        .into_iter()
        .map(|(name, value)| (name, Value::String(value)))
        .collect();
    let decoded = Decoded {
        logged: Value::Object(args.clone()),
        body: Ok(Body {
            args: args.clone(),
            kind: BodyKind::Form,
            warning: None,
        }),
        content_type: None,
        token: None,
        basic: None,
    };
    let index = match admit(shared, AUTHORIZE, &decoded).await {
        Ok(index) => index,
        Err(answered) => return answered,
    };
    let outcome = shared.state().authorize(&args);
    match outcome {
        Ok(location) => {
            finish(shared, index, StatusCode::FOUND, None);
            let mut response = plain(StatusCode::FOUND, "redirecting to the app");
            if let Ok(value) = http::HeaderValue::from_str(&location) {
                response.headers_mut().insert(http::header::LOCATION, value);
            }
            response
        }
        Err((status, code)) => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
            finish(shared, index, status, Some(code.to_owned()));
            let mut response = Response::new(Full::new(Bytes::from(format!(
                "<html><body><h1>Installation failed</h1><p>{code}</p></body></html>"
            ))));
            *response.status_mut() = status;
            response.headers_mut().insert(
                CONTENT_TYPE,
                http::HeaderValue::from_static("text/html; charset=utf-8"),
            );
            response
        }
    }
}

/// The method name the authorize page's requests are recorded (and faulted) under.
pub const AUTHORIZE: &str = "oauth/v2/authorize";

pub(crate) fn json_response(status: StatusCode, body: &Value) -> HttpResponse {
    let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
    *response.status_mut() = status;
    response.headers_mut().insert(
        CONTENT_TYPE,
        http::HeaderValue::from_static("application/json; charset=utf-8"),
    );
    response
}

pub(crate) fn plain(status: StatusCode, text: &'static str) -> HttpResponse {
    let mut response = Response::new(Full::new(Bytes::from_static(text.as_bytes())));
    *response.status_mut() = status;
    response.headers_mut().insert(
        CONTENT_TYPE,
        http::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}
