//! The event loop: the one task that owns the libp2p swarm and the validator. It waits on the swarm,
//! the handle's commands, the verification pool's verdicts and its timers, and hands each event to the part that owns its state — topics,
//! local order, light sessions, remote history, the store queue, discovery — doing the I/O those parts
//! ask for. Handlers for the relay path, light clients and history are in the submodules.

mod history;
mod light;
mod relay;
mod replica;

use std::{collections::HashMap, sync::Arc, time::Duration};

use anyhow::Result;
use futures::StreamExt;
use rivulet_network::{
    NodeBehaviour, NodeBehaviourEvent,
    address_limits::{ConnectingTooOften, TooManyFromAddress},
    discovery::Discovery,
    intake::Inbound,
    libp2p::{
        Multiaddr, PeerId, Swarm, identify, request_response,
        swarm::{ConnectionDenied, ConnectionId, ListenError, SwarmEvent},
    },
    request_budget::Refusal,
};
use rivulet_validate::Validator;
use tokio::sync::{broadcast, mpsc};
use tracing::{debug, info, warn};

use super::{
    access::Access,
    announce::Announce,
    commands::{Command, Delivered, Origin},
    coordination::Coordination,
    history::RemoteHistory,
    history_reads::HistoryReads,
    light::LightSessions,
    ordering::{LocalOrder, ORDER_WAIT},
    publishing::PublishShares,
    sign_ins::SignIns,
    store_writer::StoreQueue,
    stored::StoredParts,
    topics::{TopicChange, Topics},
    verification::Verification,
};
use crate::{
    metrics::{Metrics, Reason, Refused},
    turns::ReaderKey,
};

/// The swarm's owner and the parts whose state it drives.
pub(crate) struct EventLoop {
    pub(super) swarm: Swarm<NodeBehaviour>,
    pub(super) validator: Validator,
    /// Signatures are verified here, off this task, and come back in arrival order.
    pub(super) verification: Verification<Origin>,
    pub(super) access: Access,
    pub(super) metrics: Arc<Metrics>,
    pub(super) topics: Topics,
    pub(super) stored: StoredParts,
    pub(super) order: LocalOrder,
    pub(super) light: LightSessions,
    /// Light-protocol publishes in progress per client address, bounded.
    pub(super) publishing: PublishShares,
    /// Light sign-ins per client address, rate-limited.
    pub(super) sign_ins: SignIns,
    pub(super) history: RemoteHistory,
    pub(super) reads: HistoryReads,
    pub(super) store_queue: StoreQueue,
    /// Accepted events for the WebSocket API's sessions.
    pub(super) events: broadcast::Sender<Arc<Delivered>>,
    /// For tasks that answer later (light responses worked out off the loop).
    pub(super) commands: mpsc::Sender<Command>,
    pub(super) discovery: Discovery,
    pub(super) announce: Announce,
    /// The coordinator's assignments (which peers store which parts).
    pub(super) coordination: Coordination,
    /// Quorum acknowledgements for light clients' publishes.
    pub(super) quorum: super::quorum::Quorum,
    /// Replica-store requests waiting for their answers.
    pub(super) replica_requests: HashMap<
        request_response::OutboundRequestId,
        tokio::sync::oneshot::Sender<Result<(), String>>,
    >,
    /// Who each open connection's history requests count as (its remote IP address), for the turns
    /// history reads take.
    pub(super) connections: HashMap<ConnectionId, ReaderKey>,
    /// Refused connections: logged a line per [`LOG_INTERVAL`] at most.
    pub(super) refusals_logged: Throttled,
    /// Gossip that could not be sent to slow peers: likewise.
    pub(super) slow_peers_logged: Throttled,
}

/// How often a kind of event that can come in floods (refused connections, slow peers) is logged at
/// most.
const LOG_INTERVAL: Duration = Duration::from_secs(10);

/// One log line per [`LOG_INTERVAL`] at most for a kind of event: a flood of them must not become a
/// flood of log lines.
#[derive(Default)]
pub(crate) struct Throttled {
    /// When a line was last written, and how many events went unlogged since.
    last: Option<(std::time::Instant, u64)>,
}

impl Throttled {
    /// Whether an event at `now` gets a line; if so, the end of that line: how many events (`what`)
    /// went unlogged before it, or nothing when none did.
    fn line(&mut self, now: std::time::Instant, what: &str) -> Option<String> {
        match &mut self.last {
            Some((since, n)) if now.duration_since(*since) < LOG_INTERVAL => {
                *n += 1;
                None
            }
            previous => {
                let unlogged = previous.map_or(0, |(_, n)| n);
                self.last = Some((now, 0));
                Some(if unlogged > 0 {
                    format!(" ({unlogged} more {what} since the last such line, not logged)")
                } else {
                    String::new()
                })
            }
        }
    }
}

impl EventLoop {
    /// Runs until SIGINT or SIGTERM.
    pub(crate) async fn run(mut self, mut commands: mpsc::Receiver<Command>) -> Result<()> {
        let mut terminate = signal_terminate()?;
        // Made once: a new `ctrl_c()` in every round of the loop registered a new listener per event.
        let interrupt = tokio::signal::ctrl_c();
        tokio::pin!(interrupt);
        let mut rounds = tokio::time::interval(Duration::from_secs(5));
        let mut order_tick = tokio::time::interval(ORDER_WAIT / 4);
        for part in self.stored.all() {
            let change = self.topics.store(&part);
            self.apply(change);
        }
        loop {
            tokio::select! {
                // While the verification pool is full, input waits in the transports.
                event = self.swarm.select_next_some(), if self.verification.has_room() => {
                    self.on_swarm_event(event)
                }
                verified = self.verification.next() => {
                    for verified in verified {
                        self.on_verified(verified);
                    }
                }
                _ = order_tick.tick(), if self.order.is_waiting() => {
                    for (message, wire) in self.order.overdue(std::time::Instant::now()) {
                        self.fan_out(&message, &wire);
                    }
                }
                _ = rounds.tick() => {
                    self.discovery.round(&mut self.swarm);
                    for change in self.topics.expire(std::time::Instant::now()) {
                        self.apply(Some(change));
                    }
                }
                Some(command) = commands.recv(), if self.verification.has_room() => {
                    self.on_command(command)
                }
                _ = &mut interrupt => break,
                _ = terminate.recv() => break,
            }
        }
        info!("shutting down");
        Ok(())
    }

    /// Joins or leaves a topic as a part's state asks.
    pub(super) fn apply(&mut self, change: Option<TopicChange>) {
        match change {
            Some(TopicChange::Join(part)) => match self.swarm.behaviour_mut().subscribe(&part) {
                Ok(_) => self.discovery.joined(&mut self.swarm, &part),
                Err(e) => warn!(%part, "cannot join topic: {e}"),
            },
            Some(TopicChange::Leave(part)) => {
                self.swarm.behaviour_mut().unsubscribe(&part);
                self.discovery.left(&mut self.swarm, &part);
            }
            None => return,
        }
        self.metrics.topics.set(self.topics.count() as i64);
    }

    fn on_command(&mut self, command: Command) {
        match command {
            Command::Peers { reply } => {
                let _ = reply.send(self.swarm.connected_peers().count());
            }
            Command::RemoteHistory {
                part,
                query,
                reader,
                peers,
                reply,
            } => self.remote_history(&part, query, reader, peers, reply),
            Command::LightRespond {
                channel,
                response,
                published,
            } => {
                if let Some((from, events)) = published {
                    self.publishing.done(from, events);
                }
                self.light_respond(channel, response)
            }
            Command::ReplicaStore {
                peer,
                addresses,
                wire,
                reply,
            } => self.replica_store(peer, addresses, wire, reply),
            Command::StoreRespond { channel, response } => {
                let _ = self
                    .swarm
                    .behaviour_mut()
                    .store
                    .send_response(channel, response);
            }
            Command::HistoryRespond { channel, response } => {
                let _ = self
                    .swarm
                    .behaviour_mut()
                    .history
                    .send_response(channel, response);
            }
            Command::Store { part } => {
                let change = self.topics.store(&part);
                self.apply(change);
            }
            Command::Unstore { part } => {
                let change = self.topics.unstore(&part);
                self.apply(change);
            }
            Command::Join { part } => {
                let change = self.topics.subscribe(&part);
                self.apply(change);
            }
            Command::Leave { part } => {
                let change = self.topics.unsubscribe(&part, std::time::Instant::now());
                self.apply(change);
            }
            Command::Publish { wire, reply } => self.publish(wire, reply),
        }
    }

    fn on_swarm_event(&mut self, event: SwarmEvent<NodeBehaviourEvent>) {
        match event {
            SwarmEvent::NewListenAddr { address, .. } => self.announce.listening(address),
            SwarmEvent::ConnectionEstablished {
                peer_id,
                connection_id,
                endpoint,
                ..
            } => {
                let reader = ReaderKey::of_connection(peer_id, endpoint.get_remote_address());
                self.connections.insert(connection_id, reader);
                self.count_peers();
            }
            SwarmEvent::ConnectionClosed {
                peer_id,
                connection_id,
                num_established,
                ..
            } => {
                self.connections.remove(&connection_id);
                if num_established == 0 {
                    self.light_disconnected(peer_id);
                }
                self.count_peers();
            }
            SwarmEvent::IncomingConnectionError {
                send_back_addr,
                error: ListenError::Denied { cause },
                ..
            } => self.connection_refused(&send_back_addr, cause),
            SwarmEvent::Behaviour(NodeBehaviourEvent::Identify(identify::Event::Received {
                peer_id,
                info,
                ..
            })) => Discovery::identified(&mut self.swarm, peer_id, info),
            SwarmEvent::Behaviour(NodeBehaviourEvent::Kademlia(event)) => {
                self.discovery.on_kademlia(&mut self.swarm, &event)
            }
            SwarmEvent::Behaviour(NodeBehaviourEvent::Store(event)) => self.on_store_event(event),
            SwarmEvent::Behaviour(NodeBehaviourEvent::Light(
                request_response::Event::Message {
                    peer,
                    connection_id,
                    message:
                        request_response::Message::Request {
                            request, channel, ..
                        },
                },
            )) => {
                let from = self.reader_key(peer, connection_id);
                match request {
                    Inbound::Request(request) => {
                        self.on_light_request(peer, from, request, channel)
                    }
                    Inbound::Refused(refusal) => self.light_refused(from, refusal, channel),
                }
            }
            SwarmEvent::Behaviour(NodeBehaviourEvent::Delivery(
                request_response::Event::Message { peer, .. }
                | request_response::Event::OutboundFailure { peer, .. },
            )) if self.light.delivery_done(peer) => self.light_flush(peer),
            SwarmEvent::Behaviour(NodeBehaviourEvent::Gossipsub(event)) => self.on_gossip(event),
            SwarmEvent::Behaviour(NodeBehaviourEvent::History(event)) => self.on_history(event),
            _ => {}
        }
    }

    /// Logs and counts a request of `protocol` from `from` refused before it was read whole.
    pub(super) fn count_refusal(&self, protocol: &'static str, from: ReaderKey, refusal: &Refusal) {
        debug!(%from, protocol, code = refusal.code, "request refused: {}", refusal.message);
        self.metrics
            .requests_refused
            .get_or_create(&Refused {
                protocol,
                reason: refusal.code,
            })
            .inc();
    }

    /// Who a request that came on `connection` from `peer` counts as for history turns.
    pub(super) fn reader_key(&self, peer: PeerId, connection: ConnectionId) -> ReaderKey {
        self.connections
            .get(&connection)
            .copied()
            .unwrap_or(ReaderKey::Peer(peer))
    }

    /// An incoming connection closed by the node's limits: logged with its address and why, counted.
    fn connection_refused(&mut self, from: &Multiaddr, cause: ConnectionDenied) {
        let which = if cause.downcast_ref::<TooManyFromAddress>().is_some() {
            "per_address"
        } else if cause.downcast_ref::<ConnectingTooOften>().is_some() {
            "per_address_rate"
        } else {
            "limits"
        };
        let why =
            std::error::Error::source(&cause).map_or_else(|| cause.to_string(), |e| e.to_string());
        if let Some(before) = self
            .refusals_logged
            .line(std::time::Instant::now(), "refused")
        {
            info!("closed an incoming connection from {from}: {why}{before}");
        }
        self.metrics
            .connections_refused
            .get_or_create(&Reason {
                reason: which.into(),
            })
            .inc();
    }

    fn count_peers(&self) {
        self.metrics
            .peers
            .set(self.swarm.connected_peers().count() as i64);
    }
}

#[cfg(unix)]
fn signal_terminate() -> Result<tokio::signal::unix::Signal> {
    Ok(tokio::signal::unix::signal(
        tokio::signal::unix::SignalKind::terminate(),
    )?)
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::{Duration, LOG_INTERVAL, Throttled};

    #[test]
    fn a_flood_gets_a_line_per_interval_saying_how_many_went_unlogged() {
        let mut throttled = Throttled::default();
        let start = Instant::now();
        assert_eq!(throttled.line(start, "refused"), Some(String::new()));
        for s in 1..=5 {
            assert_eq!(
                throttled.line(start + Duration::from_secs(s), "refused"),
                None
            );
        }
        assert_eq!(
            throttled.line(start + LOG_INTERVAL, "refused").as_deref(),
            Some(" (5 more refused since the last such line, not logged)")
        );
        assert_eq!(
            throttled.line(start + LOG_INTERVAL + Duration::from_millis(1), "refused"),
            None
        );
    }
}
