//! Gossip copies per node and event, estimated from the wire: gossipsub drops duplicates before the
//! relay sees them, so no counter of the node's counts them. Right after the steady phase (its
//! topics' members still in them), a publisher sends a burst of events to one part at a rate where
//! gossip outweighs everything else a node receives; each member node's received bytes during the
//! burst, less what it received in the 5 quiet seconds before, over its unique events and the bytes
//! one copy takes on the wire, is its number of copies per event.
//!
//! One copy's bytes are the event's wire bytes, its topic's name, and [`FRAMING_BYTES`]. That is an
//! estimate (messages that share a TCP segment take less, acknowledgements of what the node itself
//! forwards add some), good to some 15 %; the simulator counts copies exactly.

use std::{
    path::Path,
    time::{Duration, Instant},
};

use anyhow::{Result, bail};
use serde_json::{Value, json};

use super::{
    netns::Lab,
    nodes::Cluster,
    report,
    scenario::{PUBLISHER_KEY, Phase, Snapshot, honest, read_report, snapshot, spawn_probe},
    stop::{sleep, stop_requested},
};

/// Framing around one gossip message: protobuf fields (~8), yamux (12) and noise (18) headers, and
/// the TCP/IP/Ethernet headers of the segment that carries it (66).
const FRAMING_BYTES: f64 = 104.0;
/// Burst rate and length.
const RATE: f64 = 200.0;
const SECONDS: u64 = 5;

/// Measures on `phase`'s first part (its members still in the topic); returns the figures.
pub(crate) fn measure(
    cluster: &Cluster<'_>,
    lab: &Lab,
    scale_bin: &Path,
    dir: &Path,
    phase: &Phase,
) -> Result<Value> {
    let slots = honest(cluster, lab.slots());
    let quiet_start = snapshot(cluster, lab, &slots);
    sleep(Duration::from_secs(5))?;
    let before = snapshot(cluster, lab, &slots);
    let plan = json!({
        "rate": RATE,
        "payload": 200,
        "publishMs": SECONDS * 1000,
        "settleMs": 1000,
        "parts": [{
            "stream": phase.stream,
            "partition": 0,
            "key": PUBLISHER_KEY,
            "publishNode": cluster.http(phase.storage[0][0]),
            "storageNodes": [],
        }],
        "subscribers": [],
    });
    let (mut probe, report_file) = spawn_probe(scale_bin, dir, "copies", &plan)?;
    let deadline = Instant::now() + Duration::from_secs(SECONDS + 60);
    let status = loop {
        stop_requested()?;
        if let Some(status) = probe.0.try_wait()? {
            break status;
        }
        if Instant::now() > deadline {
            bail!("the burst's probe did not finish");
        }
        sleep(Duration::from_millis(50))?;
    };
    let after = snapshot(cluster, lab, &slots);
    if !status.success() {
        bail!("the burst's probe failed ({status})");
    }
    let probe_report = read_report(&report_file)?;
    let published = probe_report["published"].as_f64().unwrap_or(0.0);
    let wire = probe_report["wireBytes"].as_f64().unwrap_or(0.0);
    let topic = format!("rivulet/1/{}#0", phase.stream).len() as f64;
    let per_copy = wire + topic + FRAMING_BYTES;
    let elapsed = |a: &Snapshot, b: &Snapshot| match (a.at, b.at) {
        (Some(x), Some(y)) => y.duration_since(x).as_secs_f64(),
        _ => 0.0,
    };
    let (quiet_secs, burst_secs) = (elapsed(&quiet_start, &before), elapsed(&before, &after));
    let mut copies = Vec::new();
    for &i in &slots {
        let unique = |s: &Snapshot| {
            s.metrics
                .get(&i)
                .and_then(|m| m.get("rivulet_events_in_total{source=\"gossip\"}"))
                .copied()
                .unwrap_or(0.0)
        };
        let new = unique(&after) - unique(&before);
        // Members only: they took (nearly) every event of the burst from gossip.
        if published == 0.0 || new < 0.9 * published {
            continue;
        }
        let bytes = |s: &Snapshot| s.received.get(&i).copied().unwrap_or(0) as f64;
        let quiet_rate = (bytes(&before) - bytes(&quiet_start)) / quiet_secs.max(0.001);
        let gossip = bytes(&after) - bytes(&before) - quiet_rate * burst_secs;
        copies.push(gossip.max(0.0) / (new * per_copy));
    }
    Ok(json!({
        "method": "a burst of events to one part; per member node (received bytes during it - the quiet rate before it x its length) / (unique events x bytes of one copy); an estimate good to some 15 %",
        "ratePerSecond": RATE,
        "published": published,
        "bytesPerCopy": per_copy,
        "memberNodes": copies.len(),
        "copiesPerEventPerNode": report::summary(&mut copies),
    }))
}
