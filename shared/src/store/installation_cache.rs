//! Every job asks for its team's installation, which changes rarely (an uninstall, a
//! dead token, a reinstall): a store decorator that remembers each team's installation
//! (or that it has none) for a short while, so a worker container reads it about once
//! a minute instead of once a job.
//!
//! Writes go through it and replace what it remembers; a conflicting write forgets the
//! team, so the retry reads it afresh. Another container's change shows here within
//! [`INSTALLATION_CACHE_TTL`]; until then a job may use a token that was just revoked,
//! which Slack refuses and the job handles as a dead token (it disables the
//! installation, which is idempotent). A reinstall is noticed by the new token in the
//! secret, cached for longer than this anyway. An installation whose rotating token
//! is due for refresh is always read afresh (see [`crate::flows::installation`]).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use async_trait::async_trait;

use super::layer::StoreLayer;
use super::{CallStore, StoreError};
use crate::clock::{Clock, SystemClock};
use crate::domain::installation::InstallationKey;
use crate::domain::Installation;

/// How long a read installation is served from memory.
pub const INSTALLATION_CACHE_TTL: Duration = Duration::from_secs(60);
/// How long "no installation" is served from memory: a workspace that just installed
/// the app (through another function) is served within seconds.
pub const ABSENT_INSTALLATION_TTL: Duration = Duration::from_secs(10);

/// [`CallStore`] that serves `get_installation` from memory for `ttl`, and everything
/// else from the store it wraps.
pub struct InstallationCache {
    inner: Arc<dyn CallStore>,
    ttl: Duration,
    absent_ttl: Duration,
    entries: Mutex<HashMap<InstallationKey, (Instant, Option<Installation>)>>,
}

impl InstallationCache {
    /// Installations are served from memory for `ttl`, their absence for at most
    /// [`ABSENT_INSTALLATION_TTL`].
    pub fn new(inner: Arc<dyn CallStore>, ttl: Duration) -> Self {
        InstallationCache {
            inner,
            ttl,
            absent_ttl: ttl.min(ABSENT_INSTALLATION_TTL),
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// The same, with absences served for `absent_ttl` (at most `ttl`).
    pub fn with_absent_ttl(mut self, absent_ttl: Duration) -> Self {
        self.absent_ttl = absent_ttl.min(self.ttl);
        self
    }

    fn entries(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<InstallationKey, (Instant, Option<Installation>)>> {
        // Entries are replaced whole, so a panic elsewhere cannot leave one half-written.
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn remember(&self, key: &InstallationKey, installation: Option<Installation>) {
        self.entries()
            .insert(key.clone(), (Instant::now(), installation));
    }

    fn forget(&self, key: &InstallationKey) {
        self.entries().remove(key);
    }
}

#[async_trait]
impl StoreLayer for InstallationCache {
    fn inner(&self) -> &dyn CallStore {
        self.inner.as_ref()
    }

    async fn on_get_installation(
        &self,
        key: &InstallationKey,
    ) -> Result<Option<Installation>, StoreError> {
        if let Some((read_at, installation)) = self.entries().get(key) {
            // A token due for refresh may have been refreshed by another container:
            // its refresh token is spent, so only the stored copy will do.
            let due = installation
                .as_ref()
                .and_then(|installation| installation.credentials.as_ref())
                .is_some_and(|credentials| credentials.due_for_refresh(SystemClock.now()));
            let ttl = if installation.is_some() {
                self.ttl
            } else {
                self.absent_ttl
            };
            if read_at.elapsed() < ttl && !due {
                return Ok(installation.clone());
            }
        }
        let installation = self.inner.get_installation(key).await?;
        self.remember(key, installation.clone());
        Ok(installation)
    }

    async fn on_delete_installation(&self, key: &InstallationKey) -> Result<(), StoreError> {
        let deleted = self.inner.delete_installation(key).await;
        match &deleted {
            Ok(()) => self.remember(key, None),
            Err(_) => self.forget(key),
        }
        deleted
    }

    async fn on_put_installation(&self, installation: &mut Installation) -> Result<(), StoreError> {
        match self.inner.put_installation(installation).await {
            Ok(()) => {
                self.remember(&installation.key, Some(installation.clone()));
                Ok(())
            }
            Err(error) => {
                self.forget(&installation.key);
                Err(error)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ids::id;
    use crate::domain::installation::{Sealed, SealedCredentials};
    use crate::store::embedded::EmbeddedStore;

    fn installation(team: &str) -> Installation {
        Installation {
            credentials: Some(SealedCredentials {
                bot_token: Sealed::from_base64("c2VhbGVk".into()),
                refresh_token: None,
                expires_at: None,
            }),
            ..Installation::for_team(id(team))
        }
    }

    async fn cache(ttl: Duration) -> (InstallationCache, Arc<EmbeddedStore>) {
        let store = Arc::new(EmbeddedStore::in_memory());
        (InstallationCache::new(store.clone(), ttl), store)
    }

    #[tokio::test]
    async fn reads_are_served_from_memory_until_the_ttl_and_writes_replace_them() {
        let (cache, store) = cache(Duration::from_secs(60)).await;
        let team = InstallationKey::Team(id("T1"));
        assert!(cache.get_installation(&team).await.unwrap().is_none());

        // Written behind the cache's back (another container): not seen yet.
        store
            .put_installation(&mut installation("T1"))
            .await
            .unwrap();
        assert!(cache.get_installation(&team).await.unwrap().is_none());

        // Written through it: seen at once, at the stored version.
        let mut mine = installation("T1");
        mine.version = 1;
        mine.disable("app_uninstalled", None, 2_000);
        cache.put_installation(&mut mine).await.unwrap();
        let seen = cache
            .get_installation(&team)
            .await
            .unwrap()
            .expect("stored");
        assert!(seen.is_disabled());
        assert_eq!(seen.version, 2);
    }

    #[tokio::test]
    async fn a_conflict_forgets_the_team_and_an_expired_entry_is_read_again() {
        let (cache, store) = cache(Duration::from_secs(60)).await;
        let team = InstallationKey::Team(id("T1"));
        assert!(cache.get_installation(&team).await.unwrap().is_none());
        store
            .put_installation(&mut installation("T1"))
            .await
            .unwrap();

        let mut stale = installation("T1");
        let conflict = cache.put_installation(&mut stale).await;
        assert!(
            matches!(conflict, Err(StoreError::Conflict)),
            "{conflict:?}"
        );
        let fresh = cache.get_installation(&team).await.unwrap();
        assert_eq!(fresh.map(|i| i.version), Some(1), "read afresh");

        // Absence is forgotten sooner than an installation.
        let (absent, store) = self::cache(Duration::from_secs(60)).await;
        let absent = absent.with_absent_ttl(Duration::ZERO);
        assert!(absent.get_installation(&team).await.unwrap().is_none());
        store
            .put_installation(&mut installation("T1"))
            .await
            .unwrap();
        assert!(absent.get_installation(&team).await.unwrap().is_some());
        let mut moved = installation("T1");
        moved.version = 1;
        store.put_installation(&mut moved).await.unwrap();
        let served = absent.get_installation(&team).await.unwrap();
        assert_eq!(served.map(|i| i.version), Some(1), "a present one is kept");

        let (expiring, store) = self::cache(Duration::ZERO).await;
        assert!(expiring.get_installation(&team).await.unwrap().is_none());
        store
            .put_installation(&mut installation("T1"))
            .await
            .unwrap();
        assert!(expiring.get_installation(&team).await.unwrap().is_some());
    }
}
