//! Publishes in batches. At most [`MAX_PUBLISHES_IN_FLIGHT`] publish requests are out at once; the
//! publishes made meanwhile wait here and go, when one comes back, as one `PublishBatch` (up to the
//! protocol's batch limits), each answered on its own. A lone publish pays one request; a busy publisher
//! pays one request per batch instead of one per event, and while requests are out a handful of waiting
//! publishes waits for more ([`MIN_BATCH_WHILE_BUSY`]) instead of taking a request slot each.

use rivulet_network::light::{LightRequest, MAX_PUBLISH_BATCH, MAX_PUBLISH_BATCH_BYTES};

use super::{Driver, MAX_PUBLISHES_IN_FLIGHT, MIN_BATCH_WHILE_BUSY, Pending, reply::Reply};
use crate::runtime::now_ms;

impl Driver {
    /// A publish request came back (answered or failed): room for the next batch.
    pub(super) fn publish_finished(&mut self) {
        self.publishes_in_flight = self.publishes_in_flight.saturating_sub(1);
        self.send_waiting_publishes();
    }

    /// Sends what waits, as a batch, while there is room in flight.
    pub(super) fn send_waiting_publishes(&mut self) {
        let (true, Some(entry)) = (self.ready, self.entry) else {
            return;
        };
        while self.publishes_in_flight < MAX_PUBLISHES_IN_FLIGHT
            && !self.waiting_publishes.is_empty()
            && (self.publishes_in_flight == 0
                || self.waiting_publishes.len() >= MIN_BATCH_WHILE_BUSY)
        {
            let mut batch: Vec<Pending> = Vec::new();
            let mut bytes = 0;
            while let Some(next) = self.waiting_publishes.front() {
                // A publish waiting for a quorum goes on its own (a batch's answers are local).
                let (len, alone) = match &next.request {
                    LightRequest::Publish { wire, acks } => (wire.len(), !acks.is_local()),
                    _ => (0, false),
                };
                if !batch.is_empty()
                    && (alone
                        || batch.len() >= MAX_PUBLISH_BATCH
                        || bytes + len > MAX_PUBLISH_BATCH_BYTES)
                {
                    break;
                }
                bytes += len;
                if let Some(next) = self.waiting_publishes.pop_front() {
                    batch.push(next);
                }
                if alone {
                    break;
                }
            }
            let pending = if batch.len() == 1 {
                batch.remove(0)
            } else {
                let mut wires = Vec::with_capacity(batch.len());
                let mut replies = Vec::with_capacity(batch.len());
                for pending in batch {
                    if let (LightRequest::Publish { wire, .. }, Reply::User(reply)) =
                        (pending.request, pending.reply)
                    {
                        wires.push(wire);
                        replies.push(reply);
                    }
                }
                Pending {
                    request: LightRequest::PublishBatch { wires },
                    reply: Reply::Batch(replies),
                    attempts: 0,
                    queued_at: now_ms(),
                }
            };
            self.send_to(entry, pending);
        }
    }

    /// The session went away: what waits for a batch waits for the next session, first in line.
    pub(super) fn requeue_waiting_publishes(&mut self) {
        self.publishes_in_flight = 0;
        while let Some(pending) = self.waiting_publishes.pop_back() {
            self.queued.push_front(pending);
        }
    }
}
