//! The soak's report: one JSON document (the load generator's report, the kills, every memory
//! sample and each node's verdict) and a summary for people, with each node's memory every sixth of
//! the run.

use std::time::Duration;

use serde_json::{Value, json};

use super::{
    cluster::Cluster,
    memory::{Sample, Warmth, cores_used, mib, samples_json, verdict},
    options::Options,
};

/// A node killed or restarted.
#[derive(Clone, Debug)]
pub(crate) struct Event {
    t_secs: u64,
    node: String,
    action: &'static str,
}

impl Event {
    /// `node` killed (SIGKILL) at `t`.
    pub(crate) fn killed(t: Duration, node: &str) -> Event {
        Event {
            t_secs: t.as_secs(),
            node: node.to_owned(),
            action: "killed",
        }
    }

    /// `node` restarted at `t`.
    pub(crate) fn restarted(t: Duration, node: &str) -> Event {
        Event {
            t_secs: t.as_secs(),
            node: node.to_owned(),
            action: "restarted",
        }
    }
}

/// Everything a run measured.
pub(crate) struct Report<'a> {
    pub(crate) options: &'a Options,
    /// `relay-node bench`'s report.
    pub(crate) load: &'a Value,
    pub(crate) names: &'a [&'a str],
    pub(crate) samples: &'a [Vec<Sample>],
    pub(crate) events: &'a [Event],
    pub(crate) warmth: Warmth,
}

impl Report<'_> {
    /// `field` summed over the load's subscribers.
    fn sum(&self, field: &str) -> u64 {
        self.load["subscribers"]
            .as_array()
            .map(|s| s.iter().filter_map(|s| s[field].as_u64()).sum())
            .unwrap_or(0)
    }

    /// Deliveries expected: every acknowledged event to every subscriber.
    fn expected(&self) -> u64 {
        let subscribers = self.load["subscribers"].as_array().map_or(0, Vec::len) as u64;
        self.load["acknowledged"].as_u64().unwrap_or(0) * subscribers
    }

    /// The JSON document.
    pub(crate) fn json(&self) -> Value {
        let o = self.options;
        let nodes: Vec<Value> = self
            .names
            .iter()
            .zip(self.samples)
            .map(|(name, samples)| {
                json!({
                    "node": name,
                    "coresUsed": cores_used(samples),
                    "memory": verdict(samples, &self.warmth).json(),
                    "samples": samples_json(samples),
                })
            })
            .collect();
        json!({
            "minutes": o.minutes,
            "rate": o.rate,
            "payloadBytes": o.payload,
            "killEverySecs": o.kill_every.as_secs(),
            "downSecs": o.down.as_secs(),
            "subscriberVerifies": o.verify,
            "published": self.load["sent"],
            "acknowledged": self.load["acknowledged"],
            "acceptedNotStored": self.load["acceptedNotStored"],
            "refused": self.load["refused"],
            "subscribers": self.load["subscribers"].as_array().map_or(0, Vec::len),
            "deliveriesExpected": self.expected(),
            "deliveredLive": self.sum("deliveredLive"),
            "missedLive": self.sum("missedLive"),
            "filledByOwnNode": self.sum("filledByOwnNode"),
            "filledByOtherNodes": self.sum("filledByOtherNodes"),
            "deliveredAfterGapFill": self.sum("deliveredAfterGapFill"),
            "lost": self.load["lost"],
            "latencyMs": self.load["subscribers"].as_array().map(|s| s.iter().map(|s| s["latencyMs"].clone()).collect::<Vec<_>>()),
            "events": self.events.iter().map(|e| json!({"t": e.t_secs, "node": e.node, "action": e.action})).collect::<Vec<_>>(),
            "memoryRule": {
                "warmAfterSecs": self.warmth.run_secs,
                "restartedWarmAfterSecs": self.warmth.process_secs,
                "tolerancePct": self.warmth.tolerance * 100.0,
                "samples": "[seconds since the load started, VmRSS MiB (null: down), seconds since the process started, history file MiB, CPU seconds of the process, RssAnon MiB (the heap, not the binary's pages), the history store's page cache MiB]",
            },
            "nodes": nodes,
            "load": self.load,
        })
    }

    /// The summary on stdout.
    pub(crate) fn print(&self) {
        let o = self.options;
        let l = self.load;
        let kills = self.events.iter().filter(|e| e.action == "killed").count();
        println!(
            "\nsoak: {} min at {} events/s ({} B), {} kills (every {} s, down {} s)",
            o.minutes,
            o.rate,
            o.payload,
            kills,
            o.kill_every.as_secs(),
            o.down.as_secs()
        );
        println!(
            "published {} by {} publishers, acknowledged {} ({}/s), accepted but not stored {}, refused {}; publishers moved {} times for a killed node",
            l["sent"],
            l["publishers"],
            l["acknowledged"],
            l["acknowledgedPerSecond"],
            l["acceptedNotStored"],
            l["refused"],
            l["publisherReconnects"]
        );
        println!(
            "deliveries to {} subscribers: expected {}, live {}, missed live {} → resent by their node {}, by another {}; after gap fill {}; lost {}",
            self.load["subscribers"].as_array().map_or(0, Vec::len),
            self.expected(),
            self.sum("deliveredLive"),
            self.sum("missedLive"),
            self.sum("filledByOwnNode"),
            self.sum("filledByOtherNodes"),
            self.sum("deliveredAfterGapFill"),
            l["lost"]
        );
        for s in l["subscribers"].as_array().into_iter().flatten() {
            println!(
                "  subscriber at {} (moved {} times): latency publish → delivery p50 {} ms, p99 {} ms, max {} ms",
                s["node"],
                s["reconnects"],
                s["latencyMs"]["p50"],
                s["latencyMs"]["p99"],
                s["latencyMs"]["max"]
            );
        }
        println!(
            "\nresident memory, MiB (* restarted < {} s ago)",
            self.warmth.process_secs
        );
        println!(
            "{:>6}  {}",
            "min",
            self.names
                .iter()
                .map(|n| format!("{n:>9}"))
                .collect::<String>()
        );
        let step = (o.minutes * 60 / 6).max(10);
        let end = self
            .samples
            .iter()
            .filter_map(|s| s.last())
            .map(|s| s.t_secs)
            .max()
            .unwrap_or(0);
        let mut at = 0;
        while at <= end {
            let cells: String = self
                .samples
                .iter()
                .map(|series| format!("{:>9}", cell(series, at, self.warmth.process_secs)))
                .collect();
            println!("{:>6.1}  {cells}", at as f64 / 60.0);
            at += step;
        }
        for (name, samples) in self.names.iter().zip(self.samples) {
            let v = verdict(samples, &self.warmth);
            let cores = cores_used(samples);
            match (v.level_kib, v.within) {
                (Some(level), Some(within)) => println!(
                    "node {name} ({cores} cores): warm level {} MiB, warm range {}–{} MiB, at most {} % off: {}",
                    mib(level),
                    mib(v.min_kib),
                    mib(v.max_kib),
                    v.max_deviation_pct,
                    if within {
                        "within ±10 %"
                    } else {
                        "NOT within ±10 %"
                    }
                ),
                _ => println!(
                    "node {name} ({cores} cores): the run was too short to judge its warm memory"
                ),
            }
            let mut warm = samples.iter().filter(|s| self.warmth.is_warm(s));
            if let (Some(first), Some(last)) = (warm.next(), warm.next_back()) {
                let cache = |s: &Sample| s.store_cache_bytes.map_or(f64::NAN, |b| mib(b / 1024));
                let anon = |s: &Sample| s.anon_kib.map_or(f64::NAN, mib);
                println!(
                    "  first → last warm sample: store page cache {} → {} MiB, anonymous memory {} → {} MiB",
                    cache(first),
                    cache(last),
                    anon(first),
                    anon(last)
                );
            }
        }
    }
}

/// A node's memory at the first sample at or after `at` seconds.
fn cell(series: &[Sample], at: u64, warm_secs: u64) -> String {
    match series.iter().find(|s| s.t_secs >= at) {
        Some(Sample {
            rss_kib: Some(kib),
            up_secs,
            ..
        }) => format!(
            "{}{}",
            mib(*kib),
            if *up_secs < warm_secs { "*" } else { "" }
        ),
        Some(_) => "down".into(),
        None => "-".into(),
    }
}

/// One line every minute while the soak runs: each node's memory now.
pub(crate) fn memory_line(t: Duration, cluster: &Cluster, samples: &[Vec<Sample>]) -> String {
    let nodes: Vec<String> = samples
        .iter()
        .enumerate()
        .map(|(i, series)| {
            let now = series
                .last()
                .and_then(|s| s.rss_kib)
                .map_or("down".to_owned(), |k| format!("{} MiB", mib(k)));
            format!("{} {now}", cluster.name(i))
        })
        .collect();
    format!(
        "soak {:>5.1} min: memory {}",
        t.as_secs_f64() / 60.0,
        nodes.join(", ")
    )
}
