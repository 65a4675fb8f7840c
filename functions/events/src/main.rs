//! `events` Lambda: API Gateway HTTP API (payload 2.0) -> `slack_calls::entry::events::handle_events`.

use lambda_http::{run, service_fn, Error, Request};
use slack_calls::entry::events::handle_events as handle;
use slack_calls::slack::RetryPolicy;

#[tokio::main]
async fn main() -> Result<(), Error> {
    slack_calls::telemetry::init();
    // Built once per container; secrets are fetched on first use.
    let services = slack_calls::wiring::services_from_env(RetryPolicy::interactive()).await?;
    let services = &services;
    run(service_fn(move |request: Request| async move {
        // lambda_http has already decoded a base64 body: verify these exact bytes.
        let (parts, body) = request.into_parts();
        Ok::<_, Error>(handle(services, &parts.headers, body.as_ref()).await)
    }))
    .await
}
