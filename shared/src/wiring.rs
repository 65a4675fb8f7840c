//! Builds the [`Services`] a deployed function runs on, from its environment: once per
//! container, cheaply (clients are created; the secret's fetch starts in the background,
//! nothing else is fetched until first use).

use std::sync::Arc;
use std::time::Duration;

use crate::cipher::kms::KmsCipher;
use crate::cipher::local::LocalCipher;
use crate::cipher::{CipherError, NoCipher, OpenedTokenCache, TokenCipher, OPENED_TOKEN_TTL};
use crate::clock::SystemClock;
use crate::config::{Config, ConfigError};
use crate::flows::Services;
use crate::meeting::http_api::{HttpMeetingProvider, DEFAULT_MEETING_API_TIMEOUT};
use crate::meeting::url_template::UrlTemplateProvider;
use crate::meeting::MeetingProvider;
use crate::provider::callback::HttpProviderCallback;
use crate::secrets::{
    SecretSource, SecretsError, SecretsManagerSource, StaticSecrets, DEFAULT_SECRET_TTL,
};
use crate::slack::client::{ClientBuildError, SlackClient};
use crate::slack::RetryPolicy;
use crate::store::dynamodb::DynamoStore;
use crate::store::installation_cache::{InstallationCache, INSTALLATION_CACHE_TTL};

/// Bounded so a slow provider never holds a worker for long; the job is retried.
const PROVIDER_CALLBACK_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Secrets(#[from] SecretsError),
    #[error(transparent)]
    SlackClient(#[from] ClientBuildError),
    #[error("the HTTP client could not be built: {0}")]
    Http(String),
    #[error(transparent)]
    Cipher(#[from] CipherError),
}

/// Services for a Lambda function: DynamoDB (`CALLS_TABLE`), secrets from Secrets
/// Manager (`SECRET_ID`) or, without it, the environment, and Slack with `slack_policy`.
/// No token key: such a function reads installations but never opens their tokens
/// ([`services_with_tokens_from_env`] is for those that do), so the KMS client is
/// linked only into the functions that use it.
pub async fn services_from_env(slack_policy: RetryPolicy) -> Result<Services, StartupError> {
    let (mut services, _) = base_services_from_env(slack_policy).await?;
    services.cipher = Arc::new(NoCipher);
    Ok(services)
}

/// [`services_from_env`], and installations' tokens sealed and opened with
/// `TOKEN_KMS_KEY_ID` (KMS), else `TOKEN_LOCAL_KEY`: for the functions that call Slack
/// with an installation's token, refresh it, or install.
pub async fn services_with_tokens_from_env(
    slack_policy: RetryPolicy,
) -> Result<Services, StartupError> {
    let (mut services, aws) = base_services_from_env(slack_policy).await?;
    let cipher: Arc<dyn TokenCipher> = match (&services.config.token_kms_key_id, local_token_key())
    {
        (Some(key_id), _) => Arc::new(KmsCipher::from_sdk_config(&aws, key_id.clone())),
        (None, Some(key)) => Arc::new(LocalCipher::from_base64(&key)?),
        (None, None) => Arc::new(NoCipher),
    };
    services.cipher = Arc::new(OpenedTokenCache::new(cipher, OPENED_TOKEN_TTL));
    Ok(services)
}

async fn base_services_from_env(
    slack_policy: RetryPolicy,
) -> Result<(Services, aws_config::SdkConfig), StartupError> {
    let config = Arc::new(Config::from_env()?);
    let table = config.require_calls_table()?.to_owned();
    let aws = aws_sdk_config().await;

    let secrets: Arc<dyn SecretSource> = match &config.secret_id {
        Some(secret_id) => {
            let source = SecretsManagerSource::new(
                crate::secrets::secrets_manager_client(&aws),
                secret_id.clone(),
                DEFAULT_SECRET_TTL,
            );
            // Not awaited: init stays as short as before, and the first request
            // usually finds the secret fetched.
            source.prefetch();
            Arc::new(source)
        }
        None => Arc::new(StaticSecrets::from_lookup(|name| std::env::var(name).ok())?),
    };
    // Timeouts sized for Slack's 3-second budget (see `client_config`).
    let store = Arc::new(DynamoStore::from_sdk_config(&aws, table));
    let services = services_with(config, store, secrets, slack_policy)?;
    Ok((services, aws))
}

/// `TOKEN_LOCAL_KEY`: base64 of a 32-byte key, for runs without KMS.
pub fn local_token_key() -> Option<secrecy::SecretString> {
    std::env::var("TOKEN_LOCAL_KEY")
        .ok()
        .filter(|key| !key.trim().is_empty())
        .map(secrecy::SecretString::from)
}

/// The SDK configuration of a function: the standard loader (region, credentials and
/// `AWS_ENDPOINT_URL_*` from the environment) with the process's one HTTPS client, which
/// trusts [`crate::tls`]'s roots and is built on the first AWS request.
pub async fn aws_sdk_config() -> aws_config::SdkConfig {
    use aws_config::environment::{
        EnvironmentVariableCredentialsProvider, EnvironmentVariableRegionProvider,
    };
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(crate::tls::aws_http_client());
    // Lambda gives every function its region and its role's credentials as environment
    // variables, which is what the default chains try first. Naming those providers when
    // they will answer skips building the rest of each chain (profile files, web identity,
    // container and instance metadata): about 0.3 ms of every cold start. Without the
    // variables, the chains run as usual.
    let lookup = |name: &str| std::env::var(name).ok();
    if region_in_env(lookup) {
        loader = loader.region(EnvironmentVariableRegionProvider::new());
    }
    if credentials_in_env(lookup) {
        loader = loader.credentials_provider(EnvironmentVariableCredentialsProvider::new());
    }
    loader.load().await
}

/// Whether `EnvironmentVariableRegionProvider` finds a region: `AWS_REGION` or
/// `AWS_DEFAULT_REGION` is set.
fn region_in_env(lookup: impl Fn(&str) -> Option<String>) -> bool {
    lookup("AWS_REGION").is_some() || lookup("AWS_DEFAULT_REGION").is_some()
}

/// Whether `EnvironmentVariableCredentialsProvider` finds credentials: an access key id
/// and a secret key (`AWS_SECRET_ACCESS_KEY`, or `SECRET_ACCESS_KEY`), neither blank.
fn credentials_in_env(lookup: impl Fn(&str) -> Option<String>) -> bool {
    let present = |name: &str| lookup(name).is_some_and(|value| !value.trim().is_empty());
    present("AWS_ACCESS_KEY_ID")
        && (present("AWS_SECRET_ACCESS_KEY") || present("SECRET_ACCESS_KEY"))
}

/// Everything but the store and the secrets, which differ between deployed and local
/// runs. Tokens are sealed with a key that lives as long as the process: callers that
/// keep installations longer set `cipher` (see [`services_from_env`]).
pub fn services_with(
    config: Arc<Config>,
    store: Arc<dyn crate::store::CallStore>,
    secrets: Arc<dyn SecretSource>,
    slack_policy: RetryPolicy,
) -> Result<Services, StartupError> {
    // One connection pool for Slack, the meeting API and provider callbacks.
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(Duration::from_secs(2))
        .user_agent(concat!("slack-calls/", env!("CARGO_PKG_VERSION")));
    let http = crate::tls::with_roots(http)
        .map_err(StartupError::Http)?
        .build()
        .map_err(|error| StartupError::Http(error.to_string()))?;
    let slack = SlackClient::with_http_client(http.clone(), &config.slack_api_url, slack_policy)?;
    let meetings: Arc<dyn MeetingProvider> = match &config.meeting_api_url {
        Some(url) => Arc::new(HttpMeetingProvider::new(
            http.clone(),
            url.clone(),
            secrets.clone(),
            DEFAULT_MEETING_API_TIMEOUT,
        )),
        None => Arc::new(UrlTemplateProvider::from_config(&config)),
    };
    let clock = Arc::new(SystemClock);
    // Every job reads its team's installation: once a minute per container is plenty.
    let store = Arc::new(InstallationCache::new(store, INSTALLATION_CACHE_TTL));
    let provider_callback = Arc::new(HttpProviderCallback::new(
        http,
        config.provider_callback_url.clone(),
        secrets.clone(),
        clock.clone(),
        PROVIDER_CALLBACK_TIMEOUT,
    ));
    Ok(Services {
        config,
        store,
        slack: Arc::new(slack),
        meetings,
        secrets,
        provider_callback,
        clock,
        cipher: Arc::new(OpenedTokenCache::new(
            Arc::new(LocalCipher::ephemeral()),
            OPENED_TOKEN_TTL,
        )),
        token_caches: Arc::default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| {
            pairs
                .iter()
                .find(|(key, _)| *key == name)
                .map(|(_, value)| (*value).to_owned())
        }
    }

    #[test]
    fn environment_credentials_are_named_only_when_the_provider_would_find_them() {
        let lambda = [
            ("AWS_ACCESS_KEY_ID", "ASIA0000"),
            ("AWS_SECRET_ACCESS_KEY", "secret"),
            ("AWS_SESSION_TOKEN", "token"),
        ];
        assert!(credentials_in_env(env(&lambda)));
        assert!(credentials_in_env(env(&[
            ("AWS_ACCESS_KEY_ID", "AKIA0000"),
            ("SECRET_ACCESS_KEY", "secret"),
        ])));
        assert!(!credentials_in_env(env(&[])));
        assert!(!credentials_in_env(env(&[(
            "AWS_ACCESS_KEY_ID",
            "AKIA0000"
        )])));
        assert!(!credentials_in_env(env(&[
            ("AWS_ACCESS_KEY_ID", " "),
            ("AWS_SECRET_ACCESS_KEY", "secret"),
        ])));
    }

    #[test]
    fn the_environment_region_is_named_only_when_set() {
        assert!(region_in_env(env(&[("AWS_REGION", "eu-west-1")])));
        assert!(region_in_env(env(&[("AWS_DEFAULT_REGION", "eu-west-1")])));
        assert!(!region_in_env(env(&[])));
    }
}
