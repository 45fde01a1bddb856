//! `rivulet-scale sim`: the relay network simulated on simulated time, for sizes one machine cannot
//! run as processes. What is simulated is the relay's logic as libp2p's gossipsub 0.50 and the relay
//! node run it, rule by rule — not the code itself (gossipsub reads the real clock):
//!
//! - the connection graph the relay's discovery leaves ([`topology`]);
//! - gossipsub with the library's defaults, the relay's 700 ms heartbeat and mesh degree
//!   (`rivulet_network::MESH`): a node joins a part's
//!   topic when a subscriber (or storage, or a publish) needs it, announces it to every peer and
//!   GRAFTs up to D = 4 of the peers in the topic; GRAFTs beyond D_hi = 6 are refused with a PRUNE
//!   unless the node dialed the peer, and a pruned peer backs off 60 s; each heartbeat refills a mesh
//!   below D_lo = 3 to D and trims one above D_hi to D; a node forwards a message it accepts to its
//!   mesh but not back to its sender; a publisher's node sends to every peer in the topic (flood
//!   publish); every heartbeat a node sends IHAVE for the message ids of the last 3 heartbeats to
//!   max(6, ¼ of the eligible) topic peers outside its mesh, and answers IWANT from the last 5;
//! - each hop costs the latency model's one-way delay plus a processing time (`--hop-ms`);
//! - the relay's local order: an event whose predecessor has not come waits up to 1 s for it;
//! - churn (nodes gone, their connections closed and meshes repaired, back after a while with their
//!   subscriber), dropping nodes (they take mesh places and forward nothing), and forging nodes
//!   (their events fail validation at the first honest node, which then scores them below the
//!   graylist threshold and ignores them, as gossipsub's P₄ penalty does).
//!
//! Not simulated: CPU (a hop costs `--hop-ms` however busy the node is), bandwidth, the DHT lookups'
//! short-lived connections, memory. The scale run compares the simulation at 100 nodes with the
//! real 100 processes to show how far to trust it.

mod engine;
mod gossip;
mod local;
mod outcome;
mod rng;
mod setup;
mod topology;

use rng::Rng;
use setup::{Scenario, Setup};

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use serde_json::{Value, json};

use crate::stats::summary;

/// `rivulet-scale sim` flags.
#[derive(Debug, Clone, Args)]
pub(crate) struct SimArgs {
    /// Nodes.
    #[arg(long, default_value_t = 10_000)]
    nodes: usize,
    /// The latency model file the scale run writes (regions' delays, jitter).
    #[arg(long)]
    latency_model: PathBuf,
    /// How long each part's publisher publishes, simulated seconds.
    #[arg(long, default_value_t = 60.0)]
    seconds: f64,
    /// Stream parts (each with its publisher; every node subscribes to one).
    #[arg(long, default_value_t = 4)]
    parts: usize,
    /// Events per second per part.
    #[arg(long, default_value_t = 10.0)]
    rate: f64,
    /// Processing time of a hop, ms (validation and the event loop).
    #[arg(long, default_value_t = 1.0)]
    hop_ms: f64,
    /// Connections from kademlia's lookups: each node dials `factor × 20 (1 + log2 N)` random nodes
    /// (0: only the connections discovery dials).
    #[arg(long, default_value_t = 1.0)]
    lookup_factor: f64,
    /// Members of its part each node's part-member lookups connect it to (the relay's
    /// `rivulet_network::members::PART_PEERS`; 0: no member lookups, as before they existed).
    #[arg(long, default_value_t = rivulet_network::members::PART_PEERS)]
    part_peers: usize,
    /// Instead of `--lookup-factor`: the factor that gives this many peers per node (median) at
    /// `--calibrate-nodes` nodes — the real run's figure.
    #[arg(long, requires = "calibrate_nodes")]
    calibrate_peers: Option<f64>,
    /// The real run's size, for `--calibrate-peers`.
    #[arg(long)]
    calibrate_nodes: Option<usize>,
    /// Seed.
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

/// Runs the three scenarios at the given size and prints the report.
pub(crate) fn run(args: &SimArgs) -> Result<()> {
    let model: Value = serde_json::from_str(
        &std::fs::read_to_string(&args.latency_model)
            .with_context(|| format!("cannot read {}", args.latency_model.display()))?,
    )?;
    let delay_ms: Vec<Vec<f64>> =
        serde_json::from_value(model["delay_ms"].clone()).context("the model's delay_ms")?;
    let latency = topology::Latency {
        delay_ms,
        jitter: model["jitter"].as_f64().unwrap_or(0.0),
    };
    let lookup_factor = match (args.calibrate_peers, args.calibrate_nodes) {
        (Some(peers), Some(nodes)) => calibrate(peers, nodes, args.seed),
        _ => args.lookup_factor,
    };
    let started = std::time::Instant::now();
    let mut scenarios = Vec::new();
    let mut graph_figures = Value::Null;
    for scenario in [Scenario::Steady, Scenario::Churn, Scenario::Malicious] {
        let setup = Setup {
            nodes: args.nodes,
            parts: args.parts,
            rate: args.rate,
            publish_s: args.seconds,
            hop_ms: args.hop_ms,
            scenario,
            latency: latency.clone(),
            lookup_factor,
            part_peers: args.part_peers,
            seed: args.seed,
        };
        let result = engine::simulate(&setup);
        if graph_figures.is_null() {
            let mut degrees: Vec<f64> = result.degrees.iter().map(|d| *d as f64).collect();
            graph_figures = summary(&mut degrees);
            // The bootstrap peers are connected to every node; the busiest of the rest are the
            // parts' first announcers, whom later members dial.
            let mut rest: Vec<usize> = result
                .degrees
                .iter()
                .skip(engine::BOOTSTRAP)
                .copied()
                .collect();
            rest.sort_unstable_by(|a, b| b.cmp(a));
            graph_figures["busiestOthers"] = json!(rest.iter().take(5).collect::<Vec<_>>());
        }
        scenarios.push(result.report(scenario));
    }
    println!(
        "{}",
        json!({
            "nodes": args.nodes,
            "parts": args.parts,
            "ratePerPart": args.rate,
            "publishSeconds": args.seconds,
            "hopMs": args.hop_ms,
            "lookupFactor": (lookup_factor * 1000.0).round() / 1000.0,
            "calibratedOn": args.calibrate_peers.map(|p| json!({ "nodes": args.calibrate_nodes, "peersPerNodeP50": p })),
            "lookupPeersPerNode": topology::Graph::lookup_peers(args.nodes, lookup_factor),
            "partPeers": args.part_peers,
            "peersPerNode": graph_figures,
            "scenarios": scenarios,
            "wallSeconds": (started.elapsed().as_secs_f64() * 10.0).round() / 10.0,
        })
    );
    Ok(())
}

/// The smallest lookup factor whose graph of `nodes` has a median of at least `peers` peers per
/// node (bisection; the median grows with the factor).
fn calibrate(peers: f64, nodes: usize, seed: u64) -> f64 {
    let median = |factor: f64| {
        let extra = topology::Graph::lookup_peers(nodes, factor);
        let g = topology::Graph::build(nodes, 3, extra, &mut Rng(seed));
        let mut d: Vec<usize> = g.adj.iter().map(Vec::len).collect();
        d.sort_unstable();
        d[d.len() / 2] as f64
    };
    let (mut lo, mut hi) = (0.0, 4.0);
    if median(lo) >= peers {
        return 0.0;
    }
    for _ in 0..30 {
        let mid = (lo + hi) / 2.0;
        if median(mid) >= peers {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    hi
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setup(scenario: Scenario) -> Setup {
        // Two regions 50 ms apart, 1 ms within.
        Setup {
            nodes: 200,
            parts: 2,
            rate: 10.0,
            publish_s: 20.0,
            hop_ms: 1.0,
            scenario,
            latency: topology::Latency {
                delay_ms: vec![vec![1.0, 50.0], vec![50.0, 1.0]],
                jitter: 0.0,
            },
            lookup_factor: 1.0,
            part_peers: rivulet_network::members::PART_PEERS,
            seed: 3,
        }
    }

    #[test]
    fn a_steady_network_delivers_everything_no_faster_than_its_links() {
        let r = engine::simulate(&setup(Scenario::Steady)).report(Scenario::Steady);
        assert_eq!(r["subscribersWithoutData"], 0);
        assert_eq!(r["deliveryRatioLive"], 1.0);
        assert_eq!(r["storedRatio"], 1.0);
        // Half the pairs are 50 ms apart, and every hop costs 1 ms.
        let p50 = r["latencyMs"]["p50"].as_f64().unwrap_or(0.0);
        assert!((1.0..200.0).contains(&p50), "{p50}");
        assert!(r["latencyMs"]["max"].as_f64().unwrap_or(0.0) >= 50.0);
    }

    #[test]
    fn forgers_are_refused_and_churned_subscribers_lose_only_their_downtime() {
        let m = engine::simulate(&setup(Scenario::Malicious)).report(Scenario::Malicious);
        assert!(m["forgedRefusedAtFirstHonestNode"].as_u64().unwrap_or(0) > 0);
        let c = engine::simulate(&setup(Scenario::Churn)).report(Scenario::Churn);
        let live = c["deliveryRatioLive"].as_f64().unwrap_or(0.0);
        // A tenth of the subscribers miss some 9 s of the 13-18 s they are subscribed: ~5 % in all.
        assert!(live < 1.0 && live > 0.9, "{live}");
    }
}
