//! Secrets Manager clients on moto.

use aws_sdk_secretsmanager::error::DisplayErrorContext;
use aws_sdk_secretsmanager::Client;

use crate::aws::{emulator_endpoint, sdk_config, SECRETS_MANAGER_ENDPOINT_VAR};
use crate::HOW_TO_START;

/// A client on the Secrets Manager emulator, checked to answer.
pub async fn client() -> Client {
    let client = Client::new(&sdk_config(SECRETS_MANAGER_ENDPOINT_VAR).await);
    if let Err(error) = client.list_secrets().max_results(1).send().await {
        panic!(
            "the Secrets Manager emulator at {} does not answer: {}\n{HOW_TO_START}",
            emulator_endpoint(SECRETS_MANAGER_ENDPOINT_VAR),
            DisplayErrorContext(error)
        );
    }
    client
}

/// Creates a secret with a unique name holding `value`; returns its name.
pub async fn create_secret(client: &Client, value: &str) -> String {
    let name = crate::unique_name("test-secret");
    if let Err(error) = client
        .create_secret()
        .name(&name)
        .secret_string(value)
        .send()
        .await
    {
        panic!(
            "creating secret {name} failed: {}\n{HOW_TO_START}",
            DisplayErrorContext(error)
        );
    }
    name
}
