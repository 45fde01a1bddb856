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
mod recent;
mod rejection;

pub use copied::{CopyRefusal, check_copied};
pub use rejection::Rejection;

use recent::Recent;
use rejection::REASONS;

use rivulet_protocol::{
    Address, Encryption, Limits, MessageType, SignatureError, StreamMessage, Verifier,
    key_exchange::KeyRequest,
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
        Validator {
            recent: Recent::new(config.dedupe_capacity),
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
            Precheck::Verify(candidate) => self.verify_and_finish(candidate, frame),
            Precheck::Duplicate => Verdict::Duplicate,
            Precheck::Reject(r) => Verdict::Reject(r),
        }
    }

    /// Verifies a candidate's signature here, on this thread (with this validator's own key cache),
    /// and concludes it.
    pub fn verify_and_finish(&mut self, candidate: Candidate, frame: &[u8]) -> Verdict {
        let verified = candidate.verify(frame, &mut self.verifier);
        self.finish(candidate, frame, verified)
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
            Ok(()) if self.recent.knows_wire(candidate.fingerprint) => Verdict::Duplicate,
            Ok(()) => {
                let id_fp = self.recent.id_fingerprint(candidate.message.id());
                // Another event under the id of one accepted before — by the cheap checks, or while
                // this one was being verified —, signed by its publisher (a signer with random
                // nonces, or an edited republish): nothing new to relay.
                let id_known = candidate.id_known || self.recent.knows_id(id_fp);
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
        if self.recent.knows_wire(fingerprint) {
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
        let id_known = self.recent.knows_id(self.recent.id_fingerprint(id));
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
mod tests;
