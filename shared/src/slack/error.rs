//! Errors from Slack's Web API, each with the retry class that tells a caller what to do.
//!
//! INTERFACE FIRST: the Slack issue (#3) completes `ApiErrorCode` with every documented
//! code; flows rely only on `SlackError::class`, `SlackError::code` and the variants
//! named here.

use std::time::Duration;

/// What a caller should do about an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryClass {
    /// Wait `retry_after` (Slack's `Retry-After`), then retry.
    RateLimited { retry_after: Option<Duration> },
    /// Retry with backoff.
    Transient,
    /// The installation's token is dead: disable it, tell the user to reinstall.
    TokenDead,
    /// A permission problem to report in plain words; never retried.
    Permission,
    /// Our bug or bad input; never retried.
    BadRequest,
}

/// An `error` code from an `{"ok": false}` answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiErrorCode {
    InactiveCall,
    BadUsers,
    InvalidAuth,
    NotAuthorized,
    Ratelimited,
    InternalError,
    /// A code Slack added after this was written.
    Other(String),
}

impl ApiErrorCode {
    pub fn parse(code: &str) -> Self {
        match code {
            "inactive_call" => ApiErrorCode::InactiveCall,
            "bad_users" => ApiErrorCode::BadUsers,
            "invalid_auth" => ApiErrorCode::InvalidAuth,
            "not_authorized" => ApiErrorCode::NotAuthorized,
            "ratelimited" => ApiErrorCode::Ratelimited,
            "internal_error" => ApiErrorCode::InternalError,
            other => ApiErrorCode::Other(other.to_owned()),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            ApiErrorCode::InactiveCall => "inactive_call",
            ApiErrorCode::BadUsers => "bad_users",
            ApiErrorCode::InvalidAuth => "invalid_auth",
            ApiErrorCode::NotAuthorized => "not_authorized",
            ApiErrorCode::Ratelimited => "ratelimited",
            ApiErrorCode::InternalError => "internal_error",
            ApiErrorCode::Other(code) => code,
        }
    }

    pub fn class(&self) -> RetryClass {
        match self {
            ApiErrorCode::Ratelimited => RetryClass::RateLimited { retry_after: None },
            ApiErrorCode::InternalError => RetryClass::Transient,
            ApiErrorCode::InvalidAuth => RetryClass::TokenDead,
            ApiErrorCode::NotAuthorized => RetryClass::Permission,
            ApiErrorCode::InactiveCall | ApiErrorCode::BadUsers | ApiErrorCode::Other(_) => {
                RetryClass::BadRequest
            }
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SlackError {
    #[error("{method} failed: {}", code.as_str())]
    Api {
        method: &'static str,
        code: ApiErrorCode,
    },
    #[error("{method} was rate limited")]
    RateLimited {
        method: &'static str,
        retry_after: Option<Duration>,
    },
    #[error("{method} answered HTTP {status}")]
    Http { method: &'static str, status: u16 },
    #[error("{method} timed out")]
    Timeout { method: &'static str },
    #[error("{method} could not be sent: {reason}")]
    Transport {
        method: &'static str,
        reason: String,
    },
    #[error("{method} answered something unexpected: {reason}")]
    InvalidResponse {
        method: &'static str,
        reason: String,
    },
}

impl SlackError {
    pub fn class(&self) -> RetryClass {
        match self {
            SlackError::Api { code, .. } => code.class(),
            SlackError::RateLimited { retry_after, .. } => RetryClass::RateLimited {
                retry_after: *retry_after,
            },
            SlackError::Http { status, .. } if *status >= 500 => RetryClass::Transient,
            SlackError::Http { .. } => RetryClass::BadRequest,
            SlackError::Timeout { .. } | SlackError::Transport { .. } => RetryClass::Transient,
            SlackError::InvalidResponse { .. } => RetryClass::Transient,
        }
    }

    /// The Slack error code, for `{"ok": false}` answers.
    pub fn code(&self) -> Option<&ApiErrorCode> {
        match self {
            SlackError::Api { code, .. } => Some(code),
            _ => None,
        }
    }
}
