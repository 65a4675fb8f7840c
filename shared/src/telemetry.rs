//! Logging: JSON lines in Lambda (CloudWatch parses them), readable text locally.
//!
//! `RUST_LOG` takes a level (`info`) or per-target levels (`warn,slack_calls=debug`);
//! the default is `info`. It is parsed with `Targets`, not `EnvFilter`, which would
//! link a regex engine into every function for a feature we do not use.

use tracing::Span;
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::prelude::*;

// Spans around every request to another service, named and attributed as OpenTelemetry's
// conventions name them (`otel.name`, `rpc.*`, `db.*`), so that an exporter, if one is
// linked some day, shows them as X-Ray subsegments without changes here. Today their
// fields reach the JSON logs of whatever is logged inside them.

/// One DynamoDB request (`GetItem`, `PutItem`, ...), on `table`.
pub fn dynamodb_span(operation: &'static str, table: &str) -> Span {
    tracing::info_span!(
        "dynamodb",
        otel.name = %format_args!("DynamoDB.{operation}"),
        otel.kind = "client",
        rpc.system = "aws-api",
        rpc.service = "DynamoDB",
        rpc.method = operation,
        db.system = "dynamodb",
        aws.dynamodb.table_names = table,
    )
}

/// One HTTP request to a service of ours or of the provider (`service`, `operation`).
pub fn http_client_span(service: &'static str, operation: &'static str) -> Span {
    tracing::info_span!(
        "http_client",
        otel.name = %format_args!("{service}.{operation}"),
        otel.kind = "client",
        rpc.service = service,
        rpc.method = operation,
        http.request.method = "POST",
    )
}

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
    use std::sync::{Arc, Mutex};

    use tracing::field::{Field, Visit};
    use tracing::span::{Attributes, Id};
    use tracing_subscriber::filter::Targets;
    use tracing_subscriber::layer::{Context, Layer};
    use tracing_subscriber::prelude::*;

    /// Each new span's name and fields, in order.
    type Recorded = Vec<(String, Vec<(String, String)>)>;

    /// Records every new span's name and fields.
    #[derive(Clone, Default)]
    struct Spans(Arc<Mutex<Recorded>>);

    struct Fields(Vec<(String, String)>);

    impl Visit for Fields {
        fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
            self.0.push((field.name().to_owned(), format!("{value:?}")));
        }
        fn record_str(&mut self, field: &Field, value: &str) {
            self.0.push((field.name().to_owned(), value.to_owned()));
        }
    }

    impl<S: tracing::Subscriber> Layer<S> for Spans {
        fn on_new_span(&self, attrs: &Attributes<'_>, _id: &Id, _ctx: Context<'_, S>) {
            let mut fields = Fields(Vec::new());
            attrs.record(&mut fields);
            let name = attrs.metadata().name().to_owned();
            self.0
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push((name, fields.0));
        }
    }

    #[test]
    fn request_spans_carry_the_names_an_exporter_shows() {
        let spans = Spans::default();
        let subscriber = tracing_subscriber::registry().with(spans.clone());
        tracing::subscriber::with_default(subscriber, || {
            let _dynamodb = super::dynamodb_span("GetItem", "calls-table");
            let _meeting = super::http_client_span("MeetingApi", "CreateMeeting");
        });
        let recorded = spans.0.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let field = |span: usize, name: &str| {
            recorded[span]
                .1
                .iter()
                .find(|(field, _)| field == name)
                .map(|(_, value)| value.clone())
        };
        assert_eq!(recorded.len(), 2, "{recorded:?}");
        assert_eq!(recorded[0].0, "dynamodb");
        assert_eq!(field(0, "otel.name").as_deref(), Some("DynamoDB.GetItem"));
        assert_eq!(field(0, "rpc.service").as_deref(), Some("DynamoDB"));
        assert_eq!(
            field(0, "aws.dynamodb.table_names").as_deref(),
            Some("calls-table")
        );
        assert_eq!(
            field(1, "otel.name").as_deref(),
            Some("MeetingApi.CreateMeeting")
        );
        assert_eq!(field(1, "otel.kind").as_deref(), Some("client"));
    }

    #[test]
    fn rust_log_values_parse_without_env_filter() {
        for value in ["info", "warn,slack_calls=debug", "slack_calls::flows=trace"] {
            assert!(value.parse::<Targets>().is_ok(), "{value}");
        }
    }
}
