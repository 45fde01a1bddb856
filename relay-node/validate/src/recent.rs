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
    pub(crate) fn new(capacity: usize) -> Recent {
        let reserve = capacity.min(1 << 20);
        Recent {
            wires: HashMap::with_capacity(reserve),
            ids: HashMap::with_capacity(reserve),
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

    /// Remembers an accepted event, forgetting the oldest beyond the capacity.
    pub(crate) fn insert(&mut self, wire_fp: u64, id_fp: u64) {
        if self.capacity == 0 || self.wires.insert(wire_fp, id_fp).is_some() {
            return;
        }
        *self.ids.entry(id_fp).or_default() += 1;
        self.order.push_back(wire_fp);
        if self.order.len() > self.capacity
            && let Some(old) = self.order.pop_front()
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
