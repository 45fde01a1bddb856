//! `rivulet-scale probe`: the measuring client of a scale run. From a plan (JSON) it publishes signed
//! events to each stream part through one node's WebSocket API at a steady rate, subscribes on many
//! nodes at set times, verifies every event a subscriber gets (signature, publisher, stream part),
//! and afterwards asks for what each subscriber missed (`resend`, from its own node, then from the
//! part's storage nodes). It prints one JSON report.
//!
//! Definitions (BENCHMARKS.md uses them):
//! - *time to data*: from sending `subscribe` to the first verified event of the part;
//! - *latency*: from handing an event to the publisher's WebSocket to a subscriber receiving it (one
//!   process, one clock), for events published after the subscriber's first `subscribe`;
//! - *acknowledgement*: from handing an event to the publisher's WebSocket to its node's answer (for a
//!   stored part, once its storage nodes hold it);
//! - *expected*: the acknowledged events published from a subscriber's first `subscribe` on;
//! - *live delivery ratio*: expected events received live, over expected events published after the
//!   subscriber's first event (its join); *after gap fill*: expected events received live or by
//!   resend, over all expected;
//! - *forged delivered*: events a subscriber got whose signature does not hold, and *unpermitted
//!   delivered*: events signed by anyone but the part's publisher (the only key with publish
//!   permission).

mod gapfill;
mod lag;
mod publisher;
mod subscriber;
mod target;

use target::{SentLog, Target};
pub(crate) use target::{content, now_ms};

use std::{collections::BTreeMap, path::PathBuf, sync::Arc, time::Duration};

use anyhow::{Context, Result};
use clap::Args;
use rivulet_protocol::{Partition, Signer, StreamId, StreamPartId};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::stats::{ratio, summary};

/// `rivulet-scale probe` flags.
#[derive(Debug, Clone, Args)]
pub(crate) struct ProbeArgs {
    /// The plan (JSON, written by `cargo xtask scale`).
    #[arg(long)]
    plan: PathBuf,
}

/// What to publish and where to subscribe.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct Plan {
    /// Events per second per part.
    rate: f64,
    /// Content bytes per event (at least 12).
    payload: usize,
    /// How long the publishers publish, ms.
    publish_ms: u64,
    /// How long subscribers keep listening after that, ms.
    settle_ms: u64,
    /// The stream parts.
    parts: Vec<PartPlan>,
    /// The subscribers.
    subscribers: Vec<SubscriberPlan>,
}

/// One stream part and its publisher.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct PartPlan {
    stream: StreamId,
    partition: u32,
    /// The publisher's key (hex): the one address with publish permission on the stream.
    key: String,
    /// The node the publisher publishes to (`http://…`).
    publish_node: String,
    /// Nodes that store the part (`http://…`), asked for what a subscriber's own node cannot resend.
    storage_nodes: Vec<String>,
}

/// One subscriber.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct SubscriberPlan {
    /// Its node (`http://…`).
    node: String,
    /// Index into `parts`.
    part: usize,
    /// When it subscribes, ms after the start.
    start_ms: u64,
    /// A name for the report (the node's).
    label: String,
}

/// Runs the plan and prints the report.
pub(crate) async fn run(args: &ProbeArgs) -> Result<()> {
    let text = std::fs::read_to_string(&args.plan)
        .with_context(|| format!("cannot read {}", args.plan.display()))?;
    let plan: Plan = serde_json::from_str(&text).context("the plan")?;
    let report = execute(&plan).await?;
    println!("{report}");
    Ok(())
}

async fn execute(plan: &Plan) -> Result<Value> {
    let start = tokio::time::Instant::now();
    let publish_end = start + Duration::from_millis(plan.publish_ms);
    let listen_end = publish_end + Duration::from_millis(plan.settle_ms);
    let lag = tokio::spawn(lag::watch(listen_end));
    let mut targets = Vec::new();
    let mut publishers = Vec::new();
    for p in &plan.parts {
        let signer = Signer::from_hex(&p.key).map_err(|e| anyhow::anyhow!("part key: {e}"))?;
        let part = StreamPartId::new(p.stream.clone(), Partition::new(p.partition)?);
        let sent: SentLog = Arc::default();
        targets.push(Target {
            part: part.clone(),
            publisher: signer.address(),
            storage_nodes: p.storage_nodes.clone(),
            sent: sent.clone(),
        });
        publishers.push(tokio::spawn(publisher::publish(
            publisher::Publisher {
                node: p.publish_node.clone(),
                part,
                signer,
                rate: plan.rate,
                payload: plan.payload,
            },
            sent,
            start,
            publish_end,
        )));
    }
    let mut subscribers = Vec::new();
    for s in &plan.subscribers {
        let target = targets
            .get(s.part)
            .with_context(|| format!("subscriber {} names part {}", s.label, s.part))?
            .clone();
        let at = start + Duration::from_millis(s.start_ms);
        subscribers.push(tokio::spawn(subscriber::subscribe(
            s.node.clone(),
            target,
            at,
            listen_end,
        )));
    }
    let mut publisher_reports = Vec::new();
    for p in publishers {
        publisher_reports.push(p.await??);
    }
    let mut results = Vec::new();
    for s in subscribers {
        results.push(s.await?);
    }
    let mut late = lag.await?;
    // Gap fill, a few subscribers at a time.
    let mut filled = Vec::new();
    for (chunk_results, chunk_plans) in results.chunks(16).zip(plan.subscribers.chunks(16)) {
        let mut tasks = Vec::new();
        for (result, s) in chunk_results.iter().zip(chunk_plans) {
            let target = targets[s.part].clone();
            tasks.push(tokio::spawn(gapfill::fill(
                s.node.clone(),
                target,
                result.clone(),
            )));
        }
        for t in tasks {
            filled.push(t.await?);
        }
    }
    Ok(report(
        plan,
        &targets,
        &publisher_reports,
        &results,
        &filled,
        &mut late,
    ))
}

fn report(
    plan: &Plan,
    targets: &[Target],
    publishers: &[publisher::PublisherReport],
    results: &[subscriber::SubscriberResult],
    filled: &[gapfill::GapFill],
    late: &mut [f64],
) -> Value {
    let mut ttd = Vec::new();
    let mut latencies = Vec::new();
    let (mut live, mut live_expected, mut after, mut expected) = (0u64, 0u64, 0u64, 0u64);
    let (mut forged, mut unpermitted, mut reconnects, mut lagged) = (0u64, 0u64, 0u64, 0u64);
    let mut without_data = Vec::new();
    let mut per_subscriber = Vec::new();
    for ((r, f), s) in results.iter().zip(filled).zip(&plan.subscribers) {
        if let Some(t) = r.time_to_data_ms {
            ttd.push(t);
        } else {
            without_data.push(s.label.clone());
        }
        latencies.extend(r.latencies_ms.iter().map(|&(_, ms)| ms));
        live += f.live_received;
        live_expected += f.live_expected;
        after += f.after_fill;
        expected += f.expected;
        forged += r.forged + f.forged;
        unpermitted += r.unpermitted + f.unpermitted;
        reconnects += r.reconnects;
        lagged += r.lagged;
        per_subscriber.push(json!({
            "node": s.label,
            "part": s.part,
            "timeToDataMs": r.time_to_data_ms,
            "latencyMs": summary(&mut r.latencies_ms.iter().map(|&(_, ms)| ms).collect::<Vec<_>>()),
            "liveReceived": f.live_received,
            "liveExpected": f.live_expected,
            "expected": f.expected,
            "afterGapFill": f.after_fill,
            "filledByEntryNode": f.by_entry_node,
            "filledByStorageNode": f.by_storage_node,
            "reconnects": r.reconnects,
            "error": r.error.as_ref().or(f.error.as_ref()),
        }));
    }
    // From handing an event to the publisher's WebSocket to its node's answer (for a stored part,
    // once its storage nodes hold it); every acknowledged event has one.
    let mut acks: Vec<f64> = targets
        .iter()
        .flat_map(|t| {
            t.sent.lock().map_or_else(
                |_| Vec::new(),
                |s| s.iter().filter_map(|e| e.acked_ms).collect(),
            )
        })
        .collect();
    let published = acks.len() as u64;
    let gaps = filled.iter().filter(|f| f.expected > f.before_fill).count();
    json!({
        "parts": targets.len(),
        "wireBytes": publishers.iter().map(|p| p.wire_bytes).max().unwrap_or(0),
        "published": published,
        "publishErrors": publishers.iter().map(|p| p.errors).sum::<u64>(),
        "publisherReconnects": publishers.iter().map(|p| p.reconnects).sum::<u64>(),
        "subscribers": results.len(),
        "subscribersWithoutData": without_data,
        "timeToDataMs": summary(&mut ttd),
        "latencyMs": summary(&mut latencies),
        // Each event's earliest delivery: what the publisher's side and the first hop cost, apart
        // from how the network spreads it further (a tail here is every subscriber's tail).
        "firstDeliveryMs": summary(&mut first_deliveries(
            targets.len(),
            results
                .iter()
                .zip(&plan.subscribers)
                .map(|(r, s)| (s.part, r.latencies_ms.as_slice())),
        )),
        "deliveryRatioLive": ratio(live, live_expected),
        "deliveryRatioAfterGapFill": ratio(after, expected),
        "deliveries": {
            "liveReceived": live,
            "liveExpected": live_expected,
            "beforeGapFill": filled.iter().map(|f| f.before_fill).sum::<u64>(),
            "afterGapFill": after,
            "expected": expected,
        },
        "gapFill": {
            "subscribersWithGaps": gaps,
            "filledByEntryNode": filled.iter().map(|f| f.by_entry_node).sum::<u64>(),
            "filledByStorageNode": filled.iter().map(|f| f.by_storage_node).sum::<u64>(),
            "stillMissing": expected - after,
        },
        "forgedDelivered": forged,
        "unpermittedDelivered": unpermitted,
        "subscriberReconnects": reconnects,
        "laggedNotices": lagged,
        "perSubscriber": per_subscriber,
        "acknowledgementMs": summary(&mut acks),
        // How late the probe's own runtime woke a task (every 5 ms while it listened): a moment
        // the probe could not run delays every subscriber's events at once.
        "probeLateMs": summary(late),
    })
}

/// Each event's earliest delivery to any subscriber of its part, ms, from every subscriber's part and
/// its (event index, latency) pairs; a subscriber of a part beyond `parts` is left out.
fn first_deliveries<'a>(
    parts: usize,
    subscribers: impl IntoIterator<Item = (usize, &'a [(u64, f64)])>,
) -> Vec<f64> {
    let mut first: Vec<BTreeMap<u64, f64>> = vec![BTreeMap::new(); parts];
    for (part, latencies) in subscribers {
        let Some(first) = first.get_mut(part) else {
            continue;
        };
        for &(event, ms) in latencies {
            let earliest = first.entry(event).or_insert(ms);
            *earliest = earliest.min(ms);
        }
    }
    first.into_iter().flat_map(BTreeMap::into_values).collect()
}

#[cfg(test)]
mod tests {
    use super::first_deliveries;

    /// An event's first delivery is its earliest among its part's subscribers; the same index in
    /// another part is another event.
    #[test]
    fn the_first_delivery_is_the_earliest_of_a_parts_subscribers() {
        let a = [(0, 50.0), (1, 80.0)];
        let b = [(0, 30.0), (2, 90.0)];
        let c = [(0, 10.0)];
        let stray = [(0, 1.0)];
        let mut first =
            first_deliveries(2, [(0, &a[..]), (0, &b[..]), (1, &c[..]), (5, &stray[..])]);
        first.sort_by(f64::total_cmp);
        assert_eq!(first, [10.0, 30.0, 80.0, 90.0]);
    }
}
