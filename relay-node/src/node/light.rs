//! Light clients' sessions on this node, their entry node: who each signed in as, what it subscribes
//! to, and the queue of events waiting to be pushed to it.
//!
//! Each client has one bounded queue; at most [`MAX_DELIVERIES_IN_FLIGHT`] delivery batches are
//! outstanding per client (numbered, so the client takes them in order), so a slow client only slows
//! itself, and one that falls more than [`MAX_QUEUED`] events (or [`MAX_QUEUED_BYTES`]) behind loses
//! the oldest and is told how many (`Lagged`; its chains show the gap and it resends). The subscribe
//! permission is checked again before every batch, so a lapsed licence stops delivery (`Ended`).
//!
//! A subscription is either a reader's (every event; needs subscribe permission) or a publisher's key
//! service (`ServeKeys`: only group-key requests; needs publish permission).
//!
//! Pure state: the event loop checks permissions, sends what [`LightSessions::next_delivery`] hands it,
//! and joins or leaves topics as subscriptions come and go.

use std::{
    collections::{HashMap, HashSet, VecDeque},
    sync::Arc,
};

use rivulet_network::{
    ReaderProof,
    libp2p::PeerId,
    light::{Delivery, MAX_DELIVERIES_IN_FLIGHT, MAX_DELIVERY_BATCH, MAX_DELIVERY_BATCH_BYTES},
};
use rivulet_protocol::{Address, MessageType, StreamPartId};

/// Events queued per client before the oldest are dropped.
const MAX_QUEUED: usize = 8_192;
/// Bytes of events queued per client before the oldest are dropped (the newest event always stays).
const MAX_QUEUED_BYTES: usize = 32 * 1024 * 1024;

/// What a light subscription receives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Every event (a reader).
    Events,
    /// Only group-key requests (a publisher serving its keys).
    KeyRequests,
}

/// One light client connected to this node.
#[derive(Debug, Default)]
struct LightClient {
    /// The address it signed in as (anonymous until then: public streams only).
    address: Option<Address>,
    /// When a session key's authorisation ends (Unix seconds, by the chain's clock); anonymous after.
    authorised_until: Option<u64>,
    /// Its sign-in, forwarded when this node asks a peer for history on its behalf.
    proof: Option<ReaderProof>,
    parts: HashMap<StreamPartId, Mode>,
    /// Events waiting for delivery; shared with the other clients' queues.
    queue: VecDeque<(StreamPartId, Arc<[u8]>)>,
    /// The bytes of events in `queue`.
    queued_bytes: usize,
    in_flight: usize,
    /// The number of the next delivery to it ([`Delivery`]'s `seq`), from 0 for its connection.
    next_seq: u64,
    dropped: HashMap<StreamPartId, u64>,
}

impl LightClient {
    /// Queues an event for delivery; beyond [`MAX_QUEUED`] events or [`MAX_QUEUED_BYTES`] the oldest
    /// are dropped and counted per part (the newest always stays).
    fn enqueue(&mut self, part: &StreamPartId, wire: Arc<[u8]>) {
        self.queued_bytes += wire.len();
        self.queue.push_back((part.clone(), wire));
        while self.queue.len() > 1
            && (self.queue.len() > MAX_QUEUED || self.queued_bytes > MAX_QUEUED_BYTES)
            && let Some((oldest, dropped)) = self.queue.pop_front()
        {
            self.queued_bytes -= dropped.len();
            *self.dropped.entry(oldest).or_default() += 1;
        }
    }

    /// Takes the next batch of queued events, all of one part: at most [`MAX_DELIVERY_BATCH`] events and
    /// [`MAX_DELIVERY_BATCH_BYTES`] (a single larger event goes alone).
    fn take_batch(&mut self) -> Option<(StreamPartId, Vec<Arc<[u8]>>)> {
        let part = self.queue.front()?.0.clone();
        let mut messages = Vec::new();
        let mut bytes = 0;
        while messages.len() < MAX_DELIVERY_BATCH
            && self.queue.front().is_some_and(|(p, wire)| {
                *p == part
                    && (messages.is_empty() || bytes + wire.len() <= MAX_DELIVERY_BATCH_BYTES)
            })
        {
            if let Some((_, wire)) = self.queue.pop_front() {
                bytes += wire.len();
                self.queued_bytes -= wire.len();
                messages.push(wire);
            }
        }
        Some((part, messages))
    }
}

/// A delivery to send to a client, and what it means for the node.
#[derive(Debug)]
pub(crate) struct Outgoing {
    /// What to send.
    pub(crate) delivery: Delivery,
    /// How many events it carries.
    pub(crate) events: usize,
    /// A subscription that ended because its permission lapsed (the client was removed from it).
    pub(crate) ended: Option<StreamPartId>,
}

/// Every light client of this node.
#[derive(Debug)]
pub(crate) struct LightSessions {
    clients: HashMap<PeerId, LightClient>,
    by_part: HashMap<StreamPartId, HashSet<PeerId>>,
    /// Stream parts one client may subscribe to (as a reader or a key service).
    max_parts: usize,
}

impl Default for LightSessions {
    /// 1,000 stream parts a client.
    fn default() -> Self {
        LightSessions::new(1_000)
    }
}

impl LightSessions {
    /// No clients yet; each may subscribe to at most `max_parts` stream parts.
    pub(crate) fn new(max_parts: usize) -> LightSessions {
        LightSessions {
            clients: HashMap::new(),
            by_part: HashMap::new(),
            max_parts,
        }
    }

    /// Whether `peer` may subscribe to `part`: it does already, or it subscribes to fewer parts than
    /// one client may. `Err` holds that most.
    pub(crate) fn room_for(&self, peer: &PeerId, part: &StreamPartId) -> Result<(), usize> {
        match self.clients.get(peer) {
            Some(client)
                if !client.parts.contains_key(part) && client.parts.len() >= self.max_parts =>
            {
                Err(self.max_parts)
            }
            _ => Ok(()),
        }
    }

    /// Whether any light client subscribes to `part`.
    pub(crate) fn wants(&self, part: &StreamPartId) -> bool {
        self.by_part.get(part).is_some_and(|s| !s.is_empty())
    }

    /// `peer` signed in as `address` (until `until`, Unix seconds, for an authorised session key), as
    /// `proof` shows.
    pub(crate) fn sign_in(
        &mut self,
        peer: PeerId,
        address: Address,
        until: Option<u64>,
        proof: ReaderProof,
    ) {
        let client = self.clients.entry(peer).or_default();
        client.address = Some(address);
        client.authorised_until = until;
        client.proof = Some(proof);
    }

    /// The proof `peer` signed in with, for a peer that answers history on its behalf.
    pub(crate) fn proof(&self, peer: &PeerId) -> Option<ReaderProof> {
        self.clients.get(peer)?.proof.clone()
    }

    /// The address `peer` acts as at `now_secs`: its sign-in, while any authorisation of its key holds.
    pub(crate) fn acting_as(&self, peer: &PeerId, now_secs: u64) -> Option<Address> {
        let client = self.clients.get(peer)?;
        match client.authorised_until {
            Some(until) if until <= now_secs => None,
            _ => client.address,
        }
    }

    /// Subscribes `peer` to `part` in `mode` (the caller checked the permission). A reader's
    /// subscription covers key requests too; a key service never narrows a reader's. Returns true when
    /// the subscription is new (a local subscriber more for the part's topic).
    pub(crate) fn subscribe(&mut self, peer: PeerId, part: &StreamPartId, mode: Mode) -> bool {
        let client = self.clients.entry(peer).or_default();
        let mode = match client.parts.get(part) {
            Some(Mode::Events) => Mode::Events,
            _ => mode,
        };
        let new = client.parts.insert(part.clone(), mode).is_none();
        if new {
            self.by_part.entry(part.clone()).or_default().insert(peer);
        }
        new
    }

    /// Ends `peer`'s subscription to `part`; returns true when there was one.
    pub(crate) fn unsubscribe(&mut self, peer: PeerId, part: &StreamPartId) -> bool {
        let Some(client) = self.clients.get_mut(&peer) else {
            return false;
        };
        if client.parts.remove(part).is_none() {
            return false;
        }
        client.queue.retain(|(p, _)| p != part);
        client.queued_bytes = client.queue.iter().map(|(_, wire)| wire.len()).sum();
        if let Some(peers) = self.by_part.get_mut(part) {
            peers.remove(&peer);
            if peers.is_empty() {
                self.by_part.remove(part);
            }
        }
        true
    }

    /// Forgets a client whose last connection closed; returns the parts it subscribed to.
    pub(crate) fn disconnected(&mut self, peer: PeerId) -> Vec<StreamPartId> {
        let parts: Vec<StreamPartId> = self
            .clients
            .get(&peer)
            .map(|c| c.parts.keys().cloned().collect())
            .unwrap_or_default();
        for part in &parts {
            self.unsubscribe(peer, part);
        }
        self.clients.remove(&peer);
        parts
    }

    /// Queues an accepted event for the clients subscribed to its part (key services get only
    /// group-key requests); returns the clients to flush.
    pub(crate) fn enqueue(
        &mut self,
        part: &StreamPartId,
        kind: MessageType,
        wire: &Arc<[u8]>,
    ) -> Vec<PeerId> {
        let Some(peers) = self.by_part.get(part) else {
            return Vec::new();
        };
        let mut to_flush = Vec::with_capacity(peers.len());
        for peer in peers {
            let Some(client) = self.clients.get_mut(peer) else {
                continue;
            };
            if client.parts.get(part) == Some(&Mode::KeyRequests)
                && kind != MessageType::GroupKeyRequest
            {
                continue;
            }
            client.enqueue(part, wire.clone());
            to_flush.push(*peer);
        }
        to_flush
    }

    /// The next delivery for `peer`, if it has room in flight and something waits: a `Lagged` notice
    /// first, then events — unless `allowed(address, part, mode)` says its subscription lapsed, in which
    /// case the subscription ends (`Ended`). Counts the delivery as in flight.
    pub(crate) fn next_delivery(
        &mut self,
        peer: PeerId,
        now_secs: u64,
        allowed: impl Fn(Option<Address>, &StreamPartId, Mode) -> bool,
    ) -> Option<Outgoing> {
        let acting_as = self.acting_as(&peer, now_secs);
        let client = self.clients.get_mut(&peer)?;
        if client.in_flight >= MAX_DELIVERIES_IN_FLIGHT {
            return None;
        }
        let seq = Some(client.next_seq);
        let outgoing = if let Some(part) = client.dropped.keys().next().cloned() {
            let dropped = client.dropped.remove(&part).unwrap_or(0);
            Outgoing {
                delivery: Delivery::Lagged {
                    part: part.to_string(),
                    dropped,
                    seq,
                },
                events: 0,
                ended: None,
            }
        } else {
            let (part, messages) = client.take_batch()?;
            let mode = client.parts.get(&part).copied().unwrap_or(Mode::Events);
            if allowed(acting_as, &part, mode) {
                Outgoing {
                    events: messages.len(),
                    delivery: Delivery::Events {
                        part: part.to_string(),
                        messages: messages.iter().map(|w| w.to_vec().into()).collect(),
                        seq,
                    },
                    ended: None,
                }
            } else {
                self.unsubscribe(peer, &part);
                Outgoing {
                    delivery: Delivery::Ended {
                        part: part.to_string(),
                        reason: format!("subscribe permission on {} ended", part.stream_id),
                        seq,
                    },
                    events: 0,
                    ended: Some(part),
                }
            }
        };
        if let Some(client) = self.clients.get_mut(&peer) {
            client.in_flight += 1;
            client.next_seq += 1;
        }
        Some(outgoing)
    }

    /// A delivery to `peer` was acknowledged or failed: room for the next. False for an unknown client.
    pub(crate) fn delivery_done(&mut self, peer: PeerId) -> bool {
        match self.clients.get_mut(&peer) {
            Some(client) => {
                client.in_flight = client.in_flight.saturating_sub(1);
                true
            }
            None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn part(name: &str) -> StreamPartId {
        format!("rivulet.eth/{name}#0").parse().unwrap()
    }

    #[test]
    fn a_slow_clients_queue_is_bounded_by_count_and_bytes() {
        let (a, b) = (part("a"), part("b"));
        let mut client = LightClient::default();
        // Large events: the byte bound drops the oldest, counted per part; the newest stays.
        let mib: Arc<[u8]> = Arc::from(vec![0u8; 1 << 20]);
        let fit = MAX_QUEUED_BYTES >> 20;
        for i in 0..fit + 18 {
            client.enqueue(if i < 10 { &a } else { &b }, mib.clone());
        }
        assert_eq!(client.queue.len(), fit);
        assert_eq!(client.queued_bytes, MAX_QUEUED_BYTES);
        assert_eq!(client.dropped.get(&a), Some(&10));
        assert_eq!(client.dropped.get(&b), Some(&8));
        // One event larger than the bound still goes through, alone.
        client.enqueue(&a, Arc::from(vec![0u8; MAX_QUEUED_BYTES + 1]));
        assert_eq!(client.queue.len(), 1);
        // Small events: the count bound.
        let mut client = LightClient::default();
        for _ in 0..MAX_QUEUED + 5 {
            client.enqueue(&a, Arc::from(&b"{}"[..]));
        }
        assert_eq!(client.queue.len(), MAX_QUEUED);
        assert_eq!(client.dropped.get(&a), Some(&5));
    }

    #[test]
    fn deliveries_are_bounded_in_flight_and_end_when_the_permission_lapses() {
        let mut sessions = LightSessions::default();
        let (peer, a) = (PeerId::random(), part("a"));
        let reader = Address([9; 20]);
        let proof = ReaderProof::Challenge {
            nonce: String::new(),
            address: reader.to_checksum(),
            signature: Vec::new().into(),
        };
        sessions.sign_in(peer, reader, Some(100), proof.clone());
        assert_eq!(sessions.proof(&peer), Some(proof));
        assert_eq!(sessions.acting_as(&peer, 99), Some(reader));
        assert_eq!(sessions.acting_as(&peer, 100), None, "authorisation over");
        assert!(sessions.subscribe(peer, &a, Mode::Events));
        assert!(!sessions.subscribe(peer, &a, Mode::KeyRequests), "not new");
        let wire: Arc<[u8]> = Arc::from(&b"event"[..]);
        for _ in 0..MAX_DELIVERIES_IN_FLIGHT * MAX_DELIVERY_BATCH + 1 {
            assert_eq!(sessions.enqueue(&a, MessageType::Data, &wire), vec![peer]);
        }
        let yes = |_: Option<Address>, _: &StreamPartId, _: Mode| true;
        for n in 0..MAX_DELIVERIES_IN_FLIGHT {
            let out = sessions.next_delivery(peer, 0, yes).unwrap();
            assert_eq!(out.events, MAX_DELIVERY_BATCH);
            assert_eq!(out.delivery.seq(), Some(n as u64), "numbered in order");
        }
        assert!(
            sessions.next_delivery(peer, 0, yes).is_none(),
            "room in flight used up"
        );
        assert!(sessions.delivery_done(peer));
        let out = sessions.next_delivery(peer, 0, |_, _, _| false).unwrap();
        assert!(matches!(out.delivery, Delivery::Ended { .. }));
        assert_eq!(
            out.delivery.seq(),
            Some(MAX_DELIVERIES_IN_FLIGHT as u64),
            "notices numbered too"
        );
        assert_eq!(out.ended, Some(a.clone()));
        assert!(!sessions.wants(&a));
        assert!(sessions.disconnected(peer).is_empty());
    }

    #[test]
    fn a_client_subscribes_to_at_most_its_share_of_parts() {
        let mut sessions = LightSessions::new(2);
        let peer = PeerId::random();
        for name in ["a", "b"] {
            assert_eq!(sessions.room_for(&peer, &part(name)), Ok(()));
            sessions.subscribe(peer, &part(name), Mode::Events);
        }
        assert_eq!(sessions.room_for(&peer, &part("c")), Err(2));
        // One it has already, or another client's first: room.
        assert_eq!(sessions.room_for(&peer, &part("a")), Ok(()));
        assert_eq!(sessions.room_for(&PeerId::random(), &part("c")), Ok(()));
        sessions.unsubscribe(peer, &part("b"));
        assert_eq!(sessions.room_for(&peer, &part("c")), Ok(()));
    }

    #[test]
    fn a_key_service_gets_only_key_requests() {
        let mut sessions = LightSessions::default();
        let (peer, a) = (PeerId::random(), part("a"));
        sessions.subscribe(peer, &a, Mode::KeyRequests);
        let wire: Arc<[u8]> = Arc::from(&b"event"[..]);
        assert!(sessions.enqueue(&a, MessageType::Data, &wire).is_empty());
        assert_eq!(
            sessions.enqueue(&a, MessageType::GroupKeyRequest, &wire),
            vec![peer]
        );
        assert_eq!(sessions.disconnected(peer), vec![a]);
    }
}
