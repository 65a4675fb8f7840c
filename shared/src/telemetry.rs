//! Logging: JSON lines in Lambda (CloudWatch parses them), readable text locally.
//!
//! `RUST_LOG` takes a level (`info`) or per-target levels (`warn,slack_calls=debug`);
//! the default is `info`. It is parsed with `Targets`, not `EnvFilter`, which would
//! link a regex engine into every function for a feature we do not use.

use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::prelude::*;

pub fn init() {
    let filter = std::env::var("RUST_LOG")
        .ok()
        .and_then(|value| value.parse::<Targets>().ok())
        .unwrap_or_else(|| Targets::new().with_default(LevelFilter::INFO));
    let in_lambda = std::env::var_os("AWS_LAMBDA_FUNCTION_NAME").is_some();
    let registry = tracing_subscriber::registry().with(filter);
    // A second init (tests, a re-entrant main) keeps the first subscriber.
    let _ = if in_lambda {
        // Lambda stamps every line itself; no ANSI colours in CloudWatch.
        registry
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .with_current_span(true)
                    .without_time()
                    .with_ansi(false)
                    .with_target(false),
            )
            .try_init()
    } else {
        registry
            .with(tracing_subscriber::fmt::layer().with_target(false))
            .try_init()
    };
}

#[cfg(test)]
mod tests {
    use tracing_subscriber::filter::Targets;

    #[test]
    fn rust_log_values_parse_without_env_filter() {
        for value in ["info", "warn,slack_calls=debug", "slack_calls::flows=trace"] {
            assert!(value.parse::<Targets>().is_ok(), "{value}");
        }
    }
}
