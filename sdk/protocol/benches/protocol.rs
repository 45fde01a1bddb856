//! Hot-path benchmarks of the protocol core: encode, decode, sign, verify, encrypt, decrypt for 200 B and
//! 1 KiB messages, and k256 against libsecp256k1 for the step that bounds a verifying relay.
//!
//! `cargo bench -p rivulet-protocol --bench protocol` (k256, the browsers' backend) and
//! `cargo bench -p rivulet-protocol --bench protocol --features native-secp256k1` (native nodes and
//! clients); figures go into BENCHMARKS.md.
#![allow(clippy::expect_used)] // fixed, valid inputs

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use rand::SeedableRng;
use rivulet_protocol::{
    ChainId, ContentType, Encryption, GroupKey, Limits, MessageId, MessageRef, MessageType,
    Partition, SignatureType, Signer, StreamId, StreamMessage, UnsignedMessage, Verifier,
    decode_verified, encryption, hash::eip191_hash, signing::recover_hash,
};

fn body(signer: &Signer, size: usize) -> UnsignedMessage {
    let mut content = br#"{"v":""#.to_vec();
    content.resize(size - 2, b'x');
    content.extend_from_slice(br#""}"#);
    UnsignedMessage {
        id: MessageId {
            stream_id: StreamId::from_parts(signer.address(), "bench/stream").expect("valid id"),
            partition: Partition::new(0).expect("valid partition"),
            timestamp: 1_764_000_000_000,
            sequence_number: 0,
            publisher: signer.address(),
            chain_id: ChainId::new("bench").expect("valid chain id"),
        },
        prev: Some(MessageRef::new(1_763_999_999_999, 0)),
        message_type: MessageType::Data,
        content_type: ContentType::Json,
        encryption: Encryption::None,
        new_group_key: None,
        content,
        signature_type: SignatureType::Eip191Secp256k1,
    }
}

fn codec_and_signatures(c: &mut Criterion) {
    let signer = Signer::from_bytes(&[7; 32]).expect("valid key");
    let limits = Limits::default();
    for size in [200usize, 1024] {
        let unsigned = body(&signer, size);
        let message = signer.sign(unsigned.clone()).expect("signs");
        let wire = message.encode().expect("encodes");
        let mut group = c.benchmark_group(format!("message_{size}B"));
        group.throughput(Throughput::Elements(1));
        group.bench_function("encode", |b| b.iter(|| black_box(&message).encode()));
        group.bench_function("decode", |b| {
            b.iter(|| StreamMessage::decode(black_box(&wire), &limits))
        });
        group.bench_function("sign", |b| {
            b.iter(|| signer.sign(black_box(&unsigned).clone()))
        });
        group.bench_function("decode_verify", |b| {
            b.iter(|| decode_verified(black_box(&wire), &limits))
        });
        // What a relay does per new event of a publisher it has seen before.
        let mut verifier = Verifier::default();
        group.bench_function("decode_verify_known_publisher", |b| {
            b.iter(|| {
                let m = StreamMessage::decode(black_box(&wire), &limits).expect("decodes");
                verifier.verify_frame(&m, &wire).expect("verifies");
                m
            })
        });
        let key = GroupKey::new("bench-key".parse().expect("valid id"), [3; 32]);
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let mut encrypted = unsigned.clone();
        encryption::encrypt_content(&mut encrypted, &key, &mut rng).expect("encrypts");
        group.bench_function("encrypt", |b| {
            b.iter(|| {
                let mut m = black_box(&unsigned).clone();
                encryption::encrypt_content(&mut m, &key, &mut rng).expect("encrypts");
                m
            })
        });
        group.bench_function("decrypt", |b| {
            b.iter(|| encryption::decrypt_content(black_box(&encrypted), &key))
        });
        group.finish();
    }
}

fn recover_backends(c: &mut Criterion) {
    let signer = Signer::from_bytes(&[9; 32]).expect("valid key");
    let hash = eip191_hash(&[b"the cost of our choice"]);
    let signature = signer.sign_hash(&hash);
    let mut group = c.benchmark_group("secp256k1_recover");
    group.throughput(Throughput::Elements(1));
    group.bench_function(BenchmarkId::new("k256", "recover+address"), |b| {
        b.iter(|| recover_hash(black_box(&hash), &signature))
    });
    let k256_vk = k256::ecdsa::VerifyingKey::from(
        &k256::ecdsa::SigningKey::from_slice(&[9; 32]).expect("key"),
    );
    let k256_sig = k256::ecdsa::Signature::from_slice(&signature.0[..64]).expect("sig");
    group.bench_function(BenchmarkId::new("k256", "verify_cached_key"), |b| {
        use k256::ecdsa::signature::hazmat::PrehashVerifier;
        b.iter(|| k256_vk.verify_prehash(black_box(&hash), &k256_sig))
    });
    let recid =
        secp256k1::ecdsa::RecoveryId::try_from(i32::from(signature.0[64] - 27)).expect("recid");
    let rsig = secp256k1::ecdsa::RecoverableSignature::from_compact(&signature.0[..64], recid)
        .expect("sig");
    let msg = secp256k1::Message::from_digest(hash);
    group.bench_function(BenchmarkId::new("libsecp256k1", "recover"), |b| {
        b.iter(|| rsig.recover_ecdsa(black_box(msg)))
    });
    let pk = rsig.recover_ecdsa(msg).expect("recovers");
    let sig = rsig.to_standard();
    group.bench_function(BenchmarkId::new("libsecp256k1", "verify_cached_key"), |b| {
        b.iter(|| secp256k1::ecdsa::verify(&sig, black_box(msg), &pk))
    });
    let k256_sk = k256::ecdsa::SigningKey::from_slice(&[9; 32]).expect("key");
    group.bench_function(BenchmarkId::new("k256", "sign_recoverable"), |b| {
        b.iter(|| k256_sk.sign_prehash_recoverable(black_box(&hash)))
    });
    let sk = secp256k1::SecretKey::from_secret_bytes([9; 32]).expect("key");
    group.bench_function(BenchmarkId::new("libsecp256k1", "sign_recoverable"), |b| {
        b.iter(|| {
            secp256k1::ecdsa::RecoverableSignature::sign_ecdsa_recoverable(black_box(msg), &sk)
        })
    });
    group.finish();
}

criterion_group!(benches, codec_and_signatures, recover_backends);
criterion_main!(benches);
