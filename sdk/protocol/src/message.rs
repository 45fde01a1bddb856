//! The stream message and its parts: ids, references, and the type tags that are signed with it.

use core::fmt;

use crate::{
    address::Address,
    stream::{Partition, StreamId, StreamPartId},
};

/// The wire and signed-payload version this crate speaks.
pub const PROTOCOL_VERSION: u8 = 1;
/// The most bytes a message chain id may have.
pub const MAX_CHAIN_ID_LEN: usize = 64;
/// The most bytes a group key id may have.
pub const MAX_GROUP_KEY_ID_LEN: usize = 128;

/// A point in a publisher's message chain: timestamp (ms since the Unix epoch) and a sequence number that
/// orders messages with the same timestamp. Orders by timestamp, then sequence number.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "camelCase"))]
pub struct MessageRef {
    /// Milliseconds since the Unix epoch, as the publisher stamped it.
    pub timestamp: u64,
    /// Orders messages of one chain that share a timestamp, from 0.
    pub sequence_number: u32,
}

impl MessageRef {
    /// A reference at `timestamp`, `sequence_number`.
    pub fn new(timestamp: u64, sequence_number: u32) -> MessageRef {
        MessageRef {
            timestamp,
            sequence_number,
        }
    }
}

impl fmt::Display for MessageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.timestamp, self.sequence_number)
    }
}

/// A message chain id: 1..=64 bytes of `[A-Za-z0-9_-]`. A publisher may run several chains (one per
/// process or tab), each ordered on its own.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct ChainId(String);

/// A group key id: 1..=128 bytes of `[A-Za-z0-9_-]`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct GroupKeyId(String);

/// Why a string is not a chain id or group key id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what} must be 1..={max} bytes of [A-Za-z0-9_-], got {value:?}")]
pub struct IdError {
    /// Which kind of id.
    pub what: &'static str,
    /// The length limit.
    pub max: usize,
    /// The rejected value (cut to 80 characters).
    pub value: String,
}

fn check_id(what: &'static str, max: usize, s: &str) -> Result<(), IdError> {
    let ok = !s.is_empty()
        && s.len() <= max
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(IdError {
            what,
            max,
            value: s.chars().take(80).collect(),
        })
    }
}

macro_rules! short_id {
    ($ty:ident, $what:literal, $max:expr) => {
        impl $ty {
            /// Validates `s` as this kind of id.
            pub fn new(s: impl Into<String>) -> Result<$ty, IdError> {
                let s = s.into();
                check_id($what, $max, &s)?;
                Ok($ty(s))
            }

            /// The id as a string.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl core::str::FromStr for $ty {
            type Err = IdError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                $ty::new(s)
            }
        }

        #[cfg(feature = "serde")]
        impl<'de> serde::Deserialize<'de> for $ty {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                $ty::new(String::deserialize(deserializer)?).map_err(serde::de::Error::custom)
            }
        }
    };
}

short_id!(ChainId, "message chain id", MAX_CHAIN_ID_LEN);
short_id!(GroupKeyId, "group key id", MAX_GROUP_KEY_ID_LEN);

/// Identifies one message globally: where it was published, when, by whom, in which chain.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "camelCase"))]
pub struct MessageId {
    /// The stream.
    pub stream_id: StreamId,
    /// The partition of the stream.
    pub partition: Partition,
    /// Milliseconds since the Unix epoch.
    pub timestamp: u64,
    /// Orders messages of one chain with the same timestamp.
    pub sequence_number: u32,
    /// The publisher, who signed the message.
    pub publisher: Address,
    /// The publisher's message chain.
    pub chain_id: ChainId,
}

impl MessageId {
    /// This message's place in its chain.
    pub fn message_ref(&self) -> MessageRef {
        MessageRef::new(self.timestamp, self.sequence_number)
    }

    /// The stream part it belongs to.
    pub fn stream_part(&self) -> StreamPartId {
        StreamPartId::new(self.stream_id.clone(), self.partition)
    }
}

macro_rules! wire_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $value:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
        #[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
        #[cfg_attr(feature = "serde", serde(rename_all = "camelCase"))]
        #[repr(u8)]
        pub enum $name {
            $($(#[$vmeta])* $variant = $value),+
        }

        impl $name {
            /// The byte that stands for this value on the wire.
            pub fn to_byte(self) -> u8 {
                self as u8
            }

            /// The value a wire byte stands for, if any.
            pub fn from_byte(b: u8) -> Option<$name> {
                match b {
                    $($value => Some($name::$variant),)+
                    _ => None,
                }
            }
        }
    };
}

wire_enum!(
    /// What a message is for.
    MessageType {
        /// An application event.
        Data = 0,
        /// A subscriber asks a publisher for group keys.
        GroupKeyRequest = 1,
        /// A publisher answers with group keys encrypted to the subscriber.
        GroupKeyResponse = 2,
    }
);

wire_enum!(
    /// How the content (after decryption) is to be read.
    ContentType {
        /// UTF-8 JSON.
        Json = 0,
        /// Opaque bytes.
        Binary = 1,
    }
);

wire_enum!(
    /// The signature scheme.
    SignatureType {
        /// secp256k1 ECDSA over the EIP-191 personal-message hash of the signed payload; 65 bytes r‖s‖v.
        Eip191Secp256k1 = 1,
    }
);

/// How the content is encrypted.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub enum Encryption {
    /// Plain content.
    None,
    /// AES-256-GCM under the publisher's group key with this id; content is `nonce(12) ‖ ciphertext ‖ tag(16)`.
    Aes256Gcm(GroupKeyId),
}

impl Encryption {
    /// The wire byte: 0 for none, 1 for AES-256-GCM.
    pub fn type_byte(&self) -> u8 {
        match self {
            Encryption::None => 0,
            Encryption::Aes256Gcm(_) => 1,
        }
    }

    /// The group key id, when encrypted.
    pub fn group_key_id(&self) -> Option<&GroupKeyId> {
        match self {
            Encryption::None => None,
            Encryption::Aes256Gcm(id) => Some(id),
        }
    }
}

/// A new group key announced in a message (key rotation), encrypted under the message's current group key.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct EncryptedGroupKey {
    /// The new key's id.
    pub id: GroupKeyId,
    /// `nonce(12) ‖ AES-256-GCM(current key, new key bytes) ‖ tag(16)`.
    pub data: Vec<u8>,
}

/// A 65-byte secp256k1 signature: `r(32) ‖ s(32) ‖ v(1)`, `v` being 27 or 28 as Ethereum writes it.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Signature(pub [u8; 65]);

impl fmt::Debug for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "0x{}", hex::encode(self.0))
    }
}

/// Everything of a message but its signature: what gets signed.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct UnsignedMessage {
    /// Which message this is.
    pub id: MessageId,
    /// The previous message of the same chain, if any: the link gap detection follows.
    pub prev: Option<MessageRef>,
    /// Data or key exchange.
    pub message_type: MessageType,
    /// How to read the (decrypted) content.
    pub content_type: ContentType,
    /// How the content is encrypted.
    pub encryption: Encryption,
    /// A rotated-in group key, if the publisher announces one.
    pub new_group_key: Option<EncryptedGroupKey>,
    /// The content bytes (ciphertext when encrypted).
    pub content: Vec<u8>,
    /// The scheme the signature uses.
    pub signature_type: SignatureType,
}

impl UnsignedMessage {
    /// A plain (unencrypted) data message of `publisher`'s chain `chain_id` in stream part `part`, at
    /// reference `at`, linked to `prev` — what a publisher builds for every event.
    pub fn data(
        part: &StreamPartId,
        publisher: Address,
        chain_id: ChainId,
        (at, prev): (MessageRef, Option<MessageRef>),
        content_type: ContentType,
        content: Vec<u8>,
    ) -> UnsignedMessage {
        UnsignedMessage {
            id: MessageId {
                stream_id: part.stream_id.clone(),
                partition: part.partition,
                timestamp: at.timestamp,
                sequence_number: at.sequence_number,
                publisher,
                chain_id,
            },
            prev,
            message_type: MessageType::Data,
            content_type,
            encryption: Encryption::None,
            new_group_key: None,
            content,
            signature_type: SignatureType::Eip191Secp256k1,
        }
    }
}

/// A signed stream message, as relayed, stored and delivered.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct StreamMessage {
    /// Every signed field.
    pub body: UnsignedMessage,
    /// The publisher's signature over [`UnsignedMessage::signed_payload`](crate::codec).
    pub signature: Signature,
}

impl StreamMessage {
    /// The message id.
    pub fn id(&self) -> &MessageId {
        &self.body.id
    }

    /// This message's place in its chain.
    pub fn message_ref(&self) -> MessageRef {
        self.body.id.message_ref()
    }
}
