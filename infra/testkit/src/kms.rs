//! KMS clients on moto, and keys to seal tokens with.

use aws_sdk_kms::error::DisplayErrorContext;
use aws_sdk_kms::Client;

use crate::aws::{sdk_config, KMS_ENDPOINT_VAR};
use crate::HOW_TO_START;

/// The SDK configuration with the KMS emulator's endpoint checked to be set.
pub async fn sdk_config_for_kms() -> aws_config::SdkConfig {
    sdk_config(KMS_ENDPOINT_VAR).await
}

/// A client on the KMS emulator.
pub async fn client() -> Client {
    Client::new(&sdk_config_for_kms().await)
}

/// A fresh symmetric key; returns its id.
pub async fn create_key(client: &Client) -> String {
    match client
        .create_key()
        .description(crate::unique_name("test-token-key"))
        .send()
        .await
    {
        Ok(created) => created
            .key_metadata()
            .map(|metadata| metadata.key_id().to_owned())
            .unwrap_or_else(|| panic!("KMS created a key without metadata")),
        Err(error) => panic!(
            "creating a KMS key failed: {}\n{HOW_TO_START}",
            DisplayErrorContext(error)
        ),
    }
}
