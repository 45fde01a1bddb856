//! The load generator's side of the WebSocket API: connecting, waiting for an answer, publish frames,
//! reading delivered events, and the percentiles it reports.

use std::{
    sync::atomic::{AtomicU64, Ordering},
    time::{Duration, Instant},
};

use anyhow::{Context, Result, bail};
use futures::StreamExt;
use rivulet_protocol::{
    ChainSigner, ContentType, Limits, MessageType, StreamMessage, StreamPartId, Verifier,
};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use crate::node::now_ms;

/// A WebSocket connection to a node.
pub(crate) type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Opens `node`'s WebSocket API, with Nagle's algorithm off.
pub(crate) async fn open(node: &str) -> Result<Ws> {
    let url = format!("{}/api/v1/ws", node.replacen("http", "ws", 1));
    // Nagle's algorithm off, as the node has it: small frames go out at once.
    let (ws, _) = tokio_tungstenite::connect_async_with_config(&url, None, true)
        .await
        .with_context(|| format!("cannot connect to {url}"))?;
    Ok(ws)
}

/// Reads frames until one of type `kind` (an `error` frame fails).
pub(crate) async fn expect(ws: &mut Ws, kind: &str) -> Result<Value> {
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(15), ws.next())
            .await
            .context("no answer within 15 s")?
            .context("connection closed")??;
        if let Message::Text(t) = frame {
            let v: Value = serde_json::from_str(&t)?;
            if v["type"] == kind {
                return Ok(v);
            }
            if v["type"] == "error" {
                bail!("{}: {}", v["error"], v["message"]);
            }
        }
    }
}

/// When each event went out, for the subscribers and the acknowledgements to read without a lock (a
/// hundred subscribers read it at once in the fan-out runs).
pub(crate) struct SendTimes {
    start: Instant,
    /// Nanoseconds after `start`, plus one; 0 while the event has not gone out.
    at: Vec<AtomicU64>,
}

impl SendTimes {
    /// Room for `count` events, none gone out yet; times are kept relative to `start`.
    pub(crate) fn new(start: Instant, count: usize) -> SendTimes {
        SendTimes {
            start,
            at: (0..count).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    /// Event `i` goes out now.
    pub(crate) fn mark(&self, i: usize) {
        if let Some(slot) = self.at.get(i) {
            let nanos = u64::try_from(self.start.elapsed().as_nanos()).unwrap_or(u64::MAX - 1);
            slot.store(nanos + 1, Ordering::Release);
        }
    }

    /// When event `i` went out, if it has.
    pub(crate) fn get(&self, i: usize) -> Option<Instant> {
        match self.at.get(i)?.load(Ordering::Acquire) {
            0 => None,
            n => Some(self.start + Duration::from_nanos(n - 1)),
        }
    }
}

pub(crate) fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

pub(crate) fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// The index in a delivered event's content, once its signature is verified as the SDK's clients
/// verify (a `Verifier` per subscription: publishers' keys remembered, combs for busy ones).
pub(crate) fn verified_index(frame: &str, verifier: &mut Verifier) -> Option<usize> {
    let v = serde_json::from_str::<Value>(frame).ok()?;
    let wire = hex::decode(v["message"]["wire"].as_str()?).ok()?;
    verified_wire_index(&wire, verifier)
}

/// The index in the content of a delivered event's wire bytes (a binary frame, or a JSON frame's
/// `wire`), once its signature is verified.
pub(crate) fn verified_wire_index(wire: &[u8], verifier: &mut Verifier) -> Option<usize> {
    let message = verifier.decode_verified(wire, &Limits::default()).ok()?;
    wire_content_index(&message.body.content)
}

/// The index in the content of a delivered event's wire bytes, decoded without a signature check:
/// what a subscriber that trusts its node costs when it takes events as wire bytes.
pub(crate) fn wire_index(wire: &[u8]) -> Option<usize> {
    let message = StreamMessage::decode(wire, &Limits::default()).ok()?;
    wire_content_index(&message.body.content)
}

fn wire_content_index(content: &[u8]) -> Option<usize> {
    Some(u64::from_be_bytes(<[u8; 8]>::try_from(content.get(..8)?).ok()?) as usize)
}

/// The index in a delivered event's content, read straight from the frame (no JSON parse, no
/// signature check): what a subscriber that trusts its node costs.
pub(crate) fn content_index(frame: &str) -> Option<usize> {
    let at = frame.find("\"content\":\"")? + "\"content\":\"".len();
    let index = hex::decode(frame.get(at..at + 16)?).ok()?;
    Some(u64::from_be_bytes(<[u8; 8]>::try_from(index).ok()?) as usize)
}

/// How many events a node says it dropped for this subscriber (a `lagged` notice), else 0.
pub(crate) fn lagged_count(frame: &str) -> u64 {
    let Ok(v) = serde_json::from_str::<Value>(frame) else {
        return 0;
    };
    if v["error"] != "lagged" {
        return 0;
    }
    v["message"]
        .as_str()
        .and_then(|m| m.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// A WebSocket `publish` frame: the next event of `part` in `chains`, signed now, with `acks`.
pub(crate) fn publish_frame(
    chains: &mut ChainSigner,
    part: &StreamPartId,
    content: Vec<u8>,
    acks: crate::node::Acks,
) -> Result<String> {
    let wire = signed_wire(chains, part, content)?;
    Ok(json!({ "type": "publish", "message": hex::encode(wire), "acks": acks }).to_string())
}

/// The wire bytes of the next event of `part` in `chains`, signed now: what a binary publish frame
/// carries.
pub(crate) fn signed_wire(
    chains: &mut ChainSigner,
    part: &StreamPartId,
    content: Vec<u8>,
) -> Result<Vec<u8>> {
    Ok(chains
        .sign_next(
            part,
            now_ms(),
            MessageType::Data,
            ContentType::Binary,
            content,
            None,
            &mut rand::rng(),
        )?
        .encode()?)
}
