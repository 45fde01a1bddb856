//! The store writer: a task that group-commits accepted events to the history store — whatever is
//! queued (up to [`MAX_BATCH`] events) goes in one durable transaction — and only then acknowledges the
//! publishes waiting on them.

use std::sync::Arc;

use rivulet_protocol::{Address, MessageId, MessageType, StreamMessage};
use rivulet_store::{Entry, Store};
use serde::Deserialize;
use tokio::sync::{mpsc, oneshot};
use tracing::warn;

use crate::metrics::Metrics;

/// Most events in one transaction.
const MAX_BATCH: usize = 1000;
/// Events queued for the writer before new ones are refused.
const QUEUE: usize = 16_384;

struct StoreJob {
    id: MessageId,
    wire: Vec<u8>,
    envelope_for: Option<Address>,
    ack: Option<oneshot::Sender<bool>>,
}

/// The recipient of a group-key response (an answer to a key request, or an envelope a publisher
/// sealed for a reader): the store indexes it by recipient, so readers find their keys.
pub(crate) fn envelope_recipient(message: &StreamMessage) -> Option<Address> {
    #[derive(Deserialize)]
    struct Addressed {
        recipient: String,
    }
    if message.body.message_type != MessageType::GroupKeyResponse {
        return None;
    }
    serde_json::from_slice::<Addressed>(&message.body.content)
        .ok()?
        .recipient
        .parse()
        .ok()
}

/// Where accepted events are queued for storing. Cheap to clone.
#[derive(Clone, Debug)]
pub(crate) struct StoreQueue {
    jobs: mpsc::Sender<StoreJob>,
    /// Testing only (`--testing.drop-stored`): events whose wire bytes contain this are acknowledged
    /// but never written — a store that lost or withheld events, for the tests that catch one.
    drop_containing: Option<Arc<[u8]>>,
}

impl std::fmt::Debug for StoreJob {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreJob").field("id", &self.id).finish()
    }
}

impl StoreQueue {
    /// Starts the writer task on `store`.
    pub(crate) fn start(
        store: Arc<Store>,
        metrics: Arc<Metrics>,
        drop_containing: Option<Vec<u8>>,
    ) -> StoreQueue {
        let (jobs, receiver) = mpsc::channel(QUEUE);
        tokio::spawn(write(store, metrics, receiver));
        StoreQueue {
            jobs,
            drop_containing: drop_containing.map(Arc::from),
        }
    }

    /// Queues an event; `ack`, if any, learns whether it is durable. When the writer is far behind the
    /// event is refused (`ack` gets false) rather than buffered without bound.
    pub(crate) fn push(
        &self,
        message: &StreamMessage,
        wire: Vec<u8>,
        ack: Option<oneshot::Sender<bool>>,
    ) {
        if let Some(marker) = &self.drop_containing
            && wire.windows(marker.len()).any(|w| w == &marker[..])
        {
            warn!(id = ?message.id(), "testing: event dropped instead of stored");
            if let Some(ack) = ack {
                let _ = ack.send(true);
            }
            return;
        }
        let job = StoreJob {
            id: message.id().clone(),
            envelope_for: envelope_recipient(message),
            wire,
            ack,
        };
        if let Err(e) = self.jobs.try_send(job) {
            warn!("store queue full; event not stored");
            if let mpsc::error::TrySendError::Full(job) | mpsc::error::TrySendError::Closed(job) = e
                && let Some(ack) = job.ack
            {
                let _ = ack.send(false);
            }
        }
    }
}

async fn write(store: Arc<Store>, metrics: Arc<Metrics>, mut jobs: mpsc::Receiver<StoreJob>) {
    while let Some(first) = jobs.recv().await {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match jobs.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let store = store.clone();
        let (entries, acks): (Vec<_>, Vec<_>) = batch
            .into_iter()
            .map(|j| ((j.id, j.wire, j.envelope_for), j.ack))
            .unzip();
        let count = entries.len();
        let result = tokio::task::spawn_blocking(move || {
            store
                .append_entries(entries.iter().map(|(id, wire, to)| Entry {
                    id,
                    wire,
                    envelope_for: *to,
                }))
                .map(|new| (new, store.len().unwrap_or(0)))
        })
        .await;
        let ok = match result {
            Ok(Ok((new, total))) => {
                metrics.stored.inc_by(new as u64);
                metrics.store_messages.set(total as i64);
                true
            }
            Ok(Err(e)) => {
                warn!("storing {count} events failed: {e}");
                false
            }
            Err(e) => {
                warn!("store task failed: {e}");
                false
            }
        };
        for ack in acks.into_iter().flatten() {
            let _ = ack.send(ok);
        }
    }
}
