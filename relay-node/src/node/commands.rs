//! What the node's handle asks of its event loop, and the answers: the only types the two share.

use std::sync::{Arc, OnceLock};

use rivulet_network::{
    HistoryQuery, HistoryResponse, ReaderProof,
    libp2p::{Multiaddr, PeerId, gossipsub, request_response::ResponseChannel},
    light::LightResponse,
    replica::StoreResponse,
};
use rivulet_protocol::{StreamMessage, StreamPartId};
use rivulet_validate::Rejection;
use serde::Serialize;
use tokio::sync::oneshot;

use crate::turns::ReaderKey;

/// A request to the event loop (it owns the swarm and the validator).
#[derive(Debug)]
pub(crate) enum Command {
    /// Validate, relay (and store, if this node stores the part) a signed event.
    Publish {
        wire: Vec<u8>,
        reply: oneshot::Sender<Result<Published, Rejection>>,
    },
    /// The number of connected peers.
    Peers { reply: oneshot::Sender<usize> },
    /// One page of history of a stream part this node does not store, from the peers that do.
    RemoteHistory {
        part: StreamPartId,
        query: HistoryQuery,
        /// The reader asked for, with its proof (forwarded to the node that answers).
        reader: Option<ReaderProof>,
        /// The peers to ask, in order, with addresses to dial them at; empty: the part's replicas as
        /// the coordinator assigns them, then every connected peer.
        peers: Vec<(PeerId, Vec<Multiaddr>)>,
        reply: oneshot::Sender<Result<HistoryPage, String>>,
    },
    /// The coordinator assigned this node a stream part to store: join its topic.
    Store { part: StreamPartId },
    /// This node no longer stores a stream part.
    Unstore { part: StreamPartId },
    /// A local subscriber wants a stream part: join its topic (counted).
    Join { part: StreamPartId },
    /// A local subscriber left a stream part.
    Leave { part: StreamPartId },
    /// Send a peer the answer to its history request (worked out off the event loop).
    HistoryRespond {
        channel: ResponseChannel<HistoryResponse>,
        response: HistoryResponse,
    },
    /// Hand an event to replica `peer` (quorum acknowledgements); `reply` learns whether it is on the
    /// replica's disk.
    ReplicaStore {
        peer: PeerId,
        addresses: Vec<Multiaddr>,
        wire: Vec<u8>,
        reply: oneshot::Sender<Result<(), String>>,
    },
    /// Answer another node's replica-store request (worked out off the event loop).
    StoreRespond {
        channel: ResponseChannel<StoreResponse>,
        response: StoreResponse,
    },
    /// Send a light client the answer to its request (worked out off the event loop).
    LightRespond {
        channel: ResponseChannel<LightResponse>,
        response: LightResponse,
        /// For an answered publish: whose events, and how many, are no longer in progress.
        published: Option<(ReaderKey, usize)>,
    },
}

/// Where an event in verification came from: what concluding it needs.
pub(crate) enum Origin {
    /// A client's publish, answered once concluded (and stored, where stored).
    Publish(oneshot::Sender<Result<Published, Rejection>>),
    /// A peer's gossip, reported to gossipsub once concluded.
    Gossip {
        source: PeerId,
        id: gossipsub::MessageId,
        topic: gossipsub::TopicHash,
    },
}

/// The outcome of an accepted publish.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Published {
    /// The stream part.
    pub(crate) part: String,
    /// Whether this node already had it (publishing is idempotent).
    pub(crate) duplicate: bool,
    /// Whether this node stored it durably before answering.
    pub(crate) stored: bool,
    /// With quorum acknowledgements: how many of the part's replicas have it on disk.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) replicas: Option<usize>,
}

/// Messages (wire bytes, oldest first) and the query for the rest of the answer, if it did not fit.
pub(crate) type HistoryPage = (Vec<Vec<u8>>, Option<HistoryQuery>);

/// An accepted event, as handed to the node's local (WebSocket) subscribers: shared by all of them,
/// and rendered for them at most once per format.
#[derive(Debug)]
pub(crate) struct Delivered {
    /// Its stream part.
    pub(crate) part: StreamPartId,
    /// The event.
    pub(crate) message: Arc<StreamMessage>,
    /// Its wire bytes.
    pub(crate) wire: Arc<[u8]>,
    /// The event rendered for the WebSocket API (UTF-8 JSON), by the first session that needs it;
    /// every session sends these same bytes (no copy per subscriber).
    pub(crate) rendered: OnceLock<bytes::Bytes>,
    /// The wire bytes as the buffer of a binary frame, made by the first session that needs it.
    pub(crate) wire_frame: OnceLock<bytes::Bytes>,
}

impl Delivered {
    /// The wire bytes for a binary WebSocket frame, shared by every session that sends them.
    pub(crate) fn wire_frame(&self) -> bytes::Bytes {
        self.wire_frame
            .get_or_init(|| bytes::Bytes::from_owner(self.wire.clone()))
            .clone()
    }
}
