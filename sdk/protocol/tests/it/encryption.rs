//! Group-key encryption, rotation and ECIES key delivery.

use rivulet_protocol::{CryptoError, GroupKey, GroupKeyId, ecies, encryption};

use crate::support::{sample, signer};

fn rng() -> rand::rngs::StdRng {
    use rand::SeedableRng;
    rand::rngs::StdRng::seed_from_u64(7)
}

#[test]
fn content_encrypts_signs_and_decrypts() {
    let s = signer(1);
    let key = GroupKey::generate(&mut rng());
    let mut body = sample(&s, br#"{"secret":true}"#);
    encryption::encrypt_content(&mut body, &key, &mut rng()).unwrap();
    assert_ne!(body.content, br#"{"secret":true}"#);
    let message = s.sign(body).unwrap();
    message.verify().unwrap();
    assert_eq!(
        encryption::decrypt_content(&message.body, &key).unwrap(),
        br#"{"secret":true}"#
    );
    assert_eq!(
        encryption::encrypt_content(&mut message.body.clone(), &key, &mut rng()),
        Err(CryptoError::AlreadyEncrypted)
    );
}

#[test]
fn header_is_authenticated() {
    // Moving ciphertext to another stream part, time or publisher breaks decryption.
    let s = signer(2);
    let key = GroupKey::generate(&mut rng());
    let mut body = sample(&s, b"{}");
    encryption::encrypt_content(&mut body, &key, &mut rng()).unwrap();
    let mut moved = body.clone();
    moved.id.timestamp += 1;
    assert_eq!(
        encryption::decrypt_content(&moved, &key),
        Err(CryptoError::Authentication)
    );
    let mut moved = body.clone();
    moved.id.stream_id = "rivulet.eth/other".parse().unwrap();
    assert_eq!(
        encryption::decrypt_content(&moved, &key),
        Err(CryptoError::Authentication)
    );
    let mut retyped = body.clone();
    retyped.content_type = rivulet_protocol::ContentType::Binary;
    assert_eq!(
        encryption::decrypt_content(&retyped, &key),
        Err(CryptoError::Authentication)
    );
    let other = GroupKey::new(key.id().clone(), [1; 32]);
    assert_eq!(
        encryption::decrypt_content(&body, &other),
        Err(CryptoError::Authentication)
    );
    let wrong_id = GroupKey::new(GroupKeyId::new("nope").unwrap(), *key.bytes());
    assert!(matches!(
        encryption::decrypt_content(&body, &wrong_id),
        Err(CryptoError::WrongKey { .. })
    ));
    let mut short = body;
    short.content.truncate(10);
    assert_eq!(
        encryption::decrypt_content(&short, &key),
        Err(CryptoError::TooShort(10))
    );
}

#[test]
fn rotation_hands_over_the_next_key() {
    let mut r = rng();
    let current = GroupKey::generate(&mut r);
    let next = GroupKey::generate(&mut r);
    let sealed = encryption::seal_next_key(&current, &next, &mut r);
    assert_eq!(encryption::open_next_key(&current, &sealed).unwrap(), next);
    let mut renamed = sealed.clone();
    renamed.id = GroupKeyId::new("other").unwrap();
    assert_eq!(
        encryption::open_next_key(&current, &renamed),
        Err(CryptoError::Authentication)
    );
    assert_eq!(
        encryption::open_next_key(&next, &sealed),
        Err(CryptoError::Authentication)
    );
}

#[test]
fn ecies_delivers_to_the_recipient_only() {
    let recipient = k256::SecretKey::from_slice(&[3; 32]).unwrap();
    let stranger = k256::SecretKey::from_slice(&[4; 32]).unwrap();
    let key = GroupKey::generate(&mut rng());
    let sealed = ecies::encrypt(&recipient.public_key(), key.bytes(), &mut rng());
    assert_eq!(sealed.len(), 32 + ecies::OVERHEAD);
    assert_eq!(ecies::decrypt(&recipient, &sealed).unwrap(), key.bytes());
    assert_eq!(
        ecies::decrypt(&stranger, &sealed),
        Err(CryptoError::Authentication)
    );
    let mut tampered = sealed.clone();
    *tampered.last_mut().unwrap() ^= 1;
    assert_eq!(
        ecies::decrypt(&recipient, &tampered),
        Err(CryptoError::Authentication)
    );
    let mut bad_point = sealed;
    bad_point[0] = 7;
    assert_eq!(
        ecies::decrypt(&recipient, &bad_point),
        Err(CryptoError::InvalidKey)
    );
    assert_eq!(
        ecies::decrypt(&recipient, &[0; 10]),
        Err(CryptoError::TooShort(10))
    );
}

#[test]
fn secrets_at_rest_open_only_with_the_same_private_key() {
    use rivulet_protocol::encryption::{open_at_rest, seal_at_rest};
    let (mine, other) = ([7u8; 32], [8u8; 32]);
    let sealed = seal_at_rest(&mine, b"group keys", &mut rng());
    assert_eq!(sealed[0], 1, "version");
    assert_eq!(sealed.len(), 1 + 12 + 10 + 16);
    assert_eq!(open_at_rest(&mine, &sealed).unwrap(), b"group keys");
    assert_eq!(
        open_at_rest(&other, &sealed),
        Err(CryptoError::Authentication)
    );
    let mut tampered = sealed.clone();
    tampered[20] ^= 1;
    assert_eq!(
        open_at_rest(&mine, &tampered),
        Err(CryptoError::Authentication)
    );
    assert!(open_at_rest(&mine, &[]).is_err());
    // Pinned: a store written by this version opens in later ones.
    let pinned = hex::decode(PINNED_AT_REST).unwrap();
    assert_eq!(open_at_rest(&mine, &pinned).unwrap(), b"group keys");
}

const PINNED_AT_REST: &str =
    "010101010101010101010101015d019b7b092ce022e7390c04b2bf9f399eec58ad1fea6494f711";
