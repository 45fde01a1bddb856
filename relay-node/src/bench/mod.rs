//! `relay-node bench`: a load generator against running nodes. It pre-signs the events (so the client's
//! signing is not measured; `--sign-inline` signs each event when it is due instead, as an SDK publish
//! does), publishes them over one WebSocket to a node, receives them on subscriber WebSockets on the same
//! or other nodes (verifying every signature, as clients must, unless `--no-verify` measures the nodes'
//! forwarding alone; as JSON frames, or with `--wire` as binary frames of the wire bytes both ways),
//! and prints one JSON object: events per second published and delivered, end-to-end latency
//! percentiles, losses, and how long subscribing took (the answer, and the first event). Bounded in
//! count and time; loopback only in tests.
//!
//! With `--duration-secs` it is a steady load instead ([`steady`]): events signed when due at `--rate`
//! for that long, clients that move to another node when theirs goes away, and afterwards a gap fill
//! that tells delivered live, delivered after gap fill and lost apart — what `cargo xtask soak` runs
//! while it kills and restarts nodes.

mod args;
mod history_flood;
mod steady;
mod ws;

pub(crate) use args::BenchArgs;
pub(crate) use ws::{expect, open, publish_frame};

use ws::{
    SendTimes, content_index, lagged_count, millis, percentile, signed_wire, verified_index,
    verified_wire_index, wire_index,
};

use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use futures::{SinkExt, StreamExt};
use rivulet_protocol::{ChainId, ChainSigner, Partition, Signer, StreamPartId, Verifier};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use crate::node::now_ms;

/// Runs one measurement and prints its JSON.
pub(crate) async fn run(args: &BenchArgs) -> Result<()> {
    if let Some(secs) = args.duration_secs {
        if args.wire {
            bail!("--wire is for measurements by count; --duration-secs runs JSON frames");
        }
        return steady::run(args, Duration::from_secs(secs)).await;
    }
    if args.wire && args.acks != crate::node::Acks::Local {
        bail!(
            "--wire publishes binary frames, which are acknowledged locally; drop --wire or --acks quorum"
        );
    }
    let signer =
        Signer::from_hex(&args.private_key).map_err(|e| anyhow::anyhow!("--private-key: {e}"))?;
    // Subscribers first, each confirmed; how long the answer took is kept.
    let mut subs = Vec::new();
    let mut subscribe_ms = Vec::new();
    for i in 0..args.subscribers {
        let mut ws = open(&args.subscribe_nodes[i % args.subscribe_nodes.len()]).await?;
        expect(&mut ws, "challenge").await?;
        let format = if args.wire { "wire" } else { "json" };
        let sub = json!({ "type": "subscribe", "stream": args.stream.as_str(), "partition": args.partition, "format": format });
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
    let wire = args.wire;
    let mut make = |content: Vec<u8>| -> Result<Message> {
        Ok(if wire {
            Message::Binary(signed_wire(&mut chains, &part, content)?.into())
        } else {
            Message::Text(publish_frame(&mut chains, &part, content, acks)?.into())
        })
    };
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
                        Ok(Some(Ok(Message::Binary(_)))) => {
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
        publisher.send(make(vec![0xff])?).await?;
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
    let frames: Vec<Message> = if args.sign_inline {
        Vec::new()
    } else {
        (0..args.count as usize)
            .map(|i| make(content(i)))
            .collect::<Result<_>>()?
    };
    let mut frames = frames.into_iter();
    let start = Instant::now();
    let sent_at = std::sync::Arc::new(SendTimes::new(start, args.count as usize));
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
            let mut verifier = Verifier::default();
            while latencies.len() < count {
                // Events lost on the way would hold a subscriber to the deadline: 5 s of quiet ends it.
                let quiet = deadline.min(Instant::now() + Duration::from_secs(5));
                let index = match tokio::time::timeout_at(quiet.into(), ws.next()).await {
                    Ok(Some(Ok(Message::Text(t)))) => {
                        let index = if verify {
                            verified_index(&t, &mut verifier)
                        } else {
                            content_index(&t)
                        };
                        if index.is_none() {
                            lagged += lagged_count(&t);
                        }
                        index
                    }
                    Ok(Some(Ok(Message::Binary(wire)))) if verify => {
                        verified_wire_index(&wire, &mut verifier)
                    }
                    Ok(Some(Ok(Message::Binary(wire)))) => wire_index(&wire),
                    _ => break,
                };
                let Some(index) = index else {
                    continue;
                };
                last = Instant::now();
                if let Some(sent) = sent_at.get(index) {
                    latencies.push(last.duration_since(sent).as_secs_f64() * 1000.0);
                }
            }
            (latencies, last, lagged)
        }));
    }

    // History readers, if asked for, from now until the last delivery.
    let (stop_readers, readers_stop) = tokio::sync::watch::channel(false);
    let readers = history_flood::start(args, &readers_stop);

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
                    if let Some(sent) = acked_sent_at.get(n) {
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
        sent_at.mark(i);
        let frame = match frames.next() {
            Some(frame) => frame,
            None => make(content(i))?,
        };
        sink.send(frame).await?;
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
    let _ = stop_readers.send(true);
    let mut history_ms = Vec::new();
    for reader in readers {
        history_ms.extend(reader.await?);
    }
    history_ms.sort_by(f64::total_cmp);
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
        "frames": if args.wire { "wire" } else { "json" },
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
        "historyReaders": args.history_readers,
        "historyAnswers": history_ms.len(),
        "historyAnswerMs": { "p50": percentile(&history_ms, 0.5), "max": history_ms.last().copied().unwrap_or(0.0) },
    });
    println!("{report}");
    Ok(())
}
