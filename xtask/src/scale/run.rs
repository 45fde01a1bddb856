//! The whole run, in order: the lab network, the chain and streams, the nodes and their joining, the
//! three phases, then linear scaling and the simulation; the report last.

use std::{net::Ipv4Addr, path::Path};

use anyhow::{Context, Result};
use serde_json::Value;

use super::{
    chain::{Chain, path_str},
    latency,
    netns::{self, Lab},
    nodes::Binaries,
    options::Options,
    phases, report, scaling,
    stop::stop_requested,
};
use crate::cmd::{capture, step, target_dir};

/// Runs everything; writes and prints the report.
pub(crate) fn run(root: &Path, o: &Options, bins: &Binaries, dir: &Path) -> Result<()> {
    let started = report::now_utc();
    let load_before = report::loadavg();
    let drops_before = netns::backlog_drops();
    let n = o.nodes;
    let lab = step(
        &format!("lab network: a bridge and {n} namespaces, and one for the chain"),
        || {
            // One more namespace for the chain.
            Lab::create(n + 1)
        },
    )?;
    let chain = step("chain: anvil on the bridge, contracts, streams", || {
        Chain::start(root, bins, (&lab.namespace(n), lab.address(n)), dir)
    })?;
    let addresses: Vec<Ipv4Addr> = (0..n).map(|i| lab.address(i)).collect();
    let latency_file = dir.join("latency.json");
    let latency_model = latency::write(&latency_file, &addresses)?;

    let (join, results) = if o.phases {
        phases::run(o, bins, &lab, &chain, dir, &latency_file)?
    } else {
        (Value::Null, Vec::new())
    };

    let linear = if o.scaling {
        let steps: &[usize] = if o.quick {
            &[1, 2, 4]
        } else {
            &[1, 2, 4, 8, 16]
        };
        let seconds = if o.quick { 4.0 } else { 10.0 };
        Some(step(
            "linear scaling: nodes with their own parts and a CPU quota each",
            || scaling::run(&lab, bins, &chain, dir, steps, seconds),
        )?)
    } else {
        None
    };
    let simulation = if o.sim {
        let sizes: &[usize] = if o.quick {
            &[100, 1000]
        } else {
            &[100, 1000, 10_000]
        };
        Some(step(
            "simulation: the gossip network at larger sizes",
            || {
                // Calibrate only on a run where not every node was connected to every other.
                let steady = results.iter().find(|p| p["phase"] == "steady");
                let peers = steady
                    .and_then(|p| p["nodes"]["peersPerNodeAtStart"]["p50"].as_f64())
                    .filter(|p| *p < (n - 1) as f64);
                simulate(
                    &bins.scale,
                    &latency_file,
                    sizes,
                    o.quick,
                    peers.map(|p| (p, n)),
                )
            },
        )?)
    } else {
        None
    };
    let doc = report::document(report::Inputs {
        options: o,
        started,
        load_before,
        load_after: report::loadavg(),
        backlog_drops: netns::backlog_drops().saturating_sub(drops_before),
        latency_model,
        join,
        phases: results,
        linear,
        simulation,
    });
    let out = target_dir(root).join("scale.json");
    std::fs::write(&out, serde_json::to_vec_pretty(&doc)?)?;
    println!(
        "{}",
        serde_json::to_string_pretty(&report::without_details(&doc))?
    );
    eprintln!("{}", report::human(&doc));
    eprintln!("wrote {}", out.display());
    report::check_invariants(&doc)
}

/// `rivulet-scale sim` at each size, twice: with only the connections discovery dials, and with
/// kademlia's lookup connections too (at the estimated rate, or, with `calibration` — the real run's
/// median peers per node and its size — at the rate that matches it); their reports.
fn simulate(
    scale: &Path,
    latency_file: &Path,
    sizes: &[usize],
    quick: bool,
    calibration: Option<(f64, usize)>,
) -> Result<Value> {
    let mut runs = Vec::new();
    for &size in sizes {
        for lookups in [false, true] {
            stop_requested()?;
            let seconds = match (quick, size) {
                (true, _) => 20,
                (false, s) if s >= 10_000 => 30,
                _ => 60,
            };
            let mut args = vec![
                "sim".to_owned(),
                "--nodes".into(),
                size.to_string(),
                "--latency-model".into(),
                path_str(latency_file)?.to_owned(),
                "--seconds".into(),
                seconds.to_string(),
            ];
            match (lookups, calibration) {
                (false, _) => args.extend(["--lookup-factor".into(), "0".into()]),
                (true, Some((peers, nodes))) => args.extend([
                    "--calibrate-peers".into(),
                    peers.to_string(),
                    "--calibrate-nodes".into(),
                    nodes.to_string(),
                ]),
                (true, None) => {}
            }
            let out = capture(scale, &args.iter().map(String::as_str).collect::<Vec<_>>())?;
            runs.push(serde_json::from_str::<Value>(out.trim()).context("the simulator's report")?);
        }
    }
    Ok(Value::Array(runs))
}
