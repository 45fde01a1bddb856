//! `rivulet-scale throughput`: one publisher per target node, all at once. Each pre-signs its events
//! (signing is not measured), then sends them over one WebSocket as fast as its node answers, with up
//! to [`WINDOW`] unanswered, for the given time. A node answers `published` only after it has decoded
//! the event, checked the publisher's permission and verified the signature, so acknowledged events
//! per second are verified events per second. Prints one JSON object.

use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::Args;
use futures::{SinkExt, StreamExt};
use rivulet_protocol::{
    ChainId, ChainSigner, ContentType, MessageType, Partition, Signer, StreamId, StreamPartId,
};
use serde_json::{Value, json};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;

use crate::{probe::now_ms, ws};

/// Unanswered publishes per connection (the node reads up to 256 ahead).
const WINDOW: usize = 200;

/// `rivulet-scale throughput` flags.
#[derive(Debug, Clone, Args)]
pub(crate) struct ThroughputArgs {
    /// The stream (the key must have publish permission).
    #[arg(long)]
    stream: StreamId,
    /// A target: `<partition>@<node http url>` (repeatable).
    #[arg(long = "target", required = true)]
    targets: Vec<String>,
    /// Publisher key (hex).
    #[arg(long)]
    key: String,
    /// How long to publish, seconds.
    #[arg(long, default_value_t = 10.0)]
    seconds: f64,
    /// Events pre-signed per target (the most it can publish).
    #[arg(long, default_value_t = 20_000)]
    count: usize,
    /// Content bytes per event.
    #[arg(long, default_value_t = 200)]
    payload: usize,
}

/// Runs every target at once and prints the report.
pub(crate) async fn run(args: &ThroughputArgs) -> Result<()> {
    let signer = Signer::from_hex(&args.key).map_err(|e| anyhow::anyhow!("--key: {e}"))?;
    let mut signing = Vec::new();
    for target in &args.targets {
        let (partition, node) = target
            .split_once('@')
            .with_context(|| format!("--target {target:?} is not <partition>@<url>"))?;
        let part = StreamPartId::new(args.stream.clone(), Partition::new(partition.parse()?)?);
        let signer = signer.clone();
        let (count, payload) = (args.count, args.payload);
        let frames = tokio::task::spawn_blocking(move || presign(signer, &part, count, payload));
        signing.push((node.to_owned(), frames));
    }
    let mut prepared = Vec::new();
    for (node, frames) in signing {
        prepared.push((node, frames.await??));
    }
    let mut sockets = Vec::new();
    for (node, frames) in prepared {
        sockets.push((node.clone(), ws::open(&node).await?, frames));
    }
    let start = Instant::now();
    let end = start + Duration::from_secs_f64(args.seconds);
    let mut tasks = Vec::new();
    for (node, socket, frames) in sockets {
        tasks.push(tokio::spawn(async move {
            let result = drive(socket, frames, end).await;
            (node, result)
        }));
    }
    let mut per_node = Vec::new();
    let mut total = 0.0;
    for t in tasks {
        let (node, result) = t.await?;
        let (acked, errors) = result?;
        let rate = acked as f64 / args.seconds;
        total += rate;
        per_node.push(json!({ "node": node, "acked": acked, "errors": errors, "eventsPerSecond": rate.round() }));
    }
    println!(
        "{}",
        json!({
            "nodes": per_node.len(),
            "seconds": args.seconds,
            "payloadBytes": args.payload,
            "aggregateEventsPerSecond": total.round(),
            "perNode": per_node,
        })
    );
    Ok(())
}

fn presign(
    signer: Signer,
    part: &StreamPartId,
    count: usize,
    payload: usize,
) -> Result<Vec<String>> {
    let chain = ChainId::new(format!("tp-{:x}-{}", now_ms(), part.partition.get()))?;
    let mut chains = ChainSigner::new(signer, chain);
    let mut out = Vec::with_capacity(count);
    for i in 0..count {
        let wire = chains
            .sign_next(
                part,
                now_ms(),
                MessageType::Data,
                ContentType::Binary,
                crate::probe::content(i as u64, payload),
                None,
                &mut rand::rng(),
            )?
            .encode()?;
        out.push(json!({ "type": "publish", "message": hex::encode(wire) }).to_string());
    }
    Ok(out)
}

/// Sends `frames` until `end` with up to [`WINDOW`] unanswered; returns (acknowledged before `end`,
/// errors).
async fn drive(socket: ws::Ws, frames: Vec<String>, end: Instant) -> Result<(u64, u64)> {
    let (mut sink, mut answers) = socket.split();
    let (mut sent, mut acked, mut errors) = (0usize, 0u64, 0u64);
    let mut frames = frames.into_iter();
    loop {
        while sent - ((acked + errors) as usize) < WINDOW {
            let Some(frame) = frames.next() else { break };
            sink.send(Message::Text(frame.into())).await?;
            sent += 1;
        }
        if sent == (acked + errors) as usize {
            bail!("ran out of pre-signed events before the time was up: raise --count");
        }
        match tokio::time::timeout_at(end, answers.next()).await {
            Err(_) => break,
            Ok(Some(Ok(Message::Text(t)))) => {
                let v: Value = serde_json::from_str(&t)?;
                match v["type"].as_str() {
                    Some("published") => acked += 1,
                    Some("error") => errors += 1,
                    _ => {}
                }
            }
            Ok(Some(Ok(_))) => {}
            Ok(_) => bail!("the node closed the connection"),
        }
    }
    let _ = sink.close().await;
    Ok((acked, errors))
}
