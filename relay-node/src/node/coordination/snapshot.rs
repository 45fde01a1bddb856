//! What the node knows of the NetworkCoordinator at one moment: the registered nodes, the active set, the
//! streams the network stores and the timing parameters — and the pure answers derived from it (which
//! nodes store a part, which parts this node stores, whether a peer is one of a part's replicas). Every
//! node and client computes the same answers from the same chain state (`PROTOCOL.md`, "Storage
//! assignment").

use std::collections::{BTreeMap, HashMap};

use rivulet_network::libp2p::{Multiaddr, PeerId};
use rivulet_protocol::{
    Address, Partition, StreamId, StreamPartId,
    assignment::{Member, assigned_nodes},
    checksum::ChecksumInterval,
};

/// A registered node as the coordinator lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct NodeRecord {
    /// Its account (the key its transactions are signed with).
    pub(crate) account: Address,
    /// Its libp2p peer id, if the registered text parses as one.
    pub(crate) peer_id: Option<PeerId>,
    /// The addresses it registered that parse as multiaddrs.
    pub(crate) addresses: Vec<Multiaddr>,
    /// The addresses as registered (comma-separated multiaddrs).
    pub(crate) addresses_text: String,
    /// Its stake, in DATA wei.
    pub(crate) stake: u128,
    /// Its current weight (1..=100).
    pub(crate) weight: u16,
    /// Whether it counts as live now.
    pub(crate) live: bool,
    /// When it was last seen (chain seconds).
    pub(crate) last_seen: u64,
    /// When it asked to leave (0: it has not).
    pub(crate) leaving_since: u64,
}

/// A stream the network stores, as its storage request says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct StoredStream {
    /// The stream.
    pub(crate) id: StreamId,
    /// How many partitions it has.
    pub(crate) partitions: u32,
    /// Nodes per stream part.
    pub(crate) replication: u8,
    /// How long events are kept (0: for ever).
    pub(crate) retention_secs: u64,
    /// When the network started storing it (chain seconds).
    pub(crate) since: u64,
}

/// The coordinator's timing parameters the node follows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Timing {
    /// Length of a checksum interval.
    pub(crate) checksum_interval: ChecksumInterval,
    /// How often a node with nothing to report sends a heartbeat (seconds).
    pub(crate) heartbeat_secs: u64,
    /// How long a node counts as live after it was last seen (seconds).
    pub(crate) liveness_secs: u64,
    /// Reports are taken from an interval's end plus this (seconds)…
    pub(crate) settle_secs: u64,
    /// …until its end plus this (seconds).
    pub(crate) report_window_secs: u64,
}

/// The coordinator's state as last read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Snapshot {
    /// The chain's clock when it was read (seconds).
    pub(crate) chain_now: u64,
    /// The active set's epoch.
    pub(crate) epoch: u64,
    /// When the epoch began (chain seconds).
    pub(crate) epoch_started_at: u64,
    /// The active set: accounts and weights as the last rebalance snapshotted them.
    pub(crate) active: Vec<Member>,
    /// Every registered node, by account.
    pub(crate) nodes: HashMap<Address, NodeRecord>,
    /// The streams the network stores, by id.
    pub(crate) streams: BTreeMap<String, StoredStream>,
    /// Timing parameters.
    pub(crate) timing: Timing,
    /// DATA left in the reward pool (wei).
    pub(crate) reward_pool: u128,
    /// DATA held by the reading node's account (wei): where its rewards go.
    pub(crate) balance: u128,
    /// Whether a rebalance would change the active set now.
    pub(crate) rebalance_needed: bool,
    /// The coordinator that replaces this one, once its owner named it (network upgrade).
    pub(crate) successor: Option<Address>,
}

/// How one of this node's parts is stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Placement {
    /// The nodes that store it, lowest score first (this node among them).
    pub(crate) replicas: Vec<Address>,
    /// How long events are kept (0: for ever).
    pub(crate) retention_secs: u64,
    /// When the network started storing the stream (chain seconds).
    pub(crate) since: u64,
}

impl Snapshot {
    /// The storage request of `part`'s stream, if the network stores it and has the partition.
    pub(crate) fn stream_of(&self, part: &StreamPartId) -> Option<&StoredStream> {
        self.streams
            .get(part.stream_id.as_str())
            .filter(|s| u32::from(part.partition.get()) < s.partitions)
    }

    /// The nodes that store `part` now, lowest score first; empty when the network does not store it.
    pub(crate) fn replicas(&self, part: &StreamPartId) -> Vec<Address> {
        match self.stream_of(part) {
            Some(stream) => assigned_nodes(
                &self.active,
                part.stream_id.as_str(),
                u32::from(part.partition.get()),
                usize::from(stream.replication),
            ),
            None => Vec::new(),
        }
    }

    /// The parts `account` stores now, with how.
    pub(crate) fn parts_of(&self, account: &Address) -> BTreeMap<StreamPartId, Placement> {
        let mut parts = BTreeMap::new();
        if !self.active.iter().any(|m| m.account == *account) {
            return parts;
        }
        for stream in self.streams.values() {
            for p in 0..stream.partitions {
                let Ok(partition) = Partition::new(p) else {
                    continue;
                };
                let part = StreamPartId::new(stream.id.clone(), partition);
                let replicas = assigned_nodes(
                    &self.active,
                    stream.id.as_str(),
                    p,
                    usize::from(stream.replication),
                );
                if replicas.contains(account) {
                    parts.insert(
                        part,
                        Placement {
                            replicas,
                            retention_secs: stream.retention_secs,
                            since: stream.since,
                        },
                    );
                }
            }
        }
        parts
    }

    /// The registered node behind libp2p peer `peer`, if any.
    pub(crate) fn node_of_peer(&self, peer: &PeerId) -> Option<&NodeRecord> {
        self.nodes
            .values()
            .find(|n| n.peer_id.as_ref() == Some(peer))
    }

    /// Whether `peer` is one of the nodes that store `part` now.
    pub(crate) fn is_replica(&self, peer: &PeerId, part: &StreamPartId) -> bool {
        self.node_of_peer(peer)
            .is_some_and(|n| self.replicas(part).contains(&n.account))
    }

    /// The peer ids and addresses of `part`'s replicas other than `except`, lowest score first.
    pub(crate) fn replica_peers(
        &self,
        part: &StreamPartId,
        except: &PeerId,
    ) -> Vec<(PeerId, Vec<Multiaddr>)> {
        self.replicas(part)
            .iter()
            .filter_map(|a| self.nodes.get(a))
            .filter_map(|n| Some((n.peer_id?, n.addresses.clone())))
            .filter(|(p, _)| p != except)
            .collect()
    }
}

/// How the parts a node stores changed between two snapshots.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct PartChanges {
    /// Parts newly assigned.
    pub(crate) added: Vec<StreamPartId>,
    /// Parts no longer assigned.
    pub(crate) removed: Vec<StreamPartId>,
}

/// The parts in `wanted` but not `held` (added) and in `held` but not `wanted` (removed).
pub(crate) fn part_changes<'a>(
    held: impl IntoIterator<Item = &'a StreamPartId>,
    wanted: &BTreeMap<StreamPartId, Placement>,
) -> PartChanges {
    let held: std::collections::BTreeSet<&StreamPartId> = held.into_iter().collect();
    PartChanges {
        added: wanted
            .keys()
            .filter(|p| !held.contains(p))
            .cloned()
            .collect(),
        removed: held
            .into_iter()
            .filter(|p| !wanted.contains_key(*p))
            .cloned()
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn account(i: u8) -> Address {
        Address([i; 20])
    }

    fn snapshot(members: &[u8], replication: u8) -> Snapshot {
        let id: StreamId = "0x0101010101010101010101010101010101010101/s"
            .parse()
            .unwrap();
        let nodes = members
            .iter()
            .map(|&i| {
                let peer = rivulet_network::libp2p::identity::Keypair::generate_ed25519()
                    .public()
                    .to_peer_id();
                (
                    account(i),
                    NodeRecord {
                        account: account(i),
                        peer_id: Some(peer),
                        addresses: Vec::new(),
                        addresses_text: String::new(),
                        stake: 1,
                        weight: 100,
                        live: true,
                        last_seen: 0,
                        leaving_since: 0,
                    },
                )
            })
            .collect();
        Snapshot {
            chain_now: 0,
            epoch: 1,
            epoch_started_at: 0,
            active: members
                .iter()
                .map(|&i| Member {
                    account: account(i),
                    weight: 100,
                })
                .collect(),
            nodes,
            streams: [(
                id.to_string(),
                StoredStream {
                    id,
                    partitions: 10,
                    replication,
                    retention_secs: 0,
                    since: 0,
                },
            )]
            .into(),
            timing: Timing {
                checksum_interval: ChecksumInterval::from_secs(10).unwrap(),
                heartbeat_secs: 5,
                liveness_secs: 20,
                settle_secs: 5,
                report_window_secs: 60,
            },
            reward_pool: 0,
            balance: 0,
            rebalance_needed: false,
            successor: None,
        }
    }

    /// Every part goes to R of the five nodes, and the nodes' own views add up to that.
    #[test]
    fn every_part_is_stored_by_replication_nodes_and_each_node_knows_its_own() {
        let s = snapshot(&[1, 2, 3, 4, 5], 3);
        let mut held = 0;
        for i in 1..=5 {
            let mine = s.parts_of(&account(i));
            for (part, placement) in &mine {
                assert_eq!(placement.replicas, s.replicas(part));
                assert!(placement.replicas.contains(&account(i)));
            }
            held += mine.len();
        }
        assert_eq!(held, 10 * 3);
        assert!(s.parts_of(&account(9)).is_empty(), "not active: nothing");
        let small = snapshot(&[1, 2], 3);
        assert_eq!(small.parts_of(&account(1)).len(), 10, "fewer nodes than R");
    }

    #[test]
    fn a_node_leaving_moves_only_its_own_parts() {
        let before = snapshot(&[1, 2, 3, 4, 5], 3);
        let after = snapshot(&[1, 2, 3, 4], 3);
        for i in 1..=4 {
            let old = before.parts_of(&account(i));
            let new = after.parts_of(&account(i));
            let changes = part_changes(old.keys(), &new);
            assert!(changes.removed.is_empty(), "node {i} keeps what it had");
            for part in &changes.added {
                assert!(before.replicas(part).contains(&account(5)));
            }
        }
    }

    #[test]
    fn replicas_are_known_by_peer_id() {
        let s = snapshot(&[1, 2, 3, 4, 5], 2);
        let part = s.parts_of(&account(1)).into_keys().next().unwrap();
        let me = s.nodes[&account(1)].peer_id.unwrap();
        let others = s.replica_peers(&part, &me);
        assert_eq!(others.len(), 1);
        assert!(s.is_replica(&others[0].0, &part));
        assert!(s.is_replica(&me, &part));
        let stranger = rivulet_network::libp2p::identity::Keypair::generate_ed25519()
            .public()
            .to_peer_id();
        assert!(!s.is_replica(&stranger, &part));
    }
}
