//! Why an event is refused: [`Rejection`], each with a stable reason label for metrics.

use rivulet_protocol::{Address, DecodeError, SignatureError};

/// Why an event was refused. Each has a short, stable [`Rejection::reason`] for metrics labels.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    /// The frame is larger than any valid message can be.
    #[error("frame of {len} bytes exceeds the limit of {max}")]
    Oversize {
        /// Frame length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// Not a well-formed message.
    #[error("malformed message: {0}")]
    Malformed(DecodeError),
    /// The stream has no such partition.
    #[error("{stream_id} has {partitions} partition(s); there is no partition {partition}")]
    NoSuchPartition {
        /// The stream.
        stream_id: String,
        /// The partition named.
        partition: u8,
        /// The stream's partition count.
        partitions: u32,
    },
    /// Timestamped too far in the future.
    #[error("timestamp is {ahead_ms} ms ahead of this node's clock (limit {max_ms} ms)")]
    FutureTimestamp {
        /// How far ahead.
        ahead_ms: u64,
        /// The limit.
        max_ms: u64,
    },
    /// Timestamped too far in the past for a live event.
    #[error(
        "timestamp is {behind_ms} ms behind this node's clock (limit {max_ms} ms): live events are stamped when they are published"
    )]
    StaleTimestamp {
        /// How far behind.
        behind_ms: u64,
        /// The limit.
        max_ms: u64,
    },
    /// The publisher has no permission for this kind of message on the stream now, by the chain's
    /// clock (publish; subscribe for a group-key request).
    #[error(
        "{publisher} may not {action} to {stream_id} (judged at {at_secs}, by the chain's clock)"
    )]
    NoPermission {
        /// The stream.
        stream_id: String,
        /// The publisher the message names.
        publisher: Address,
        /// When it was judged (arrival), Unix seconds.
        at_secs: u64,
        /// `publish`, or `send key requests` for a group-key request.
        action: &'static str,
    },
    /// Plaintext data to a stream that is not publicly readable.
    #[error(
        "{stream_id} is not publicly readable: its events must be encrypted end to end, and this one is plaintext"
    )]
    NotEncrypted {
        /// The stream.
        stream_id: String,
    },
    /// The signature does not hold.
    #[error("bad signature: {0}")]
    BadSignature(SignatureError),
}

/// Every rejection reason, in the order of [`Validator`]'s counters.
pub(crate) const REASONS: [&str; 8] = [
    "oversize",
    "malformed",
    "bad_stream",
    "future_timestamp",
    "stale_timestamp",
    "no_permission",
    "not_encrypted",
    "bad_signature",
];

impl Rejection {
    /// A stable label: `oversize`, `malformed`, `bad_stream`, `future_timestamp`, `stale_timestamp`,
    /// `no_permission`, `not_encrypted`, `bad_signature`.
    pub fn reason(&self) -> &'static str {
        match self {
            Rejection::Oversize { .. } => "oversize",
            Rejection::Malformed(_) => "malformed",
            Rejection::NoSuchPartition { .. } => "bad_stream",
            Rejection::FutureTimestamp { .. } => "future_timestamp",
            Rejection::StaleTimestamp { .. } => "stale_timestamp",
            Rejection::NoPermission { .. } => "no_permission",
            Rejection::NotEncrypted { .. } => "not_encrypted",
            Rejection::BadSignature(_) => "bad_signature",
        }
    }

    /// Whether the sender is to blame (gossipsub "reject", counting against its peer score) rather than
    /// the message merely not being of use here (a clock that differs from this node's).
    pub fn penalises_sender(&self) -> bool {
        !matches!(
            self,
            Rejection::FutureTimestamp { .. } | Rejection::StaleTimestamp { .. }
        )
    }
}
