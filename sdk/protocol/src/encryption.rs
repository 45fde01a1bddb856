//! End-to-end encryption primitives: AES-256-GCM content encryption under a publisher's group key, with
//! the message header as associated data, and group-key rotation (the next key sealed under the current).
//! Key delivery to subscribers is [`crate::ecies`].

use aes_gcm::{
    Aes256Gcm, KeyInit,
    aead::{Aead, Payload},
};

use crate::message::{EncryptedGroupKey, Encryption, GroupKeyId, UnsignedMessage};

/// AES-GCM nonce length for content and rotated keys.
pub const NONCE_LEN: usize = 12;
/// AES-GCM tag length.
pub const TAG_LEN: usize = 16;
const CONTENT_AAD_TAG: &[u8] = b"Rivulet content v1";
const NEXT_KEY_AAD_TAG: &[u8] = b"Rivulet next group key v1";
const AT_REST_INFO: &[u8] = b"Rivulet secrets at rest v1";
const AT_REST_VERSION: u8 = 1;

/// Why encryption or decryption failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    /// The message is not encrypted, or with another key than the one given.
    #[error("message is encrypted with key {found:?}, not {expected}")]
    WrongKey {
        /// The key given.
        expected: GroupKeyId,
        /// The key the message names, if encrypted.
        found: Option<GroupKeyId>,
    },
    /// Already encrypted.
    #[error("message content is already encrypted")]
    AlreadyEncrypted,
    /// The ciphertext is shorter than nonce and tag.
    #[error("ciphertext of {0} bytes is too short")]
    TooShort(usize),
    /// Authentication failed: wrong key, tampered ciphertext or header.
    #[error("decryption failed: wrong key or tampered data")]
    Authentication,
    /// A decrypted key is not 32 bytes.
    #[error("decrypted group key has {0} bytes, not 32")]
    KeyLength(usize),
    /// A public or private key is not a valid secp256k1 key.
    #[error("invalid secp256k1 key")]
    InvalidKey,
}

/// A symmetric group key: 32 random bytes and an id that messages name.
#[derive(Clone, PartialEq, Eq)]
pub struct GroupKey {
    id: GroupKeyId,
    bytes: [u8; 32],
}

impl core::fmt::Debug for GroupKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("GroupKey")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl GroupKey {
    /// A key from its parts.
    pub fn new(id: GroupKeyId, bytes: [u8; 32]) -> GroupKey {
        GroupKey { id, bytes }
    }

    /// A fresh key with a random 128-bit hex id.
    pub fn generate<R: rand_core::CryptoRng + ?Sized>(rng: &mut R) -> GroupKey {
        let mut id = [0u8; 16];
        let mut bytes = [0u8; 32];
        rng.fill_bytes(&mut id);
        rng.fill_bytes(&mut bytes);
        let id = GroupKeyId::new(hex::encode(id)).unwrap_or_else(|_| unreachable_id());
        GroupKey { id, bytes }
    }

    /// The key id.
    pub fn id(&self) -> &GroupKeyId {
        &self.id
    }

    /// The key bytes.
    pub fn bytes(&self) -> &[u8; 32] {
        &self.bytes
    }

    fn cipher(&self) -> Aes256Gcm {
        Aes256Gcm::new(&self.bytes.into())
    }
}

#[cold]
fn unreachable_id() -> GroupKeyId {
    // 32 hex digits always form a valid id.
    unreachable!("hex id rejected")
}

/// The associated data that binds content ciphertext to its message: stream id, partition, timestamp,
/// sequence number, publisher, chain id, message type, content type and group key id.
fn content_aad(body: &UnsignedMessage, key_id: &GroupKeyId) -> Vec<u8> {
    let id = &body.id;
    let mut aad = Vec::with_capacity(CONTENT_AAD_TAG.len() + 128);
    aad.extend_from_slice(CONTENT_AAD_TAG);
    for s in [id.stream_id.as_str(), id.chain_id.as_str(), key_id.as_str()] {
        // Each is at most 255 bytes.
        aad.push(s.len() as u8);
        aad.extend_from_slice(s.as_bytes());
    }
    aad.push(id.partition.get());
    aad.extend_from_slice(&id.timestamp.to_be_bytes());
    aad.extend_from_slice(&id.sequence_number.to_be_bytes());
    aad.extend_from_slice(id.publisher.as_bytes());
    aad.push(body.message_type.to_byte());
    aad.push(body.content_type.to_byte());
    aad
}

fn seal<R: rand_core::CryptoRng + ?Sized>(
    key: &GroupKey,
    plaintext: &[u8],
    aad: &[u8],
    rng: &mut R,
) -> Vec<u8> {
    let mut nonce = [0u8; NONCE_LEN];
    rng.fill_bytes(&mut nonce);
    let sealed = key
        .cipher()
        .encrypt(
            &nonce.into(),
            Payload {
                msg: plaintext,
                aad,
            },
        )
        // AES-GCM encryption fails only beyond 64 GiB of plaintext; content is at most 16 MiB.
        .unwrap_or_default();
    let mut out = Vec::with_capacity(NONCE_LEN + sealed.len());
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&sealed);
    out
}

fn open(key: &GroupKey, data: &[u8], aad: &[u8]) -> Result<Vec<u8>, CryptoError> {
    if data.len() < NONCE_LEN + TAG_LEN {
        return Err(CryptoError::TooShort(data.len()));
    }
    let (nonce, sealed) = data.split_at(NONCE_LEN);
    let nonce: [u8; NONCE_LEN] = nonce
        .try_into()
        .map_err(|_| CryptoError::TooShort(data.len()))?;
    key.cipher()
        .decrypt(&nonce.into(), Payload { msg: sealed, aad })
        .map_err(|_| CryptoError::Authentication)
}

/// Encrypts `body`'s content in place under `key` and marks the message encrypted with its id.
/// Call before signing.
pub fn encrypt_content<R: rand_core::CryptoRng + ?Sized>(
    body: &mut UnsignedMessage,
    key: &GroupKey,
    rng: &mut R,
) -> Result<(), CryptoError> {
    if body.encryption != Encryption::None {
        return Err(CryptoError::AlreadyEncrypted);
    }
    let aad = content_aad(body, key.id());
    body.content = seal(key, &body.content, &aad, rng);
    body.encryption = Encryption::Aes256Gcm(key.id().clone());
    Ok(())
}

/// Decrypts `body`'s content with `key`, which must be the key the message names.
pub fn decrypt_content(body: &UnsignedMessage, key: &GroupKey) -> Result<Vec<u8>, CryptoError> {
    match body.encryption.group_key_id() {
        Some(id) if id == key.id() => open(key, &body.content, &content_aad(body, id)),
        found => Err(CryptoError::WrongKey {
            expected: key.id().clone(),
            found: found.cloned(),
        }),
    }
}

fn next_key_aad(current: &GroupKeyId, next: &GroupKeyId) -> Vec<u8> {
    let mut aad = NEXT_KEY_AAD_TAG.to_vec();
    for s in [current.as_str(), next.as_str()] {
        aad.push(s.len() as u8);
        aad.extend_from_slice(s.as_bytes());
    }
    aad
}

/// Seals `next` under `current`, for announcing a rotation in a message encrypted with `current`.
pub fn seal_next_key<R: rand_core::CryptoRng + ?Sized>(
    current: &GroupKey,
    next: &GroupKey,
    rng: &mut R,
) -> EncryptedGroupKey {
    let aad = next_key_aad(current.id(), next.id());
    EncryptedGroupKey {
        id: next.id().clone(),
        data: seal(current, next.bytes(), &aad, rng),
    }
}

/// Opens a rotated-in key announced under `current`.
pub fn open_next_key(
    current: &GroupKey,
    sealed: &EncryptedGroupKey,
) -> Result<GroupKey, CryptoError> {
    let bytes = open(
        current,
        &sealed.data,
        &next_key_aad(current.id(), &sealed.id),
    )?;
    let bytes: [u8; 32] = bytes
        .as_slice()
        .try_into()
        .map_err(|_| CryptoError::KeyLength(bytes.len()))?;
    Ok(GroupKey::new(sealed.id.clone(), bytes))
}

/// The key a client's secrets are sealed at rest with: HKDF-SHA256 of its private key (no salt, info
/// `"Rivulet secrets at rest v1"`), so only the holder of the private key can open them.
fn at_rest_key(private_key: &[u8; 32]) -> GroupKey {
    let mut bytes = [0u8; 32];
    // 32 bytes is far below HKDF-SHA256's output limit.
    let _ = hkdf::Hkdf::<sha2::Sha256>::new(None, private_key).expand(AT_REST_INFO, &mut bytes);
    GroupKey {
        id: GroupKeyId::new("at-rest").unwrap_or_else(|_| unreachable_id()),
        bytes,
    }
}

/// Seals `plaintext` (a client's own secrets: its group keys) for storage at rest under a key derived
/// from `private_key`: `0x01 ‖ nonce (12) ‖ AES-256-GCM ciphertext and tag`, associated data the tag
/// `"Rivulet secrets at rest v1"`.
pub fn seal_at_rest<R: rand_core::CryptoRng + ?Sized>(
    private_key: &[u8; 32],
    plaintext: &[u8],
    rng: &mut R,
) -> Vec<u8> {
    let mut out = vec![AT_REST_VERSION];
    out.extend(seal(
        &at_rest_key(private_key),
        plaintext,
        AT_REST_INFO,
        rng,
    ));
    out
}

/// Opens what [`seal_at_rest`] sealed with the same private key.
pub fn open_at_rest(private_key: &[u8; 32], sealed: &[u8]) -> Result<Vec<u8>, CryptoError> {
    match sealed.split_first() {
        Some((&AT_REST_VERSION, rest)) => open(&at_rest_key(private_key), rest, AT_REST_INFO),
        Some(_) => Err(CryptoError::Authentication),
        None => Err(CryptoError::TooShort(0)),
    }
}
