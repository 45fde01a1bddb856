//! `relay-node bench`: a load generator against running nodes. It pre-signs the events (so the client's
//! signing is not measured; `--sign-inline` signs each event when it is due instead, as an SDK publish
//! does), publishes them over one WebSocket to a node, receives them on subscriber WebSockets on the same
//! or other nodes (verifying every signature, as clients must, unless `--no-verify` measures the nodes'
//! forwarding alone), and prints one JSON object: events per second published and delivered, end-to-end
//! latency percentiles, losses, and how long subscribing took (the answer, and the first event).
//! Bounded in count and time; loopback only in tests.
//!
//! With `--duration-secs` it is a steady load instead ([`steady`]): events signed when due at `--rate`
//! for that long, clients that move to another node when theirs goes away, and afterwards a gap fill
//! that tells delivered live, delivered after gap fill and lost apart — what `cargo xtask soak` runs
//! while it kills and restarts nodes.

mod steady;

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
    /// Publish at most this many events per second (0: as fast as the node acknowledges). With
    /// `--duration-secs`, exactly this many (required).
    #[arg(long, default_value_t = 0)]
    rate: u32,
    /// A steady load for this many seconds instead of `--count` events: each event signed when due at
    /// `--rate`; a client whose node goes away moves to another of the nodes named (a publisher sends
    /// again what was not answered) and back home once its node is back; afterwards each subscriber
    /// asks for what it missed (resend from its node, then from the others). Progress lines on
    /// stderr, one JSON report on stdout.
    #[arg(long, conflicts_with = "count")]
    duration_secs: Option<u64>,
    /// With `--duration-secs`: publishers, each with a chain of its own and at home on the nodes in
    /// turn (`--publish-node`, then the `--subscribe-node`s); they share `--rate`.
    #[arg(long, default_value_t = 1)]
    publishers: usize,
    /// With `--duration-secs`: how long subscribers listen for the last events before the gap fill.
    #[arg(long, default_value_t = 10)]
    settle_secs: u64,
    /// With `--duration-secs`: seconds between progress lines on stderr.
    #[arg(long, default_value_t = 10)]
    progress_secs: u64,
    /// Subscribers do not verify signatures (the nodes still do): measures forwarding alone.
    #[arg(long)]
    no_verify: bool,
    /// Sign each event when it is due instead of before the clock starts (latency then includes
    /// signing, as an SDK publish's does).
    #[arg(long)]
    sign_inline: bool,
    /// The stream partition to publish to and subscribe on.
    #[arg(long, default_value_t = 0)]
    partition: u32,
    /// What each publish's acknowledgement waits for: `local` (the entry node) or `quorum` (a majority of
    /// the part's replicas have it on disk; needs a network coordinator).
    #[arg(long, default_value = "local")]
    acks: crate::node::Acks,
    /// Give up after this many seconds.
    #[arg(long, default_value_t = 60)]
    timeout_secs: u64,
    /// Publisher key (hex).
    #[arg(long, env = "RIVULET_PRIVATE_KEY", hide_env_values = true)]
    private_key: String,
}

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

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// The index in a delivered event's content, once its signature is verified (as real clients do).
fn verified_index(frame: &str) -> Option<usize> {
    let v = serde_json::from_str::<Value>(frame).ok()?;
    let wire = hex::decode(v["message"]["wire"].as_str()?).ok()?;
    decode_verified(&wire, &Limits::default()).ok()?;
    let content = v["message"]["content"].as_str()?;
    let index = hex::decode(content.get(..16)?).ok()?;
    Some(u64::from_be_bytes(<[u8; 8]>::try_from(index).ok()?) as usize)
}

/// The index in a delivered event's content, read straight from the frame (no JSON parse, no
/// signature check): what a subscriber that trusts its node costs.
fn content_index(frame: &str) -> Option<usize> {
    let at = frame.find("\"content\":\"")? + "\"content\":\"".len();
    let index = hex::decode(frame.get(at..at + 16)?).ok()?;
    Some(u64::from_be_bytes(<[u8; 8]>::try_from(index).ok()?) as usize)
}

/// How many events a node says it dropped for this subscriber (a `lagged` notice), else 0.
fn lagged_count(frame: &str) -> u64 {
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
    let wire = chains
        .sign_next(
            part,
            now_ms(),
            MessageType::Data,
            ContentType::Binary,
            content,
            None,
            &mut rand::rng(),
        )?
        .encode()?;
    Ok(json!({ "type": "publish", "message": hex::encode(wire), "acks": acks }).to_string())
}

/// Runs one measurement and prints its JSON.
pub(crate) async fn run(args: &BenchArgs) -> Result<()> {
    if let Some(secs) = args.duration_secs {
        return steady::run(args, Duration::from_secs(secs)).await;
    }
    let signer =
        Signer::from_hex(&args.private_key).map_err(|e| anyhow::anyhow!("--private-key: {e}"))?;
    // Subscribers first, each confirmed; how long the answer took is kept.
    let mut subs = Vec::new();
    let mut subscribe_ms = Vec::new();
    for i in 0..args.subscribers {
        let mut ws = open(&args.subscribe_nodes[i % args.subscribe_nodes.len()]).await?;
        expect(&mut ws, "challenge").await?;
        let sub = json!({ "type": "subscribe", "stream": args.stream.as_str(), "partition": args.partition });
        let asked = Instant::now();
        ws.send(Message::Text(sub.to_string().into())).await?;
        expect(&mut ws, "subscribed").await?;
        subscribe_ms.push(millis(asked.elapsed()));
        subs.push((ws, asked));
    }
    let mut publisher = open(&args.publish_node).await?;
    expect(&mut publisher, "challenge").await?;

    // Let the meshes form: publish warm-up events until every subscriber has seen one.
    let chain_id = ChainId::new(format!("bench-{:x}", now_ms()))?;
    let mut chains = ChainSigner::new(signer, chain_id);
    let part = StreamPartId::new(args.stream.clone(), Partition::new(args.partition)?);
    let acks = args.acks;
    let mut make = |content: Vec<u8>| publish_frame(&mut chains, &part, content, acks);
    // Each subscriber waits for its first warm-up event (subscribe request to first event: its join
    // time) while warm-up events go out every 2 ms.
    let warm_deadline = Instant::now() + Duration::from_secs(args.timeout_secs.min(30));
    let waiting: Vec<_> = subs
        .into_iter()
        .map(|(mut ws, asked)| {
            tokio::spawn(async move {
                loop {
                    match tokio::time::timeout_at(warm_deadline.into(), ws.next()).await {
                        Ok(Some(Ok(Message::Text(t)))) if t.contains("\"message\"") => {
                            return Ok((ws, millis(asked.elapsed())));
                        }
                        Ok(Some(Ok(_))) => {}
                        _ => bail!("subscribers did not receive warm-up events within 30 s"),
                    }
                }
            })
        })
        .collect();
    while !waiting.iter().all(|w| w.is_finished()) && Instant::now() < warm_deadline {
        publisher
            .send(Message::Text(make(vec![0xff])?.into()))
            .await?;
        expect(&mut publisher, "published").await?;
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let mut subs = Vec::new();
    let mut first_event_ms = Vec::new();
    for w in waiting {
        let (ws, ms) = w.await??;
        subs.push(ws);
        first_event_ms.push(ms);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    for ws in &mut subs {
        while let Ok(Some(_)) = tokio::time::timeout(Duration::from_millis(50), ws.next()).await {}
    }

    // Pre-sign (unless signing inline): content = 8-byte index ‖ padding; the send time is kept here,
    // by index.
    let content = |i: usize| {
        let mut content = (i as u64).to_be_bytes().to_vec();
        content.resize(args.payload.max(8), 0x5a);
        content
    };
    let mut frames: Vec<String> = if args.sign_inline {
        Vec::new()
    } else {
        (0..args.count as usize)
            .map(|i| make(content(i)))
            .collect::<Result<_>>()?
    };
    let start = Instant::now();
    let sent_at: std::sync::Arc<std::sync::Mutex<Vec<Option<Instant>>>> =
        std::sync::Arc::new(std::sync::Mutex::new(vec![None; args.count as usize]));
    let deadline = start + Duration::from_secs(args.timeout_secs);
    let count = args.count as usize;

    let verify = !args.no_verify;
    let mut receivers = Vec::new();
    for mut ws in subs {
        let sent_at = sent_at.clone();
        receivers.push(tokio::spawn(async move {
            let mut latencies = Vec::with_capacity(count);
            let mut last = Instant::now();
            let mut lagged = 0u64;
            while latencies.len() < count {
                // Events lost on the way would hold a subscriber to the deadline: 5 s of quiet ends it.
                let quiet = deadline.min(Instant::now() + Duration::from_secs(5));
                let Ok(Some(Ok(Message::Text(t)))) =
                    tokio::time::timeout_at(quiet.into(), ws.next()).await
                else {
                    break;
                };
                let index = if verify {
                    verified_index(&t)
                } else {
                    content_index(&t)
                };
                let Some(index) = index else {
                    lagged += lagged_count(&t);
                    continue;
                };
                last = Instant::now();
                let sent = sent_at
                    .lock()
                    .ok()
                    .and_then(|s| s.get(index).copied().flatten());
                if let Some(sent) = sent {
                    latencies.push(last.duration_since(sent).as_secs_f64() * 1000.0);
                }
            }
            (latencies, last, lagged)
        }));
    }

    // Publish as fast as the node acknowledges, with a window of frames in flight.
    let (mut sink, mut acks) = publisher.split();
    let acked_sent_at = sent_at.clone();
    let ack_task = tokio::spawn(async move {
        let mut n = 0usize;
        // Answers come in the order the publishes went out: the n-th is event n's.
        let mut ack_ms = Vec::with_capacity(count);
        while n < count {
            match tokio::time::timeout_at(deadline.into(), acks.next()).await {
                Ok(Some(Ok(Message::Text(t)))) if t.contains("\"published\"") => {
                    let sent = acked_sent_at
                        .lock()
                        .ok()
                        .and_then(|s| s.get(n).copied().flatten());
                    if let Some(sent) = sent {
                        ack_ms.push(sent.elapsed().as_secs_f64() * 1000.0);
                    }
                    n += 1;
                }
                Ok(Some(Ok(Message::Text(t)))) => {
                    return Err(anyhow::anyhow!("publish refused: {t}"));
                }
                Ok(Some(Ok(_))) => {}
                _ => break,
            }
        }
        Ok((n, Instant::now(), ack_ms))
    });
    for i in 0..count {
        if args.rate > 0 {
            tokio::time::sleep_until(
                (start + Duration::from_secs_f64(i as f64 / f64::from(args.rate))).into(),
            )
            .await;
        }
        if let Ok(mut s) = sent_at.lock() {
            s[i] = Some(Instant::now());
        }
        let frame = if args.sign_inline {
            make(content(i))?
        } else {
            std::mem::take(&mut frames[i])
        };
        sink.send(Message::Text(frame.into())).await?;
    }
    let (acked, acked_at, mut ack_ms) = ack_task.await??;
    ack_ms.sort_by(f64::total_cmp);
    let publish_secs = acked_at.duration_since(start).as_secs_f64();
    let mut all = Vec::new();
    let mut delivered = 0usize;
    let mut last_delivery = start;
    let mut lagged = 0;
    for r in receivers {
        let (lat, last, dropped) = r.await?;
        lagged += dropped;
        delivered += lat.len();
        last_delivery = last_delivery.max(last);
        all.extend(lat);
    }
    all.sort_by(f64::total_cmp);
    subscribe_ms.sort_by(f64::total_cmp);
    first_event_ms.sort_by(f64::total_cmp);
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
        "verify": verify,
        "signInline": args.sign_inline,
        "partition": args.partition,
        "events": count,
        "acked": acked,
        "publishedPerSecond": (acked as f64 / publish_secs).round(),
        "deliveriesPerSecond": (delivered as f64 / deliver_secs).round(),
        "delivered": delivered,
        "lost": expected.saturating_sub(delivered),
        "droppedForLag": lagged,
        "acks": args.acks,
        "ackMs": { "p50": percentile(&ack_ms, 0.5), "p99": percentile(&ack_ms, 0.99) },
        "latencyMs": { "p50": percentile(&all, 0.5), "p99": percentile(&all, 0.99), "max": all.last().copied().unwrap_or(0.0) },
        "subscribeMs": { "p50": percentile(&subscribe_ms, 0.5), "max": subscribe_ms.last().copied().unwrap_or(0.0) },
        "firstEventMs": { "p50": percentile(&first_event_ms, 0.5), "max": first_event_ms.last().copied().unwrap_or(0.0) },
    });
    println!("{report}");
    Ok(())
}
