//! The duplicate filter: fingerprints of the most recently accepted events' wire bytes and ids.

use std::{
    collections::{HashMap, VecDeque},
    hash::{BuildHasher, Hasher, RandomState},
};

use rivulet_protocol::MessageId;

/// The duplicate filter: fingerprints of the most recently accepted messages' wire bytes, and of their
/// ids, evicted oldest first.
#[derive(Debug)]
pub(crate) struct Recent {
    wires: HashMap<u64, u64>,
    ids: HashMap<u64, u32>,
    order: VecDeque<u64>,
    capacity: usize,
    hasher: RandomState,
}

impl Recent {
    /// A filter remembering the last `capacity` accepted events (0: none).
    ///
    /// Its memory is taken at once (for up to a million events) and never grows: a full filter
    /// forgets one event for each it learns, and a hash table that keeps that up fills with the
    /// tombstones of removed entries until it rehashes — in place while at most half of the table's
    /// room is in use, into a table twice the size otherwise. So the tables get twice the room the
    /// filter fills; sized for exactly `capacity`, each doubled (+4.5 MB at the default 200,000) once
    /// enough events had passed after the filter filled (minutes after a node started, seen in `cargo
    /// xtask soak` as a step in its resident memory).
    pub(crate) fn new(capacity: usize) -> Recent {
        let reserve = capacity.min(1 << 20);
        Recent {
            wires: HashMap::with_capacity(2 * reserve),
            ids: HashMap::with_capacity(2 * reserve),
            order: VecDeque::with_capacity(reserve),
            capacity,
            hasher: RandomState::new(),
        }
    }

    /// Whether wire bytes with this fingerprint were accepted recently.
    pub(crate) fn knows_wire(&self, fingerprint: u64) -> bool {
        self.wires.contains_key(&fingerprint)
    }

    /// Whether an event under an id with this fingerprint was accepted recently.
    pub(crate) fn knows_id(&self, id_fingerprint: u64) -> bool {
        self.ids.contains_key(&id_fingerprint)
    }

    /// The fingerprint of wire bytes (keyed per node, so nobody can aim collisions at it).
    pub(crate) fn fingerprint(&self, bytes: &[u8]) -> u64 {
        let mut h = self.hasher.build_hasher();
        h.write(bytes);
        h.finish()
    }

    /// The fingerprint of an event id.
    pub(crate) fn id_fingerprint(&self, id: &MessageId) -> u64 {
        let mut h = self.hasher.build_hasher();
        h.write(id.stream_id.as_str().as_bytes());
        h.write_u8(id.partition.get());
        h.write_u64(id.timestamp);
        h.write_u32(id.sequence_number);
        h.write(id.publisher.as_bytes());
        h.write(id.chain_id.as_str().as_bytes());
        h.finish()
    }

    /// Remembers an accepted event, forgetting the oldest when the filter is full.
    pub(crate) fn insert(&mut self, wire_fp: u64, id_fp: u64) {
        if self.capacity == 0 || self.wires.contains_key(&wire_fp) {
            return;
        }
        // Forget first, so neither the tables nor the queue ever hold more than `capacity`.
        if self.order.len() >= self.capacity {
            self.forget_oldest();
        }
        self.wires.insert(wire_fp, id_fp);
        *self.ids.entry(id_fp).or_default() += 1;
        self.order.push_back(wire_fp);
    }

    fn forget_oldest(&mut self) {
        if let Some(old) = self.order.pop_front()
            && let Some(old_id) = self.wires.remove(&old)
            && let Some(count) = self.ids.get_mut(&old_id)
        {
            *count -= 1;
            if *count == 0 {
                self.ids.remove(&old_id);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The filter's memory is what it took when made: many times its capacity in distinct events
    /// (each forgetting the oldest) reallocate neither table nor the queue. (A table's `capacity()`
    /// is its free room plus its entries: tombstones lower it, a reallocation would at least double it.)
    #[test]
    fn a_full_filter_forgets_the_oldest_and_never_grows() {
        let capacity = 10_000;
        let mut recent = Recent::new(capacity);
        let (wires, ids, order) = (
            recent.wires.capacity(),
            recent.ids.capacity(),
            recent.order.capacity(),
        );
        for i in 0..(20 * capacity as u64) {
            recent.insert(i, i / 2);
            assert!(
                recent.wires.capacity() <= wires
                    && recent.ids.capacity() <= ids
                    && recent.order.capacity() == order,
                "reallocated after {i} events"
            );
        }
        let last = 20 * capacity as u64 - 1;
        assert_eq!(recent.order.len(), capacity);
        assert!(recent.knows_wire(last) && recent.knows_wire(last + 1 - capacity as u64));
        assert!(!recent.knows_wire(last - capacity as u64));
        // Ids shared by two remembered wires stay known until both are forgotten.
        assert!(recent.knows_id(last / 2) && !recent.knows_id((last - capacity as u64) / 2 - 1));
    }

    #[test]
    fn a_filter_of_no_capacity_remembers_nothing() {
        let mut recent = Recent::new(0);
        recent.insert(1, 1);
        assert!(!recent.knows_wire(1) && !recent.knows_id(1));
    }
}
