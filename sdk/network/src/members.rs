//! Finding the other members of the stream parts a node is in. A topic's mesh forms only among nodes
//! that are directly connected, and the nodes discovery dials ([`crate::discovery::TARGET_PEERS`]) are
//! chosen by DHT distance, not by part: in a large network a part's few members would seldom meet. So
//! while a node is connected to fewer than [`PART_PEERS`] nodes of a part it is in, it announces the
//! part as a provider record in the DHT, under [`part_key`], and looks the part's providers up and
//! dials them — at once when it joins (at most [`MAX_LOOKUPS`] lookups at a time), then again after a
//! wait that doubles (from [`FIRST_WAIT_ROUNDS`] to [`MAX_WAIT_ROUNDS`] discovery rounds) while lookups
//! find no one new.
//!
//! Kademlia keeps at most [`ANNOUNCERS`] providers per key, the first that announced (so records
//! cannot be flooded away): in a part of many members those are the ones later members dial, and an
//! announcement beyond them is dropped where it is stored. So a node that joins among enough of the
//! part's members does not announce it (an announcement is a DHT query and some 20 requests); it looks
//! the providers up once every [`MAX_WAIT_ROUNDS`] and announces when that lookup found fewer than
//! [`ANNOUNCERS`] — the record had room, e.g. because announcers went away. The store bounds the keys
//! it holds ([`crate::dht::MAX_STORED_KEYS`]), and providers announce again every
//! [`crate::dht::PROVIDER_REPUBLISH`], so that a record of a node that went away lapses after
//! [`crate::dht::PROVIDER_TTL`].

use std::collections::HashSet;

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

/// The providers kademlia keeps per key (its `K_VALUE`, the store's default): fewer found means the
/// part's record has room for the node's announcement.
pub const ANNOUNCERS: usize = kad::K_VALUE.get();

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

/// Whether a node announces a part it is in, connected to `part_peers` of the part's nodes, when a
/// lookup of its providers found `found` others (`None`: no lookup ended just now): while it is short
/// of members, or when the part's record has room.
pub fn announces(part_peers: usize, found: Option<usize>) -> bool {
    part_peers < PART_PEERS || found.is_some_and(|found| found < ANNOUNCERS)
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
    /// Whether the node announces the part.
    announced: bool,
    /// The lookup in flight.
    query: Option<Lookup>,
}

/// A lookup of a part's providers in flight.
#[derive(Debug)]
struct Lookup {
    id: kad::QueryId,
    /// Members it dialed so far.
    dialed: usize,
    /// Providers it found so far other than the node itself, up to [`ANNOUNCERS`].
    found: HashSet<PeerId>,
}

impl Part {
    /// Announces the part in the DHT.
    fn announce(&mut self, swarm: &mut Swarm<NodeBehaviour>) {
        let kademlia = &mut swarm.behaviour_mut().kademlia;
        match kademlia.start_providing(part_key(&self.part)) {
            Ok(_) => self.announced = true,
            // Only when the store is full: the node still finds the part's members, they just cannot
            // find it through the DHT; it tries again at its next lookup.
            Err(e) => warn!(part = %self.part, "cannot announce the part in the DHT: {e}"),
        }
    }
}

/// The parts a node is in and the lookups of their members.
#[derive(Debug, Default)]
pub struct PartMembers {
    parts: Vec<Part>,
}

impl PartMembers {
    /// The node joined `part`: when it is short of the part's members, announces it and looks them
    /// up now; else it looks at the part's record after [`MAX_WAIT_ROUNDS`].
    pub fn joined(&mut self, swarm: &mut Swarm<NodeBehaviour>, part: &StreamPartId, round: u64) {
        if self.parts.iter().any(|p| &p.part == part) {
            return;
        }
        let topic = topic(part).hash();
        let short = announces(part_peers(swarm, &topic), None);
        self.parts.push(Part {
            part: part.clone(),
            topic,
            due: if short {
                round
            } else {
                round + MAX_WAIT_ROUNDS
            },
            wait: FIRST_WAIT_ROUNDS / 2,
            announced: false,
            query: None,
        });
        self.look_up(swarm, round);
    }

    /// The node left `part`: it no longer announces it (records elsewhere lapse after
    /// [`crate::dht::PROVIDER_TTL`]).
    pub fn left(&mut self, swarm: &mut Swarm<NodeBehaviour>, part: &StreamPartId) {
        let Some(at) = self.parts.iter().position(|p| &p.part == part) else {
            return;
        };
        if self.parts.swap_remove(at).announced {
            let kademlia = &mut swarm.behaviour_mut().kademlia;
            kademlia.stop_providing(&part_key(part));
        }
    }

    /// Announces each part that is due and short of members, and starts a lookup for each that is
    /// due and either short of members or not announced (to see whether its record has room), at
    /// most [`MAX_LOOKUPS`] in flight (the rest stay due for the next round).
    pub fn look_up(&mut self, swarm: &mut Swarm<NodeBehaviour>, round: u64) {
        let mut running = self.parts.iter().filter(|p| p.query.is_some()).count();
        for p in &mut self.parts {
            if p.query.is_some() || p.due > round {
                continue;
            }
            let short = announces(part_peers(swarm, &p.topic), None);
            if short && !p.announced {
                p.announce(swarm);
            }
            if !short && p.announced {
                p.due = round + p.wait;
                continue;
            }
            if running >= MAX_LOOKUPS {
                continue;
            }
            let id = swarm
                .behaviour_mut()
                .kademlia
                .get_providers(part_key(&p.part));
            p.query = Some(Lookup {
                id,
                dialed: 0,
                found: HashSet::new(),
            });
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
            .find(|p| p.query.as_ref().is_some_and(|q| q.id == *id))
        else {
            return;
        };
        let Some(lookup) = &mut p.query else {
            return;
        };
        let local = *swarm.local_peer_id();
        if let QueryResult::GetProviders(Ok(GetProvidersOk::FoundProviders { providers, .. })) =
            result
        {
            for peer in providers.iter().filter(|peer| **peer != local) {
                if lookup.found.len() < ANNOUNCERS {
                    lookup.found.insert(*peer);
                }
            }
            let want = PART_PEERS
                .saturating_sub(part_peers(swarm, &p.topic))
                .saturating_sub(lookup.dialed);
            for peer in to_dial(providers, &local, |peer| swarm.is_connected(peer), want) {
                // The lookup holds the addresses the answers gave; kademlia hands them to the dial.
                let opts = DialOpts::peer_id(peer)
                    .condition(PeerCondition::DisconnectedAndNotDialing)
                    .build();
                match swarm.dial(opts) {
                    Ok(()) => lookup.dialed += 1,
                    Err(e) => debug!(%peer, part = %p.part, "member dial failed: {e}"),
                }
            }
        }
        if step.last || !matches!(result, QueryResult::GetProviders(Ok(_))) {
            let (dialed, found) = (lookup.dialed, lookup.found.len());
            p.query = None;
            p.wait = next_wait(p.wait, dialed);
            if !p.announced && announces(part_peers(swarm, &p.topic), Some(found)) {
                p.announce(swarm);
            }
            p.due = round + if p.announced { p.wait } else { MAX_WAIT_ROUNDS };
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

/// How many connected nodes are in `topic` (a part's topic: how many of its members the node is
/// connected to).
pub fn part_peers(swarm: &Swarm<NodeBehaviour>, topic: &TopicHash) -> usize {
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
    fn a_node_announces_a_part_while_short_of_members_or_when_its_record_has_room() {
        assert!(announces(PART_PEERS - 1, None));
        assert!(!announces(PART_PEERS, None));
        assert!(announces(PART_PEERS - 1, Some(ANNOUNCERS)));
        assert!(announces(PART_PEERS, Some(ANNOUNCERS - 1)));
        assert!(!announces(PART_PEERS, Some(ANNOUNCERS)));
        assert_eq!(ANNOUNCERS, 20);
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
