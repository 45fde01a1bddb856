//! Who is connected to whom. Two kinds of connection:
//!
//! - what the relay's discovery dials (`relay-node/src/node/discovery.rs`): every node stays connected
//!   to the bootstrap peers, and dials the nodes its kademlia routing table holds — buckets closest
//!   first, as `kbuckets()` yields them — until it has 24 connections, counting those others opened
//!   to it. The routing table is a converged one: in each bucket (XOR distance `[2^b, 2^(b+1))`), up
//!   to k = 20 of the nodes there, chosen at random;
//! - what kademlia's lookups open: every 30 s a node bootstraps (a lookup of its own key and one of a
//!   random key in each farther bucket, some 20 contacts each, so about `20 (1 + log2 N)` contacts a
//!   round), and a connection stays up for 120 s idle. These are modelled as random nodes each node
//!   dials besides, `factor × 20 (1 + log2 N)` of them (one round's worth at factor 1); with the
//!   connections others dial to it, a node has about twice that. At 100 nodes that connects every
//!   node to every other, as the real 100 processes were.
//!
//! - what a part's member lookups open (`rivulet_network::members`): each member of a part, in the order
//!   they joined, dials up to `PART_PEERS` of the part's members it finds through the DHT — the first
//!   20 that announced themselves (kademlia keeps no more per key), chosen at random — unless it is
//!   connected to that many members already. Opened as if at the start, where the real node opens
//!   them a lookup (a few round trips) after it joins.
//!
//! Also the latency model, the same rule as `rivulet_network::latency`.

use super::rng::Rng;

/// Connections each node dials up to (the relay's `TARGET_PEERS`).
pub(crate) const TARGET_PEERS: usize = 24;
/// Kademlia's bucket size.
const K: usize = 20;

/// The connection graph.
#[derive(Debug)]
pub(crate) struct Graph {
    /// Each node's peers, and whether this node dialed the connection (gossipsub's "outbound").
    pub(crate) adj: Vec<Vec<(u32, bool)>>,
}

impl Graph {
    /// Builds the graph of `n` nodes with `bootstrap` bootstrap nodes (the first ones), and about
    /// `extra` random peers per node besides.
    pub(crate) fn build(n: usize, bootstrap: usize, extra: usize, rng: &mut Rng) -> Graph {
        let ids: Vec<u64> = (0..n).map(|_| rng.next_u64()).collect();
        let mut adj: Vec<Vec<(u32, bool)>> = vec![Vec::new(); n];
        for a in 0..n {
            for b in 0..bootstrap.min(n) {
                connect(&mut adj, a, b);
            }
        }
        // Nodes come up one after another; each dials from its routing table, closest buckets first.
        for a in 0..n {
            if adj[a].len() >= TARGET_PEERS {
                continue;
            }
            let mut buckets: Vec<Vec<u32>> = vec![Vec::new(); 65];
            for (b, id) in ids.iter().enumerate() {
                if b != a {
                    let d = ids[a] ^ id;
                    buckets[(64 - d.leading_zeros()) as usize].push(b as u32);
                }
            }
            'dial: for bucket in buckets.iter_mut() {
                // A converged table holds k of the bucket's nodes.
                while bucket.len() > K {
                    let i = rng.below(bucket.len());
                    bucket.swap_remove(i);
                }
                for &b in bucket.iter() {
                    if adj[a].len() >= TARGET_PEERS {
                        break 'dial;
                    }
                    connect(&mut adj, a, b as usize);
                }
            }
        }
        // Lookup contacts: each node dials `extra` random nodes (others dial it too).
        for a in 0..n {
            for _ in 0..extra {
                let b = rng.below(n);
                connect(&mut adj, a, b);
            }
        }
        for peers in &mut adj {
            peers.sort_unstable();
        }
        Graph { adj }
    }

    /// Adds the connections part-member lookups open, node `i` being a member of part `i mod parts`
    /// and `want` the members each wants to be connected to (0: none): members join in a random
    /// order, each short of members announces the part (the first `K` announcers are kept) and dials
    /// announcers until it has `want`.
    pub(crate) fn add_member_connections(&mut self, parts: usize, want: usize, rng: &mut Rng) {
        let n = self.adj.len();
        if want == 0 || parts == 0 {
            return;
        }
        // A random join order.
        let mut order: Vec<usize> = (0..n).collect();
        for i in (1..n).rev() {
            order.swap(i, rng.below(i + 1));
        }
        let mut joined = vec![false; n];
        let mut providers: Vec<Vec<usize>> = vec![Vec::new(); parts];
        for a in order {
            let part = a % parts;
            let mut have = self.adj[a]
                .iter()
                .filter(|(p, _)| *p as usize % parts == part && joined[*p as usize])
                .count();
            // Only a member short of members when it joins announces the part (its later look at
            // whether the record has room is after every join here).
            let announces = have < want;
            let mut found: Vec<usize> = providers[part]
                .iter()
                .copied()
                .filter(|&b| !connected(&self.adj, a, b))
                .collect();
            while have < want && !found.is_empty() {
                let b = found.swap_remove(rng.below(found.len()));
                connect(&mut self.adj, a, b);
                have += 1;
            }
            joined[a] = true;
            if announces && providers[part].len() < K {
                providers[part].push(a);
            }
        }
        for peers in &mut self.adj {
            peers.sort_unstable();
        }
    }

    /// Nodes each node dials for kademlia's lookups: `factor × 20 (1 + log2 n)`, at most `n - 1`.
    pub(crate) fn lookup_peers(n: usize, factor: f64) -> usize {
        let per_round = 20.0 * (1.0 + (n.max(2) as f64).log2());
        ((factor * per_round).round() as usize).min(n.saturating_sub(1))
    }
}

/// Whether `a` holds a connection to `b`.
fn connected(adj: &[Vec<(u32, bool)>], a: usize, b: usize) -> bool {
    adj[a].iter().any(|(p, _)| *p as usize == b)
}

/// `a` dials `b`, unless it is `b` or already connected to it.
fn connect(adj: &mut [Vec<(u32, bool)>], a: usize, b: usize) {
    if a != b && !connected(adj, a, b) {
        adj[a].push((b as u32, true));
        adj[b].push((a as u32, false));
    }
}

/// The latency model: regions' delays, per-pair jitter; node `i` in region `i mod regions`.
#[derive(Debug, Clone)]
pub(crate) struct Latency {
    pub(crate) delay_ms: Vec<Vec<f64>>,
    pub(crate) jitter: f64,
}

impl Latency {
    /// One-way delay between nodes `a` and `b`, ms (the same either way).
    pub(crate) fn one_way_ms(&self, a: u32, b: u32) -> f64 {
        let r = self.delay_ms.len().max(1);
        let base = self.delay_ms[a as usize % r][b as usize % r];
        let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
        let mix = |mut z: u64| {
            z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        };
        let u = (mix(mix(u64::from(lo)) ^ u64::from(hi)) >> 11) as f64 / (1u64 << 53) as f64;
        base * (1.0 + self.jitter * (2.0 * u - 1.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_node_reaches_its_peers_and_the_graph_is_symmetric() {
        let mut rng = Rng(7);
        let g = Graph::build(300, 3, 10, &mut rng);
        for (a, peers) in g.adj.iter().enumerate() {
            assert!(peers.len() >= TARGET_PEERS, "node {a}: {}", peers.len());
            for (b, outbound) in peers {
                let back = g.adj[*b as usize].iter().find(|(p, _)| *p as usize == a);
                assert_eq!(back.map(|(_, o)| !o), Some(*outbound));
            }
        }
    }

    #[test]
    fn member_lookups_connect_every_member_to_enough_of_its_part() {
        let (n, parts, want) = (2_000, 40, 6);
        let mut rng = Rng(11);
        let mut g = Graph::build(n, 3, 0, &mut rng);
        let members = |g: &Graph, a: usize| {
            g.adj[a]
                .iter()
                .filter(|(p, _)| *p as usize % parts == a % parts)
                .count()
        };
        let short = |g: &Graph| (0..n).filter(|&a| members(g, a) < want).count();
        let before = short(&g);
        g.add_member_connections(parts, want, &mut rng);
        assert!(
            before > n / 2,
            "discovery alone leaves most short: {before}"
        );
        assert_eq!(short(&g), 0);
        for (a, peers) in g.adj.iter().enumerate() {
            for w in peers.windows(2) {
                assert_ne!(w[0].0, w[1].0, "node {a}: one connection per pair");
            }
        }
    }
}
