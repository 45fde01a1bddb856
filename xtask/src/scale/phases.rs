//! The measured phases on one network of `n` relay nodes: roles (bootstrap, storage, churn victims,
//! adversaries), starting every node and waiting until each has found its peers through the DHT,
//! then steady (followed by a burst that counts gossip copies), churn and malicious in turn.

use std::{
    collections::BTreeMap,
    path::Path,
    time::{Duration, Instant},
};

use anyhow::{Result, bail};
use serde_json::{Value, json};

use super::{
    chain::{Chain, path_str},
    copies, latency,
    netns::Lab,
    nodes::{Binaries, Cluster, Kind},
    options::Options,
    report,
    scenario::{self, Churn, Phase},
    stop::{hold, sleep, stop_requested},
};
use crate::cmd::step;

/// Runs the phases; returns how the nodes joined and each phase's figures.
pub(crate) fn run(
    o: &Options,
    bins: &Binaries,
    lab: &Lab,
    chain: &Chain,
    dir: &Path,
    latency_file: &Path,
) -> Result<(Value, Vec<Value>)> {
    let n = o.nodes;
    // Roles: three bootstrap nodes; the last fifth become adversaries in the malicious phase;
    // storage nodes (two per part) among the others.
    let parts = if o.quick { 2 } else { 4 };
    let adversaries: Vec<usize> = (n - n / 5..n).collect();
    let core: Vec<usize> = (3..n - n / 5).collect();
    let mut next = 0usize;
    let mut phases = Vec::new();
    let mut storage_flags: BTreeMap<usize, Vec<String>> = BTreeMap::new();
    let secs = |s: f64| Duration::from_secs_f64(s);
    let publish = o.publish;
    let p = publish.as_secs_f64();
    for name in ["steady", "churn", "malicious"] {
        let stream = chain.stream(bins, &format!("scale/{name}"), parts)?;
        let mut storage = Vec::new();
        for part in 0..parts {
            let nodes = vec![core[next % core.len()], core[(next + 1) % core.len()]];
            next += 2;
            for s in &nodes {
                storage_flags
                    .entry(*s)
                    .or_default()
                    .extend(["--storage.part".to_owned(), format!("{stream}#{part}")]);
            }
            storage.push(nodes);
        }
        phases.push(Phase {
            name,
            stream,
            parts,
            storage,
            rate: 10.0,
            publish,
            settle: secs(if o.quick { 3.0 } else { 5.0 }),
            subscribe_window: (secs(p * 0.1), secs(p * 0.33)),
            churn: None,
        });
    }
    // Churn: a tenth of the nodes, not the churn phase's storage nodes, killed in the middle third.
    let mut rng = latency::Rng::new(10);
    let protected: Vec<usize> = phases[1].storage.iter().flatten().copied().collect();
    let mut victims = Vec::new();
    while victims.len() < (n / 10).max(1) {
        let v = rng.below(n);
        if !protected.contains(&v) && !victims.contains(&v) {
            victims.push(v);
        }
    }
    victims.sort_unstable();
    phases[1].churn = Some(Churn {
        victims,
        window: (secs(p * 0.4), secs(p * 0.55)),
        down: secs(if o.quick { 4.0 } else { 8.0 }),
    });

    let config = dir.join("node.toml");
    // No per-connection frame limit for the probe's publishers (bursts of 200/s); the registry read
    // every 5 s rather than every second: permissions do not change during a run, and a hundred
    // nodes polling one anvil every second cost CPU the nodes need.
    std::fs::write(
        &config,
        "[http]\nws_frames_per_second = 100000\n[chain]\nsync_interval_ms = 5000\n",
    )?;
    let common = vec![
        "--chain.deployment".to_owned(),
        path_str(&chain.deployment)?.to_owned(),
        "--chain.rpc-url".into(),
        chain.rpc.clone(),
        "--network.latency-model".into(),
        path_str(latency_file)?.to_owned(),
        "--config".into(),
        path_str(&config)?.to_owned(),
    ];
    let mut cluster = Cluster::new(lab, dir, bins.clone(), common);
    let join = step(
        &format!("{n} relay nodes: start, join through the DHT"),
        || {
            let idle = Duration::from_secs(if o.quick { 5 } else { 15 });
            start_all(&mut cluster, n, &storage_flags, idle).inspect_err(|_| hold())
        },
    )?;

    let mut results = Vec::new();
    for (k, phase) in phases.iter().enumerate() {
        if phase.name == "malicious" {
            step(
                &format!(
                    "{} adversaries replace relays (half dropping, half forging)",
                    adversaries.len()
                ),
                || {
                    let part_ids: Vec<String> = (0..phase.parts)
                        .map(|q| format!("{}#{q}", phase.stream))
                        .collect();
                    for (j, &slot) in adversaries.iter().enumerate() {
                        let kind = if j % 2 == 0 {
                            Kind::Dropping
                        } else {
                            Kind::Forging
                        };
                        cluster.start_adversary(slot, kind, &part_ids, latency_file)?;
                    }
                    sleep(secs(if o.quick { 8.0 } else { 15.0 }))
                },
            )?;
        }
        let mut result = step(&format!("phase: {}", phase.name), || {
            scenario::run(&mut cluster, lab, &bins.scale, dir, phase, 100 + k as u64)
        })?;
        if phase.name == "steady" {
            let copies = step(
                "gossip copies per node: a burst on one part, against the quiet before it",
                || copies::measure(&cluster, lab, &bins.scale, dir, phase),
            )?;
            if let Some(obj) = result.as_object_mut() {
                obj.insert("gossipCopies".into(), copies);
            }
        }
        if phase.name == "churn" {
            // Restarted nodes must be up again before the next phase.
            for &v in &phase
                .churn
                .as_ref()
                .map(|c| c.victims.clone())
                .unwrap_or_default()
            {
                cluster.wait_ready(v, Duration::from_secs(60))?;
            }
        }
        if phase.name == "malicious" {
            let stats: Vec<Value> = adversaries
                .iter()
                .filter_map(|&s| std::fs::read_to_string(cluster.adversary_stats(s)).ok())
                .filter_map(|t| serde_json::from_str(&t).ok())
                .collect();
            if let Some(obj) = result.as_object_mut() {
                obj.insert("adversaries".into(), report::adversary_totals(&stats));
            }
        }
        results.push(result);
    }
    hold();
    drop(cluster);
    Ok((join, results))
}

/// Notes the time to the peers wanted (`want`) of nodes `0..started` that reach it now. Asked after
/// every batch of starts as well as afterwards, so a node's time is not floored at the time every
/// node took to start.
fn note_joined(
    cluster: &Cluster<'_>,
    start_times: &[Instant],
    joined_at: &mut [Option<f64>],
    started: usize,
    want: u64,
) {
    for i in 0..started {
        if joined_at[i].is_none()
            && cluster
                .health(i)
                .and_then(|h| h["peers"].as_u64())
                .is_some_and(|p| p >= want)
        {
            joined_at[i] = Some(start_times[i].elapsed().as_secs_f64());
        }
    }
}

/// Starts every slot's relay: slot 0 first, slots 1 and 2 from it, then everyone else from those
/// three, ten at a time; waits until every node has found `min(n - 1, 8)` peers; measures every
/// node's CPU over `idle` with nothing published.
fn start_all(
    cluster: &mut Cluster<'_>,
    n: usize,
    storage: &BTreeMap<usize, Vec<String>>,
    idle: Duration,
) -> Result<Value> {
    let started = Instant::now();
    let flags = |i: usize| storage.get(&i).cloned().unwrap_or_default();
    cluster.start_relay(0, &flags(0))?;
    let first = cluster.wait_ready(0, Duration::from_secs(60))?;
    cluster.bootstrap = vec![first];
    for i in 1..3 {
        cluster.start_relay(i, &flags(i))?;
    }
    let mut bootstrap = cluster.bootstrap.clone();
    for i in 1..3 {
        bootstrap.push(cluster.wait_ready(i, Duration::from_secs(60))?);
    }
    cluster.bootstrap = bootstrap;
    let mut start_times = vec![started; n];
    let want = (n - 1).min(8) as u64;
    let mut joined_at: Vec<Option<f64>> = vec![None; n];
    for chunk in (3..n).collect::<Vec<_>>().chunks(10) {
        for &i in chunk {
            start_times[i] = Instant::now();
            cluster.start_relay(i, &flags(i))?;
        }
        for &i in chunk {
            cluster.wait_ready(i, Duration::from_secs(60))?;
        }
        let so_far = chunk.last().map_or(n, |last| last + 1);
        note_joined(cluster, &start_times, &mut joined_at, so_far, want);
    }
    let all_up = started.elapsed();
    let deadline = Instant::now() + Duration::from_secs(120);
    while joined_at.iter().any(Option::is_none) && Instant::now() < deadline {
        stop_requested()?;
        note_joined(cluster, &start_times, &mut joined_at, n, want);
        sleep(Duration::from_millis(250))?;
    }
    // Let the DHT settle before measuring: kademlia's lookups go on connecting nodes well past the
    // peers wanted, so wait until no node's count changed for 5 s (a minute at most). Then what the
    // nodes cost with nothing published: every node's CPU over `idle`.
    let counts = |cluster: &Cluster<'_>| -> Vec<Option<u64>> {
        (0..n)
            .map(|i| cluster.health(i).and_then(|h| h["peers"].as_u64()))
            .collect()
    };
    let settle_deadline = Instant::now() + Duration::from_secs(60);
    let mut last = counts(cluster);
    loop {
        sleep(Duration::from_secs(5))?;
        let now = counts(cluster);
        if now == last || Instant::now() > settle_deadline {
            break;
        }
        last = now;
    }
    let slots: Vec<usize> = (0..n).collect();
    let quiet = scenario::snapshot(cluster, cluster.lab(), &slots);
    sleep(idle)?;
    let mut idle_cores =
        quiet.cores_until(&scenario::snapshot(cluster, cluster.lab(), &slots), &slots);
    let mut peers: Vec<f64> = (0..n)
        .filter_map(|i| cluster.health(i)?["peers"].as_u64())
        .map(|p| p as f64)
        .collect();
    let not_joined: Vec<usize> = (0..n).filter(|i| joined_at[*i].is_none()).collect();
    let mut times: Vec<f64> = joined_at.iter().flatten().copied().collect();
    if !not_joined.is_empty() {
        let have: Vec<String> = not_joined
            .iter()
            .map(|&i| {
                let peers = cluster.health(i).map(|h| h["peers"].clone());
                format!("{i}: {}", peers.unwrap_or(Value::Null))
            })
            .collect();
        bail!(
            "nodes did not reach {want} peers within 120 s of the last start (node: peers): {}",
            have.join(", ")
        );
    }
    Ok(json!({
        "nodes": n,
        "bootstrapPeers": 3,
        "peersWanted": want,
        "allStartedSeconds": (all_up.as_secs_f64() * 10.0).round() / 10.0,
        "secondsToPeersWanted": report::summary(&mut times),
        "peersPerNode": report::summary(&mut peers),
        "notJoined": not_joined,
        "idleSeconds": idle.as_secs(),
        "idleCpuCoresPerNode": report::summary_fine(&mut idle_cores),
        "idleCpuCoresInAll": (idle_cores.iter().sum::<f64>() * 1000.0).round() / 1000.0,
    }))
}
