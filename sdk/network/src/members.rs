//! Finding the other members of the stream parts a node is in. A topic's mesh forms only among nodes
//! that are directly connected, and the nodes discovery dials ([`crate::discovery::TARGET_PEERS`]) are
//! chosen by DHT distance, not by part: in a large network a part's few members would seldom meet. So a
//! node announces each part it joins as a provider record in the DHT, under [`part_key`], and while it
//! is connected to fewer than [`PART_PEERS`] nodes of the part it looks the part's providers up and
//! dials them — at once when it joins (at most [`MAX_LOOKUPS`] lookups at a time), then again after a
//! wait that doubles (from [`FIRST_WAIT_ROUNDS`] to [`MAX_WAIT_ROUNDS`] discovery rounds) while lookups
//! find no one new.
//!
//! Kademlia keeps at most 20 providers per key (the first that announced, so records cannot be
//! flooded away; in a part of many members those 20 are the ones later members dial, each up to
//! [`PART_PEERS`] of them, within what `network.max_incoming_connections` lets them take), its store
//! bounds the keys it holds ([`crate::dht::MAX_STORED_KEYS`]), and providers announce
//! again every [`crate::dht::PROVIDER_REPUBLISH`], so that a record of a node that went away lapses after
//! [`crate::dht::PROVIDER_TTL`].

use libp2p::{
    PeerId, Swarm,
    gossipsub::TopicHash,
    kad::{self, GetProvidersOk, QueryResult},
    swarm::dial_opts::{DialOpts, PeerCondition},
};
use rivulet_protocol::StreamPartId;
use tracing::{debug, warn};

use crate::{MESH, NodeBehaviour, topic};

/// How many nodes of each of its parts a node wants to be connected to: a full mesh's worth.
pub const PART_PEERS: usize = MESH.2;

/// Discovery rounds (5 s each) before a part's first repeated lookup.
pub const FIRST_WAIT_ROUNDS: u64 = 6;

/// The longest wait between two lookups of one part's members, in discovery rounds (8 minutes).
pub const MAX_WAIT_ROUNDS: u64 = 96;

/// Member lookups a node runs at once (a storage node joins many parts together).
pub const MAX_LOOKUPS: usize = 8;

/// The DHT key under which a stream part's members announce themselves: the UTF-8 bytes of
/// `/rivulet/part/1/` followed by the part (`<stream id>#<partition>`).
pub fn part_key(part: &StreamPartId) -> kad::RecordKey {
    kad::RecordKey::new(&format!("/rivulet/part/1/{part}"))
}

/// The wait before a part's next lookup, after one that dialed `dialed` new members, when the wait
/// before it was `wait` rounds.
pub fn next_wait(wait: u64, dialed: usize) -> u64 {
    if dialed > 0 {
        FIRST_WAIT_ROUNDS
    } else {
        (wait * 2).clamp(FIRST_WAIT_ROUNDS, MAX_WAIT_ROUNDS)
    }
}

/// One part the node is in, and where its members' lookup stands.
#[derive(Debug)]
struct Part {
    part: StreamPartId,
    topic: TopicHash,
    /// The round at which to look again.
    due: u64,
    /// The wait that set `due`.
    wait: u64,
    /// The lookup in flight, and how many nodes it dialed so far.
    query: Option<(kad::QueryId, usize)>,
}

/// The parts a node is in and the lookups of their members.
#[derive(Debug, Default)]
pub struct PartMembers {
    parts: Vec<Part>,
}

impl PartMembers {
    /// The node joined `part`: announces it and looks its members up now.
    pub fn joined(&mut self, swarm: &mut Swarm<NodeBehaviour>, part: &StreamPartId, round: u64) {
        if self.parts.iter().any(|p| &p.part == part) {
            return;
        }
        let kademlia = &mut swarm.behaviour_mut().kademlia;
        if let Err(e) = kademlia.start_providing(part_key(part)) {
            // Only when the store is full: the node still finds the part's members, they just cannot
            // find it through the DHT.
            warn!(%part, "cannot announce the part in the DHT: {e}");
        }
        self.parts.push(Part {
            part: part.clone(),
            topic: topic(part).hash(),
            due: round,
            wait: FIRST_WAIT_ROUNDS / 2,
            query: None,
        });
        self.look_up(swarm, round);
    }

    /// The node left `part`: it no longer announces it (records elsewhere lapse after
    /// [`crate::dht::PROVIDER_TTL`]).
    pub fn left(&mut self, swarm: &mut Swarm<NodeBehaviour>, part: &StreamPartId) {
        self.parts.retain(|p| &p.part != part);
        swarm
            .behaviour_mut()
            .kademlia
            .stop_providing(&part_key(part));
    }

    /// Starts a lookup for each part that is due and short of members, at most [`MAX_LOOKUPS`] in
    /// flight (the rest stay due for the next round).
    pub fn look_up(&mut self, swarm: &mut Swarm<NodeBehaviour>, round: u64) {
        let mut running = self.parts.iter().filter(|p| p.query.is_some()).count();
        for p in &mut self.parts {
            if running >= MAX_LOOKUPS {
                break;
            }
            if p.query.is_some() || p.due > round {
                continue;
            }
            if part_peers(swarm, &p.topic) >= PART_PEERS {
                p.due = round + p.wait;
                continue;
            }
            let id = swarm
                .behaviour_mut()
                .kademlia
                .get_providers(part_key(&p.part));
            p.query = Some((id, 0));
            running += 1;
        }
    }

    /// Takes a kademlia event: dials the members a lookup found, while the part is short of them.
    pub fn on_kademlia(
        &mut self,
        swarm: &mut Swarm<NodeBehaviour>,
        event: &kad::Event,
        round: u64,
    ) {
        let kad::Event::OutboundQueryProgressed {
            id,
            result: result @ QueryResult::GetProviders(_),
            step,
            ..
        } = event
        else {
            return;
        };
        let Some(p) = self
            .parts
            .iter_mut()
            .find(|p| p.query.is_some_and(|(q, _)| q == *id))
        else {
            return;
        };
        let Some((_, dialed)) = &mut p.query else {
            return;
        };
        if let QueryResult::GetProviders(Ok(GetProvidersOk::FoundProviders { providers, .. })) =
            result
        {
            let want = PART_PEERS
                .saturating_sub(part_peers(swarm, &p.topic))
                .saturating_sub(*dialed);
            let local = *swarm.local_peer_id();
            for peer in to_dial(providers, &local, |peer| swarm.is_connected(peer), want) {
                // The lookup holds the addresses the answers gave; kademlia hands them to the dial.
                let opts = DialOpts::peer_id(peer)
                    .condition(PeerCondition::DisconnectedAndNotDialing)
                    .build();
                match swarm.dial(opts) {
                    Ok(()) => *dialed += 1,
                    Err(e) => debug!(%peer, part = %p.part, "member dial failed: {e}"),
                }
            }
        }
        if step.last || !matches!(result, QueryResult::GetProviders(Ok(_))) {
            p.wait = next_wait(p.wait, *dialed);
            p.due = round + p.wait;
            p.query = None;
        }
    }
}

/// Which of the `found` providers to dial, `want` at most: neither the node itself (`local`) nor
/// those it is `connected` to.
pub fn to_dial<'a>(
    found: impl IntoIterator<Item = &'a PeerId>,
    local: &PeerId,
    connected: impl Fn(&PeerId) -> bool,
    want: usize,
) -> Vec<PeerId> {
    found
        .into_iter()
        .filter(|peer| *peer != local && !connected(peer))
        .take(want)
        .copied()
        .collect()
}

/// How many connected nodes are in `topic`.
fn part_peers(swarm: &Swarm<NodeBehaviour>, topic: &TopicHash) -> usize {
    swarm
        .behaviour()
        .gossipsub
        .all_peers()
        .filter(|(_, topics)| topics.contains(&topic))
        .count()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_parts_key_is_its_name_under_the_rivulet_prefix() {
        let part: StreamPartId = "0x70997970c51812dc3a010c7d01b50e0d17dc79c8/demo/sensors#3"
            .parse()
            .unwrap();
        assert_eq!(
            part_key(&part).as_ref(),
            b"/rivulet/part/1/0x70997970c51812dc3a010c7d01b50e0d17dc79c8/demo/sensors#3"
        );
    }

    #[test]
    fn a_lookup_dials_providers_other_than_itself_and_its_peers_up_to_what_it_wants() {
        let peers: Vec<PeerId> = (0..5).map(|_| PeerId::random()).collect();
        let (local, connected) = (peers[0], peers[1]);
        let dial = |want| to_dial(&peers, &local, |p| *p == connected, want);
        assert_eq!(dial(10), peers[2..]);
        assert_eq!(dial(2), peers[2..4]);
        assert!(dial(0).is_empty());
    }

    #[test]
    fn lookups_slow_down_while_they_find_no_one_and_speed_up_when_they_do() {
        let mut wait = FIRST_WAIT_ROUNDS / 2;
        let mut waits = Vec::new();
        for _ in 0..7 {
            wait = next_wait(wait, 0);
            waits.push(wait);
        }
        assert_eq!(waits, [6, 12, 24, 48, 96, 96, 96]);
        assert_eq!(next_wait(MAX_WAIT_ROUNDS, 1), FIRST_WAIT_ROUNDS);
    }
}
