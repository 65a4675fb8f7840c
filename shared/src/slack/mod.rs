//! Everything about Slack: request verification, payloads, the Web API port and its
//! reqwest adapter.

mod answer;
pub mod api;
pub mod client;
pub mod error;
pub mod payloads;
pub mod response_url;
pub mod retry;
pub mod signature;

pub use api::SlackApi;
pub use client::SlackClient;
pub use error::{ApiErrorCode, RetryClass, SlackError};
pub use retry::RetryPolicy;
