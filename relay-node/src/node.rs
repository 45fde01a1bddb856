//! The node runtime. One task owns the libp2p swarm and the validator; the HTTP API reaches it through a
//! bounded command channel; a writer task group-commits stored events (acknowledging a publish only once
//! its event is on disk); a sync task keeps the permission cache up with the registry.

use std::{
    collections::HashSet,
    sync::{Arc, RwLock},
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use anyhow::{Context, Result};
use futures::StreamExt;
use rivulet_chain::{ChainClient, Deployment, PermissionCache, to_alloy};
use rivulet_network::{
    HISTORY_PAGE_BYTES, HistoryQuery, HistoryRequest, HistoryResponse, NetworkConfig,
    NodeBehaviour, NodeBehaviourEvent, build_swarm,
    libp2p::{Multiaddr, PeerId, Swarm, gossipsub, identify, request_response, swarm::SwarmEvent},
    part_of_topic, peer_of,
};
use rivulet_protocol::{
    Address, ChainKey, ChainTracker, Ingest, Limits, MessageId, MessageRef, StreamMessage,
    StreamPartId,
};
use rivulet_store::{Limit, Store};
use rivulet_validate::{Rejection, Validator, ValidatorConfig, Verdict};
use serde::Serialize;
use tokio::sync::{broadcast, mpsc, oneshot};
use tracing::{debug, info, warn};

use crate::{config::NodeConfig, http, identity, metrics::Metrics, paths::DataDir};

#[path = "light.rs"]
mod light;

/// What the HTTP API asks of the swarm task.
#[derive(Debug)]
pub(crate) enum Command {
    /// Validate, relay (and store, if this node stores the part) a signed event.
    Publish {
        wire: Vec<u8>,
        reply: oneshot::Sender<Result<Published, Rejection>>,
    },
    /// The number of connected peers.
    Peers { reply: oneshot::Sender<usize> },
    /// History of a stream part this node does not store, from the peers that do.
    RemoteHistory {
        part: StreamPartId,
        query: HistoryQuery,
        reply: oneshot::Sender<Result<HistoryPage, String>>,
    },
    /// A local subscriber wants a stream part: join its topic (counted).
    Join { part: StreamPartId },
    /// A local subscriber left a stream part.
    Leave { part: StreamPartId },
    /// Send a light client the answer to its request (worked out off the swarm task).
    LightRespond {
        channel: request_response::ResponseChannel<rivulet_network::light::LightResponse>,
        response: rivulet_network::light::LightResponse,
    },
}

/// An accepted event, as handed to local subscribers.
#[derive(Debug)]
pub(crate) struct Delivered {
    /// Its stream part.
    pub(crate) part: StreamPartId,
    /// The event as a JSON `message` frame body (rendered once for every subscriber).
    pub(crate) json: String,
}

/// The outcome of an accepted publish.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Published {
    /// The stream part.
    pub(crate) part: String,
    /// Whether this node already had it (publishing is idempotent).
    pub(crate) duplicate: bool,
    /// Whether this node stored it durably before answering.
    pub(crate) stored: bool,
}

/// Shared with the HTTP handlers.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) peer_id: PeerId,
    pub(crate) metrics: Metrics,
    pub(crate) store: Arc<Store>,
    pub(crate) parts: HashSet<StreamPartId>,
    pub(crate) commands: mpsc::Sender<Command>,
    pub(crate) limits: Limits,
    /// Accepted events for local subscribers. Bounded: a subscriber that falls behind by more than its
    /// capacity loses the oldest events and is told how many.
    pub(crate) events: broadcast::Sender<Arc<Delivered>>,
    /// The registry's permissions, for subscribe checks.
    pub(crate) cache: Arc<RwLock<PermissionCache>>,
    /// Frames a WebSocket connection may send per second (sustained; bursts up to twice that).
    pub(crate) ws_rate: u32,
    /// WebSocket connections served at once.
    pub(crate) ws_max_connections: usize,
    /// Stream parts one WebSocket connection may subscribe to.
    pub(crate) ws_max_subscriptions: usize,
    /// Open WebSocket connections.
    pub(crate) ws_connections: std::sync::atomic::AtomicUsize,
    /// Read-only access to the registry, for the stream endpoints.
    pub(crate) chain: ChainClient,
    /// The node's own publisher key, for clients that send plain content (it needs publish permission).
    pub(crate) publisher: rivulet_protocol::Signer,
    /// The node's message chains, one per stream part it signs for.
    pub(crate) chains:
        std::sync::Mutex<std::collections::HashMap<StreamPartId, rivulet_protocol::MessageChain>>,
    /// "Now" as the contracts see it, for licence expiries.
    pub(crate) clock: Arc<ChainClock>,
    /// Set to true when the node shuts down, so WebSocket sessions can close cleanly (1001). Each
    /// session holds a receiver: the count says how many are still open.
    pub(crate) stopping: tokio::sync::watch::Sender<bool>,
}

/// The chain's clock: the latest block's timestamp, carried forward by this machine's clock since it was
/// read, and never behind this machine's clock. Expiries are judged by it because the contracts judge
/// them by `block.timestamp`, which a development chain may move ahead (`evm_increaseTime`).
#[derive(Debug, Default)]
pub(crate) struct ChainClock {
    seen: std::sync::Mutex<Option<(u64, std::time::Instant)>>,
}

impl ChainClock {
    /// Records the latest block's timestamp (Unix seconds), read just now.
    pub(crate) fn observe(&self, block_secs: u64) {
        let mut seen = match self.seen.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        *seen = Some((block_secs, std::time::Instant::now()));
    }

    /// Unix seconds now, by the chain.
    pub(crate) fn now_secs(&self) -> u64 {
        let wall = now_ms() / 1000;
        let seen = match self.seen.lock() {
            Ok(g) => *g,
            Err(p) => *p.into_inner(),
        };
        match seen {
            Some((block, at)) => wall.max(block + at.elapsed().as_secs()),
            None => wall,
        }
    }
}

impl Shared {
    /// The registry's permissions as this node knows them (a panic elsewhere cannot lock them away).
    pub(crate) fn permissions(&self) -> std::sync::RwLockReadGuard<'_, PermissionCache> {
        match self.cache.read() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// Whether `address` (`None`: an anonymous client, public streams only) may subscribe to `part` now.
    pub(crate) fn may_subscribe(&self, address: Option<Address>, part: &StreamPartId) -> bool {
        let who = to_alloy(address.unwrap_or(Address::ZERO));
        self.permissions()
            .may_subscribe(part.stream_id.as_str(), who, self.clock.now_secs())
    }

    /// Whether `address` may publish to `part` now.
    pub(crate) fn may_publish(&self, address: Address, part: &StreamPartId) -> bool {
        self.permissions().may_publish(
            part.stream_id.as_str(),
            to_alloy(address),
            self.clock.now_secs(),
        )
    }
}

struct StoreJob {
    id: MessageId,
    wire: Vec<u8>,
    ack: Option<oneshot::Sender<bool>>,
}

/// The running node's addresses, written to `node.json` in the data directory.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct State {
    peer_id: String,
    publisher: String,
    listen: Vec<String>,
    http: String,
}

pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Runs the node until SIGINT or SIGTERM.
pub(crate) async fn run(config: NodeConfig) -> Result<()> {
    let dir = DataDir::new(&config.data_dir);
    std::fs::create_dir_all(dir.root())
        .with_context(|| format!("cannot create data dir {}", dir.root().display()))?;
    let key = identity::load_or_create(&dir.node_key())?;
    let publisher = identity::load_or_create_publisher(&dir.publisher_key())?;
    let peer_id = key.public().to_peer_id();
    let store = Arc::new(Store::open(&dir.history())?);
    let deployment = Deployment::load(&config.deployment).with_context(
        || "run rivulet-deploy (or cargo xtask chain) first, or set chain.deployment",
    )?;
    let client = ChainClient::connect(deployment, config.rpc_url.as_deref(), None)
        .await
        .context("cannot use the chain the deployment names")?;
    let mut cache = PermissionCache::new(client.deployment().start_block);
    cache
        .sync_confirmed(&client, config.confirmations)
        .await
        .context("cannot read the stream registry")?;
    let cache = Arc::new(RwLock::new(cache));

    let limits = Limits {
        max_content_len: config.max_content_bytes,
    };
    let network = NetworkConfig {
        max_message_len: config.max_content_bytes + 4096,
        webrtc_certificate_pem: Some(identity::load_or_create_webrtc_certificate(
            &dir.webrtc_certificate(),
        )?),
        ..NetworkConfig::default()
    };
    let mut swarm = build_swarm(key, network).await?;
    for addr in &config.listen {
        swarm
            .listen_on(addr.clone())
            .with_context(|| format!("cannot listen on {addr}"))?;
    }
    for addr in &config.bootstrap {
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
    for part in &config.parts {
        swarm.behaviour_mut().subscribe(part)?;
    }

    let (commands, command_rx) = mpsc::channel(1024);
    let shared = Arc::new(Shared {
        peer_id,
        metrics: Metrics::new(),
        store: store.clone(),
        parts: config.parts.iter().cloned().collect(),
        commands,
        limits,
        events: broadcast::channel(4096).0,
        cache: cache.clone(),
        ws_rate: config.ws_rate,
        ws_max_connections: config.ws_max_connections,
        ws_max_subscriptions: config.ws_max_subscriptions,
        ws_connections: Default::default(),
        chain: client.clone(),
        publisher,
        chains: Default::default(),
        clock: Arc::default(),
        stopping: tokio::sync::watch::Sender::new(false),
    });
    shared.metrics.topics.set(config.parts.len() as i64);
    shared
        .metrics
        .store_messages
        .set(store.len().unwrap_or(0) as i64);

    let listener = tokio::net::TcpListener::bind(config.http_listen)
        .await
        .with_context(|| format!("cannot listen for HTTP on {}", config.http_listen))?;
    let http_addr = listener.local_addr()?;
    let router = http::router(shared.clone());
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, router).await {
            warn!("HTTP server stopped: {e}");
        }
    });
    info!(%peer_id, http = %http_addr, "relay node started");

    let (store_tx, store_rx) = mpsc::channel::<StoreJob>(16_384);
    tokio::spawn(store_writer(shared.clone(), store_rx));
    tokio::spawn(sync_permissions(
        client,
        cache.clone(),
        shared.clock.clone(),
        config.sync_interval_ms,
        config.confirmations,
    ));

    let validator = Validator::new(ValidatorConfig {
        limits,
        max_future_skew_ms: config.max_future_skew_ms,
        ..ValidatorConfig::default()
    });
    let mut task = SwarmTask {
        swarm,
        validator,
        shared: shared.clone(),
        store_tx,
        listen: Vec::new(),
        state_file: dir.state(),
        http_addr,
        local_subscribers: Default::default(),
        published_parts: HashSet::new(),
        bootstrap: config.bootstrap.clone(),
        lingering: Default::default(),
        pending_history: Default::default(),
        light: Default::default(),
        discovery_rounds: 0,
        ordering: ChainTracker::new(1024, 100_000),
        order_waits: Default::default(),
    };
    let result = task.run(command_rx).await;
    close_websockets(&shared).await;
    result
}

/// Tells WebSocket sessions the node is going away and gives them a moment to send their close frames.
async fn close_websockets(shared: &Shared) {
    shared.stopping.send_replace(true);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(1);
    while shared.stopping.receiver_count() > 0 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

struct SwarmTask {
    swarm: Swarm<NodeBehaviour>,
    validator: Validator,
    shared: Arc<Shared>,
    store_tx: mpsc::Sender<StoreJob>,
    listen: Vec<Multiaddr>,
    state_file: std::path::PathBuf,
    http_addr: std::net::SocketAddr,
    local_subscribers: std::collections::HashMap<StreamPartId, usize>,
    /// Parts this node joined because an API client published to them.
    published_parts: HashSet<StreamPartId>,
    /// Bootstrap peers, redialled while disconnected.
    bootstrap: Vec<Multiaddr>,
    /// History requests sent to peers, waiting for answers.
    pending_history: std::collections::HashMap<request_response::OutboundRequestId, PendingHistory>,
    /// Topics without local subscribers, and when to leave them.
    lingering: std::collections::HashMap<StreamPartId, std::time::Instant>,
    /// Light clients using this node as their entry node.
    light: light::LightClients,
    /// Discovery rounds run so far.
    discovery_rounds: u64,
    /// Orders events per publisher chain for local subscribers.
    ordering: ChainTracker<(StreamMessage, Vec<u8>)>,
    /// Chains with events waiting for a predecessor, and since when.
    order_waits: std::collections::HashMap<ChainKey, std::time::Instant>,
}

/// A history request travelling from peer to peer until one stores the part.
struct PendingHistory {
    request: HistoryRequest,
    untried: Vec<PeerId>,
    last_error: String,
    reply: oneshot::Sender<Result<HistoryPage, String>>,
}

/// How long an event waits for its chain predecessor before local subscribers get it anyway.
const ORDER_WAIT: Duration = Duration::from_millis(1000);

/// How many nodes a node tries to stay connected to.
const TARGET_PEERS: usize = 24;

/// How long a node stays in a topic after its last local subscriber left.
const TOPIC_LINGER: Duration = Duration::from_secs(90);

impl SwarmTask {
    async fn run(&mut self, mut commands: mpsc::Receiver<Command>) -> Result<()> {
        let mut terminate = signal_terminate()?;
        let mut redial = tokio::time::interval(Duration::from_secs(5));
        let mut order_tick = tokio::time::interval(ORDER_WAIT / 4);
        loop {
            tokio::select! {
                event = self.swarm.select_next_some() => self.on_swarm_event(event),
                _ = order_tick.tick(), if !self.order_waits.is_empty() => self.release_overdue(),
                _ = redial.tick() => {
                    self.redial_bootstrap();
                    self.discover();
                    self.leave_lingering_topics();
                }
                Some(command) = commands.recv() => self.on_command(command),
                _ = tokio::signal::ctrl_c() => break,
                _ = terminate.recv() => break,
            }
        }
        info!("shutting down");
        Ok(())
    }

    /// Sends a pending history request to the next untried peer, or gives up with the last error.
    fn ask_next_peer(&mut self, mut pending: PendingHistory) {
        match pending.untried.pop() {
            Some(peer) => {
                let id = self
                    .swarm
                    .behaviour_mut()
                    .history
                    .send_request(&peer, pending.request.clone());
                self.pending_history.insert(id, pending);
            }
            None => {
                let _ = pending.reply.send(Err(format!(
                    "no connected node stores {} ({})",
                    pending.request.part, pending.last_error
                )));
            }
        }
    }

    /// Leaves topics whose linger time ran out with no subscriber back.
    fn leave_lingering_topics(&mut self) {
        let now = std::time::Instant::now();
        let expired: Vec<StreamPartId> = self
            .lingering
            .iter()
            .filter(|(_, deadline)| **deadline <= now)
            .map(|(p, _)| p.clone())
            .collect();
        for part in expired {
            self.lingering.remove(&part);
            self.swarm.behaviour_mut().unsubscribe(&part);
            self.shared.metrics.topics.dec();
        }
    }

    /// Connects to nodes the DHT knows, up to [`TARGET_PEERS`]: a topic's mesh forms only among nodes
    /// that are directly connected, so nodes that joined through the same bootstrap peer must meet.
    /// Every few rounds it also refreshes the routing table with a DHT bootstrap query.
    fn discover(&mut self) {
        self.discovery_rounds += 1;
        if self.discovery_rounds % 6 == 1 {
            // Fails only with no known peers, which the bootstrap redial handles.
            let _ = self.swarm.behaviour_mut().kademlia.bootstrap();
        }
        let connected = self.swarm.connected_peers().count();
        if connected >= TARGET_PEERS {
            return;
        }
        let mut candidates: Vec<(PeerId, Vec<Multiaddr>)> = Vec::new();
        for bucket in self.swarm.behaviour_mut().kademlia.kbuckets() {
            for entry in bucket.iter() {
                candidates.push((
                    *entry.node.key.preimage(),
                    entry.node.value.iter().cloned().collect(),
                ));
            }
        }
        for (peer, addresses) in candidates.into_iter().take(TARGET_PEERS - connected) {
            if self.swarm.is_connected(&peer) || addresses.is_empty() {
                continue;
            }
            let opts = rivulet_network::libp2p::swarm::dial_opts::DialOpts::peer_id(peer)
                .addresses(addresses)
                .build();
            if let Err(e) = self.swarm.dial(opts) {
                debug!(%peer, "discovery dial failed: {e}");
            }
        }
    }

    /// Dials bootstrap peers this node is not connected to (they restarted, or the link broke).
    fn redial_bootstrap(&mut self) {
        for addr in &self.bootstrap {
            if let Some(peer) = peer_of(addr)
                && !self.swarm.is_connected(&peer)
                && let Err(e) = self.swarm.dial(addr.clone())
            {
                debug!(%addr, "redial failed: {e}");
            }
        }
    }

    fn validate(&mut self, wire: &[u8]) -> Verdict {
        let cache = self.shared.permissions();
        self.validator.validate(wire, now_ms(), &*cache)
    }

    fn on_swarm_event(&mut self, event: SwarmEvent<NodeBehaviourEvent>) {
        match event {
            SwarmEvent::NewListenAddr { address, .. } => {
                info!(%address, "listening");
                self.listen.push(address);
                self.write_state();
            }
            SwarmEvent::ConnectionEstablished { .. } => {
                self.shared
                    .metrics
                    .peers
                    .set(self.swarm.connected_peers().count() as i64);
            }
            SwarmEvent::ConnectionClosed {
                peer_id,
                num_established,
                ..
            } => {
                if num_established == 0 {
                    self.light_disconnected(peer_id);
                }
                self.shared
                    .metrics
                    .peers
                    .set(self.swarm.connected_peers().count() as i64);
            }
            // Other relay nodes (they speak kademlia) go into the routing table with the addresses they
            // listen on; light clients do not run identify.
            SwarmEvent::Behaviour(NodeBehaviourEvent::Identify(identify::Event::Received {
                peer_id,
                info,
                ..
            })) if info.protocols.contains(&rivulet_network::KAD_PROTOCOL) => {
                for addr in info.listen_addrs {
                    let usable = !addr.iter().any(|p| {
                        matches!(
                            p,
                            rivulet_network::libp2p::multiaddr::Protocol::WebRTCDirect
                        )
                    });
                    if usable {
                        self.swarm
                            .behaviour_mut()
                            .kademlia
                            .add_address(&peer_id, addr);
                    }
                }
            }
            SwarmEvent::Behaviour(NodeBehaviourEvent::Light(
                request_response::Event::Message {
                    peer,
                    message:
                        request_response::Message::Request {
                            request, channel, ..
                        },
                    ..
                },
            )) => self.on_light_request(peer, request, channel),
            SwarmEvent::Behaviour(NodeBehaviourEvent::Delivery(
                request_response::Event::Message { peer, .. }
                | request_response::Event::OutboundFailure { peer, .. },
            )) => self.light_delivery_done(peer),
            SwarmEvent::Behaviour(NodeBehaviourEvent::Gossipsub(gossipsub::Event::Message {
                propagation_source,
                message_id,
                message,
            })) => {
                let acceptance = match self.validate(&message.data) {
                    Verdict::Accept(msg) => {
                        self.shared
                            .metrics
                            .events_in
                            .get_or_create(&crate::metrics::Source {
                                source: "gossip".into(),
                            })
                            .inc();
                        self.deliver(&msg, &message.data);
                        if part_of_topic(&message.topic)
                            .is_some_and(|p| self.shared.parts.contains(&p))
                        {
                            self.queue_store(&msg, message.data.clone(), None);
                        }
                        gossipsub::MessageAcceptance::Accept
                    }
                    Verdict::Duplicate => {
                        self.shared.metrics.duplicates.inc();
                        gossipsub::MessageAcceptance::Ignore
                    }
                    Verdict::Reject(r) => {
                        debug!(peer = %propagation_source, "rejected gossip: {r}");
                        self.shared.metrics.reject(r.reason());
                        if r.penalises_sender() {
                            gossipsub::MessageAcceptance::Reject
                        } else {
                            gossipsub::MessageAcceptance::Ignore
                        }
                    }
                };
                self.swarm
                    .behaviour_mut()
                    .report(&message_id, &propagation_source, acceptance);
            }
            SwarmEvent::Behaviour(NodeBehaviourEvent::History(
                request_response::Event::Message {
                    message:
                        request_response::Message::Request {
                            request, channel, ..
                        },
                    ..
                },
            )) => {
                let response = self.answer_history(&request);
                let _ = self
                    .swarm
                    .behaviour_mut()
                    .history
                    .send_response(channel, response);
            }
            SwarmEvent::Behaviour(NodeBehaviourEvent::History(
                request_response::Event::Message {
                    message:
                        request_response::Message::Response {
                            request_id,
                            response,
                        },
                    ..
                },
            )) => {
                if let Some(pending) = self.pending_history.remove(&request_id) {
                    match response {
                        HistoryResponse::Messages { messages, next } => {
                            let messages = messages.into_iter().map(|b| b.into_vec()).collect();
                            let _ = pending.reply.send(Ok((messages, next)));
                        }
                        HistoryResponse::Error(e) => self.ask_next_peer(PendingHistory {
                            last_error: e,
                            ..pending
                        }),
                    }
                }
            }
            SwarmEvent::Behaviour(NodeBehaviourEvent::History(
                request_response::Event::OutboundFailure {
                    request_id, error, ..
                },
            )) => {
                if let Some(pending) = self.pending_history.remove(&request_id) {
                    self.ask_next_peer(PendingHistory {
                        last_error: error.to_string(),
                        ..pending
                    });
                }
            }
            _ => {}
        }
    }

    fn answer_history(&self, request: &HistoryRequest) -> HistoryResponse {
        let Ok(part) = request.part.parse::<StreamPartId>() else {
            return HistoryResponse::Error(format!("{:?} is not a stream part", request.part));
        };
        if !self.shared.parts.contains(&part) {
            return HistoryResponse::Error(format!("this node does not store {part}"));
        }
        match query_store(&self.shared.store, &part, &request.query) {
            Ok((messages, next)) => HistoryResponse::Messages {
                messages: messages.into_iter().map(Into::into).collect(),
                next,
            },
            Err(e) => HistoryResponse::Error(e),
        }
    }

    fn on_command(&mut self, command: Command) {
        match command {
            Command::Peers { reply } => {
                let _ = reply.send(self.swarm.connected_peers().count());
            }
            Command::RemoteHistory { part, query, reply } => {
                let untried: Vec<PeerId> = self.swarm.connected_peers().copied().collect();
                let request = HistoryRequest {
                    part: part.to_string(),
                    query,
                };
                self.ask_next_peer(PendingHistory {
                    request,
                    untried,
                    last_error: "no peers".into(),
                    reply,
                });
            }
            Command::LightRespond { channel, response } => self.light_respond(channel, response),
            Command::Join { part } => self.join(part),
            Command::Leave { part } => self.leave(part),
            Command::Publish { wire, reply } => self.publish(wire, reply),
        }
    }

    /// A local subscriber (WebSocket or light client) wants a stream part: join its topic (counted).
    fn join(&mut self, part: StreamPartId) {
        let count = self.local_subscribers.entry(part.clone()).or_insert(0);
        *count += 1;
        // Still in the topic from a recent subscriber: nothing to do.
        let lingered = self.lingering.remove(&part).is_some();
        if *count == 1
            && !lingered
            && !self.shared.parts.contains(&part)
            && !self.published_parts.contains(&part)
        {
            if let Err(e) = self.swarm.behaviour_mut().subscribe(&part) {
                warn!(%part, "cannot join topic: {e}");
            }
            self.shared.metrics.topics.inc();
        }
    }

    /// A local subscriber left a stream part.
    fn leave(&mut self, part: StreamPartId) {
        if let Some(count) = self.local_subscribers.get_mut(&part) {
            *count -= 1;
            if *count == 0 {
                self.local_subscribers.remove(&part);
                if !self.shared.parts.contains(&part) && !self.published_parts.contains(&part) {
                    // Leave the topic only if nobody subscribes again soon: leaving and rejoining
                    // within gossipsub's backoff keeps this node out of the mesh.
                    self.lingering
                        .insert(part, std::time::Instant::now() + TOPIC_LINGER);
                }
            }
        }
    }

    /// Validates, relays and (where stored) stores an event from an API or light client.
    fn publish(&mut self, wire: Vec<u8>, reply: oneshot::Sender<Result<Published, Rejection>>) {
        let message = match self.validate(&wire) {
            Verdict::Accept(message) => message,
            Verdict::Duplicate => {
                self.shared.metrics.duplicates.inc();
                // Decodes: it was accepted before.
                let part = StreamMessage::decode(&wire, &self.shared.limits)
                    .map(|m| m.id().stream_part().to_string());
                let _ = reply.send(Ok(Published {
                    part: part.unwrap_or_default(),
                    duplicate: true,
                    stored: false,
                }));
                return;
            }
            Verdict::Reject(r) => {
                self.shared.metrics.reject(r.reason());
                let _ = reply.send(Err(r));
                return;
            }
        };
        let part = message.id().stream_part();
        self.shared
            .metrics
            .events_in
            .get_or_create(&crate::metrics::Source {
                source: "api".into(),
            })
            .inc();
        self.deliver(&message, &wire);
        // A node that publishes to a stream part joins its topic, so that events published later
        // on other nodes of that part can be routed through it.
        if self.lingering.remove(&part).is_some() {
            // Already in the topic; now it stays.
            self.published_parts.insert(part.clone());
        } else if !self.shared.parts.contains(&part)
            && !self.local_subscribers.contains_key(&part)
            && self.published_parts.insert(part.clone())
        {
            if let Err(e) = self.swarm.behaviour_mut().subscribe(&part) {
                warn!(%part, "cannot join topic: {e}");
            } else {
                self.shared.metrics.topics.inc();
            }
        }
        match self.swarm.behaviour_mut().publish(&part, wire.clone()) {
            Ok(_) => {
                self.shared.metrics.events_out.inc();
            }
            // Alone in the topic: nobody to relay to yet, which is fine.
            Err(gossipsub::PublishError::NoPeersSubscribedToTopic) => {}
            Err(e) => warn!(%part, "gossip publish failed: {e}"),
        }
        if self.shared.parts.contains(&part) {
            let (ack_tx, ack_rx) = oneshot::channel();
            self.queue_store(&message, wire, Some(ack_tx));
            let part = part.to_string();
            tokio::spawn(async move {
                let stored = ack_rx.await.unwrap_or(false);
                let _ = reply.send(Ok(Published {
                    part,
                    duplicate: false,
                    stored,
                }));
            });
        } else {
            let _ = reply.send(Ok(Published {
                part: part.to_string(),
                duplicate: false,
                stored: false,
            }));
        }
    }

    /// Hands an accepted event to local subscribers in publisher-chain order. Gossip can bring a
    /// chain's events out of order (a mesh has several paths); an event whose predecessor has not come
    /// waits up to [`ORDER_WAIT`], then is handed out anyway (subscribers fill real gaps by resend).
    fn deliver(&mut self, message: &StreamMessage, wire: &[u8]) {
        let part = message.id().stream_part();
        if !self.local_subscribers.contains_key(&part) {
            return;
        }
        let key = ChainKey {
            part,
            publisher: message.id().publisher,
            chain_id: message.id().chain_id.clone(),
        };
        let item = (message.clone(), wire.to_vec());
        match self
            .ordering
            .ingest(key.clone(), message.message_ref(), message.body.prev, item)
        {
            Ingest::Deliver(items) => {
                if self.ordering.waiting(&key) == 0 {
                    self.order_waits.remove(&key);
                }
                for (m, w) in items {
                    self.fan_out(&m, &w);
                }
            }
            // Not a repeat (the validator dropped those): an event older than what subscribers already
            // got, arriving after its gap was given up. Late is better than lost.
            Ingest::Duplicate => self.fan_out(message, wire),
            Ingest::Buffered { .. } => {
                self.order_waits
                    .entry(key)
                    .or_insert_with(std::time::Instant::now);
            }
            Ingest::Overflow => self.release_waiting(&key),
        }
    }

    /// Hands out what waits on `key`'s chain, skipping the gap before it.
    fn release_waiting(&mut self, key: &ChainKey) {
        self.order_waits.remove(key);
        for (m, w) in self.ordering.skip_gaps(key) {
            self.fan_out(&m, &w);
        }
    }

    /// Releases chains whose events waited longer than [`ORDER_WAIT`] for a predecessor.
    fn release_overdue(&mut self) {
        let now = std::time::Instant::now();
        let overdue: Vec<ChainKey> = self
            .order_waits
            .iter()
            .filter(|(_, since)| now.duration_since(**since) >= ORDER_WAIT)
            .map(|(k, _)| k.clone())
            .collect();
        for key in overdue {
            self.release_waiting(&key);
        }
    }

    /// Hands an event to local subscribers: light clients' queues, and WebSocket sessions (rendered
    /// once, only if any listens).
    fn fan_out(&mut self, message: &StreamMessage, wire: &[u8]) {
        let part = message.id().stream_part();
        if self.light.wants(&part) {
            self.light_deliver(&part, message.body.message_type, wire);
        }
        if self.shared.events.receiver_count() == 0 {
            return;
        }
        let json = crate::http::message_json(message, wire).to_string();
        let _ = self.shared.events.send(Arc::new(Delivered { part, json }));
    }

    fn queue_store(
        &self,
        message: &StreamMessage,
        wire: Vec<u8>,
        ack: Option<oneshot::Sender<bool>>,
    ) {
        let job = StoreJob {
            id: message.id().clone(),
            wire,
            ack,
        };
        if let Err(e) = self.store_tx.try_send(job) {
            // The writer is far behind: refuse rather than buffer without bound.
            warn!("store queue full; event not stored");
            if let mpsc::error::TrySendError::Full(job) | mpsc::error::TrySendError::Closed(job) = e
                && let Some(ack) = job.ack
            {
                let _ = ack.send(false);
            }
        }
    }

    fn write_state(&self) {
        let peer = self.shared.peer_id;
        let state = State {
            peer_id: peer.to_string(),
            publisher: self.shared.publisher.address().to_checksum(),
            listen: self
                .listen
                .iter()
                .map(|a| format!("{a}/p2p/{peer}"))
                .collect(),
            http: self.http_addr.to_string(),
        };
        let tmp = self.state_file.with_extension("json.tmp");
        let written = serde_json::to_vec_pretty(&state)
            .map_err(std::io::Error::other)
            .and_then(|bytes| std::fs::write(&tmp, bytes))
            .and_then(|()| std::fs::rename(&tmp, &self.state_file));
        if let Err(e) = written {
            warn!("cannot write {}: {e}", self.state_file.display());
        }
    }
}

/// Why a publish through the API failed.
#[derive(Debug)]
pub(crate) enum SubmitError {
    /// The event was refused.
    Rejected(Rejection),
    /// The node is stopping.
    Stopping,
}

/// Validates, relays and (where stored) durably stores one event for an API client.
pub(crate) async fn submit(shared: &Shared, wire: Vec<u8>) -> Result<Published, SubmitError> {
    let (reply, rx) = oneshot::channel();
    shared
        .commands
        .send(Command::Publish { wire, reply })
        .await
        .map_err(|_| SubmitError::Stopping)?;
    match rx.await {
        Ok(Ok(published)) => Ok(published),
        Ok(Err(rejection)) => Err(SubmitError::Rejected(rejection)),
        Err(_) => Err(SubmitError::Stopping),
    }
}

/// Messages (wire bytes, oldest first) and the query for the rest of the answer, if it did not fit.
pub(crate) type HistoryPage = (Vec<Vec<u8>>, Option<HistoryQuery>);

/// The first page (at most [`HISTORY_PAGE_BYTES`]) of a query's answer from this node's store.
pub(crate) fn query_store(
    store: &Store,
    part: &StreamPartId,
    query: &HistoryQuery,
) -> Result<HistoryPage, String> {
    let limit = Limit::default();
    let r = |(t, s): (u64, u32)| MessageRef::new(t, s);
    let result = match query {
        HistoryQuery::Last { n } => store.last(part, (*n as usize).min(limit.0)),
        HistoryQuery::Range { from, to } => store.range(part, r(*from), r(*to), limit),
        HistoryQuery::Chain {
            publisher,
            chain_id,
            after,
            to,
        } => {
            let publisher = publisher.parse().map_err(|e| format!("publisher: {e}"))?;
            let chain_id = chain_id.parse().map_err(|e| format!("chain id: {e}"))?;
            store.chain_range(part, publisher, &chain_id, r(*after), r(*to), limit)
        }
    };
    let messages = result.map_err(|e| e.to_string())?;
    Ok(query.page(messages, HISTORY_PAGE_BYTES))
}

/// Group commit: takes what is queued (up to 1,000 events), appends it in one durable transaction, then
/// acknowledges.
async fn store_writer(shared: Arc<Shared>, mut jobs: mpsc::Receiver<StoreJob>) {
    while let Some(first) = jobs.recv().await {
        let mut batch = vec![first];
        while batch.len() < 1000 {
            match jobs.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let store = shared.store.clone();
        let (entries, acks): (Vec<_>, Vec<_>) =
            batch.into_iter().map(|j| ((j.id, j.wire), j.ack)).unzip();
        let count = entries.len();
        let result = tokio::task::spawn_blocking(move || {
            store
                .append(entries.iter().map(|(id, wire)| (id, wire.as_slice())))
                .map(|new| (new, store.len().unwrap_or(0)))
        })
        .await;
        let ok = match result {
            Ok(Ok((new, total))) => {
                shared.metrics.stored.inc_by(new as u64);
                shared.metrics.store_messages.set(total as i64);
                true
            }
            Ok(Err(e)) => {
                warn!("storing {count} events failed: {e}");
                false
            }
            Err(e) => {
                warn!("store task failed: {e}");
                false
            }
        };
        for ack in acks.into_iter().flatten() {
            let _ = ack.send(ok);
        }
    }
}

/// Follows the registry (reads new events outside the lock, applies them inside) and the chain's clock.
async fn sync_permissions(
    client: ChainClient,
    cache: Arc<RwLock<PermissionCache>>,
    clock: Arc<ChainClock>,
    interval_ms: u64,
    confirmations: u64,
) {
    let mut ticker = tokio::time::interval(Duration::from_millis(interval_ms));
    let mut last_head = u64::MAX;
    loop {
        ticker.tick().await;
        let from = match cache.read() {
            Ok(c) => c.next_block(),
            Err(p) => p.into_inner().next_block(),
        };
        let head = match client.block_number().await {
            Ok(h) => h,
            Err(e) => {
                warn!("permission sync: {e}");
                continue;
            }
        };
        if head != last_head {
            match client.chain_time().await {
                Ok(t) => {
                    clock.observe(t);
                    last_head = head;
                }
                Err(e) => warn!("chain time: {e}"),
            }
        }
        let Some(to) = head.checked_sub(confirmations).filter(|to| *to >= from) else {
            continue;
        };
        match client.registry_events(from, Some(to)).await {
            Ok((events, last)) => {
                let mut guard = match cache.write() {
                    Ok(g) => g,
                    Err(p) => p.into_inner(),
                };
                guard.advance(&events, last);
                if !events.is_empty() {
                    debug!(count = events.len(), "permission events applied");
                }
            }
            Err(e) => warn!("permission sync: {e}"),
        }
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
    use super::*;

    #[test]
    fn the_chain_clock_follows_a_chain_ahead_and_never_falls_behind_this_machine() {
        let clock = ChainClock::default();
        let wall = now_ms() / 1000;
        assert!(clock.now_secs() >= wall, "unobserved: this machine's clock");
        // A development chain moved an hour ahead (evm_increaseTime).
        clock.observe(wall + 3600);
        assert!((wall + 3600..=wall + 3602).contains(&clock.now_secs()));
        // A chain whose last block is old: this machine's clock.
        clock.observe(wall - 600);
        assert!((wall..=wall + 2).contains(&clock.now_secs()));
    }
}
