//! # rivulet-validate
//!
//! Everything a relay node checks about an event before it forwards or stores it, cheapest first, so
//! that spam costs the node as little as possible:
//!
//! 1. size of the frame (before decoding);
//! 2. format (the protocol decoder);
//! 3. duplicate — these very bytes were accepted before: dropped before any signature work. The filter
//!    keys on the whole wire bytes, so a copy of an accepted event with anything changed (content,
//!    signature) is not a duplicate: it is verified, and a forgery is answered as one;
//! 4. the stream part exists (its partition is within the stream's count);
//! 5. arrival time — the event's timestamp must lie within a window around the node's clock when it
//!    arrives (60 s before and after by default), so nobody can stamp an event into the past or future;
//! 6. permission now, by the chain's clock (never at the timestamp the sender chose): publish for data
//!    and key responses, subscribe for key requests — so a publisher whose permission ended cannot
//!    publish events stamped before its end, and a reader whose licence lapsed cannot ask for keys;
//! 7. plaintext — a data event to a stream that is not publicly readable must be encrypted;
//! 8. the signature, over the bytes as received — the only expensive step, done once per message.
//!
//! A message enters the duplicate filter only after it passed every check, so a forged copy cannot
//! shadow the real message. Steps 1-7 are [`Validator::precheck`]; step 8 can run on another thread
//! ([`Candidate::verify`]) before [`Validator::finish`]; [`Validator::validate`] does all three. No I/O
//! and no clock: the caller passes "now".

mod copied;

pub use copied::{CopyRefusal, check_copied};

use std::{
    collections::{HashMap, VecDeque},
    hash::{BuildHasher, Hasher, RandomState},
};

use rivulet_protocol::{
    Address, DecodeError, Encryption, Limits, MessageId, MessageType, SignatureError,
    StreamMessage, Verifier, key_exchange::KeyRequest,
};

/// Who may do what on which stream, at a given time, as the stream registry says. Implemented by the
/// node's mirror of the registry; tests and benchmarks use their own.
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

    /// How many partitions `stream_id` has, when known.
    fn partitions(&self, stream_id: &str) -> Option<u32> {
        let _ = stream_id;
        None
    }
}

/// When a frame arrives: by this node's clock, which the event's timestamp must lie near, and by the
/// chain's (the latest block's time carried forward, never behind this node's clock), which judges
/// permissions — a development chain can move ahead (`evm_increaseTime`), publishers' clocks do not.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Now {
    /// This node's clock, Unix milliseconds.
    pub clock_ms: u64,
    /// The chain's clock, Unix seconds.
    pub chain_secs: u64,
}

impl From<u64> for Now {
    /// Both clocks at `ms` (Unix milliseconds).
    fn from(ms: u64) -> Now {
        Now {
            clock_ms: ms,
            chain_secs: ms / 1000,
        }
    }
}

/// Whether `message`'s signer held the permission its type needs at `at_secs`: publish, or for a
/// group-key request subscribe (for a session key's request, by the account that authorised it).
pub(crate) fn permitted(
    message: &StreamMessage,
    permissions: &impl PublishPermission,
    at_secs: u64,
) -> Result<(), Rejection> {
    let id = message.id();
    let stream_id = id.stream_id.as_str();
    let (allowed, action) = match message.body.message_type {
        MessageType::GroupKeyRequest => {
            let reader = KeyRequest::parse(&message.body.content)
                .and_then(|r| r.reader(id.publisher, at_secs))
                .unwrap_or(id.publisher);
            (
                permissions.may_subscribe(stream_id, reader, at_secs),
                "send key requests",
            )
        }
        _ => (
            permissions.may_publish(stream_id, id.publisher, at_secs),
            "publish",
        ),
    };
    if allowed {
        Ok(())
    } else {
        Err(Rejection::NoPermission {
            stream_id: stream_id.to_owned(),
            publisher: id.publisher,
            at_secs,
            action,
        })
    }
}

/// Settings of a [`Validator`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ValidatorConfig {
    /// Decoder limits (content size).
    pub limits: Limits,
    /// How far (ms) a message's timestamp may be ahead of the node's clock.
    pub max_future_skew_ms: u64,
    /// How far (ms) a message's timestamp may be behind the node's clock when it arrives.
    pub max_past_skew_ms: u64,
    /// How many recent messages the duplicate filter remembers.
    pub dedupe_capacity: usize,
}

impl Default for ValidatorConfig {
    /// 1 MiB content, 60 s of clock skew either way, the last 200,000 messages.
    fn default() -> Self {
        ValidatorConfig {
            limits: Limits::default(),
            max_future_skew_ms: 60_000,
            max_past_skew_ms: 60_000,
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
    /// The stream has no such partition.
    #[error("{stream_id} has {partitions} partition(s); there is no partition {partition}")]
    NoSuchPartition {
        /// The stream.
        stream_id: String,
        /// The partition named.
        partition: u8,
        /// The stream's partition count.
        partitions: u32,
    },
    /// Timestamped too far in the future.
    #[error("timestamp is {ahead_ms} ms ahead of this node's clock (limit {max_ms} ms)")]
    FutureTimestamp {
        /// How far ahead.
        ahead_ms: u64,
        /// The limit.
        max_ms: u64,
    },
    /// Timestamped too far in the past for a live event.
    #[error(
        "timestamp is {behind_ms} ms behind this node's clock (limit {max_ms} ms): live events are stamped when they are published"
    )]
    StaleTimestamp {
        /// How far behind.
        behind_ms: u64,
        /// The limit.
        max_ms: u64,
    },
    /// The publisher has no permission for this kind of message on the stream now, by the chain's
    /// clock (publish; subscribe for a group-key request).
    #[error(
        "{publisher} may not {action} to {stream_id} (judged at {at_secs}, by the chain's clock)"
    )]
    NoPermission {
        /// The stream.
        stream_id: String,
        /// The publisher the message names.
        publisher: Address,
        /// When it was judged (arrival), Unix seconds.
        at_secs: u64,
        /// `publish`, or `send key requests` for a group-key request.
        action: &'static str,
    },
    /// Plaintext data to a stream that is not publicly readable.
    #[error(
        "{stream_id} is not publicly readable: its events must be encrypted end to end, and this one is plaintext"
    )]
    NotEncrypted {
        /// The stream.
        stream_id: String,
    },
    /// The signature does not hold.
    #[error("bad signature: {0}")]
    BadSignature(SignatureError),
}

/// Every rejection reason, in the order of [`Validator`]'s counters.
const REASONS: [&str; 8] = [
    "oversize",
    "malformed",
    "bad_stream",
    "future_timestamp",
    "stale_timestamp",
    "no_permission",
    "not_encrypted",
    "bad_signature",
];

impl Rejection {
    /// A stable label: `oversize`, `malformed`, `bad_stream`, `future_timestamp`, `stale_timestamp`,
    /// `no_permission`, `not_encrypted`, `bad_signature`.
    pub fn reason(&self) -> &'static str {
        match self {
            Rejection::Oversize { .. } => "oversize",
            Rejection::Malformed(_) => "malformed",
            Rejection::NoSuchPartition { .. } => "bad_stream",
            Rejection::FutureTimestamp { .. } => "future_timestamp",
            Rejection::StaleTimestamp { .. } => "stale_timestamp",
            Rejection::NoPermission { .. } => "no_permission",
            Rejection::NotEncrypted { .. } => "not_encrypted",
            Rejection::BadSignature(_) => "bad_signature",
        }
    }

    /// Whether the sender is to blame (gossipsub "reject", counting against its peer score) rather than
    /// the message merely not being of use here (a clock that differs from this node's).
    pub fn penalises_sender(&self) -> bool {
        !matches!(
            self,
            Rejection::FutureTimestamp { .. } | Rejection::StaleTimestamp { .. }
        )
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

/// The outcome of the cheap checks.
#[derive(Debug)]
#[allow(clippy::large_enum_variant)] // each goes straight on to verification; boxing costs an allocation
pub enum Precheck {
    /// Passed: only the signature is left ([`Candidate::verify`], then [`Validator::finish`]).
    Verify(Candidate),
    /// These very bytes were accepted before.
    Duplicate,
    /// Refused, with the reason.
    Reject(Rejection),
}

/// A message that passed the cheap checks and waits for its signature to be verified.
#[derive(Debug)]
pub struct Candidate {
    message: StreamMessage,
    fingerprint: u64,
    /// Whether another message under this id was accepted already (a forgery, or a republish).
    id_known: bool,
}

impl Candidate {
    /// The message.
    pub fn message(&self) -> &StreamMessage {
        &self.message
    }

    /// Verifies the signature over `frame` — the bytes the message was decoded from — with `verifier`
    /// (which remembers publishers' keys; one per thread).
    pub fn verify(&self, frame: &[u8], verifier: &mut Verifier) -> Result<(), SignatureError> {
        verifier.verify_frame(&self.message, frame)
    }
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

/// The duplicate filter: fingerprints of the most recently accepted messages' wire bytes, and of their
/// ids, evicted oldest first.
#[derive(Debug)]
struct Recent {
    wires: HashMap<u64, u64>,
    ids: HashMap<u64, u32>,
    order: VecDeque<u64>,
    capacity: usize,
    hasher: RandomState,
}

impl Recent {
    fn fingerprint(&self, bytes: &[u8]) -> u64 {
        let mut h = self.hasher.build_hasher();
        h.write(bytes);
        h.finish()
    }

    fn id_fingerprint(&self, id: &MessageId) -> u64 {
        let mut h = self.hasher.build_hasher();
        h.write(id.stream_id.as_str().as_bytes());
        h.write_u8(id.partition.get());
        h.write_u64(id.timestamp);
        h.write_u32(id.sequence_number);
        h.write(id.publisher.as_bytes());
        h.write(id.chain_id.as_str().as_bytes());
        h.finish()
    }

    fn insert(&mut self, wire_fp: u64, id_fp: u64) {
        if self.capacity == 0 || self.wires.insert(wire_fp, id_fp).is_some() {
            return;
        }
        *self.ids.entry(id_fp).or_default() += 1;
        self.order.push_back(wire_fp);
        if self.order.len() > self.capacity
            && let Some(old) = self.order.pop_front()
            && let Some(old_id) = self.wires.remove(&old)
            && let Some(count) = self.ids.get_mut(&old_id)
        {
            *count -= 1;
            if *count == 0 {
                self.ids.remove(&old_id);
            }
        }
    }
}

/// Validates frames for one node. Not shared: one per event loop (signature checks can go elsewhere).
#[derive(Debug)]
pub struct Validator {
    config: ValidatorConfig,
    recent: Recent,
    verifier: Verifier,
    accepted: u64,
    duplicates: u64,
    rejected: [u64; 8],
}

impl Validator {
    /// A validator with `config`.
    pub fn new(config: ValidatorConfig) -> Validator {
        let capacity = config.dedupe_capacity.min(1 << 20);
        Validator {
            recent: Recent {
                wires: HashMap::with_capacity(capacity),
                ids: HashMap::with_capacity(capacity),
                order: VecDeque::with_capacity(capacity),
                capacity: config.dedupe_capacity,
                hasher: RandomState::new(),
            },
            verifier: Verifier::default(),
            config,
            accepted: 0,
            duplicates: 0,
            rejected: [0; 8],
        }
    }

    /// The decoder limits it validates with.
    pub fn limits(&self) -> Limits {
        self.config.limits
    }

    /// The largest frame that can hold a valid message under these limits.
    pub fn max_frame_len(&self) -> usize {
        // Content plus every other field at its maximum (stream id, chain id, keys, refs, signature).
        self.config.limits.max_content_len + 2048 + rivulet_protocol::codec::SIGNATURE_LEN
    }

    /// Validates one live frame arriving `now`: every check, the signature included, on this thread.
    pub fn validate(
        &mut self,
        frame: &[u8],
        now: impl Into<Now>,
        permissions: &impl PublishPermission,
    ) -> Verdict {
        match self.precheck(frame, now, permissions) {
            Precheck::Verify(candidate) => {
                let verified = candidate.verify(frame, &mut self.verifier);
                self.finish(candidate, frame, verified)
            }
            Precheck::Duplicate => Verdict::Duplicate,
            Precheck::Reject(r) => Verdict::Reject(r),
        }
    }

    /// The cheap checks of a live frame arriving `now`.
    pub fn precheck(
        &mut self,
        frame: &[u8],
        now: impl Into<Now>,
        permissions: &impl PublishPermission,
    ) -> Precheck {
        let outcome = self.check(frame, now.into(), permissions);
        match &outcome {
            Precheck::Duplicate => self.duplicates += 1,
            Precheck::Reject(r) => self.count(r),
            Precheck::Verify(_) => {}
        }
        outcome
    }

    /// Concludes a candidate whose signature over `frame` was checked (`verified`): accepted and
    /// remembered, or refused. A candidate whose bytes were accepted meanwhile is a duplicate.
    pub fn finish(
        &mut self,
        candidate: Candidate,
        frame: &[u8],
        verified: Result<(), SignatureError>,
    ) -> Verdict {
        let verdict = match verified {
            Err(e) => Verdict::Reject(Rejection::BadSignature(e)),
            Ok(()) if self.recent.wires.contains_key(&candidate.fingerprint) => Verdict::Duplicate,
            Ok(()) => {
                let id_fp = self.recent.id_fingerprint(candidate.message.id());
                // Another event under the id of one accepted before — by the cheap checks, or while
                // this one was being verified —, signed by its publisher (a signer with random
                // nonces, or an edited republish): nothing new to relay.
                let id_known = candidate.id_known || self.recent.ids.contains_key(&id_fp);
                self.recent.insert(candidate.fingerprint, id_fp);
                if id_known {
                    Verdict::Duplicate
                } else {
                    Verdict::Accept(Box::new(candidate.message))
                }
            }
        };
        let _ = frame;
        match &verdict {
            Verdict::Accept(_) => self.accepted += 1,
            Verdict::Duplicate => self.duplicates += 1,
            Verdict::Reject(r) => self.count(r),
        }
        verdict
    }

    fn count(&mut self, rejection: &Rejection) {
        if let Some(i) = REASONS.iter().position(|x| *x == rejection.reason()) {
            self.rejected[i] += 1;
        }
    }

    fn check(&mut self, frame: &[u8], now: Now, permissions: &impl PublishPermission) -> Precheck {
        let now_ms = now.clock_ms;
        let max = self.max_frame_len();
        if frame.len() > max {
            return Precheck::Reject(Rejection::Oversize {
                len: frame.len(),
                max,
            });
        }
        let fingerprint = self.recent.fingerprint(frame);
        if self.recent.wires.contains_key(&fingerprint) {
            return Precheck::Duplicate;
        }
        let message = match StreamMessage::decode(frame, &self.config.limits) {
            Ok(m) => m,
            Err(e) => return Precheck::Reject(Rejection::Malformed(e)),
        };
        let id = message.id();
        let stream_id = id.stream_id.as_str();
        if let Some(partitions) = permissions.partitions(stream_id)
            && u32::from(id.partition.get()) >= partitions
        {
            return Precheck::Reject(Rejection::NoSuchPartition {
                stream_id: stream_id.to_owned(),
                partition: id.partition.get(),
                partitions,
            });
        }
        let ahead = id.timestamp.saturating_sub(now_ms);
        if ahead > self.config.max_future_skew_ms {
            return Precheck::Reject(Rejection::FutureTimestamp {
                ahead_ms: ahead,
                max_ms: self.config.max_future_skew_ms,
            });
        }
        let behind = now_ms.saturating_sub(id.timestamp);
        if behind > self.config.max_past_skew_ms {
            return Precheck::Reject(Rejection::StaleTimestamp {
                behind_ms: behind,
                max_ms: self.config.max_past_skew_ms,
            });
        }
        let now_secs = now.chain_secs;
        if let Err(rejection) = permitted(&message, permissions, now_secs) {
            return Precheck::Reject(rejection);
        }
        if message.body.message_type == MessageType::Data
            && message.body.encryption == Encryption::None
            && !permissions.may_subscribe(stream_id, Address::ZERO, now_secs)
        {
            return Precheck::Reject(Rejection::NotEncrypted {
                stream_id: stream_id.to_owned(),
            });
        }
        let id_known = self
            .recent
            .ids
            .contains_key(&self.recent.id_fingerprint(id));
        Precheck::Verify(Candidate {
            message,
            fingerprint,
            id_known,
        })
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
    #![allow(clippy::unwrap_used)]

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
}
