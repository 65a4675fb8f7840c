//! The SDK configuration the tests use: the standard loader, refusing to run unless the
//! service's endpoint points somewhere local.

use aws_config::{BehaviorVersion, SdkConfig};

use crate::HOW_TO_START;

/// The endpoint variable the SDK reads for DynamoDB.
pub const DYNAMODB_ENDPOINT_VAR: &str = "AWS_ENDPOINT_URL_DYNAMODB";
/// The endpoint variable the SDK reads for KMS.
pub const KMS_ENDPOINT_VAR: &str = "AWS_ENDPOINT_URL_KMS";
/// The endpoint variable the SDK reads for Secrets Manager.
pub const SECRETS_MANAGER_ENDPOINT_VAR: &str = "AWS_ENDPOINT_URL_SECRETS_MANAGER";

/// The endpoint in `variable`, or a panic saying how to start the emulators.
pub fn emulator_endpoint(variable: &str) -> String {
    match std::env::var(variable) {
        Ok(endpoint) if !endpoint.trim().is_empty() => endpoint,
        _ => panic!(
            "{variable} is not set, so there is no emulator to test against.\n{HOW_TO_START}"
        ),
    }
}

/// `aws_config::defaults(BehaviorVersion::latest())`, exactly as the functions load it,
/// once `endpoint_variable` is known to be set (so nothing reaches real AWS).
pub async fn sdk_config(endpoint_variable: &str) -> SdkConfig {
    emulator_endpoint(endpoint_variable);
    aws_config::defaults(BehaviorVersion::latest()).load().await
}
