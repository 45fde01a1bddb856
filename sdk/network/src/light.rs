//! The light-client protocols: how clients (browser tabs, Node apps, devices) use a relay node without
//! joining the gossipsub meshes. Both are CBOR request-response protocols, so every exchange runs on its
//! own short-lived stream (long-lived streams stall over WebRTC in browsers; short ones do not).
//!
//! - [`LIGHT_PROTOCOL`] (client → node): session sign-in, publish with acknowledgement, subscribe,
//!   unsubscribe and resend ([`LightRequest`] → [`LightResponse`]).
//! - [`DELIVERY_PROTOCOL`] (node → client): the node pushes batches of subscribed events, and notices
//!   (a subscription ended, events dropped for a slow reader), as [`Delivery`] requests the client
//!   acknowledges with [`DeliveryAck`]. A node keeps a few deliveries in flight per client, so a slow
//!   client slows only itself.
//!
//! The session sign-in binds the client's Ethereum address to its libp2p connection: the client signs
//! [`session_text`] (EIP-191 `personal_sign`, what any wallet makes) naming both peers, so a signature
//! cannot be replayed to another node or by another peer.

use std::time::Duration;

use libp2p::{StreamProtocol, request_response};
use serde::{Deserialize, Serialize};
use serde_bytes::ByteBuf;

pub use crate::reader::{authorisation_text, session_text};
use crate::{
    history::HistoryQuery,
    light_codec::{Answering, Asking},
};

/// Client → node requests.
pub const LIGHT_PROTOCOL: StreamProtocol = StreamProtocol::new("/rivulet/light/2.0.0");
/// Node → client event delivery.
pub const DELIVERY_PROTOCOL: StreamProtocol = StreamProtocol::new("/rivulet/delivery/1.0.0");

/// Largest answer or delivery a client reads: an event of the most content the protocol allows
/// ([`MAX_CONTENT_LEN`](rivulet_protocol::codec::MAX_CONTENT_LEN), for nodes configured so) with its
/// headers and framing, or a page or delivery batch. (A node reads requests of at most
/// [`crate::light_request_maximum`] for its own limit.)
pub const MAX_LIGHT_FRAME: u64 = (rivulet_protocol::codec::MAX_CONTENT_LEN + 64 * 1024) as u64;

/// Most events in one [`Delivery::Events`] batch.
pub const MAX_DELIVERY_BATCH: usize = 256;

/// Most bytes of events in one [`Delivery::Events`] batch (a single larger event goes alone): well
/// inside [`MAX_LIGHT_FRAME`].
pub const MAX_DELIVERY_BATCH_BYTES: usize = 4 * 1024 * 1024;

/// What a client asks of its entry node.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum LightRequest {
    /// Sign in as an Ethereum address, for streams that are not public.
    Auth {
        /// The address, `0x…`.
        address: String,
        /// 65-byte EIP-191 signature of [`session_text`] for (node, client).
        signature: ByteBuf,
    },
    /// Validate, relay and (where the node stores the part) store one signed event.
    Publish {
        /// The event's wire bytes.
        wire: ByteBuf,
        /// What the answer waits for (left out: `Local`).
        #[serde(default, skip_serializing_if = "crate::replica::Acks::is_local")]
        acks: crate::replica::Acks,
    },
    /// [`LightRequest::Publish`] for several events at once (at most [`MAX_PUBLISH_BATCH`] events and
    /// [`MAX_PUBLISH_BATCH_BYTES`]), each judged on its own: answered [`LightResponse::PublishedBatch`]
    /// with one result per event, in order. A client sends one while its earlier publishes are in
    /// flight, so a busy publisher pays one request per batch instead of one per event.
    PublishBatch {
        /// The events' wire bytes, in the order they were published.
        wires: Vec<ByteBuf>,
    },
    /// Push this stream part's events to me.
    Subscribe {
        /// `<stream id>#<partition>`.
        part: String,
    },
    /// Push this stream part's group-key requests to me: a publisher of encrypted events serves its keys
    /// (needs publish permission, not subscribe). Ended with `Unsubscribe`.
    ServeKeys {
        /// `<stream id>#<partition>`.
        part: String,
    },
    /// Stop pushing this stream part.
    Unsubscribe {
        /// `<stream id>#<partition>`.
        part: String,
    },
    /// Stored events of a stream part (from this node, or from a peer that stores it).
    Resend {
        /// `<stream id>#<partition>`.
        part: String,
        /// Which events.
        query: HistoryQuery,
    },
    /// Sign in with a session key that `account` authorised: the session then holds `account`'s
    /// subscribe permissions (its licences), so a wallet signs once ([`authorisation_text`]) rather than
    /// at every connection.
    AuthFor {
        /// The session key's address, `0x…`.
        address: String,
        /// The session key's 65-byte EIP-191 signature of [`session_text`] for (node, client).
        signature: ByteBuf,
        /// The authorising account, `0x…`.
        account: String,
        /// Until when the authorisation holds, Unix seconds.
        expires: u64,
        /// `account`'s 65-byte EIP-191 signature of [`authorisation_text`].
        authorisation: ByteBuf,
    },
}

/// A node's answer to a [`LightRequest`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum LightResponse {
    /// Done (sign-in, subscribe, unsubscribe).
    Ok,
    /// A publish was accepted.
    Published {
        /// The node had it already (publishing is idempotent).
        duplicate: bool,
        /// The node stored it durably before answering.
        stored: bool,
        /// With quorum acknowledgements: how many of the part's replicas have it on disk.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        replicas: Option<u32>,
    },
    /// The answers to a [`LightRequest::PublishBatch`], one per event, in order.
    PublishedBatch {
        /// Each event's outcome.
        results: Vec<PublishResult>,
    },
    /// Resent events, wire bytes, oldest first: a page of at most
    /// [`HISTORY_PAGE_BYTES`](crate::HISTORY_PAGE_BYTES) (at least one event).
    Messages {
        /// The events.
        messages: Vec<ByteBuf>,
        /// The `Resend` query for the rest, when the answer did not fit in this page.
        next: Option<HistoryQuery>,
    },
    /// Refused: a stable machine-readable `code` and a sentence saying what and why.
    Error {
        /// E.g. `permission_denied`, `invalid_signature`, `bad_request`, `not_found`, `unavailable`.
        code: String,
        /// What happened and why.
        message: String,
    },
}

/// One event's outcome in a [`LightResponse::PublishedBatch`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum PublishResult {
    /// Accepted, as [`LightResponse::Published`].
    Published {
        /// The node had it already.
        duplicate: bool,
        /// The node stored it durably before answering.
        stored: bool,
    },
    /// Refused, as [`LightResponse::Error`].
    Error {
        /// The code.
        code: String,
        /// What happened and why.
        message: String,
    },
}

/// Most events in one [`LightRequest::PublishBatch`].
pub const MAX_PUBLISH_BATCH: usize = 256;

/// Most bytes of events in one [`LightRequest::PublishBatch`] (a single larger event goes alone, as a
/// `Publish`): well inside [`MAX_LIGHT_FRAME`].
pub const MAX_PUBLISH_BATCH_BYTES: usize = 4 * 1024 * 1024;

impl LightResponse {
    /// An error response.
    pub fn error(code: &str, message: impl Into<String>) -> LightResponse {
        LightResponse::Error {
            code: code.into(),
            message: message.into(),
        }
    }
}

/// What a node pushes to a subscribed client.
///
/// Each delivery carries its number in the node's sequence for the client (`seq`, from 0 for each
/// connection): a node keeps up to [`MAX_DELIVERIES_IN_FLIGHT`] deliveries on their own streams at
/// once, and streams may be read in any order, so the client hands them on in this order, not in the
/// order they happened to arrive. Left out by nodes that do not number their deliveries (taken as
/// they come).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Delivery {
    /// Events of one stream part, in the order the node accepted them.
    Events {
        /// `<stream id>#<partition>`.
        part: String,
        /// Wire bytes; the client verifies every signature itself.
        messages: Vec<ByteBuf>,
        /// The delivery's number for this client.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        seq: Option<u64>,
    },
    /// The node dropped events for this client because it read too slowly (resend fills the gap).
    Lagged {
        /// `<stream id>#<partition>`.
        part: String,
        /// How many were dropped.
        dropped: u64,
        /// The delivery's number for this client.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        seq: Option<u64>,
    },
    /// The subscription ended on the node's side (the permission lapsed or was revoked).
    Ended {
        /// `<stream id>#<partition>`.
        part: String,
        /// Why.
        reason: String,
        /// The delivery's number for this client.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        seq: Option<u64>,
    },
}

impl Delivery {
    /// The delivery's number in its node's sequence for the client, if the node numbered it.
    pub fn seq(&self) -> Option<u64> {
        match self {
            Delivery::Events { seq, .. }
            | Delivery::Lagged { seq, .. }
            | Delivery::Ended { seq, .. } => *seq,
        }
    }
}

/// Deliveries a node keeps outstanding (sent, not yet acknowledged) per client. A client holding this
/// many deliveries numbered after one it has not received knows that one is lost (it cannot still be
/// on its way) and hands on the rest.
pub const MAX_DELIVERIES_IN_FLIGHT: usize = 4;

/// A client's acknowledgement of a [`Delivery`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryAck;

/// The client's side of [`LIGHT_PROTOCOL`]: it sends requests and reads the answers.
pub type LightClientBehaviour = request_response::Behaviour<Asking<LightRequest, LightResponse>>;
/// A node's side of [`LIGHT_PROTOCOL`]: it reads requests within a budget and answers them.
#[cfg(feature = "node")]
pub type LightNodeBehaviour = crate::intake::Behaviour<LightRequest, LightResponse>;
/// The client's side of [`DELIVERY_PROTOCOL`]: it reads deliveries and acknowledges them.
pub type DeliveryClientBehaviour = request_response::Behaviour<Answering<Delivery, DeliveryAck>>;
/// A node's side of [`DELIVERY_PROTOCOL`]: it pushes deliveries.
pub type DeliveryNodeBehaviour = request_response::Behaviour<Asking<Delivery, DeliveryAck>>;

/// An account's authorisation of a session key, as the client keeps it and sends it at sign-in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Authorisation {
    /// The authorising account, checksummed `0x…`.
    pub account: String,
    /// Until when, Unix seconds.
    pub expires: u64,
    /// The account's 65-byte signature of [`authorisation_text`].
    pub signature: Vec<u8>,
}

/// The client's light protocol behaviour: requests to a node, answers of at most [`MAX_LIGHT_FRAME`].
pub fn light_client_behaviour() -> LightClientBehaviour {
    asking(Asking::new(MAX_LIGHT_FRAME), LIGHT_PROTOCOL)
}

/// A node's light protocol behaviour: requests of at most `maximum` bytes
/// ([`crate::light_request_maximum`]), read within `budget`, answered.
#[cfg(feature = "node")]
pub fn light_node_behaviour(
    maximum: usize,
    budget: std::sync::Arc<crate::request_budget::RequestBudget>,
) -> LightNodeBehaviour {
    crate::intake::Behaviour::new(
        (LIGHT_PROTOCOL, request_response::ProtocolSupport::Inbound),
        (maximum, 0),
        budget,
        config(),
    )
}

/// The client's delivery behaviour: deliveries of at most [`MAX_LIGHT_FRAME`], acknowledged, at most
/// twice [`MAX_DELIVERIES_IN_FLIGHT`] at once per connection (room for a reconnection's overlap): a
/// node that pushes more has them dropped, so no node can make a client hold more than that many
/// frames.
pub fn delivery_client_behaviour() -> DeliveryClientBehaviour {
    request_response::Behaviour::with_codec(
        Answering::new(MAX_LIGHT_FRAME),
        [(
            DELIVERY_PROTOCOL,
            request_response::ProtocolSupport::Inbound,
        )],
        config().with_max_concurrent_streams(2 * MAX_DELIVERIES_IN_FLIGHT),
    )
}

/// A node's delivery behaviour: deliveries pushed, acknowledgements of at most 1 KiB.
pub fn delivery_node_behaviour() -> DeliveryNodeBehaviour {
    asking(Asking::new(1024), DELIVERY_PROTOCOL)
}

/// A request-response behaviour for the side of one light protocol that sends its requests.
fn asking<C>(codec: C, protocol: StreamProtocol) -> request_response::Behaviour<C>
where
    C: request_response::Codec<Protocol = StreamProtocol> + Clone + Send + 'static,
{
    let support = request_response::ProtocolSupport::Outbound;
    request_response::Behaviour::with_codec(codec, [(protocol, support)], config())
}

/// The light protocols' request timeout and streams per connection.
fn config() -> request_response::Config {
    request_response::Config::default()
        .with_request_timeout(Duration::from_secs(30))
        .with_max_concurrent_streams(256)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use libp2p::PeerId;

    use super::*;

    /// Pinned: a numbered delivery's CBOR, and one without a number (an older node's) still reads.
    #[test]
    fn delivery_cbor_vectors() {
        let numbered = Delivery::Events {
            part: "a#0".into(),
            messages: vec![ByteBuf::from(vec![7])],
            seq: Some(2),
        };
        let bytes = cbor4ii::serde::to_vec(Vec::new(), &numbered).unwrap();
        // {"Events": {"part": "a#0", "messages": [h'07'], "seq": 2}}
        let expected = [
            &[0xa1, 0x66][..],
            b"Events",
            &[0xa3, 0x64],
            b"part",
            &[0x63],
            b"a#0",
            &[0x68],
            b"messages",
            &[0x81, 0x41, 7, 0x63],
            b"seq",
            &[0x02],
        ]
        .concat();
        assert_eq!(bytes, expected);
        assert_eq!(
            cbor4ii::serde::from_slice::<Delivery>(&bytes).unwrap(),
            numbered
        );
        // {"Ended": {"part": "a#0", "reason": "r"}}
        let unnumbered = [
            &[0xa1, 0x65][..],
            b"Ended",
            &[0xa2, 0x64],
            b"part",
            &[0x63],
            b"a#0",
            &[0x66],
            b"reason",
            &[0x61],
            b"r",
        ]
        .concat();
        let ended: Delivery = cbor4ii::serde::from_slice(&unnumbered).unwrap();
        assert_eq!(ended.seq(), None);
        assert_eq!(
            cbor4ii::serde::to_vec(Vec::new(), &ended).unwrap(),
            unnumbered
        );
    }

    #[test]
    fn session_text_names_both_peers() {
        let a = PeerId::random();
        let b = PeerId::random();
        let text = session_text(&a, &b);
        assert!(text.contains(&a.to_string()) && text.contains(&b.to_string()));
        assert_ne!(text, session_text(&b, &a));
    }

    /// Pinned: wallets show this text, and nodes rebuild it byte for byte.
    #[test]
    fn authorisation_text_vector() {
        assert_eq!(
            authorisation_text(
                "0x70997970C51812dc3A010C7d01b50e0d17dc79C8",
                "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC",
                1_800_000_000
            ),
            "Rivulet session key\n\nThis key may read streams on Rivulet relay nodes for this account.\n\
             account: 0x70997970C51812dc3A010C7d01b50e0d17dc79C8\n\
             session key: 0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC\n\
             valid until: 1800000000 (Unix seconds)"
        );
    }
}
