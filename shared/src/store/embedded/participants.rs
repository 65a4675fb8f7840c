//! Participants in the embedded store: kept by call, then by identity, as DynamoDB
//! keeps them under their call; written at their versions, with the same conditions.

use super::{replace_at_version, Change, EmbeddedStore, State};
use crate::domain::{Call, ExternalId, Job, Participant};
use crate::store::{participants_at_next_version, StoreError, MAX_PARTICIPANTS_PER_REQUEST};

impl State {
    /// Replaces each of `next` under `call` at the version its `current` twin carries.
    fn replace_participants(
        &mut self,
        call: &ExternalId,
        current: &[Participant],
        next: &[Participant],
    ) -> Result<(), StoreError> {
        let items = self.participants.entry(call.clone()).or_default();
        for (current, next) in current.iter().zip(next) {
            let stored = items.get(current.identity()).map(|p| p.version);
            let expected = (current.version > 0).then_some(current.version);
            if stored != expected {
                return Err(StoreError::Conflict);
            }
            items.insert(next.identity().to_owned(), next.clone());
        }
        Ok(())
    }
}

impl EmbeddedStore {
    pub(super) fn participants_named(
        &self,
        call: &ExternalId,
        identities: &[String],
    ) -> Result<Vec<Participant>, StoreError> {
        if identities.len() > MAX_PARTICIPANTS_PER_REQUEST {
            return Err(StoreError::Unavailable(format!(
                "a read names at most {} participants",
                MAX_PARTICIPANTS_PER_REQUEST
            )));
        }
        Ok(self.read(|state| {
            let Some(items) = state.participants.get(call) else {
                return Vec::new();
            };
            let mut wanted: Vec<&String> = identities.iter().collect();
            wanted.sort();
            wanted.dedup();
            wanted
                .into_iter()
                .filter_map(|identity| items.get(identity).cloned())
                .collect()
        }))
    }

    pub(super) fn participants_of(&self, call: &ExternalId) -> Vec<Participant> {
        self.read(|state| {
            state
                .participants
                .get(call)
                .map(|items| items.values().cloned().collect())
                .unwrap_or_default()
        })
    }

    pub(super) fn write_call_and_participants(
        &self,
        call: &mut Call,
        participants: &mut [Participant],
        jobs: &[Job],
    ) -> Result<(), StoreError> {
        let mut next_call = call.clone();
        next_call.version += 1;
        let next = participants_at_next_version(participants)?;
        self.write(jobs, |state| {
            replace_at_version(
                &mut state.calls,
                &call.external_unique_id,
                call.version,
                &next_call,
            )?;
            state.replace_participants(&call.external_unique_id, participants, &next)?;
            Ok(Change::Commit(()))
        })?;
        call.version = next_call.version;
        participants.clone_from_slice(&next);
        Ok(())
    }

    pub(super) fn write_participants(
        &self,
        call: &ExternalId,
        participants: &mut [Participant],
    ) -> Result<(), StoreError> {
        let next = participants_at_next_version(participants)?;
        if participants.iter().any(|p| p.version == 0) {
            // Only a participant event creates a participant (with its call's counts).
            return Err(StoreError::Conflict);
        }
        self.write(&[], |state| {
            if !state.calls.contains_key(call) {
                return Err(StoreError::Conflict);
            }
            state.replace_participants(call, participants, &next)?;
            Ok(Change::Commit(()))
        })?;
        participants.clone_from_slice(&next);
        Ok(())
    }
}
