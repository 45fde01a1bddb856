//! What every client of a steady run shares: the [`Plan`], and how a client connects.

use std::time::Duration;

use anyhow::{Context, Result};
use rivulet_protocol::{Address, StreamPartId};

use crate::{
    bench::ws::{Ws, expect, open},
    node::Acks,
};

/// What the clients of a steady run share.
#[derive(Debug)]
pub(crate) struct Plan {
    /// The stream part published to and read.
    pub(crate) part: StreamPartId,
    /// The publisher's address (subscribers take only its events).
    pub(crate) publisher: Address,
    /// Events per second.
    pub(crate) rate: f64,
    /// Events to publish, all publishers together.
    pub(crate) total: u64,
    /// Publishers.
    pub(crate) publishers: usize,
    /// Content bytes per event.
    pub(crate) payload: usize,
    /// What each publish's answer waits for.
    pub(crate) acks: Acks,
    /// Whether subscribers verify live events (resent ones always are).
    pub(crate) verify: bool,
}

/// A WebSocket on `node` that has read the node's challenge.
pub(crate) async fn connect(node: &str) -> Result<Ws> {
    let mut ws = tokio::time::timeout(Duration::from_secs(10), open(node))
        .await
        .with_context(|| format!("no connection to {node} within 10 s"))??;
    expect(&mut ws, "challenge").await?;
    Ok(ws)
}
