//! Turns at a bounded resource (history reads and answers), given in rotation among the readers that
//! wait for them. Anyone may ask a node for history, and one reader asking for a thousand pages at
//! once must wait behind its own requests, not put them in front of everyone else's: each reader
//! (by the address it connects from) has a queue, and a freed turn goes to the next reader in the
//! rotation. A reader may have at most a bounded number of requests waiting; more are refused at
//! once, so a flood neither grows the node's memory nor lengthens anyone else's wait.

use std::{
    collections::{HashMap, VecDeque},
    fmt,
    hash::Hash,
    net::IpAddr,
    sync::{Arc, Mutex},
};

use rivulet_network::{
    address_limits::{host_ip, host_of},
    libp2p::{Multiaddr, PeerId},
};
use tokio::sync::oneshot;

use crate::sync::lock;

/// Who takes turns: the address a request came from (an IPv6 one by its /64), or, where its
/// connection has no IP address, the peer. Everyone behind one address shares its turns.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum ReaderKey {
    /// A client or peer connected from this address.
    Ip(IpAddr),
    /// A peer whose connection has no IP address (a relayed or in-memory connection).
    Peer(PeerId),
}

impl ReaderKey {
    /// The key of `peer` connected from `remote` (its host's IP address, when the address has one).
    pub(crate) fn of_connection(peer: PeerId, remote: &Multiaddr) -> ReaderKey {
        host_of(remote).map_or(ReaderKey::Peer(peer), ReaderKey::Ip)
    }

    /// The key of a connection from `ip`. An IPv6 address counts by its /64 network, which one host
    /// is usually given whole (so it cannot take a queue per address); an IPv4-mapped one as IPv4.
    pub(crate) fn ip(ip: IpAddr) -> ReaderKey {
        ReaderKey::Ip(host_ip(ip))
    }
}

impl fmt::Display for ReaderKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReaderKey::Ip(ip) => write!(f, "{ip}"),
            ReaderKey::Peer(peer) => write!(f, "peer {peer}"),
        }
    }
}

/// Why no turn was given.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub(crate) enum NoTurn {
    /// The reader already has as many requests waiting as it may.
    #[error(
        "{reader} already has {waiting} history requests waiting for their turn, the most one reader may; send more once they are answered"
    )]
    TooMany {
        /// The reader refused.
        reader: String,
        /// How many of its requests wait.
        waiting: usize,
    },
    /// The node is stopping.
    #[error("the node is stopping")]
    Stopping,
}

/// Turns, `concurrent` at a time, given in rotation among the readers waiting for one.
#[derive(Clone, Debug)]
pub(crate) struct FairTurns {
    state: Arc<Mutex<State>>,
}

#[derive(Debug)]
struct State {
    concurrent: usize,
    max_waiting: usize,
    /// Turns held now.
    running: usize,
    /// Each waiting reader's requests, oldest first.
    waiting: HashMap<ReaderKey, VecDeque<oneshot::Sender<Turn>>>,
    /// Readers with requests waiting, each once, next first.
    rotation: VecDeque<ReaderKey>,
}

/// A turn: held while the work runs, passed on to the next reader in the rotation when dropped.
#[derive(Debug)]
#[must_use = "a turn is given back as soon as it is dropped"]
pub(crate) struct Turn {
    /// `None` once handed on (a turn whose waiter had gone is not given back twice).
    state: Option<Arc<Mutex<State>>>,
}

impl FairTurns {
    /// Turns `concurrent` (at least one) at a time; at most `max_waiting` (at least one) requests of
    /// one reader wait.
    pub(crate) fn new(concurrent: usize, max_waiting: usize) -> FairTurns {
        FairTurns {
            state: Arc::new(Mutex::new(State {
                concurrent: concurrent.max(1),
                max_waiting: max_waiting.max(1),
                running: 0,
                waiting: HashMap::new(),
                rotation: VecDeque::new(),
            })),
        }
    }

    /// A turn for `reader`: at once when one is free and nobody waits, else when the rotation comes
    /// to it. Refused when `reader` already has its most requests waiting.
    pub(crate) async fn take(&self, reader: ReaderKey) -> Result<Turn, NoTurn> {
        let given = {
            let mut guard = lock(&self.state);
            let state = &mut *guard;
            if state.running < state.concurrent && state.rotation.is_empty() {
                state.running += 1;
                return Ok(Turn {
                    state: Some(self.state.clone()),
                });
            }
            // A reader is in the rotation exactly while it has a queue here.
            let new = !state.waiting.contains_key(&reader);
            let queue = state.waiting.entry(reader).or_default();
            // Requests given up while waiting do not count against the reader.
            queue.retain(|waiter| !waiter.is_closed());
            if queue.len() >= state.max_waiting {
                return Err(NoTurn::TooMany {
                    reader: reader.to_string(),
                    waiting: queue.len(),
                });
            }
            let (give, given) = oneshot::channel();
            queue.push_back(give);
            if new {
                state.rotation.push_back(reader);
            }
            given
        };
        given.await.map_err(|_| NoTurn::Stopping)
    }

    /// How many requests wait for a turn now.
    #[cfg(test)]
    pub(crate) fn waiting(&self) -> usize {
        lock(&self.state).waiting.values().map(VecDeque::len).sum()
    }
}

impl Drop for Turn {
    fn drop(&mut self) {
        let Some(shared) = self.state.take() else {
            return;
        };
        let mut state = lock(&shared);
        // The next reader in the rotation gets the turn; a waiter that has gone is skipped.
        while let Some(reader) = state.rotation.pop_front() {
            let Some(queue) = state.waiting.get_mut(&reader) else {
                continue;
            };
            let next = queue.pop_front();
            if queue.is_empty() {
                state.waiting.remove(&reader);
            } else {
                state.rotation.push_back(reader);
            }
            if let Some(give) = next {
                let turn = Turn {
                    state: Some(shared.clone()),
                };
                match give.send(turn) {
                    Ok(()) => return,
                    // Its request was given up: the turn is not given back through its drop, which
                    // would take this lock again.
                    Err(mut unwanted) => unwanted.state = None,
                }
            }
        }
        state.running = state.running.saturating_sub(1);
    }
}

#[cfg(test)]
pub(crate) mod tests {
    #![allow(clippy::unwrap_used)]

    use std::{net::Ipv4Addr, time::Duration};

    use super::*;

    /// The reader at 10.0.0.`last`.
    pub(crate) fn ip(last: u8) -> ReaderKey {
        ReaderKey::Ip(Ipv4Addr::new(10, 0, 0, last).into())
    }

    /// A request of `reader` that takes its turn and gives it back at once.
    fn wait_for_turn(
        turns: &FairTurns,
        reader: ReaderKey,
    ) -> tokio::task::JoinHandle<Result<(), NoTurn>> {
        let turns = turns.clone();
        tokio::spawn(async move { turns.take(reader).await.map(drop) })
    }

    /// Waits until `turns` has `n` requests waiting.
    async fn until_waiting(turns: &FairTurns, n: usize) {
        for _ in 0..500 {
            if turns.waiting() == n {
                return;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        panic!("{} waiting, not {n}", turns.waiting());
    }

    /// A reader that queued twenty requests before another asked for two does not go first with all
    /// twenty: the turns alternate while both wait.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn turns_alternate_between_waiting_readers() {
        let turns = FairTurns::new(1, 64);
        let held = turns.take(ip(9)).await.unwrap();
        let order = Arc::new(Mutex::new(Vec::new()));
        let mut tasks = Vec::new();
        for (reader, count, queued_before) in [(ip(1), 20, 0), (ip(2), 2, 20)] {
            for i in 0..count {
                let (queue, order) = (turns.clone(), order.clone());
                tasks.push(tokio::spawn(async move {
                    let _turn = queue.take(reader).await.unwrap();
                    order.lock().unwrap().push(reader);
                }));
                // Queued one after another, so the order of arrival is known.
                until_waiting(&turns, queued_before + i + 1).await;
            }
        }
        drop(held);
        for task in tasks {
            task.await.unwrap();
        }
        let order = order.lock().unwrap().clone();
        assert_eq!(order.len(), 22);
        assert_eq!(&order[..4], &[ip(1), ip(2), ip(1), ip(2)], "{order:?}");
        assert!(order[4..].iter().all(|r| *r == ip(1)));
    }

    /// Beyond its most waiting requests a reader is refused at once, naming it; another reader is
    /// still queued, and the refused one may queue again once its requests are answered.
    #[tokio::test]
    async fn a_reader_with_its_most_requests_waiting_is_refused() {
        let turns = FairTurns::new(1, 2);
        let held = turns.take(ip(9)).await.unwrap();
        let first = wait_for_turn(&turns, ip(1));
        let second = wait_for_turn(&turns, ip(1));
        until_waiting(&turns, 2).await;
        let refused = turns.take(ip(1)).await.unwrap_err();
        assert_eq!(
            refused,
            NoTurn::TooMany {
                reader: "10.0.0.1".into(),
                waiting: 2
            }
        );
        assert!(refused.to_string().contains("10.0.0.1 already has 2"));
        let other = wait_for_turn(&turns, ip(2));
        until_waiting(&turns, 3).await;
        drop(held);
        first.await.unwrap().unwrap();
        second.await.unwrap().unwrap();
        other.await.unwrap().unwrap();
        assert_eq!(turns.waiting(), 0);
        let _again = turns.take(ip(1)).await.unwrap();
    }

    /// A request given up while it waits neither keeps the turn it would have had nor counts
    /// against its reader.
    #[tokio::test]
    async fn a_request_given_up_while_waiting_loses_no_turn() {
        let turns = FairTurns::new(1, 1);
        let held = turns.take(ip(9)).await.unwrap();
        let gone = wait_for_turn(&turns, ip(1));
        until_waiting(&turns, 1).await;
        gone.abort();
        let _ = gone.await;
        // Its slot is free again for the same reader.
        let waits = wait_for_turn(&turns, ip(1));
        until_waiting(&turns, 1).await;
        drop(held);
        waits.await.unwrap().unwrap();
        // And the turn came back: one is free now.
        let free = tokio::time::timeout(Duration::from_secs(1), turns.take(ip(3))).await;
        assert!(free.is_ok(), "the turn was lost");
    }

    /// A connection's key is its IP address (v4 or v6); a connection without one is keyed by peer.
    #[test]
    fn a_connection_is_keyed_by_its_ip_address() {
        let peer = PeerId::random();
        let v4: Multiaddr = "/ip4/192.0.2.7/tcp/4001/ws".parse().unwrap();
        let v6: Multiaddr = "/ip6/2001:db8::1/udp/9/webrtc-direct".parse().unwrap();
        let memory: Multiaddr = "/memory/12".parse().unwrap();
        assert_eq!(
            ReaderKey::of_connection(peer, &v4),
            ReaderKey::Ip(Ipv4Addr::new(192, 0, 2, 7).into())
        );
        assert_eq!(
            ReaderKey::of_connection(peer, &v6).to_string(),
            "2001:db8::"
        );
        // One host's /64 is one reader; an IPv4-mapped address is its IPv4 one.
        let same_host: IpAddr = "2001:db8::ffff:1:2".parse().unwrap();
        let other_host: IpAddr = "2001:db8:0:1::1".parse().unwrap();
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().unwrap();
        assert_eq!(
            ReaderKey::ip(same_host),
            ReaderKey::of_connection(peer, &v6)
        );
        assert_ne!(
            ReaderKey::ip(other_host),
            ReaderKey::of_connection(peer, &v6)
        );
        assert_eq!(ReaderKey::ip(mapped), ReaderKey::of_connection(peer, &v4));
        assert_eq!(
            ReaderKey::of_connection(peer, &memory),
            ReaderKey::Peer(peer)
        );
    }
}
