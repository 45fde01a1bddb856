//! # rivulet-network
//!
//! The libp2p protocols relay nodes speak with each other:
//!
//! - **gossipsub**, one topic per stream part (`rivulet/1/<stream id>#<partition>`). Messages carry the
//!   protocol's wire bytes unchanged and are *not* signed again by peers (publishers sign them); every
//!   node validates each message before it is forwarded ([`NodeBehaviour::report`]), and a message a node
//!   rejects reaches nobody through it and counts against the peer that sent it (peer score P₄). The
//!   gossipsub message id is a hash of the wire bytes, which are canonical, so one message has one id.
//! - **identify** and **ping**, and **kademlia** for discovery from bootstrap peers.
//! - **store** ([`replica`]), a request-response protocol (CBOR) that hands a part's replica an event
//!   and answers once it is on the replica's disk (quorum acknowledgements);
//! - **history**, a request-response protocol (CBOR) for resends: last N, a reference range, one chain,
//!   a reader's key envelopes, in pages that each name the query for the rest;
//!   a node asking on a reader's behalf forwards the reader's proof ([`reader`]), and a part that is not
//!   public is answered only for a reader that may subscribe to it.
//! - the **light-client protocols** ([`light`]) that clients use on their entry node: publish with
//!   acknowledgement, subscribe (the node pushes events), resend, sign-in.
//!
//! The behaviours are runtime-free. With the `node` feature (default), [`NodeBehaviour`] and
//! [`build_swarm`] (native) put the relay side on tokio with TCP, WebSocket and WebRTC-direct transports.
//! Without it the crate is the light client's share — [`ClientBehaviour`] and [`build_client_swarm`],
//! native (TCP, WebSocket) and in browsers (`websocket-websys`, `webrtc-websys`) — with no gossipsub in
//! the build.

#[cfg(feature = "node")]
pub mod address_limits;
#[cfg(feature = "node")]
pub mod bucket;
#[cfg(feature = "node")]
pub mod dht;
#[cfg(feature = "node")]
pub mod discovery;
pub mod history;
#[cfg(feature = "node")]
pub mod intake;
#[cfg(all(feature = "node", not(target_arch = "wasm32")))]
pub mod latency;
pub mod light;
pub mod light_codec;
#[cfg(feature = "node")]
pub mod members;
pub mod reader;
pub mod replica;
#[cfg(feature = "node")]
pub mod request_budget;

pub use history::{HISTORY_PAGE_BYTES, HistoryQuery, HistoryRequest, HistoryResponse, ResumeAfter};
pub use reader::{AccountProof, ProofError, ReaderProof};

use std::time::Duration;

pub use libp2p;

use libp2p::{StreamProtocol, identity::Keypair, ping, swarm::NetworkBehaviour};
#[cfg(feature = "node")]
use libp2p::{gossipsub, identify, kad, request_response};
#[cfg(feature = "node")]
use rivulet_protocol::{StreamPartId, hash::keccak256};

/// The identify protocol version nodes announce.
pub const IDENTIFY_PROTOCOL: &str = "/rivulet/1.0.0";
#[cfg(feature = "node")]
/// The kademlia protocol name (a private DHT, apart from IPFS's).
pub const KAD_PROTOCOL: StreamProtocol = StreamProtocol::new("/rivulet/kad/1.0.0");
/// The history request-response protocol.
pub const HISTORY_PROTOCOL: StreamProtocol = StreamProtocol::new("/rivulet/history/3.0.0");
/// The replica-store request-response protocol (quorum acknowledgements).
pub const STORE_PROTOCOL: StreamProtocol = StreamProtocol::new("/rivulet/store/1.0.0");
#[cfg(feature = "node")]
const TOPIC_PREFIX: &str = "rivulet/1/";
/// Connections one peer id may hold to a node (two dial each other at once now and then; a client
/// reconnecting may overlap its old connection).
#[cfg(feature = "node")]
const MAX_CONNECTIONS_PER_PEER: u32 = 8;
/// Incoming connections a node takes through their handshakes at once; one more is closed at once.
#[cfg(feature = "node")]
const MAX_PENDING_INCOMING: u32 = 256;

/// Why the network could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum NetworkError {
    /// A gossipsub setting is invalid.
    #[error("gossipsub configuration: {0}")]
    Gossipsub(String),
    /// A transport could not be built or could not listen.
    #[error("transport: {0}")]
    Transport(String),
}

/// Bytes a gossip message carries beside its event's content (the event's headers and signature, and
/// gossipsub's framing), at most.
pub const MESSAGE_HEADROOM: usize = 4096;

/// The largest light request a node reads when its gossip messages are at most `max_message_len`
/// bytes: one event alone ([`light::LightRequest::Publish`]) or a full
/// [`light::LightRequest::PublishBatch`], with headroom for their framing.
pub fn light_request_maximum(max_message_len: usize) -> usize {
    max_message_len.max(light::MAX_PUBLISH_BATCH_BYTES) + MESSAGE_HEADROOM
}

/// What a node holds of requests it is still reading (light clients' and other nodes') by default,
/// bytes: one address's share (four full publish batches from each of two clients) and all
/// addresses' total.
pub const DEFAULT_REQUEST_BYTES: (usize, usize) = (32 << 20, 256 << 20);

/// The largest history request a node reads (a part, a query, a reader's proof).
#[cfg(feature = "node")]
const HISTORY_REQUEST_MAXIMUM: usize = 64 * 1024;

/// The largest replica-store answer a node reads (stored, or why not).
#[cfg(feature = "node")]
const STORE_RESPONSE_MAXIMUM: usize = 64 * 1024;

/// What gossip queues for slow peers by default, bytes: one peer's share and all peers'.
pub const DEFAULT_GOSSIP_QUEUE_BYTES: (usize, usize) = (16 << 20, 128 << 20);

/// Network settings.
#[derive(Clone, Debug)]
pub struct NetworkConfig {
    /// Largest gossipsub message (a wire-encoded stream message), bytes.
    pub max_message_len: usize,
    /// Gossipsub heartbeat.
    pub heartbeat: Duration,
    /// Bytes of messages gossip queues for one peer that reads slowly, and for all peers together, at
    /// most (at least `max_message_len` each); a message beyond either is not sent to that peer, which
    /// counts as a slow peer's failure (`gossipsub::Event::SlowPeer`).
    pub gossip_queue_bytes: (usize, usize),
    /// Bytes of light requests being read (arrived, not yet whole) that one address may hold, and all
    /// addresses together (the first at least [`light_request_maximum`]); a request beyond either
    /// is refused with the reason ([`request_budget`]).
    pub request_bytes: (usize, usize),
    /// How long a connection with no open streams stays up.
    pub idle_timeout: Duration,
    /// A node's most established incoming connections, from everyone.
    pub max_incoming_connections: u32,
    /// A node's most established incoming connections from one address (an IPv6 one by its /64;
    /// [`address_limits`]).
    pub max_connections_per_address: u32,
    /// How many new connections one address may open a second (bursts of twice that).
    pub connections_per_second_per_address: u32,
    /// The WebRTC certificate (PEM, private key included) for `/webrtc-direct` listeners: its hash is in
    /// the node's addresses, so keeping it keeps those addresses valid across restarts. A new one is
    /// made when `None`.
    pub webrtc_certificate_pem: Option<String>,
    /// **For testing only**: delay what each TCP connection receives by this model's one-way delay
    /// between its two ends ([`latency`]); none by default.
    #[cfg(all(feature = "node", not(target_arch = "wasm32")))]
    pub latency_model: Option<std::sync::Arc<latency::LatencyModel>>,
}

impl Default for NetworkConfig {
    /// 1 MiB content plus headroom for the headers; 700 ms heartbeat; 16 MiB queued for one slow
    /// peer, 128 MiB for all; 32 MiB of light requests being read for one address, 256 MiB for all;
    /// two minutes idle; 10,000 incoming connections, 1,000 from one address,
    /// 100 new ones a second from one address.
    fn default() -> Self {
        NetworkConfig {
            max_message_len: rivulet_protocol::codec::DEFAULT_MAX_CONTENT_LEN + MESSAGE_HEADROOM,
            heartbeat: Duration::from_millis(700),
            gossip_queue_bytes: DEFAULT_GOSSIP_QUEUE_BYTES,
            request_bytes: DEFAULT_REQUEST_BYTES,
            idle_timeout: Duration::from_secs(120),
            max_incoming_connections: 10_000,
            max_connections_per_address: 1_000,
            connections_per_second_per_address: 100,
            webrtc_certificate_pem: None,
            #[cfg(all(feature = "node", not(target_arch = "wasm32")))]
            latency_model: None,
        }
    }
}

#[cfg(feature = "node")]
/// The gossipsub topic of a stream part.
pub fn topic(part: &StreamPartId) -> gossipsub::IdentTopic {
    gossipsub::IdentTopic::new(format!("{TOPIC_PREFIX}{part}"))
}

#[cfg(feature = "node")]
/// The stream part a topic stands for, if it is one of ours.
pub fn part_of_topic(topic: &gossipsub::TopicHash) -> Option<StreamPartId> {
    topic.as_str().strip_prefix(TOPIC_PREFIX)?.parse().ok()
}

/// The peer id at the end of a multiaddr (`…/p2p/<peer id>`), if any.
pub fn peer_of(addr: &libp2p::Multiaddr) -> Option<libp2p::PeerId> {
    addr.iter().find_map(|p| match p {
        libp2p::multiaddr::Protocol::P2p(peer) => Some(peer),
        _ => None,
    })
}

#[cfg(feature = "node")]
mod behaviour {
    // The derive generates the event enum `NodeBehaviourEvent`, one variant per field.
    #![allow(missing_docs)]

    use super::*;

    /// The relay node's network behaviour.
    #[derive(NetworkBehaviour)]
    pub struct NodeBehaviour {
        /// The node's connection limits: in total, per peer, and still in their handshakes (first, so
        /// a refused connection reaches no other behaviour).
        pub limits: libp2p::connection_limits::Behaviour,
        /// Incoming connections per client address.
        pub per_address: address_limits::Behaviour,
        /// Event dissemination per stream part.
        pub gossipsub: gossipsub::Behaviour,
        /// Peer information exchange.
        pub identify: identify::Behaviour,
        /// Liveness.
        pub ping: ping::Behaviour,
        /// Discovery.
        pub kademlia: kad::Behaviour<kad::store::MemoryStore>,
        /// Resends (other nodes' requests read within the node's request budget).
        pub history: intake::Behaviour<HistoryRequest, HistoryResponse>,
        /// Events handed to a part's replicas for quorum acknowledgements (read within the budget).
        pub store: intake::Behaviour<replica::StoreRequest, replica::StoreResponse>,
        /// Light clients' requests (answered).
        pub light: light::LightNodeBehaviour,
        /// Events pushed to light clients.
        pub delivery: light::DeliveryNodeBehaviour,
    }
}

#[cfg(feature = "node")]
pub use behaviour::{NodeBehaviour, NodeBehaviourEvent};

mod client_behaviour {
    // The derive generates the event enum `ClientBehaviourEvent`, one variant per field.
    #![allow(missing_docs)]

    use super::*;

    /// A light client's network behaviour: its requests to entry nodes, the events they push, liveness.
    #[derive(NetworkBehaviour)]
    pub struct ClientBehaviour {
        /// Requests to entry nodes.
        pub light: light::LightClientBehaviour,
        /// Events pushed by entry nodes.
        pub delivery: light::DeliveryClientBehaviour,
        /// Liveness (and it keeps quiet connections open).
        pub ping: ping::Behaviour,
    }
}

pub use client_behaviour::{ClientBehaviour, ClientBehaviourEvent};

impl ClientBehaviour {
    /// The light client's behaviour.
    pub fn new() -> ClientBehaviour {
        ClientBehaviour {
            light: light::light_client_behaviour(),
            delivery: light::delivery_client_behaviour(),
            ping: ping::Behaviour::new(ping::Config::new().with_interval(Duration::from_secs(10))),
        }
    }
}

impl Default for ClientBehaviour {
    fn default() -> Self {
        ClientBehaviour::new()
    }
}

/// How long a light client keeps a connection with nothing on it (its subscriptions can be quiet).
const CLIENT_IDLE_TIMEOUT: Duration = Duration::from_secs(3600);

/// A light client's swarm settings. Its substreams negotiate their protocol lazily (multistream-select
/// `V1Lazy`): a request goes out together with the protocol's name instead of one round trip after it.
/// A client only talks to relay nodes, which speak every protocol it opens; against one that did not,
/// the request fails when the answer is read instead of before it is sent. Each request is a new
/// substream, so this halves a request's round trips (measured in a browser: BENCHMARKS.md, "Browser").
fn client_swarm_config(config: libp2p::swarm::Config) -> libp2p::swarm::Config {
    config
        .with_idle_connection_timeout(CLIENT_IDLE_TIMEOUT)
        .with_substream_upgrade_protocol_override(libp2p::core::upgrade::Version::V1Lazy)
}

/// A light client's swarm, natively: TCP and WebSocket with noise and yamux, on tokio.
#[cfg(not(target_arch = "wasm32"))]
pub async fn build_client_swarm(
    key: Keypair,
) -> Result<libp2p::Swarm<ClientBehaviour>, NetworkError> {
    use libp2p::{noise, tcp, yamux};
    let transport_err = |e: &dyn std::fmt::Display| NetworkError::Transport(e.to_string());
    Ok(libp2p::SwarmBuilder::with_existing_identity(key)
        .with_tokio()
        .with_tcp(
            tcp::Config::default().nodelay(true),
            noise::Config::new,
            yamux::Config::default,
        )
        .map_err(|e| transport_err(&e))?
        .with_websocket(noise::Config::new, yamux::Config::default)
        .await
        .map_err(|e| transport_err(&e))?
        .with_behaviour(|_| ClientBehaviour::new())
        .map_err(|e| transport_err(&e))?
        .with_swarm_config(client_swarm_config)
        .build())
}

/// A light client's swarm in the browser: WebSocket (noise, yamux) and WebRTC-direct, which needs no
/// certificate authority.
#[cfg(target_arch = "wasm32")]
pub async fn build_client_swarm(
    key: Keypair,
) -> Result<libp2p::Swarm<ClientBehaviour>, NetworkError> {
    use libp2p::{Transport, core::muxing::StreamMuxerBox, core::upgrade::Version, noise, yamux};
    let transport_err = |e: &dyn std::fmt::Display| NetworkError::Transport(e.to_string());
    Ok(libp2p::SwarmBuilder::with_existing_identity(key)
        .with_wasm_bindgen()
        .with_other_transport(|key| {
            let websocket = libp2p::websocket_websys::Transport::default()
                .upgrade(Version::V1)
                .authenticate(noise::Config::new(key)?)
                .multiplex(yamux::Config::default())
                .map(|(peer, conn), _| (peer, StreamMuxerBox::new(conn)));
            // WebRTC needs a browser window (libp2p's transport panics without one, as in Node or a
            // worker); WebSocket works everywhere.
            let in_window = js_sys::Reflect::get(&js_sys::global(), &"document".into())
                .is_ok_and(|d| d.is_object());
            let transport = if in_window {
                libp2p::webrtc_websys::Transport::new(libp2p::webrtc_websys::Config::new(key))
                    .map(|(peer, conn), _| (peer, StreamMuxerBox::new(conn)))
                    .or_transport(websocket)
                    .map(|either, _| either.into_inner())
                    .boxed()
            } else {
                websocket.boxed()
            };
            Ok::<_, Box<dyn std::error::Error + Send + Sync>>(transport)
        })
        .map_err(|e| transport_err(&e))?
        .with_behaviour(|_| ClientBehaviour::new())
        .map_err(|e| transport_err(&e))?
        .with_swarm_config(client_swarm_config)
        .build())
}

#[cfg(feature = "node")]
/// How often a node pings each peer it is connected to (libp2p's default is every 15 s). A relay is
/// connected to most of the nodes it ever met through the DHT (99 each in 100 nodes), so at 15 s an
/// idle node sent and answered 13 pings a second — nine in ten of its sends, with a timer, an
/// encryption and two wake-ups each. Pings close nothing (libp2p-ping only reports a failure, and the
/// node does not act on it): a peer that went away is noticed when its TCP connection ends, as it does
/// at once when its process dies, or when a write to it fails — a ping's among them, at most a minute
/// after the peer went quiet instead of 15 s.
const NODE_PING_INTERVAL: Duration = Duration::from_secs(60);

#[cfg(feature = "node")]
/// How much a peer loses for each message that fails validation (P₄ weight, squared count).
const INVALID_MESSAGE_WEIGHT: f64 = -100.0;

#[cfg(feature = "node")]
/// How long gossipsub remembers a message id, and (`patches/libp2p-gossipsub`) how long peer scoring
/// keeps the message's delivery record. A message is only ever forwarded, or offered as gossip, within
/// a few heartbeats of its publication, and the node's own duplicate filter stands behind this; both
/// caches grow with the event rate times this window, so it is no longer than it needs to be.
const DUPLICATE_WINDOW: Duration = Duration::from_secs(30);

#[cfg(feature = "node")]
/// A topic's mesh degree: the peers a node keeps in it, the fewest before it grafts more, the most
/// before it prunes (gossipsub's defaults are 6, 5 and 12). A publisher's entry node sends each new
/// event straight to every connected node of the part (flood publishing), so the mesh mostly carries
/// copies of what its members already have: in 100 nodes on the latency model a member received 8.7
/// copies of each event with the defaults and 5.8 with these, for a third less traffic (BENCHMARKS.md,
/// "Many nodes"). Four neighbours per stream part is also what Streamr's network keeps.
pub const MESH: (usize, usize, usize) = (4, 3, 6);

/// A stream part topic's scoring: invalid messages (P₄) cost their senders dearly; the mesh-delivery
/// penalties (P₃, P₃b) are off, since a node that only receives on a part (it stores or serves it,
/// publishers are elsewhere) delivers nothing first and is honest all the same.
#[cfg(feature = "node")]
fn topic_score_params() -> gossipsub::TopicScoreParams {
    gossipsub::TopicScoreParams {
        invalid_message_deliveries_weight: INVALID_MESSAGE_WEIGHT,
        mesh_message_deliveries_weight: 0.0,
        mesh_failure_penalty_weight: 0.0,
        ..gossipsub::TopicScoreParams::default()
    }
}

#[cfg(feature = "node")]
impl NodeBehaviour {
    /// The behaviour for a node with identity `key`.
    pub fn new(key: &Keypair, config: &NetworkConfig) -> Result<NodeBehaviour, NetworkError> {
        let gossip_config = gossipsub::ConfigBuilder::default()
            .heartbeat_interval(config.heartbeat)
            .mesh_n(MESH.0)
            .mesh_n_low(MESH.1)
            .mesh_n_high(MESH.2)
            .validation_mode(gossipsub::ValidationMode::Anonymous)
            .validate_messages()
            .message_id_fn(|m: &gossipsub::Message| {
                gossipsub::MessageId::from(keccak256(&m.data)[..20].to_vec())
            })
            .max_transmit_size(config.max_message_len)
            .connection_handler_max_bytes(config.gossip_queue_bytes.0, config.gossip_queue_bytes.1)
            .duplicate_cache_time(DUPLICATE_WINDOW)
            .build()
            .map_err(|e| NetworkError::Gossipsub(e.to_string()))?;
        let mut gossipsub =
            gossipsub::Behaviour::new(gossipsub::MessageAuthenticity::Anonymous, gossip_config)
                .map_err(|e| NetworkError::Gossipsub(e.to_string()))?;
        // Nodes of one operator often share an address (and all do on loopback): no IP colocation penalty
        // for loopback.
        let score_params = gossipsub::PeerScoreParams {
            ip_colocation_factor_whitelist: [std::net::IpAddr::from([127, 0, 0, 1])]
                .into_iter()
                .collect(),
            ..gossipsub::PeerScoreParams::default()
        };
        gossipsub
            .with_peer_score(score_params, gossipsub::PeerScoreThresholds::default())
            .map_err(NetworkError::Gossipsub)?;
        let peer_id = key.public().to_peer_id();
        let kademlia = dht::kademlia(peer_id, KAD_PROTOCOL);
        // One budget for the requests the node reads, whoever sends them: an event with its framing
        // is the largest a peer hands it, a page of them the largest answer it reads.
        let budget =
            request_budget::RequestBudget::new(config.request_bytes.0, config.request_bytes.1);
        let largest = config.max_message_len + MESSAGE_HEADROOM;
        let limits = libp2p::connection_limits::ConnectionLimits::default()
            .with_max_established_incoming(Some(config.max_incoming_connections))
            .with_max_established_per_peer(Some(MAX_CONNECTIONS_PER_PEER))
            .with_max_pending_incoming(Some(MAX_PENDING_INCOMING));
        Ok(NodeBehaviour {
            limits: libp2p::connection_limits::Behaviour::new(limits),
            per_address: address_limits::Behaviour::new(
                config.max_connections_per_address,
                config.connections_per_second_per_address,
            ),
            gossipsub,
            identify: identify::Behaviour::new(identify::Config::new(
                IDENTIFY_PROTOCOL.into(),
                key.public(),
            )),
            ping: ping::Behaviour::new(ping::Config::new().with_interval(NODE_PING_INTERVAL)),
            kademlia,
            history: intake::Behaviour::new(
                (HISTORY_PROTOCOL, request_response::ProtocolSupport::Full),
                (HISTORY_REQUEST_MAXIMUM, largest.max(10 << 20)),
                budget.clone(),
                request_response::Config::default().with_request_timeout(Duration::from_secs(30)),
            ),
            store: intake::Behaviour::new(
                (STORE_PROTOCOL, request_response::ProtocolSupport::Full),
                (largest, STORE_RESPONSE_MAXIMUM),
                budget.clone(),
                request_response::Config::default().with_request_timeout(Duration::from_secs(10)),
            ),
            light: light::light_node_behaviour(
                light_request_maximum(config.max_message_len),
                budget,
            ),
            delivery: light::delivery_node_behaviour(),
        })
    }

    /// Joins a stream part's topic, scoring peers that send invalid messages on it.
    pub fn subscribe(&mut self, part: &StreamPartId) -> Result<bool, NetworkError> {
        let topic = topic(part);
        self.gossipsub
            .set_topic_params(topic.clone(), topic_score_params())
            .map_err(|e| NetworkError::Gossipsub(e.into()))?;
        self.gossipsub
            .subscribe(&topic)
            .map_err(|e| NetworkError::Gossipsub(e.to_string()))
    }

    /// Leaves a stream part's topic.
    pub fn unsubscribe(&mut self, part: &StreamPartId) -> bool {
        self.gossipsub.unsubscribe(&topic(part))
    }

    /// Publishes wire bytes (already validated by this node) to a stream part.
    pub fn publish(
        &mut self,
        part: &StreamPartId,
        wire: Vec<u8>,
    ) -> Result<gossipsub::MessageId, gossipsub::PublishError> {
        self.gossipsub.publish(topic(part), wire)
    }

    /// Reports this node's verdict on a received message: accepted messages are forwarded; rejected
    /// ones are dropped and penalise `source`; ignored ones are dropped without penalty.
    pub fn report(
        &mut self,
        id: &gossipsub::MessageId,
        source: &libp2p::PeerId,
        acceptance: gossipsub::MessageAcceptance,
    ) -> bool {
        self.gossipsub
            .report_message_validation_result(id, source, acceptance)
    }
}

/// A new WebRTC certificate, as PEM (for [`NetworkConfig::webrtc_certificate_pem`]).
#[cfg(all(feature = "node", not(target_arch = "wasm32")))]
pub fn new_webrtc_certificate() -> Result<String, NetworkError> {
    libp2p_webrtc::tokio::Certificate::generate(&mut rand::rng())
        .map(|c| c.serialize_pem())
        .map_err(|e| NetworkError::Transport(format!("webrtc certificate: {e}")))
}

/// Builds a swarm on tokio with TCP, WebRTC-direct (for browsers: no certificate authority needed) and
/// WebSocket transports, noise and yamux (WebRTC brings its own encryption and multiplexing), and DNS.
#[cfg(all(feature = "node", not(target_arch = "wasm32")))]
pub async fn build_swarm(
    key: Keypair,
    config: NetworkConfig,
) -> Result<libp2p::Swarm<NodeBehaviour>, NetworkError> {
    use libp2p::{Transport, core::muxing::StreamMuxerBox, noise, tcp, yamux};
    let transport_err = |e: &dyn std::fmt::Display| NetworkError::Transport(e.to_string());
    let certificate = match &config.webrtc_certificate_pem {
        Some(pem) => libp2p_webrtc::tokio::Certificate::from_pem(pem)
            .map_err(|e| NetworkError::Transport(format!("webrtc certificate: {e}")))?,
        None => libp2p_webrtc::tokio::Certificate::generate(&mut rand::rng())
            .map_err(|e| NetworkError::Transport(format!("webrtc certificate: {e}")))?,
    };
    let idle = config.idle_timeout;
    let webrtc = |key: &Keypair| {
        Ok::<_, Box<dyn std::error::Error + Send + Sync>>(
            libp2p_webrtc::tokio::Transport::new(key.clone(), certificate)
                .map(|(peer, conn), _| (peer, StreamMuxerBox::new(conn))),
        )
    };
    // The same chain after the TCP transport, whichever TCP transport it is.
    macro_rules! after_tcp {
        ($builder:expr) => {
            Ok($builder
                .with_other_transport(webrtc)
                .map_err(|e| transport_err(&e))?
                .with_dns()
                .map_err(|e| transport_err(&e))?
                .with_websocket(noise::Config::new, yamux::Config::default)
                .await
                .map_err(|e| transport_err(&e))?
                .with_behaviour(|key| {
                    NodeBehaviour::new(key, &config)
                        .map_err(|e| Box::new(e) as Box<dyn std::error::Error + Send + Sync>)
                })
                .map_err(|e| transport_err(&e))?
                .with_swarm_config(|c| c.with_idle_connection_timeout(idle))
                .build())
        };
    }
    let tcp_config = tcp::Config::default().nodelay(true);
    let builder = libp2p::SwarmBuilder::with_existing_identity(key).with_tokio();
    match config.latency_model.clone() {
        None => after_tcp!(
            builder
                .with_tcp(tcp_config, noise::Config::new, yamux::Config::default)
                .map_err(|e| transport_err(&e))?
        ),
        // Test networks only: TCP with the model's delays, upgraded as `with_tcp` does.
        Some(model) => after_tcp!(
            builder
                .with_other_transport(|key| {
                    Ok::<_, Box<dyn std::error::Error + Send + Sync>>(
                        latency::delayed_tcp(tcp_config, model)
                            .upgrade(libp2p::core::upgrade::Version::V1Lazy)
                            .authenticate(noise::Config::new(key)?)
                            .multiplex(yamux::Config::default())
                            .map(|(peer, conn), _| (peer, StreamMuxerBox::new(conn))),
                    )
                })
                .map_err(|e| transport_err(&e))?
        ),
    }
}

#[cfg(all(test, feature = "node"))]
mod tests {
    use super::*;

    #[test]
    fn topics_round_trip_to_stream_parts() {
        let part: StreamPartId = "rivulet.eth/sensors/a#7".parse().unwrap();
        let t = topic(&part);
        assert_eq!(t.hash().as_str(), "rivulet/1/rivulet.eth/sensors/a#7");
        assert_eq!(part_of_topic(&t.hash()), Some(part));
        assert_eq!(
            part_of_topic(&gossipsub::IdentTopic::new("other/x#1").hash()),
            None
        );
    }
}
