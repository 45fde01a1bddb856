//! # rivulet-protocol
//!
//! The sans-IO core of Rivulet, shared unchanged by the browser SDK, the relay node and every tool:
//! addresses, stream ids and partitions, the stream message with its canonical signed payload and compact
//! wire codec, secp256k1/EIP-191 signatures, message chains with gap detection, and group-key encryption.
//!
//! It does no I/O and reads no clock or entropy source of its own: timestamps and random number generators
//! are parameters, so it behaves the same in every test and on every platform. `PROTOCOL.md` at the
//! repository root documents the formats byte by byte; `testdata/vectors.json` pins them.
#![forbid(unsafe_code)]

pub mod address;
pub mod chain;
pub mod codec;
pub mod ecies;
pub mod encryption;
pub mod hash;
pub mod message;
pub mod signing;
pub mod stream;

pub use address::{Address, AddressError};
pub use chain::{ChainKey, ChainTracker, Gap, Ingest, MessageChain};
pub use codec::{DecodeError, EncodeError, Limits};
pub use encryption::{CryptoError, GroupKey};
pub use k256::PublicKey;
pub use message::{
    ChainId, ContentType, EncryptedGroupKey, Encryption, GroupKeyId, IdError, MessageId,
    MessageRef, MessageType, PROTOCOL_VERSION, Signature, SignatureType, StreamMessage,
    UnsignedMessage,
};
pub use rand_core;
pub use signing::{SignatureError, Signer, VerifyError, decode_verified};
pub use stream::{
    Partition, PartitionError, StreamId, StreamIdError, StreamPartId, StreamPartIdError,
    partition_for_key,
};
