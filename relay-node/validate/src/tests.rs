//! The validator's checks, each refusal and the duplicate filter.

#![allow(clippy::unwrap_used)]

use std::collections::HashMap;

use rivulet_protocol::{
    ChainId, ContentType, Encryption, MessageId, MessageType, Partition, SignatureType, Signer,
    StreamId, UnsignedMessage,
};

use super::*;

const NOW: u64 = 1_764_000_000_000;

fn signer(n: u8) -> Signer {
    Signer::from_bytes(&[n; 32]).unwrap()
}

fn stream() -> StreamId {
    "rivulet.eth/sensors".parse().unwrap()
}

/// Who may publish and subscribe until when (Unix seconds); the zero address stands for anyone.
#[derive(Default)]
struct Perms {
    publish: HashMap<Address, u64>,
    subscribe: HashMap<Address, u64>,
    partitions: Option<u32>,
}

impl PublishPermission for Perms {
    fn may_publish(&self, _: &str, publisher: Address, at: u64) -> bool {
        self.publish
            .get(&publisher)
            .is_some_and(|until| at < *until)
    }
    fn may_subscribe(&self, _: &str, user: Address, at: u64) -> bool {
        [user, Address::ZERO]
            .iter()
            .any(|a| self.subscribe.get(a).is_some_and(|until| at < *until))
    }
    fn partitions(&self, _: &str) -> Option<u32> {
        self.partitions
    }
}

/// A public stream on which `publisher` may publish until `until`.
fn perms(publisher: &Signer, until: u64) -> Perms {
    let mut perms = Perms::default();
    perms.publish.insert(publisher.address(), until);
    perms.subscribe.insert(Address::ZERO, u64::MAX);
    perms
}

fn frame(s: &Signer, ts: u64, seq: u32) -> Vec<u8> {
    built(s, ts, seq, MessageType::Data, 0, Encryption::None)
}

fn built(
    s: &Signer,
    ts: u64,
    seq: u32,
    message_type: MessageType,
    partition: u32,
    encryption: Encryption,
) -> Vec<u8> {
    let body = UnsignedMessage {
        id: MessageId {
            stream_id: stream(),
            partition: Partition::new(partition).unwrap(),
            timestamp: ts,
            sequence_number: seq,
            publisher: s.address(),
            chain_id: ChainId::new("c").unwrap(),
        },
        prev: None,
        message_type,
        content_type: ContentType::Json,
        encryption,
        new_group_key: None,
        content: br#"{"v":1}"#.to_vec(),
        signature_type: SignatureType::Eip191Secp256k1,
    };
    s.sign(body).unwrap().encode().unwrap()
}

impl Verdict {
    fn reason(&self) -> Option<&'static str> {
        match self {
            Verdict::Reject(r) => Some(r.reason()),
            _ => None,
        }
    }
}

/// Key requests need subscribe permission, key responses and data publish permission.
#[test]
fn key_requests_need_subscribe_permission() {
    let (alice, reader) = (signer(1), signer(3));
    let mut perms = perms(&alice, u64::MAX);
    perms.subscribe.clear();
    let mut v = Validator::new(ValidatorConfig::default());
    let request = built(
        &reader,
        NOW,
        0,
        MessageType::GroupKeyRequest,
        0,
        Encryption::None,
    );
    match v.validate(&request, NOW, &perms) {
        Verdict::Reject(r) => {
            assert!(r.to_string().contains("may not send key requests"), "{r}")
        }
        other => panic!("{other:?}"),
    }
    perms.subscribe.insert(reader.address(), u64::MAX);
    assert!(matches!(
        v.validate(&request, NOW, &perms),
        Verdict::Accept(_)
    ));
    // A subscriber still may not publish data or answer for keys.
    for kind in [MessageType::Data, MessageType::GroupKeyResponse] {
        let f = built(&reader, NOW, 1, kind, 0, Encryption::None);
        assert_eq!(
            v.validate(&f, NOW, &perms).reason(),
            Some("no_permission"),
            "{kind:?}"
        );
    }
    let response = built(
        &alice,
        NOW,
        5,
        MessageType::GroupKeyResponse,
        0,
        Encryption::None,
    );
    assert!(matches!(
        v.validate(&response, NOW, &perms),
        Verdict::Accept(_)
    ));
}

#[test]
fn accepts_once_then_drops_duplicates_before_verifying() {
    let alice = signer(1);
    let perms = perms(&alice, u64::MAX);
    let mut v = Validator::new(ValidatorConfig::default());
    let f = frame(&alice, NOW, 0);
    assert!(matches!(v.validate(&f, NOW, &perms), Verdict::Accept(_)));
    assert_eq!(v.validate(&f, NOW, &perms), Verdict::Duplicate);
    assert!(matches!(
        v.validate(&frame(&alice, NOW, 1), NOW, &perms),
        Verdict::Accept(_)
    ));
    let c = v.counters();
    assert_eq!((c.accepted, c.duplicates), (2, 1));
}

/// Judged when it arrives, by the chain's clock: never at the timestamp the publisher chose.
#[test]
fn events_are_judged_at_arrival_within_a_window_of_the_chains_clock() {
    let (alice, mallory) = (signer(1), signer(2));
    // Alice may publish for 10 more seconds.
    let perms = perms(&alice, NOW / 1000 + 10);
    let mut v = Validator::new(ValidatorConfig::default());
    assert!(matches!(
        v.validate(&frame(&alice, NOW, 0), NOW, &perms),
        Verdict::Accept(_)
    ));
    // After her permission ended, an event stamped before its end is refused.
    let backdated = frame(&alice, NOW + 5_000, 1);
    assert_eq!(
        v.validate(&backdated, NOW + 10_000, &perms).reason(),
        Some("no_permission")
    );
    // A chain that moved ahead (a development chain's evm_increaseTime): the timestamp is near this
    // node's clock, the permission is judged by the chain's.
    let ahead = Now {
        clock_ms: NOW,
        chain_secs: NOW / 1000 + 10,
    };
    assert_eq!(
        v.validate(&frame(&alice, NOW, 5), ahead, &perms).reason(),
        Some("no_permission")
    );
    // Far from "now" either way: refused whoever signs.
    let far = ValidatorConfig::default();
    let old = frame(&alice, NOW - far.max_past_skew_ms - 1, 2);
    assert_eq!(
        v.validate(&old, NOW, &perms).reason(),
        Some("stale_timestamp")
    );
    let future = frame(&alice, NOW + far.max_future_skew_ms + 1, 3);
    assert_eq!(
        v.validate(&future, NOW, &perms).reason(),
        Some("future_timestamp")
    );
    assert!(matches!(
        v.validate(&frame(&alice, NOW - far.max_past_skew_ms, 4), NOW, &perms),
        Verdict::Accept(_)
    ));
    assert_eq!(
        v.validate(&frame(&mallory, NOW, 0), NOW, &perms).reason(),
        Some("no_permission")
    );
    // A lapsed reader cannot ask for keys with a request stamped while it could.
    let mut keyed = perms;
    keyed.subscribe.clear();
    keyed.subscribe.insert(mallory.address(), NOW / 1000 + 1);
    let request = built(
        &mallory,
        NOW,
        9,
        MessageType::GroupKeyRequest,
        0,
        Encryption::None,
    );
    assert_eq!(
        v.validate(&request, NOW + 2_000, &keyed).reason(),
        Some("no_permission")
    );
}

#[test]
fn every_rejection_says_why_and_counts() {
    let alice = signer(1);
    let mut perms = perms(&alice, u64::MAX);
    perms.partitions = Some(1);
    let mut v = Validator::new(ValidatorConfig::default());
    let huge = vec![0u8; v.max_frame_len() + 1];
    assert_eq!(v.validate(&huge, NOW, &perms).reason(), Some("oversize"));
    let good = frame(&alice, NOW, 0);
    assert_eq!(
        v.validate(&good[..good.len() - 1], NOW, &perms).reason(),
        Some("malformed")
    );
    // Partition 7 of a one-partition stream.
    let elsewhere = built(&alice, NOW, 0, MessageType::Data, 7, Encryption::None);
    let rejected = v.validate(&elsewhere, NOW, &perms);
    assert_eq!(rejected.reason(), Some("bad_stream"));
    assert!(
        format!("{rejected:?}").contains("partition"),
        "{rejected:?}"
    );
    // Plaintext to a stream that is not public: refused before the signature; encrypted passes on.
    perms.subscribe.clear();
    assert_eq!(
        v.validate(&good, NOW, &perms).reason(),
        Some("not_encrypted")
    );
    let sealed = built(
        &alice,
        NOW,
        1,
        MessageType::Data,
        0,
        Encryption::Aes256Gcm("k1".parse().unwrap()),
    );
    assert!(matches!(
        v.validate(&sealed, NOW, &perms),
        Verdict::Accept(_)
    ));
    let c = v.counters();
    assert_eq!(c.rejected.iter().map(|(_, n)| n).sum::<u64>(), 4);
    assert!(c.rejected.contains(&("not_encrypted", 1)));
}

#[test]
fn a_forgery_cannot_shadow_the_real_message() {
    let alice = signer(1);
    let perms = perms(&alice, u64::MAX);
    let mut v = Validator::new(ValidatorConfig::default());
    let real = frame(&alice, NOW, 0);
    let mut forged = real.clone();
    let content_at = forged.len() - 65 - 2;
    forged[content_at] ^= 1; // same id, other content, signature no longer matches
    assert_eq!(
        v.validate(&forged, NOW, &perms).reason(),
        Some("bad_signature")
    );
    assert!(matches!(v.validate(&real, NOW, &perms), Verdict::Accept(_)));
    // After the real one: its content changed under its own signature is a forgery, not a
    // duplicate; so is a changed signature.
    assert_eq!(
        v.validate(&forged, NOW, &perms).reason(),
        Some("bad_signature")
    );
    let mut resigned = real.clone();
    let last = resigned.len() - 1;
    resigned[last - 40] ^= 1;
    assert_eq!(
        v.validate(&resigned, NOW, &perms).reason(),
        Some("bad_signature")
    );
    let zeroed = [&real[..real.len() - 65], &[0u8; 64][..], &[27u8][..]].concat();
    assert_eq!(
        v.validate(&zeroed, NOW, &perms).reason(),
        Some("bad_signature")
    );
    assert_eq!(v.validate(&real, NOW, &perms), Verdict::Duplicate);
    let c = v.counters();
    assert_eq!((c.accepted, c.duplicates), (1, 1));
}

/// The checks and the signature apart, as a node with verifying workers runs them: a copy that was
/// accepted while the first waited for its signature ends as a duplicate.
#[test]
fn prechecked_candidates_finish_as_one_acceptance() {
    let alice = signer(1);
    let perms = perms(&alice, u64::MAX);
    let mut v = Validator::new(ValidatorConfig::default());
    let f = frame(&alice, NOW, 0);
    let (Precheck::Verify(first), Precheck::Verify(second)) =
        (v.precheck(&f, NOW, &perms), v.precheck(&f, NOW, &perms))
    else {
        panic!("both pass the cheap checks");
    };
    let mut verifier = Verifier::default();
    let verified = first.verify(&f, &mut verifier);
    assert!(matches!(v.finish(first, &f, verified), Verdict::Accept(_)));
    let verified = second.verify(&f, &mut verifier);
    assert_eq!(v.finish(second, &f, verified), Verdict::Duplicate);

    // Two different events under one id (an edited republish), both checked before either is
    // concluded: the second is a duplicate too, not a second event under that id.
    let g = frame(&alice, NOW + 1, 0);
    let edited = {
        let mut m = StreamMessage::decode(&g, &Limits::default()).unwrap();
        m.body.content = br#"{"v":2}"#.to_vec();
        alice.sign(m.body).unwrap().encode().unwrap()
    };
    let (Precheck::Verify(first), Precheck::Verify(second)) = (
        v.precheck(&g, NOW, &perms),
        v.precheck(&edited, NOW, &perms),
    ) else {
        panic!("both pass the cheap checks");
    };
    let verified = first.verify(&g, &mut verifier);
    assert!(matches!(v.finish(first, &g, verified), Verdict::Accept(_)));
    let verified = second.verify(&edited, &mut verifier);
    assert_eq!(v.finish(second, &edited, verified), Verdict::Duplicate);
}

#[test]
fn the_duplicate_filter_is_bounded() {
    let alice = signer(1);
    let perms = perms(&alice, u64::MAX);
    let mut v = Validator::new(ValidatorConfig {
        dedupe_capacity: 2,
        ..ValidatorConfig::default()
    });
    let frames: Vec<_> = (0..3).map(|i| frame(&alice, NOW, i)).collect();
    for f in &frames {
        assert!(matches!(v.validate(f, NOW, &perms), Verdict::Accept(_)));
    }
    // The oldest was evicted: it is verified again (and accepted), the newest is still known.
    assert!(matches!(
        v.validate(&frames[0], NOW, &perms),
        Verdict::Accept(_)
    ));
    assert_eq!(v.validate(&frames[2], NOW, &perms), Verdict::Duplicate);
}
