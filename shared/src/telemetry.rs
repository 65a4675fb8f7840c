//! Logging: JSON lines in Lambda (CloudWatch parses them), readable text locally.
//! `RUST_LOG` filters as usual; the default is `info`.

use tracing_subscriber::EnvFilter;

pub fn init() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let in_lambda = std::env::var_os("AWS_LAMBDA_FUNCTION_NAME").is_some();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false);
    // A second init (tests, a re-entrant main) keeps the first subscriber.
    let _ = if in_lambda {
        // Lambda stamps every line itself; no ANSI colours in CloudWatch.
        builder
            .json()
            .with_current_span(true)
            .without_time()
            .with_ansi(false)
            .try_init()
    } else {
        builder.try_init()
    };
}
