//! Message chains: the publisher side assigns each message its reference and the link to the previous one;
//! the subscriber side orders each `(publisher, chain id)` chain, drops duplicates, and reports exactly which
//! references are missing so that a resend can fill the gap.

use std::collections::{BTreeMap, HashMap};

use crate::{
    address::Address,
    message::{ChainId, MessageRef},
    stream::StreamPartId,
};

/// The publisher's side of one message chain: hands out references in order.
#[derive(Clone, Debug, Default)]
pub struct MessageChain {
    last: Option<MessageRef>,
}

impl MessageChain {
    /// A chain that has published nothing yet.
    pub fn new() -> MessageChain {
        MessageChain::default()
    }

    /// The reference for the next message at wall-clock `timestamp` (ms), and the previous reference.
    ///
    /// Messages at the same millisecond get increasing sequence numbers. If the clock goes backwards the
    /// chain keeps the last timestamp and counts on, so references always increase.
    pub fn next(&mut self, timestamp: u64) -> (MessageRef, Option<MessageRef>) {
        let prev = self.last;
        let next = match prev {
            // Out of sequence numbers in this millisecond: move on to the next one.
            Some(last) if timestamp <= last.timestamp && last.sequence_number == u32::MAX => {
                MessageRef::new(last.timestamp.saturating_add(1), 0)
            }
            Some(last) if timestamp <= last.timestamp => {
                MessageRef::new(last.timestamp, last.sequence_number + 1)
            }
            _ => MessageRef::new(timestamp, 0),
        };
        self.last = Some(next);
        (next, prev)
    }

    /// The last reference handed out.
    pub fn last(&self) -> Option<MessageRef> {
        self.last
    }

    /// Takes back the last reference, `at`, when the message never went out (the network refused it),
    /// so the next message links to `prev` and subscribers see no gap. Does nothing (and returns false)
    /// when another reference was handed out since.
    pub fn take_back(&mut self, at: MessageRef, prev: Option<MessageRef>) -> bool {
        if self.last == Some(at) {
            self.last = prev;
            true
        } else {
            false
        }
    }
}

/// One chain of one publisher in one stream part.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct ChainKey {
    /// The stream part the chain is in (a chain is per stream part: a process publishing to two
    /// partitions runs two chains, or links that subscribers of one partition never see would look like
    /// gaps).
    pub part: StreamPartId,
    /// The publisher.
    pub publisher: Address,
    /// The publisher's chain id.
    pub chain_id: ChainId,
}

/// A run of messages known to be missing: everything after `from` up to and including `to`.
///
/// `to` is exactly a missing reference (the `prev` of a message that arrived); `from` is the last
/// reference delivered, so a resend "from `from` (exclusive) to `to` (inclusive)" returns exactly the
/// missing messages.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct Gap {
    /// The chain with the gap.
    pub chain: ChainKey,
    /// The last reference before the gap (exclusive bound).
    pub from: MessageRef,
    /// The last missing reference (inclusive bound).
    pub to: MessageRef,
}

/// What became of a message given to [`ChainTracker::ingest`].
#[derive(Debug, PartialEq, Eq)]
pub enum Ingest<T> {
    /// The message is next in its chain: deliver these, in order — the message, then any buffered
    /// messages its arrival connected.
    Deliver(Vec<T>),
    /// Already delivered or already waiting: drop it.
    Duplicate,
    /// A message before it is missing; it waits until the gap is filled. `gap` is the newly found missing
    /// range, or `None` when the message directly follows one that is already waiting (the gap before
    /// that one was reported already).
    Buffered {
        /// The newly detected missing range, if any.
        gap: Option<Gap>,
    },
    /// Too many messages wait on this chain; this one was dropped. Resend will bring it again.
    Overflow,
}

#[derive(Debug)]
struct Pending<T> {
    prev: Option<MessageRef>,
    item: T,
}

#[derive(Debug)]
struct ChainState<T> {
    last: MessageRef,
    waiting: BTreeMap<MessageRef, Pending<T>>,
    /// When the chain last changed, in ingest calls; the least recently changed chain is evicted first.
    touched: u64,
}

/// Orders messages per chain, drops duplicates and detects gaps. Generic over the item it carries
/// (a decoded message, an index...). Time is not its business: the caller decides when a gap has waited
/// long enough to ask for a resend.
///
/// Bounded: at most `max_waiting` out-of-order messages per chain and `max_chains` chains; a new chain
/// beyond that evicts the least recently active one (whose next message then starts it afresh).
#[derive(Debug)]
pub struct ChainTracker<T> {
    chains: HashMap<ChainKey, ChainState<T>>,
    max_waiting: usize,
    max_chains: usize,
    tick: u64,
}

impl<T> ChainTracker<T> {
    /// A tracker that keeps at most `max_waiting` out-of-order messages per chain and at most
    /// `max_chains` chains (at least one).
    pub fn new(max_waiting: usize, max_chains: usize) -> ChainTracker<T> {
        ChainTracker {
            chains: HashMap::new(),
            max_waiting,
            max_chains: max_chains.max(1),
            tick: 0,
        }
    }

    fn insert_chain(&mut self, chain: ChainKey, last: MessageRef) {
        if !self.chains.contains_key(&chain) && self.chains.len() >= self.max_chains {
            let oldest = self
                .chains
                .iter()
                .min_by_key(|(_, c)| c.touched)
                .map(|(k, _)| k.clone());
            if let Some(oldest) = oldest {
                self.chains.remove(&oldest);
            }
        }
        self.chains.insert(
            chain,
            ChainState {
                last,
                waiting: BTreeMap::new(),
                touched: self.tick,
            },
        );
    }

    /// Declares that `chain` has been delivered up to `last` (e.g. after a resend, or when subscribing
    /// from a known point), so that the next message must link to it.
    pub fn start_after(&mut self, chain: ChainKey, last: MessageRef) {
        self.tick += 1;
        self.insert_chain(chain, last);
    }

    /// The last reference delivered on `chain`.
    pub fn last_delivered(&self, chain: &ChainKey) -> Option<MessageRef> {
        self.chains.get(chain).map(|c| c.last)
    }

    /// How many chains are tracked.
    pub fn chain_count(&self) -> usize {
        self.chains.len()
    }

    /// Takes one message with reference `at` and link `prev`.
    ///
    /// The first message of a chain the tracker has not seen is delivered as it is (there is nothing to
    /// compare it with); use [`ChainTracker::start_after`] to require a link.
    pub fn ingest(
        &mut self,
        chain: ChainKey,
        at: MessageRef,
        prev: Option<MessageRef>,
        item: T,
    ) -> Ingest<T> {
        self.tick += 1;
        let tick = self.tick;
        let Some(state) = self.chains.get_mut(&chain) else {
            self.insert_chain(chain, at);
            return Ingest::Deliver(vec![item]);
        };
        if at <= state.last || state.waiting.contains_key(&at) {
            return Ingest::Duplicate;
        }
        match prev {
            Some(missing) if missing > state.last => {
                if state.waiting.len() >= self.max_waiting {
                    return Ingest::Overflow;
                }
                let from = state
                    .waiting
                    .range(..at)
                    .next_back()
                    .map_or(state.last, |(r, _)| *r)
                    .max(state.last);
                state.waiting.insert(at, Pending { prev, item });
                state.touched = tick;
                let gap = (missing > from).then_some(Gap {
                    chain,
                    from,
                    to: missing,
                });
                Ingest::Buffered { gap }
            }
            // Linked to what we have (or a chain start, or a link that is older than what we have, as
            // when a publisher restarts a chain): deliver and drain what it connects.
            _ => {
                // Messages waiting below `at` can no longer be linked (the publisher started over):
                // they go first, so delivery stays in reference order.
                let above = state.waiting.split_off(&at);
                let mut out: Vec<T> = core::mem::replace(&mut state.waiting, above)
                    .into_values()
                    .map(|p| p.item)
                    .collect();
                out.push(item);
                state.last = at;
                while let Some(entry) = state.waiting.first_entry() {
                    if entry.get().prev.is_some_and(|p| p > state.last) {
                        break;
                    }
                    let (next_ref, pending) = entry.remove_entry();
                    state.last = next_ref;
                    out.push(pending.item);
                }
                state.touched = tick;
                Ingest::Deliver(out)
            }
        }
    }

    /// Every gap currently open on `chain`, oldest first: the exact ranges to resend.
    pub fn gaps(&self, chain: &ChainKey) -> Vec<Gap> {
        let Some(state) = self.chains.get(chain) else {
            return Vec::new();
        };
        let mut gaps = Vec::new();
        let mut cursor = state.last;
        for (at, pending) in &state.waiting {
            if let Some(prev) = pending.prev
                && prev > cursor
            {
                gaps.push(Gap {
                    chain: chain.clone(),
                    from: cursor,
                    to: prev,
                });
            }
            cursor = *at;
        }
        gaps
    }

    /// How many messages wait on `chain`.
    pub fn waiting(&self, chain: &ChainKey) -> usize {
        self.chains.get(chain).map_or(0, |c| c.waiting.len())
    }

    /// Gives up on `chain`'s gaps (e.g. the resend found nothing): delivers what waits, in order, and moves
    /// the chain past them.
    pub fn skip_gaps(&mut self, chain: &ChainKey) -> Vec<T> {
        let Some(state) = self.chains.get_mut(chain) else {
            return Vec::new();
        };
        let waiting = core::mem::take(&mut state.waiting);
        if let Some((last, _)) = waiting.last_key_value() {
            state.last = *last;
        }
        waiting.into_values().map(|p| p.item).collect()
    }

    /// Forgets `chain` entirely.
    pub fn remove(&mut self, chain: &ChainKey) {
        self.chains.remove(chain);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> ChainKey {
        key_n(7)
    }

    fn key_n(n: u8) -> ChainKey {
        ChainKey {
            part: "rivulet.eth/s#0".parse().unwrap(),
            publisher: Address([n; 20]),
            chain_id: ChainId::new("c1").unwrap(),
        }
    }

    fn r(t: u64) -> MessageRef {
        MessageRef::new(t, 0)
    }

    #[test]
    fn a_refused_reference_is_taken_back_only_if_it_is_the_last() {
        let mut chain = MessageChain::new();
        let (a, _) = chain.next(100);
        let (b, prev_b) = chain.next(200);
        assert!(chain.take_back(b, prev_b));
        assert_eq!(chain.last(), Some(a));
        assert_eq!(
            chain.next(300),
            (r(300), Some(a)),
            "the next one links to the last that went out"
        );
        let (d, prev_d) = chain.next(400);
        let _ = chain.next(500);
        assert!(
            !chain.take_back(d, prev_d),
            "a later reference was handed out since"
        );
    }

    #[test]
    fn publisher_chain_counts_within_a_millisecond_and_survives_clock_skew() {
        let mut chain = MessageChain::new();
        assert_eq!(chain.next(100), (MessageRef::new(100, 0), None));
        assert_eq!(
            chain.next(100),
            (MessageRef::new(100, 1), Some(MessageRef::new(100, 0)))
        );
        assert_eq!(
            chain.next(99),
            (MessageRef::new(100, 2), Some(MessageRef::new(100, 1)))
        );
        assert_eq!(
            chain.next(101),
            (MessageRef::new(101, 0), Some(MessageRef::new(100, 2)))
        );
    }

    #[test]
    fn in_order_messages_are_delivered_and_duplicates_dropped() {
        let mut t = ChainTracker::new(10, 100);
        assert_eq!(t.ingest(key(), r(1), None, 1), Ingest::Deliver(vec![1]));
        assert_eq!(
            t.ingest(key(), r(2), Some(r(1)), 2),
            Ingest::Deliver(vec![2])
        );
        assert_eq!(t.ingest(key(), r(2), Some(r(1)), 2), Ingest::Duplicate);
        assert_eq!(t.ingest(key(), r(1), None, 1), Ingest::Duplicate);
    }

    #[test]
    fn gaps_are_reported_exactly_and_filled_in_order() {
        let mut t = ChainTracker::new(10, 100);
        t.ingest(key(), r(1), None, 1);
        // 2 and 3 missing, 4 arrives; 5 missing, 6 arrives.
        assert_eq!(
            t.ingest(key(), r(4), Some(r(3)), 4),
            Ingest::Buffered {
                gap: Some(Gap {
                    chain: key(),
                    from: r(1),
                    to: r(3)
                })
            }
        );
        assert_eq!(
            t.ingest(key(), r(6), Some(r(5)), 6),
            Ingest::Buffered {
                gap: Some(Gap {
                    chain: key(),
                    from: r(4),
                    to: r(5)
                })
            }
        );
        assert_eq!(t.ingest(key(), r(6), Some(r(5)), 6), Ingest::Duplicate);
        assert_eq!(
            t.gaps(&key()),
            vec![
                Gap {
                    chain: key(),
                    from: r(1),
                    to: r(3)
                },
                Gap {
                    chain: key(),
                    from: r(4),
                    to: r(5)
                }
            ]
        );
        // The resend of the first gap brings 2 and 3.
        assert_eq!(
            t.ingest(key(), r(2), Some(r(1)), 2),
            Ingest::Deliver(vec![2])
        );
        assert_eq!(
            t.ingest(key(), r(3), Some(r(2)), 3),
            Ingest::Deliver(vec![3, 4])
        );
        assert_eq!(
            t.gaps(&key()),
            vec![Gap {
                chain: key(),
                from: r(4),
                to: r(5)
            }]
        );
        assert_eq!(
            t.ingest(key(), r(5), Some(r(4)), 5),
            Ingest::Deliver(vec![5, 6])
        );
        assert!(t.gaps(&key()).is_empty());
        assert_eq!(t.last_delivered(&key()), Some(r(6)));
    }

    #[test]
    fn waiting_is_bounded_and_gaps_can_be_skipped() {
        let mut t = ChainTracker::new(2, 100);
        t.ingest(key(), r(1), None, 1);
        assert!(matches!(
            t.ingest(key(), r(3), Some(r(2)), 3),
            Ingest::Buffered { .. }
        ));
        assert!(matches!(
            t.ingest(key(), r(5), Some(r(4)), 5),
            Ingest::Buffered { .. }
        ));
        assert_eq!(t.ingest(key(), r(7), Some(r(6)), 7), Ingest::Overflow);
        assert_eq!(t.waiting(&key()), 2);
        assert_eq!(t.skip_gaps(&key()), vec![3, 5]);
        assert_eq!(
            t.ingest(key(), r(7), Some(r(6)), 7),
            Ingest::Buffered {
                gap: Some(Gap {
                    chain: key(),
                    from: r(5),
                    to: r(6)
                })
            }
        );
    }

    #[test]
    fn a_restarted_chain_flushes_what_waited_below_it_first() {
        let mut t = ChainTracker::new(4, 100);
        t.ingest(key(), r(1), None, 1);
        assert!(matches!(
            t.ingest(key(), r(4), Some(r(3)), 4),
            Ingest::Buffered { .. }
        ));
        assert_eq!(
            t.ingest(key(), r(10), None, 10),
            Ingest::Deliver(vec![4, 10])
        );
        assert!(t.gaps(&key()).is_empty());
    }

    #[test]
    fn a_message_behind_a_waiting_one_reports_no_new_gap() {
        let mut t = ChainTracker::new(10, 100);
        t.ingest(key(), r(1), None, 1);
        assert!(matches!(
            t.ingest(key(), r(4), Some(r(3)), 4),
            Ingest::Buffered { gap: Some(_) }
        ));
        // 5 follows 4 directly: nothing new is missing.
        assert_eq!(
            t.ingest(key(), r(5), Some(r(4)), 5),
            Ingest::Buffered { gap: None }
        );
        assert_eq!(t.gaps(&key()).len(), 1);
        assert_eq!(
            t.ingest(key(), r(3), Some(r(1)), 3),
            Ingest::Deliver(vec![3, 4, 5])
        );
    }

    #[test]
    fn chains_are_per_stream_part_and_bounded() {
        let mut t = ChainTracker::new(10, 2);
        let mut other_part = key();
        other_part.part = "rivulet.eth/s#1".parse().unwrap();
        t.ingest(key(), r(1), None, 1);
        // Same publisher and chain id in another partition is another chain.
        assert_eq!(
            t.ingest(other_part.clone(), r(1), None, 1),
            Ingest::Deliver(vec![1])
        );
        assert_eq!(t.chain_count(), 2);
        t.ingest(key(), r(2), Some(r(1)), 2);
        // A third chain evicts the least recently active (other_part).
        t.ingest(key_n(9), r(1), None, 1);
        assert_eq!(t.chain_count(), 2);
        assert_eq!(t.last_delivered(&other_part), None);
        assert_eq!(t.last_delivered(&key()), Some(r(2)));
    }

    #[test]
    fn publisher_chain_moves_on_when_sequence_numbers_run_out() {
        let mut chain = MessageChain::new();
        chain.next(100);
        chain.last = Some(MessageRef::new(100, u32::MAX));
        assert_eq!(chain.next(100).0, MessageRef::new(101, 0));
    }

    #[test]
    fn start_after_requires_the_link() {
        let mut t = ChainTracker::new(4, 100);
        t.start_after(key(), r(10));
        assert!(matches!(
            t.ingest(key(), r(12), Some(r(11)), 12),
            Ingest::Buffered { .. }
        ));
        assert_eq!(
            t.ingest(key(), r(11), Some(r(10)), 11),
            Ingest::Deliver(vec![11, 12])
        );
    }
}
