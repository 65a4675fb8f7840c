//! `worker` Lambda: the table's stream (job inserts) and the sweep schedule ->
//! `slack_calls::entry::worker::handle_worker_event`.

use std::time::{Instant, SystemTime};

use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use slack_calls::entry::worker::{handle_worker_event, WorkerEvent};
use slack_calls::slack::RetryPolicy;

#[tokio::main]
async fn main() -> Result<(), Error> {
    slack_calls::telemetry::init();
    // The worker calls Slack with installations' tokens: it opens (and refreshes) them.
    let services =
        slack_calls::wiring::services_with_tokens_from_env(RetryPolicy::worker()).await?;
    let services = &services;
    run(service_fn(
        move |event: LambdaEvent<WorkerEvent>| async move {
            // Lambda's deadline, so jobs not started in time are left for the retry.
            let remaining = event
                .context
                .deadline()
                .duration_since(SystemTime::now())
                .unwrap_or_default();
            let deadline = Instant::now() + remaining;
            Ok::<_, Error>(handle_worker_event(services, event.payload, Some(deadline)).await?)
        },
    ))
    .await
}
