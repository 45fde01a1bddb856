//! Verifying many messages fast. [`Verifier`] remembers the public key of each publisher it has
//! verified, so later messages of a known publisher are checked against that key instead of recovering
//! one from the signature; an unknown publisher's key is recovered once.
//!
//! The curve arithmetic has two backends behind one interface: `k256` (pure Rust; browsers and the
//! default) and, with the `native-secp256k1` feature, libsecp256k1 — about twice as fast, and what native
//! relays and clients use. Both accept exactly the same signatures (low-s only, `v` of 27/28 or 0/1).

use std::collections::{HashMap, VecDeque};

use crate::{
    address::Address,
    codec::{DecodeError, EncodeError, Limits, SIGNING_DOMAIN, split_signature},
    hash::eip191_hash,
    message::{Signature, StreamMessage},
};

/// Why a signature does not verify, or a key is unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// `r` or `s` is zero or not below the curve order.
    #[error("signature r or s is out of range")]
    Malformed,
    /// `s` is in the upper half of the curve order (EIP-2 forbids it: it makes signatures malleable).
    #[error("signature s is not in the lower half of the curve order (EIP-2)")]
    HighS,
    /// `v` is not 27, 28, 0 or 1.
    #[error("signature v byte {0} is not 27 or 28")]
    RecoveryId(u8),
    /// No public key recovers from this signature and hash.
    #[error("no public key recovers from this signature")]
    Unrecoverable,
    /// The signature is valid but made by someone other than the message's publisher.
    #[error("signed by {recovered}, but the message names publisher {claimed}")]
    WrongSigner {
        /// The publisher the message names.
        claimed: Address,
        /// The address that made the signature.
        recovered: Address,
    },
    /// A private key that is zero or not below the curve order.
    #[error("private key is not a valid secp256k1 scalar")]
    InvalidPrivateKey,
    /// The message cannot be encoded.
    #[error(transparent)]
    Encode(#[from] EncodeError),
}

/// Why received bytes are not a verified message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// Not a well-formed message.
    #[error("malformed message: {0}")]
    Decode(#[from] DecodeError),
    /// Well-formed, but the signature fails.
    #[error("bad signature: {0}")]
    Signature(#[from] SignatureError),
}

/// A signature's parts, checked for form: `r ‖ s` (low s) and the recovery id (0 or 1).
pub(crate) struct Parsed {
    compact: [u8; 64],
    recid: u8,
}

/// Parses a 65-byte `r ‖ s ‖ v` signature, refusing what EIP-2 and the protocol refuse.
pub(crate) fn parse(signature: &Signature) -> Result<Parsed, SignatureError> {
    let bytes = &signature.0;
    let v = bytes[64];
    let recid = match v {
        27 | 28 => v - 27,
        0 | 1 => v,
        _ => return Err(SignatureError::RecoveryId(v)),
    };
    let mut compact = [0u8; 64];
    compact.copy_from_slice(&bytes[..64]);
    backend::check_form(&compact)?;
    Ok(Parsed { compact, recid })
}

/// The public key `hash` was signed with, and its address.
pub(crate) fn recover(
    hash: &[u8; 32],
    signature: &Parsed,
) -> Result<(backend::Key, Address), SignatureError> {
    let key = backend::recover(hash, &signature.compact, signature.recid)?;
    let address = backend::address(&key);
    Ok((key, address))
}

#[cfg(not(feature = "native-secp256k1"))]
mod backend {
    //! k256, pure Rust.

    use k256::ecdsa::{
        RecoveryId, Signature as EcdsaSignature, VerifyingKey, signature::hazmat::PrehashVerifier,
    };

    use super::SignatureError;
    use crate::address::Address;

    pub(crate) type Key = VerifyingKey;

    pub(crate) fn check_form(compact: &[u8; 64]) -> Result<(), SignatureError> {
        let sig = EcdsaSignature::from_slice(compact).map_err(|_| SignatureError::Malformed)?;
        if sig.normalize_s() != sig {
            return Err(SignatureError::HighS);
        }
        Ok(())
    }

    pub(crate) fn recover(
        hash: &[u8; 32],
        compact: &[u8; 64],
        recid: u8,
    ) -> Result<Key, SignatureError> {
        let sig = EcdsaSignature::from_slice(compact).map_err(|_| SignatureError::Malformed)?;
        let recid = RecoveryId::from_byte(recid).ok_or(SignatureError::RecoveryId(recid))?;
        VerifyingKey::recover_from_prehash(hash, &sig, recid)
            .map_err(|_| SignatureError::Unrecoverable)
    }

    pub(crate) fn verify(hash: &[u8; 32], compact: &[u8; 64], key: &Key) -> bool {
        EcdsaSignature::from_slice(compact).is_ok_and(|sig| key.verify_prehash(hash, &sig).is_ok())
    }

    pub(crate) fn address(key: &Key) -> Address {
        Address::from_public_key(&key.into())
    }
}

#[cfg(feature = "native-secp256k1")]
mod backend {
    //! libsecp256k1 (C, through the `secp256k1` crate): natively only.

    use secp256k1::{
        Message, PublicKey,
        ecdsa::{RecoverableSignature, RecoveryId, Signature as EcdsaSignature},
    };

    use super::SignatureError;
    use crate::{address::Address, hash::keccak256};

    pub(crate) type Key = PublicKey;

    pub(crate) fn check_form(compact: &[u8; 64]) -> Result<(), SignatureError> {
        let sig = EcdsaSignature::from_compact(compact).map_err(|_| SignatureError::Malformed)?;
        if compact[..32] == [0; 32] || compact[32..] == [0; 32] {
            return Err(SignatureError::Malformed);
        }
        let mut normalized = sig;
        normalized.normalize_s();
        if normalized != sig {
            return Err(SignatureError::HighS);
        }
        Ok(())
    }

    pub(crate) fn recover(
        hash: &[u8; 32],
        compact: &[u8; 64],
        recid: u8,
    ) -> Result<Key, SignatureError> {
        let recid = RecoveryId::try_from(i32::from(recid))
            .map_err(|_| SignatureError::RecoveryId(recid))?;
        let sig = RecoverableSignature::from_compact(compact, recid)
            .map_err(|_| SignatureError::Malformed)?;
        sig.recover_ecdsa(Message::from_digest(*hash))
            .map_err(|_| SignatureError::Unrecoverable)
    }

    pub(crate) fn verify(hash: &[u8; 32], compact: &[u8; 64], key: &Key) -> bool {
        EcdsaSignature::from_compact(compact).is_ok_and(|sig| {
            secp256k1::ecdsa::verify(&sig, Message::from_digest(*hash), key).is_ok()
        })
    }

    pub(crate) fn address(key: &Key) -> Address {
        let point = key.serialize_uncompressed();
        let hash = keccak256(&point[1..]);
        let mut out = [0u8; 20];
        out.copy_from_slice(&hash[12..]);
        Address(out)
    }
}

/// Verifies messages, remembering up to `capacity` publishers' public keys (the oldest learnt is
/// forgotten first). Not shared between threads: one per verifying worker.
#[derive(Debug)]
pub struct Verifier {
    keys: HashMap<Address, backend::Key>,
    order: VecDeque<Address>,
    capacity: usize,
}

impl Default for Verifier {
    /// Remembers 100,000 publishers.
    fn default() -> Self {
        Verifier::new(100_000)
    }
}

impl Verifier {
    /// A verifier that remembers up to `capacity` publishers' keys.
    pub fn new(capacity: usize) -> Verifier {
        Verifier {
            keys: HashMap::new(),
            order: VecDeque::new(),
            capacity,
        }
    }

    /// Checks the signature of `message`, decoded from `frame`, over the bytes as received — as
    /// [`verify_frame`](crate::signing::verify_frame) does, with the publisher's key remembered.
    pub fn verify_frame(
        &mut self,
        message: &StreamMessage,
        frame: &[u8],
    ) -> Result<(), SignatureError> {
        let body = split_signature(frame).map_or(frame, |(body, _)| body);
        let hash = eip191_hash(&[SIGNING_DOMAIN, body]);
        let claimed = message.body.id.publisher;
        let signature = parse(&message.signature)?;
        if let Some(key) = self.keys.get(&claimed)
            && backend::verify(&hash, &signature.compact, key)
        {
            return Ok(());
        }
        // Unknown publisher, or a signature its key does not verify: recovery says who signed.
        let (key, recovered) = recover(&hash, &signature)?;
        if recovered != claimed {
            return Err(SignatureError::WrongSigner { claimed, recovered });
        }
        if self.capacity > 0 && self.keys.insert(claimed, key).is_none() {
            self.order.push_back(claimed);
            if self.order.len() > self.capacity
                && let Some(oldest) = self.order.pop_front()
            {
                self.keys.remove(&oldest);
            }
        }
        Ok(())
    }

    /// Decodes wire bytes and verifies the signature over them as received — as
    /// [`decode_verified`](crate::signing::decode_verified) does, with the publisher's key remembered.
    pub fn decode_verified(
        &mut self,
        wire: &[u8],
        limits: &Limits,
    ) -> Result<StreamMessage, VerifyError> {
        let message = StreamMessage::decode(wire, limits)?;
        self.verify_frame(&message, wire)?;
        Ok(message)
    }

    /// How many publishers' keys it remembers.
    pub fn known(&self) -> usize {
        self.keys.len()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::{ChainId, ContentType, MessageType, Signer, StreamPartId, publish::ChainSigner};

    fn signed(key: u8, n: usize) -> Vec<(StreamMessage, Vec<u8>)> {
        let part: StreamPartId = "rivulet.eth/v#0".parse().unwrap();
        let mut p = ChainSigner::new(
            Signer::from_bytes(&[key; 32]).unwrap(),
            ChainId::new("c").unwrap(),
        );
        (0..n)
            .map(|i| {
                let m = p
                    .sign_next(
                        &part,
                        i as u64,
                        MessageType::Data,
                        ContentType::Json,
                        b"{}".to_vec(),
                        None,
                        &mut rand::rng(),
                    )
                    .unwrap();
                let wire = m.encode().unwrap();
                (m, wire)
            })
            .collect()
    }

    #[test]
    fn known_publishers_are_verified_and_forgeries_still_named() {
        let mut v = Verifier::new(1);
        for (m, wire) in signed(1, 3) {
            v.verify_frame(&m, &wire).unwrap();
        }
        assert_eq!(v.known(), 1);
        // Another publisher's message claimed by the known one: its key does not verify, recovery
        // names the real signer.
        let (mut forged, _) = signed(2, 1).remove(0);
        let (real, _) = signed(1, 1).remove(0);
        forged.body.id.publisher = real.id().publisher;
        let wire = forged.encode().unwrap();
        match v.verify_frame(&forged, &wire) {
            Err(SignatureError::WrongSigner { claimed, .. }) => {
                assert_eq!(claimed, real.id().publisher)
            }
            other => panic!("{other:?}"),
        }
        // A second publisher pushes the first out of a one-key memory; both still verify.
        for (m, wire) in signed(2, 2).into_iter().chain(signed(1, 1)) {
            v.verify_frame(&m, &wire).unwrap();
        }
        assert_eq!(v.known(), 1);
    }

    #[test]
    fn decodes_and_verifies_wire_bytes_as_received() {
        let limits = Limits::default();
        let mut v = Verifier::new(8);
        for (m, wire) in signed(4, 2) {
            assert_eq!(v.decode_verified(&wire, &limits).unwrap(), m);
        }
        let (_, mut wire) = signed(4, 1).remove(0);
        // Another content byte: still well-formed, no longer what the publisher signed.
        let at = wire.windows(2).position(|w| w == b"{}").unwrap();
        wire[at + 1] = b']';
        assert!(matches!(
            v.decode_verified(&wire, &limits),
            Err(VerifyError::Signature(_))
        ));
        assert!(matches!(
            v.decode_verified(&[1, 2, 3], &limits),
            Err(VerifyError::Decode(_))
        ));
    }

    #[test]
    fn high_s_and_bad_v_are_refused_as_before() {
        let (m, wire) = signed(3, 1).remove(0);
        let mut high = m.clone();
        // s' = n - s flips the parity: EIP-2 forbids the upper half.
        let n = hex::decode("fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141")
            .unwrap();
        let mut s = [0u8; 32];
        let mut borrow = 0i16;
        for i in (0..32).rev() {
            let d = i16::from(n[i]) - i16::from(m.signature.0[32 + i]) - borrow;
            (s[i], borrow) = if d < 0 {
                ((d + 256) as u8, 1)
            } else {
                (d as u8, 0)
            };
        }
        high.signature.0[32..64].copy_from_slice(&s);
        assert_eq!(
            Verifier::default().verify_frame(&high, &wire),
            Err(SignatureError::HighS)
        );
        let mut bad_v = m.clone();
        bad_v.signature.0[64] = 29;
        assert_eq!(
            Verifier::default().verify_frame(&bad_v, &wire),
            Err(SignatureError::RecoveryId(29))
        );
    }
}
