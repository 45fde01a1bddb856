//! Signature verification off the event loop. The event loop runs the validator's cheap checks and
//! hands each candidate that passed them to a pool of threads, each with its own cache of publishers'
//! keys; the verdicts come back in the order the candidates went in, so the event loop concludes events
//! (relays, stores, delivers) in arrival order — per stream part above all — however the threads raced.
//!
//! The pool holds at most [`MAX_IN_FLIGHT`] candidates: when it is full the event loop stops taking
//! input ([`Verification::has_room`]) and the backlog waits in the transports, not in memory.
//!
//! A verifying thread hands its verdicts back in batches while it has more work queued — each verdict
//! sent alone woke the event loop (and often a parked worker thread) once per event, which at full
//! ingest cost more of the node's time than the event loop's own work — but never holds one longer than
//! [`HOLD_VERDICTS`], and sends at once when its queue is empty.
//!
//! Handing an event to another thread and back costs two thread wake-ups, which on an idle machine is
//! more than the verification itself. So while traffic is light — the pool is empty and fewer than
//! [`INLINE_PER_WINDOW`] events were verified on the event loop in the current [`INLINE_WINDOW`] — the
//! event loop verifies the event itself ([`Verification::verify_here`]); nothing is ahead of it, so
//! order is kept. Beyond that budget everything goes to the pool.

use std::{
    collections::VecDeque,
    time::{Duration, Instant},
};

use rivulet_protocol::{SignatureError, StreamMessage, Verifier};
use rivulet_validate::Candidate;
use tokio::sync::mpsc;

/// Candidates waiting for or in verification at most.
pub(crate) const MAX_IN_FLIGHT: usize = 4096;

/// The window over which the event loop's own verifications are counted.
pub(crate) const INLINE_WINDOW: Duration = Duration::from_millis(10);

/// Verifications the event loop may do itself per [`INLINE_WINDOW`] (2,000 a second, some 7 % of its
/// time at 35 µs each) while the pool is empty.
pub(crate) const INLINE_PER_WINDOW: u32 = 20;

/// How long a verifying thread may hold verdicts to send them together, while more jobs wait.
pub(crate) const HOLD_VERDICTS: Duration = Duration::from_micros(100);

/// Verdicts after which a verifying thread sends what it holds (up to `VERIFY_TOGETHER - 1` more,
/// when the last were verified together).
const VERDICT_BATCH: usize = 64;

/// Jobs a verifying thread takes from the queue at once while more wait, to verify together: the
/// signatures of publishers with a comb then share one scalar inversion (`Verifier::verify_frames`).
/// Few, so that another thread is not left idle while one holds the queue's work.
const VERIFY_TOGETHER: usize = 8;

/// Publishers' keys each thread remembers.
const KEYS_PER_THREAD: usize = 100_000;

/// A candidate and the bytes it was decoded from, on its way through the pool.
struct Job {
    seq: u64,
    candidate: Candidate,
    frame: Vec<u8>,
}

/// A job with its outcome.
struct Done {
    seq: u64,
    candidate: Candidate,
    frame: Vec<u8>,
    verified: Result<(), SignatureError>,
}

/// A verified candidate, with what the caller attached to it.
pub(crate) struct Verified<T> {
    /// What the caller passed to [`Verification::submit`].
    pub(crate) context: T,
    pub(crate) candidate: Candidate,
    pub(crate) frame: Vec<u8>,
    pub(crate) verified: Result<(), SignatureError>,
}

/// One submitted candidate: waiting for its verdict, or verified and waiting for those before it.
// Slots live in a ring of at most MAX_IN_FLIGHT, reused: boxing the large variant would cost an
// allocation per event to save memory that is allocated once.
#[allow(clippy::large_enum_variant)]
enum Slot<T> {
    Waiting(T),
    Ready(Verified<T>),
    /// Taken (transient, while a slot changes state).
    Empty,
}

/// The pool and the order of what is in it. `T` is what the caller needs to conclude an event (where
/// it came from, whom to answer).
pub(crate) struct Verification<T> {
    jobs: crossbeam_channel::Sender<Job>,
    done: mpsc::UnboundedReceiver<Vec<Done>>,
    slots: VecDeque<Slot<T>>,
    /// Sequence number of `slots[0]`.
    first: u64,
    next: u64,
    /// The current inline window's start, and the verifications done inline in it.
    inline: (Instant, u32),
}

impl<T> Verification<T> {
    /// Starts `threads` verifying threads (at least one); they stop when this is dropped.
    pub(crate) fn start(threads: usize) -> std::io::Result<Verification<T>> {
        let (jobs, queue) = crossbeam_channel::bounded::<Job>(MAX_IN_FLIGHT);
        let (done_tx, done) = mpsc::unbounded_channel();
        for i in 0..threads.max(1) {
            let queue = queue.clone();
            let done_tx = done_tx.clone();
            std::thread::Builder::new()
                .name(format!("verify-{i}"))
                .spawn(move || verifying_thread(&queue, &done_tx))?;
        }
        Ok(Verification {
            jobs,
            done,
            slots: VecDeque::new(),
            first: 0,
            next: 0,
            inline: (Instant::now(), 0),
        })
    }

    /// Whether the caller should verify the next candidate itself, now, instead of submitting it:
    /// the pool is empty (nothing is ahead of it) and traffic is light (see the module comment).
    /// Counts the verification when it says yes.
    pub(crate) fn verify_here(&mut self, now: Instant) -> bool {
        if !self.slots.is_empty() {
            return false;
        }
        if now.duration_since(self.inline.0) >= INLINE_WINDOW {
            self.inline = (now, 0);
        }
        if self.inline.1 < INLINE_PER_WINDOW {
            self.inline.1 += 1;
            true
        } else {
            false
        }
    }

    /// Whether another candidate may be submitted.
    pub(crate) fn has_room(&self) -> bool {
        self.slots.len() < MAX_IN_FLIGHT
    }

    /// Candidates submitted and not yet taken back.
    #[cfg(test)]
    pub(crate) fn in_flight(&self) -> usize {
        self.slots.len()
    }

    /// Hands `candidate`, decoded from `frame`, to the pool. The caller checks [`Self::has_room`]
    /// first; the queue has room for every slot, so this never waits.
    pub(crate) fn submit(&mut self, candidate: Candidate, frame: Vec<u8>, context: T) {
        let seq = self.next;
        self.next += 1;
        self.slots.push_back(Slot::Waiting(context));
        let job = Job {
            seq,
            candidate,
            frame,
        };
        // The threads only stop when this pool is dropped, and the queue is as large as the number of
        // slots: a send can neither fail nor wait.
        if let Err(e) = self.jobs.try_send(job) {
            let job = e.into_inner();
            let verified = job.candidate.verify(&job.frame, &mut Verifier::new(1));
            self.settle(Done {
                seq: job.seq,
                candidate: job.candidate,
                frame: job.frame,
                verified,
            });
        }
    }

    /// Waits for the next verdicts, then returns every candidate whose turn it is, in submission order
    /// (possibly none, when the verdicts came for ones behind a candidate still in verification).
    /// Cancel-safe: nothing is taken before the one await.
    pub(crate) async fn next(&mut self) -> Vec<Verified<T>> {
        if let Some(batch) = self.done.recv().await {
            for done in batch {
                self.settle(done);
            }
        }
        while let Ok(batch) = self.done.try_recv() {
            for done in batch {
                self.settle(done);
            }
        }
        let mut ready = Vec::new();
        while matches!(self.slots.front(), Some(Slot::Ready(_))) {
            if let Some(Slot::Ready(verified)) = self.slots.pop_front() {
                ready.push(verified);
            }
            self.first += 1;
        }
        ready
    }

    fn settle(&mut self, done: Done) {
        let Some(slot) = done
            .seq
            .checked_sub(self.first)
            .and_then(|i| self.slots.get_mut(i as usize))
        else {
            return;
        };
        if let Slot::Waiting(context) = std::mem::replace(slot, Slot::Empty) {
            *slot = Slot::Ready(Verified {
                context,
                candidate: done.candidate,
                frame: done.frame,
                verified: done.verified,
            });
        }
    }
}

/// A verifying thread's loop: verifies jobs as they come (up to [`VERIFY_TOGETHER`] of those waiting at
/// once) and sends the verdicts back, together while more jobs wait (see the module comment). Ends
/// when the pool's sender is dropped (the queue closes) or the event loop is gone (verdicts cannot be
/// sent).
fn verifying_thread(
    queue: &crossbeam_channel::Receiver<Job>,
    done: &mpsc::UnboundedSender<Vec<Done>>,
) {
    let mut verifier = Verifier::new(KEYS_PER_THREAD);
    let mut batch: Vec<Done> = Vec::new();
    let mut jobs: Vec<Job> = Vec::with_capacity(VERIFY_TOGETHER);
    let mut held_since = Instant::now();
    loop {
        let job = if batch.is_empty() {
            match queue.recv() {
                Ok(job) => job,
                Err(_) => return,
            }
        } else {
            match queue.try_recv() {
                Ok(job) => job,
                Err(crossbeam_channel::TryRecvError::Empty) => {
                    if done.send(std::mem::take(&mut batch)).is_err() {
                        return;
                    }
                    continue;
                }
                Err(crossbeam_channel::TryRecvError::Disconnected) => return,
            }
        };
        if batch.is_empty() {
            held_since = Instant::now();
        }
        jobs.push(job);
        while jobs.len() < VERIFY_TOGETHER
            && let Ok(job) = queue.try_recv()
        {
            jobs.push(job);
        }
        let verdicts = {
            let items: Vec<(&StreamMessage, &[u8])> = jobs
                .iter()
                .map(|job| (job.candidate.message(), &job.frame[..]))
                .collect();
            verifier.verify_frames(&items)
        };
        for (job, verified) in jobs.drain(..).zip(verdicts) {
            batch.push(Done {
                seq: job.seq,
                candidate: job.candidate,
                frame: job.frame,
                verified,
            });
        }
        if (batch.len() >= VERDICT_BATCH || held_since.elapsed() >= HOLD_VERDICTS)
            && done.send(std::mem::take(&mut batch)).is_err()
        {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use rivulet_protocol::{
        Address, ChainId, ContentType, Encryption, MessageId, MessageType, Partition,
        SignatureType, Signer, UnsignedMessage,
    };
    use rivulet_validate::{Precheck, PublishPermission, Validator, ValidatorConfig, Verdict};

    use super::*;

    struct Everyone;
    impl PublishPermission for Everyone {
        fn may_publish(&self, _: &str, _: Address, _: u64) -> bool {
            true
        }
        fn may_subscribe(&self, _: &str, _: Address, _: u64) -> bool {
            true
        }
    }

    fn frame(signer: &Signer, partition: u32, seq: u32, ts: u64) -> Vec<u8> {
        let body = UnsignedMessage {
            id: MessageId {
                stream_id: "rivulet.eth/pool".parse().unwrap(),
                partition: Partition::new(partition).unwrap(),
                timestamp: ts,
                sequence_number: seq,
                publisher: signer.address(),
                chain_id: ChainId::new("c").unwrap(),
            },
            prev: None,
            message_type: MessageType::Data,
            content_type: ContentType::Json,
            encryption: Encryption::None,
            new_group_key: None,
            content: br#"{"n":1}"#.to_vec(),
            signature_type: SignatureType::Eip191Secp256k1,
        };
        signer.sign(body).unwrap().encode().unwrap()
    }

    #[tokio::test]
    async fn verdicts_come_back_in_submission_order_and_forgeries_fail() {
        let mut validator = Validator::new(ValidatorConfig::default());
        let mut pool = Verification::<usize>::start(3).unwrap();
        let signers: Vec<Signer> = (1..=4u8)
            .map(|n| Signer::from_bytes(&[n; 32]).unwrap())
            .collect();
        let now_ms = 1_700_000_000_000u64;
        let mut frames = Vec::new();
        for i in 0..200u32 {
            let signer = &signers[i as usize % signers.len()];
            let mut wire = frame(signer, i % 3, i, now_ms);
            if i % 17 == 0 {
                // Another publisher's signature on this body: a forgery.
                let other = frame(&signers[(i as usize + 1) % 4], 0, i, now_ms);
                let at = wire.len() - 65;
                wire[at..].copy_from_slice(&other[other.len() - 65..]);
            }
            frames.push(wire);
        }
        for (i, wire) in frames.iter().enumerate() {
            assert!(pool.has_room());
            match validator.precheck(wire, now_ms, &Everyone) {
                Precheck::Verify(candidate) => pool.submit(candidate, wire.clone(), i),
                other => panic!("frame {i} did not reach verification: {other:?}"),
            }
        }
        assert_eq!(pool.in_flight(), frames.len());
        let mut seen = Vec::new();
        while seen.len() < frames.len() {
            for v in pool.next().await {
                let verdict = validator.finish(v.candidate, &v.frame, v.verified);
                match verdict {
                    Verdict::Accept(_) => {
                        assert!(v.context % 17 != 0, "forgery {} accepted", v.context)
                    }
                    Verdict::Reject(_) => assert!(v.context % 17 == 0, "{} refused", v.context),
                    Verdict::Duplicate => panic!("{} a duplicate", v.context),
                }
                seen.push(v.context);
            }
        }
        assert_eq!(seen, (0..frames.len()).collect::<Vec<_>>());
        assert_eq!(pool.in_flight(), 0);
        // Light traffic is verified where it arrives, up to the window's budget, and never while
        // anything is in the pool.
        let now = Instant::now();
        let here = (0..INLINE_PER_WINDOW + 5)
            .filter(|_| pool.verify_here(now))
            .count();
        assert_eq!(here, INLINE_PER_WINDOW as usize);
        assert!(pool.verify_here(now + INLINE_WINDOW));
        let Precheck::Verify(candidate) =
            validator.precheck(&frame(&signers[0], 0, 999, now_ms), now_ms, &Everyone)
        else {
            panic!("a new event reaches verification");
        };
        pool.submit(candidate, Vec::new(), 999);
        assert!(!pool.verify_here(now + INLINE_WINDOW * 3));
        // The same bytes again are duplicates before any verification.
        assert!(matches!(
            validator.precheck(&frames[1], now_ms, &Everyone),
            Precheck::Duplicate
        ));
        // A lone verdict is sent at once, not held for others to join it.
        let lone = tokio::time::timeout(Duration::from_secs(5), pool.next())
            .await
            .expect("the lone verdict comes back");
        assert_eq!(lone.iter().map(|v| v.context).collect::<Vec<_>>(), [999]);
    }
}
