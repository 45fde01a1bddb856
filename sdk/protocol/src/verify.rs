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
    comb::{self, Comb},
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

impl Parsed {
    /// Whether this is a signature of `hash` by the key `comb` holds multiples of.
    fn verify_with(&self, hash: &[u8; 32], comb: &Comb) -> bool {
        scalars(&self.compact).is_some_and(|(r, s)| comb::verify(hash, &r, &s, comb))
    }
}

/// `r` and `s` of a compact signature as k256 scalars, for the comb's arithmetic (`None` if either is
/// zero or not below the group order).
fn scalars(compact: &[u8; 64]) -> Option<(k256::Scalar, k256::Scalar)> {
    let (r, s) = k256::ecdsa::Signature::from_slice(compact)
        .ok()?
        .split_scalars();
    Some((*r, *s))
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
    let key = backend::recover(hash, signature)?;
    let address = backend::address(&key);
    Ok((key, address))
}

/// The public key `hash` was signed with, as k256 holds it (by the generator's comb in either backend:
/// the one use, answering a key request, is rare).
pub(crate) fn recover_public_key(
    hash: &[u8; 32],
    signature: &Parsed,
) -> Result<k256::PublicKey, SignatureError> {
    let (r, s) = scalars(&signature.compact).ok_or(SignatureError::Malformed)?;
    comb::recover(hash, &r, &s, signature.recid == 1).ok_or(SignatureError::Unrecoverable)
}

#[cfg(not(feature = "native-secp256k1"))]
mod backend {
    //! k256, pure Rust.

    use k256::ecdsa::{Signature as EcdsaSignature, VerifyingKey};

    use super::{Parsed, SignatureError};
    use crate::{address::Address, comb, curve::Affine};

    pub(crate) type Key = VerifyingKey;

    /// After how many verifications with a publisher's key its comb is built: a comb's verification
    /// saves ~65 % of k256's, and building one (window 5) costs about 7 of k256's verifications.
    pub(crate) const COMB_AFTER: u32 = 8;
    /// Combs of 5-bit digits: 848 points, ~68 KB.
    pub(crate) const COMB_WINDOW: u32 = 5;
    /// At most 16 combs per verifier (1.1 MB): a page's subscription hears few publishers.
    pub(crate) const COMBS: usize = 16;

    pub(crate) fn check_form(compact: &[u8; 64]) -> Result<(), SignatureError> {
        let sig = EcdsaSignature::from_slice(compact).map_err(|_| SignatureError::Malformed)?;
        if sig.normalize_s() != sig {
            return Err(SignatureError::HighS);
        }
        Ok(())
    }

    /// Recovery and verification by the generator's comb (see `comb`): the same results as k256's
    /// `recover_from_prehash` and `verify_prehash` (the tests there compare them), and a page links one
    /// implementation of each instead of two.
    pub(crate) fn recover(hash: &[u8; 32], signature: &Parsed) -> Result<Key, SignatureError> {
        super::recover_public_key(hash, signature).map(Key::from)
    }

    pub(crate) fn verify(hash: &[u8; 32], compact: &[u8; 64], key: &Key) -> bool {
        super::scalars(compact).is_some_and(|(r, s)| comb::verify_key(hash, &r, &s, &point(key)))
    }

    pub(crate) fn address(key: &Key) -> Address {
        Address::from_public_key(&key.into())
    }

    /// The key as a curve point, for k256's multiplication.
    fn point(key: &Key) -> k256::ProjectivePoint {
        k256::ProjectivePoint::from(*key.as_affine())
    }

    /// The key as a curve point, for its comb.
    pub(crate) fn affine(key: &Key) -> Option<Affine> {
        Affine::from_k256(key.as_affine())
    }
}

#[cfg(feature = "native-secp256k1")]
mod backend {
    //! libsecp256k1 (C, through the `secp256k1` crate): natively only.

    use secp256k1::{
        Message, PublicKey,
        ecdsa::{RecoverableSignature, RecoveryId, Signature as EcdsaSignature},
    };

    use super::{Parsed, SignatureError};
    use crate::{address::Address, curve::Affine, hash::keccak256};

    pub(crate) type Key = PublicKey;

    /// After how many verifications with a publisher's key its comb is built: a comb's verification
    /// saves ~40 % of libsecp256k1's, and building one (window 7, ~1.2 ms) costs about 42 of them.
    pub(crate) const COMB_AFTER: u32 = 128;
    /// Combs of 7-bit digits: 2,432 points, ~195 KB; 38 additions a multiplication (window 6: 44, and
    /// a verification 19.4 µs against 18.0; window 8, 33 and 17.1 µs, but 338 KB and ~2.1 ms to build).
    pub(crate) const COMB_WINDOW: u32 = 7;
    /// At most 32 combs per verifier (6.2 MB): a relay's verifying thread hears many publishers, and
    /// keeps combs for the 32 it most lately found busy.
    pub(crate) const COMBS: usize = 32;

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

    pub(crate) fn recover(hash: &[u8; 32], signature: &Parsed) -> Result<Key, SignatureError> {
        let recid = RecoveryId::try_from(i32::from(signature.recid))
            .map_err(|_| SignatureError::RecoveryId(signature.recid))?;
        let sig = RecoverableSignature::from_compact(&signature.compact, recid)
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

    /// The key as a curve point, for its comb (libsecp256k1 keys are valid points).
    pub(crate) fn affine(key: &Key) -> Option<Affine> {
        Affine::from_uncompressed(&key.serialize_uncompressed())
    }
}

/// Verifies messages, remembering up to `capacity` publishers' public keys (the oldest learnt is
/// forgotten first), and for publishers it verifies often a comb of multiples of their keys, which
/// makes a verification about three times as fast as k256's, and ~40 % faster than libsecp256k1's (see
/// `comb`; at most 16 of ~68 KB with k256, 32 of ~195 KB with libsecp256k1, the newest built kept).
/// Not shared between threads: one per verifying worker.
pub struct Verifier {
    keys: Newest<Address, Known>,
    /// The publishers whose comb was built, oldest first (one may be listed twice, or after its key
    /// was forgotten: at most `comb_capacity` combs are held either way).
    combs: VecDeque<Address>,
    comb_capacity: usize,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier")
            .field("known", &self.keys.len())
            .field("combs", &self.combs())
            .finish()
    }
}

/// A publisher's key, its comb if it has one, and how often the key verified a signature since.
struct Known {
    key: backend::Key,
    comb: Option<Comb>,
    verified: u32,
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
            keys: Newest::new(capacity),
            combs: VecDeque::new(),
            comb_capacity: backend::COMBS.min(capacity),
        }
    }

    /// Checks the signature of `message`, decoded from `frame`, over the bytes as received — as
    /// [`verify_frame`](crate::signing::verify_frame) does, with the publisher's key remembered.
    pub fn verify_frame(
        &mut self,
        message: &StreamMessage,
        frame: &[u8],
    ) -> Result<(), SignatureError> {
        self.verify_hashed(message, &frame_hash(frame))
    }

    /// [`verify_frame`](Verifier::verify_frame), except that a message whose signature over its
    /// hash `made` says this process made (as [`OwnSignatures::made`] does) comes back authentic without
    /// the curve arithmetic. `made` is asked before any verifying, so a lock it takes is not held
    /// through the curve work.
    pub fn verify_frame_or_own(
        &mut self,
        message: &StreamMessage,
        frame: &[u8],
        made: impl FnOnce(&[u8; 32], &Signature) -> bool,
    ) -> Result<(), SignatureError> {
        let hash = frame_hash(frame);
        if made(&hash, &message.signature) {
            return Ok(());
        }
        self.verify_hashed(message, &hash)
    }

    /// Checks many messages, each over the frame it was decoded from: the verdicts
    /// [`verify_frame`](Verifier::verify_frame) gives one by one, in order. The signatures of publishers
    /// with a comb share one scalar inversion (Montgomery's trick), which saves ~2 µs of each natively.
    pub fn verify_frames(
        &mut self,
        items: &[(&StreamMessage, &[u8])],
    ) -> Vec<Result<(), SignatureError>> {
        let mut verdicts = Vec::with_capacity(items.len());
        // (index, hash, r, s) of the signatures to check by comb, together.
        let mut by_comb = Vec::new();
        for (i, (message, frame)) in items.iter().enumerate() {
            let hash = frame_hash(frame);
            let has_comb = self
                .keys
                .get(&message.body.id.publisher)
                .is_some_and(|known| known.comb.is_some());
            // Only for a comb: anything else is parsed by `verify_hashed`, as one by one.
            let scalars = if has_comb {
                parse(&message.signature)
                    .ok()
                    .and_then(|signature| scalars(&signature.compact))
            } else {
                None
            };
            match scalars {
                Some((r, s)) => {
                    by_comb.push((i, hash, r, s));
                    verdicts.push(Ok(()));
                }
                _ => verdicts.push(self.verify_hashed(message, &hash)),
            }
        }
        let s_values: Vec<k256::Scalar> = by_comb.iter().map(|&(_, _, _, s)| s).collect();
        let inverses = comb::invert_all(&s_values).unwrap_or_default();
        for (n, (i, hash, r, _)) in by_comb.iter().enumerate() {
            let message = items[*i].0;
            let verified = inverses.get(n).is_some_and(|s_inv| {
                self.keys
                    .get(&message.body.id.publisher)
                    .and_then(|known| known.comb.as_ref())
                    .is_some_and(|comb| comb::verify_inverted(hash, r, s_inv, comb))
            });
            if !verified {
                // Not by this comb (or it was dropped for a newer one): as one by one, which also
                // names another signer.
                verdicts[*i] = self.verify_hashed(message, hash);
            }
        }
        verdicts
    }

    fn verify_hashed(
        &mut self,
        message: &StreamMessage,
        hash: &[u8; 32],
    ) -> Result<(), SignatureError> {
        let claimed = message.body.id.publisher;
        let signature = parse(&message.signature)?;
        if let Some(known) = self.keys.get_mut(&claimed) {
            if let Some(comb) = &known.comb {
                if signature.verify_with(hash, comb) {
                    return Ok(());
                }
            } else if backend::verify(hash, &signature.compact, &known.key) {
                known.verified += 1;
                if known.verified >= backend::COMB_AFTER && self.comb_capacity > 0 {
                    known.comb = backend::affine(&known.key)
                        .and_then(|point| Comb::new(&point, backend::COMB_WINDOW));
                    if known.comb.is_none() {
                        known.verified = 0; // never for a key on the curve; try again later
                    }
                    self.combs.push_back(claimed);
                    if self.combs.len() > self.comb_capacity
                        && let Some(oldest) = self.combs.pop_front()
                        && let Some(known) = self.keys.get_mut(&oldest)
                    {
                        known.comb = None;
                        known.verified = 0;
                    }
                }
                return Ok(());
            }
        }
        // Unknown publisher, or a signature its key does not verify: recovery says who signed.
        let (key, recovered) = recover(hash, &signature)?;
        if recovered != claimed {
            return Err(SignatureError::WrongSigner { claimed, recovered });
        }
        self.keys.insert(
            claimed,
            Known {
                key,
                comb: None,
                verified: 0,
            },
        );
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

    /// [`decode_verified`](Verifier::decode_verified), taking what `made` says this process signed as
    /// authentic (see [`verify_frame_or_own`](Verifier::verify_frame_or_own)).
    pub fn decode_verified_or_own(
        &mut self,
        wire: &[u8],
        limits: &Limits,
        made: impl FnOnce(&[u8; 32], &Signature) -> bool,
    ) -> Result<StreamMessage, VerifyError> {
        let message = StreamMessage::decode(wire, limits)?;
        self.verify_frame_or_own(&message, wire, made)?;
        Ok(message)
    }

    /// How many publishers' keys it remembers.
    pub fn known(&self) -> usize {
        self.keys.len()
    }

    /// For how many publishers it holds a comb (multiples of the key, built for those it verifies
    /// often).
    pub fn combs(&self) -> usize {
        self.keys.map.values().filter(|k| k.comb.is_some()).count()
    }
}

/// A map that keeps the newest `capacity` entries put in it: the oldest put in is forgotten first.
#[derive(Debug)]
struct Newest<K, V> {
    map: HashMap<K, V>,
    order: VecDeque<K>,
    capacity: usize,
}

impl<K: Copy + Eq + std::hash::Hash, V> Newest<K, V> {
    fn new(capacity: usize) -> Newest<K, V> {
        Newest {
            map: HashMap::new(),
            order: VecDeque::new(),
            capacity,
        }
    }

    fn get(&self, key: &K) -> Option<&V> {
        self.map.get(key)
    }

    fn get_mut(&mut self, key: &K) -> Option<&mut V> {
        self.map.get_mut(key)
    }

    /// Puts `value` in (replacing what `key` had, which keeps its place in the order).
    fn insert(&mut self, key: K, value: V) {
        if self.capacity == 0 || self.map.insert(key, value).is_some() {
            return;
        }
        self.order.push_back(key);
        if self.order.len() > self.capacity
            && let Some(oldest) = self.order.pop_front()
        {
            self.map.remove(&oldest);
        }
    }

    fn len(&self) -> usize {
        self.map.len()
    }
}

/// The hash a message's signature is over: of its bytes as received, without the signature.
fn frame_hash(frame: &[u8]) -> [u8; 32] {
    let body = split_signature(frame).map_or(frame, |(body, _)| body);
    eip191_hash(&[SIGNING_DOMAIN, body])
}

/// The signatures this process made lately, each with the hash it signed (the newest `capacity`). A
/// publisher that subscribes to its own stream gets its events back: one that arrives with a signature
/// remembered here, over exactly the bytes it was made for, needs no verifying — only the holder of
/// the key could have made it, and the bytes are the ones signed. Anything else is verified as usual.
#[derive(Debug)]
pub struct OwnSignatures {
    made: Newest<[u8; 32], Signature>,
}

impl OwnSignatures {
    /// Remembers the newest `capacity` signatures.
    pub fn new(capacity: usize) -> OwnSignatures {
        OwnSignatures {
            made: Newest::new(capacity),
        }
    }

    /// Remembers `signature`, just made by this process over `hash` (as
    /// [`Signer::sign_hashed`](crate::Signer::sign_hashed) returns them).
    pub fn remember(&mut self, hash: [u8; 32], signature: Signature) {
        if self.made.capacity > 0 {
            self.made.insert(hash, signature);
        }
    }

    /// Whether this process made `signature` over `hash`.
    pub fn made(&self, hash: &[u8; 32], signature: &Signature) -> bool {
        self.made.get(hash) == Some(signature)
    }

    /// How many signatures it remembers.
    pub fn len(&self) -> usize {
        self.made.len()
    }

    /// Whether it remembers none.
    pub fn is_empty(&self) -> bool {
        self.made.len() == 0
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
    fn publishers_verified_often_get_a_comb_and_forgeries_still_fail() {
        let mut v = Verifier::new(8);
        let events = signed(1, backend::COMB_AFTER as usize + 3);
        for (i, (m, wire)) in events.iter().enumerate() {
            v.verify_frame(m, wire).unwrap();
            // The first recovers the key; COMB_AFTER verifications with it later, the comb is built.
            assert_eq!(v.combs(), usize::from(i >= backend::COMB_AFTER as usize));
        }
        // Verified by the comb from now on: a genuine event, and forgeries fail as before.
        let (m, wire) = &events[0];
        let comb = v
            .keys
            .get(&m.id().publisher)
            .unwrap()
            .comb
            .as_ref()
            .unwrap();
        assert!(
            parse(&m.signature)
                .unwrap()
                .verify_with(&frame_hash(wire), comb)
        );
        v.verify_frame(m, wire).unwrap();
        let (mut forged, _) = signed(2, 1).remove(0);
        forged.body.id.publisher = m.id().publisher;
        let wire = forged.encode().unwrap();
        assert!(matches!(
            v.verify_frame(&forged, &wire),
            Err(SignatureError::WrongSigner { .. })
        ));
        let mut tampered = m.clone();
        tampered.body.content = b"{\"x\":1}".to_vec();
        let wire = tampered.encode().unwrap();
        assert!(v.verify_frame(&tampered, &wire).is_err());
        // A verifier keeping no keys builds no combs.
        let mut none = Verifier::new(0);
        for (m, wire) in &events {
            none.verify_frame(m, wire).unwrap();
        }
        assert_eq!(none.combs(), 0);
    }

    #[test]
    fn verified_together_as_one_by_one() {
        let mut together = Verifier::default();
        let mut alone = Verifier::default();
        let busy = signed(1, backend::COMB_AFTER as usize + 24);
        // Both learn publisher 1's key and build its comb from the first events, one by one.
        let (warm, rest) = busy.split_at(backend::COMB_AFTER as usize + 1);
        for (m, wire) in warm {
            together.verify_frame(m, wire).unwrap();
            alone.verify_frame(m, wire).unwrap();
        }
        assert_eq!(together.combs(), 1);
        let mut items: Vec<(StreamMessage, Vec<u8>)> = rest.to_vec();
        items.extend(signed(2, 3)); // a new publisher, by recovery
        let claimed = rest[0].0.id().publisher;
        let (mut forged, _) = signed(3, 1).remove(0);
        forged.body.id.publisher = claimed; // another's signature under a comb's publisher
        let mut tampered = rest[1].0.clone();
        tampered.body.content = b"{\"x\":1}".to_vec();
        let mut bad_v = rest[2].0.clone();
        bad_v.signature.0[64] = 29;
        let mut zero_s = rest[3].0.clone();
        zero_s.signature.0[32..64].fill(0);
        for odd in [forged, tampered, bad_v, zero_s] {
            let wire = odd.encode().unwrap();
            items.insert(items.len() / 2, (odd, wire));
        }
        let refs: Vec<(&StreamMessage, &[u8])> = items.iter().map(|(m, w)| (m, &w[..])).collect();
        let batched: Vec<_> = refs
            .chunks(8)
            .flat_map(|chunk| together.verify_frames(chunk))
            .collect();
        let single: Vec<_> = refs.iter().map(|(m, w)| alone.verify_frame(m, w)).collect();
        assert_eq!(batched, single);
        assert_eq!(batched.iter().filter(|v| v.is_err()).count(), 4);
        assert!(batched.contains(&Err(SignatureError::Malformed)));
        assert!(batched.contains(&Err(SignatureError::RecoveryId(29))));
        assert_eq!(together.known(), alone.known());
        assert!(together.verify_frames(&[]).is_empty());
    }

    #[test]
    fn combs_are_bounded_and_the_newest_kept() {
        let mut v = Verifier::default();
        let publishers = backend::COMBS + 2;
        for key in 1..=publishers {
            for (m, wire) in signed(key as u8, backend::COMB_AFTER as usize + 1) {
                v.verify_frame(&m, &wire).unwrap();
            }
        }
        assert_eq!(v.known(), publishers);
        assert_eq!(v.combs(), backend::COMBS);
        // The first two built lost theirs; the last has one.
        let publisher = |key: u8| signed(key, 1).remove(0).0.id().publisher;
        assert!(v.keys.get(&publisher(1)).unwrap().comb.is_none());
        assert!(v.keys.get(&publisher(2)).unwrap().comb.is_none());
        assert!(
            v.keys
                .get(&publisher(publishers as u8))
                .unwrap()
                .comb
                .is_some()
        );
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

    #[test]
    fn the_hash_a_signer_returns_is_the_one_its_event_is_verified_over() {
        let part: StreamPartId = "rivulet.eth/v#0".parse().unwrap();
        let mut p = ChainSigner::new(
            Signer::from_bytes(&[9; 32]).unwrap(),
            ChainId::new("c").unwrap(),
        );
        let (m, hash) = p
            .sign_next_hashed(
                &part,
                1,
                MessageType::Data,
                ContentType::Json,
                b"{}".to_vec(),
                None,
                &mut rand::rng(),
            )
            .unwrap();
        assert_eq!(hash, frame_hash(&m.encode().unwrap()));
    }

    #[test]
    fn own_signatures_come_back_authentic_without_the_curve_and_nothing_else_does() {
        let limits = Limits::default();
        let events = signed(5, 3);
        let mut own = OwnSignatures::new(2);
        for (m, wire) in &events {
            own.remember(frame_hash(wire), m.signature);
        }
        assert_eq!(own.len(), 2, "the oldest is forgotten");
        let mut v = Verifier::new(8);
        // The two remembered come back verified and teach the verifier nothing: no key was needed.
        for (m, wire) in &events[1..] {
            assert_eq!(
                &v.decode_verified_or_own(wire, &limits, |h, s| own.made(h, s))
                    .unwrap(),
                m
            );
        }
        assert_eq!(v.known(), 0);
        // The forgotten one is verified the usual way (its publisher's key is learnt).
        v.decode_verified_or_own(&events[0].1, &limits, |h, s| own.made(h, s))
            .unwrap();
        assert_eq!(v.known(), 1);
        // A remembered signature on other bytes: verified, and refused.
        let (_, mut wire) = events[2].clone();
        let at = wire.windows(2).position(|w| w == b"{}").unwrap();
        wire[at + 1] = b']';
        assert!(matches!(
            Verifier::new(0).decode_verified_or_own(&wire, &limits, |h, s| own.made(h, s)),
            Err(VerifyError::Signature(_))
        ));
        // The remembered bytes with another signature (v flipped): not ours, verified, and refused.
        let (mut m, wire) = events[2].clone();
        m.signature.0[64] ^= 1;
        assert!(!own.made(&frame_hash(&wire), &m.signature));
        assert!(
            Verifier::new(0)
                .verify_frame_or_own(&m, &m.encode().unwrap(), |h, s| own.made(h, s))
                .is_err()
        );
        // Another publisher's events are never taken as own.
        let (other, other_wire) = signed(6, 1).remove(0);
        assert!(!own.made(&frame_hash(&other_wire), &other.signature));
    }
}
