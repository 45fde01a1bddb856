//! A subscription: the events a node pushes for one stream part, each verified here, put in order per
//! publisher chain, with duplicates dropped and gaps filled by resend; encrypted events decrypted, with
//! the keys asked of their publishers when missing (events wait, in order, until their key arrives). An
//! event whose key does not come in time is reported undecryptable and kept aside: its key is asked
//! for again, less and less often (at once when its publisher shows up with a new event), and the event
//! is handed out late if the key comes after all — a publisher that was away and restarts with its keys.

use std::{
    collections::{HashMap, HashSet, VecDeque},
    time::Duration,
};

use futures::FutureExt;
use rivulet_network::{HistoryQuery, light::Delivery};
use rivulet_protocol::{
    Address, ChainKey, ChainTracker, GroupKeyId, Ingest, Limits, MessageType, StreamMessage,
    StreamPartId, Verifier,
    encryption::{CryptoError, GroupKey, decrypt_content, open_next_key},
};

use crate::{
    client::{Client, lock},
    driver::Command,
    runtime::now_ms,
};

/// What a subscription yields.
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(clippy::large_enum_variant)] // Events pass through once; boxing would cost an allocation each.
pub enum SubscriptionEvent {
    /// A verified event, in chain order.
    Message(StreamMessage),
    /// Events that could not be recovered (the node dropped them and no node stores them); delivery
    /// goes on after them.
    Gap {
        /// The publisher whose events are missing.
        publisher: String,
    },
    /// The subscription ended on the node's side (the permission lapsed or was revoked).
    Ended(String),
    /// An encrypted event whose key could not be obtained (or did not open it); delivery goes on. If
    /// the key was merely not had in time, the event may still come as [`SubscriptionEvent::Late`].
    Undecryptable {
        /// The publisher.
        publisher: String,
        /// The event's timestamp (Unix ms), which with the publisher names it.
        timestamp: u64,
        /// The key it names.
        group_key_id: String,
        /// Why.
        reason: String,
    },
    /// An event reported [`SubscriptionEvent::Undecryptable`] earlier for want of its key, decrypted
    /// now that the key has come (its publisher came back, say): out of chain order, after the events
    /// that followed it.
    Late(StreamMessage),
}

/// Publishers whose public keys a subscription remembers.
const KNOWN_PUBLISHERS: usize = 1_024;
/// How long an out-of-order event waits for the ones before it before they are resent.
const GAP_GRACE: Duration = Duration::from_millis(800);
/// How long events wait for a group key before they are given up as undecryptable.
const KEY_WAIT: Duration = Duration::from_secs(10);
/// How long a key request goes unanswered before it is asked again (requests and answers travel by
/// gossip, which may drop them while a part's mesh forms).
const KEY_REASK: Duration = Duration::from_secs(2);
/// Events given up for want of a key that are kept in case it comes later (the oldest go first).
const MAX_PARKED: usize = 1_000;
/// How long after giving events up their keys are asked for again; the wait doubles up to
/// [`PARKED_REASK_MAX`] while nothing comes. A new event of their publisher brings the next ask
/// forward to [`PARKED_REASK_MIN`] after the last.
const PARKED_REASK_MIN: Duration = Duration::from_secs(5);
const PARKED_REASK_MAX: Duration = Duration::from_secs(60);
/// Different keys asked for again in one round.
const PARKED_KEYS_PER_ASK: usize = 8;
/// Out-of-order events kept per chain; chains tracked per subscription.
const MAX_WAITING: usize = 10_000;
const MAX_CHAINS: usize = 10_000;

/// One subscription to a stream part. Read it with [`Subscription::next`]; dropping it unsubscribes.
pub struct Subscription {
    part: StreamPartId,
    id: u64,
    client: Client,
    deliveries: async_channel::Receiver<Delivery>,
    tracker: ChainTracker<StreamMessage>,
    ready: VecDeque<SubscriptionEvent>,
    gapped: HashSet<ChainKey>,
    gap_due: Option<u64>,
    limits: Limits,
    /// Checks pushed events, with the keys of the part's publishers remembered (verifying with a
    /// known key is cheaper than recovering one from every signature).
    verifier: Verifier,
    rejected: u64,
    ended: bool,
    /// Events waiting for a group key, in delivery order.
    held: VecDeque<StreamMessage>,
    /// Keys asked for (or to ask for), with when they were last asked; when the front of `held`
    /// started waiting.
    asked: HashMap<GroupKeyId, u64>,
    to_ask: Vec<(Address, GroupKeyId)>,
    held_since: u64,
    /// Events given up for want of a key, oldest first, in case the key comes later.
    parked: VecDeque<StreamMessage>,
    /// When their keys are next asked for, when they were last asked, and the wait after that ask.
    parked_ask_due: u64,
    parked_asked_at: u64,
    parked_backoff: Duration,
    /// The client's key generation when `parked` was last looked at.
    parked_generation: u64,
}

impl Subscription {
    pub(crate) fn new(
        part: StreamPartId,
        id: u64,
        client: Client,
        deliveries: async_channel::Receiver<Delivery>,
    ) -> Subscription {
        Subscription {
            part,
            id,
            limits: client.limits(),
            client,
            deliveries,
            tracker: ChainTracker::new(MAX_WAITING, MAX_CHAINS),
            ready: VecDeque::new(),
            gapped: HashSet::new(),
            gap_due: None,
            verifier: Verifier::new(KNOWN_PUBLISHERS),
            rejected: 0,
            ended: false,
            held: VecDeque::new(),
            asked: HashMap::new(),
            to_ask: Vec::new(),
            held_since: 0,
            parked: VecDeque::new(),
            parked_ask_due: 0,
            parked_asked_at: 0,
            parked_backoff: PARKED_REASK_MIN,
            parked_generation: 0,
        }
    }

    /// The stream part.
    pub fn part(&self) -> &StreamPartId {
        &self.part
    }

    /// How many pushed events failed verification and were dropped (a faulty or hostile node).
    pub fn rejected(&self) -> u64 {
        self.rejected
    }

    /// Feeds history (oldest first) ahead of live events: duplicates of it are dropped later.
    pub(crate) fn preload(&mut self, messages: Vec<StreamMessage>) {
        for message in messages {
            self.ingest(message);
        }
    }

    /// The next event; `None` once the subscription has ended and everything was read.
    pub async fn next(&mut self) -> Option<SubscriptionEvent> {
        loop {
            if let Some(event) = self.ready.pop_front() {
                return Some(event);
            }
            if self.ended && self.held.is_empty() {
                return None;
            }
            if !self.to_ask.is_empty() {
                self.ask_for_keys().await;
                continue;
            }
            if !self.parked.is_empty() && self.client.key_generation() != self.parked_generation {
                self.recover_parked();
                continue;
            }
            let key_due =
                (!self.held.is_empty()).then(|| self.held_since + KEY_WAIT.as_millis() as u64);
            if key_due.is_some_and(|due| now_ms() >= due) {
                self.give_up_front(GiveUp::NoKeyInTime);
                continue;
            }
            let parked_due = (!self.parked.is_empty()).then_some(self.parked_ask_due);
            if !self.ended && parked_due.is_some_and(|due| now_ms() >= due) {
                self.ask_for_parked_keys().await;
                continue;
            }
            let key_due = match (key_due, parked_due.filter(|_| !self.ended)) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            let reask_due = self.reask_due();
            if reask_due.is_some_and(|due| now_ms() >= due) {
                self.release();
                continue;
            }
            let key_due = match (key_due, reask_due) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            if self.ended {
                // Nothing more will arrive: what waits for keys is given up.
                self.give_up_front(GiveUp::Because("the subscription ended"));
                continue;
            }
            let due = match (self.gap_due, key_due) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            if let Some(due) = due {
                let now = now_ms();
                if self.gap_due.is_some_and(|g| now >= g) {
                    self.fill_gaps().await;
                    continue;
                }
                let wait =
                    futures_timer::Delay::new(Duration::from_millis(due.saturating_sub(now)))
                        .fuse();
                futures::pin_mut!(wait);
                futures::select! {
                    delivery = self.deliveries.recv().fuse() => self.on_delivery(delivery.ok()),
                    _ = wait => {}
                }
            } else {
                let delivery = self.deliveries.recv().await.ok();
                self.on_delivery(delivery);
            }
        }
    }

    fn on_delivery(&mut self, delivery: Option<Delivery>) {
        match delivery {
            Some(Delivery::Events { messages, .. }) => {
                // This client's own events come back as signed: no verifying those (see
                // `OwnSignatures`); everyone else's are verified. The lock is held only to look.
                for wire in messages {
                    let own = &self.client.inner.own;
                    let checked =
                        self.verifier
                            .decode_verified_or_own(&wire, &self.limits, |h, s| {
                                lock(own).made(h, s)
                            });
                    match checked {
                        Ok(message) if message.id().stream_part() == self.part => {
                            self.ingest(message)
                        }
                        _ => self.rejected += 1,
                    }
                }
            }
            // Dropped events show up as gaps in their chains when the next one arrives.
            Some(Delivery::Lagged { .. }) => {}
            Some(Delivery::Ended { reason, .. }) => {
                self.ready.push_back(SubscriptionEvent::Ended(reason));
                self.ended = true;
            }
            None => self.ended = true,
        }
    }

    fn ingest(&mut self, message: StreamMessage) {
        let key = ChainKey {
            part: self.part.clone(),
            publisher: message.id().publisher,
            chain_id: message.id().chain_id.clone(),
        };
        let at = message.message_ref();
        let prev = message.body.prev;
        match self.tracker.ingest(key.clone(), at, prev, message) {
            Ingest::Deliver(messages) => {
                for message in messages {
                    self.surface(message);
                }
            }
            Ingest::Duplicate => {}
            Ingest::Buffered { .. } | Ingest::Overflow => {
                self.gapped.insert(key);
                self.gap_due
                    .get_or_insert(now_ms() + GAP_GRACE.as_millis() as u64);
            }
        }
    }

    /// Asks for exactly the missing events of every chain with a gap; what no node has is skipped.
    async fn fill_gaps(&mut self) {
        self.gap_due = None;
        for key in std::mem::take(&mut self.gapped) {
            for gap in self.tracker.gaps(&key) {
                let query = HistoryQuery::Chain {
                    publisher: key.publisher.to_checksum(),
                    chain_id: key.chain_id.as_str().to_owned(),
                    after: (gap.from.timestamp, gap.from.sequence_number),
                    to: (gap.to.timestamp, gap.to.sequence_number),
                };
                if let Ok(messages) = self.client.resend(&self.part, query).await {
                    for message in messages {
                        self.ingest(message);
                    }
                }
            }
            if self.tracker.waiting(&key) > 0 {
                let skipped = self.tracker.skip_gaps(&key);
                self.ready.push_back(SubscriptionEvent::Gap {
                    publisher: key.publisher.to_checksum(),
                });
                for message in skipped {
                    self.surface(message);
                }
            }
        }
        // Gaps found while filling (none are expected) wait for the next round.
        if !self.gapped.is_empty() && self.gap_due.is_none() {
            self.gap_due = Some(now_ms() + GAP_GRACE.as_millis() as u64);
        }
    }
}

impl Subscription {
    /// Hands out an event in chain order: key-exchange messages are handled here, not handed out;
    /// encrypted events are decrypted or wait for their key.
    fn surface(&mut self, message: StreamMessage) {
        match message.body.message_type {
            MessageType::GroupKeyResponse => {
                let keys = self.client.open_key_response(&message);
                if !keys.is_empty() {
                    for key in keys {
                        self.client.add_group_key(key);
                    }
                    self.release();
                }
            }
            MessageType::GroupKeyRequest => {}
            MessageType::Data => {
                // Its publisher is here: keys given up on may be had from it now.
                let publisher = message.id().publisher;
                if self.parked.iter().any(|m| m.id().publisher == publisher) {
                    self.parked_ask_due = self
                        .parked_ask_due
                        .min(self.parked_asked_at + PARKED_REASK_MIN.as_millis() as u64);
                }
                if self.held.is_empty() {
                    self.held_since = now_ms();
                }
                self.held.push_back(message);
                self.release();
            }
        }
    }

    /// Hands out held events from the front while their keys are known; asks for the first missing one.
    fn release(&mut self) {
        while let Some(front) = self.held.front() {
            let Some(id) = front.body.encryption.group_key_id().cloned() else {
                if let Some(m) = self.held.pop_front() {
                    self.ready.push_back(SubscriptionEvent::Message(m));
                }
                continue;
            };
            match self.client.group_key(&id) {
                Some(key) => {
                    let Some(mut message) = self.held.pop_front() else {
                        break;
                    };
                    match self.decrypt(&mut message, &key) {
                        Ok(()) => self.ready.push_back(SubscriptionEvent::Message(message)),
                        Err(e) => self
                            .ready
                            .push_back(undecryptable(&message, &e.to_string())),
                    }
                    self.held_since = now_ms();
                }
                None => {
                    let now = now_ms();
                    let due = self
                        .asked
                        .get(&id)
                        .is_none_or(|at| now >= at + KEY_REASK.as_millis() as u64);
                    if due && !self.to_ask.iter().any(|(_, asked)| *asked == id) {
                        self.asked.insert(id.clone(), now);
                        self.to_ask.push((front.id().publisher, id));
                    }
                    break;
                }
            }
        }
    }

    /// Looks for the missing keys in envelopes, then publishes requests for those still missing; a
    /// refused request gives up the events that wait for that key.
    async fn ask_for_keys(&mut self) {
        // First the envelopes in the part's history: keys sealed to this reader, there even while their
        // publisher is away.
        if self
            .client
            .keys_from_envelopes(&self.part)
            .await
            .unwrap_or(0)
            > 0
        {
            self.release();
        }
        for (publisher, id) in std::mem::take(&mut self.to_ask) {
            if self.client.group_key(&id).is_some() {
                continue;
            }
            if let Err(e) = self
                .client
                .request_group_keys(&self.part, publisher, std::slice::from_ref(&id))
                .await
            {
                let reason = format!("the key request was refused: {e}");
                while self
                    .held
                    .front()
                    .is_some_and(|m| m.body.encryption.group_key_id() == Some(&id))
                {
                    self.give_up_front(GiveUp::Because(&reason));
                }
            }
        }
    }

    /// When the key the front held event waits for is to be asked for again.
    fn reask_due(&self) -> Option<u64> {
        let id = self.held.front()?.body.encryption.group_key_id()?;
        let at = self.asked.get(id)?;
        Some(at + KEY_REASK.as_millis() as u64)
    }

    /// Gives up the first held event as undecryptable and goes on with the rest; one whose key merely
    /// did not come in time is kept aside in case it comes later, and so are the events right behind
    /// it that wait for the same key.
    fn give_up_front(&mut self, why: GiveUp<'_>) {
        if let Some(m) = self.held.pop_front() {
            self.ready.push_back(undecryptable(&m, why.reason()));
            if matches!(why, GiveUp::NoKeyInTime) {
                if self.parked.is_empty() {
                    let now = now_ms();
                    self.parked_backoff = PARKED_REASK_MIN;
                    self.parked_ask_due = now + PARKED_REASK_MIN.as_millis() as u64;
                    self.parked_asked_at = now;
                    self.parked_generation = self.client.key_generation();
                }
                let key = m.body.encryption.group_key_id().cloned();
                self.park(m);
                while key.is_some()
                    && self
                        .held
                        .front()
                        .is_some_and(|next| next.body.encryption.group_key_id() == key.as_ref())
                {
                    if let Some(next) = self.held.pop_front() {
                        self.ready.push_back(undecryptable(&next, why.reason()));
                        self.park(next);
                    }
                }
            }
        }
        self.held_since = now_ms();
        self.release();
    }

    /// Keeps `message` aside in case its key comes later (the oldest kept goes when there are too many).
    fn park(&mut self, message: StreamMessage) {
        if self.parked.len() == MAX_PARKED {
            self.parked.pop_front();
        }
        self.parked.push_back(message);
    }

    /// Replaces `message`'s content by its plaintext under `key`, taking in the next key when it
    /// announces a rotation (the next key travels sealed under this one).
    fn decrypt(&self, message: &mut StreamMessage, key: &GroupKey) -> Result<(), CryptoError> {
        let plain = decrypt_content(&message.body, key)?;
        if let Some(sealed) = &message.body.new_group_key
            && let Ok(next) = open_next_key(key, sealed)
        {
            self.client.add_group_key(next);
        }
        message.body.content = plain;
        Ok(())
    }

    /// Hands out, late, the kept-aside events whose keys have come since.
    fn recover_parked(&mut self) {
        self.parked_generation = self.client.key_generation();
        let mut still = VecDeque::with_capacity(self.parked.len());
        for mut message in std::mem::take(&mut self.parked) {
            let Some(key) = message
                .body
                .encryption
                .group_key_id()
                .and_then(|id| self.client.group_key(id))
            else {
                still.push_back(message);
                continue;
            };
            // Reported undecryptable already: one that does not open with its key is left at that.
            if self.decrypt(&mut message, &key).is_ok() {
                self.ready.push_back(SubscriptionEvent::Late(message));
            }
        }
        self.parked = still;
    }

    /// Asks again for the keys of kept-aside events (envelopes first, then their publishers), a few
    /// keys a round; the next round waits twice as long. A refused request drops the events of that key.
    async fn ask_for_parked_keys(&mut self) {
        let now = now_ms();
        self.parked_asked_at = now;
        self.parked_ask_due = now + self.parked_backoff.as_millis() as u64;
        self.parked_backoff = (self.parked_backoff * 2).min(PARKED_REASK_MAX);
        let _ = self.client.keys_from_envelopes(&self.part).await;
        let mut wanted: Vec<(Address, GroupKeyId)> = Vec::new();
        for m in &self.parked {
            if let Some(id) = m.body.encryption.group_key_id()
                && !wanted.iter().any(|(_, w)| w == id)
                && self.client.group_key(id).is_none()
            {
                wanted.push((m.id().publisher, id.clone()));
                if wanted.len() == PARKED_KEYS_PER_ASK {
                    break;
                }
            }
        }
        for (publisher, id) in wanted {
            if self
                .client
                .request_group_keys(&self.part, publisher, std::slice::from_ref(&id))
                .await
                .is_err()
            {
                self.parked
                    .retain(|m| m.body.encryption.group_key_id() != Some(&id));
            }
        }
    }
}

/// The notice for an event that could not be decrypted.
fn undecryptable(m: &StreamMessage, reason: &str) -> SubscriptionEvent {
    SubscriptionEvent::Undecryptable {
        publisher: m.id().publisher.to_checksum(),
        timestamp: m.id().timestamp,
        group_key_id: m
            .body
            .encryption
            .group_key_id()
            .map(|id| id.as_str().to_owned())
            .unwrap_or_default(),
        reason: reason.to_owned(),
    }
}

/// Why a held event is given up.
#[derive(Clone, Copy)]
enum GiveUp<'a> {
    /// Its key did not come within [`KEY_WAIT`]: it is kept aside in case the key comes later.
    NoKeyInTime,
    /// For good.
    Because(&'a str),
}

impl GiveUp<'_> {
    fn reason(&self) -> &str {
        match self {
            GiveUp::NoKeyInTime => "no key arrived within 10 s",
            GiveUp::Because(reason) => reason,
        }
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        if !self.ended {
            self.client.command_later(Command::Unsubscribe {
                part: self.part.clone(),
                id: self.id,
            });
        }
    }
}
