//! A steady subscriber: subscribes on its node and takes every event pushed to it — its index read
//! from the content once the signature is verified (unless `--no-verify`), its latency from its
//! timestamp — until told to stop. When its node goes away it subscribes on another; what it missed
//! meanwhile is left to the gap fill. Once its home node is back it subscribes there, then leaves the
//! other node (so nothing is missed for the move).

use std::{
    sync::Mutex,
    time::{Duration, Instant},
};

use anyhow::{Result, bail};
use futures::{SinkExt, StreamExt};
use rivulet_protocol::{Limits, StreamMessage, decode_verified};
use serde_json::{Value, json};
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::Message;

use super::{
    placement::{Client, HOME_PROBE, Homing, Placement},
    plan::{Plan, connect},
    publisher::with_log,
    tally::{Histogram, Indices},
};
use crate::{
    bench::ws::{Ws, expect, lagged_count},
    node::now_ms,
};

/// How long a subscriber tries to reach some node before it gives up.
const GIVE_UP_AFTER: Duration = Duration::from_secs(60);
/// Between attempts to reach a node.
const RETRY: Duration = Duration::from_millis(200);
/// How long a subscriber that moved home still reads the node it left.
const LEAVE_AFTER: Duration = Duration::from_secs(3);

/// What one subscriber received live.
#[derive(Debug, Default)]
pub(super) struct Received {
    /// Event indices received (verified, unless the run trusts its nodes).
    pub(super) indices: Indices,
    /// Events received more than once.
    pub(super) duplicates: u64,
    /// Events whose signature did not hold, or that were not the run's.
    pub(super) invalid: u64,
    /// Events its nodes said they dropped for it (`lagged`).
    pub(super) lagged: u64,
    /// Whether it has subscribed (the run starts once every subscriber has).
    pub(super) subscribed: bool,
    /// Times it subscribed on another node because its node went away.
    pub(super) reconnects: u64,
    /// Times it moved back home.
    pub(super) returned_home: u64,
    /// Publish → delivery latency over the whole run, and since the last progress line.
    pub(super) latency: Histogram,
    pub(super) window: Histogram,
}

/// Subscriber `i` until `stop` says so.
pub(super) async fn subscribe(
    i: usize,
    plan: &Plan,
    placement: &Placement,
    received: &Mutex<Received>,
    mut stop: watch::Receiver<bool>,
) -> Result<()> {
    let me = Client::Subscriber(i);
    let mut unreachable_since: Option<Instant> = None;
    let mut homing = Homing::default();
    let mut probe = tokio::time::interval(HOME_PROBE);
    loop {
        if *stop.borrow() {
            return Ok(());
        }
        let node = placement.node(me).to_owned();
        let mut ws = match subscribed(&node, plan).await {
            Ok(ws) => ws,
            Err(e) => {
                let since = *unreachable_since.get_or_insert_with(Instant::now);
                if since.elapsed() > GIVE_UP_AFTER {
                    bail!("subscriber {i} reached no node for {GIVE_UP_AFTER:?}: {e:#}");
                }
                placement.failover(me);
                tokio::time::sleep(RETRY).await;
                continue;
            }
        };
        unreachable_since = None;
        with_log(received, |r| r.subscribed = true);
        // After a move home, the node it left, read for a while longer (what it had queued).
        let mut left: Option<Ws> = None;
        let mut left_until = tokio::time::Instant::now();
        loop {
            tokio::select! {
                frame = ws.next() => match frame {
                    Some(Ok(Message::Text(text))) => take(&text, plan, received),
                    Some(Ok(_)) => {}
                    _ => break,
                },
                frame = next_frame(&mut left) => match frame {
                    Some(Ok(Message::Text(text))) => take(&text, plan, received),
                    Some(Ok(_)) => {}
                    _ => left = None,
                },
                () = tokio::time::sleep_until(left_until), if left.is_some() => left = None,
                _ = probe.tick() => {
                    if homing.ready(placement, me).await
                        && let Ok(home) = subscribed(placement.home(me), plan).await
                    {
                        // Subscribed at home before leaving: nothing falls between the two.
                        left = Some(std::mem::replace(&mut ws, home));
                        left_until = tokio::time::Instant::now() + LEAVE_AFTER;
                        placement.go_home(me);
                        with_log(received, |r| r.returned_home += 1);
                    }
                }
                _ = stop.changed() => return Ok(()),
            }
        }
        with_log(received, |r| r.reconnects += 1);
        placement.failover(me);
    }
}

/// The next frame of `ws`, if there is one (never, if not).
async fn next_frame(
    ws: &mut Option<Ws>,
) -> Option<Result<Message, tokio_tungstenite::tungstenite::Error>> {
    match ws {
        Some(ws) => ws.next().await,
        None => std::future::pending().await,
    }
}

/// A WebSocket on `node` subscribed to the run's part.
pub(super) async fn subscribed(node: &str, plan: &Plan) -> Result<Ws> {
    let mut ws = connect(node).await?;
    let request = json!({
        "type": "subscribe",
        "stream": plan.part.stream_id.as_str(),
        "partition": plan.part.partition.get(),
    });
    ws.send(Message::Text(request.to_string().into())).await?;
    expect(&mut ws, "subscribed").await?;
    Ok(ws)
}

/// Takes one frame a node pushed.
fn take(text: &str, plan: &Plan, received: &Mutex<Received>) {
    let Ok(frame) = serde_json::from_str::<Value>(text) else {
        with_log(received, |r| r.invalid += 1);
        return;
    };
    if frame["type"] != "message" {
        let lagged = lagged_count(text);
        if lagged > 0 {
            with_log(received, |r| r.lagged += lagged);
        }
        return;
    }
    let event = &frame["message"];
    let index = if plan.verify {
        verified_index(event, plan)
    } else {
        trusted_index(event)
    };
    let latency = event["timestamp"]
        .as_u64()
        .map(|t| now_ms().saturating_sub(t));
    with_log(received, |r| match index {
        Some(index) => {
            if !r.indices.insert(index) {
                r.duplicates += 1;
            }
            if let Some(ms) = latency {
                r.latency.add(ms);
                r.window.add(ms);
            }
        }
        None => r.invalid += 1,
    });
}

/// The index of an event (JSON, as the APIs give it), once its signature over its wire bytes holds
/// and it is the run's (its stream part and publisher).
pub(super) fn verified_index(event: &Value, plan: &Plan) -> Option<u64> {
    let wire = hex::decode(event["wire"].as_str()?).ok()?;
    let message: StreamMessage = decode_verified(&wire, &Limits::default()).ok()?;
    if message.id().stream_part() != plan.part || message.id().publisher != plan.publisher {
        return None;
    }
    let index = message.body.content.get(..8)?;
    Some(u64::from_be_bytes(index.try_into().ok()?))
}

/// The index in an event's content as the node gave it (no signature check).
fn trusted_index(event: &Value) -> Option<u64> {
    let index = hex::decode(event["content"].as_str()?.get(..16)?).ok()?;
    Some(u64::from_be_bytes(index.try_into().ok()?))
}
