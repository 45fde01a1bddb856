//! The gap fill after a steady run: a subscriber asks its own node (`resend` by time range, page after
//! page) for the events it expected and did not get live; whatever is still missing it asks of each
//! other node in turn. Every resent event is verified. What no node hands out is lost.

use std::time::Duration;

use anyhow::{Context, Result, bail};
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::{Message, protocol::WebSocketConfig};

use super::{plan::Plan, subscriber::verified_index, tally::BlockTimes};
use crate::bench::ws::Ws;

/// How long one resend page may take.
const PAGE_LIMIT: Duration = Duration::from_secs(60);

/// Where a subscriber's missing events were found.
#[derive(Debug, Default)]
pub(super) struct Filled {
    /// Found on the subscriber's own node.
    pub(super) by_own_node: u64,
    /// Found only on another node.
    pub(super) by_other_nodes: u64,
    /// Found nowhere, in order.
    pub(super) still_missing: Vec<u64>,
    /// Resends that failed, with the node.
    pub(super) errors: Vec<String>,
}

/// Looks for `missing` (sorted event indices) on `own` then on each of `others`.
pub(super) async fn fill(
    plan: &Plan,
    own: &str,
    others: &[String],
    times: &BlockTimes,
    missing: Vec<u64>,
) -> Filled {
    let mut filled = Filled {
        still_missing: missing,
        ..Filled::default()
    };
    let sources = std::iter::once(own).chain(others.iter().map(String::as_str));
    for (n, node) in sources.enumerate() {
        if filled.still_missing.is_empty() {
            break;
        }
        let mut found = super::tally::Indices::default();
        for range in times.ranges(&filled.still_missing) {
            if let Err(e) = resend(node, plan, range, &mut found).await {
                filled.errors.push(format!("{node}: {e:#}"));
                break;
            }
        }
        let before = filled.still_missing.len();
        filled.still_missing.retain(|i| !found.contains(*i));
        let got = (before - filled.still_missing.len()) as u64;
        if n == 0 {
            filled.by_own_node += got;
        } else {
            filled.by_other_nodes += got;
        }
    }
    filled
}

/// Every event of the run's part from `from` to `to` (ms, inclusive) on `node`, verified, into
/// `found`.
async fn resend(
    node: &str,
    plan: &Plan,
    (from, to): (u64, u64),
    found: &mut super::tally::Indices,
) -> Result<()> {
    let mut ws = open_large(node).await?;
    let mut request = json!({
        "type": "resend",
        "stream": plan.part.stream_id.as_str(),
        "partition": plan.part.partition.get(),
        "from": from,
        "to": to,
    });
    loop {
        ws.send(Message::Text(request.to_string().into())).await?;
        let answer = resent(&mut ws).await?;
        let messages = answer["messages"]
            .as_array()
            .context("a resend answer without messages")?;
        for event in messages {
            if let Some(index) = verified_index(event, plan) {
                found.insert(index);
            }
        }
        // A truncated answer names its rest (`next`), asked for as it came.
        let Some(next) = answer["next"].as_str() else {
            return Ok(());
        };
        request = json!({
            "type": "resend",
            "stream": plan.part.stream_id.as_str(),
            "partition": plan.part.partition.get(),
            "cursor": next,
        });
    }
}

/// A WebSocket to `node` that takes answers as large as a resend's (one page of history is up to
/// 16 MiB of events, about twice that as JSON).
async fn open_large(node: &str) -> Result<Ws> {
    let url = format!("{}/api/v1/ws", node.replacen("http", "ws", 1));
    let config = WebSocketConfig::default()
        .max_message_size(Some(128 << 20))
        .max_frame_size(Some(128 << 20));
    let (ws, _) = tokio::time::timeout(
        Duration::from_secs(10),
        tokio_tungstenite::connect_async_with_config(&url, Some(config), true),
    )
    .await
    .with_context(|| format!("no connection to {url} within 10 s"))?
    .with_context(|| format!("cannot connect to {url}"))?;
    Ok(ws)
}

/// The next `resent` answer (events pushed meanwhile are none: this socket subscribes to nothing).
async fn resent(ws: &mut Ws) -> Result<Value> {
    loop {
        let frame = tokio::time::timeout(PAGE_LIMIT, ws.next())
            .await
            .with_context(|| format!("no resend answer within {PAGE_LIMIT:?}"))?
            .context("connection closed")??;
        if let Message::Text(text) = frame {
            let answer: Value = serde_json::from_str(&text)?;
            match answer["type"].as_str() {
                Some("resent") => return Ok(answer),
                Some("error") => bail!("{}: {}", answer["error"], answer["message"]),
                _ => {}
            }
        }
    }
}
