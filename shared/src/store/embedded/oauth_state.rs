//! OAuth states in the embedded store: an install attempt's state, taken once.

use super::{Change, EmbeddedStore};
use crate::domain::OAuthState;
use crate::store::StoreError;

impl EmbeddedStore {
    pub(super) fn insert_oauth_state(&self, state: &OAuthState) -> Result<(), StoreError> {
        self.write(&[], |stored| {
            // What DynamoDB's TTL would have deleted by now, so the file does not grow
            // with every abandoned install.
            stored
                .oauth_states
                .retain(|_, kept| !kept.is_expired(state.created_at));
            if stored.oauth_states.contains_key(&state.state) {
                return Err(StoreError::AlreadyExists);
            }
            stored
                .oauth_states
                .insert(state.state.clone(), state.clone());
            Ok(Change::Commit(()))
        })
    }

    pub(super) fn remove_oauth_state(&self, state: &str) -> Result<Option<OAuthState>, StoreError> {
        self.write(&[], |stored| match stored.oauth_states.remove(state) {
            Some(taken) => Ok(Change::Commit(Some(taken))),
            None => Ok(Change::Skip(None)),
        })
    }
}
