//! The Slack Calls integration's shared crate: the domain, the flows, the ports they
//! use, and the adapters behind those ports (DynamoDB, Secrets Manager, Slack Web API,
//! meeting providers, the provider's backend). The Lambda functions and the local server are thin shells
//! around it.

pub mod cipher;
pub mod clock;
pub mod config;
pub mod domain;
pub mod entry;
pub mod flows;
pub mod meeting;
pub mod metrics;
pub mod provider;
pub mod secrets;
pub mod signing;
pub mod slack;
pub mod store;
pub mod telemetry;
pub mod tls;
pub mod wiring;
