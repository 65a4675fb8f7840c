//! Test support for code that talks to AWS: clients pointed at the local emulators that
//! `infra/emulators.sh` runs (DynamoDB Local, moto for Secrets Manager and KMS), and DynamoDB
//! tables created from the `template.yaml` definition.
//!
//! The endpoints come from the standard variables `AWS_ENDPOINT_URL_DYNAMODB` and
//! `AWS_ENDPOINT_URL_SECRETS_MANAGER`. When they are unset or nothing answers there, the
//! calling test panics with instructions: these tests never pass without the emulators,
//! and never reach real AWS.
//!
//! Two test tiers: plain `cargo test` needs nothing but Rust; the tests that need the
//! emulators are built only with this crate's `emulators` feature (test targets declare
//! `required-features = ["testkit/emulators"]`; single tests sit in [`with_emulators!`]),
//! which `./infra/test.sh` turns on after starting them.

pub mod aws;
pub mod dynamodb;
pub mod kms;
pub mod secretsmanager;
pub mod template;

/// What to do when the emulators are missing; part of every failure message.
pub const HOW_TO_START: &str = "\
The store and secrets tests run against local emulators (DynamoDB Local, moto).
Run the tests with `./infra/test.sh` (starts the emulators, runs cargo test, stops them),
or start them once with `./infra/emulators.sh start`,
then `source .tools/run/emulators.env` and run `cargo test` as usual.";

/// A name no other test (in this process or another) uses: tests run in parallel on one
/// emulator, each on its own table or secret.
pub fn unique_name(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::time::{SystemTime, UNIX_EPOCH};
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let count = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.subsec_nanos());
    format!("{prefix}-{}-{count}-{nanos:09}", std::process::id())
}

/// Items that need the emulators, in a test file whose other tests need nothing but
/// Rust: compiled only with this crate's `emulators` feature, which `./infra/test.sh`
/// turns on (whole test targets that need the emulators require the feature instead).
#[cfg(feature = "emulators")]
#[macro_export]
macro_rules! with_emulators {
    ($($item:item)*) => { $($item)* };
}

/// Items that need the emulators: left out, as the `emulators` feature is off.
#[cfg(not(feature = "emulators"))]
#[macro_export]
macro_rules! with_emulators {
    ($($item:item)*) => {};
}
