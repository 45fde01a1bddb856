//! The wire codec and the canonical signed payload, byte by byte as `PROTOCOL.md` documents them.
//!
//! A message on the wire is its *body* followed by the 65-byte signature. The body starts with the
//! protocol version and holds every field but the signature, each either fixed-width (big-endian) or
//! length-prefixed. The signed payload is [`SIGNING_DOMAIN`] followed by the body, so a relay verifies a
//! message straight from the bytes it received, without re-encoding.

use crate::{
    address::Address,
    message::{
        ChainId, ContentType, EncryptedGroupKey, Encryption, GroupKeyId, IdError, MessageId,
        MessageRef, MessageType, PROTOCOL_VERSION, Signature, SignatureType, StreamMessage,
        UnsignedMessage,
    },
    stream::{Partition, StreamId, StreamIdError},
};

/// The domain tag that starts every signed payload, so a message signature can never be mistaken for a
/// signature over anything else a key signs with EIP-191 (a login challenge, an off-chain order).
pub const SIGNING_DOMAIN: &[u8; 20] = b"Rivulet message v1:\n";
/// Length of a signature on the wire.
pub const SIGNATURE_LEN: usize = 65;
/// The largest content any message may carry, whatever the configured limit (16 MiB).
pub const MAX_CONTENT_LEN: usize = 16 * 1024 * 1024;
/// The default content limit (1 MiB).
pub const DEFAULT_MAX_CONTENT_LEN: usize = 1024 * 1024;
/// The largest encrypted new group key.
pub const MAX_NEW_GROUP_KEY_LEN: usize = 1024;

/// Limits a decoder enforces.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest content accepted, in bytes; at most [`MAX_CONTENT_LEN`].
    pub max_content_len: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_content_len: DEFAULT_MAX_CONTENT_LEN,
        }
    }
}

/// Why bytes are not a valid message. Every variant names the field it found wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// Input ended inside a field.
    #[error("truncated: {field} needs {needed} bytes, {remaining} remain")]
    Truncated {
        /// The field being read.
        field: &'static str,
        /// Bytes it needed.
        needed: usize,
        /// Bytes left.
        remaining: usize,
    },
    /// Bytes left after the signature.
    #[error("{0} trailing bytes after the signature")]
    TrailingBytes(usize),
    /// A protocol version this decoder does not know.
    #[error("unknown protocol version {0}; this node speaks version {PROTOCOL_VERSION}")]
    UnknownVersion(u8),
    /// A field longer than its limit.
    #[error("{field} is {len} bytes; the limit is {max}")]
    Oversize {
        /// The field.
        field: &'static str,
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A string field that is not UTF-8 (or JSON content that is not).
    #[error("{0} is not valid UTF-8")]
    InvalidUtf8(&'static str),
    /// A tag byte with no meaning.
    #[error("{field} has unknown value {value}")]
    UnknownTag {
        /// The field.
        field: &'static str,
        /// The byte found.
        value: u8,
    },
    /// The signature's `v` byte is not 27 or 28.
    #[error("signature v byte is {0}; it must be 27 or 28")]
    SignatureV(u8),
    /// The stream id is invalid.
    #[error("invalid stream id: {0}")]
    StreamId(#[from] StreamIdError),
    /// A field that parses but is not in its one canonical form (e.g. a stream id owner not in lower case).
    #[error("{0} is not in canonical form (owner must be lower case)")]
    NotCanonical(&'static str),
    /// The partition is out of range.
    #[error("partition {0} is out of range 0..100")]
    Partition(u8),
    /// A chain id or group key id is invalid.
    #[error(transparent)]
    Id(#[from] IdError),
}

/// Why a message cannot be encoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    /// A field is longer than the protocol allows.
    #[error("{field} is {len} bytes; the limit is {max}")]
    Oversize {
        /// The field.
        field: &'static str,
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },
}

impl UnsignedMessage {
    /// Appends the body encoding (everything but the signature) to `out`.
    pub fn encode_body(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        if self.content.len() > MAX_CONTENT_LEN {
            return Err(EncodeError::Oversize {
                field: "content",
                len: self.content.len(),
                max: MAX_CONTENT_LEN,
            });
        }
        if let Some(key) = &self.new_group_key
            && key.data.len() > MAX_NEW_GROUP_KEY_LEN
        {
            return Err(EncodeError::Oversize {
                field: "new group key",
                len: key.data.len(),
                max: MAX_NEW_GROUP_KEY_LEN,
            });
        }
        let id = &self.id;
        out.reserve(self.encoded_body_len());
        out.push(PROTOCOL_VERSION);
        put_short(out, id.stream_id.as_str().as_bytes());
        out.push(id.partition.get());
        out.extend_from_slice(&id.timestamp.to_be_bytes());
        out.extend_from_slice(&id.sequence_number.to_be_bytes());
        out.extend_from_slice(id.publisher.as_bytes());
        put_short(out, id.chain_id.as_str().as_bytes());
        match self.prev {
            None => out.push(0),
            Some(prev) => {
                out.push(1);
                out.extend_from_slice(&prev.timestamp.to_be_bytes());
                out.extend_from_slice(&prev.sequence_number.to_be_bytes());
            }
        }
        out.push(self.message_type.to_byte());
        out.push(self.content_type.to_byte());
        out.push(self.encryption.type_byte());
        if let Some(key_id) = self.encryption.group_key_id() {
            put_short(out, key_id.as_str().as_bytes());
        }
        match &self.new_group_key {
            None => out.push(0),
            Some(key) => {
                out.push(1);
                put_short(out, key.id.as_str().as_bytes());
                // Checked above: at most MAX_NEW_GROUP_KEY_LEN.
                out.extend_from_slice(&(key.data.len() as u16).to_be_bytes());
                out.extend_from_slice(&key.data);
            }
        }
        out.push(self.signature_type.to_byte());
        // Checked above: at most MAX_CONTENT_LEN.
        out.extend_from_slice(&(self.content.len() as u32).to_be_bytes());
        out.extend_from_slice(&self.content);
        Ok(())
    }

    /// The body encoding as a new vector.
    pub fn body_bytes(&self) -> Result<Vec<u8>, EncodeError> {
        let mut out = Vec::new();
        self.encode_body(&mut out)?;
        Ok(out)
    }

    /// The canonical signed payload: [`SIGNING_DOMAIN`] ‖ body. The signature is over the EIP-191 hash
    /// of these bytes.
    pub fn signed_payload(&self) -> Result<Vec<u8>, EncodeError> {
        let mut out = Vec::with_capacity(SIGNING_DOMAIN.len() + self.encoded_body_len());
        out.extend_from_slice(SIGNING_DOMAIN);
        self.encode_body(&mut out)?;
        Ok(out)
    }

    /// The exact length of the body encoding.
    pub fn encoded_body_len(&self) -> usize {
        let id = &self.id;
        1 + 1
            + id.stream_id.as_str().len()
            + 1
            + 8
            + 4
            + 20
            + 1
            + id.chain_id.as_str().len()
            + 1
            + if self.prev.is_some() { 12 } else { 0 }
            + 3
            + self
                .encryption
                .group_key_id()
                .map_or(0, |k| 1 + k.as_str().len())
            + 1
            + self
                .new_group_key
                .as_ref()
                .map_or(0, |k| 1 + k.id.as_str().len() + 2 + k.data.len())
            + 1
            + 4
            + self.content.len()
    }
}

impl StreamMessage {
    /// The wire encoding: body ‖ signature.
    pub fn encode(&self) -> Result<Vec<u8>, EncodeError> {
        let mut out = Vec::with_capacity(self.body.encoded_body_len() + SIGNATURE_LEN);
        self.body.encode_body(&mut out)?;
        out.extend_from_slice(&self.signature.0);
        Ok(out)
    }

    /// Decodes one message from exactly `bytes`, enforcing `limits`. The signature is not checked here:
    /// see [`crate::signing`].
    pub fn decode(bytes: &[u8], limits: &Limits) -> Result<StreamMessage, DecodeError> {
        let mut r = Reader { bytes, pos: 0 };
        let version = r.u8("version")?;
        if version != PROTOCOL_VERSION {
            return Err(DecodeError::UnknownVersion(version));
        }
        let raw_stream_id = r.short_str("stream id")?;
        let stream_id: StreamId = raw_stream_id.parse()?;
        // One message, one encoding: an owner in upper case would verify as sent but re-encode differently.
        if stream_id.as_str() != raw_stream_id {
            return Err(DecodeError::NotCanonical("stream id"));
        }
        let partition_byte = r.u8("partition")?;
        let partition = Partition::new(u32::from(partition_byte))
            .map_err(|_| DecodeError::Partition(partition_byte))?;
        let timestamp = r.u64("timestamp")?;
        let sequence_number = r.u32("sequence number")?;
        let publisher = Address(r.array::<20>("publisher")?);
        let chain_id = ChainId::new(r.short_str("message chain id")?)?;
        let prev = match r.u8("previous reference flag")? {
            0 => None,
            1 => Some(MessageRef::new(
                r.u64("previous timestamp")?,
                r.u32("previous sequence number")?,
            )),
            value => {
                return Err(DecodeError::UnknownTag {
                    field: "previous reference flag",
                    value,
                });
            }
        };
        let message_type = r.tag("message type", MessageType::from_byte)?;
        let content_type = r.tag("content type", ContentType::from_byte)?;
        let encryption = match r.u8("encryption type")? {
            0 => Encryption::None,
            1 => Encryption::Aes256Gcm(GroupKeyId::new(r.short_str("group key id")?)?),
            value => {
                return Err(DecodeError::UnknownTag {
                    field: "encryption type",
                    value,
                });
            }
        };
        let new_group_key = match r.u8("new group key flag")? {
            0 => None,
            1 => {
                let id = GroupKeyId::new(r.short_str("new group key id")?)?;
                let len = usize::from(r.u16("new group key length")?);
                if len > MAX_NEW_GROUP_KEY_LEN {
                    return Err(DecodeError::Oversize {
                        field: "new group key",
                        len,
                        max: MAX_NEW_GROUP_KEY_LEN,
                    });
                }
                Some(EncryptedGroupKey {
                    id,
                    data: r.take("new group key", len)?.to_vec(),
                })
            }
            value => {
                return Err(DecodeError::UnknownTag {
                    field: "new group key flag",
                    value,
                });
            }
        };
        let signature_type = r.tag("signature type", SignatureType::from_byte)?;
        let content_len = r.u32("content length")? as usize;
        let max = limits.max_content_len.min(MAX_CONTENT_LEN);
        if content_len > max {
            return Err(DecodeError::Oversize {
                field: "content",
                len: content_len,
                max,
            });
        }
        let content = r.take("content", content_len)?;
        if content_type == ContentType::Json
            && encryption == Encryption::None
            && core::str::from_utf8(content).is_err()
        {
            return Err(DecodeError::InvalidUtf8("JSON content"));
        }
        let content = content.to_vec();
        let signature = Signature(r.array::<SIGNATURE_LEN>("signature")?);
        // One signature, one encoding: v is 27 or 28 on the wire (0/1 would verify too, as a second
        // byte string for the same message).
        let v = signature.0[SIGNATURE_LEN - 1];
        if v != 27 && v != 28 {
            return Err(DecodeError::SignatureV(v));
        }
        if r.pos != bytes.len() {
            return Err(DecodeError::TrailingBytes(bytes.len() - r.pos));
        }
        let id = MessageId {
            stream_id,
            partition,
            timestamp,
            sequence_number,
            publisher,
            chain_id,
        };
        Ok(StreamMessage {
            body: UnsignedMessage {
                id,
                prev,
                message_type,
                content_type,
                encryption,
                new_group_key,
                content,
                signature_type,
            },
            signature,
        })
    }
}

/// Splits wire bytes into body and signature without decoding them (for verifying the bytes as received).
pub fn split_signature(wire: &[u8]) -> Option<(&[u8], &[u8; SIGNATURE_LEN])> {
    let body_len = wire.len().checked_sub(SIGNATURE_LEN)?;
    let (body, sig) = wire.split_at(body_len);
    Some((body, sig.try_into().ok()?))
}

fn put_short(out: &mut Vec<u8>, bytes: &[u8]) {
    // Every short field is validated to at most 255 bytes by its type.
    out.push(bytes.len() as u8);
    out.extend_from_slice(bytes);
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, field: &'static str, n: usize) -> Result<&'a [u8], DecodeError> {
        let remaining = self.bytes.len() - self.pos;
        if n > remaining {
            return Err(DecodeError::Truncated {
                field,
                needed: n,
                remaining,
            });
        }
        let out = &self.bytes[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }

    fn array<const N: usize>(&mut self, field: &'static str) -> Result<[u8; N], DecodeError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(field, N)?);
        Ok(out)
    }

    fn u8(&mut self, field: &'static str) -> Result<u8, DecodeError> {
        Ok(self.array::<1>(field)?[0])
    }

    fn u16(&mut self, field: &'static str) -> Result<u16, DecodeError> {
        Ok(u16::from_be_bytes(self.array(field)?))
    }

    fn u32(&mut self, field: &'static str) -> Result<u32, DecodeError> {
        Ok(u32::from_be_bytes(self.array(field)?))
    }

    fn u64(&mut self, field: &'static str) -> Result<u64, DecodeError> {
        Ok(u64::from_be_bytes(self.array(field)?))
    }

    fn short_str(&mut self, field: &'static str) -> Result<&'a str, DecodeError> {
        let len = usize::from(self.u8(field)?);
        core::str::from_utf8(self.take(field, len)?).map_err(|_| DecodeError::InvalidUtf8(field))
    }

    fn tag<T>(&mut self, field: &'static str, f: fn(u8) -> Option<T>) -> Result<T, DecodeError> {
        let value = self.u8(field)?;
        f(value).ok_or(DecodeError::UnknownTag { field, value })
    }
}
