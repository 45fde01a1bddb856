//! How busy the machine is, from `/proc`: CPU used by the whole machine and by this run's own processes
//! (xtask and everything it started), so that what others used meanwhile ("foreign" load) can be told
//! apart; and waiting for an idle machine before a measurement.

use std::{
    collections::HashMap,
    time::{Duration, Instant},
};

use serde_json::{Value, json};

/// Clock ticks per second of `/proc`'s CPU times (Linux's USER_HZ).
const TICKS: f64 = 100.0;

/// CPU times at one moment.
#[derive(Clone, Copy)]
pub(super) struct Snapshot {
    busy: u64,
    total: u64,
    mine: u64,
    at: Instant,
}

fn system_ticks() -> (u64, u64) {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let fields: Vec<u64> = stat
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .skip(1)
        .filter_map(|f| f.parse().ok())
        .collect();
    let idle = fields.get(3).copied().unwrap_or(0) + fields.get(4).copied().unwrap_or(0);
    let total: u64 = fields.iter().sum();
    (total.saturating_sub(idle), total)
}

/// CPU ticks of this process and all its descendants (living ones, and through `cutime`/`cstime` the
/// ones that ended and were waited for).
fn my_ticks() -> u64 {
    let mut parent = HashMap::new();
    let mut ticks = HashMap::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // After "pid (comm) ": state ppid ... utime(14) stime(15) cutime(16) cstime(17), 1-based.
        let Some(rest) = stat.rfind(')').map(|i| &stat[i + 2..]) else {
            continue;
        };
        let f: Vec<&str> = rest.split(' ').collect();
        let num = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
        parent.insert(pid, num(1) as u32);
        ticks.insert(pid, num(11) + num(12) + num(13) + num(14));
    }
    let me = std::process::id();
    ticks
        .iter()
        .filter(|(pid, _)| {
            let mut p = **pid;
            for _ in 0..64 {
                if p == me {
                    return true;
                }
                match parent.get(&p) {
                    Some(&pp) if pp != 0 => p = pp,
                    _ => return false,
                }
            }
            false
        })
        .map(|(_, t)| t)
        .sum()
}

impl Snapshot {
    pub(super) fn now() -> Snapshot {
        let (busy, total) = system_ticks();
        Snapshot {
            busy,
            total,
            mine: my_ticks(),
            at: Instant::now(),
        }
    }

    /// Cores busy between `self` and `later`: (everything, this run's processes).
    pub(super) fn cores_until(&self, later: &Snapshot) -> (f64, f64) {
        let cpus = cpus() as f64;
        let total = later.total.saturating_sub(self.total).max(1) as f64;
        let busy = later.busy.saturating_sub(self.busy) as f64 / total * cpus;
        let secs = later.at.duration_since(self.at).as_secs_f64().max(1e-3);
        let mine = later.mine.saturating_sub(self.mine) as f64 / TICKS / secs;
        (busy, mine)
    }

    /// The load between `self` and now, as JSON: cores used by this run and by everything else.
    pub(super) fn report(&self) -> Value {
        let (busy, mine) = self.cores_until(&Snapshot::now());
        json!({
            "benchCores": round2(mine),
            "foreignCores": round2((busy - mine).max(0.0)),
            "loadavg1": loadavg1(),
        })
    }
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

pub(super) fn cpus() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

pub(super) fn loadavg1() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next()?.parse().ok())
        .unwrap_or(0.0)
}

/// Whether a compiler is running on the machine (someone's build; not cargo itself, which runs xtask).
fn compiler_running() -> bool {
    std::process::Command::new("pgrep")
        .args(["-x", "rustc|cc1|cc1plus"])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Cores used by others than this run, over 3 s.
fn foreign_cores() -> f64 {
    let a = Snapshot::now();
    std::thread::sleep(Duration::from_secs(3));
    let (busy, mine) = a.cores_until(&Snapshot::now());
    (busy - mine).max(0.0)
}

/// With `wait`, waits (at most `cap`) until no compiler runs and others use under 0.3 cores; either way
/// returns what the machine looked like, as JSON.
pub(super) fn settle(label: &str, wait: bool, cap: Duration) -> Value {
    let start = Instant::now();
    let mut foreign = foreign_cores();
    let mut compiling = compiler_running();
    while wait && (compiling || foreign > 0.3) && start.elapsed() < cap {
        eprintln!(
            "[idle] {label}: others use {foreign:.2} cores{}; waiting",
            if compiling { ", a compiler runs" } else { "" }
        );
        std::thread::sleep(Duration::from_secs(10));
        foreign = foreign_cores();
        compiling = compiler_running();
    }
    let waited = start.elapsed().as_secs();
    eprintln!(
        "[idle] {label}: waited {waited} s; others use {foreign:.2} cores, compiler running: {compiling}, load {:.2}",
        loadavg1()
    );
    json!({
        "label": label,
        "waitedS": waited,
        "foreignCoresAtStart": round2(foreign),
        "compilerRunningAtStart": compiling,
        "loadavg1": loadavg1(),
    })
}
