//! Runs the product the way it runs in AWS, on loopback: each function's real binary
//! under a Lambda Runtime API, fed API Gateway HTTP API (payload 2.0) events, and the
//! worker fed records read from the table's DynamoDB stream through the filter the
//! template deploys.

pub mod apigw;
pub mod runtime;
pub mod stream;

use std::path::PathBuf;

/// Where the function binaries are: `LAMBDA_BIN_DIR` (e.g. `target/release` to test the
/// release builds), else the debug build directory of this workspace.
pub fn function_binary(name: &str) -> PathBuf {
    let dir = std::env::var_os("LAMBDA_BIN_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let target = std::env::var_os("CARGO_TARGET_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target"));
            target.join("debug")
        });
    let path = dir.join(name);
    assert!(
        path.is_file(),
        "function binary {} is missing: build it first (`cargo build --bins`, which ./infra/test.sh does)",
        path.display()
    );
    path
}
