//! `relay-node bench --duration-secs`: a steady load through nodes that may go away (what
//! `cargo xtask soak` runs while it kills and restarts them).
//!
//! `--publishers` publishers share the events: event `i` is signed when it falls due at `--rate` and
//! sent with `id: i`; every subscriber takes what its node pushes (every publisher's events). A client
//! whose node goes away moves to another, and home again once its node is back ([`placement`]); a
//! publisher sends again what was not answered. At the end, after `--settle-secs`, each subscriber
//! asks for what it missed ([`gapfill`]). The report (one JSON object on stdout; definitions):
//! - `acknowledged`: events answered `published` with `stored: true` — on the entry node's disk;
//! - `deliveredLive`: acknowledged events a subscriber received pushed; `deliveredAfterGapFill`: those
//!   plus the ones it then got by resend, from its own node or another; `lost`: acknowledged events
//!   no node handed out;
//! - `acceptedNotStored`: events answered `stored: false` (the entry node did not store the part at the
//!   time, e.g. just after it started); reported, and gap-filled, apart.
//!
//! Progress lines (JSON) go to stderr every `--progress-secs`.

mod gapfill;
mod placement;
mod plan;
mod publisher;
mod subscriber;
mod tally;

use std::{
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use anyhow::{Result, bail};
use rivulet_protocol::{ChainId, ChainSigner, Partition, Signer, StreamPartId};
use serde_json::{Value, json};
use tokio::sync::watch;

use self::{
    placement::{Client, Placement},
    plan::Plan,
    publisher::{PublishLog, refused_json, with_log},
    subscriber::Received,
};
use crate::{bench::args::BenchArgs, node::now_ms};

/// Runs a steady load for `duration` and prints its report.
pub(super) async fn run(args: &BenchArgs, duration: Duration) -> Result<()> {
    if args.rate == 0 {
        bail!("--duration-secs needs --rate (events per second)");
    }
    if args.subscribers == 0 || args.publishers == 0 {
        bail!("--duration-secs needs at least one publisher and one subscriber");
    }
    let signer =
        Signer::from_hex(&args.private_key).map_err(|e| anyhow::anyhow!("--private-key: {e}"))?;
    let plan = Arc::new(Plan {
        part: StreamPartId::new(args.stream.clone(), Partition::new(args.partition)?),
        publisher: signer.address(),
        rate: f64::from(args.rate),
        total: duration.as_secs() * u64::from(args.rate),
        publishers: args.publishers,
        payload: args.payload,
        acks: args.acks,
        verify: !args.no_verify,
    });
    let placement = Arc::new(Placement::new(
        &args.publish_node,
        &args.subscribe_nodes,
        args.publishers,
        args.subscribers,
    ));
    let log = Arc::new(Mutex::new(PublishLog::default()));
    let received: Vec<Arc<Mutex<Received>>> = (0..args.subscribers)
        .map(|_| Arc::new(Mutex::new(Received::default())))
        .collect();

    // Subscribers first, each subscribed before the clock starts.
    let (stop, stopped) = watch::channel(false);
    let mut subscribers = Vec::new();
    for (i, r) in received.iter().enumerate() {
        let (plan, placement, r, stopped) =
            (plan.clone(), placement.clone(), r.clone(), stopped.clone());
        subscribers.push(tokio::spawn(async move {
            subscriber::subscribe(i, &plan, &placement, &r, stopped).await
        }));
    }
    let ready = Instant::now() + Duration::from_secs(30);
    while !received.iter().all(|r| with_log(r, |r| r.subscribed)) {
        if Instant::now() > ready {
            bail!("the subscribers did not subscribe within 30 s");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let start = Instant::now() + Duration::from_millis(500);
    let run_id = now_ms();
    let mut publishing = tokio::task::JoinSet::new();
    for p in 0..args.publishers {
        let mut chains = ChainSigner::new(
            signer.clone(),
            ChainId::new(format!("soak-{run_id:x}-{p}"))?,
        );
        let (plan, placement, log) = (plan.clone(), placement.clone(), log.clone());
        publishing.spawn(async move {
            publisher::publish(p, &plan, start, &mut chains, &placement, &log).await
        });
    }
    let mut progress = tokio::time::interval(Duration::from_secs(args.progress_secs.max(1)));
    progress.tick().await;
    let mut publisher_errors = Vec::new();
    while !publishing.is_empty() {
        tokio::select! {
            Some(result) = publishing.join_next() => match result {
                Ok(Ok(())) => {}
                Ok(Err(e)) => publisher_errors.push(format!("{e:#}")),
                Err(e) => publisher_errors.push(format!("a publisher task failed: {e}")),
            },
            _ = progress.tick() => {
                eprintln!("{}", progress_line(start, &plan, &placement, &log, &received));
            }
        }
    }
    // The last events: until every subscriber has every acknowledged one, or the settle time is up.
    let settle = Instant::now() + Duration::from_secs(args.settle_secs);
    while Instant::now() < settle {
        let acked = with_log(&log, |l| l.acked.clone());
        if received
            .iter()
            .all(|r| with_log(r, |r| r.indices.common(&acked)) == acked.len())
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let _ = stop.send(true);
    let mut subscriber_errors = Vec::new();
    for s in subscribers {
        match s.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => subscriber_errors.push(format!("{e:#}")),
            Err(e) => subscriber_errors.push(format!("a subscriber task failed: {e}")),
        }
    }

    let log = with_log(&log, std::mem::take);
    let mut reports = Vec::new();
    let mut lost = 0;
    for (i, r) in received.iter().enumerate() {
        let r = with_log(r, std::mem::take);
        let report = subscriber_report(&plan, &placement, i, &log, r).await;
        lost += report["lost"].as_u64().unwrap_or(0);
        reports.push(report);
    }
    let secs = duration.as_secs_f64().max(f64::EPSILON);
    let not_stored = log.not_stored.without(&log.acked).len();
    let report = json!({
        "mode": "steady",
        "durationSecs": duration.as_secs(),
        "rate": args.rate,
        "payloadBytes": args.payload,
        "partition": args.partition,
        "acks": args.acks,
        "verify": plan.verify,
        "scheduled": plan.total,
        "sent": log.sent,
        "acknowledged": log.acked.len(),
        "acceptedNotStored": not_stored,
        "refused": refused_json(&log.refused),
        "unanswered": log.unanswered,
        "acknowledgedPerSecond": (log.acked.len() as f64 / secs).round(),
        "maxBehindScheduleMs": log.max_behind_ms,
        "publishers": args.publishers,
        "publisherReconnects": log.reconnects,
        "publishersReturnedHome": log.returned_home,
        "sentAgainAfterReconnect": log.resent,
        "duplicateAnswers": log.duplicates,
        "subscribers": reports,
        "lost": lost,
        "publisherErrors": publisher_errors,
        "subscriberErrors": subscriber_errors,
    });
    println!("{report}");
    Ok(())
}

/// One subscriber's deliveries, live and after its gap fill (which this runs).
async fn subscriber_report(
    plan: &Plan,
    placement: &Placement,
    i: usize,
    log: &PublishLog,
    r: Received,
) -> Value {
    let acked_missing = log.acked.without(&r.indices);
    let mut missing: Vec<u64> = acked_missing.clone();
    missing.extend(
        log.not_stored
            .without(&log.acked)
            .into_iter()
            .filter(|i| !r.indices.contains(*i)),
    );
    missing.sort_unstable();
    let own = placement.node(Client::Subscriber(i)).to_owned();
    let others: Vec<String> = placement
        .nodes()
        .iter()
        .filter(|n| **n != own)
        .cloned()
        .collect();
    let filled = gapfill::fill(plan, &own, &others, &log.times, missing).await;
    let lost: Vec<u64> = filled
        .still_missing
        .iter()
        .copied()
        .filter(|i| log.acked.contains(*i))
        .collect();
    let live = log.acked.common(&r.indices);
    let acked_filled = acked_missing.len() as u64 - lost.len() as u64;
    json!({
        "node": own,
        "reconnects": r.reconnects,
        "returnedHome": r.returned_home,
        "received": r.indices.len(),
        "deliveredLive": live,
        "missedLive": acked_missing.len(),
        "filledByOwnNode": filled.by_own_node,
        "filledByOtherNodes": filled.by_other_nodes,
        "deliveredAfterGapFill": live + acked_filled,
        "lost": lost.len(),
        "lostIndices": lost.iter().take(20).collect::<Vec<_>>(),
        "acceptedNotStoredMissing": filled.still_missing.len() - lost.len(),
        "duplicates": r.duplicates,
        "invalid": r.invalid,
        "droppedForLag": r.lagged,
        "latencyMs": {
            "p50": r.latency.percentile(0.5),
            "p99": r.latency.percentile(0.99),
            "p999": r.latency.percentile(0.999),
            "max": r.latency.max(),
        },
        "gapFillErrors": filled.errors,
    })
}

/// A progress line: what was published, acknowledged and received so far, and the latency since
/// the last line.
fn progress_line(
    start: Instant,
    plan: &Plan,
    placement: &Placement,
    log: &Mutex<PublishLog>,
    received: &[Arc<Mutex<Received>>],
) -> Value {
    let (sent, acked, not_stored, behind) = with_log(log, |l| {
        (l.sent, l.acked.clone(), l.not_stored.len(), l.max_behind_ms)
    });
    let subscribers: Vec<Value> = received
        .iter()
        .enumerate()
        .map(|(i, r)| {
            with_log(r, |r| {
                let window = std::mem::take(&mut r.window);
                json!({
                    "node": placement.node(Client::Subscriber(i)),
                    "received": r.indices.len(),
                    "missing": acked.len() - r.indices.common(&acked),
                    "p50Ms": window.percentile(0.5),
                    "p99Ms": window.percentile(0.99),
                })
            })
        })
        .collect();
    json!({
        "t": Instant::now().saturating_duration_since(start).as_secs(),
        "sent": sent,
        "acknowledged": acked.len(),
        "notStored": not_stored,
        "maxBehindMs": behind,
        "publishers": (0..plan.publishers)
            .map(|p| placement.node(Client::Publisher(p)))
            .collect::<Vec<_>>(),
        "subscribers": subscribers,
    })
}
