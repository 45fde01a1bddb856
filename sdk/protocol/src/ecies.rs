//! ECIES on secp256k1: how a publisher delivers a group key to one subscriber's public key.
//!
//! The construction is the one of the widely used `eciesjs` / `eciespy` / `ecies` (Rust) libraries with
//! their default settings, so any of them can read what this writes and the other way round (the test
//! command cross-checks with `eciesjs`):
//!
//! 1. an ephemeral key pair `(e, E)`; the shared point `S = e · P` for the recipient's public key `P`;
//! 2. `k = HKDF-SHA256(ikm = E_uncompressed(65) ‖ S_uncompressed(65), salt = none, info = empty)`, 32 bytes;
//! 3. AES-256-GCM under `k` with a random 16-byte nonce and no associated data;
//! 4. output `E_uncompressed(65) ‖ nonce(16) ‖ tag(16) ‖ ciphertext`.
//!
//! Built from RustCrypto's `k256`, `hkdf`, `sha2` and `aes-gcm`.

use aes_gcm::{
    AesGcm, KeyInit,
    aead::{AeadInPlace, consts::U16},
    aes::Aes256,
};
use hkdf::Hkdf;
use k256::elliptic_curve::Generate;
use k256::{
    NonZeroScalar, ProjectivePoint, PublicKey, SecretKey, elliptic_curve::sec1::ToSec1Point,
};
use sha2::Sha256;

use crate::encryption::CryptoError;

type Aes256Gcm16 = AesGcm<Aes256, U16>;

const POINT_LEN: usize = 65;
const NONCE_LEN: usize = 16;
const TAG_LEN: usize = 16;
/// Bytes ECIES adds to a plaintext.
pub const OVERHEAD: usize = POINT_LEN + NONCE_LEN + TAG_LEN;

fn derive_key(ephemeral: &PublicKey, shared: &ProjectivePoint) -> Aes256Gcm16 {
    let mut ikm = [0u8; 2 * POINT_LEN];
    ikm[..POINT_LEN].copy_from_slice(ephemeral.to_sec1_point(false).as_bytes());
    ikm[POINT_LEN..].copy_from_slice(shared.to_affine().to_sec1_point(false).as_bytes());
    let mut key = [0u8; 32];
    // 32 bytes is far below HKDF-SHA256's 8160-byte output limit.
    let _ = Hkdf::<Sha256>::new(None, &ikm).expand(&[], &mut key);
    Aes256Gcm16::new(&key.into())
}

/// Encrypts `plaintext` to `recipient`.
pub fn encrypt<R: rand_core::CryptoRng + ?Sized>(
    recipient: &PublicKey,
    plaintext: &[u8],
    rng: &mut R,
) -> Vec<u8> {
    let ephemeral = NonZeroScalar::generate_from_rng(rng);
    let ephemeral_pk = PublicKey::from_secret_scalar(&ephemeral);
    let shared = recipient.to_projective() * *ephemeral;
    let cipher = derive_key(&ephemeral_pk, &shared);
    let mut nonce = [0u8; NONCE_LEN];
    rng.fill_bytes(&mut nonce);
    let mut buffer = plaintext.to_vec();
    // Fails only for plaintexts beyond 64 GiB.
    let tag = cipher
        .encrypt_in_place_detached(&nonce.into(), &[], &mut buffer)
        .unwrap_or_default();
    let mut out = Vec::with_capacity(OVERHEAD + plaintext.len());
    out.extend_from_slice(ephemeral_pk.to_sec1_point(false).as_bytes());
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&tag);
    out.extend_from_slice(&buffer);
    out
}

/// Decrypts what [`encrypt`] (or eciesjs' `encrypt`) made for the holder of `secret`.
pub fn decrypt(secret: &SecretKey, data: &[u8]) -> Result<Vec<u8>, CryptoError> {
    if data.len() < OVERHEAD {
        return Err(CryptoError::TooShort(data.len()));
    }
    let (point, rest) = data.split_at(POINT_LEN);
    let (nonce, rest) = rest.split_at(NONCE_LEN);
    let (tag, ciphertext) = rest.split_at(TAG_LEN);
    let ephemeral_pk = PublicKey::from_sec1_bytes(point).map_err(|_| CryptoError::InvalidKey)?;
    let shared = ephemeral_pk.to_projective() * *secret.to_nonzero_scalar();
    let cipher = derive_key(&ephemeral_pk, &shared);
    let nonce: [u8; NONCE_LEN] = nonce
        .try_into()
        .map_err(|_| CryptoError::TooShort(data.len()))?;
    let tag: [u8; TAG_LEN] = tag
        .try_into()
        .map_err(|_| CryptoError::TooShort(data.len()))?;
    let mut buffer = ciphertext.to_vec();
    cipher
        .decrypt_in_place_detached(&nonce.into(), &[], &mut buffer, &tag.into())
        .map_err(|_| CryptoError::Authentication)?;
    Ok(buffer)
}

/// Parses a secp256k1 public key (33-byte compressed or 65-byte uncompressed SEC1).
pub fn public_key_from_sec1(bytes: &[u8]) -> Result<PublicKey, CryptoError> {
    PublicKey::from_sec1_bytes(bytes).map_err(|_| CryptoError::InvalidKey)
}
