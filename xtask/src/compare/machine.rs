//! How busy the machine is, from `/proc`: CPU used by the whole machine and by this run's own processes
//! (xtask and everything it started), so that what others used meanwhile ("foreign" load) can be told
//! apart; and waiting for an idle machine before a measurement.

use std::{
    collections::HashMap,
    sync::atomic::{AtomicU64, Ordering},
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

/// Seconds waited for an idle machine in this run so far (all waits together stop at [`WAIT_TOTAL`]).
static WAITED: AtomicU64 = AtomicU64::new(0);
/// At most this long in all for one run of the command.
const WAIT_TOTAL: Duration = Duration::from_secs(45 * 60);
/// At most this long before one measurement.
const WAIT_ONE: Duration = Duration::from_secs(5 * 60);
/// Others may use this many cores during a measurement before it is taken again.
const FOREIGN_MAX: f64 = 0.25;

/// With `wait`, waits (at most 5 minutes, 45 in all) until no compiler runs and others use under 0.25
/// cores; returns what the machine looked like, as JSON. Without, returns at once.
pub(super) fn settle(label: &str, wait: bool) -> Value {
    if !wait {
        return json!({ "loadavg1": loadavg1() });
    }
    let start = Instant::now();
    let budget = || {
        WAIT_ONE.min(WAIT_TOTAL.saturating_sub(Duration::from_secs(WAITED.load(Ordering::Relaxed))))
    };
    let mut foreign = foreign_cores();
    let mut compiling = compiler_running();
    while (compiling || foreign > FOREIGN_MAX) && start.elapsed() < budget() {
        eprintln!(
            "[idle] {label}: others use {foreign:.2} cores{}; waiting",
            if compiling { ", a compiler runs" } else { "" }
        );
        std::thread::sleep(Duration::from_secs(10));
        foreign = foreign_cores();
        compiling = compiler_running();
    }
    let waited = start.elapsed().as_secs();
    WAITED.fetch_add(waited, Ordering::Relaxed);
    eprintln!(
        "[idle] {label}: waited {waited} s; others use {foreign:.2} cores, compiler running: {compiling}, load {:.2}",
        loadavg1()
    );
    json!({
        "waitedS": waited,
        "foreignCoresAtStart": round2(foreign),
        "compilerRunningAtStart": compiling,
        "loadavg1": loadavg1(),
    })
}

/// Runs one measurement (`run(attempt)`, attempts from 0) and adds to its JSON the machine's load during
/// it. With `wait`, waits for an idle machine first, and measures again (3 attempts in all) while others
/// used over 0.25 cores during it, keeping the least disturbed attempt.
pub(super) fn measured(
    label: &str,
    wait: bool,
    mut run: impl FnMut(u32) -> anyhow::Result<Value>,
) -> anyhow::Result<Value> {
    let attempts = if wait { 3 } else { 1 };
    let mut best: Option<(f64, Value)> = None;
    for attempt in 0..attempts {
        let idle = settle(label, wait);
        let before = Snapshot::now();
        let mut result = run(attempt)?;
        let machine = before.report();
        let foreign = machine["foreignCores"].as_f64().unwrap_or(0.0);
        result["machine"] = machine;
        result["idle"] = idle;
        result["attempt"] = json!(attempt + 1);
        eprintln!("{label}: {result}");
        if best.as_ref().is_none_or(|(least, _)| foreign < *least) {
            best = Some((foreign, result));
        }
        if foreign <= FOREIGN_MAX {
            break;
        }
        if attempt + 1 < attempts {
            eprintln!("[idle] {label}: others used {foreign:.2} cores during it; again");
        }
    }
    best.map(|(_, result)| result)
        .ok_or_else(|| anyhow::anyhow!("{label}: no attempt"))
}
