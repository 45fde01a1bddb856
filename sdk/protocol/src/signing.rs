//! Signing and verification: secp256k1 ECDSA over EIP-191 personal-message hashes, 65-byte `r‖s‖v`
//! signatures, and address recovery — byte-compatible with ethers' and viem's `signMessage` /
//! `verifyMessage`.

use k256::ecdsa::SigningKey;

pub use crate::verify::{SignatureError, VerifyError};
use crate::{
    address::Address,
    codec::{Limits, SIGNING_DOMAIN, split_signature},
    hash::eip191_hash,
    message::{Signature, StreamMessage, UnsignedMessage},
};

/// A publisher's signing key with its address.
#[derive(Clone)]
pub struct Signer {
    key: SigningKey,
    address: Address,
}

impl core::fmt::Debug for Signer {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        // Never print the key.
        f.debug_struct("Signer")
            .field("address", &self.address)
            .finish_non_exhaustive()
    }
}

impl Signer {
    /// A signer from a 32-byte private key.
    pub fn from_bytes(bytes: &[u8; 32]) -> Result<Signer, SignatureError> {
        let key = SigningKey::from_slice(bytes).map_err(|_| SignatureError::InvalidPrivateKey)?;
        Ok(Signer::from_key(key))
    }

    /// A signer from a private key in hex, with or without `0x`.
    pub fn from_hex(hex_key: &str) -> Result<Signer, SignatureError> {
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(hex_key.trim().trim_start_matches("0x"), &mut bytes)
            .map_err(|_| SignatureError::InvalidPrivateKey)?;
        Signer::from_bytes(&bytes)
    }

    /// A new random key from `rng`.
    pub fn random<R: rand_core::CryptoRng + ?Sized>(rng: &mut R) -> Signer {
        loop {
            let mut bytes = [0u8; 32];
            rng.fill_bytes(&mut bytes);
            if let Ok(signer) = Signer::from_bytes(&bytes) {
                return signer;
            }
        }
    }

    fn from_key(key: SigningKey) -> Signer {
        let address = Address::from_public_key(&key.verifying_key().into());
        Signer { key, address }
    }

    /// The signer's address.
    pub fn address(&self) -> Address {
        self.address
    }

    /// The private key bytes (for storing a generated key).
    pub fn to_bytes(&self) -> [u8; 32] {
        self.key.to_bytes().into()
    }

    /// The secret key (to open what was encrypted to this key with ECIES).
    pub fn secret_key(&self) -> k256::SecretKey {
        self.key.as_nonzero_scalar().into()
    }

    /// The public key.
    pub fn public_key(&self) -> k256::PublicKey {
        self.key.verifying_key().into()
    }

    /// Signs a prehashed 32-byte digest; `v` is 27 or 28.
    pub fn sign_hash(&self, hash: &[u8; 32]) -> Signature {
        // RFC 6979 deterministic nonces; k256 returns low-s signatures with the matching recovery id.
        let (sig, recid) = self.key.sign_prehash_recoverable(hash);
        let mut out = [0u8; 65];
        out[..64].copy_from_slice(&sig.to_bytes());
        out[64] = 27 + recid.to_byte();
        Signature(out)
    }

    /// `personal_sign`: signs the EIP-191 hash of `message`, as a wallet would.
    pub fn sign_personal(&self, message: &[u8]) -> Signature {
        self.sign_hash(&eip191_hash(&[message]))
    }

    /// Signs a message body. The body must name this signer as publisher.
    pub fn sign(&self, body: UnsignedMessage) -> Result<StreamMessage, SignatureError> {
        self.sign_hashed(body).map(|(message, _)| message)
    }

    /// [`sign`](Signer::sign), also returning the hash the signature is over (what a verifier computes
    /// from the message's bytes), for a caller that remembers what it signed.
    pub fn sign_hashed(
        &self,
        body: UnsignedMessage,
    ) -> Result<(StreamMessage, [u8; 32]), SignatureError> {
        if body.id.publisher != self.address {
            return Err(SignatureError::WrongSigner {
                claimed: body.id.publisher,
                recovered: self.address,
            });
        }
        let hash = eip191_hash(&[SIGNING_DOMAIN, &body.body_bytes()?]);
        let signature = self.sign_hash(&hash);
        Ok((StreamMessage { body, signature }, hash))
    }
}

/// Recovers the address that signed `hash` (with libsecp256k1 under the `native-secp256k1` feature).
pub fn recover_hash(hash: &[u8; 32], signature: &Signature) -> Result<Address, SignatureError> {
    let parsed = crate::verify::parse(signature)?;
    crate::verify::recover(hash, &parsed).map(|(_, address)| address)
}

/// The public key that signed `message` (the key to answer it with ECIES, as a group-key response does).
/// The signature is read as verification reads it (low s, `v` of 27/28 or 0/1).
pub fn signer_public_key(message: &StreamMessage) -> Result<k256::PublicKey, SignatureError> {
    let parsed = crate::verify::parse(&message.signature)?;
    let hash = eip191_hash(&[SIGNING_DOMAIN, &message.body.body_bytes()?]);
    let key = crate::verify::recover_public_key(&hash, &parsed)?;
    if Address::from_public_key(&key) != message.body.id.publisher {
        return Err(SignatureError::WrongSigner {
            claimed: message.body.id.publisher,
            recovered: Address::from_public_key(&key),
        });
    }
    Ok(key)
}

/// Recovers the address that `personal_sign`ed `message` (ethers' `verifyMessage`).
pub fn recover_personal(message: &[u8], signature: &Signature) -> Result<Address, SignatureError> {
    recover_hash(&eip191_hash(&[message]), signature)
}

fn check_signer(
    claimed: Address,
    body: &[u8],
    signature: &Signature,
) -> Result<(), SignatureError> {
    let recovered = recover_hash(&eip191_hash(&[SIGNING_DOMAIN, body]), signature)?;
    if recovered == claimed {
        Ok(())
    } else {
        Err(SignatureError::WrongSigner { claimed, recovered })
    }
}

impl StreamMessage {
    /// Checks that the publisher named in the message signed it.
    pub fn verify(&self) -> Result<(), SignatureError> {
        check_signer(
            self.body.id.publisher,
            &self.body.body_bytes()?,
            &self.signature,
        )
    }
}

/// Checks the signature of `message`, which was decoded from `frame`, over the bytes as received (no
/// re-encoding). `frame` must be the exact bytes `message` was decoded from.
pub fn verify_frame(message: &StreamMessage, frame: &[u8]) -> Result<(), SignatureError> {
    let body = split_signature(frame).map_or(frame, |(body, _)| body);
    check_signer(message.body.id.publisher, body, &message.signature)
}

/// Decodes wire bytes and verifies the signature over the bytes as received, without re-encoding.
pub fn decode_verified(wire: &[u8], limits: &Limits) -> Result<StreamMessage, VerifyError> {
    let message = StreamMessage::decode(wire, limits)?;
    verify_frame(&message, wire)?;
    Ok(message)
}
