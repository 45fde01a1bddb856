//! Rolling checksums: what the nodes storing a stream part report to the NetworkCoordinator contract, so
//! that the network can agree on what it stored (`PROTOCOL.md`, "Rolling checksums").
//!
//! Events are grouped by their timestamp into fixed intervals: interval `k` of length `L` ms holds the
//! events with `k * L <= timestamp < (k + 1) * L`. Within an interval the events are taken in the store's
//! key order — timestamp, sequence number, publisher address bytes, message chain id bytes — and folded
//! into a hash chain over the keccak256 of each event's wire bytes (signature included):
//!
//! ```text
//! h_0 = 32 zero bytes
//! h_i = keccak256(h_{i-1} ‖ keccak256(wire_i))
//! ```
//!
//! The interval's checksum is `h_n` and its count `n`. Honest nodes holding the same events agree byte for
//! byte whatever order the events reached them in.
//!
//! ```
//! use rivulet_protocol::checksum::{ChecksumInterval, RollingChecksum};
//!
//! let interval = ChecksumInterval::from_secs(60).unwrap();
//! assert_eq!(interval.index_of(1_764_000_059_999), 29_400_000);
//! let mut rolling = RollingChecksum::new(29_400_000);
//! rolling.add(b"wire bytes of the first event in key order");
//! rolling.add(b"wire bytes of the second");
//! assert_eq!(rolling.finish().count, 2);
//! ```

use core::{cmp::Ordering, num::NonZeroU64};

use crate::{
    codec::{DecodeError, Limits, MAX_CONTENT_LEN},
    hash::keccak256,
    message::{MessageId, StreamMessage},
    stream::StreamPartId,
};

/// The checksum of an interval without events: 32 zero bytes (`h_0`).
pub const EMPTY_CHECKSUM: [u8; 32] = [0; 32];

/// The length of a checksum interval (whole milliseconds, never zero). The NetworkCoordinator contract
/// counts it in seconds (`checksumInterval`).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct ChecksumInterval(NonZeroU64);

impl ChecksumInterval {
    /// An interval of `secs` seconds, as the contract's `checksumInterval` gives it; `None` for 0 (or a
    /// length beyond `u64` milliseconds).
    pub fn from_secs(secs: u64) -> Option<ChecksumInterval> {
        secs.checked_mul(1000)
            .and_then(ChecksumInterval::from_millis)
    }

    /// An interval of `millis` milliseconds; `None` for 0.
    pub fn from_millis(millis: u64) -> Option<ChecksumInterval> {
        NonZeroU64::new(millis).map(ChecksumInterval)
    }

    /// The length in milliseconds.
    pub fn millis(self) -> u64 {
        self.0.get()
    }

    /// The index of the interval holding an event stamped `timestamp_ms`: `timestamp_ms / length`.
    pub fn index_of(self, timestamp_ms: u64) -> u64 {
        timestamp_ms / self.0
    }

    /// The first millisecond of interval `index`, if it is representable.
    pub fn start_ms(self, index: u64) -> Option<u64> {
        index.checked_mul(self.millis())
    }

    /// The millisecond just after interval `index` (its exclusive end), if it is representable.
    pub fn end_ms(self, index: u64) -> Option<u64> {
        index.checked_add(1)?.checked_mul(self.millis())
    }
}

/// The index of the interval of length `interval` that holds an event stamped `timestamp_ms`.
pub fn interval_of(timestamp_ms: u64, interval: ChecksumInterval) -> u64 {
    interval.index_of(timestamp_ms)
}

/// What a node reports for one interval of one stream part.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct IntervalChecksum {
    /// The interval's index.
    pub interval: u64,
    /// How many events it holds.
    pub count: u64,
    /// The rolling hash over them (`EMPTY_CHECKSUM` when there are none).
    pub hash: [u8; 32],
}

/// The rolling hash of one interval, fed event by event in key order.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct RollingChecksum {
    interval: u64,
    count: u64,
    hash: [u8; 32],
}

impl RollingChecksum {
    /// An empty interval `interval` (`h_0`, count 0).
    pub fn new(interval: u64) -> RollingChecksum {
        RollingChecksum {
            interval,
            count: 0,
            hash: EMPTY_CHECKSUM,
        }
    }

    /// Adds the next event, in key order, by its wire bytes (signature included).
    pub fn add(&mut self, wire: &[u8]) {
        self.add_event_hash(&keccak256(wire));
    }

    /// Adds the next event by its hash, `keccak256(wire bytes)` (for callers that keep it).
    pub fn add_event_hash(&mut self, event_hash: &[u8; 32]) {
        let mut both = [0u8; 64];
        both[..32].copy_from_slice(&self.hash);
        both[32..].copy_from_slice(event_hash);
        self.hash = keccak256(&both);
        self.count += 1;
    }

    /// The interval's index.
    pub fn interval(&self) -> u64 {
        self.interval
    }

    /// Events added so far.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// The hash so far.
    pub fn hash(&self) -> [u8; 32] {
        self.hash
    }

    /// The interval's checksum as reported.
    pub fn finish(&self) -> IntervalChecksum {
        IntervalChecksum {
            interval: self.interval,
            count: self.count,
            hash: self.hash,
        }
    }
}

/// The store's key order of two events of one stream part: timestamp, sequence number, publisher address
/// bytes, then message chain id bytes (shorter first when one is a prefix of the other).
pub fn key_order(a: &MessageId, b: &MessageId) -> Ordering {
    (
        a.timestamp,
        a.sequence_number,
        a.publisher.as_bytes(),
        a.chain_id.as_str().as_bytes(),
    )
        .cmp(&(
            b.timestamp,
            b.sequence_number,
            b.publisher.as_bytes(),
            b.chain_id.as_str().as_bytes(),
        ))
}

/// Why a set of events has no checksum.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChecksumError {
    /// An event's wire bytes do not decode.
    #[error("event {index} does not decode: {source}")]
    Decode {
        /// Its position in the input.
        index: usize,
        /// Why.
        source: DecodeError,
    },
    /// An event of another stream part.
    #[error("event {index} belongs to {found}, not to {expected}")]
    WrongPart {
        /// Its position in the input.
        index: usize,
        /// The part it belongs to.
        found: StreamPartId,
        /// The part being checksummed.
        expected: StreamPartId,
    },
    /// Two different wires with one message id (a publisher signed two events at one reference): the
    /// store keeps one per id, so nodes could disagree on which.
    #[error(
        "events {first} and {second} differ but share the message id {timestamp}.{sequence_number}"
    )]
    Conflict {
        /// Position of one of them in the input.
        first: usize,
        /// Position of the other.
        second: usize,
        /// Their timestamp.
        timestamp: u64,
        /// Their sequence number.
        sequence_number: u32,
    },
}

/// The checksums of every interval of `part` that holds at least one of `wires`, ascending by interval.
///
/// The wires may come in any order; they are decoded (not verified: nodes checksum what they stored,
/// which they verified on arrival) and sorted by [`key_order`]. The same wire given twice counts once, as
/// the store keeps it once. Intervals without events are left out (their checksum is `EMPTY_CHECKSUM`
/// with count 0, and nodes do not report them).
pub fn interval_checksums<W: AsRef<[u8]>>(
    part: &StreamPartId,
    interval: ChecksumInterval,
    wires: &[W],
) -> Result<Vec<IntervalChecksum>, ChecksumError> {
    let limits = Limits {
        max_content_len: MAX_CONTENT_LEN,
    };
    let mut events = Vec::with_capacity(wires.len());
    for (index, wire) in wires.iter().enumerate() {
        let wire = wire.as_ref();
        let message = StreamMessage::decode(wire, &limits)
            .map_err(|source| ChecksumError::Decode { index, source })?;
        let found = message.id().stream_part();
        if &found != part {
            return Err(ChecksumError::WrongPart {
                index,
                found,
                expected: part.clone(),
            });
        }
        events.push((message.body.id, index, wire));
    }
    events.sort_by(|a, b| key_order(&a.0, &b.0).then(a.1.cmp(&b.1)));

    let mut out: Vec<IntervalChecksum> = Vec::new();
    let mut rolling: Option<RollingChecksum> = None;
    let mut previous: Option<&(MessageId, usize, &[u8])> = None;
    for event in &events {
        if let Some(prev) = previous
            && key_order(&prev.0, &event.0) == Ordering::Equal
        {
            if prev.2 == event.2 {
                continue;
            }
            return Err(ChecksumError::Conflict {
                first: prev.1,
                second: event.1,
                timestamp: event.0.timestamp,
                sequence_number: event.0.sequence_number,
            });
        }
        previous = Some(event);
        let k = interval.index_of(event.0.timestamp);
        match &mut rolling {
            Some(r) if r.interval() == k => r.add(event.2),
            _ => {
                if let Some(done) = rolling.take() {
                    out.push(done.finish());
                }
                let mut r = RollingChecksum::new(k);
                r.add(event.2);
                rolling = Some(r);
            }
        }
    }
    if let Some(done) = rolling {
        out.push(done.finish());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_are_half_open() {
        let i = ChecksumInterval::from_secs(60).unwrap();
        assert_eq!(i.index_of(0), 0);
        assert_eq!(i.index_of(59_999), 0);
        assert_eq!(i.index_of(60_000), 1);
        assert_eq!(i.start_ms(1), Some(60_000));
        assert_eq!(i.end_ms(1), Some(120_000));
        assert_eq!(i.end_ms(u64::MAX), None);
        assert_eq!(ChecksumInterval::from_secs(0), None);
        assert_eq!(ChecksumInterval::from_secs(u64::MAX), None);
        assert_eq!(interval_of(u64::MAX, i), u64::MAX / 60_000);
    }

    #[test]
    fn rolling_hash_is_the_documented_chain() {
        let mut r = RollingChecksum::new(7);
        assert_eq!(r.finish().hash, EMPTY_CHECKSUM);
        r.add(b"a");
        let h1 = keccak256(&[[0u8; 32], keccak256(b"a")].concat());
        assert_eq!(r.hash(), h1);
        r.add_event_hash(&keccak256(b"b"));
        assert_eq!(r.hash(), keccak256(&[h1, keccak256(b"b")].concat()));
        assert_eq!(r.finish().count, 2);
        assert_eq!(r.finish().interval, 7);
    }
}
