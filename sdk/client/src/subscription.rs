//! A subscription: the events a node pushes for one stream part, each verified here, put in order per
//! publisher chain, with duplicates dropped and gaps filled by resend.

use std::{collections::HashSet, collections::VecDeque, time::Duration};

use futures::{FutureExt, StreamExt, channel::mpsc};
use rivulet_network::{HistoryQuery, light::Delivery};
use rivulet_protocol::{
    ChainKey, ChainTracker, Ingest, Limits, StreamMessage, StreamPartId, signing::decode_verified,
};

use crate::{Client, driver::Command, runtime::now_ms};

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
}

/// How long an out-of-order event waits for the ones before it before they are resent.
const GAP_GRACE: Duration = Duration::from_millis(800);
/// Out-of-order events kept per chain; chains tracked per subscription.
const MAX_WAITING: usize = 10_000;
const MAX_CHAINS: usize = 10_000;

/// One subscription to a stream part. Read it with [`Subscription::next`]; dropping it unsubscribes.
pub struct Subscription {
    part: StreamPartId,
    id: u64,
    client: Client,
    deliveries: mpsc::UnboundedReceiver<Delivery>,
    tracker: ChainTracker<StreamMessage>,
    ready: VecDeque<SubscriptionEvent>,
    gapped: HashSet<ChainKey>,
    gap_due: Option<u64>,
    limits: Limits,
    rejected: u64,
    ended: bool,
}

impl Subscription {
    pub(crate) fn new(
        part: StreamPartId,
        id: u64,
        client: Client,
        deliveries: mpsc::UnboundedReceiver<Delivery>,
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
            rejected: 0,
            ended: false,
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
            if self.ended {
                return None;
            }
            if let Some(due) = self.gap_due {
                let now = now_ms();
                if now >= due {
                    self.fill_gaps().await;
                    continue;
                }
                let wait = futures_timer::Delay::new(Duration::from_millis(due - now)).fuse();
                futures::pin_mut!(wait);
                futures::select! {
                    delivery = self.deliveries.next() => self.on_delivery(delivery),
                    _ = wait => {}
                }
            } else {
                let delivery = self.deliveries.next().await;
                self.on_delivery(delivery);
            }
        }
    }

    fn on_delivery(&mut self, delivery: Option<Delivery>) {
        match delivery {
            Some(Delivery::Events { messages, .. }) => {
                for wire in messages {
                    match decode_verified(&wire, &self.limits) {
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
            Ingest::Deliver(messages) => self
                .ready
                .extend(messages.into_iter().map(SubscriptionEvent::Message)),
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
                self.ready
                    .extend(skipped.into_iter().map(SubscriptionEvent::Message));
            }
        }
        // Gaps found while filling (none are expected) wait for the next round.
        if !self.gapped.is_empty() && self.gap_due.is_none() {
            self.gap_due = Some(now_ms() + GAP_GRACE.as_millis() as u64);
        }
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        if !self.ended {
            self.client.command(Command::Unsubscribe {
                part: self.part.clone(),
                id: self.id,
            });
        }
    }
}
