//! A steady publisher: of `n` publishers, publisher `p` publishes events `p`, `p + n`, `p + 2n`, …
//! (one chain of its own); event `i` is signed when it falls due (`i / rate` seconds after the start)
//! and sent over the WebSocket API with `id: i`, up to [`WINDOW`] unanswered. When its node goes away
//! it moves to another and first sends again, byte for byte, what was not answered (publishing is
//! idempotent: a node that has an event answers `duplicate`); behind schedule after an outage, it
//! catches up as fast as the new node answers. Once its home node is back it has everything answered,
//! then moves home.

use std::{
    collections::BTreeMap,
    sync::Mutex,
    time::{Duration, Instant},
};

use anyhow::{Result, bail};
use futures::{SinkExt, StreamExt};
use rivulet_protocol::{ChainSigner, ContentType, MessageType};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use super::{
    placement::{Client, HOME_PROBE, Homing, Placement},
    plan::{Plan, connect},
    tally::{BlockTimes, Indices},
};
use crate::node::now_ms;

/// Publishes unanswered at most (the node reads up to 256 ahead of its answers).
const WINDOW: usize = 256;
/// How long the publisher tries to reach some node before it gives up.
const GIVE_UP_AFTER: Duration = Duration::from_secs(60);
/// Between attempts to reach a node.
const RETRY: Duration = Duration::from_millis(200);

/// What the publisher did, as it goes.
#[derive(Debug, Default)]
pub(super) struct PublishLog {
    /// Answered `published` with `stored: true`: on the entry node's disk.
    pub(super) acked: Indices,
    /// Answered `published` with `stored: false`: accepted and relayed, not on the entry node's disk.
    pub(super) not_stored: Indices,
    /// When each block of events was signed.
    pub(super) times: BlockTimes,
    /// Events signed and sent (each once, however often it was sent again).
    pub(super) sent: u64,
    /// Answers that said `duplicate` (an event sent again that its new node already had).
    pub(super) duplicates: u64,
    /// Refusals, by error code.
    pub(super) refused: BTreeMap<String, u64>,
    /// Times a publisher moved to another node because its node went away.
    pub(super) reconnects: u64,
    /// Times a publisher moved back home.
    pub(super) returned_home: u64,
    /// Events sent again after a move.
    pub(super) resent: u64,
    /// How far behind schedule an event was signed, at most, ms.
    pub(super) max_behind_ms: u64,
    /// Sent, never answered (the run ended first).
    pub(super) unanswered: u64,
}

/// Publisher `p` of `plan.publishers`: its share of `plan.total` events at `plan.rate` from `start`;
/// `log` follows along.
pub(super) async fn publish(
    p: usize,
    plan: &Plan,
    start: Instant,
    chains: &mut ChainSigner,
    placement: &Placement,
    log: &Mutex<PublishLog>,
) -> Result<()> {
    let me = Client::Publisher(p);
    let step = plan.publishers as u64;
    let mut next = p as u64;
    let mut inflight: BTreeMap<u64, String> = BTreeMap::new();
    let mut unreachable_since: Option<Instant> = None;
    let mut homing = Homing::default();
    let mut probe = tokio::time::interval(HOME_PROBE);
    loop {
        if next >= plan.total && inflight.is_empty() {
            return Ok(());
        }
        let node = placement.node(me).to_owned();
        let ws = match connect(&node).await {
            Ok(ws) => ws,
            Err(e) => {
                let since = *unreachable_since.get_or_insert_with(Instant::now);
                if since.elapsed() > GIVE_UP_AFTER {
                    with_log(log, |l| l.unanswered += inflight.len() as u64);
                    bail!("publisher {p} reached no node for {GIVE_UP_AFTER:?}: {e:#}");
                }
                placement.failover(me);
                tokio::time::sleep(RETRY).await;
                continue;
            }
        };
        unreachable_since = None;
        let (mut sink, mut answers) = ws.split();
        let mut lost = false;
        let mut going_home = false;
        for frame in inflight.values() {
            with_log(log, |l| l.resent += 1);
            if sink
                .send(Message::Text(frame.clone().into()))
                .await
                .is_err()
            {
                lost = true;
                break;
            }
        }
        while !lost {
            if next >= plan.total && inflight.is_empty() {
                return Ok(());
            }
            if going_home && inflight.is_empty() {
                break;
            }
            let due = start + Duration::from_secs_f64(next as f64 / plan.rate);
            let may_send = !going_home && next < plan.total && inflight.len() < WINDOW;
            tokio::select! {
                frame = answers.next() => match frame {
                    Some(Ok(Message::Text(text))) => answered(&text, &mut inflight, log),
                    Some(Ok(_)) => {}
                    _ => lost = true,
                },
                () = tokio::time::sleep_until(due.into()), if may_send => {
                    let behind = Instant::now().saturating_duration_since(due).as_millis() as u64;
                    let timestamp = now_ms();
                    let frame = sign(plan, chains, next, timestamp)?;
                    with_log(log, |l| {
                        l.times.record(next, timestamp);
                        l.sent += 1;
                        l.max_behind_ms = l.max_behind_ms.max(behind);
                    });
                    inflight.insert(next, frame.clone());
                    next += step;
                    if sink.send(Message::Text(frame.into())).await.is_err() {
                        lost = true;
                    }
                }
                _ = probe.tick(), if !going_home => {
                    going_home = homing.ready(placement, me).await;
                }
            }
        }
        if lost {
            with_log(log, |l| l.reconnects += 1);
            placement.failover(me);
        } else {
            with_log(log, |l| l.returned_home += 1);
            placement.go_home(me);
        }
    }
}

/// Event `index`'s publish frame: content = the index (8 bytes, big-endian) ‖ padding.
fn sign(plan: &Plan, chains: &mut ChainSigner, index: u64, timestamp: u64) -> Result<String> {
    let mut content = index.to_be_bytes().to_vec();
    content.resize(plan.payload.max(8), 0x5a);
    let wire = chains
        .sign_next(
            &plan.part,
            timestamp,
            MessageType::Data,
            ContentType::Binary,
            content,
            None,
            &mut rand::rng(),
        )?
        .encode()?;
    Ok(
        json!({ "type": "publish", "id": index, "message": hex::encode(wire), "acks": plan.acks })
            .to_string(),
    )
}

/// Takes a node's answer to a publish.
fn answered(text: &str, inflight: &mut BTreeMap<u64, String>, log: &Mutex<PublishLog>) {
    let Ok(answer) = serde_json::from_str::<Value>(text) else {
        return;
    };
    let Some(index) = answer["id"].as_u64() else {
        return;
    };
    if inflight.remove(&index).is_none() {
        return;
    }
    with_log(log, |l| match answer["type"].as_str() {
        Some("published") => {
            if answer["duplicate"] == true {
                l.duplicates += 1;
            }
            if answer["stored"] == true {
                l.acked.insert(index);
            } else {
                l.not_stored.insert(index);
            }
        }
        _ => {
            let code = answer["error"].as_str().unwrap_or("unknown").to_owned();
            *l.refused.entry(code).or_default() += 1;
        }
    });
}

/// Runs `f` on the log (a poisoned lock is still a log).
pub(super) fn with_log<T, R>(log: &Mutex<T>, f: impl FnOnce(&mut T) -> R) -> R {
    let mut guard = log.lock().unwrap_or_else(|e| e.into_inner());
    f(&mut guard)
}

/// Refusals as JSON.
pub(super) fn refused_json(refused: &BTreeMap<String, u64>) -> Value {
    Value::Object(
        refused
            .iter()
            .map(|(k, v)| (k.clone(), Value::from(*v)))
            .collect(),
    )
}
