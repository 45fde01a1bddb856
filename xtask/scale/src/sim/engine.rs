//! The discrete-event engine: nodes, their gossipsub state per topic, the relay's local order, and
//! the events between them on simulated time (µs). The rules are listed in the module above.

use std::{
    cmp::Ordering,
    collections::{BTreeSet, BinaryHeap, HashMap, VecDeque},
};

use super::{
    rng::Rng,
    setup::{Scenario, Setup},
    topology::Graph,
};

/// A topic's mesh degree, as the relays keep it (target, fewest, most).
pub(super) const D: usize = rivulet_network::MESH.0;
pub(super) const D_LO: usize = rivulet_network::MESH.1;
pub(super) const D_HI: usize = rivulet_network::MESH.2;
pub(super) const D_LAZY: usize = 6;
pub(super) const GOSSIP_FACTOR: f64 = 0.25;
pub(super) const HEARTBEAT: u64 = 700_000;
pub(super) const HISTORY_GOSSIP: u64 = 3;
pub(super) const HISTORY_LENGTH: u64 = 5;
pub(super) const PRUNE_BACKOFF: u64 = 60_000_000;
pub(super) const IWANT_FOLLOWUP: u64 = 3_000_000;
pub(super) const ORDER_WAIT: u64 = 1_000_000;
pub(super) const BOOTSTRAP: usize = 3;
/// Forged events' indices start here.
pub(super) const FORGED: u32 = 1 << 30;
/// Publishing starts here (storage nodes and adversaries have joined by then).
pub(super) const START: u64 = 2_000_000;
/// A restarted node's subscriber is back this long after the node.
pub(super) const RESUBSCRIBE: u64 = 1_000_000;

pub(super) type Time = u64;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Role {
    Honest,
    Dropping,
    Forging,
}

#[derive(Debug)]
pub(super) enum Ev {
    Heartbeat(u32),
    Publish(u8),
    Msg {
        to: u32,
        from: u32,
        part: u8,
        idx: u32,
    },
    Announce {
        to: u32,
        from: u32,
        part: u8,
    },
    Graft {
        to: u32,
        from: u32,
        part: u8,
    },
    Prune {
        to: u32,
        from: u32,
        part: u8,
    },
    IHave {
        to: u32,
        from: u32,
        part: u8,
        ids: Vec<u32>,
    },
    IWant {
        to: u32,
        from: u32,
        part: u8,
        ids: Vec<u32>,
    },
    Subscribe(u32),
    OrderTimeout {
        node: u32,
        idx: u32,
    },
    Kill(u32),
    Restart(u32),
    Forge(u32),
}

struct Entry(Time, u64, Ev);

impl PartialEq for Entry {
    fn eq(&self, o: &Self) -> bool {
        (self.0, self.1) == (o.0, o.1)
    }
}
impl Eq for Entry {}
impl PartialOrd for Entry {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Entry {
    // Earliest first out of the max-heap.
    fn cmp(&self, o: &Self) -> Ordering {
        (o.0, o.1).cmp(&(self.0, self.1))
    }
}

#[derive(Default)]
pub(super) struct Topic {
    pub(super) mesh: Vec<u32>,
    pub(super) backoff: Vec<(u32, Time)>,
    /// (received at, index) of recent messages (gossipsub's message cache).
    pub(super) cache: VecDeque<(Time, u32)>,
    pub(super) requested: HashMap<u32, Time>,
}

/// A subscriber on a node and what it got.
pub(super) struct Sub {
    pub(super) part: u8,
    /// Whether the subscriber is connected and subscribed now.
    pub(super) active: bool,
    pub(super) subscribed_at: Time,
    pub(super) first_at: Option<Time>,
    /// The publisher's next index when the first event arrived.
    pub(super) joined_idx: u32,
    pub(super) received: Vec<bool>,
}

/// The relay's local order for the subscribed part.
#[derive(Default)]
pub(super) struct Order {
    pub(super) last: Option<u32>,
    pub(super) waiting: BTreeSet<u32>,
}

pub(super) struct Node {
    pub(super) alive: bool,
    pub(super) role: Role,
    /// Connected peers: (peer, we dialed, topics it announced as a bit mask).
    pub(super) peers: Vec<(u32, bool, u8)>,
    pub(super) topics: Vec<Option<Topic>>,
    pub(super) seen: Vec<Vec<bool>>,
    pub(super) gray: Vec<u32>,
    pub(super) stores: Vec<u8>,
    pub(super) sub: Option<Sub>,
    pub(super) order: Order,
    pub(super) copies: u64,
    pub(super) unique: u64,
    pub(super) ihave_sent: u64,
}

/// What a run measured.
pub(crate) struct Outcome {
    pub(super) degrees: Vec<usize>,
    pub(super) ttd_ms: Vec<f64>,
    pub(super) latency_ms: Vec<f64>,
    pub(super) live_received: u64,
    pub(super) live_expected: u64,
    pub(super) stored: u64,
    pub(super) published: u64,
    pub(super) without_data: usize,
    pub(super) subscribers: usize,
    pub(super) copies_per_event: Vec<f64>,
    pub(super) ihave_per_node_s: Vec<f64>,
    pub(super) refused_forged: u64,
    pub(super) mesh_sizes: Vec<f64>,
}

pub(super) struct Sim<'a> {
    pub(super) s: &'a Setup,
    pub(super) nodes: Vec<Node>,
    pub(super) graph: Graph,
    queue: BinaryHeap<Entry>,
    seq: u64,
    pub(super) now: Time,
    pub(super) rng: Rng,
    pub(super) publishers: Vec<u32>,
    pub(super) published_at: Vec<Vec<Time>>,
    pub(super) latency_ms: Vec<f64>,
    pub(super) ttd_ms: Vec<f64>,
    pub(super) refused_forged: u64,
    pub(super) forge_seq: u32,
}

/// Runs one scenario.
pub(crate) fn simulate(s: &Setup) -> Outcome {
    let mut rng = Rng(s.seed);
    let extra = Graph::lookup_peers(s.nodes, s.lookup_factor);
    let mut graph = Graph::build(s.nodes, BOOTSTRAP, extra, &mut rng);
    graph.add_member_connections(s.parts, s.part_peers, &mut rng);
    let events = (s.publish_s * s.rate).ceil() as usize + 1;
    let n = s.nodes;
    let bad = if s.scenario == Scenario::Malicious {
        n / 5
    } else {
        0
    };
    let nodes = (0..n)
        .map(|i| Node {
            alive: true,
            role: match i >= n - bad {
                false => Role::Honest,
                true if (i - (n - bad)).is_multiple_of(2) => Role::Dropping,
                true => Role::Forging,
            },
            peers: graph.adj[i].iter().map(|&(p, o)| (p, o, 0)).collect(),
            topics: (0..s.parts).map(|_| None).collect(),
            seen: vec![vec![false; events]; s.parts],
            gray: Vec::new(),
            stores: Vec::new(),
            sub: None,
            order: Order::default(),
            copies: 0,
            unique: 0,
            ihave_sent: 0,
        })
        .collect();
    let mut sim = Sim {
        s,
        nodes,
        graph,
        queue: BinaryHeap::new(),
        seq: 0,
        now: 0,
        rng,
        publishers: Vec::new(),
        published_at: vec![Vec::new(); s.parts],
        latency_ms: Vec::new(),
        ttd_ms: Vec::new(),
        refused_forged: 0,
        forge_seq: 0,
    };
    sim.setup(events);
    let end = START + (s.publish_s * 1e6) as u64 + 5_000_000;
    while let Some(Entry(t, _, ev)) = sim.queue.pop() {
        if t > end {
            break;
        }
        sim.now = t;
        sim.handle(ev);
    }
    sim.outcome()
}

impl Sim<'_> {
    pub(super) fn at(&mut self, t: Time, ev: Ev) {
        self.seq += 1;
        self.queue.push(Entry(t, self.seq, ev));
    }

    /// Sends `ev` from `a` to `b`: the link's one-way delay plus a hop's processing.
    pub(super) fn send(&mut self, a: u32, b: u32, ev: Ev) {
        let d = self.s.latency.one_way_ms(a, b) + self.s.hop_ms;
        self.at(self.now + (d * 1000.0) as u64, ev);
    }

    fn setup(&mut self, events: usize) {
        let (n, parts) = (self.s.nodes, self.s.parts);
        let honest: Vec<usize> = (BOOTSTRAP..n)
            .filter(|&i| self.nodes[i].role == Role::Honest)
            .collect();
        // Two storage nodes per part; the first takes the publisher's events.
        let mut storage = Vec::new();
        for p in 0..parts {
            let a = honest[(2 * p) % honest.len()];
            let b = honest[(2 * p + 1) % honest.len()];
            for x in [a, b] {
                self.nodes[x].stores.push(p as u8);
                self.join(x as u32, p as u8);
            }
            self.publishers.push(a as u32);
            storage.extend([a, b]);
        }
        for i in 0..n {
            if self.nodes[i].role != Role::Honest {
                for p in 0..parts {
                    self.join(i as u32, p as u8);
                }
                if self.nodes[i].role == Role::Forging {
                    self.at(START, Ev::Forge(i as u32));
                }
            }
            let phase = self.rng.below(HEARTBEAT as usize) as u64;
            self.at(phase, Ev::Heartbeat(i as u32));
        }
        let publish_us = (self.s.publish_s * 1e6) as u64;
        for p in 0..parts {
            for k in 0..events.saturating_sub(1) {
                let t = START + (k as f64 * 1e6 / self.s.rate) as u64;
                if t < START + publish_us {
                    self.at(t, Ev::Publish(p as u8));
                }
            }
        }
        // Every honest node has one subscriber, on part `i mod parts`, joining in the first third.
        for i in 0..n {
            if self.nodes[i].role != Role::Honest {
                continue;
            }
            let t = START + (publish_us as f64 * (0.1 + 0.23 * self.rng.unit())) as u64;
            self.nodes[i].sub = Some(Sub {
                part: (i % parts) as u8,
                active: false,
                subscribed_at: t,
                first_at: None,
                joined_idx: 0,
                received: vec![false; events],
            });
            self.at(t, Ev::Subscribe(i as u32));
        }
        if self.s.scenario == Scenario::Churn {
            let mut victims = Vec::new();
            while victims.len() < (n / 10).max(1) {
                let v = self.rng.below(n);
                if !storage.contains(&v) && !victims.contains(&v) {
                    victims.push(v);
                }
            }
            for v in victims {
                let t = START + (publish_us as f64 * (0.4 + 0.15 * self.rng.unit())) as u64;
                self.at(t, Ev::Kill(v as u32));
                self.at(t + 8_000_000, Ev::Restart(v as u32));
            }
        }
    }

    fn handle(&mut self, ev: Ev) {
        match ev {
            Ev::Heartbeat(i) => self.heartbeat(i),
            Ev::Publish(p) => self.publish(p),
            Ev::Msg {
                to,
                from,
                part,
                idx,
            } => self.message(to, from, part, idx),
            Ev::Announce { to, from, part } => {
                let peers = &mut self.nodes[to as usize].peers;
                if let Ok(k) = peers.binary_search_by_key(&from, |e| e.0) {
                    peers[k].2 |= 1 << part;
                }
            }
            Ev::Graft { to, from, part } => self.graft(to, from, part),
            Ev::Prune { to, from, part } => {
                let now = self.now;
                if let Some(t) = self.nodes[to as usize].topics[part as usize].as_mut() {
                    t.mesh.retain(|p| *p != from);
                    t.backoff.push((from, now + PRUNE_BACKOFF));
                }
            }
            Ev::IHave {
                to,
                from,
                part,
                ids,
            } => self.ihave(to, from, part, ids),
            Ev::IWant {
                to,
                from,
                part,
                ids,
            } => self.iwant(to, from, part, ids),
            Ev::Subscribe(i) => {
                let node = &mut self.nodes[i as usize];
                if let Some(sub) = node.sub.as_mut()
                    && node.alive
                {
                    sub.active = true;
                    let part = sub.part;
                    self.join(i, part);
                }
            }
            Ev::OrderTimeout { node, idx } => self.order_timeout(node, idx),
            Ev::Kill(i) => self.kill(i),
            Ev::Restart(i) => self.restart(i),
            Ev::Forge(i) => self.forge(i),
        }
    }

    pub(super) fn connected_in_topic(&self, i: u32, part: u8) -> Vec<u32> {
        let node = &self.nodes[i as usize];
        node.peers
            .iter()
            .filter(|(p, _, mask)| mask & (1 << part) != 0 && !node.gray.contains(p))
            .map(|(p, _, _)| *p)
            .collect()
    }

    pub(super) fn pick(&mut self, mut from: Vec<u32>, k: usize) -> Vec<u32> {
        for j in 0..from.len().min(k) {
            let r = j + self.rng.below(from.len() - j);
            from.swap(j, r);
        }
        from.truncate(k);
        from
    }

    fn publish(&mut self, part: u8) {
        let p = self.publishers[part as usize];
        if !self.nodes[p as usize].alive {
            return;
        }
        let idx = self.published_at[part as usize].len() as u32;
        self.published_at[part as usize].push(self.now);
        self.accept(p, part, idx, None);
        // Flood publish: every peer in the topic, and the mesh.
        let mut to = self.connected_in_topic(p, part);
        if let Some(t) = self.nodes[p as usize].topics[part as usize].as_ref() {
            let extra: Vec<u32> = t.mesh.iter().copied().filter(|m| !to.contains(m)).collect();
            to.extend(extra);
        }
        for q in to {
            self.send(
                p,
                q,
                Ev::Msg {
                    to: q,
                    from: p,
                    part,
                    idx,
                },
            );
        }
    }

    fn message(&mut self, to: u32, from: u32, part: u8, idx: u32) {
        let node = &mut self.nodes[to as usize];
        if !node.alive
            || node.gray.contains(&from)
            || node.peers.binary_search_by_key(&from, |e| e.0).is_err()
        {
            return;
        }
        if idx >= FORGED {
            if node.role == Role::Honest {
                // Refused by validation; P₄ puts the sender below the graylist threshold.
                self.refused_forged += 1;
                node.gray.push(from);
                for t in node.topics.iter_mut().flatten() {
                    t.mesh.retain(|p| *p != from);
                }
            }
            return;
        }
        node.copies += 1;
        if node.seen[part as usize][idx as usize] {
            return;
        }
        if node.role != Role::Honest {
            // Adversaries take it and pass nothing on.
            node.seen[part as usize][idx as usize] = true;
            return;
        }
        self.accept(to, part, idx, Some(from));
    }

    /// A node accepts a new event: cache, forward to its mesh (not back to the sender), hand it to
    /// its subscriber in order.
    pub(super) fn accept(&mut self, i: u32, part: u8, idx: u32, from: Option<u32>) {
        let now = self.now;
        let node = &mut self.nodes[i as usize];
        node.seen[part as usize][idx as usize] = true;
        node.unique += 1;
        let mut forward = Vec::new();
        if let Some(t) = node.topics[part as usize].as_mut() {
            t.cache.push_back((now, idx));
            forward.extend(t.mesh.iter().copied().filter(|p| Some(*p) != from));
        }
        if from.is_some() {
            for q in forward {
                self.send(
                    i,
                    q,
                    Ev::Msg {
                        to: q,
                        from: i,
                        part,
                        idx,
                    },
                );
            }
        }
        if self.nodes[i as usize]
            .sub
            .as_ref()
            .is_some_and(|s| s.part == part)
        {
            let at = now + (self.s.hop_ms * 1000.0) as u64;
            self.order(i, idx, at);
        }
    }

    fn kill(&mut self, i: u32) {
        let peers: Vec<u32> = self.nodes[i as usize].peers.iter().map(|e| e.0).collect();
        for p in peers {
            let other = &mut self.nodes[p as usize];
            other.peers.retain(|e| e.0 != i);
            for t in other.topics.iter_mut().flatten() {
                t.mesh.retain(|m| *m != i);
            }
        }
        let node = &mut self.nodes[i as usize];
        node.alive = false;
        node.peers.clear();
        node.topics.iter_mut().for_each(|t| *t = None);
        node.order = Order::default();
        if let Some(sub) = node.sub.as_mut() {
            sub.active = false;
        }
    }

    fn restart(&mut self, i: u32) {
        self.nodes[i as usize].alive = true;
        let adj = self.graph.adj[i as usize].clone();
        for (p, outbound) in adj {
            if !self.nodes[p as usize].alive {
                continue;
            }
            self.nodes[i as usize].peers.push((p, outbound, 0));
            let theirs = &mut self.nodes[p as usize].peers;
            let at = theirs.partition_point(|e| e.0 < i);
            theirs.insert(at, (i, !outbound, 0));
            // A new connection: the peer sends its subscriptions.
            for part in 0..self.s.parts as u8 {
                if self.nodes[p as usize].topics[part as usize].is_some() {
                    self.send(
                        p,
                        i,
                        Ev::Announce {
                            to: i,
                            from: p,
                            part,
                        },
                    );
                }
            }
        }
        let now = self.now;
        self.at(now + HEARTBEAT, Ev::Heartbeat(i));
        for part in self.nodes[i as usize].stores.clone() {
            self.join(i, part);
        }
        if self.nodes[i as usize].sub.is_some() {
            self.at(now + RESUBSCRIBE, Ev::Subscribe(i));
        }
    }

    fn forge(&mut self, i: u32) {
        if !self.nodes[i as usize].alive {
            return;
        }
        for part in 0..self.s.parts as u8 {
            self.forge_seq += 1;
            let idx = FORGED + self.forge_seq;
            for q in self.connected_in_topic(i, part) {
                self.send(
                    i,
                    q,
                    Ev::Msg {
                        to: q,
                        from: i,
                        part,
                        idx,
                    },
                );
            }
        }
        let now = self.now;
        self.at(now + 200_000, Ev::Forge(i));
    }
}
