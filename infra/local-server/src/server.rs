//! Every route, served through the same entry points the Lambdas run (the install
//! pages included), plus the in-process worker (jobs run as soon as they are written)
//! and the sweep on a timer.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use slack_calls::entry::{commands, error_response, events, install, provider};
use slack_calls::flows::jobs::{run_stored_job, JobOutcome};
use slack_calls::flows::sweep::sweep_stale_calls;
use slack_calls::flows::Services;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

/// Larger than any route accepts; each entry point applies its own tighter limit.
const MAX_BODY_BYTES: usize = 1024 * 1024;
/// How long shutdown waits for requests in flight and queued jobs.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// The HTTP side alone: every route through the entry points, nothing else. Tests
/// use it to drive the worker themselves.
pub struct HttpServer {
    pub addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl HttpServer {
    pub async fn start(addr: SocketAddr, services: Services) -> std::io::Result<HttpServer> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let (shutdown, shutdown_rx) = oneshot::channel();
        let task = tokio::spawn(serve(listener, services, shutdown_rx));
        Ok(HttpServer {
            addr,
            shutdown: Some(shutdown),
            task,
        })
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops accepting connections and lets requests in flight finish (bounded).
    pub async fn shutdown(mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        let _ = tokio::time::timeout(SHUTDOWN_GRACE, &mut self.task).await;
    }
}

/// The HTTP routes plus the in-process worker and the sweep timer.
pub struct LocalServer {
    pub addr: SocketAddr,
    http: HttpServer,
    stop_worker: watch::Sender<bool>,
    worker_task: JoinHandle<()>,
    sweep_task: JoinHandle<()>,
}

impl LocalServer {
    /// Binds `addr` and starts serving. `jobs` receives the ids of jobs written through
    /// the services' store (see `NotifyingStore`); `retry` sends to the same queue.
    pub async fn start(
        addr: SocketAddr,
        services: Services,
        jobs: mpsc::UnboundedReceiver<String>,
        retry: mpsc::UnboundedSender<String>,
        sweep_interval: Duration,
    ) -> std::io::Result<LocalServer> {
        let http = HttpServer::start(addr, services.clone()).await?;
        let (stop_worker, worker_stop) = watch::channel(false);
        let worker_task = tokio::spawn(run_worker(services.clone(), jobs, retry, worker_stop));
        let sweep_task = tokio::spawn(run_sweeps(services, sweep_interval));
        Ok(LocalServer {
            addr: http.addr,
            http,
            stop_worker,
            worker_task,
            sweep_task,
        })
    }

    pub fn url(&self) -> String {
        self.http.url()
    }

    /// Stops accepting requests, lets those in flight finish, then lets the worker
    /// finish the jobs already queued (bounded by the grace period). The store keeps
    /// everything written.
    pub async fn shutdown(mut self) {
        self.http.shutdown().await;
        self.sweep_task.abort();
        // The HTTP side is gone: the worker runs what is queued, then stops. Jobs
        // waiting for a retry stay pending in the store.
        let _ = self.stop_worker.send(true);
        if tokio::time::timeout(SHUTDOWN_GRACE, &mut self.worker_task)
            .await
            .is_err()
        {
            self.worker_task.abort();
        }
    }
}

async fn serve(listener: TcpListener, services: Services, mut shutdown: oneshot::Receiver<()>) {
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                let services = services.clone();
                let service = hyper::service::service_fn(move |request| {
                    let services = services.clone();
                    async move { Ok::<_, Infallible>(route(&services, request).await) }
                });
                let connection = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service);
                let connection = graceful.watch(connection);
                tokio::spawn(async move {
                    if let Err(error) = connection.await {
                        tracing::debug!(%error, "connection ended with an error");
                    }
                });
            }
            _ = &mut shutdown => break,
        }
    }
    drop(listener);
    let _ = tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown()).await;
}

async fn route(services: &Services, request: Request<Incoming>) -> Response<Full<Bytes>> {
    let (parts, body) = request.into_parts();
    let path = parts.uri.path();
    // The install pages are opened in a browser: GETs, no body.
    let response = if path == install::INSTALL_PATH || path == install::REDIRECT_PATH {
        install::handle_install(services, &parts).await
    } else if parts.method != Method::POST {
        error_response(StatusCode::METHOD_NOT_ALLOWED, "use POST")
    } else {
        match Limited::new(body, MAX_BODY_BYTES).collect().await {
            Err(_) => error_response(StatusCode::PAYLOAD_TOO_LARGE, "the body is too large"),
            Ok(collected) => {
                let body = collected.to_bytes();
                match parts.uri.path() {
                    "/slack/commands" => {
                        commands::handle_command(services, &parts.headers, &body).await
                    }
                    "/slack/events" => events::handle_events(services, &parts.headers, &body).await,
                    "/provider/events" => {
                        provider::handle_provider_events(services, &parts.headers, &body).await
                    }
                    _ => error_response(StatusCode::NOT_FOUND, "no such route"),
                }
            }
        }
    };
    let (parts, body) = response.into_parts();
    Response::from_parts(parts, Full::new(Bytes::from(body)))
}

/// Runs jobs in the order they were written, like one stream shard. A job to retry
/// goes back to the queue after a growing pause; `run_stored_job` bounds its attempts.
async fn run_worker(
    services: Services,
    mut jobs: mpsc::UnboundedReceiver<String>,
    retry: mpsc::UnboundedSender<String>,
    mut stop: watch::Receiver<bool>,
) {
    let mut retries: HashMap<String, u32> = HashMap::new();
    loop {
        let job_id = tokio::select! {
            received = jobs.recv() => match received {
                Some(job_id) => job_id,
                None => return,
            },
            _ = stop.changed() => {
                // Finish what was queued before the stop, then end.
                while let Ok(job_id) = jobs.try_recv() {
                    run_stored_job(&job_id, &services).await;
                }
                return;
            }
        };
        match run_stored_job(&job_id, &services).await {
            JobOutcome::Retry(reason) => {
                let count = retries.entry(job_id.clone()).or_insert(0);
                *count += 1;
                let pause = Duration::from_millis(500 * 2u64.pow((*count).min(6)));
                tracing::info!(job = %job_id, %reason, pause_ms = pause.as_millis() as u64, "job will run again");
                let retry = retry.clone();
                tokio::spawn(async move {
                    tokio::time::sleep(pause).await;
                    let _ = retry.send(job_id);
                });
            }
            // A deferred job comes back through the sweep's repair of its call.
            JobOutcome::Done | JobOutcome::Failed(_) | JobOutcome::Deferred(_) => {
                retries.remove(&job_id);
            }
        }
    }
}

async fn run_sweeps(services: Services, interval: Duration) {
    let mut ticker = tokio::time::interval(interval);
    ticker.tick().await;
    loop {
        ticker.tick().await;
        match sweep_stale_calls(&services).await {
            Ok(report) if report.ended_abandoned + report.ended_too_old > 0 => {
                tracing::info!(?report, "stale calls ended");
            }
            Ok(_) => {}
            Err(error) => tracing::warn!(%error, "sweep failed"),
        }
    }
}
