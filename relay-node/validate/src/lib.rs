//! # rivulet-validate
//!
//! Everything a relay node checks about an event before it forwards or stores it, cheapest first, so
//! that spam costs the node as little as possible:
//!
//! 1. size of the frame (before decoding);
//! 2. format (the protocol decoder);
//! 3. duplicate — a message this node already accepted (same id, same signature) is dropped before any
//!    signature work; a copy of an accepted id with another signature is verified, so a forgery is
//!    answered as one;
//! 4. clock skew — timestamps too far in the future are refused;
//! 5. publish permission of the named publisher at the message's timestamp (from the permission cache);
//! 6. the signature, over the bytes as received — the only expensive step, done once per message.
//!
//! A message enters the duplicate filter only after it passed every check, so a forged copy cannot
//! shadow the real message. No I/O and no clock: the caller passes "now".

use std::{
    collections::{HashMap, VecDeque},
    hash::{BuildHasher, Hasher, RandomState},
};

use rivulet_protocol::{
    Address, DecodeError, Limits, MessageId, MessageType, SignatureError, StreamMessage,
    codec::SIGNATURE_LEN, verify_frame,
};

/// Who may publish what, and when. The relay node implements it over its mirror of the stream
/// registry (`rivulet_contracts::PermissionCache`); tests and benchmarks use their own.
///
/// Data and group-key responses need publish permission; a group-key request needs subscribe
/// permission (subscribers ask publishers for keys on the stream part they read).
pub trait PublishPermission {
    /// Whether `publisher` may publish to `stream_id` at Unix time `at_secs`.
    fn may_publish(&self, stream_id: &str, publisher: Address, at_secs: u64) -> bool;

    /// Whether `user` may subscribe to `stream_id` at Unix time `at_secs` (and so ask for its keys).
    /// Nobody, unless the implementation says otherwise.
    fn may_subscribe(&self, stream_id: &str, user: Address, at_secs: u64) -> bool {
        let _ = (stream_id, user, at_secs);
        false
    }
}

/// Settings of a [`Validator`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ValidatorConfig {
    /// Decoder limits (content size).
    pub limits: Limits,
    /// How far (ms) a message's timestamp may be ahead of the node's clock.
    pub max_future_skew_ms: u64,
    /// How many recent message ids the duplicate filter remembers.
    pub dedupe_capacity: usize,
}

impl Default for ValidatorConfig {
    /// 1 MiB content, 60 s of clock skew, the last 200,000 message ids.
    fn default() -> Self {
        ValidatorConfig {
            limits: Limits::default(),
            max_future_skew_ms: 60_000,
            dedupe_capacity: 200_000,
        }
    }
}

/// Why an event was refused. Each has a short, stable [`Rejection::reason`] for metrics labels.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    /// The frame is larger than any valid message can be.
    #[error("frame of {len} bytes exceeds the limit of {max}")]
    Oversize {
        /// Frame length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// Not a well-formed message.
    #[error("malformed message: {0}")]
    Malformed(DecodeError),
    /// Timestamped too far in the future.
    #[error("timestamp is {ahead_ms} ms ahead of this node's clock (limit {max_ms} ms)")]
    FutureTimestamp {
        /// How far ahead.
        ahead_ms: u64,
        /// The limit.
        max_ms: u64,
    },
    /// The publisher has no permission for this kind of message on the stream at the message's time
    /// (publish; subscribe for a group-key request).
    #[error("{publisher} may not {action} to {stream_id} at {at_secs}")]
    NoPermission {
        /// The stream.
        stream_id: String,
        /// The publisher the message names.
        publisher: Address,
        /// The message time, Unix seconds.
        at_secs: u64,
        /// `publish`, or `send key requests` for a group-key request.
        action: &'static str,
    },
    /// The signature does not hold.
    #[error("bad signature: {0}")]
    BadSignature(SignatureError),
}

impl Rejection {
    /// A stable label: `oversize`, `malformed`, `future_timestamp`, `no_permission`, `bad_signature`.
    pub fn reason(&self) -> &'static str {
        match self {
            Rejection::Oversize { .. } => "oversize",
            Rejection::Malformed(_) => "malformed",
            Rejection::FutureTimestamp { .. } => "future_timestamp",
            Rejection::NoPermission { .. } => "no_permission",
            Rejection::BadSignature(_) => "bad_signature",
        }
    }

    /// Whether the sender is to blame (gossipsub "reject", counting against its peer score) rather than
    /// the message merely not being of use here.
    pub fn penalises_sender(&self) -> bool {
        !matches!(self, Rejection::FutureTimestamp { .. })
    }
}

/// The outcome of validating one frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Valid and new: forward, store, deliver.
    Accept(Box<StreamMessage>),
    /// Valid before; already handled.
    Duplicate,
    /// Invalid, with the reason.
    Reject(Rejection),
}

/// Running totals, for metrics.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counters {
    /// Accepted messages.
    pub accepted: u64,
    /// Dropped duplicates.
    pub duplicates: u64,
    /// Rejections by [`Rejection::reason`].
    pub rejected: Vec<(&'static str, u64)>,
}

/// The duplicate filter: fingerprints of the most recent accepted message ids, each with its
/// signature's, evicted oldest first.
#[derive(Debug)]
struct RecentIds {
    seen: HashMap<u64, u64>,
    order: VecDeque<u64>,
    capacity: usize,
    hasher: RandomState,
}

impl RecentIds {
    fn fingerprint(&self, id: &MessageId) -> u64 {
        let mut h = self.hasher.build_hasher();
        h.write(id.stream_id.as_str().as_bytes());
        h.write_u8(id.partition.get());
        h.write_u64(id.timestamp);
        h.write_u32(id.sequence_number);
        h.write(id.publisher.as_bytes());
        h.write(id.chain_id.as_str().as_bytes());
        h.finish()
    }

    fn signature_fingerprint(&self, signature: &[u8]) -> u64 {
        let mut h = self.hasher.build_hasher();
        h.write(signature);
        h.finish()
    }

    fn insert(&mut self, fp: u64, signature_fp: u64) {
        if self.capacity == 0 || self.seen.insert(fp, signature_fp).is_some() {
            return;
        }
        self.order.push_back(fp);
        if self.order.len() > self.capacity
            && let Some(old) = self.order.pop_front()
        {
            self.seen.remove(&old);
        }
    }
}

/// Validates frames for one node. Not thread-safe by design: one per validation task.
#[derive(Debug)]
pub struct Validator {
    config: ValidatorConfig,
    recent: RecentIds,
    accepted: u64,
    duplicates: u64,
    rejected: [u64; 5],
}

const REASONS: [&str; 5] = [
    "oversize",
    "malformed",
    "future_timestamp",
    "no_permission",
    "bad_signature",
];

impl Validator {
    /// A validator with `config`.
    pub fn new(config: ValidatorConfig) -> Validator {
        Validator {
            recent: RecentIds {
                seen: HashMap::with_capacity(config.dedupe_capacity.min(1 << 20)),
                order: VecDeque::with_capacity(config.dedupe_capacity.min(1 << 20)),
                capacity: config.dedupe_capacity,
                hasher: RandomState::new(),
            },
            config,
            accepted: 0,
            duplicates: 0,
            rejected: [0; 5],
        }
    }

    /// The decoder limits it validates with.
    pub fn limits(&self) -> Limits {
        self.config.limits
    }

    /// The largest frame that can hold a valid message under these limits.
    pub fn max_frame_len(&self) -> usize {
        // Content plus every other field at its maximum (stream id, chain id, keys, refs, signature).
        self.config.limits.max_content_len + 2048 + SIGNATURE_LEN
    }

    /// Validates one frame received at `now_ms` (Unix milliseconds).
    pub fn validate(
        &mut self,
        frame: &[u8],
        now_ms: u64,
        permissions: &impl PublishPermission,
    ) -> Verdict {
        let verdict = self.check(frame, now_ms, permissions);
        match &verdict {
            Verdict::Accept(_) => self.accepted += 1,
            Verdict::Duplicate => self.duplicates += 1,
            Verdict::Reject(r) => {
                if let Some(i) = REASONS.iter().position(|x| *x == r.reason()) {
                    self.rejected[i] += 1;
                }
            }
        }
        verdict
    }

    fn check(
        &mut self,
        frame: &[u8],
        now_ms: u64,
        permissions: &impl PublishPermission,
    ) -> Verdict {
        let max = self.max_frame_len();
        if frame.len() > max {
            return Verdict::Reject(Rejection::Oversize {
                len: frame.len(),
                max,
            });
        }
        let message = match StreamMessage::decode(frame, &self.config.limits) {
            Ok(m) => m,
            Err(e) => return Verdict::Reject(Rejection::Malformed(e)),
        };
        let id = message.id();
        let fp = self.recent.fingerprint(id);
        // The decoder guarantees the frame ends with the signature.
        let signature_fp = self
            .recent
            .signature_fingerprint(&frame[frame.len() - SIGNATURE_LEN..]);
        if let Some(&known) = self.recent.seen.get(&fp) {
            if known == signature_fp {
                return Verdict::Duplicate;
            }
            // The id of an accepted message under another signature: a forgery, or the publisher
            // signing the same id twice (a signer with random nonces). Only the signature tells.
            return match verify_frame(&message, frame) {
                Ok(()) => Verdict::Duplicate,
                Err(e) => Verdict::Reject(Rejection::BadSignature(e)),
            };
        }
        let ahead = id.timestamp.saturating_sub(now_ms);
        if ahead > self.config.max_future_skew_ms {
            return Verdict::Reject(Rejection::FutureTimestamp {
                ahead_ms: ahead,
                max_ms: self.config.max_future_skew_ms,
            });
        }
        let at_secs = id.timestamp / 1000;
        let (allowed, action) = match message.body.message_type {
            MessageType::GroupKeyRequest => (
                permissions.may_subscribe(id.stream_id.as_str(), id.publisher, at_secs),
                "send key requests",
            ),
            _ => (
                permissions.may_publish(id.stream_id.as_str(), id.publisher, at_secs),
                "publish",
            ),
        };
        if !allowed {
            return Verdict::Reject(Rejection::NoPermission {
                stream_id: id.stream_id.to_string(),
                publisher: id.publisher,
                at_secs,
                action,
            });
        }
        // The signature over the bytes as received.
        if let Err(e) = verify_frame(&message, frame) {
            return Verdict::Reject(Rejection::BadSignature(e));
        }
        self.recent.insert(fp, signature_fp);
        Verdict::Accept(Box::new(message))
    }

    /// Totals so far.
    pub fn counters(&self) -> Counters {
        Counters {
            accepted: self.accepted,
            duplicates: self.duplicates,
            rejected: REASONS.iter().copied().zip(self.rejected).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use rivulet_protocol::{
        ChainId, ContentType, Encryption, MessageType, Partition, SignatureType, Signer, StreamId,
        UnsignedMessage,
    };

    use super::*;

    const NOW: u64 = 1_764_000_000_000;

    fn signer(n: u8) -> Signer {
        Signer::from_bytes(&[n; 32]).unwrap()
    }

    fn stream() -> StreamId {
        "rivulet.eth/sensors".parse().unwrap()
    }

    fn frame(s: &Signer, ts: u64, seq: u32) -> Vec<u8> {
        typed_frame(s, ts, seq, MessageType::Data)
    }

    fn typed_frame(s: &Signer, ts: u64, seq: u32, message_type: MessageType) -> Vec<u8> {
        let body = UnsignedMessage {
            id: MessageId {
                stream_id: stream(),
                partition: Partition::new(0).unwrap(),
                timestamp: ts,
                sequence_number: seq,
                publisher: s.address(),
                chain_id: ChainId::new("c").unwrap(),
            },
            prev: None,
            message_type,
            content_type: ContentType::Json,
            encryption: Encryption::None,
            new_group_key: None,
            content: br#"{"v":1}"#.to_vec(),
            signature_type: SignatureType::Eip191Secp256k1,
        };
        s.sign(body).unwrap().encode().unwrap()
    }

    /// Publish and subscribe permissions on [`stream`], each until a Unix second (held while
    /// `at < until`, the registry's rule).
    #[derive(Default)]
    struct Perms {
        publish: HashMap<Address, u64>,
        subscribe: HashMap<Address, u64>,
    }

    impl PublishPermission for Perms {
        fn may_publish(&self, stream_id: &str, publisher: Address, at_secs: u64) -> bool {
            stream_id == stream().as_str()
                && self
                    .publish
                    .get(&publisher)
                    .is_some_and(|until| at_secs < *until)
        }

        fn may_subscribe(&self, stream_id: &str, user: Address, at_secs: u64) -> bool {
            stream_id == stream().as_str()
                && self
                    .subscribe
                    .get(&user)
                    .is_some_and(|until| at_secs < *until)
        }
    }

    /// Permissions by which `publisher` may publish until `until` (Unix seconds).
    fn cache(publisher: &Signer, until: u64) -> Perms {
        let mut perms = Perms::default();
        perms.publish.insert(publisher.address(), until);
        perms
    }

    /// Key requests need subscribe permission, key responses and data publish permission.
    #[test]
    fn key_requests_need_subscribe_permission() {
        let alice = signer(1);
        let reader = signer(3);
        let mut perms = cache(&alice, u64::MAX);
        let mut v = Validator::new(ValidatorConfig::default());
        let request = typed_frame(&reader, NOW, 0, MessageType::GroupKeyRequest);
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
            let f = typed_frame(&reader, NOW, 1, kind);
            assert!(
                matches!(v.validate(&f, NOW, &perms), Verdict::Reject(_)),
                "{kind:?}"
            );
        }
        let response = typed_frame(&alice, NOW, 5, MessageType::GroupKeyResponse);
        assert!(matches!(
            v.validate(&response, NOW, &perms),
            Verdict::Accept(_)
        ));
    }

    #[test]
    fn accepts_once_then_drops_duplicates_before_verifying() {
        let alice = signer(1);
        let perms = cache(&alice, u64::MAX);
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

    #[test]
    fn every_rejection_says_why_and_counts() {
        let alice = signer(1);
        let mallory = signer(2);
        let perms = cache(&alice, (NOW / 1000) + 10);
        let far = cache(&alice, u64::MAX);
        let mut v = Validator::new(ValidatorConfig::default());
        let huge = vec![0u8; v.max_frame_len() + 1];
        assert_eq!(v.validate(&huge, NOW, &perms).reason(), Some("oversize"));
        let good = frame(&alice, NOW, 0);
        assert_eq!(
            v.validate(&good[..good.len() - 1], NOW, &perms).reason(),
            Some("malformed")
        );
        let future = frame(&alice, NOW + 60_001, 0);
        assert_eq!(
            v.validate(&future, NOW, &perms).reason(),
            Some("future_timestamp")
        );
        assert!(matches!(
            v.validate(&frame(&alice, NOW + 60_000, 0), NOW, &far),
            Verdict::Accept(_)
        ));
        // Mallory has no permission.
        assert_eq!(
            v.validate(&frame(&mallory, NOW, 0), NOW, &perms).reason(),
            Some("no_permission")
        );
        // Alice's permission ends 10 s after NOW: judged at the message's time, not the node's.
        let late = frame(&alice, NOW + 10_000, 1);
        assert_eq!(
            v.validate(&late, NOW + 10_000, &perms).reason(),
            Some("no_permission")
        );
        assert!(matches!(
            v.validate(&frame(&alice, NOW + 9_999, 1), NOW + 3_600_000, &perms),
            Verdict::Accept(_)
        ));
        let c = v.counters();
        assert_eq!(c.rejected.iter().map(|(_, n)| n).sum::<u64>(), 5);
        assert!(c.rejected.contains(&("no_permission", 2)));
    }

    #[test]
    fn a_forgery_cannot_shadow_the_real_message() {
        let alice = signer(1);
        let perms = cache(&alice, u64::MAX);
        let mut v = Validator::new(ValidatorConfig::default());
        let real = frame(&alice, NOW, 0);
        let mut forged = real.clone();
        let content_at = forged.len() - 65 - 2;
        forged[content_at] ^= 1; // same id, other content, signature no longer matches
        let verdict = v.validate(&forged, NOW, &perms);
        assert_eq!(verdict.reason(), Some("bad_signature"), "{verdict:?}");
        assert!(matches!(v.validate(&real, NOW, &perms), Verdict::Accept(_)));
        // After the real one, a copy under a wrong signature is still a forgery, not a duplicate.
        let mut resigned = real.clone();
        let last = resigned.len() - 1;
        resigned[last - 40] ^= 1;
        let verdict = v.validate(&resigned, NOW, &perms);
        assert_eq!(verdict.reason(), Some("bad_signature"), "{verdict:?}");
        let zeroed = [&real[..real.len() - 65], &[0u8; 64][..], &[27u8][..]].concat();
        assert_eq!(
            v.validate(&zeroed, NOW, &perms).reason(),
            Some("bad_signature")
        );
        assert_eq!(v.validate(&real, NOW, &perms), Verdict::Duplicate);
        let c = v.counters();
        assert_eq!((c.accepted, c.duplicates), (1, 1));
    }

    #[test]
    fn the_duplicate_filter_is_bounded() {
        let alice = signer(1);
        let perms = cache(&alice, u64::MAX);
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

    impl Verdict {
        fn reason(&self) -> Option<&'static str> {
            match self {
                Verdict::Reject(r) => Some(r.reason()),
                _ => None,
            }
        }
    }
}
