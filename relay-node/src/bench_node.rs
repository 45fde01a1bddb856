//! `relay-node bench-node`: one node's ingest and fan-out, measured from outside. It subscribes many
//! WebSocket sessions and many light clients (libp2p, the Rust client) to one stream part of one node,
//! publishes pre-signed events to that node flat out over several WebSocket connections (each its own
//! publisher chain), and counts the acknowledgements and what every subscriber receives. The node's own
//! CPU time comes from its `/metrics` (`process_cpu_seconds_total`) before and after, so the figure
//! that matters — deliveries per second of the node's CPU — does not depend on how much of the machine
//! the subscribers themselves take. WebSocket subscribers read frames without parsing them (they trust
//! their node); light clients verify every event, as the client always does. Prints one JSON object.
//! Bounded in count and time.

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use anyhow::{Context, Result, bail};
use clap::Args;
use futures::{SinkExt, StreamExt};
use rivulet_client::{Client, ClientConfig, SubscriptionEvent};
use rivulet_protocol::{ChainId, ChainSigner, Partition, Signer, StreamId, StreamPartId};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use crate::{
    bench::{expect, open, publish_frame},
    node::now_ms,
};

/// Settings of one run.
#[derive(Debug, Clone, Args)]
pub(crate) struct NodeBenchArgs {
    /// The stream (public to subscribe; the key may publish).
    #[arg(long)]
    stream: StreamId,
    /// The node (HTTP base URL).
    #[arg(long)]
    node: String,
    /// WebSocket subscribers.
    #[arg(long, default_value_t = 100)]
    ws_subscribers: usize,
    /// Light-protocol subscribers (each its own libp2p connection).
    #[arg(long, default_value_t = 100)]
    light_subscribers: usize,
    /// Publisher connections (each publishes an equal share of the events, as its own chain).
    #[arg(long, default_value_t = 1)]
    publishers: usize,
    /// Events to publish in all.
    #[arg(long, default_value_t = 2_000)]
    count: usize,
    /// Content bytes per event.
    #[arg(long, default_value_t = 200)]
    payload: usize,
    /// Publish at most this many events per second in all (0: as fast as the node acknowledges).
    /// Subscribers that cannot keep up lose events (the node drops the oldest for them): pace the
    /// publishers when the subscribers here are the bottleneck.
    #[arg(long, default_value_t = 0)]
    rate: u32,
    /// Give up after this many seconds.
    #[arg(long, default_value_t = 120)]
    timeout_secs: u64,
    /// Publisher key (hex).
    #[arg(long, env = "RIVULET_PRIVATE_KEY", hide_env_values = true)]
    private_key: String,
}

/// The node's CPU seconds so far, from its metrics.
async fn node_cpu_seconds(node: &str) -> Result<f64> {
    let text = reqwest::get(format!("{node}/metrics"))
        .await
        .with_context(|| format!("cannot read {node}/metrics"))?
        .text()
        .await?;
    text.lines()
        .find_map(|l| l.strip_prefix("process_cpu_seconds_total "))
        .and_then(|v| v.trim().parse().ok())
        .with_context(|| format!("{node}/metrics has no process_cpu_seconds_total"))
}

/// The node's TCP libp2p address, from its `/health`.
async fn libp2p_address(node: &str) -> Result<String> {
    let health: Value = reqwest::get(format!("{node}/health"))
        .await
        .with_context(|| format!("cannot reach {node}"))?
        .json()
        .await?;
    health["listen"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .find(|a| a.contains("/tcp/") && !a.contains("/ws"))
        .map(str::to_owned)
        .with_context(|| format!("{node} names no TCP address in /health"))
}

/// Runs one measurement and prints its JSON.
pub(crate) async fn run(args: &NodeBenchArgs) -> Result<()> {
    let signer =
        Signer::from_hex(&args.private_key).map_err(|e| anyhow::anyhow!("--private-key: {e}"))?;
    let part = StreamPartId::new(args.stream.clone(), Partition::new(0)?);
    let received_ws = Arc::new(AtomicUsize::new(0));
    let received_light = Arc::new(AtomicUsize::new(0));
    // Gaps the light subscriptions reported (events that did not come, or came too late).
    let light_gaps = Arc::new(AtomicUsize::new(0));
    // Warm-up events carry one byte of content; measured events `payload` bytes of 0x5a.
    let payload = args.payload.max(2);

    let mut tasks = Vec::new();
    for _ in 0..args.ws_subscribers {
        let mut ws = open(&args.node).await?;
        expect(&mut ws, "challenge").await?;
        let sub = json!({ "type": "subscribe", "stream": args.stream.as_str(), "partition": 0 });
        ws.send(Message::Text(sub.to_string().into())).await?;
        expect(&mut ws, "subscribed").await?;
        let received = received_ws.clone();
        let marker = format!("\"content\":\"{}", "5a".repeat(4));
        tasks.push(tokio::spawn(async move {
            while let Some(Ok(frame)) = ws.next().await {
                // Measured events' content starts with 0x5a bytes; warm-up ones do not.
                if let Message::Text(t) = frame
                    && t.contains(&marker)
                {
                    received.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    let address = libp2p_address(&args.node).await?;
    let mut clients = Vec::new();
    for _ in 0..args.light_subscribers {
        let client = Client::new(ClientConfig {
            nodes: vec![address.parse().with_context(|| format!("{address:?}"))?],
            request_timeout: Duration::from_secs(30),
            ..ClientConfig::default()
        })?;
        let mut subscription = client.subscribe(&part, None).await?;
        let received = received_light.clone();
        let gaps = light_gaps.clone();
        tasks.push(tokio::spawn(async move {
            while let Some(event) = subscription.next().await {
                match event {
                    SubscriptionEvent::Message(m) if m.body.content.len() == payload => {
                        received.fetch_add(1, Ordering::Relaxed);
                    }
                    SubscriptionEvent::Gap { .. } => {
                        gaps.fetch_add(1, Ordering::Relaxed);
                    }
                    _ => {}
                }
            }
        }));
        clients.push(client);
    }

    // Each publisher connection signs its share in advance, after a few warm-up events that open
    // every subscriber's path before the clock starts.
    let publishers = args.publishers.max(1);
    let mut connections = Vec::new();
    for p in 0..publishers {
        let mut ws = open(&args.node).await?;
        expect(&mut ws, "challenge").await?;
        let chain_id = ChainId::new(format!("bench-node-{:x}-{p}", now_ms()))?;
        let mut chains = ChainSigner::new(signer.clone(), chain_id);
        let mut make = |content: Vec<u8>| {
            publish_frame(&mut chains, &part, content, crate::node::Acks::default())
        };
        for _ in 0..3 {
            ws.send(Message::Text(make(vec![0x01])?.into())).await?;
            expect(&mut ws, "published").await?;
        }
        let share = args.count / publishers + usize::from(p < args.count % publishers);
        let frames: Vec<String> = (0..share)
            .map(|_| make(vec![0x5a; payload]))
            .collect::<Result<_>>()?;
        connections.push((ws, frames));
    }
    tokio::time::sleep(Duration::from_secs(1)).await;

    let expected = args.count * (args.ws_subscribers + args.light_subscribers);
    let cpu_before = node_cpu_seconds(&args.node).await?;
    let start = Instant::now();
    let deadline = start + Duration::from_secs(args.timeout_secs);
    let mut publishing = Vec::new();
    // Each connection's share of the rate.
    let interval =
        (args.rate > 0).then(|| Duration::from_secs_f64(publishers as f64 / f64::from(args.rate)));
    for (ws, frames) in connections {
        publishing.push(tokio::spawn(async move {
            let share = frames.len();
            let (mut sink, mut answers) = ws.split();
            let acks = tokio::spawn(async move {
                let mut n = 0;
                while n < share {
                    match tokio::time::timeout_at(deadline.into(), answers.next()).await {
                        Ok(Some(Ok(Message::Text(t)))) if t.contains("\"published\"") => n += 1,
                        Ok(Some(Ok(Message::Text(t)))) => bail!("publish refused: {t}"),
                        Ok(Some(Ok(_))) => {}
                        _ => break,
                    }
                }
                Ok((n, Instant::now()))
            });
            for (i, frame) in frames.into_iter().enumerate() {
                if let Some(interval) = interval {
                    tokio::time::sleep_until((start + interval * i as u32).into()).await;
                }
                sink.send(Message::Text(frame.into())).await?;
            }
            let acked = acks.await??;
            let _ = sink.close().await;
            anyhow::Ok(acked)
        }));
    }
    let (mut acked, mut acked_at) = (0, start);
    for task in publishing {
        let (n, at) = task.await??;
        acked += n;
        acked_at = acked_at.max(at);
    }
    let ingest_cpu = node_cpu_seconds(&args.node).await? - cpu_before;
    let ingest_secs = acked_at
        .duration_since(start)
        .as_secs_f64()
        .max(f64::EPSILON);
    // Then until everything arrived, or nothing more came for 5 s, or the deadline.
    let mut last = (0, acked_at);
    let delivered = loop {
        let now = received_ws.load(Ordering::Relaxed) + received_light.load(Ordering::Relaxed);
        if now != last.0 {
            last = (now, Instant::now());
        }
        if now >= expected || last.1.elapsed() > Duration::from_secs(5) || Instant::now() > deadline
        {
            break now;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    let secs = last.1.duration_since(start).as_secs_f64().max(f64::EPSILON);
    let cpu = node_cpu_seconds(&args.node).await? - cpu_before;
    for task in &tasks {
        task.abort();
    }
    for client in &clients {
        client.destroy();
    }
    let per_cpu = |n: usize, cpu: f64| {
        if cpu > 0.0 {
            (n as f64 / cpu).round()
        } else {
            0.0
        }
    };
    let report = json!({
        "events": args.count,
        "publishers": publishers,
        "rate": if args.rate == 0 { Value::from("max") } else { Value::from(args.rate) },
        "acked": acked,
        "ingestPerSecond": (acked as f64 / ingest_secs).round(),
        "ingestNodeCpuSeconds": ingest_cpu,
        "ingestPerNodeCpuSecond": per_cpu(acked, ingest_cpu),
        "payloadBytes": args.payload,
        "wsSubscribers": args.ws_subscribers,
        "lightSubscribers": args.light_subscribers,
        "deliveredWs": received_ws.load(Ordering::Relaxed),
        "deliveredLight": received_light.load(Ordering::Relaxed),
        "lightGaps": light_gaps.load(Ordering::Relaxed),
        "delivered": delivered,
        "lost": expected.saturating_sub(delivered),
        "seconds": secs,
        "deliveriesPerSecond": (delivered as f64 / secs).round(),
        "nodeCpuSeconds": cpu,
        "deliveriesPerNodeCpuSecond": per_cpu(delivered, cpu),
    });
    println!("{report}");
    Ok(())
}
