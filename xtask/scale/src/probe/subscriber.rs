//! A subscriber: subscribes on its node at its time, verifies every event it receives, and keeps
//! what it got. When its node goes away (churn) it reconnects to the same node and subscribes again;
//! what it missed meanwhile is for the gap fill.

use std::{collections::BTreeSet, time::Duration};

use futures::StreamExt;
use rivulet_protocol::{Limits, decode_verified};
use serde_json::{Value, json};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;

use super::target::{Target, index_of, now_ms};
use crate::ws;

/// What one subscriber saw live.
#[derive(Debug, Clone, Default)]
pub(crate) struct SubscriberResult {
    /// Wall-clock time of its first `subscribe`, ms.
    pub(crate) subscribed_ms: Option<u64>,
    /// Index of the first event the publisher sent after the subscriber's first event arrived.
    pub(crate) joined_at_index: Option<u64>,
    pub(crate) time_to_data_ms: Option<f64>,
    /// Event indices received live (verified, from the publisher).
    pub(crate) received: BTreeSet<u64>,
    /// Publish → delivery of the events published while subscribed: (event index, ms).
    pub(crate) latencies_ms: Vec<(u64, f64)>,
    /// Events whose signature did not hold (or that did not decode).
    pub(crate) forged: u64,
    /// Events signed by anyone but the part's publisher, or of another part.
    pub(crate) unpermitted: u64,
    pub(crate) reconnects: u64,
    pub(crate) lagged: u64,
    pub(crate) error: Option<String>,
}

/// What one delivered event is to a subscriber of `target`.
pub(crate) enum Check {
    /// The publisher's event with this index.
    Valid(u64),
    /// Signature or encoding does not hold.
    Forged,
    /// A valid signature by someone without permission, or another part's event.
    Unpermitted,
}

/// Checks an event as every subscriber must: decode, verify the signature over the received bytes,
/// then who signed it and for which part.
pub(crate) fn check(target: &Target, message: &Value) -> Check {
    let Some(wire) = message["wire"].as_str().and_then(|w| hex::decode(w).ok()) else {
        return Check::Forged;
    };
    let Ok(m) = decode_verified(&wire, &Limits::default()) else {
        return Check::Forged;
    };
    if m.id().publisher != target.publisher || m.id().stream_part() != target.part {
        return Check::Unpermitted;
    }
    match index_of(&m.body.content) {
        Some(i) => Check::Valid(i),
        None => Check::Unpermitted,
    }
}

/// Subscribes at `at` on `node` and listens until `end`.
pub(crate) async fn subscribe(
    node: String,
    target: Target,
    at: Instant,
    end: Instant,
) -> SubscriberResult {
    tokio::time::sleep_until(at).await;
    let mut r = SubscriberResult::default();
    let mut first_subscribe: Option<Instant> = None;
    let mut attempts = 0u64;
    while Instant::now() < end {
        attempts += 1;
        if attempts > 1 {
            r.reconnects += 1;
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        let Ok(Ok(mut socket)) = tokio::time::timeout_at(end, ws::open(&node)).await else {
            continue;
        };
        let request = json!({
            "type": "subscribe",
            "stream": target.part.stream_id.as_str(),
            "partition": target.part.partition.get(),
        });
        let sent_at = Instant::now();
        if first_subscribe.is_none() {
            first_subscribe = Some(sent_at);
            r.subscribed_ms = Some(now_ms());
        }
        if ws::send(&mut socket, &request).await.is_err() {
            continue;
        }
        if let Err(e) = ws::expect(&mut socket, "subscribed", Duration::from_secs(15)).await {
            r.error = Some(format!("subscribe: {e:#}"));
            continue;
        }
        r.error = None;
        // Events until the end or until the node goes away.
        while let Ok(Some(Ok(frame))) = tokio::time::timeout_at(end, socket.next()).await {
            let Message::Text(t) = frame else { continue };
            let Ok(v) = serde_json::from_str::<Value>(&t) else {
                continue;
            };
            match v["type"].as_str() {
                Some("message") => {}
                Some("error") if v["error"] == "lagged" => {
                    r.lagged += 1;
                    continue;
                }
                Some("unsubscribed") => break,
                _ => continue,
            }
            let now = Instant::now();
            match check(&target, &v["message"]) {
                Check::Forged => r.forged += 1,
                Check::Unpermitted => r.unpermitted += 1,
                Check::Valid(i) => {
                    if !r.received.insert(i) {
                        continue;
                    }
                    let sent = target
                        .sent
                        .lock()
                        .ok()
                        .and_then(|s| s.get(i as usize).copied());
                    // Latency of events published while subscribed (older ones can come later by
                    // gossip, and are not what a subscriber waits for).
                    if let Some(sent) = sent
                        && first_subscribe.is_some_and(|f| sent.at >= f)
                    {
                        r.latencies_ms
                            .push((i, now.duration_since(sent.at).as_secs_f64() * 1000.0));
                    }
                    if r.time_to_data_ms.is_none() {
                        // Time to data counts from the first subscribe (a reconnect does not reset it).
                        let from = first_subscribe.unwrap_or(sent_at);
                        r.time_to_data_ms = Some(now.duration_since(from).as_secs_f64() * 1000.0);
                        r.joined_at_index = target.sent.lock().ok().map(|s| s.len() as u64);
                    }
                }
            }
        }
    }
    r
}
