//! The publisher's signing side: the next event of one of its message chains (one chain per stream part),
//! built, optionally encrypted, and signed in one place. Every publisher — the client, the relay's
//! command line and load generator, a node signing plain content for WebSocket clients — goes through
//! [`ChainSigner`], so chains are linked the same way everywhere.

use std::collections::HashMap;

use crate::{
    Address,
    chain::MessageChain,
    encryption::{CryptoError, GroupKey, encrypt_content, seal_next_key},
    message::{ChainId, ContentType, MessageRef, MessageType, StreamMessage, UnsignedMessage},
    signing::{SignatureError, Signer},
    stream::StreamPartId,
};

/// Why the next event could not be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PublishError {
    /// The content could not be encrypted.
    #[error("cannot encrypt the content: {0}")]
    Encrypt(#[source] CryptoError),
    /// The event could not be signed (or encoded for signing).
    #[error("cannot sign the event: {0}")]
    Sign(#[source] SignatureError),
}

/// Encryption of one event: the key it is encrypted with, and optionally the next key, announced in the
/// event sealed under the current one (a rotation).
#[derive(Clone, Copy, Debug)]
pub struct EventKeys<'a> {
    /// The key the content is encrypted with.
    pub current: &'a GroupKey,
    /// The key that takes over after this event.
    pub next: Option<&'a GroupKey>,
}

/// Signs a publisher's successive events, one message chain per stream part.
#[derive(Clone, Debug)]
pub struct ChainSigner {
    signer: Signer,
    chain_id: ChainId,
    chains: HashMap<StreamPartId, MessageChain>,
}

impl ChainSigner {
    /// A publisher signing with `signer` in chains named `chain_id` (one per stream part).
    pub fn new(signer: Signer, chain_id: ChainId) -> ChainSigner {
        ChainSigner {
            signer,
            chain_id,
            chains: HashMap::new(),
        }
    }

    /// The key events are signed with.
    pub fn signer(&self) -> &Signer {
        &self.signer
    }

    /// The publisher's address.
    pub fn address(&self) -> Address {
        self.signer.address()
    }

    /// The chain id of this publisher's chains.
    pub fn chain_id(&self) -> &ChainId {
        &self.chain_id
    }

    /// Signs the next event of `part`'s chain at `timestamp` (ms; the chain keeps references increasing
    /// when the clock does not), of `message_type` with `content`; with `keys`, the content is encrypted
    /// (AES-256-GCM, header as associated data) and the next key announced. `rng` is only used to encrypt.
    ///
    /// A failure hands the reference back, so the chain stays unbroken.
    #[allow(clippy::too_many_arguments)]
    pub fn sign_next<R: rand_core::CryptoRng + ?Sized>(
        &mut self,
        part: &StreamPartId,
        timestamp: u64,
        message_type: MessageType,
        content_type: ContentType,
        content: Vec<u8>,
        keys: Option<EventKeys<'_>>,
        rng: &mut R,
    ) -> Result<StreamMessage, PublishError> {
        self.sign_next_hashed(
            part,
            timestamp,
            message_type,
            content_type,
            content,
            keys,
            rng,
        )
        .map(|(message, _)| message)
    }

    /// [`sign_next`](ChainSigner::sign_next), also returning the hash the signature is over (see
    /// [`Signer::sign_hashed`]).
    #[allow(clippy::too_many_arguments)]
    pub fn sign_next_hashed<R: rand_core::CryptoRng + ?Sized>(
        &mut self,
        part: &StreamPartId,
        timestamp: u64,
        message_type: MessageType,
        content_type: ContentType,
        content: Vec<u8>,
        keys: Option<EventKeys<'_>>,
        rng: &mut R,
    ) -> Result<(StreamMessage, [u8; 32]), PublishError> {
        let chain = self.chains.entry(part.clone()).or_default();
        let (at, prev) = chain.next(timestamp);
        let result = sign(
            &self.signer,
            UnsignedMessage {
                message_type,
                ..UnsignedMessage::data(
                    part,
                    self.signer.address(),
                    self.chain_id.clone(),
                    (at, prev),
                    content_type,
                    content,
                )
            },
            keys,
            rng,
        );
        if result.is_err() {
            chain.take_back(at, prev);
        }
        result
    }

    /// Takes back the last reference of `part`'s chain, `at` (linked to `prev`), when its event never
    /// went out (the network refused it), so the next event links to the last one that did. Returns false
    /// when another event of the chain was signed since.
    pub fn take_back(
        &mut self,
        part: &StreamPartId,
        at: MessageRef,
        prev: Option<MessageRef>,
    ) -> bool {
        self.chains
            .get_mut(part)
            .is_some_and(|chain| chain.take_back(at, prev))
    }

    /// The last reference signed in `part`'s chain.
    pub fn last(&self, part: &StreamPartId) -> Option<MessageRef> {
        self.chains.get(part).and_then(MessageChain::last)
    }
}

fn sign<R: rand_core::CryptoRng + ?Sized>(
    signer: &Signer,
    mut body: UnsignedMessage,
    keys: Option<EventKeys<'_>>,
    rng: &mut R,
) -> Result<(StreamMessage, [u8; 32]), PublishError> {
    if let Some(keys) = keys {
        encrypt_content(&mut body, keys.current, rng).map_err(PublishError::Encrypt)?;
        body.new_group_key = keys.next.map(|next| seal_next_key(keys.current, next, rng));
    }
    signer.sign_hashed(body).map_err(PublishError::Sign)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use rand::SeedableRng;

    use super::*;
    use crate::{
        Limits, encryption::decrypt_content, message::GroupKeyId, signing::decode_verified,
    };

    fn rng() -> rand::rngs::StdRng {
        rand::rngs::StdRng::seed_from_u64(7)
    }

    fn publisher() -> ChainSigner {
        ChainSigner::new(
            Signer::from_bytes(&[7; 32]).unwrap(),
            ChainId::new("c1").unwrap(),
        )
    }

    #[test]
    fn events_of_a_part_are_chained_and_parts_have_their_own_chains() {
        let mut p = publisher();
        let a: StreamPartId = "rivulet.eth/a#0".parse().unwrap();
        let b: StreamPartId = "rivulet.eth/b#0".parse().unwrap();
        let mut rng = rng();
        let sign =
            |p: &mut ChainSigner, part: &StreamPartId, at: u64, rng: &mut rand::rngs::StdRng| {
                p.sign_next(
                    part,
                    at,
                    MessageType::Data,
                    ContentType::Json,
                    b"{}".to_vec(),
                    None,
                    rng,
                )
                .unwrap()
            };
        let first = sign(&mut p, &a, 1_000, &mut rng);
        let second = sign(&mut p, &a, 1_000, &mut rng);
        let other = sign(&mut p, &b, 900, &mut rng);
        assert_eq!(first.body.prev, None);
        assert_eq!(second.body.prev, Some(first.message_ref()));
        assert_eq!(second.message_ref(), MessageRef::new(1_000, 1));
        assert_eq!(other.body.prev, None, "another part, another chain");
        assert_eq!(p.last(&a), Some(second.message_ref()));
        // A refused event is taken back: the next links to the last that went out.
        let refused = sign(&mut p, &a, 2_000, &mut rng);
        assert!(p.take_back(&a, refused.message_ref(), refused.body.prev));
        let next = sign(&mut p, &a, 3_000, &mut rng);
        assert_eq!(next.body.prev, Some(second.message_ref()));
        for m in [first, second, other, next] {
            let wire = m.encode().unwrap();
            assert_eq!(decode_verified(&wire, &Limits::default()).unwrap(), m);
        }
    }

    #[test]
    fn an_encrypted_event_opens_with_its_key_and_carries_the_next() {
        let mut p = publisher();
        let part: StreamPartId = "rivulet.eth/a#0".parse().unwrap();
        let key = GroupKey::new(GroupKeyId::new("k1").unwrap(), [1; 32]);
        let next = GroupKey::new(GroupKeyId::new("k2").unwrap(), [2; 32]);
        let m = p
            .sign_next(
                &part,
                5,
                MessageType::Data,
                ContentType::Json,
                br#"{"secret":1}"#.to_vec(),
                Some(EventKeys {
                    current: &key,
                    next: Some(&next),
                }),
                &mut rng(),
            )
            .unwrap();
        assert_ne!(m.body.content, br#"{"secret":1}"#);
        assert_eq!(decrypt_content(&m.body, &key).unwrap(), br#"{"secret":1}"#);
        let sealed = m.body.new_group_key.as_ref().unwrap();
        assert_eq!(
            crate::encryption::open_next_key(&key, sealed)
                .unwrap()
                .bytes(),
            next.bytes()
        );
    }
}
