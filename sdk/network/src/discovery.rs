//! Finding other nodes: bootstrap peers are redialled while disconnected, other relay nodes go into the
//! DHT's routing table with the addresses they listen on (learnt through identify), and the node dials
//! nodes the DHT knows up to [`TARGET_PEERS`] — a topic's mesh forms only among nodes that are directly
//! connected, so nodes that joined through the same bootstrap peer must meet — and each part's members
//! are found through the DHT's provider records besides ([`crate::members`]). Relay nodes run it, and
//! so does the scale run's adversary, which must look like one.

use libp2p::{
    Multiaddr, PeerId, Swarm, identify, kad, multiaddr::Protocol, swarm::dial_opts::DialOpts,
};
use rivulet_protocol::StreamPartId;
use tracing::{debug, warn};

use crate::{KAD_PROTOCOL, NodeBehaviour, members::PartMembers, peer_of};

/// How many nodes a node tries to stay connected to.
pub const TARGET_PEERS: usize = 24;

/// Whether round `round` (counted from 1) refreshes the routing table, with `connected` peers: every
/// sixth round (30 s) while the node has fewer than [`TARGET_PEERS`], else never — kademlia refreshes
/// it by itself every 5 minutes. A refresh is a lookup per bucket, some 200 requests across the
/// network, and nodes started together refresh together: in a 100-node network every node refreshing
/// every 30 s was a fifth of what an idle node spent, and the bursts put a tenth of the deliveries
/// past 1.2–2 s (BENCHMARKS.md, "Many nodes").
fn refreshes_now(round: u64, connected: usize) -> bool {
    round % 6 == 1 && connected < TARGET_PEERS
}

/// The node's discovery state.
#[derive(Debug)]
pub struct Discovery {
    bootstrap: Vec<Multiaddr>,
    rounds: u64,
    members: PartMembers,
}

impl Discovery {
    /// Discovery from `bootstrap` peers (multiaddrs ending in `/p2p/<peer id>`), which it dials now.
    pub fn start(swarm: &mut Swarm<NodeBehaviour>, bootstrap: Vec<Multiaddr>) -> Discovery {
        for addr in &bootstrap {
            if let Some(peer) = peer_of(addr) {
                swarm
                    .behaviour_mut()
                    .kademlia
                    .add_address(&peer, addr.clone());
            }
            if let Err(e) = swarm.dial(addr.clone()) {
                warn!(%addr, "cannot dial bootstrap peer: {e}");
            }
        }
        Discovery {
            bootstrap,
            rounds: 0,
            members: PartMembers::default(),
        }
    }

    /// The node joined `part`'s topic: announce it in the DHT and find its other members.
    pub fn joined(&mut self, swarm: &mut Swarm<NodeBehaviour>, part: &StreamPartId) {
        self.members.joined(swarm, part, self.rounds);
    }

    /// The node left `part`'s topic.
    pub fn left(&mut self, swarm: &mut Swarm<NodeBehaviour>, part: &StreamPartId) {
        self.members.left(swarm, part);
    }

    /// A kademlia event: a lookup of a part's members progressed.
    pub fn on_kademlia(&mut self, swarm: &mut Swarm<NodeBehaviour>, event: &kad::Event) {
        self.members.on_kademlia(swarm, event, self.rounds);
    }

    /// One round (every few seconds): redial bootstrap peers this node lost (they restarted, or the
    /// link broke), look up the members of parts that are short of them and due, refresh the routing
    /// table every sixth round while short of [`TARGET_PEERS`], and dial known nodes up to it.
    pub fn round(&mut self, swarm: &mut Swarm<NodeBehaviour>) {
        for addr in &self.bootstrap {
            if let Some(peer) = peer_of(addr)
                && !swarm.is_connected(&peer)
                && let Err(e) = swarm.dial(addr.clone())
            {
                debug!(%addr, "redial failed: {e}");
            }
        }
        self.rounds += 1;
        self.members.look_up(swarm, self.rounds);
        let connected = swarm.connected_peers().count();
        if refreshes_now(self.rounds, connected) {
            // Fails only with no known peers, which the bootstrap redial handles.
            let _ = swarm.behaviour_mut().kademlia.bootstrap();
        }
        if connected >= TARGET_PEERS {
            return;
        }
        let mut candidates: Vec<(PeerId, Vec<Multiaddr>)> = Vec::new();
        for bucket in swarm.behaviour_mut().kademlia.kbuckets() {
            for entry in bucket.iter() {
                candidates.push((
                    *entry.node.key.preimage(),
                    entry.node.value.iter().cloned().collect(),
                ));
            }
        }
        for (peer, addresses) in candidates.into_iter().take(TARGET_PEERS - connected) {
            if swarm.is_connected(&peer) || addresses.is_empty() {
                continue;
            }
            let opts = DialOpts::peer_id(peer).addresses(addresses).build();
            if let Err(e) = swarm.dial(opts) {
                debug!(%peer, "discovery dial failed: {e}");
            }
        }
    }

    /// A peer identified itself: if it is a relay node (it speaks the DHT; light clients do not run
    /// identify), its listen addresses go into the routing table — except WebRTC-direct ones, which
    /// are for browsers.
    pub fn identified(swarm: &mut Swarm<NodeBehaviour>, peer: PeerId, info: identify::Info) {
        if !info.protocols.contains(&KAD_PROTOCOL) {
            return;
        }
        for addr in info.listen_addrs {
            if !addr.iter().any(|p| matches!(p, Protocol::WebRTCDirect)) {
                swarm.behaviour_mut().kademlia.add_address(&peer, addr);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_routing_table_is_refreshed_every_sixth_round_only_while_short_of_peers() {
        let refreshed = |connected| {
            (1..=24)
                .filter(|&r| refreshes_now(r, connected))
                .collect::<Vec<_>>()
        };
        assert_eq!(refreshed(0), [1, 7, 13, 19]);
        assert_eq!(refreshed(TARGET_PEERS - 1), [1, 7, 13, 19]);
        assert!(refreshed(TARGET_PEERS).is_empty());
        assert!(refreshed(99).is_empty());
    }
}
