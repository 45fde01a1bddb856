//! The stream parts this node stores, readable by the API's history answers while the event loop and the
//! coordinator follower change them. A part assigned to the node is stored (live events go to disk) from
//! the moment it is assigned, but served (history answered from this node's store) only once its
//! history was copied from the other replicas: until then readers are sent to those.

use std::{
    collections::HashMap,
    sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard},
};

use rivulet_protocol::StreamPartId;

/// Whether a stored part's history is complete here.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PartState {
    /// Live events are stored; earlier history is still being copied from other replicas.
    Backfilling,
    /// History is complete: this node answers for the part.
    Serving,
}

impl PartState {
    /// As `/health` names it: `backfilling`, `serving`.
    pub(crate) fn name(self) -> &'static str {
        match self {
            PartState::Backfilling => "backfilling",
            PartState::Serving => "serving",
        }
    }
}

/// The stream parts this node stores. Cheap to clone; every clone is the same set.
#[derive(Clone, Debug, Default)]
pub(crate) struct StoredParts(Arc<RwLock<HashMap<StreamPartId, PartState>>>);

impl StoredParts {
    /// The parts in `parts`, served from the start (an operator's fixed list: `storage.parts`).
    pub(crate) fn new(parts: impl IntoIterator<Item = StreamPartId>) -> StoredParts {
        StoredParts(Arc::new(RwLock::new(
            parts.into_iter().map(|p| (p, PartState::Serving)).collect(),
        )))
    }

    fn read(&self) -> RwLockReadGuard<'_, HashMap<StreamPartId, PartState>> {
        match self.0.read() {
            Ok(set) => set,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    fn write(&self) -> RwLockWriteGuard<'_, HashMap<StreamPartId, PartState>> {
        match self.0.write() {
            Ok(set) => set,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// Whether this node stores `part` (its live events go to disk).
    pub(crate) fn contains(&self, part: &StreamPartId) -> bool {
        self.read().contains_key(part)
    }

    /// Whether this node answers history for `part` from its own store.
    pub(crate) fn serves(&self, part: &StreamPartId) -> bool {
        self.read().get(part) == Some(&PartState::Serving)
    }

    /// Every part stored.
    pub(crate) fn all(&self) -> Vec<StreamPartId> {
        self.read().keys().cloned().collect()
    }

    /// Every part stored, with its state.
    pub(crate) fn states(&self) -> Vec<(StreamPartId, PartState)> {
        self.read().iter().map(|(p, s)| (p.clone(), *s)).collect()
    }

    /// Starts storing `part` in `state`; whether it is new.
    pub(crate) fn insert(&self, part: StreamPartId, state: PartState) -> bool {
        self.write().insert(part, state).is_none()
    }

    /// Marks `part` (if stored) as served from here.
    pub(crate) fn mark_serving(&self, part: &StreamPartId) {
        if let Some(state) = self.write().get_mut(part) {
            *state = PartState::Serving;
        }
    }

    /// Stops storing `part`; whether it was stored.
    pub(crate) fn remove(&self, part: &StreamPartId) -> bool {
        self.write().remove(part).is_some()
    }
}
