//! A part's publisher: signs event after event at a steady rate and publishes it over one node's
//! WebSocket API, pipelined; each acknowledgement is matched to its event by the request id. A closed
//! connection is reopened; events whose answer never came are not counted as published.

use std::time::Duration;

use anyhow::Result;
use futures::{SinkExt, StreamExt};
use rivulet_protocol::{ChainId, ChainSigner, ContentType, MessageType, Signer, StreamPartId};
use serde_json::{Value, json};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;

use super::target::{Sent, SentLog, content, now_ms};
use crate::ws;

/// Who publishes what, where.
#[derive(Debug)]
pub(crate) struct Publisher {
    pub(crate) node: String,
    pub(crate) part: StreamPartId,
    pub(crate) signer: Signer,
    pub(crate) rate: f64,
    pub(crate) payload: usize,
}

/// How publishing went.
#[derive(Debug, Default)]
pub(crate) struct PublisherReport {
    pub(crate) errors: u64,
    pub(crate) reconnects: u64,
    /// Size of the last event on the wire, bytes.
    pub(crate) wire_bytes: usize,
}

/// Publishes from `start` until `end`, recording every event in `sent`.
pub(crate) async fn publish(
    p: Publisher,
    sent: SentLog,
    start: Instant,
    end: Instant,
) -> Result<PublisherReport> {
    let chain = ChainId::new(format!("scale-{:x}", now_ms()))?;
    let mut chains = ChainSigner::new(p.signer.clone(), chain);
    let mut report = PublisherReport::default();
    let mut index = 0u64;
    let interval = Duration::from_secs_f64(1.0 / p.rate.max(0.001));
    while Instant::now() < end {
        let Ok(ws) = ws::open(&p.node).await else {
            report.reconnects += 1;
            tokio::time::sleep(Duration::from_millis(500)).await;
            continue;
        };
        let (mut sink, mut answers) = ws.split();
        let acks_log = sent.clone();
        let acks = tokio::spawn(async move {
            let mut errors = 0u64;
            while let Some(Ok(frame)) = answers.next().await {
                let Message::Text(t) = frame else { continue };
                let Ok(v) = serde_json::from_str::<Value>(&t) else {
                    continue;
                };
                let Some(i) = v["id"].as_u64() else { continue };
                if v["type"] == "published" {
                    if let Ok(mut log) = acks_log.lock()
                        && let Some(e) = log.get_mut(i as usize)
                    {
                        e.acked_ms = Some(e.at.elapsed().as_secs_f64() * 1000.0);
                    }
                } else {
                    errors += 1;
                }
            }
            errors
        });
        loop {
            let due = start + interval.mul_f64(index as f64);
            if due >= end {
                break;
            }
            tokio::time::sleep_until(due).await;
            let timestamp_ms = now_ms();
            let wire = chains
                .sign_next(
                    &p.part,
                    timestamp_ms,
                    MessageType::Data,
                    ContentType::Binary,
                    content(index, p.payload),
                    None,
                    &mut rand::rng(),
                )?
                .encode()?;
            report.wire_bytes = wire.len();
            let frame = json!({ "type": "publish", "message": hex::encode(wire), "id": index });
            if let Ok(mut log) = sent.lock() {
                log.push(Sent {
                    at: Instant::now(),
                    timestamp_ms,
                    acked_ms: None,
                });
            }
            index += 1;
            if sink
                .send(Message::Text(frame.to_string().into()))
                .await
                .is_err()
            {
                report.reconnects += 1;
                break;
            }
        }
        let done = start + interval.mul_f64(index as f64) >= end;
        if done {
            // The last answers, then close: the node closes too, which ends `acks`.
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
        let _ = sink.close().await;
        if let Ok(Ok(errors)) = tokio::time::timeout(Duration::from_secs(3), acks).await {
            report.errors += errors;
        }
        if done {
            break;
        }
    }
    Ok(report)
}
