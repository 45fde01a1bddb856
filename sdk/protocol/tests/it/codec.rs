//! Codec and signature properties: round trips, every signed field covered, bad input rejected.

use proptest::prelude::*;
use rivulet_protocol::{
    ChainId, ContentType, DecodeError, EncryptedGroupKey, Encryption, GroupKeyId, Limits,
    MessageRef, MessageType, Partition, SignatureError, StreamMessage, VerifyError,
    decode_verified,
    signing::{recover_hash, recover_personal},
};

use crate::support::{sample, signer};

#[test]
fn signed_message_round_trips_and_verifies() {
    let s = signer(1);
    let message = s.sign(sample(&s, br#"{"t":21.5}"#)).unwrap();
    let wire = message.encode().unwrap();
    let decoded = decode_verified(&wire, &Limits::default()).unwrap();
    assert_eq!(decoded, message);
    decoded.verify().unwrap();
}

#[test]
fn every_header_byte_is_covered_by_the_signature() {
    // Flip each byte of the body in turn: the result either fails to decode or fails to verify. This
    // covers content type, encryption type, group key id and signature type along with everything else.
    let s = signer(2);
    let mut body = sample(&s, b"{}");
    body.encryption = Encryption::Aes256Gcm(GroupKeyId::new("k1").unwrap());
    body.new_group_key = Some(EncryptedGroupKey {
        id: GroupKeyId::new("k2").unwrap(),
        data: vec![9; 60],
    });
    let wire = s.sign(body).unwrap().encode().unwrap();
    for i in 0..wire.len() - 65 {
        for bit in [0x01u8, 0x80] {
            let mut w = wire.clone();
            w[i] ^= bit;
            match decode_verified(&w, &Limits::default()) {
                Err(VerifyError::Decode(_)) => {}
                Err(VerifyError::Signature(SignatureError::WrongSigner { .. })) => {}
                Err(VerifyError::Signature(_)) => {}
                Ok(m) => panic!("byte {i} bit {bit:#x} changed but {m:?} still verifies"),
            }
        }
    }
}

#[test]
fn content_type_and_encryption_change_the_payload() {
    let s = signer(3);
    let base = sample(&s, b"{}");
    let mut binary = base.clone();
    binary.content_type = ContentType::Binary;
    let mut encrypted = base.clone();
    encrypted.encryption = Encryption::Aes256Gcm(GroupKeyId::new("k").unwrap());
    let mut other_key = encrypted.clone();
    other_key.encryption = Encryption::Aes256Gcm(GroupKeyId::new("j").unwrap());
    let payloads = [&base, &binary, &encrypted, &other_key].map(|b| b.signed_payload().unwrap());
    for i in 0..payloads.len() {
        for j in i + 1..payloads.len() {
            assert_ne!(payloads[i], payloads[j]);
        }
    }
}

#[test]
fn impostor_and_tampered_signatures_are_rejected_with_reasons() {
    let alice = signer(4);
    let mallory = signer(5);
    // Mallory cannot sign a message that names Alice.
    assert!(matches!(
        mallory.sign(sample(&alice, b"{}")),
        Err(SignatureError::WrongSigner { .. })
    ));
    // Nor can she put her signature on it.
    let mut m = mallory.sign(sample(&mallory, b"{}")).unwrap();
    m.body.id.publisher = alice.address();
    assert!(matches!(
        m.verify(),
        Err(SignatureError::WrongSigner { claimed, recovered }) if claimed == alice.address() && recovered != alice.address()
    ));
    let good = alice.sign(sample(&alice, b"{}")).unwrap();
    let mut bad_v = good.clone();
    bad_v.signature.0[64] = 29;
    assert_eq!(bad_v.verify(), Err(SignatureError::RecoveryId(29)));
    let mut zero = good.clone();
    zero.signature.0[..64].fill(0);
    assert_eq!(zero.verify(), Err(SignatureError::Malformed));
    // The high-s twin of a valid signature (s' = n - s, v flipped) is refused (EIP-2).
    let n =
        hex::decode("fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141").unwrap();
    let mut high = good.clone();
    let mut borrow = 0i16;
    for i in (0..32).rev() {
        let d = i16::from(n[i]) - i16::from(good.signature.0[32 + i]) - borrow;
        borrow = i16::from(d < 0);
        high.signature.0[32 + i] = d.rem_euclid(256) as u8;
    }
    high.signature.0[64] = 55 - high.signature.0[64];
    assert_eq!(high.verify(), Err(SignatureError::HighS));
}

#[test]
fn personal_sign_round_trips() {
    let s = signer(6);
    let sig = s.sign_personal(b"login challenge 123");
    assert_eq!(
        recover_personal(b"login challenge 123", &sig),
        Ok(s.address())
    );
    assert_ne!(
        recover_personal(b"login challenge 124", &sig),
        Ok(s.address())
    );
    // v of 0/1 (as some signers produce) is accepted too.
    let mut low_v = sig;
    low_v.0[64] -= 27;
    let hash = rivulet_protocol::hash::eip191_hash(&[b"login challenge 123"]);
    assert_eq!(recover_hash(&hash, &low_v), Ok(s.address()));
}

#[test]
fn content_limit_is_configurable() {
    let s = signer(7);
    let wire = s
        .sign(sample(&s, &vec![b'1'; 2000]))
        .unwrap()
        .encode()
        .unwrap();
    assert!(StreamMessage::decode(&wire, &Limits::default()).is_ok());
    assert_eq!(
        StreamMessage::decode(
            &wire,
            &Limits {
                max_content_len: 1000
            }
        ),
        Err(DecodeError::Oversize {
            field: "content",
            len: 2000,
            max: 1000
        })
    );
}

#[test]
fn every_truncation_is_a_typed_error() {
    let s = signer(8);
    let wire = s.sign(sample(&s, b"[1,2,3]")).unwrap().encode().unwrap();
    for len in 0..wire.len() {
        let err = StreamMessage::decode(&wire[..len], &Limits::default()).unwrap_err();
        assert!(
            matches!(err, DecodeError::Truncated { .. }),
            "prefix {len}: {err}"
        );
    }
}

fn arb_body() -> impl Strategy<Value = rivulet_protocol::UnsignedMessage> {
    (
        "[a-z0-9]{1,20}(/[A-Za-z0-9_-][A-Za-z0-9._-]{0,11}){1,4}",
        0u32..100,
        any::<u64>(),
        any::<u32>(),
        "[A-Za-z0-9_-]{1,64}",
        proptest::option::of((any::<u64>(), any::<u32>())),
        0u8..3,
        proptest::option::of("[A-Za-z0-9_-]{1,128}"),
        proptest::option::of((
            "[A-Za-z0-9_-]{1,20}",
            proptest::collection::vec(any::<u8>(), 0..200),
        )),
        proptest::collection::vec(any::<u8>(), 0..600),
    )
        .prop_map(
            |(path, partition, ts, seq, chain, prev, mt, key, new_key, content)| {
                let s = signer(9);
                let mut body = sample(&s, &[]);
                body.id.stream_id = format!("rivulet.eth/{path}").parse().unwrap();
                body.id.partition = Partition::new(partition).unwrap();
                body.id.timestamp = ts;
                body.id.sequence_number = seq;
                body.id.chain_id = ChainId::new(chain).unwrap();
                body.prev = prev.map(|(t, s)| MessageRef::new(t, s));
                body.message_type = MessageType::from_byte(mt).unwrap();
                body.content_type = ContentType::Binary;
                body.encryption = key.map_or(Encryption::None, |k| {
                    Encryption::Aes256Gcm(GroupKeyId::new(k).unwrap())
                });
                body.new_group_key = new_key.map(|(id, data)| EncryptedGroupKey {
                    id: GroupKeyId::new(id).unwrap(),
                    data,
                });
                body.content = content;
                body
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn wire_round_trips(body in arb_body(), sig in proptest::collection::vec(any::<u8>(), 65)) {
        let mut sig: [u8; 65] = sig.try_into().unwrap();
        sig[64] = 27 + (sig[64] & 1);
        let message = StreamMessage { body, signature: rivulet_protocol::Signature(sig) };
        let wire = message.encode().unwrap();
        prop_assert_eq!(wire.len(), message.body.encoded_body_len() + 65);
        prop_assert_eq!(StreamMessage::decode(&wire, &Limits::default()).unwrap(), message);
    }

    #[test]
    fn decoder_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        let _ = StreamMessage::decode(&bytes, &Limits::default());
    }

    #[test]
    fn signatures_verify(body in arb_body()) {
        let s = signer(9);
        let wire = s.sign(body).unwrap().encode().unwrap();
        prop_assert!(decode_verified(&wire, &Limits::default()).is_ok());
    }
}
