#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

pub mod address;
pub mod assignment;
pub mod chain;
pub mod checksum;
pub mod codec;
mod comb;
mod curve;
pub mod ecies;
pub mod encryption;
pub mod hash;
#[cfg(feature = "serde")]
pub mod key_exchange;
pub mod message;
pub mod publish;
pub mod signing;
pub mod stream;
pub mod verify;

pub use address::{Address, AddressError};
pub use chain::{ChainKey, ChainTracker, Gap, Ingest, MessageChain};
pub use checksum::{ChecksumError, ChecksumInterval, IntervalChecksum, RollingChecksum};
pub use codec::{DecodeError, EncodeError, Limits};
pub use encryption::{CryptoError, GroupKey};
pub use k256::PublicKey;
pub use message::{
    ChainId, ContentType, EncryptedGroupKey, Encryption, GroupKeyId, IdError, MessageId,
    MessageRef, MessageType, PROTOCOL_VERSION, Signature, SignatureType, StreamMessage,
    UnsignedMessage,
};
pub use publish::{ChainSigner, EventKeys, PublishError};
pub use rand_core;
pub use signing::{SignatureError, Signer, VerifyError, decode_verified, verify_frame};
pub use stream::{
    Partition, PartitionError, StreamId, StreamIdError, StreamPartId, StreamPartIdError,
    partition_for_key,
};
pub use verify::{OwnSignatures, Verifier};
