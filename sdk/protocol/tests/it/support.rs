//! Shared helpers: sample messages and a replaying RNG for deterministic vectors.

use std::convert::Infallible;

use rivulet_protocol::rand_core;

use rivulet_protocol::{
    ChainId, ContentType, Encryption, MessageId, MessageRef, MessageType, Partition, SignatureType,
    Signer, StreamId, UnsignedMessage,
};

/// An RNG that hands out recorded bytes, so encryption vectors are reproducible.
pub(crate) struct Replay {
    bytes: Vec<u8>,
    pos: usize,
}

impl Replay {
    pub(crate) fn new(parts: &[&[u8]]) -> Replay {
        Replay {
            bytes: parts.concat(),
            pos: 0,
        }
    }
}

impl rand_core::TryRng for Replay {
    type Error = Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        let mut b = [0u8; 4];
        self.try_fill_bytes(&mut b)?;
        Ok(u32::from_le_bytes(b))
    }

    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        let mut b = [0u8; 8];
        self.try_fill_bytes(&mut b)?;
        Ok(u64::from_le_bytes(b))
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        let end = self.pos + dst.len();
        assert!(
            end <= self.bytes.len(),
            "replay RNG ran out of recorded bytes"
        );
        dst.copy_from_slice(&self.bytes[self.pos..end]);
        self.pos = end;
        Ok(())
    }
}

impl rand_core::TryCryptoRng for Replay {}

/// A plain JSON data message from `signer` with `content`.
pub(crate) fn sample(signer: &Signer, content: &[u8]) -> UnsignedMessage {
    UnsignedMessage {
        id: MessageId {
            stream_id: StreamId::from_parts(signer.address(), "sensors/temp").unwrap(),
            partition: Partition::new(3).unwrap(),
            timestamp: 1_764_000_000_000,
            sequence_number: 2,
            publisher: signer.address(),
            chain_id: ChainId::new("chain-1").unwrap(),
        },
        prev: Some(MessageRef::new(1_763_999_999_000, 0)),
        message_type: MessageType::Data,
        content_type: ContentType::Json,
        encryption: Encryption::None,
        new_group_key: None,
        content: content.to_vec(),
        signature_type: SignatureType::Eip191Secp256k1,
    }
}

pub(crate) fn signer(n: u8) -> Signer {
    let mut key = [0u8; 32];
    key[31] = n;
    Signer::from_bytes(&key).unwrap()
}
