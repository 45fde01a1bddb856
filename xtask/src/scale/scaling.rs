//! Linear scaling: fresh relay nodes in the lab's first slots, each in a cgroup with the same CPU
//! quota (so the figure shows the system, not how the machine's two cores are shared out), each
//! owning one partition of a stream that nobody else publishes to. For 1, 2, 4, … of them at once,
//! `rivulet-scale throughput` publishes pre-signed events to each as fast as it acknowledges them
//! (acknowledged = decoded, permission checked, signature verified). Reported: events per second per
//! node, the aggregate, and the efficiency `aggregate / (n × one node's rate)`; and the CPU time the
//! nodes used against their quota, which shows whether the quota was the limit.

use std::{path::Path, time::Duration};

use anyhow::{Context, Result};
use serde_json::{Value, json};

use super::{
    cgroup::CpuGroups,
    chain::{Chain, path_str},
    netns::Lab,
    nodes::{Binaries, Cluster},
    scenario::PUBLISHER_KEY,
    stop::sleep,
};
use crate::cmd::capture;

/// The CPU each node may use, in cores: sixteen of them take 1.44 of the machine's two, leaving the
/// rest for the publishers and the chain.
pub(crate) const QUOTA_CORES: f64 = 0.09;

/// Measures each step; returns the figures.
pub(crate) fn run(
    lab: &Lab,
    bins: &Binaries,
    chain: &Chain,
    dir: &Path,
    steps: &[usize],
    seconds: f64,
) -> Result<Value> {
    // The lab's last slot runs the chain.
    let max = steps
        .iter()
        .copied()
        .max()
        .unwrap_or(1)
        .min(lab.slots() - 1);
    let stream = chain.stream(bins, "scale/throughput", max)?;
    let dir = dir.join("scaling");
    std::fs::create_dir_all(&dir)?;
    // No per-connection frame limit: one publisher connection carries all of a node's load.
    let config = dir.join("node.toml");
    std::fs::write(&config, "[http]\nws_frames_per_second = 1000000\n")?;
    let common = vec![
        "--chain.deployment".to_owned(),
        path_str(&chain.deployment)?.to_owned(),
        "--chain.rpc-url".into(),
        chain.rpc.clone(),
        "--config".into(),
        path_str(&config)?.to_owned(),
    ];
    let mut groups = CpuGroups::create()?;
    let mut cluster = Cluster::new(lab, &dir, bins.clone(), common);
    let mut group_dirs = Vec::new();
    for i in 0..max {
        let group = groups.group(&format!("node{i}"), QUOTA_CORES)?;
        cluster.start_relay(i, &[])?;
        if let Some(pid) = cluster.pid(i) {
            CpuGroups::enter(&group, pid)?;
        }
        let addr = cluster.wait_ready(i, Duration::from_secs(60))?;
        if i == 0 {
            cluster.bootstrap = vec![addr];
        }
        group_dirs.push(group);
    }
    sleep(Duration::from_secs(3))?;
    // A short run on every node first (connections, caches, allocator), not counted.
    throughput(&cluster, bins, &stream, max, 2.0)?;
    let mut results = Vec::new();
    let mut single = None;
    for &n in steps {
        let n = n.min(max);
        let cpu_before: Vec<f64> = (0..n)
            .map(|i| cluster.cpu_seconds(i).unwrap_or(0.0))
            .collect();
        let mut v = throughput(&cluster, bins, &stream, n, seconds)?;
        // The publishers pre-sign first; CPU is counted over the whole call, so this is an upper
        // bound on the nodes' share of the measured seconds.
        let used: f64 = (0..n)
            .map(|i| cluster.cpu_seconds(i).unwrap_or(0.0) - cpu_before[i])
            .sum();
        let aggregate = v["aggregateEventsPerSecond"].as_f64().unwrap_or(0.0);
        let one = *single.get_or_insert(aggregate);
        let obj = v.as_object_mut().context("object")?;
        obj.insert(
            "eventsPerSecondPerNode".into(),
            json!((aggregate / n as f64).round()),
        );
        obj.insert(
            "efficiency".into(),
            json!(if one > 0.0 {
                ((aggregate / (n as f64 * one)) * 1000.0).round() / 1000.0
            } else {
                0.0
            }),
        );
        obj.insert(
            "nodeCpuSecondsPerNode".into(),
            json!((used / n as f64 * 100.0).round() / 100.0),
        );
        results.push(v);
        sleep(Duration::from_secs(2))?;
    }
    drop(cluster);
    Ok(json!({
        "method": "one publisher per node over its WebSocket API, pre-signed 200-byte events, up to 200 unanswered; events/s = acknowledged (validated, signature verified) events over the step's seconds",
        "cpuQuotaPerNodeCores": QUOTA_CORES,
        "quota": groups.kind(),
        "secondsPerStep": seconds,
        "payloadBytes": 200,
        "steps": results,
    }))
}

/// `rivulet-scale throughput` on the first `n` nodes for `seconds`; its report.
fn throughput(
    cluster: &Cluster<'_>,
    bins: &Binaries,
    stream: &str,
    n: usize,
    seconds: f64,
) -> Result<Value> {
    let mut args = vec![
        "throughput".to_owned(),
        "--stream".into(),
        stream.to_owned(),
        "--key".into(),
        PUBLISHER_KEY.into(),
        "--seconds".into(),
        seconds.to_string(),
        "--count".into(),
        // Enough for a node at nearly twice what its quota allowed in release builds (~1,400/s).
        ((seconds * 2500.0) as usize).to_string(),
    ];
    for i in 0..n {
        args.extend(["--target".into(), format!("{i}@{}", cluster.http(i))]);
    }
    let out = capture(
        &bins.scale,
        &args.iter().map(String::as_str).collect::<Vec<_>>(),
    )?;
    serde_json::from_str(out.trim()).context("throughput's report")
}
