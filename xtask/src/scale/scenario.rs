//! One measured phase of a scale run on the running cluster: steady (every node honest, nothing
//! fails), churn (10 % of the nodes killed with SIGKILL and restarted during the run), or malicious
//! (20 % of the slots run adversaries instead of relays: half drop everything, half inject forged and
//! unpermitted events). Each phase has its own stream, so its topics and meshes form from nothing.
//!
//! The probe publishes to each part through its first storage node, and every honest node carries one
//! subscriber; the harness reads every node's `/metrics`, memory and received bytes before and after.

use std::{
    collections::BTreeMap,
    path::Path,
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

use super::{
    latency::Rng,
    nodes::{Cluster, Kind},
    stop::{sleep, stop_requested},
};
use crate::cmd::KillOnDrop;

/// A phase's shape.
#[derive(Clone, Debug)]
pub(crate) struct Phase {
    pub(crate) name: &'static str,
    pub(crate) stream: String,
    pub(crate) parts: usize,
    /// Storage nodes of each part (the first also takes the publisher's events).
    pub(crate) storage: Vec<Vec<usize>>,
    pub(crate) rate: f64,
    pub(crate) publish: Duration,
    pub(crate) settle: Duration,
    /// Subscribers subscribe at a random time in this window.
    pub(crate) subscribe_window: (Duration, Duration),
    pub(crate) churn: Option<Churn>,
}

/// Nodes to kill and restart.
#[derive(Clone, Debug)]
pub(crate) struct Churn {
    pub(crate) victims: Vec<usize>,
    /// Each is killed at a random time in this window…
    pub(crate) window: (Duration, Duration),
    /// …and restarted this long after.
    pub(crate) down: Duration,
}

/// The publisher: anvil's development account 2 (publicly known; local chains only), the one address
/// granted publish permission on the scale streams.
pub(crate) const PUBLISHER_KEY: &str =
    "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a";

/// Counters read from every node.
#[derive(Clone, Debug, Default)]
pub(crate) struct Snapshot {
    pub(crate) metrics: BTreeMap<usize, BTreeMap<String, f64>>,
    pub(crate) received: BTreeMap<usize, u64>,
    /// (process id, CPU seconds) per slot.
    cpu: BTreeMap<usize, (Option<u32>, f64)>,
    /// The whole machine's busy CPU seconds.
    machine_busy: Option<f64>,
    pub(crate) at: Option<Instant>,
}

impl Snapshot {
    /// The CPU cores each of `slots`' processes used from this snapshot until `later`, for the
    /// processes that ran through it (a restarted node has a new process and is left out).
    pub(crate) fn cores_until(&self, later: &Snapshot, slots: &[usize]) -> Vec<f64> {
        let secs = match (self.at, later.at) {
            (Some(a), Some(b)) => b.duration_since(a).as_secs_f64(),
            _ => return Vec::new(),
        };
        slots
            .iter()
            .filter_map(|i| {
                let (pid_before, a) = self.cpu.get(i)?;
                let (pid_after, b) = later.cpu.get(i)?;
                (pid_before == pid_after && secs > 0.0).then(|| (b - a) / secs)
            })
            .collect()
    }

    /// The cores the whole machine kept busy from this snapshot until `later`.
    pub(crate) fn machine_cores_until(&self, later: &Snapshot) -> Option<f64> {
        let secs = later.at?.duration_since(self.at?).as_secs_f64();
        (secs > 0.0).then_some((later.machine_busy? - self.machine_busy?) / secs)
    }
}

/// Every one of `slots`' CPU time, and each relay's `/metrics` and received bytes, now.
pub(crate) fn snapshot(
    cluster: &Cluster<'_>,
    lab: &super::netns::Lab,
    slots: &[usize],
) -> Snapshot {
    let mut s = Snapshot {
        at: Some(Instant::now()),
        machine_busy: crate::cmd::machine_busy_secs(),
        ..Snapshot::default()
    };
    for &i in slots {
        // Only relays serve `/metrics` and the node figures; of an adversary only its CPU is read.
        if cluster.kind(i) == Some(Kind::Relay) {
            if let Some(m) = cluster.metrics(i) {
                s.metrics.insert(i, m);
            }
            s.received.insert(i, lab.received_bytes(i));
        }
        if let Some(cpu) = cluster.cpu_seconds(i) {
            s.cpu.insert(i, (cluster.pid(i), cpu));
        }
    }
    s
}

/// Starts `rivulet-scale probe` on `plan` (files named after `name` in `dir`); returns it and where
/// its report goes.
pub(crate) fn spawn_probe(
    scale_bin: &Path,
    dir: &Path,
    name: &str,
    plan: &Value,
) -> Result<(KillOnDrop, std::path::PathBuf)> {
    let plan_file = dir.join(format!("plan-{name}.json"));
    std::fs::write(&plan_file, serde_json::to_vec_pretty(plan)?)?;
    let report_file = dir.join(format!("probe-{name}.json"));
    // Above the relays' CPU priority: the probe stands for subscribers and publishers on their own
    // machines, and at the relays' priority it woke up to ~300 ms late among 100 busy relays, which
    // showed in every subscriber's latency at once (`probeLateMs`; BENCHMARKS.md, "Many nodes").
    let probe = Command::new("nice")
        .args(["-n", "-10"])
        .arg(scale_bin)
        .args(["probe", "--plan"])
        .arg(&plan_file)
        .stdin(Stdio::null())
        .stdout(Stdio::from(std::fs::File::create(&report_file)?))
        .stderr(Stdio::from(std::fs::File::create(
            dir.join(format!("probe-{name}.log")),
        )?))
        .spawn()
        .context("cannot start the probe")?;
    Ok((KillOnDrop(probe), report_file))
}

/// The probe's report.
pub(crate) fn read_report(file: &Path) -> Result<Value> {
    serde_json::from_str(
        std::fs::read_to_string(file)?
            .lines()
            .last()
            .unwrap_or("{}"),
    )
    .context("the probe's report")
}

/// The honest relay slots now running.
pub(crate) fn honest(cluster: &Cluster<'_>, slots: usize) -> Vec<usize> {
    (0..slots)
        .filter(|i| cluster.kind(*i) == Some(Kind::Relay))
        .collect()
}

/// Runs `phase`; returns its figures.
pub(crate) fn run(
    cluster: &mut Cluster<'_>,
    lab: &super::netns::Lab,
    scale_bin: &Path,
    dir: &Path,
    phase: &Phase,
    seed: u64,
) -> Result<Value> {
    stop_requested()?;
    let slots = lab.slots();
    let honest_slots = honest(cluster, slots);
    let mut rng = Rng::new(seed);
    let parts: Vec<Value> = (0..phase.parts)
        .map(|p| {
            json!({
                "stream": phase.stream,
                "partition": p,
                "key": PUBLISHER_KEY,
                "publishNode": cluster.http(phase.storage[p][0]),
                "storageNodes": phase.storage[p].iter().map(|s| cluster.http(*s)).collect::<Vec<_>>(),
            })
        })
        .collect();
    let (from, to) = phase.subscribe_window;
    let subscribers: Vec<Value> = honest_slots
        .iter()
        .map(|&i| {
            let at = from + (to - from).mul_f64(rng.unit());
            json!({
                "node": cluster.http(i),
                "part": i % phase.parts,
                "startMs": at.as_millis() as u64,
                "label": format!("node-{i}"),
            })
        })
        .collect();
    let plan = json!({
        "rate": phase.rate,
        "payload": 200,
        "publishMs": phase.publish.as_millis() as u64,
        "settleMs": phase.settle.as_millis() as u64,
        "parts": parts,
        "subscribers": subscribers,
    });
    let adversary_slots: Vec<usize> = (0..slots)
        .filter(|i| matches!(cluster.kind(*i), Some(k) if k != Kind::Relay))
        .collect();
    let watched: Vec<usize> = honest_slots
        .iter()
        .chain(&adversary_slots)
        .copied()
        .collect();
    let before = snapshot(cluster, lab, &watched);
    let (mut probe, report_file) = spawn_probe(scale_bin, dir, phase.name, &plan)?;
    let start = Instant::now();
    // Churn: (when, slot, kill or restart), in time order.
    let mut schedule: Vec<(Duration, usize, bool)> = Vec::new();
    if let Some(churn) = &phase.churn {
        let (a, b) = churn.window;
        for &v in &churn.victims {
            let at = a + (b - a).mul_f64(rng.unit());
            schedule.push((at, v, true));
            schedule.push((at + churn.down, v, false));
        }
        schedule.sort_by_key(|e| e.0);
    }
    let mut churn_log = Vec::new();
    let limit = phase.publish + phase.settle + Duration::from_secs(240);
    let status = loop {
        stop_requested()?;
        let now = start.elapsed();
        while let Some(&(at, slot, kill)) = schedule.first() {
            if at > now {
                break;
            }
            schedule.remove(0);
            if kill {
                cluster.kill(slot);
            } else {
                cluster.restart(slot)?;
            }
            churn_log.push(json!({ "atMs": now.as_millis() as u64, "slot": slot, "event": if kill { "killed" } else { "restarted" } }));
        }
        if let Some(status) = probe.0.try_wait()? {
            break status;
        }
        if now > limit {
            bail!(
                "the {} phase's probe did not finish within {limit:?}",
                phase.name
            );
        }
        sleep(Duration::from_millis(50))?;
    };
    if !status.success() {
        bail!(
            "the {} phase's probe failed ({status}); see {}",
            phase.name,
            dir.join(format!("probe-{}.log", phase.name)).display()
        );
    }
    let after = snapshot(cluster, lab, &watched);
    let report = read_report(&report_file)?;
    let mut out = json!({ "phase": phase.name });
    let obj = out.as_object_mut().context("object")?;
    for (k, v) in report.as_object().context("the probe's report")? {
        obj.insert(k.clone(), v.clone());
    }
    obj.insert(
        "nodes".into(),
        node_figures(cluster, &honest_slots, &before, &after),
    );
    // What the whole machine did meanwhile: a latency on a saturated machine is the scheduler's.
    let mut adversary_cores = before.cores_until(&after, &adversary_slots);
    obj.insert(
        "machine".into(),
        json!({
            "busyCores": before.machine_cores_until(&after).map(|c| (c * 100.0).round() / 100.0),
            "adversaryCoresPerProcess": (!adversary_slots.is_empty())
                .then(|| crate::scale::report::summary_fine(&mut adversary_cores)),
        }),
    );
    if let Some(churn) = &phase.churn {
        // The restarted nodes must be back: up, and connected beyond their bootstrap peers.
        let rejoined = churn
            .victims
            .iter()
            .filter(|&&v| {
                cluster
                    .health(v)
                    .and_then(|h| h["peers"].as_u64())
                    .is_some_and(|p| p >= 1)
            })
            .count();
        obj.insert(
            "churn".into(),
            json!({ "killedAndRestarted": churn.victims.len(), "backAndConnected": rejoined, "events": churn_log }),
        );
    }
    Ok(out)
}

/// Memory, messages and bytes per honest node over the phase.
fn node_figures(
    cluster: &Cluster<'_>,
    slots: &[usize],
    before: &Snapshot,
    after: &Snapshot,
) -> Value {
    let secs = match (before.at, after.at) {
        (Some(a), Some(b)) => b.duration_since(a).as_secs_f64(),
        _ => 0.0,
    };
    let delta = |i: usize, series: &str| -> f64 {
        let get = |s: &Snapshot| {
            s.metrics
                .get(&i)
                .and_then(|m| m.get(series))
                .copied()
                .unwrap_or(0.0)
        };
        (get(after) - get(before)).max(0.0)
    };
    let (mut rss, mut gossip_in, mut received_kib_s) = (Vec::new(), Vec::new(), Vec::new());
    let mut cores = before.cores_until(after, slots);
    let mut peers: Vec<f64> = slots
        .iter()
        .filter_map(|i| before.metrics.get(i)?.get("rivulet_peers").copied())
        .collect();
    let mut duplicates = 0.0;
    let mut refused: BTreeMap<String, f64> = BTreeMap::new();
    for &i in slots {
        if let Some(kib) = cluster.rss_kib(i) {
            rss.push(kib as f64 / 1024.0);
        }
        let unique = delta(i, "rivulet_events_in_total{source=\"gossip\"}");
        gossip_in.push(unique);
        duplicates += delta(i, "rivulet_duplicates_total");
        for series in after
            .metrics
            .get(&i)
            .map(|m| m.keys())
            .into_iter()
            .flatten()
        {
            if let Some(reason) = series
                .strip_prefix("rivulet_validation_failures_total{reason=\"")
                .and_then(|r| r.strip_suffix("\"}"))
            {
                *refused.entry(reason.to_owned()).or_default() += delta(i, series);
            }
        }
        let received = after.received.get(&i).copied().unwrap_or(0) as f64
            - before.received.get(&i).copied().unwrap_or(0) as f64;
        if secs > 0.0 {
            received_kib_s.push(received / 1024.0 / secs);
        }
    }
    json!({
        "honestNodes": slots.len(),
        "peersPerNodeAtStart": crate::scale::report::summary(&mut peers),
        "memoryMiB": crate::scale::report::summary(&mut rss),
        "cpuCoresPerNode": crate::scale::report::summary_fine(&mut cores),
        "uniqueGossipEventsPerNode": crate::scale::report::summary(&mut gossip_in),
        "receivedKiBPerSecondPerNode": crate::scale::report::summary(&mut received_kib_s),
        "duplicatesPastGossipsubCache": duplicates,
        "refusedAtHonestNodes": refused,
    })
}
