//! What the DynamoDB benches stand on: a fresh table on DynamoDB Local and its stream,
//! the Slack stand-in, and the backend's services wired on them, with an interceptor on
//! the DynamoDB client to measure what the store sends.

use std::sync::Arc;

use aws_sdk_dynamodb::config::Intercept;
use lambda_harness::stream::{stream_event, StreamPump};
use secrecy::SecretString;
use slack_calls::config::Config;
use slack_calls::entry::worker::WorkerEvent;
use slack_calls::flows::Services;
use slack_calls::secrets::{Secrets, StaticSecrets};
use slack_calls::slack::RetryPolicy;
use slack_calls::store::dynamodb::{client_config, DynamoStore};
use slack_standin::SlackStandin;

pub struct Backend {
    pub services: Services,
    pub standin: SlackStandin,
    pub pump: StreamPump,
}

/// The secrets the bench signs its requests with.
pub struct BenchSecrets {
    pub signing: &'static str,
    pub provider: &'static str,
}

/// `settings` names the configuration from the stand-in (its URLs); the store's client
/// carries `interceptor`.
pub async fn backend(
    interceptor: impl Intercept + 'static,
    secrets: BenchSecrets,
    settings: impl FnOnce(&SlackStandin) -> Vec<(&'static str, String)>,
) -> Backend {
    let (dynamodb, table) = testkit::dynamodb::fresh_table().await;
    let pump = StreamPump::new(&dynamodb, &table).await;
    let standin = SlackStandin::start().await;
    let settings = settings(&standin);
    let config = Config::from_lookup(|name| {
        settings
            .iter()
            .find(|(key, _)| *key == name)
            .map(|(_, value)| value.clone())
    })
    .unwrap_or_else(|error| panic!("configuration: {error}"));
    let sdk = testkit::aws::sdk_config(testkit::aws::DYNAMODB_ENDPOINT_VAR).await;
    let client_config = client_config(&sdk)
        .to_builder()
        .interceptor(interceptor)
        .build();
    let store = DynamoStore::new(aws_sdk_dynamodb::Client::from_conf(client_config), table);
    let secrets = StaticSecrets::new(Secrets {
        signing_secret: SecretString::from(secrets.signing),
        bot_token: Some(SecretString::from(standin.bot_token().to_owned())),
        provider_webhook_secret: SecretString::from(secrets.provider),
        client_id: None,
        client_secret: None,
        meeting_api_token: None,
    });
    let services = slack_calls::wiring::services_with(
        Arc::new(config),
        Arc::new(store),
        Arc::new(secrets),
        RetryPolicy::worker(),
    )
    .unwrap_or_else(|error| panic!("services: {error}"));
    Backend {
        services,
        standin,
        pump,
    }
}

/// The worker's next event from what the stream delivered; `None` once it is quiet.
pub async fn next_worker_event(pump: &mut StreamPump) -> Option<WorkerEvent> {
    let records = pump.next_records().await;
    if records.is_empty() {
        return None;
    }
    Some(
        serde_json::from_value(stream_event(records))
            .unwrap_or_else(|error| panic!("stream event: {error}")),
    )
}
