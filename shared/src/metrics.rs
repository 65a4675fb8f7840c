//! Operational metrics as CloudWatch Embedded Metric Format (EMF) log lines: one JSON
//! object per line on stdout, which Lambda sends to CloudWatch Logs and CloudWatch turns
//! into metrics. No AWS request on the request path, no permission beyond logging.
//!
//! Off unless `METRICS_NAMESPACE` is set (the SAM template sets it to
//! `SlackCalls/<stack>`), so local runs and tests print nothing.
//!
//! Dimensions, chosen for what they cost: CloudWatch bills each distinct combination of
//! dimension values as a metric of its own, in every hour it receives data. Every metric
//! has the constant `Service` dimension (the stack's totals, which the alarms watch);
//! the few breakdowns are by bounded sets: entry point, job kind, Slack method and
//! error code. The team is a dimension only on calls failing to register, which are
//! rare and are what an operator looks into per team; everywhere else it is a property
//! of the line, free to group by in Logs Insights but not a metric.
//!
//! (A maintained crate exists, `metrics_cloudwatch_embedded`, as a backend of the
//! `metrics` facade: it needs a global recorder flushed by a wrapper around each
//! function's handler, and turns labels into dimensions wholesale. Eleven metrics with
//! hand-picked dimensions are simpler written out here.)

use std::io::Write as _;
use std::sync::OnceLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{json, Map, Value};

use crate::domain::TeamId;
use crate::slack::SlackError;

/// The environment variable naming the namespace; unset means no metrics.
pub const NAMESPACE_VAR: &str = "METRICS_NAMESPACE";

/// The value of the `Service` dimension every metric carries.
pub const SERVICE: &str = "slack-calls";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Count,
    Milliseconds,
}

impl Unit {
    fn as_str(self) -> &'static str {
        match self {
            Unit::Count => "Count",
            Unit::Milliseconds => "Milliseconds",
        }
    }
}

/// A metric: its name, unit and the dimension sets it is published under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MetricKind {
    pub name: &'static str,
    pub unit: Unit,
    pub dimension_sets: &'static [&'static [&'static str]],
}

// The catalogue. `infra/deploy_checks.py` reads these definitions: the alarms and the
// dashboard in `template.yaml` may only name metrics (and dimension sets) listed here.
pub const CALLS_STARTED: MetricKind = MetricKind {
    name: "CallsStarted",
    unit: Unit::Count,
    dimension_sets: &[&["Service"]],
};
pub const CALLS_REGISTERED: MetricKind = MetricKind {
    name: "CallsRegistered",
    unit: Unit::Count,
    dimension_sets: &[&["Service"]],
};
pub const CALLS_ENDED: MetricKind = MetricKind {
    name: "CallsEnded",
    unit: Unit::Count,
    dimension_sets: &[&["Service"]],
};
pub const CALLS_FAILED: MetricKind = MetricKind {
    name: "CallsFailed",
    unit: Unit::Count,
    dimension_sets: &[&["Service"], &["Service", "Team"]],
};
pub const ANSWER_LATENCY: MetricKind = MetricKind {
    name: "AnswerLatency",
    unit: Unit::Milliseconds,
    dimension_sets: &[&["Service", "EntryPoint"]],
};
pub const CALL_BLOCK_LATENCY: MetricKind = MetricKind {
    name: "CallBlockLatency",
    unit: Unit::Milliseconds,
    dimension_sets: &[&["Service"]],
};
pub const SLACK_ERRORS: MetricKind = MetricKind {
    name: "SlackErrors",
    unit: Unit::Count,
    dimension_sets: &[&["Service", "Method", "Code"], &["Service", "Code"]],
};
pub const JOB_RETRIES: MetricKind = MetricKind {
    name: "JobRetries",
    unit: Unit::Count,
    dimension_sets: &[&["Service", "Kind"], &["Service"]],
};
pub const JOB_GIVE_UPS: MetricKind = MetricKind {
    name: "JobGiveUps",
    unit: Unit::Count,
    dimension_sets: &[&["Service", "Kind"], &["Service"]],
};
pub const SWEEP_REPAIRS: MetricKind = MetricKind {
    name: "SweepRepairs",
    unit: Unit::Count,
    dimension_sets: &[&["Service"]],
};

/// Every metric this crate emits.
pub const CATALOGUE: [MetricKind; 10] = [
    CALLS_STARTED,
    CALLS_REGISTERED,
    CALLS_ENDED,
    CALLS_FAILED,
    ANSWER_LATENCY,
    CALL_BLOCK_LATENCY,
    SLACK_ERRORS,
    JOB_RETRIES,
    JOB_GIVE_UPS,
    SWEEP_REPAIRS,
];

/// The HTTP entry points, as the `EntryPoint` dimension names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryPoint {
    Commands,
    Events,
    Provider,
}

impl EntryPoint {
    pub fn as_str(self) -> &'static str {
        match self {
            EntryPoint::Commands => "commands",
            EntryPoint::Events => "events",
            EntryPoint::Provider => "provider",
        }
    }
}

/// One data point: a value of `kind`, its dimension values, and properties (searchable
/// in the logs, not dimensions).
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    pub kind: MetricKind,
    pub value: f64,
    pub dimensions: Vec<(&'static str, String)>,
    pub properties: Vec<(&'static str, String)>,
}

impl Point {
    fn new(kind: MetricKind, value: f64) -> Self {
        Point {
            kind,
            value,
            dimensions: vec![("Service", SERVICE.to_owned())],
            properties: Vec::new(),
        }
    }

    fn dimension(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.dimensions.push((name, value.into()));
        self
    }

    fn property(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.properties.push((name, value.into()));
        self
    }

    /// The EMF document of this point.
    pub fn document(&self, namespace: &str, timestamp_ms: i64) -> Value {
        let mut root = Map::new();
        for (name, value) in self.properties.iter().chain(&self.dimensions) {
            root.insert((*name).to_owned(), Value::String(value.clone()));
        }
        root.insert(self.kind.name.to_owned(), json!(self.value));
        root.insert(
            "_aws".to_owned(),
            json!({
                "Timestamp": timestamp_ms,
                "CloudWatchMetrics": [{
                    "Namespace": namespace,
                    "Dimensions": self.kind.dimension_sets,
                    "Metrics": [{"Name": self.kind.name, "Unit": self.kind.unit.as_str()}],
                }],
            }),
        );
        Value::Object(root)
    }
}

/// Writes `point` as one EMF line, if metrics are on.
pub fn emit(point: Point) {
    static NAMESPACE: OnceLock<Option<String>> = OnceLock::new();
    let namespace = NAMESPACE.get_or_init(|| {
        std::env::var(NAMESPACE_VAR)
            .ok()
            .filter(|namespace| !namespace.trim().is_empty())
    });
    let Some(namespace) = namespace else {
        return;
    };
    let timestamp_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
    let line = point.document(namespace, timestamp_ms).to_string();
    // A metric is never worth failing a request for: a closed stdout loses it.
    let _ = writeln!(std::io::stdout().lock(), "{line}");
}

fn millis(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1_000.0
}

pub fn call_started(team: &TeamId) -> Point {
    Point::new(CALLS_STARTED, 1.0).property("Team", team.as_str())
}

pub fn call_registered(team: &TeamId) -> Point {
    Point::new(CALLS_REGISTERED, 1.0).property("Team", team.as_str())
}

pub fn call_ended(team: &TeamId) -> Point {
    Point::new(CALLS_ENDED, 1.0).property("Team", team.as_str())
}

pub fn call_failed(team: &TeamId, reason: &str) -> Point {
    Point::new(CALLS_FAILED, 1.0)
        .dimension("Team", team.as_str())
        .property("Reason", reason)
}

/// How long an entry point took to answer its request.
pub fn answered(entry_point: EntryPoint, elapsed: Duration) -> Point {
    Point::new(ANSWER_LATENCY, millis(elapsed)).dimension("EntryPoint", entry_point.as_str())
}

/// From the answer to `/call` (the call and its job written) to the call block posted.
pub fn call_block_posted(after: Duration, team: &TeamId) -> Point {
    Point::new(CALL_BLOCK_LATENCY, millis(after)).property("Team", team.as_str())
}

/// A Slack request that failed (each attempt, so a retried `ratelimited` counts too).
pub fn slack_error(error: &SlackError) -> Point {
    let (method, code) = slack_method_and_code(error);
    Point::new(SLACK_ERRORS, 1.0)
        .dimension("Method", method)
        .dimension("Code", code)
}

pub fn job_retried(kind: &'static str) -> Point {
    Point::new(JOB_RETRIES, 1.0).dimension("Kind", kind)
}

pub fn job_given_up(kind: &'static str) -> Point {
    Point::new(JOB_GIVE_UPS, 1.0).dimension("Kind", kind)
}

/// Calls the sweep ended (abandoned or too old) or re-queued for repair.
pub fn sweep_repairs(count: usize) -> Point {
    Point::new(SWEEP_REPAIRS, count as f64)
}

/// The `Method` and `Code` of a failed Slack request: Slack's own error code, else a
/// name for how it failed.
fn slack_method_and_code(error: &SlackError) -> (&'static str, String) {
    match error {
        SlackError::Api { method, code } => (method, code.as_str().to_owned()),
        SlackError::RateLimited { method, .. } => (method, "ratelimited".to_owned()),
        SlackError::Http { method, status } => (method, format!("http_{status}")),
        SlackError::Timeout { method } => (method, "timeout".to_owned()),
        SlackError::Transport { method, .. } => (method, "transport".to_owned()),
        SlackError::InvalidResponse { method, .. } => (method, "invalid_response".to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ids::id;
    use crate::slack::ApiErrorCode;

    #[test]
    fn a_count_is_one_emf_document_with_its_dimensions_and_properties() {
        let document = call_started(&id("T0TEAM")).document("SlackCalls/test", 1_700_000_000_123);
        assert_eq!(
            document,
            json!({
                "_aws": {
                    "Timestamp": 1_700_000_000_123_i64,
                    "CloudWatchMetrics": [{
                        "Namespace": "SlackCalls/test",
                        "Dimensions": [["Service"]],
                        "Metrics": [{"Name": "CallsStarted", "Unit": "Count"}],
                    }],
                },
                "Service": "slack-calls",
                "Team": "T0TEAM",
                "CallsStarted": 1.0,
            })
        );
    }

    #[test]
    fn latencies_are_milliseconds_per_entry_point() {
        let document =
            answered(EntryPoint::Commands, Duration::from_micros(8_250)).document("N", 1);
        assert_eq!(
            document["_aws"]["CloudWatchMetrics"][0],
            json!({"Namespace": "N", "Dimensions": [["Service", "EntryPoint"]],
                   "Metrics": [{"Name": "AnswerLatency", "Unit": "Milliseconds"}]})
        );
        assert_eq!(document["AnswerLatency"], json!(8.25));
        assert_eq!(document["EntryPoint"], "commands");
        let block = call_block_posted(Duration::from_millis(1_500), &id("T1")).document("N", 1);
        assert_eq!(block["CallBlockLatency"], json!(1_500.0));
        assert_eq!(
            block["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
            json!([["Service"]])
        );
    }

    #[test]
    fn slack_errors_by_method_and_code_and_by_code_alone() {
        let refused = SlackError::Api {
            method: "calls.add",
            code: ApiErrorCode::parse("not_authorized"),
        };
        let document = slack_error(&refused).document("N", 1);
        assert_eq!(
            document["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
            json!([["Service", "Method", "Code"], ["Service", "Code"]])
        );
        assert_eq!(document["Method"], "calls.add");
        assert_eq!(document["Code"], "not_authorized");
        assert_eq!(document["SlackErrors"], json!(1.0));
        let limited = SlackError::RateLimited {
            method: "calls.participants.add",
            retry_after: Some(Duration::from_secs(3)),
        };
        assert_eq!(
            slack_error(&limited).document("N", 1)["Code"],
            "ratelimited"
        );
        let http = SlackError::Http {
            method: "calls.end",
            status: 503,
        };
        assert_eq!(slack_error(&http).document("N", 1)["Code"], "http_503");
    }

    #[test]
    fn failed_calls_are_counted_per_team_too() {
        let document = call_failed(&id("T0TEAM"), "not_authorized").document("N", 1);
        assert_eq!(
            document["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
            json!([["Service"], ["Service", "Team"]])
        );
        assert_eq!(document["Team"], "T0TEAM");
        assert_eq!(document["Reason"], "not_authorized");
    }

    /// Every dimension a metric is published under has a value on its line, and only
    /// the failed-calls metric has the high-cardinality `Team` dimension.
    #[test]
    fn every_point_carries_the_dimensions_it_declares() {
        let team = id("T1");
        let points = [
            call_started(&team),
            call_registered(&team),
            call_ended(&team),
            call_failed(&team, "x"),
            answered(EntryPoint::Events, Duration::ZERO),
            call_block_posted(Duration::ZERO, &team),
            slack_error(&SlackError::Timeout {
                method: "calls.add",
            }),
            job_retried("sync_call"),
            job_given_up("register_call"),
            sweep_repairs(2),
        ];
        let names: Vec<&str> = points.iter().map(|p| p.kind.name).collect();
        let catalogue: Vec<&str> = CATALOGUE.iter().map(|k| k.name).collect();
        assert_eq!(names, catalogue, "one point of each kind");
        for point in points {
            let document = point.document("N", 1);
            for set in point.kind.dimension_sets {
                for dimension in *set {
                    assert!(
                        document[*dimension].is_string(),
                        "{}: {dimension}",
                        point.kind.name
                    );
                    let team_ok = *dimension != "Team" || point.kind == CALLS_FAILED;
                    assert!(
                        team_ok,
                        "{} must not have a Team dimension",
                        point.kind.name
                    );
                }
            }
        }
    }
}
