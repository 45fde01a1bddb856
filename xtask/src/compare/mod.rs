//! `cargo xtask bench-compare`: Rivulet side by side with its peers, on this machine in one run —
//! Debian's `nats-server` and `mosquitto` (200 B payloads, 1→1 and 1→10), Streamr's network layer in
//! the shape of `shared/peers/streamr-network` (3 nodes, 1 publisher, 2 subscribers), and Rivulet in
//! both shapes. Prints every figure with the ratio Rivulet/peer and writes everything, with the machine's
//! load during each run, to `$CARGO_TARGET_DIR/bench-compare.json`. Counts and durations are fixed;
//! everything listens on 127.0.0.1 and is stopped when the run ends.
//!
//! `--wait-idle`: before each measurement, wait (up to 5 minutes, 45 in all) until no compiler runs and
//! other processes use under 0.25 cores, and measure again (3 attempts in all) when they used more
//! during it; Streamr's bench is told to do the same (`--waitIdle 1 --maxAttempts 3`). `--only brokers,rivulet,streamr`: only those sections (the others'
//! figures show as "—"). `--runs NAME,...`: only those of Rivulet's runs (names as in the JSON). `--from-json FILE`: print the
//! table of a saved `bench-compare.json` again.

use std::path::Path;

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

use crate::{
    bench,
    cmd::{output, run, run_dir, step, target_dir},
    setup::setup,
};

mod brokers;
mod machine;
mod report;
mod rivulet;
mod streamr;

/// The sections, in the order they run.
const SECTIONS: [&str; 3] = ["brokers", "rivulet", "streamr"];

fn now_utc() -> String {
    output("date", &["-u", "+%Y-%m-%dT%H:%M:%SZ"])
        .map(|d| d.trim().to_owned())
        .unwrap_or_default()
}

/// The command: installs, builds, measures each peer and Rivulet, prints the table.
pub(crate) fn bench_compare(root: &Path, args: &[String]) -> Result<()> {
    let mut wait = false;
    let mut runs_only: Option<Vec<String>> = None;
    let mut only: Vec<String> = SECTIONS.iter().map(|s| (*s).to_owned()).collect();
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--wait-idle" => wait = true,
            "--from-json" => {
                let file = args.next().map(String::as_str).unwrap_or_default();
                return reprint(Path::new(file));
            }
            "--only" => {
                let list = args.next().map(String::as_str).unwrap_or_default();
                only = list.split(',').map(str::to_owned).collect();
                if let Some(unknown) = only.iter().find(|s| !SECTIONS.contains(&s.as_str())) {
                    bail!("bench-compare --only: {unknown:?} is none of {SECTIONS:?}");
                }
            }
            "--runs" => {
                let list = args.next().map(String::as_str).unwrap_or_default();
                let names: Vec<String> = list.split(',').map(str::to_owned).collect();
                if let Some(unknown) = names
                    .iter()
                    .find(|n| !rivulet::RUNS.iter().any(|spec| spec.name == n.as_str()))
                {
                    bail!("bench-compare --runs: Rivulet has no run {unknown:?}");
                }
                runs_only = Some(names);
            }
            other => bail!(
                "bench-compare: unknown option {other} (--wait-idle, --only brokers,rivulet,streamr, \
                 --runs NAME,..., --from-json FILE)"
            ),
        }
    }
    let runs = |section: &str| only.iter().any(|s| s == section);
    setup(root)?;
    if runs("brokers") {
        brokers::setup()?;
    }
    if runs("streamr") {
        streamr::setup(root)?;
    }
    let (relay, deployer) = bench::build_release(root)?;
    step("release build of the brokers' load generator", || {
        run(
            "cargo",
            &[
                "build",
                "--release",
                "--locked",
                "-p",
                "xtask",
                "--bin",
                "broker-load",
            ],
        )
    })?;
    let load = target_dir(root).join("release/broker-load");
    let dir = run_dir(root, "bench-compare")?;
    let started = now_utc();

    let mut brokers = json!({});
    if runs("brokers") {
        brokers = step("NATS and mosquitto", || brokers::measure(&load, &dir, wait))?;
    }
    let mut rivulet = json!({});
    if runs("rivulet") {
        rivulet = step("Rivulet", || {
            rivulet::measure(
                root,
                &dir.join("rivulet"),
                (&relay, &deployer),
                (wait, runs_only.as_deref()),
            )
        })?;
    }
    let mut streamr = json!({});
    if runs("streamr") {
        let idle = machine::settle("Streamr", wait);
        let before = machine::Snapshot::now();
        streamr = step("Streamr's network layer", || streamr::measure(root, wait))?;
        streamr["machine"] = before.report();
        streamr["idle"] = idle;
    }

    let table = report::print(&brokers, &rivulet, &streamr);
    let document = json!({
        "command": "cargo xtask bench-compare",
        "sections": only,
        "startedAt": started,
        "finishedAt": now_utc(),
        "host": {
            "cpus": machine::cpus(),
            "model": cpu_model(),
            "loadavg1AtEnd": machine::loadavg1(),
        },
        "versions": {
            "brokers": brokers::versions(),
            "node": output("node", &["--version"]).map(|v| v.trim().to_owned()).unwrap_or_default(),
            "streamr": streamr["versions"].clone(),
        },
        "table": table,
        "nats": brokers["nats"].take(),
        "mosquitto": brokers["mosquitto"].take(),
        "rivulet": rivulet,
        "streamr": streamr,
    });
    let out = target_dir(root).join("bench-compare.json");
    std::fs::write(&out, serde_json::to_vec_pretty(&document)?)?;
    eprintln!("wrote {}", out.display());
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// Prints the table of a saved run again (`--from-json FILE`), the figures chosen as a run now would.
fn reprint(file: &Path) -> Result<()> {
    let mut document: Value = serde_json::from_str(
        &std::fs::read_to_string(file)
            .with_context(|| format!("cannot read {}", file.display()))?,
    )?;
    streamr::least_disturbed(&mut document["streamr"]);
    let brokers = json!({ "nats": document["nats"], "mosquitto": document["mosquitto"] });
    eprintln!("{} (from {})", document["startedAt"], file.display());
    report::print(&brokers, &document["rivulet"], &document["streamr"]);
    Ok(())
}

fn cpu_model() -> Value {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| Value::from(m.trim()))
        })
        .unwrap_or(Value::Null)
}
