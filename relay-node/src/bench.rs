//! `relay-node bench`: a load generator against running nodes. It pre-signs the events (so the client's
//! signing is not measured), publishes them over one WebSocket to a node, receives them on subscriber
//! WebSockets on the same or other nodes (verifying every signature, as clients must), and prints one
//! JSON object: events per second published and delivered, end-to-end latency percentiles, and losses. Bounded in count and time; loopback only in tests.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::Args;
use futures::{SinkExt, StreamExt};
use rivulet_protocol::{
    ChainId, ChainSigner, ContentType, Limits, MessageType, Partition, Signer, StreamId,
    StreamPartId, decode_verified,
};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use crate::node::now_ms;

/// Settings of one run.
#[derive(Debug, Clone, Args)]
pub(crate) struct BenchArgs {
    /// The stream (the key must may publish; subscribers must may subscribe, e.g. public).
    #[arg(long)]
    stream: StreamId,
    /// The node to publish to (HTTP base URL).
    #[arg(long)]
    publish_node: String,
    /// Nodes to subscribe on (repeatable); subscribers are spread over them.
    #[arg(long = "subscribe-node", required = true)]
    subscribe_nodes: Vec<String>,
    /// How many subscriber connections in all.
    #[arg(long, default_value_t = 1)]
    subscribers: usize,
    /// Content bytes per event.
    #[arg(long, default_value_t = 200)]
    payload: usize,
    /// Events to publish.
    #[arg(long, default_value_t = 5_000)]
    count: u32,
    /// Publish at most this many events per second (0: as fast as the node acknowledges).
    #[arg(long, default_value_t = 0)]
    rate: u32,
    /// Give up after this many seconds.
    #[arg(long, default_value_t = 60)]
    timeout_secs: u64,
    /// Publisher key (hex).
    #[arg(long, env = "RIVULET_PRIVATE_KEY", hide_env_values = true)]
    private_key: String,
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn open(node: &str) -> Result<Ws> {
    let url = format!("{}/api/v1/ws", node.replacen("http", "ws", 1));
    let (ws, _) = tokio_tungstenite::connect_async_with_config(&url, None, true)
        .await
        .with_context(|| format!("cannot connect to {url}"))?;
    Ok(ws)
}

async fn expect(ws: &mut Ws, kind: &str) -> Result<Value> {
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

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// Runs one measurement and prints its JSON.
pub(crate) async fn run(args: &BenchArgs) -> Result<()> {
    let signer =
        Signer::from_hex(&args.private_key).map_err(|e| anyhow::anyhow!("--private-key: {e}"))?;
    // Subscribers first, each confirmed.
    let mut subs = Vec::new();
    for i in 0..args.subscribers {
        let mut ws = open(&args.subscribe_nodes[i % args.subscribe_nodes.len()]).await?;
        expect(&mut ws, "challenge").await?;
        let sub = json!({ "type": "subscribe", "stream": args.stream.as_str(), "partition": 0 });
        ws.send(Message::Text(sub.to_string().into())).await?;
        expect(&mut ws, "subscribed").await?;
        subs.push(ws);
    }
    let mut publisher = open(&args.publish_node).await?;
    expect(&mut publisher, "challenge").await?;

    // Let the meshes form: publish warm-up events until every subscriber has seen one.
    let chain_id = ChainId::new(format!("bench-{:x}", now_ms()))?;
    let mut chains = ChainSigner::new(signer, chain_id);
    let part = StreamPartId::new(args.stream.clone(), Partition::new(0)?);
    let mut make = |content: Vec<u8>| -> Result<String> {
        let wire = chains
            .sign_next(
                &part,
                now_ms(),
                MessageType::Data,
                ContentType::Binary,
                content,
                None,
                &mut rand::rng(),
            )?
            .encode()?;
        Ok(json!({ "type": "publish", "message": hex::encode(wire) }).to_string())
    };
    let warm_deadline = Instant::now() + Duration::from_secs(args.timeout_secs.min(30));
    let mut warmed = vec![false; subs.len()];
    while !warmed.iter().all(|w| *w) {
        if Instant::now() > warm_deadline {
            bail!("subscribers did not receive warm-up events within 30 s");
        }
        publisher
            .send(Message::Text(make(vec![0xff])?.into()))
            .await?;
        expect(&mut publisher, "published").await?;
        for (ws, w) in subs.iter_mut().zip(warmed.iter_mut()) {
            while let Ok(Some(Ok(Message::Text(t)))) =
                tokio::time::timeout(Duration::from_millis(100), ws.next()).await
            {
                if t.contains("\"message\"") {
                    *w = true;
                }
            }
        }
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    for ws in &mut subs {
        while let Ok(Some(_)) = tokio::time::timeout(Duration::from_millis(50), ws.next()).await {}
    }

    // Pre-sign: content = 8-byte index ‖ padding; the send time is kept here, by index.
    let frames: Vec<String> = (0..args.count)
        .map(|i| {
            let mut content = u64::from(i).to_be_bytes().to_vec();
            content.resize(args.payload.max(8), 0x5a);
            make(content)
        })
        .collect::<Result<_>>()?;
    let start = Instant::now();
    let sent_at: std::sync::Arc<std::sync::Mutex<Vec<Option<Instant>>>> =
        std::sync::Arc::new(std::sync::Mutex::new(vec![None; args.count as usize]));
    let deadline = start + Duration::from_secs(args.timeout_secs);
    let count = args.count as usize;

    let mut receivers = Vec::new();
    for mut ws in subs {
        let sent_at = sent_at.clone();
        receivers.push(tokio::spawn(async move {
            let mut latencies = Vec::with_capacity(count);
            let mut last = Instant::now();
            while latencies.len() < count {
                let Ok(Some(Ok(Message::Text(t)))) =
                    tokio::time::timeout_at(deadline.into(), ws.next()).await
                else {
                    break;
                };
                let Ok(v) = serde_json::from_str::<Value>(&t) else {
                    continue;
                };
                // Subscribers verify every signature, as real clients must.
                let verified = hex::decode(v["message"]["wire"].as_str().unwrap_or_default())
                    .ok()
                    .is_some_and(|w| decode_verified(&w, &Limits::default()).is_ok());
                if !verified {
                    continue;
                }
                let Some(content) = v["message"]["content"].as_str() else {
                    continue;
                };
                let Some(index) = hex::decode(&content[..16.min(content.len())])
                    .ok()
                    .and_then(|b| <[u8; 8]>::try_from(b).ok())
                else {
                    continue;
                };
                let index = u64::from_be_bytes(index) as usize;
                last = Instant::now();
                let sent = sent_at
                    .lock()
                    .ok()
                    .and_then(|s| s.get(index).copied().flatten());
                if let Some(sent) = sent {
                    latencies.push(last.duration_since(sent).as_secs_f64() * 1000.0);
                }
            }
            (latencies, last)
        }));
    }

    // Publish as fast as the node acknowledges, with a window of frames in flight.
    let (mut sink, mut acks) = publisher.split();
    let ack_task = tokio::spawn(async move {
        let mut n = 0usize;
        while n < count {
            match tokio::time::timeout_at(deadline.into(), acks.next()).await {
                Ok(Some(Ok(Message::Text(t)))) if t.contains("\"published\"") => n += 1,
                Ok(Some(Ok(Message::Text(t)))) => {
                    return Err(anyhow::anyhow!("publish refused: {t}"));
                }
                Ok(Some(Ok(_))) => {}
                _ => break,
            }
        }
        Ok((n, Instant::now()))
    });
    for (i, frame) in frames.into_iter().enumerate() {
        if args.rate > 0 {
            tokio::time::sleep_until(
                (start + Duration::from_secs_f64(i as f64 / f64::from(args.rate))).into(),
            )
            .await;
        }
        if let Ok(mut s) = sent_at.lock() {
            s[i] = Some(Instant::now());
        }
        sink.send(Message::Text(frame.into())).await?;
    }
    let (acked, acked_at) = ack_task.await??;
    let publish_secs = acked_at.duration_since(start).as_secs_f64();
    let mut all = Vec::new();
    let mut delivered = 0usize;
    let mut last_delivery = start;
    for r in receivers {
        let (lat, last) = r.await?;
        delivered += lat.len();
        last_delivery = last_delivery.max(last);
        all.extend(lat);
    }
    all.sort_by(f64::total_cmp);
    let expected = count * args.subscribers;
    let deliver_secs = last_delivery
        .duration_since(start)
        .as_secs_f64()
        .max(f64::EPSILON);
    let report = json!({
        "payloadBytes": args.payload,
        "rate": if args.rate == 0 { Value::from("max") } else { Value::from(args.rate) },
        "subscribers": args.subscribers,
        "subscribeNodes": args.subscribe_nodes.len(),
        "events": count,
        "acked": acked,
        "publishedPerSecond": (acked as f64 / publish_secs).round(),
        "deliveriesPerSecond": (delivered as f64 / deliver_secs).round(),
        "delivered": delivered,
        "lost": expected.saturating_sub(delivered),
        "latencyMs": { "p50": percentile(&all, 0.5), "p99": percentile(&all, 0.99), "max": all.last().copied().unwrap_or(0.0) },
    });
    println!("{report}");
    Ok(())
}
