//! Backfill: a node newly assigned to a stream part (or back after a crash, or with an empty data
//! directory) copies the part's history from the other replicas, page by page, checking every event by
//! the copied-history rule (`rivulet_validate::check_copied`: signature, part, permission at the event's
//! own timestamp) and storing it durably, before it serves the part or reports its checksums.

use std::sync::Arc;

use rivulet_network::{
    HistoryQuery,
    libp2p::{Multiaddr, PeerId},
};
use rivulet_protocol::{Limits, StreamMessage, StreamPartId, Verifier};
use rivulet_store::Store;
use rivulet_validate::check_copied;
use tokio::sync::{mpsc, oneshot};
use tracing::{debug, warn};

use super::snapshot::Placement;
use crate::{
    metrics::Metrics,
    node::{
        access::{Access, CachedPermissions, now_ms},
        commands::Command,
        store_writer::StoreQueue,
    },
};

/// How far before the newest event a node already holds a backfill starts again: events stamped up to
/// the live window (60 s by default) before it may have arrived after it.
pub(crate) const RESUME_MARGIN_MS: u64 = 120_000;

/// What a backfill needs of the node.
#[derive(Clone)]
pub(crate) struct BackfillContext {
    /// Where pages are asked for (the event loop owns the swarm).
    pub(crate) commands: mpsc::Sender<Command>,
    /// Where copied events are stored.
    pub(crate) store_queue: StoreQueue,
    /// The store (to find where this node's history of a part ends).
    pub(crate) store: Arc<Store>,
    /// Permissions and the chain's clock.
    pub(crate) access: Access,
    /// Decoder limits.
    pub(crate) limits: Limits,
    /// How far ahead of this node's clock an event may be stamped.
    pub(crate) max_future_skew_ms: u64,
    /// Counters.
    pub(crate) metrics: Arc<Metrics>,
}

/// How a backfill went.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Copied {
    /// Events stored (new or already held).
    pub(crate) events: usize,
    /// Events refused by the copied-history rule.
    pub(crate) refused: usize,
    /// The replica that answered, if any did; `None` when none serves the part yet (a part new to the
    /// whole network: there is nothing to copy).
    pub(crate) from: Option<PeerId>,
}

/// Where this node's backfill of `part` starts (ms): the start of what the network keeps — when storage
/// began, or the retention period back from now — or, when this node already holds events of the part,
/// [`RESUME_MARGIN_MS`] before its newest. Call before live events of the part are stored.
pub(crate) fn backfill_start(
    store: &Store,
    part: &StreamPartId,
    placement: &Placement,
    limits: &Limits,
    now_ms: u64,
) -> u64 {
    let retained = match placement.retention_secs {
        0 => 0,
        secs => now_ms.saturating_sub(secs.saturating_mul(1000)),
    };
    let kept_from = retained.max(placement.since.saturating_mul(1000));
    let newest = store
        .last(part, 1)
        .ok()
        .and_then(|wires| wires.into_iter().next())
        .and_then(|wire| StreamMessage::decode(&wire, limits).ok())
        .map(|m| m.id().timestamp);
    match newest {
        Some(ts) => kept_from.max(ts.saturating_sub(RESUME_MARGIN_MS)),
        None => kept_from,
    }
}

/// Copies `part`'s history from `from_ms` up to now from the first of `replicas` (lowest score first)
/// that serves it. `Err` when some replica could not be reached and none answered: try again later.
pub(crate) async fn backfill(
    ctx: &BackfillContext,
    part: &StreamPartId,
    replicas: &[(PeerId, Vec<Multiaddr>)],
    from_ms: u64,
) -> Result<Copied, String> {
    let mut unreachable = Vec::new();
    let mut verifier = Verifier::new(1024);
    for (peer, addresses) in replicas {
        let mut query = HistoryQuery::Range {
            from: (from_ms, 0),
            to: (now_ms().saturating_add(ctx.max_future_skew_ms), u32::MAX),
            resume: None,
        };
        let mut copied = Copied {
            from: Some(*peer),
            ..Copied::default()
        };
        let mut answered = false;
        loop {
            let page = match page(ctx, part, *peer, addresses, query).await {
                Ok(page) => page,
                Err(e) if !answered && e.contains("does not serve") => {
                    debug!(%part, %peer, "replica does not serve the part yet");
                    break;
                }
                Err(e) => {
                    unreachable.push(format!("{peer}: {e}"));
                    break;
                }
            };
            answered = true;
            let (wires, next) = page;
            store_page(ctx, part, wires, &mut verifier, &mut copied).await?;
            match next {
                Some(rest) => query = rest,
                None => return Ok(copied),
            }
        }
        if answered {
            // The replica stopped answering midway: what was copied stays; the rest comes from another.
            continue;
        }
    }
    if unreachable.is_empty() {
        Ok(Copied::default())
    } else {
        Err(format!(
            "no replica answered for {part}: {}",
            unreachable.join("; ")
        ))
    }
}

async fn page(
    ctx: &BackfillContext,
    part: &StreamPartId,
    peer: PeerId,
    addresses: &[Multiaddr],
    query: HistoryQuery,
) -> Result<(Vec<Vec<u8>>, Option<HistoryQuery>), String> {
    let (reply, answer) = oneshot::channel();
    ctx.commands
        .send(Command::RemoteHistory {
            part: part.clone(),
            query,
            reader: None,
            peers: vec![(peer, addresses.to_vec())],
            reply,
        })
        .await
        .map_err(|_| "the node is stopping".to_owned())?;
    answer
        .await
        .map_err(|_| "the node is stopping".to_owned())?
}

/// Checks a page's events and stores those admitted, waiting until they are durable.
async fn store_page(
    ctx: &BackfillContext,
    part: &StreamPartId,
    wires: Vec<Vec<u8>>,
    verifier: &mut Verifier,
    copied: &mut Copied,
) -> Result<(), String> {
    let now = now_ms();
    let mut acks = Vec::with_capacity(wires.len());
    {
        let cache = ctx.access.permissions();
        let permissions = CachedPermissions(&cache);
        for wire in wires {
            match check_copied(
                &wire,
                part,
                now,
                ctx.max_future_skew_ms,
                &ctx.limits,
                &permissions,
                verifier,
            ) {
                Ok(message) => {
                    let (ack, done) = oneshot::channel();
                    ctx.store_queue.push(&message, wire, Some(ack));
                    acks.push(done);
                }
                Err(refusal) => {
                    copied.refused += 1;
                    ctx.metrics.backfill_refused(refusal.reason());
                    warn!(%part, "copied event refused: {refusal}");
                }
            }
        }
    }
    let stored = acks.len();
    for done in acks {
        if !done.await.unwrap_or(false) {
            return Err(format!("storing copied events of {part} failed"));
        }
    }
    copied.events += stored;
    ctx.metrics.backfilled.inc_by(stored as u64);
    Ok(())
}
