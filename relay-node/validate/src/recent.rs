//! The duplicate filter: fingerprints of the most recently accepted events' wire bytes and ids.

use std::hash::{BuildHasher, Hasher, RandomState};

use hashbrown::HashTable;
use rivulet_protocol::MessageId;

/// One remembered event: the fingerprints of its wire bytes and of its id.
#[derive(Clone, Copy, Debug)]
struct Seen {
    wire: u64,
    id: u64,
}

/// The duplicate filter: fingerprints of the most recently accepted messages' wire bytes, and of their
/// ids, evicted oldest first.
///
/// The events sit in a ring, oldest first; two hash tables of ring positions find them by wire and by
/// id. The fingerprints are keyed hashes already, so they are the tables' hashes too. The id table
/// points at the newest event with each id: when the oldest event leaves and its id's entry points at
/// it, no newer event has that id (it would have taken the entry), so the entry goes too.
#[derive(Debug)]
pub(crate) struct Recent {
    /// Remembered events; once `capacity` are held, slot `oldest` is the next to be forgotten.
    ring: Vec<Seen>,
    oldest: usize,
    /// Ring slots by their event's wire fingerprint.
    wires: HashTable<u32>,
    /// Ring slots by id fingerprint: the newest event with that id.
    ids: HashTable<u32>,
    capacity: usize,
    hasher: RandomState,
}

/// The most events a filter remembers: ring positions are `u32`.
const MAX_CAPACITY: usize = u32::MAX as usize;

impl Recent {
    /// A filter remembering the last `capacity` accepted events (0: none; at most 2^32 - 1).
    ///
    /// Its memory is taken at once (for up to a million events) and never grows: 16 bytes an event in
    /// the ring and 5 per table slot, ~8.4 MB at the default 200,000 (two `HashMap`s and a queue took
    /// 19.4 MB). A full filter forgets one event for each it learns, and a hash table that keeps that
    /// up fills with the tombstones of removed entries until it rehashes — in place while at most half
    /// of the table's room is in use, into a table twice the size otherwise. So the tables get twice
    /// the room the filter fills; sized for exactly `capacity`, each would double once enough events had
    /// passed after the filter filled (minutes after a node started, seen in `cargo xtask soak` as a
    /// step in its resident memory).
    pub(crate) fn new(capacity: usize) -> Recent {
        let capacity = capacity.min(MAX_CAPACITY);
        let reserve = capacity.min(1 << 20);
        Recent {
            ring: Vec::with_capacity(reserve),
            oldest: 0,
            wires: HashTable::with_capacity(2 * reserve),
            ids: HashTable::with_capacity(2 * reserve),
            capacity,
            hasher: RandomState::new(),
        }
    }

    /// Whether wire bytes with this fingerprint were accepted recently.
    pub(crate) fn knows_wire(&self, fingerprint: u64) -> bool {
        let ring = &self.ring;
        self.wires
            .find(fingerprint, |&slot| ring[slot as usize].wire == fingerprint)
            .is_some()
    }

    /// Whether an event under an id with this fingerprint was accepted recently.
    pub(crate) fn knows_id(&self, id_fingerprint: u64) -> bool {
        let ring = &self.ring;
        self.ids
            .find(id_fingerprint, |&slot| {
                ring[slot as usize].id == id_fingerprint
            })
            .is_some()
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
        if self.capacity == 0 || self.knows_wire(wire_fp) {
            return;
        }
        let seen = Seen {
            wire: wire_fp,
            id: id_fp,
        };
        // Forget first, so that neither the tables nor the ring ever hold more than `capacity`.
        let slot = if self.ring.len() < self.capacity {
            self.ring.push(seen);
            self.ring.len() - 1
        } else {
            let slot = self.oldest;
            self.forget(slot);
            self.ring[slot] = seen;
            self.oldest = (slot + 1) % self.capacity;
            slot
        };
        // `slot < capacity <= u32::MAX`.
        let slot = slot as u32;
        let ring = &self.ring;
        self.wires
            .insert_unique(wire_fp, slot, |&s| ring[s as usize].wire);
        match self.ids.find_mut(id_fp, |&s| ring[s as usize].id == id_fp) {
            Some(newest) => *newest = slot,
            None => {
                self.ids
                    .insert_unique(id_fp, slot, |&s| ring[s as usize].id);
            }
        }
    }

    /// Removes the event in ring slot `slot` from both tables (the id's entry only if it is the
    /// newest event with that id).
    fn forget(&mut self, slot: usize) {
        let Seen { wire, id } = self.ring[slot];
        let at = slot as u32;
        if let Ok(entry) = self.wires.find_entry(wire, |&s| s == at) {
            entry.remove();
        }
        if let Ok(entry) = self.ids.find_entry(id, |&s| s == at) {
            entry.remove();
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::collections::VecDeque;

    use rand::{RngExt, SeedableRng, rngs::StdRng};

    use super::*;

    /// Spreads a counter over 64 bits, as real fingerprints are (splitmix64's finaliser).
    fn spread(mut x: u64) -> u64 {
        x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        x ^ (x >> 31)
    }

    /// The filter's memory is what it took when made: many times its capacity in distinct events
    /// (each forgetting the oldest) reallocate neither the tables nor the ring.
    #[test]
    fn a_full_filter_forgets_the_oldest_and_never_grows() {
        let capacity = 10_000;
        let mut recent = Recent::new(capacity);
        let taken = (
            recent.wires.allocation_size(),
            recent.ids.allocation_size(),
            recent.ring.capacity(),
        );
        for i in 0..(20 * capacity as u64) {
            recent.insert(spread(i), spread(i / 2));
            let now = (
                recent.wires.allocation_size(),
                recent.ids.allocation_size(),
                recent.ring.capacity(),
            );
            assert_eq!(now, taken, "reallocated after {i} events");
        }
        let last = 20 * capacity as u64 - 1;
        assert_eq!(recent.wires.len(), capacity);
        assert!(recent.knows_wire(spread(last)));
        assert!(recent.knows_wire(spread(last + 1 - capacity as u64)));
        assert!(!recent.knows_wire(spread(last - capacity as u64)));
        // Ids shared by two remembered wires stay known until both are forgotten.
        assert!(recent.knows_id(spread(last / 2)));
        assert!(!recent.knows_id(spread((last - capacity as u64) / 2 - 1)));
    }

    /// At the validator's default of 200,000 events the filter takes under 9 MB (two `HashMap`s and a
    /// queue took 19.4 MB).
    #[test]
    fn the_default_filter_takes_under_9_mb() {
        let recent = Recent::new(200_000);
        let bytes = recent.ring.capacity() * size_of::<Seen>()
            + recent.wires.allocation_size()
            + recent.ids.allocation_size();
        assert!(bytes < 9_000_000, "{bytes} bytes");
    }

    /// Against the plainest model — the last `capacity` distinct wires accepted, with their ids — under
    /// a random mix of repeated wires and shared ids, the filter answers every question the same.
    #[test]
    fn it_remembers_exactly_the_last_events_accepted() {
        let mut rng = StdRng::seed_from_u64(7);
        for capacity in [1, 2, 7, 64] {
            let mut recent = Recent::new(capacity);
            let mut model: VecDeque<(u64, u64)> = VecDeque::new();
            for _ in 0..5_000 {
                let (wire, id) = (
                    spread(rng.random_range(0..40)),
                    spread(rng.random_range(0..15)),
                );
                recent.insert(wire, id);
                if !model.iter().any(|&(w, _)| w == wire) {
                    if model.len() == capacity {
                        model.pop_front();
                    }
                    model.push_back((wire, id));
                }
                for x in 0..40 {
                    let w = spread(x);
                    assert_eq!(recent.knows_wire(w), model.iter().any(|&(m, _)| m == w));
                }
                for x in 0..15 {
                    let i = spread(x);
                    assert_eq!(recent.knows_id(i), model.iter().any(|&(_, m)| m == i));
                }
            }
            assert_eq!(recent.wires.len(), model.len());
        }
    }

    #[test]
    fn a_filter_of_no_capacity_remembers_nothing() {
        let mut recent = Recent::new(0);
        recent.insert(1, 1);
        assert!(!recent.knows_wire(1) && !recent.knows_id(1));
    }
}
