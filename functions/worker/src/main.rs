//! `worker` Lambda: the table's stream (job inserts) and the sweep schedule ->
//! `slack_calls::entry::worker::handle_worker_event`.

use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use slack_calls::entry::worker::handle_worker_event;
use slack_calls::slack::client::RetryPolicy;

#[tokio::main]
async fn main() -> Result<(), Error> {
    slack_calls::telemetry::init();
    let services = slack_calls::wiring::services_from_env(RetryPolicy::worker()).await?;
    let services = &services;
    run(service_fn(
        move |event: LambdaEvent<serde_json::Value>| async move {
            Ok::<_, Error>(handle_worker_event(services, event.payload).await?)
        },
    ))
    .await
}
