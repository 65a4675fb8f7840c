//! Fault injection: make the stand-in slow, rate limited, broken or silent on purpose.
//!
//! ```no_run
//! # async fn demo() {
//! use slack_standin::{Fault, SlackStandin};
//!
//! let standin = SlackStandin::start().await;
//! standin.inject(Fault::on("calls.add").rate_limited(2).times(1));
//! standin.inject(Fault::all().http_status(503).share(0.5));
//! # }
//! ```
//! `response_url` posts match the method name `response_url`.

use std::time::Duration;

/// What a fault does to a request it hits.
#[derive(Debug, Clone, PartialEq)]
pub enum FaultAction {
    /// Wait, then answer normally (other faults may still apply).
    Latency(Duration),
    /// HTTP 429 with `Retry-After` and `{"ok":false,"error":"ratelimited"}`, as Slack does.
    RateLimited { retry_after_secs: u64 },
    /// This HTTP status with a plain-text body, as a proxy in front of Slack would.
    HttpStatus(u16),
    /// HTTP 200 with `{"ok":false,"error":CODE}`.
    SlackError(String),
    /// HTTP 200 with an HTML page instead of JSON, as a captive proxy would answer.
    Malformed,
    /// Never answer; the client has to give up.
    Hang,
}

/// Which requests a fault hits among those it matches.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Limit {
    Always,
    /// The next `n`.
    Times(u32),
    /// A share in `0.0..=1.0`, spread evenly and deterministically (first match included).
    Share(f64),
    Both {
        times: u32,
        share: f64,
    },
}

/// Which request bodies a fault hits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Bodies {
    Any,
    Json,
    Form,
}

/// A fault to inject with [`crate::SlackStandin::inject`].
#[derive(Debug, Clone, PartialEq)]
pub struct Fault {
    method: Option<String>,
    action: FaultAction,
    limit: Limit,
    bodies: Bodies,
}

/// The first half of [`Fault`]'s builder: which methods, then what happens.
#[derive(Debug, Clone)]
pub struct FaultBuilder {
    method: Option<String>,
}

impl Fault {
    /// A fault on one method (`calls.add`, `chat.unfurl`, `response_url`, …).
    pub fn on(method: impl Into<String>) -> FaultBuilder {
        FaultBuilder {
            method: Some(method.into()),
        }
    }

    /// A fault on every method and `response_url` post.
    pub fn all() -> FaultBuilder {
        FaultBuilder { method: None }
    }

    /// Only the next `n` matching requests.
    pub fn times(mut self, n: u32) -> Self {
        self.limit = match self.limit {
            Limit::Share(share) | Limit::Both { share, .. } => Limit::Both { times: n, share },
            Limit::Always | Limit::Times(_) => Limit::Times(n),
        };
        self
    }

    /// Only this share (`0.0..=1.0`) of matching requests, spread evenly.
    pub fn share(mut self, fraction: f64) -> Self {
        let share = fraction.clamp(0.0, 1.0);
        self.limit = match self.limit {
            Limit::Times(times) | Limit::Both { times, .. } => Limit::Both { times, share },
            Limit::Always | Limit::Share(_) => Limit::Share(share),
        };
        self
    }

    /// Only requests with a JSON body, e.g. to have Slack refuse a JSON array
    /// (`slack_error("invalid_array_arg").json_bodies_only()`) while forms still work.
    pub fn json_bodies_only(mut self) -> Self {
        self.bodies = Bodies::Json;
        self
    }

    /// Only requests with a form body.
    pub fn form_bodies_only(mut self) -> Self {
        self.bodies = Bodies::Form;
        self
    }

    pub fn action(&self) -> &FaultAction {
        &self.action
    }
}

impl FaultBuilder {
    fn with(self, action: FaultAction) -> Fault {
        Fault {
            method: self.method,
            action,
            limit: Limit::Always,
            bodies: Bodies::Any,
        }
    }

    pub fn latency(self, delay: Duration) -> Fault {
        self.with(FaultAction::Latency(delay))
    }

    pub fn rate_limited(self, retry_after_secs: u64) -> Fault {
        self.with(FaultAction::RateLimited { retry_after_secs })
    }

    pub fn http_status(self, status: u16) -> Fault {
        self.with(FaultAction::HttpStatus(status))
    }

    pub fn slack_error(self, code: impl Into<String>) -> Fault {
        self.with(FaultAction::SlackError(code.into()))
    }

    pub fn malformed(self) -> Fault {
        self.with(FaultAction::Malformed)
    }

    pub fn hang(self) -> Fault {
        self.with(FaultAction::Hang)
    }
}

/// An injected fault and how often it has matched and fired.
#[derive(Debug)]
pub(crate) struct ActiveFault {
    fault: Fault,
    matched: u64,
    fired: u64,
}

impl ActiveFault {
    pub(crate) fn new(fault: Fault) -> Self {
        ActiveFault {
            fault,
            matched: 0,
            fired: 0,
        }
    }

    /// Counts the request if it matches, and says whether the fault fires on it.
    /// `json` says whether the request came with a JSON body.
    pub(crate) fn hits(&mut self, method: &str, json: bool) -> Option<&FaultAction> {
        if let Some(only) = &self.fault.method {
            if only != method {
                return None;
            }
        }
        match (self.fault.bodies, json) {
            (Bodies::Json, false) | (Bodies::Form, true) => return None,
            _ => {}
        }
        let (times, share) = match self.fault.limit {
            Limit::Always => (None, None),
            Limit::Times(times) => (Some(times), None),
            Limit::Share(share) => (None, Some(share)),
            Limit::Both { times, share } => (Some(times), Some(share)),
        };
        if times.is_some_and(|times| self.fired >= u64::from(times)) {
            return None;
        }
        self.matched += 1;
        if let Some(share) = share {
            // Fire while the count fired so far is behind ceil(matched * share).
            let due = (self.matched as f64 * share - 1e-9).ceil().max(0.0) as u64;
            if self.fired >= due {
                return None;
            }
        }
        self.fired += 1;
        Some(&self.fault.action)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fires(fault: Fault, method: &str, requests: usize) -> Vec<bool> {
        let mut active = ActiveFault::new(fault);
        (0..requests)
            .map(|_| active.hits(method, true).is_some())
            .collect()
    }

    #[test]
    fn times_limits_the_count() {
        assert_eq!(
            fires(
                Fault::on("calls.add").http_status(500).times(2),
                "calls.add",
                4
            ),
            [true, true, false, false]
        );
    }

    #[test]
    fn other_methods_are_not_hit() {
        assert_eq!(
            fires(Fault::on("calls.add").hang(), "calls.end", 3),
            [false, false, false]
        );
        assert_eq!(fires(Fault::all().hang(), "calls.end", 2), [true, true]);
    }

    #[test]
    fn share_spreads_evenly() {
        assert_eq!(
            fires(
                Fault::all().slack_error("internal_error").share(0.5),
                "x",
                6
            ),
            [true, false, true, false, true, false]
        );
        let hits = fires(
            Fault::all().slack_error("internal_error").share(0.25),
            "x",
            100,
        );
        assert_eq!(hits.iter().filter(|hit| **hit).count(), 25);
        assert_eq!(fires(Fault::all().hang().share(0.0), "x", 5), [false; 5]);
    }

    #[test]
    fn body_filters_pick_json_or_form() {
        let mut json_only = ActiveFault::new(
            Fault::on("calls.participants.add")
                .slack_error("invalid_array_arg")
                .json_bodies_only()
                .times(1),
        );
        assert!(json_only.hits("calls.participants.add", false).is_none());
        assert!(json_only.hits("calls.participants.add", true).is_some());
        assert!(
            json_only.hits("calls.participants.add", true).is_none(),
            "once"
        );
        let mut form_only = ActiveFault::new(Fault::all().hang().form_bodies_only());
        assert!(form_only.hits("calls.add", true).is_none());
        assert!(form_only.hits("calls.add", false).is_some());
    }

    #[test]
    fn share_and_times_combine() {
        assert_eq!(
            fires(Fault::all().http_status(503).share(0.5).times(2), "x", 8),
            [true, false, true, false, false, false, false, false]
        );
    }
}
