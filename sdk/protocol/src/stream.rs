//! Stream ids, partitions and stream parts, and the partition function for partition keys.

use core::{fmt, str::FromStr};
use std::borrow::Cow;

use crate::{address::Address, hash::keccak256};

/// The most bytes a stream id may have.
pub const MAX_STREAM_ID_LEN: usize = 255;
/// The most partitions a stream may have.
pub const MAX_PARTITIONS: u8 = 100;

/// A validated, normalised stream id: `<owner>/<path>`.
///
/// The owner is a lowercase `0x` address or an ENS name (lowercase labels of `a-z0-9-`, dot-separated,
/// at least two labels); the path is one or more `/`-separated non-empty segments of `[A-Za-z0-9._-]`
/// (`.` and `..` are not segments). The whole id is at most 255 bytes. Parsing lowercases the owner and
/// keeps the path's case.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StreamId(String);

/// Why a string is not a stream id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StreamIdError {
    /// Longer than [`MAX_STREAM_ID_LEN`] bytes.
    #[error("stream id is {0} bytes; the limit is 255")]
    TooLong(usize),
    /// No `/` separating owner and path.
    #[error("stream id must be <owner>/<path>")]
    MissingPath,
    /// The owner is neither an address nor an ENS name.
    #[error("stream id owner {0:?} is neither a 0x address nor an ENS name")]
    InvalidOwner(String),
    /// The path has a character outside `[A-Za-z0-9._/-]`, an empty segment, or a `.`/`..` segment.
    #[error(
        "stream id path {0:?} must be /-separated segments of [A-Za-z0-9._-], none empty, '.' or '..'"
    )]
    InvalidPath(String),
}

impl StreamId {
    /// The id as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The owner part (address or ENS name).
    pub fn owner(&self) -> &str {
        self.0.split_once('/').map_or("", |(owner, _)| owner)
    }

    /// The owner as an address, when it is one (and not an ENS name).
    pub fn owner_address(&self) -> Option<Address> {
        self.owner().parse().ok()
    }

    /// The path without its leading `/`.
    pub fn path(&self) -> &str {
        self.0.split_once('/').map_or("", |(_, path)| path)
    }

    /// Builds `<owner>/<path>` from an address and a path (with or without a leading `/`).
    pub fn from_parts(owner: Address, path: &str) -> Result<StreamId, StreamIdError> {
        format!("{owner}/{}", path.trim_start_matches('/')).parse()
    }
}

impl FromStr for StreamId {
    type Err = StreamIdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.len() > MAX_STREAM_ID_LEN {
            return Err(StreamIdError::TooLong(s.len()));
        }
        let (owner, path) = s.split_once('/').ok_or(StreamIdError::MissingPath)?;
        let owner = normalise_owner(owner)?;
        if path.is_empty()
            || path.split('/').any(|seg| {
                seg.is_empty() || seg == "." || seg == ".." || !seg.bytes().all(is_path_byte)
            })
        {
            return Err(StreamIdError::InvalidPath(path.to_owned()));
        }
        Ok(StreamId(match owner {
            // Already in normal form (as every id on the wire is): the id as given.
            Cow::Borrowed(_) => s.to_owned(),
            Cow::Owned(owner) => format!("{owner}/{path}"),
        }))
    }
}

fn is_path_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-')
}

/// The owner in normal form: borrowed when it is an address already in normal form (lowercase), so
/// that parsing such an id — nearly every id a node decodes from the wire — allocates only the id.
fn normalise_owner(owner: &str) -> Result<Cow<'_, str>, StreamIdError> {
    let invalid = || StreamIdError::InvalidOwner(owner.to_owned());
    // An address is exactly 0x + 40 hex digits; anything else (including an ENS name like `0xab.eth`)
    // must be an ENS name.
    if owner.len() == 42
        && owner.as_bytes()[..2].eq_ignore_ascii_case(b"0x")
        && !owner.contains('.')
    {
        if !owner.as_bytes()[2..].iter().all(u8::is_ascii_hexdigit) {
            return Err(invalid());
        }
        // Case is normalised away, so a mixed-case owner is accepted without a checksum check.
        return Ok(if owner.bytes().any(|b| b.is_ascii_uppercase()) {
            Cow::Owned(owner.to_ascii_lowercase())
        } else {
            Cow::Borrowed(owner)
        });
    }
    let lower = owner.to_ascii_lowercase();
    let label_ok = |l: &str| {
        !l.is_empty()
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    };
    if lower.split('.').nth(1).is_some() && lower.split('.').all(label_ok) {
        Ok(Cow::Owned(lower))
    } else {
        Err(invalid())
    }
}

impl fmt::Display for StreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for StreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.0)
    }
}

/// A partition index, `0..MAX_PARTITIONS`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug, Default)]
pub struct Partition(u8);

/// Why a number is not a partition or partition count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PartitionError {
    /// A partition index of 100 or more.
    #[error("partition {0} is out of range 0..100")]
    OutOfRange(u32),
    /// A partition count outside 1..=100.
    #[error("partition count {0} is out of range 1..=100")]
    InvalidCount(u32),
}

impl Partition {
    /// Partition `n`, if `n < 100`.
    pub fn new(n: u32) -> Result<Partition, PartitionError> {
        u8::try_from(n)
            .ok()
            .filter(|n| *n < MAX_PARTITIONS)
            .map(Partition)
            .ok_or(PartitionError::OutOfRange(n))
    }

    /// The index.
    pub fn get(self) -> u8 {
        self.0
    }
}

impl fmt::Display for Partition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// The partition a partition key maps to in a stream of `partitions` partitions:
/// the first 8 bytes of `keccak256(key)` as a big-endian `u64`, modulo `partitions`.
/// Every platform computes the same value (pinned by test vectors).
pub fn partition_for_key(key: &[u8], partitions: u32) -> Result<Partition, PartitionError> {
    if partitions == 0 || partitions > u32::from(MAX_PARTITIONS) {
        return Err(PartitionError::InvalidCount(partitions));
    }
    let hash = keccak256(key);
    let mut head = [0u8; 8];
    head.copy_from_slice(&hash[..8]);
    let index = u64::from_be_bytes(head) % u64::from(partitions);
    // index < partitions <= 100, so it fits.
    Ok(Partition(index as u8))
}

/// One partition of one stream: the unit that is relayed, stored and subscribed to.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct StreamPartId {
    /// The stream.
    pub stream_id: StreamId,
    /// The partition.
    pub partition: Partition,
}

impl StreamPartId {
    /// Stream part `partition` of `stream_id`.
    pub fn new(stream_id: StreamId, partition: Partition) -> StreamPartId {
        StreamPartId {
            stream_id,
            partition,
        }
    }
}

impl fmt::Display for StreamPartId {
    /// `<stream id>#<partition>`, e.g. `0xab…/sensors#3`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}#{}", self.stream_id, self.partition)
    }
}

/// Why a string is not a stream part id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StreamPartIdError {
    /// The stream id is invalid.
    #[error(transparent)]
    StreamId(#[from] StreamIdError),
    /// The partition after `#` is not a number in range.
    #[error("partition after '#' must be a number 0..100")]
    Partition,
}

impl FromStr for StreamPartId {
    type Err = StreamPartIdError;

    /// Parses `<stream id>#<partition>`; a bare stream id means partition 0.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (id, partition) = match s.rsplit_once('#') {
            Some((id, p)) => {
                let n: u32 = p.parse().map_err(|_| StreamPartIdError::Partition)?;
                (
                    id,
                    Partition::new(n).map_err(|_| StreamPartIdError::Partition)?,
                )
            }
            None => (s, Partition::default()),
        };
        Ok(StreamPartId {
            stream_id: id.parse()?,
            partition,
        })
    }
}

#[cfg(feature = "serde")]
mod serde_impls {
    use super::*;

    impl serde::Serialize for StreamId {
        fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            serializer.serialize_str(&self.0)
        }
    }

    impl<'de> serde::Deserialize<'de> for StreamId {
        fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            String::deserialize(deserializer)?
                .parse()
                .map_err(serde::de::Error::custom)
        }
    }

    impl serde::Serialize for Partition {
        fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            serializer.serialize_u8(self.0)
        }
    }

    impl<'de> serde::Deserialize<'de> for Partition {
        fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            Partition::new(u32::deserialize(deserializer)?).map_err(serde::de::Error::custom)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owner_is_lowercased_and_path_kept() {
        let id: StreamId = "0xABCDEF0123456789abcdef0123456789ABCDEF01/Sensors/Temp-1"
            .parse()
            .unwrap();
        assert_eq!(
            id.as_str(),
            "0xabcdef0123456789abcdef0123456789abcdef01/Sensors/Temp-1"
        );
        assert_eq!(id.path(), "Sensors/Temp-1");
        assert!(id.owner_address().is_some());
        let hexlike: StreamId = "0xAB.eth/demo".parse().unwrap();
        assert_eq!(hexlike.as_str(), "0xab.eth/demo");
        assert_eq!(hexlike.owner_address(), None);
        let ens: StreamId = "Rivulet.ETH/demo".parse().unwrap();
        assert_eq!(ens.as_str(), "rivulet.eth/demo");
        assert_eq!(ens.owner_address(), None);
    }

    /// An id already in normal form (the fast path) parses to itself, and to what any other spelling of
    /// it parses to; ids that only look normal are still refused.
    #[test]
    fn normal_ids_parse_to_themselves() {
        for (normal, other) in [
            (
                "0xabcdef0123456789abcdef0123456789abcdef01/Sensors/Temp-1",
                "0XABCDEF0123456789ABCDEF0123456789ABCDEF01/Sensors/Temp-1",
            ),
            ("rivulet.eth/demo", "RIVULET.eth/demo"),
            ("0xab.eth/a/b", "0xAB.ETH/a/b"),
        ] {
            let id: StreamId = normal.parse().unwrap();
            assert_eq!(id.as_str(), normal);
            assert_eq!(other.parse::<StreamId>().unwrap(), id);
        }
        for bad in [
            "0xabcdef0123456789abcdef0123456789abcdef0g/a",
            "0xabcdef0123456789abcdef0123456789abcdef01/",
            "0xabcdef0123456789abcdef0123456789abcdef01/a/../b",
            "rivulet/a",
            "-rivulet.eth/a",
            "rivulet..eth/a",
        ] {
            assert!(bad.parse::<StreamId>().is_err(), "{bad} parsed");
        }
    }

    #[test]
    fn bad_ids_say_why() {
        assert_eq!(
            "nobody".parse::<StreamId>(),
            Err(StreamIdError::MissingPath)
        );
        assert!(matches!(
            "0x12/a".parse::<StreamId>(),
            Err(StreamIdError::InvalidOwner(_))
        ));
        assert!(matches!(
            "eth/a".parse::<StreamId>(),
            Err(StreamIdError::InvalidOwner(_))
        ));
        for path in ["", "a//b", "a/", "a b", "../x", "a/./b", "ü"] {
            let s = format!("rivulet.eth/{path}");
            assert!(
                matches!(s.parse::<StreamId>(), Err(StreamIdError::InvalidPath(_))),
                "{s}"
            );
        }
        // Found by the fuzzer: a multi-byte character right after the first byte of the owner.
        assert!(matches!(
            "0\u{488}00/a".parse::<StreamId>(),
            Err(StreamIdError::InvalidOwner(_))
        ));
        let long = format!("rivulet.eth/{}", "a".repeat(250));
        assert_eq!(long.parse::<StreamId>(), Err(StreamIdError::TooLong(262)));
    }

    #[test]
    fn partitions_are_bounded() {
        assert!(Partition::new(99).is_ok());
        assert_eq!(Partition::new(100), Err(PartitionError::OutOfRange(100)));
        assert_eq!(
            partition_for_key(b"x", 0),
            Err(PartitionError::InvalidCount(0))
        );
        assert_eq!(
            partition_for_key(b"x", 101),
            Err(PartitionError::InvalidCount(101))
        );
        assert_eq!(partition_for_key(b"anything", 1), Ok(Partition(0)));
    }

    #[test]
    fn stream_part_ids_parse_and_print() {
        let p: StreamPartId = "rivulet.eth/a/b#7".parse().unwrap();
        assert_eq!(p.partition.get(), 7);
        assert_eq!(p.to_string(), "rivulet.eth/a/b#7");
        assert_eq!(
            "rivulet.eth/a"
                .parse::<StreamPartId>()
                .unwrap()
                .partition
                .get(),
            0
        );
        assert_eq!(
            "rivulet.eth/a#100".parse::<StreamPartId>(),
            Err(StreamPartIdError::Partition)
        );
    }
}
