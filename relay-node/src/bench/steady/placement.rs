//! Which node each client of a steady run is on. Every client has a home node; when its node goes
//! away it moves to the next node in the list, and once its home has been back for [`HOME_SETTLE`]
//! it moves home again (without a gap: a subscriber subscribes at home before it leaves, a publisher
//! has every publish answered before it moves). So each node keeps the same clients, and the same
//! share of the work, apart from the short while one of them is down.

use std::{
    sync::atomic::{AtomicUsize, Ordering},
    time::{Duration, Instant},
};

use super::plan::connect;

/// How long a client's home node must have been reachable before the client moves back.
pub(super) const HOME_SETTLE: Duration = Duration::from_secs(30);
/// How often a client away from home looks whether its home is back.
pub(super) const HOME_PROBE: Duration = Duration::from_secs(5);

/// A client: publishers first, then subscribers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Client {
    /// Publisher `i`.
    Publisher(usize),
    /// Subscriber `i`.
    Subscriber(usize),
}

/// The nodes (HTTP base URLs) and where each client is.
#[derive(Debug)]
pub(super) struct Placement {
    nodes: Vec<String>,
    publishers: usize,
    /// Per client: its home (an index into `nodes`) and where it is now.
    clients: Vec<(usize, AtomicUsize)>,
}

impl Placement {
    /// The nodes in failover order — `publish_node`, then `subscribe_nodes` (each once) —, publisher
    /// `i` at home on `nodes[i % n]`, subscriber `i` on `subscribe_nodes[i % len]`.
    pub(super) fn new(
        publish_node: &str,
        subscribe_nodes: &[String],
        publishers: usize,
        subscribers: usize,
    ) -> Placement {
        let mut nodes = vec![publish_node.to_owned()];
        for node in subscribe_nodes {
            if !nodes.contains(node) {
                nodes.push(node.clone());
            }
        }
        let mut clients: Vec<(usize, AtomicUsize)> = (0..publishers)
            .map(|i| (i % nodes.len(), AtomicUsize::new(i % nodes.len())))
            .collect();
        clients.extend((0..subscribers).map(|i| {
            let node = &subscribe_nodes[i % subscribe_nodes.len().max(1)];
            let home = nodes.iter().position(|n| n == node).unwrap_or(0);
            (home, AtomicUsize::new(home))
        }));
        Placement {
            nodes,
            publishers,
            clients,
        }
    }

    fn slot(&self, client: Client) -> &(usize, AtomicUsize) {
        match client {
            Client::Publisher(i) => &self.clients[i],
            Client::Subscriber(i) => &self.clients[self.publishers + i],
        }
    }

    /// Every node.
    pub(super) fn nodes(&self) -> &[String] {
        &self.nodes
    }

    /// The node `client` is on.
    pub(super) fn node(&self, client: Client) -> &str {
        &self.nodes[self.slot(client).1.load(Ordering::Relaxed)]
    }

    /// `client`'s home node.
    pub(super) fn home(&self, client: Client) -> &str {
        &self.nodes[self.slot(client).0]
    }

    /// Whether `client` is at home.
    pub(super) fn is_home(&self, client: Client) -> bool {
        let (home, now) = self.slot(client);
        *home == now.load(Ordering::Relaxed)
    }

    /// `client`'s node went away: it moves on to the next node.
    pub(super) fn failover(&self, client: Client) {
        let now = &self.slot(client).1;
        let next = (now.load(Ordering::Relaxed) + 1) % self.nodes.len();
        now.store(next, Ordering::Relaxed);
    }

    /// `client` is at home again.
    pub(super) fn go_home(&self, client: Client) {
        let (home, now) = self.slot(client);
        now.store(*home, Ordering::Relaxed);
    }
}

/// Whether a client away from home may go back: its home has been reachable for [`HOME_SETTLE`].
#[derive(Debug)]
pub(super) struct Homing {
    reachable_since: Option<Instant>,
    next_probe: Instant,
}

impl Default for Homing {
    fn default() -> Self {
        Homing {
            reachable_since: None,
            next_probe: Instant::now() + HOME_PROBE,
        }
    }
}

impl Homing {
    /// Probes `client`'s home (at most every [`HOME_PROBE`]); whether it may go back now.
    pub(super) async fn ready(&mut self, placement: &Placement, client: Client) -> bool {
        if placement.is_home(client) {
            *self = Homing::default();
            return false;
        }
        if Instant::now() >= self.next_probe {
            self.next_probe = Instant::now() + HOME_PROBE;
            if connect(placement.home(client)).await.is_ok() {
                self.reachable_since.get_or_insert_with(Instant::now);
            } else {
                self.reachable_since = None;
            }
        }
        self.reachable_since
            .is_some_and(|since| since.elapsed() >= HOME_SETTLE)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clients_have_homes_move_on_and_come_back() {
        let nodes = ["a", "b", "c"].map(String::from);
        let p = Placement::new("a", &nodes, 3, 3);
        assert_eq!(p.nodes(), nodes);
        for (i, node) in nodes.iter().enumerate() {
            assert_eq!(p.node(Client::Publisher(i)), *node);
            assert_eq!(p.node(Client::Subscriber(i)), *node);
        }
        p.failover(Client::Publisher(2));
        assert_eq!(p.node(Client::Publisher(2)), "a");
        assert!(!p.is_home(Client::Publisher(2)));
        assert_eq!(p.home(Client::Publisher(2)), "c");
        p.go_home(Client::Publisher(2));
        assert!(p.is_home(Client::Publisher(2)));
        assert_eq!(p.node(Client::Subscriber(2)), "c", "others stay");
    }

    #[test]
    fn a_lone_node_is_all_there_is() {
        let p = Placement::new("a", &["a".to_owned()], 1, 2);
        assert_eq!(p.nodes(), ["a"]);
        p.failover(Client::Subscriber(1));
        p.failover(Client::Publisher(0));
        assert_eq!(p.node(Client::Publisher(0)), "a");
        assert_eq!(p.node(Client::Subscriber(1)), "a");
    }
}
