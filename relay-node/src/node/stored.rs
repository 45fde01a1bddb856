//! The stream parts this node stores, readable by the API's history answers while the event loop
//! changes them.

use std::{
    collections::HashSet,
    sync::{Arc, RwLock},
};

use rivulet_protocol::StreamPartId;

/// The stream parts this node stores. Cheap to clone; every clone is the same set.
#[derive(Clone, Debug, Default)]
pub(crate) struct StoredParts(Arc<RwLock<HashSet<StreamPartId>>>);

impl StoredParts {
    /// The parts in `parts`.
    pub(crate) fn new(parts: impl IntoIterator<Item = StreamPartId>) -> StoredParts {
        StoredParts(Arc::new(RwLock::new(parts.into_iter().collect())))
    }

    /// Whether this node stores `part`.
    pub(crate) fn contains(&self, part: &StreamPartId) -> bool {
        match self.0.read() {
            Ok(set) => set.contains(part),
            Err(poisoned) => poisoned.into_inner().contains(part),
        }
    }

    /// Every part stored.
    pub(crate) fn all(&self) -> Vec<StreamPartId> {
        match self.0.read() {
            Ok(set) => set.iter().cloned().collect(),
            Err(poisoned) => poisoned.into_inner().iter().cloned().collect(),
        }
    }
}
