//! How hard one Slack request tries: attempts, budget, backoff with jitter, and Slack's
//! `Retry-After`.

use std::time::Duration;

use http::header::{HeaderMap, RETRY_AFTER};
use rand::Rng;

use super::error::{RetryClass, SlackError};

/// No single backoff wait grows past this, however many attempts a policy allows.
const MAX_BACKOFF: Duration = Duration::from_secs(10);

/// How hard one call tries. The caller picks: the worker has seconds to spare, a path
/// that must answer Slack within 3 s has almost none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included (0 counts as 1).
    pub max_attempts: u32,
    /// Wall time for all attempts and the waits between them.
    pub budget: Duration,
    /// Limit for one attempt (connect, send, and read the answer).
    pub request_timeout: Duration,
    /// First backoff wait; doubled per attempt, with jitter, capped at 10 s.
    pub base_backoff: Duration,
}

impl RetryPolicy {
    /// For the worker: a few attempts inside a budget well under the Lambda timeout.
    pub const fn worker() -> Self {
        RetryPolicy {
            max_attempts: 4,
            budget: Duration::from_secs(20),
            request_timeout: Duration::from_secs(5),
            base_backoff: Duration::from_millis(250),
        }
    }

    /// For a path that must still answer Slack within its 3 s: one quick attempt; the
    /// outbox and the worker take over on failure.
    pub const fn interactive() -> Self {
        RetryPolicy {
            max_attempts: 1,
            budget: Duration::from_millis(1500),
            request_timeout: Duration::from_millis(1500),
            base_backoff: Duration::from_millis(100),
        }
    }

    /// How long to wait before another attempt after `error`, or `None` to give up now:
    /// never for a bad request, a permission problem or a dead token; `Retry-After`
    /// only when it fits the remaining budget; otherwise exponential backoff with jitter
    /// when it fits.
    pub fn delay_before_retry(
        &self,
        error: &SlackError,
        attempts_made: u32,
        elapsed: Duration,
    ) -> Option<Duration> {
        if attempts_made >= self.max_attempts.max(1) {
            return None;
        }
        let delay = match error.class() {
            RetryClass::BadRequest | RetryClass::Permission | RetryClass::TokenDead => return None,
            RetryClass::RateLimited {
                retry_after: Some(wait),
            } => wait,
            RetryClass::RateLimited { retry_after: None } | RetryClass::Transient => {
                self.backoff(attempts_made)
            }
        };
        // The retry needs time of its own after the wait, so the wait must end inside
        // the budget, not at its edge.
        (elapsed.saturating_add(delay) < self.budget).then_some(delay)
    }

    /// "Equal jitter": half the exponential step fixed, half random, so clients spread
    /// out without any wait collapsing to nothing.
    fn backoff(&self, attempts_made: u32) -> Duration {
        let doublings = attempts_made.saturating_sub(1).min(16);
        let step = self
            .base_backoff
            .saturating_mul(1u32 << doublings)
            .min(MAX_BACKOFF);
        let half = step / 2;
        let jitter_ms = u64::try_from((step - half).as_millis()).unwrap_or(u64::MAX);
        half + Duration::from_millis(rand::rng().random_range(0..=jitter_ms))
    }
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy::worker()
    }
}

/// Slack sends `Retry-After` in whole seconds.
pub(super) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    headers
        .get(RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse::<u64>()
        .ok()
        .map(Duration::from_secs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::slack::ApiErrorCode;

    fn policy() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 3,
            budget: Duration::from_secs(10),
            request_timeout: Duration::from_secs(2),
            base_backoff: Duration::from_millis(200),
        }
    }

    fn api(code: ApiErrorCode) -> SlackError {
        SlackError::Api {
            method: "calls.add",
            code,
        }
    }

    #[test]
    fn final_classes_are_never_retried() {
        for error in [
            api(ApiErrorCode::InvalidArguments),
            api(ApiErrorCode::NotAuthorized),
            api(ApiErrorCode::InvalidAuth),
            api(ApiErrorCode::Other("new_code".into())),
            SlackError::Http {
                method: "calls.add",
                status: 400,
            },
        ] {
            assert_eq!(
                policy().delay_before_retry(&error, 1, Duration::ZERO),
                None,
                "{error}"
            );
        }
    }

    #[test]
    fn transient_errors_back_off_exponentially_with_jitter() {
        let error = api(ApiErrorCode::ServiceUnavailable);
        for _ in 0..50 {
            let first = policy()
                .delay_before_retry(&error, 1, Duration::ZERO)
                .expect("retried");
            assert!((Duration::from_millis(100)..=Duration::from_millis(200)).contains(&first));
            let second = policy()
                .delay_before_retry(&error, 2, Duration::ZERO)
                .expect("retried");
            assert!((Duration::from_millis(200)..=Duration::from_millis(400)).contains(&second));
        }
        assert_eq!(policy().delay_before_retry(&error, 3, Duration::ZERO), None);
    }

    #[test]
    fn backoff_is_capped() {
        let policy = RetryPolicy {
            max_attempts: 40,
            budget: Duration::from_secs(3600),
            base_backoff: Duration::from_secs(1),
            ..policy()
        };
        let error = SlackError::Timeout {
            method: "calls.end",
        };
        let delay = policy
            .delay_before_retry(&error, 30, Duration::ZERO)
            .expect("retried");
        assert!(delay <= MAX_BACKOFF);
    }

    #[test]
    fn retry_after_is_honoured_only_inside_the_budget() {
        let limited = |secs| SlackError::RateLimited {
            method: "calls.add",
            retry_after: Some(Duration::from_secs(secs)),
        };
        assert_eq!(
            policy().delay_before_retry(&limited(3), 1, Duration::from_secs(1)),
            Some(Duration::from_secs(3))
        );
        assert_eq!(
            policy().delay_before_retry(&limited(30), 1, Duration::ZERO),
            None
        );
        assert_eq!(
            policy().delay_before_retry(&limited(3), 1, Duration::from_secs(8)),
            None
        );
    }

    #[test]
    fn zero_attempts_means_one() {
        let policy = RetryPolicy {
            max_attempts: 0,
            ..policy()
        };
        let error = SlackError::Timeout {
            method: "calls.end",
        };
        assert_eq!(policy.delay_before_retry(&error, 1, Duration::ZERO), None);
    }

    #[test]
    fn retry_after_reads_whole_seconds() {
        let mut headers = HeaderMap::new();
        assert_eq!(retry_after(&headers), None);
        headers.insert(RETRY_AFTER, http::HeaderValue::from_static(" 12 "));
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(12)));
        headers.insert(RETRY_AFTER, http::HeaderValue::from_static("soon"));
        assert_eq!(retry_after(&headers), None);
    }
}
