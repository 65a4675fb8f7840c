//! The token cipher port: seals (encrypts) a bot or refresh token for storage and
//! opens it again, bound to the installation it belongs to (the installation key is
//! the encryption context, so a sealed token copied to another installation does not
//! open). Adapters: AWS KMS (deployed) and AES-GCM with a local key (local runs).
//!
//! Errors never carry a token or a ciphertext.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use secrecy::SecretString;

use crate::domain::installation::{InstallationKey, Sealed};

pub mod kms;
pub mod local;

#[derive(Debug, thiserror::Error)]
pub enum CipherError {
    /// No key is configured: tokens can be neither stored nor read.
    #[error("no token encryption key is configured (TOKEN_KMS_KEY_ID or TOKEN_LOCAL_KEY)")]
    NotConfigured,
    /// The key service could not be reached or refused; worth retrying.
    #[error("the token key service is unavailable: {0}")]
    Unavailable(String),
    /// The ciphertext does not open with this key and context: tampered, moved to
    /// another installation, or sealed under another key.
    #[error("a sealed token does not open with this key and installation")]
    Unreadable,
    /// The local key is missing or malformed.
    #[error("the local token key is unusable: {0}")]
    BadKey(String),
}

/// Seals and opens tokens.
#[async_trait]
pub trait TokenCipher: Send + Sync {
    async fn seal(
        &self,
        key: &InstallationKey,
        token: &SecretString,
    ) -> Result<Sealed, CipherError>;
    async fn open(
        &self,
        key: &InstallationKey,
        sealed: &Sealed,
    ) -> Result<SecretString, CipherError>;
}

/// A cipher that has no key: every request fails with [`CipherError::NotConfigured`].
/// A deployment without `TOKEN_KMS_KEY_ID` still serves single-workspace mode.
pub struct NoCipher;

#[async_trait]
impl TokenCipher for NoCipher {
    async fn seal(&self, _: &InstallationKey, _: &SecretString) -> Result<Sealed, CipherError> {
        Err(CipherError::NotConfigured)
    }

    async fn open(&self, _: &InstallationKey, _: &Sealed) -> Result<SecretString, CipherError> {
        Err(CipherError::NotConfigured)
    }
}

/// How long an opened token is kept in memory: a KMS request per Slack call would
/// add latency and cost; a short life bounds how long a copy sits in memory.
pub const OPENED_TOKEN_TTL: Duration = Duration::from_secs(300);

/// [`TokenCipher`] decorator that remembers opened tokens for a short while, keyed by
/// installation and ciphertext (a rotated token is a new ciphertext, so it is never
/// served stale).
pub struct OpenedTokenCache {
    inner: Arc<dyn TokenCipher>,
    ttl: Duration,
    opened: Mutex<HashMap<(InstallationKey, String), (Instant, SecretString)>>,
}

impl OpenedTokenCache {
    pub fn new(inner: Arc<dyn TokenCipher>, ttl: Duration) -> Self {
        OpenedTokenCache {
            inner,
            ttl,
            opened: Mutex::new(HashMap::new()),
        }
    }
}

#[async_trait]
impl TokenCipher for OpenedTokenCache {
    async fn seal(
        &self,
        key: &InstallationKey,
        token: &SecretString,
    ) -> Result<Sealed, CipherError> {
        self.inner.seal(key, token).await
    }

    async fn open(
        &self,
        key: &InstallationKey,
        sealed: &Sealed,
    ) -> Result<SecretString, CipherError> {
        let entry = (key.clone(), sealed.as_base64().to_owned());
        {
            // Entries are replaced whole: a panic elsewhere cannot leave one half-written.
            let mut opened = self.opened.lock().unwrap_or_else(PoisonError::into_inner);
            opened.retain(|_, (at, _)| at.elapsed() < self.ttl);
            if let Some((_, token)) = opened.get(&entry) {
                return Ok(token.clone());
            }
        }
        let token = self.inner.open(key, sealed).await?;
        self.opened
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(entry, (Instant::now(), token.clone()));
        Ok(token)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use secrecy::ExposeSecret;

    use super::*;
    use crate::domain::ids::id;

    struct Counting {
        inner: local::LocalCipher,
        opens: AtomicUsize,
    }

    #[async_trait]
    impl TokenCipher for Counting {
        async fn seal(
            &self,
            key: &InstallationKey,
            token: &SecretString,
        ) -> Result<Sealed, CipherError> {
            self.inner.seal(key, token).await
        }

        async fn open(
            &self,
            key: &InstallationKey,
            sealed: &Sealed,
        ) -> Result<SecretString, CipherError> {
            self.opens.fetch_add(1, Ordering::SeqCst);
            self.inner.open(key, sealed).await
        }
    }

    #[tokio::test]
    async fn opened_tokens_are_served_from_memory_until_the_ttl() {
        let counting = Arc::new(Counting {
            inner: local::LocalCipher::ephemeral(),
            opens: AtomicUsize::new(0),
        });
        let key = InstallationKey::Team(id("T1"));
        let sealed = counting
            .seal(&key, &SecretString::from("xoxb-1"))
            .await
            .unwrap();
        let cache = OpenedTokenCache::new(counting.clone(), Duration::from_secs(60));
        for _ in 0..3 {
            let token = cache.open(&key, &sealed).await.unwrap();
            assert_eq!(token.expose_secret(), "xoxb-1");
        }
        assert_eq!(counting.opens.load(Ordering::SeqCst), 1);

        let expiring = OpenedTokenCache::new(counting.clone(), Duration::ZERO);
        expiring.open(&key, &sealed).await.unwrap();
        expiring.open(&key, &sealed).await.unwrap();
        assert_eq!(counting.opens.load(Ordering::SeqCst), 3);
        assert!(matches!(
            NoCipher.open(&key, &sealed).await,
            Err(CipherError::NotConfigured)
        ));
    }
}
