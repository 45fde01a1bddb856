//! The scale run's report: one JSON document, a few lines for people, the goals the issue sets
//! (reported, never asserted: timings depend on the machine), and the invariants that do not depend
//! on it (asserted).

use anyhow::{Result, bail};
use serde_json::{Value, json};

use super::options::Options;

/// Everything that goes into the document.
pub(crate) struct Inputs<'a> {
    pub(crate) options: &'a Options,
    pub(crate) started: String,
    pub(crate) load_before: String,
    pub(crate) load_after: String,
    /// Packets the kernel dropped for a full receive queue during the run (all of the machine's).
    pub(crate) backlog_drops: u64,
    pub(crate) latency_model: Value,
    pub(crate) join: Value,
    pub(crate) phases: Vec<Value>,
    pub(crate) linear: Option<Value>,
    pub(crate) simulation: Option<Value>,
}

/// `{"n","p50","p90","p99","max","mean"}` of `values`, rounded to 0.1.
pub(crate) fn summary(values: &mut [f64]) -> Value {
    summary_to(values, 10.0)
}

/// [`summary`] rounded to 0.001, for small quantities (cores).
pub(crate) fn summary_fine(values: &mut [f64]) -> Value {
    summary_to(values, 1000.0)
}

fn summary_to(values: &mut [f64], scale: f64) -> Value {
    values.sort_by(f64::total_cmp);
    let pick = |p: f64| {
        if values.is_empty() {
            0.0
        } else {
            values[(((values.len() - 1) as f64) * p).round() as usize]
        }
    };
    let r = |v: f64| (v * scale).round() / scale;
    let mean = if values.is_empty() {
        0.0
    } else {
        values.iter().sum::<f64>() / values.len() as f64
    };
    json!({ "n": values.len(), "p50": r(pick(0.5)), "p90": r(pick(0.9)), "p99": r(pick(0.99)), "max": r(pick(1.0)), "mean": r(mean) })
}

/// The time now, UTC, as `YYYY-MM-DDTHH:MM:SSZ`.
pub(crate) fn now_utc() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let (days, rest) = ((secs / 86_400) as i64, secs % 86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

/// `/proc/loadavg`'s three load averages.
pub(crate) fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

/// The adversaries' counts, summed.
pub(crate) fn adversary_totals(stats: &[Value]) -> Value {
    let sum = |f: &dyn Fn(&Value) -> u64| stats.iter().map(f).sum::<u64>();
    let injected = |k: &'static str| sum(&|s: &Value| s["injected"][k].as_u64().unwrap_or(0));
    let mode = |m: &'static str| stats.iter().filter(|s| s["mode"] == m).count();
    json!({
        "dropping": mode("drop"),
        "forging": mode("forge"),
        "injected": {
            "alteredContent": injected("alteredContent"),
            "shadowedId": injected("shadowedId"),
            "madeUpSignature": injected("madeUpSignature"),
            "unpermittedSigner": injected("unpermittedSigner"),
        },
        "eventsReceivedAndNotForwarded": sum(&|s: &Value| s["received"].as_u64().unwrap_or(0)),
        "historyRequestsHeld": sum(&|s: &Value| s["historyRequestsHeld"].as_u64().unwrap_or(0)),
    })
}

/// The whole report.
pub(crate) fn document(i: Inputs<'_>) -> Value {
    let o = i.options;
    let phase = |name: &str| i.phases.iter().find(|p| p["phase"] == name).cloned();
    let steady = phase("steady").unwrap_or(Value::Null);
    let churn = phase("churn").unwrap_or(Value::Null);
    let all_forged: u64 = i
        .phases
        .iter()
        .map(|p| {
            p["forgedDelivered"].as_u64().unwrap_or(0)
                + p["unpermittedDelivered"].as_u64().unwrap_or(0)
        })
        .sum();
    // A goal is met or not where it was measured; null where it was not.
    let goal = |measured: &Value, met: &dyn Fn(f64) -> bool| json!({ "measured": measured, "met": measured.as_f64().map(met) });
    let measured_forged = if i.phases.is_empty() {
        Value::Null
    } else {
        json!(all_forged)
    };
    let goals = json!({
        "timeToDataP50AtMost500Ms": goal(&steady["timeToDataMs"]["p50"], &|v| v <= 500.0),
        "deliveryLatencyP99AtMost300Ms": goal(&steady["latencyMs"]["p99"], &|v| v <= 300.0),
        "fullDeliveryAfterGapFillUnderChurn": goal(&churn["deliveryRatioAfterGapFill"], &|v| v == 1.0),
        "nothingForgedDelivered": goal(&measured_forged, &|v| v == 0.0),
    });
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    json!({
        "command": if o.quick { "cargo xtask scale --quick" } else { "cargo xtask scale" },
        "started": i.started,
        "machine": {
            "cpus": cpus,
            "loadBefore": i.load_before,
            "loadAfter": i.load_after,
            "packetsDroppedForAFullReceiveQueue": i.backlog_drops,
        },
        "build": if o.release { "release" } else { "debug" },
        "nodes": o.nodes,
        "publishSecondsPerPhase": o.publish.as_secs(),
        "latencyModel": i.latency_model,
        "join": i.join,
        "phases": i.phases,
        "linearScaling": i.linear,
        "simulation": i.simulation,
        "goals": goals,
    })
}

/// The document without per-subscriber details (those stay in the file).
pub(crate) fn without_details(doc: &Value) -> Value {
    let mut d = doc.clone();
    if let Some(phases) = d["phases"].as_array_mut() {
        for p in phases {
            if let Some(obj) = p.as_object_mut() {
                obj.remove("perSubscriber");
                if let Some(churn) = obj.get_mut("churn").and_then(Value::as_object_mut) {
                    churn.remove("events");
                }
            }
        }
    }
    d
}

/// A few lines for people.
pub(crate) fn human(doc: &Value) -> String {
    let mut out = format!(
        "\nscale: {} nodes, {} build, load {} → {}\n",
        doc["nodes"], doc["build"], doc["machine"]["loadBefore"], doc["machine"]["loadAfter"]
    );
    if !doc["join"].is_null() {
        out += &format!(
            "  joined: peers per node p50 {} (min wanted {}), {} s to get them at p50; idle, each node used {} cores at p50 ({} in all)\n",
            doc["join"]["peersPerNode"]["p50"],
            doc["join"]["peersWanted"],
            doc["join"]["secondsToPeersWanted"]["p50"],
            doc["join"]["idleCpuCoresPerNode"]["p50"],
            doc["join"]["idleCpuCoresInAll"],
        );
    }
    for p in doc["phases"].as_array().into_iter().flatten() {
        out += &format!(
            "  {:<9} time to data p50 {} / p99 {} ms; latency p50 {} / p99 {} ms (each event's first delivery p50 {} / p99 {}); delivered live {:.4}, after gap fill {:.4}; forged {} unpermitted {}; memory p50 {} MiB, CPU p50 {} cores; the machine {} of its cores busy\n",
            p["phase"].as_str().unwrap_or(""),
            p["timeToDataMs"]["p50"],
            p["timeToDataMs"]["p99"],
            p["latencyMs"]["p50"],
            p["latencyMs"]["p99"],
            p["firstDeliveryMs"]["p50"],
            p["firstDeliveryMs"]["p99"],
            p["deliveryRatioLive"].as_f64().unwrap_or(0.0),
            p["deliveryRatioAfterGapFill"].as_f64().unwrap_or(0.0),
            p["forgedDelivered"],
            p["unpermittedDelivered"],
            p["nodes"]["memoryMiB"]["p50"],
            p["nodes"]["cpuCoresPerNode"]["p50"],
            p["machine"]["busyCores"],
        );
        if let Some(l) = p.get("probeLateMs").filter(|l| !l.is_null()) {
            out += &format!(
                "            the probe's own wake-ups late p50 {} / p99 {} / max {} ms\n",
                l["p50"], l["p99"], l["max"]
            );
        }
        if let Some(a) = p["machine"]
            .get("adversaryCoresPerProcess")
            .filter(|a| !a.is_null())
        {
            out += &format!(
                "            adversaries used {} cores each at p50 (max {})\n",
                a["p50"], a["max"]
            );
        }
        if let Some(c) = p.get("gossipCopies") {
            out += &format!(
                "            gossip copies per event per node p50 {} (p90 {}, {} member nodes)\n",
                c["copiesPerEventPerNode"]["p50"],
                c["copiesPerEventPerNode"]["p90"],
                c["memberNodes"]
            );
        }
    }
    for s in doc["linearScaling"]["steps"]
        .as_array()
        .into_iter()
        .flatten()
    {
        out += &format!(
            "  scaling   {:>2} nodes: {} events/s in all, {} per node, efficiency {}\n",
            s["nodes"], s["aggregateEventsPerSecond"], s["eventsPerSecondPerNode"], s["efficiency"]
        );
    }
    for run in doc["simulation"].as_array().into_iter().flatten() {
        for s in run["scenarios"].as_array().into_iter().flatten() {
            out += &format!(
                "  simulated {:>5} nodes ({} peers), {:<9} time to data p50 {} / p99 {} ms; latency p50 {} / p99 {} ms; delivered live {:.4}; copies per event {}\n",
                run["nodes"],
                run["peersPerNode"]["p50"],
                s["scenario"].as_str().unwrap_or(""),
                s["timeToDataMs"]["p50"],
                s["timeToDataMs"]["p99"],
                s["latencyMs"]["p50"],
                s["latencyMs"]["p99"],
                s["deliveryRatioLive"].as_f64().unwrap_or(0.0),
                s["receivedCopiesPerNodePerEvent"]["p50"]
            );
        }
    }
    for (goal, g) in doc["goals"].as_object().into_iter().flatten() {
        out += &format!(
            "  goal {goal}: {} ({})\n",
            g["measured"],
            match g["met"].as_bool() {
                Some(true) => "met",
                Some(false) => "NOT met",
                None => "not measured",
            }
        );
    }
    out
}

/// What must hold on any machine: every node joined (found its peers, and its subscriber got data),
/// every expected event delivered after gap fill, nothing forged or unpermitted delivered.
pub(crate) fn check_invariants(doc: &Value) -> Result<()> {
    let mut problems = Vec::new();
    if !doc["join"]["notJoined"]
        .as_array()
        .is_none_or(Vec::is_empty)
    {
        problems.push(format!(
            "nodes that did not join: {}",
            doc["join"]["notJoined"]
        ));
    }
    for p in doc["phases"].as_array().into_iter().flatten() {
        let name = p["phase"].as_str().unwrap_or("?");
        if !p["subscribersWithoutData"]
            .as_array()
            .is_none_or(Vec::is_empty)
        {
            problems.push(format!(
                "{name}: subscribers that got no data: {}",
                p["subscribersWithoutData"]
            ));
        }
        if p["deliveryRatioAfterGapFill"].as_f64() != Some(1.0) {
            problems.push(format!(
                "{name}: delivery after gap fill {} ({} of {} expected events)",
                p["deliveryRatioAfterGapFill"],
                p["deliveries"]["afterGapFill"],
                p["deliveries"]["expected"]
            ));
        }
        for key in ["forgedDelivered", "unpermittedDelivered"] {
            if p[key].as_u64() != Some(0) {
                problems.push(format!("{name}: {key} = {}", p[key]));
            }
        }
        if p["published"].as_u64().unwrap_or(0) == 0 {
            problems.push(format!("{name}: nothing was published"));
        }
    }
    if !problems.is_empty() {
        bail!("scale: {}", problems.join("; "));
    }
    eprintln!(
        "scale: every node joined, every expected event was delivered after gap fill, nothing forged or unpermitted was delivered"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_civil_utc() {
        let d = now_utc();
        assert_eq!(d.len(), 20);
        assert!(d.starts_with("20"), "{d}");
    }

    #[test]
    fn invariants_catch_forgeries_and_losses() {
        let good = json!({ "join": { "notJoined": [] }, "phases": [{ "phase": "steady", "subscribersWithoutData": [], "deliveryRatioAfterGapFill": 1.0, "forgedDelivered": 0, "unpermittedDelivered": 0, "published": 10 }] });
        assert!(check_invariants(&good).is_ok());
        let mut bad = good.clone();
        bad["phases"][0]["forgedDelivered"] = json!(1);
        assert!(check_invariants(&bad).is_err());
        let mut lossy = good;
        lossy["phases"][0]["deliveryRatioAfterGapFill"] = json!(0.99);
        assert!(check_invariants(&lossy).is_err());
    }
}
