//! The use cases. Each takes its ports through [`Services`] and knows nothing of
//! Lambda or HTTP: the entry points translate requests into one flow call.

use std::sync::Arc;

use crate::cipher::TokenCipher;
use crate::clock::Clock;
use crate::config::Config;
use crate::meeting::MeetingProvider;
use crate::provider::callback::ProviderCallback;
use crate::secrets::SecretSource;
use crate::slack::SlackApi;
use crate::store::CallStore;

pub mod install;
pub mod installation;
pub mod jobs;
pub mod provider_events;
pub mod reconcile;
pub mod slack_events;
pub mod start_call;
pub mod sweep;
pub mod tenant;

/// The ports every flow may use, built once per container.
#[derive(Clone)]
pub struct Services {
    pub config: Arc<Config>,
    pub store: Arc<dyn CallStore>,
    pub slack: Arc<dyn SlackApi>,
    pub meetings: Arc<dyn MeetingProvider>,
    pub secrets: Arc<dyn SecretSource>,
    pub provider_callback: Arc<dyn ProviderCallback>,
    pub clock: Arc<dyn Clock>,
    /// Seals and opens installations' tokens.
    pub cipher: Arc<dyn TokenCipher>,
    /// What this container remembers about tokens (see [`installation::TokenCaches`]).
    pub token_caches: Arc<installation::TokenCaches>,
}
