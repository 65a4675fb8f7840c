//! Runs the whole product on one machine: every route through the same entry points the
//! Lambdas run, an in-process worker, and the sweep on a timer.
//!
//! - With Slack credentials (`SLACK_SIGNING_SECRET`, `SLACK_BOT_TOKEN`) it talks to
//!   real Slack, behind a tunnel of your choice.
//! - Without them it runs a sandbox: the Slack stand-in in-process, generated secrets,
//!   and [`demo::run`] drives a whole call lifecycle through real HTTP.

pub mod demo;
pub mod notifying_store;
pub mod server;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use secrecy::SecretString;
use slack_calls::cipher::kms::KmsCipher;
use slack_calls::cipher::local::LocalCipher;
use slack_calls::cipher::{CipherError, OpenedTokenCache, TokenCipher, OPENED_TOKEN_TTL};
use slack_calls::config::{Config, ConfigError};
use slack_calls::flows::Services;
use slack_calls::secrets::{SecretSource, Secrets, SecretsError, StaticSecrets};
use slack_calls::slack::RetryPolicy;
use slack_calls::store::dynamodb::DynamoStore;
use slack_calls::store::embedded::EmbeddedStore;
use slack_calls::store::{CallStore, StoreError};
use slack_calls::wiring::{services_with, StartupError};
use slack_standin::SlackStandin;
use tokio::sync::mpsc;

use notifying_store::NotifyingStore;
use server::LocalServer;

/// Where the embedded store keeps its state unless `LOCAL_STATE_FILE` says otherwise.
pub const DEFAULT_STATE_FILE: &str = ".local-state/calls.json";
/// The local token key's file name, beside the state file.
pub const TOKEN_KEY_FILE: &str = "token.key";
/// The sweep's period, as scheduled in the deployed stack.
pub const DEFAULT_SWEEP_INTERVAL: Duration = Duration::from_secs(300);

#[derive(Debug, thiserror::Error)]
pub enum LaunchError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Secrets(#[from] SecretsError),
    #[error(transparent)]
    Startup(#[from] StartupError),
    #[error("the local state file could not be opened: {0}")]
    Store(#[from] StoreError),
    #[error(transparent)]
    Cipher(#[from] CipherError),
    #[error("could not listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

/// Which store a local run uses, and why (for the banner).
pub enum StoreChoice {
    /// The embedded store, persisted to a file (or kept in memory).
    Embedded(Option<PathBuf>),
    /// DynamoDB (Local or real): `CALLS_TABLE` and an endpoint are configured.
    DynamoDb { table: String },
}

impl StoreChoice {
    /// DynamoDB when `CALLS_TABLE` and `AWS_ENDPOINT_URL[_DYNAMODB]` are both set,
    /// else the embedded store at `LOCAL_STATE_FILE` (default [`DEFAULT_STATE_FILE`]).
    pub fn from_lookup(lookup: &impl Fn(&str) -> Option<String>) -> Self {
        let endpoint = lookup("AWS_ENDPOINT_URL_DYNAMODB").or_else(|| lookup("AWS_ENDPOINT_URL"));
        match (lookup("CALLS_TABLE"), endpoint) {
            (Some(table), Some(_)) => StoreChoice::DynamoDb { table },
            _ => StoreChoice::Embedded(Some(PathBuf::from(
                lookup("LOCAL_STATE_FILE").unwrap_or_else(|| DEFAULT_STATE_FILE.into()),
            ))),
        }
    }

    pub fn describe(&self) -> String {
        match self {
            StoreChoice::Embedded(Some(path)) => format!("embedded, saved to {}", path.display()),
            StoreChoice::Embedded(None) => "embedded, in memory".into(),
            StoreChoice::DynamoDb { table } => format!("DynamoDB table {table}"),
        }
    }

    /// What seals installations' tokens: `TOKEN_KMS_KEY_ID` (KMS) or `TOKEN_LOCAL_KEY`
    /// when set, else a key file beside the state file (created on first run), else, in
    /// memory, a key that lives as long as the run. Never plaintext at rest.
    async fn token_cipher(&self, config: &Config) -> Result<Arc<dyn TokenCipher>, LaunchError> {
        if let Some(key_id) = &config.token_kms_key_id {
            let aws = aws_config::defaults(aws_config::BehaviorVersion::latest())
                .load()
                .await;
            return Ok(Arc::new(KmsCipher::from_sdk_config(&aws, key_id.clone())));
        }
        if let Some(key) = slack_calls::wiring::local_token_key() {
            return Ok(Arc::new(LocalCipher::from_base64(&key)?));
        }
        let state_file = match self {
            StoreChoice::Embedded(None) => return Ok(Arc::new(LocalCipher::ephemeral())),
            StoreChoice::Embedded(Some(path)) => path.clone(),
            StoreChoice::DynamoDb { .. } => PathBuf::from(DEFAULT_STATE_FILE),
        };
        let key_file = state_file.with_file_name(TOKEN_KEY_FILE);
        if let Some(dir) = key_file.parent().filter(|dir| !dir.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|error| CipherError::BadKey(format!("{}: {error}", dir.display())))?;
        }
        Ok(Arc::new(LocalCipher::from_key_file(&key_file)?))
    }

    /// The store, and the jobs a previous run left unfinished (oldest first).
    async fn open(&self) -> Result<(Arc<dyn CallStore>, Vec<String>), LaunchError> {
        Ok(match self {
            StoreChoice::Embedded(Some(path)) => {
                let store = EmbeddedStore::open(path.clone())?;
                let pending = store.pending_job_ids();
                (Arc::new(store), pending)
            }
            StoreChoice::Embedded(None) => (Arc::new(EmbeddedStore::in_memory()), Vec::new()),
            StoreChoice::DynamoDb { table } => {
                let aws = aws_config::defaults(aws_config::BehaviorVersion::latest())
                    .load()
                    .await;
                let store = DynamoStore::from_sdk_config(&aws, table.clone());
                // No stream here to deliver them: the worker is handed them at start.
                let pending = store.pending_job_ids().await?;
                (Arc::new(store), pending)
            }
        })
    }
}

/// A running local server with its services.
pub struct Running {
    pub server: LocalServer,
    pub services: Services,
}

/// Starts the server on `addr` with `config`, `secrets` and `store`.
pub async fn launch(
    addr: SocketAddr,
    config: Config,
    secrets: Arc<dyn SecretSource>,
    store: &StoreChoice,
    sweep_interval: Duration,
) -> Result<Running, LaunchError> {
    let (jobs_tx, jobs_rx) = mpsc::unbounded_channel();
    let (inner, pending) = store.open().await?;
    let cipher = store.token_cipher(&config).await?;
    if !pending.is_empty() {
        tracing::info!(
            jobs = pending.len(),
            "resuming jobs left unfinished by the last run"
        );
    }
    for job_id in pending {
        // The receiver is alive: it is handed to the worker just below.
        let _ = jobs_tx.send(job_id);
    }
    let store: Arc<dyn CallStore> = Arc::new(NotifyingStore::new(inner, jobs_tx.clone()));
    let mut services = services_with(Arc::new(config), store, secrets, RetryPolicy::worker())?;
    services.cipher = Arc::new(OpenedTokenCache::new(cipher, OPENED_TOKEN_TTL));
    let server = LocalServer::start(addr, services.clone(), jobs_rx, jobs_tx, sweep_interval)
        .await
        .map_err(|source| LaunchError::Bind { addr, source })?;
    Ok(Running { server, services })
}

/// The sandbox: Slack played by the stand-in, secrets generated for this run.
pub struct Sandbox {
    pub standin: SlackStandin,
    pub signing_secret: SecretString,
    pub provider_webhook_secret: SecretString,
    pub running: Running,
}

/// Starts the stand-in and the server wired to it. Configuration from `lookup` still
/// applies (join URL template, domains...), except where the sandbox must decide:
/// the Slack API URL and authorize page, the allowed response URLs, and the secrets
/// (with the stand-in app's OAuth client, so `/slack/install` works).
pub async fn launch_sandbox(
    addr: SocketAddr,
    lookup: impl Fn(&str) -> Option<String>,
    store: &StoreChoice,
    sweep_interval: Duration,
) -> Result<Sandbox, LaunchError> {
    let standin = SlackStandin::start().await;
    let api_url = standin.api_url();
    let standin_origin = api_url
        .trim_end_matches('/')
        .trim_end_matches("/api")
        .to_owned();
    let authorize_url = standin.authorize_url();
    let config = Config::from_lookup(|name| match name {
        "SLACK_API_URL" => Some(api_url.clone()),
        // Installs go through the stand-in's authorize page; the redirect comes back
        // to whichever host the install link was opened on.
        "SLACK_AUTHORIZE_URL" => Some(authorize_url.clone()),
        "SLACK_REDIRECT_URI" => None,
        "RESPONSE_URL_HOSTS" => Some(standin_origin.clone()),
        "CALLS_TABLE" | "SECRET_ID" => None,
        other => lookup(other),
    })?;
    let signing_secret = random_secret();
    let provider_webhook_secret = random_secret();
    let secrets = StaticSecrets::new(Secrets {
        signing_secret: SecretString::from(signing_secret.clone()),
        bot_token: Some(SecretString::from(standin.bot_token().to_owned())),
        provider_webhook_secret: SecretString::from(provider_webhook_secret.clone()),
        client_id: Some(standin.oauth_client().0),
        client_secret: Some(SecretString::from(standin.oauth_client().1)),
        meeting_api_token: None,
    });
    let running = launch(addr, config, Arc::new(secrets), store, sweep_interval).await?;
    Ok(Sandbox {
        standin,
        signing_secret: SecretString::from(signing_secret),
        provider_webhook_secret: SecretString::from(provider_webhook_secret),
        running,
    })
}

/// 256 random bits, hex.
fn random_secret() -> String {
    use rand::RngCore;
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}
