//! Publisher-chain order for the node's local subscribers. Gossip can bring a chain's events out of
//! order (a mesh has several paths); an event whose predecessor has not come waits up to [`ORDER_WAIT`],
//! then is handed out anyway (subscribers fill real gaps by resend).
//!
//! Pure state: events go in with [`LocalOrder::ingest`], and come out, in order, from it and from
//! [`LocalOrder::overdue`].

use std::{
    collections::HashMap,
    time::{Duration, Instant},
};

use std::sync::Arc;

use rivulet_protocol::{ChainKey, ChainTracker, Ingest, StreamMessage};

/// How long an event waits for its chain predecessor before local subscribers get it anyway.
pub(crate) const ORDER_WAIT: Duration = Duration::from_millis(1000);

/// Chains waited on at most, and events waiting per chain.
const MAX_CHAINS: usize = 100_000;
const MAX_WAITING: usize = 1024;

/// An accepted event and its wire bytes, shared by everyone it goes to.
pub(crate) type Accepted = (Arc<StreamMessage>, Arc<[u8]>);

/// Orders accepted events per publisher chain.
#[derive(Debug)]
pub(crate) struct LocalOrder {
    tracker: ChainTracker<Accepted>,
    /// Chains with events waiting for a predecessor, and since when.
    waits: HashMap<ChainKey, Instant>,
}

impl Default for LocalOrder {
    fn default() -> Self {
        LocalOrder {
            tracker: ChainTracker::new(MAX_WAITING, MAX_CHAINS),
            waits: HashMap::new(),
        }
    }
}

impl LocalOrder {
    /// Takes an accepted event at `now`; returns what can go out now, in order.
    pub(crate) fn ingest(&mut self, event: Accepted, now: Instant) -> Vec<Accepted> {
        let message = &event.0;
        let key = ChainKey {
            part: message.id().stream_part(),
            publisher: message.id().publisher,
            chain_id: message.id().chain_id.clone(),
        };
        let (at, prev) = (message.message_ref(), message.body.prev);
        match self.tracker.ingest(key.clone(), at, prev, event.clone()) {
            Ingest::Deliver(items) => {
                if self.tracker.waiting(&key) == 0 {
                    self.waits.remove(&key);
                }
                items
            }
            // Not a repeat (the validator drops those): an event older than what subscribers already
            // got, arriving after its gap was given up. Late is better than lost.
            Ingest::Duplicate => vec![event],
            Ingest::Buffered { .. } => {
                self.waits.entry(key).or_insert(now);
                Vec::new()
            }
            // Too many wait on this chain: they go out past their gaps, and this one after them.
            Ingest::Overflow => {
                let mut out = self.release(&key);
                out.push(event);
                out
            }
        }
    }

    /// Whether any chain waits for a predecessor.
    pub(crate) fn is_waiting(&self) -> bool {
        !self.waits.is_empty()
    }

    /// Events whose chains waited [`ORDER_WAIT`] or longer at `now`, handed out past their gaps.
    pub(crate) fn overdue(&mut self, now: Instant) -> Vec<Accepted> {
        let overdue: Vec<ChainKey> = self
            .waits
            .iter()
            .filter(|(_, since)| now.duration_since(**since) >= ORDER_WAIT)
            .map(|(k, _)| k.clone())
            .collect();
        overdue.iter().flat_map(|key| self.release(key)).collect()
    }

    fn release(&mut self, key: &ChainKey) -> Vec<Accepted> {
        self.waits.remove(key);
        self.tracker.skip_gaps(key)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use rivulet_protocol::{ChainId, ChainSigner, ContentType, MessageType, Signer};

    use super::*;

    fn chain(n: usize) -> Vec<Accepted> {
        let mut publisher = ChainSigner::new(
            Signer::from_bytes(&[3; 32]).unwrap(),
            ChainId::new("c").unwrap(),
        );
        let part = "rivulet.eth/a#0".parse().unwrap();
        (0..n)
            .map(|i| {
                let m = publisher
                    .sign_next(
                        &part,
                        1_000 + i as u64,
                        MessageType::Data,
                        ContentType::Json,
                        b"{}".to_vec(),
                        None,
                        &mut rand::rng(),
                    )
                    .unwrap();
                let wire: Arc<[u8]> = m.encode().unwrap().into();
                (Arc::new(m), wire)
            })
            .collect()
    }

    fn times(events: &[Accepted]) -> Vec<u64> {
        events.iter().map(|(m, _)| m.id().timestamp).collect()
    }

    #[test]
    fn an_event_waits_for_its_predecessor_then_both_go_in_order() {
        let events = chain(3);
        let mut order = LocalOrder::default();
        let now = Instant::now();
        assert_eq!(times(&order.ingest(events[0].clone(), now)), [1_000]);
        assert!(order.ingest(events[2].clone(), now).is_empty());
        assert!(order.is_waiting());
        assert_eq!(times(&order.ingest(events[1].clone(), now)), [1_001, 1_002]);
        assert!(!order.is_waiting());
    }

    #[test]
    fn a_lost_predecessor_is_given_up_after_the_wait() {
        let events = chain(3);
        let mut order = LocalOrder::default();
        let now = Instant::now();
        order.ingest(events[0].clone(), now);
        assert!(order.ingest(events[2].clone(), now).is_empty());
        assert!(order.overdue(now + ORDER_WAIT / 2).is_empty());
        assert_eq!(times(&order.overdue(now + ORDER_WAIT)), [1_002]);
        // The lost one, late: still handed out.
        assert_eq!(times(&order.ingest(events[1].clone(), now)), [1_001]);
    }
}
