//! Validation throughput on one core: fresh messages (signature-bound), duplicates and unauthorized
//! publishers (both rejected before any signature work), and the cheap path of events verified elsewhere.
//! `cargo bench -p rivulet-validate --bench validate`; figures go into BENCHMARKS.md.
#![allow(clippy::expect_used)] // fixed, valid inputs

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use rivulet_protocol::{
    Address, ChainId, ContentType, Encryption, MessageId, MessageType, Partition, SignatureType,
    Signer, UnsignedMessage,
};
use rivulet_validate::{Precheck, PublishPermission, Validator, ValidatorConfig, Verdict};

/// A public stream only one publisher may publish to (public: its events may be plaintext).
struct Only(Address);

impl PublishPermission for Only {
    fn may_publish(&self, _stream_id: &str, publisher: Address, _at_secs: u64) -> bool {
        publisher == self.0
    }

    fn may_subscribe(&self, _stream_id: &str, _user: Address, _at_secs: u64) -> bool {
        true
    }
}

fn frames(s: &Signer, n: u32) -> Vec<Vec<u8>> {
    (0..n)
        .map(|seq| {
            let body = UnsignedMessage {
                id: MessageId {
                    stream_id: "rivulet.eth/bench".parse().expect("id"),
                    partition: Partition::new(0).expect("p"),
                    timestamp: 1_764_000_000_000,
                    sequence_number: seq,
                    publisher: s.address(),
                    chain_id: ChainId::new("bench").expect("chain"),
                },
                prev: None,
                message_type: MessageType::Data,
                content_type: ContentType::Json,
                encryption: Encryption::None,
                new_group_key: None,
                content: vec![b'1'; 200],
                signature_type: SignatureType::Eip191Secp256k1,
            };
            s.sign(body).expect("sign").encode().expect("encode")
        })
        .collect()
}

fn validate(c: &mut Criterion) {
    let alice = Signer::from_bytes(&[1; 32]).expect("key");
    let mallory = Signer::from_bytes(&[2; 32]).expect("key");
    let perms = Only(alice.address());
    let now = 1_764_000_000_000;
    let fresh = frames(&alice, 20_000);
    let mut group = c.benchmark_group("validate_200B");
    group.throughput(Throughput::Elements(1));
    group.bench_function("fresh", |b| {
        let mut v = Validator::new(ValidatorConfig::default());
        let mut i = 0;
        b.iter(|| {
            let verdict = v.validate(&fresh[i % fresh.len()], now, &perms);
            i += 1;
            verdict
        })
    });
    group.bench_function("duplicate", |b| {
        let mut v = Validator::new(ValidatorConfig::default());
        assert!(matches!(
            v.validate(&fresh[0], now, &perms),
            Verdict::Accept(_)
        ));
        b.iter(|| v.validate(&fresh[0], now, &perms))
    });
    // The cheap checks and the conclusion of fresh events whose signatures were checked elsewhere (the
    // relay's verifying threads), through a full duplicate filter: each event accepted forgets the
    // oldest remembered.
    group.bench_function("fresh_verified_elsewhere_full_filter", |b| {
        let mut v = Validator::new(ValidatorConfig {
            dedupe_capacity: fresh.len() / 2,
            ..ValidatorConfig::default()
        });
        let mut i = 0;
        b.iter(|| {
            let frame = &fresh[i % fresh.len()];
            i += 1;
            match v.precheck(frame, now, &perms) {
                Precheck::Verify(candidate) => v.finish(candidate, frame, Ok(())),
                _ => unreachable!("a fresh frame after half a filter's worth of others"),
            }
        })
    });
    let unauthorized = frames(&mallory, 1);
    group.bench_function("unauthorized", |b| {
        let mut v = Validator::new(ValidatorConfig::default());
        b.iter(|| v.validate(&unauthorized[0], now, &perms))
    });
    group.finish();
}

criterion_group!(benches, validate);
criterion_main!(benches);
