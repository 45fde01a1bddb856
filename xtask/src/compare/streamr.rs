//! Streamr's network layer (`@streamr/trackerless-network`, the code Streamr nodes run) in the shape of
//! `shared/peers/streamr-network`: its `bench.cjs`, copied next to the build output (shared/ is
//! read-only), its packages installed once with `npm ci --ignore-scripts`.

use std::{
    os::fd::AsFd,
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{Context, Result, bail};
use serde_json::Value;

use crate::cmd::{KillOnDrop, run, step, target_dir};

/// The peer's folder in the shared checkout beside the repository (or above it).
fn source(root: &Path) -> Result<PathBuf> {
    root.ancestors()
        .map(|dir| dir.join("shared/peers/streamr-network"))
        .find(|dir| dir.join("bench.cjs").exists())
        .context(
            "shared/peers/streamr-network (Streamr's network layer bench) is not beside the \
             repository or above it",
        )
}

/// Where the copy runs.
fn copy(root: &Path) -> PathBuf {
    target_dir(root).join("streamr-network")
}

/// Copies the peer's files (always: they are small) and installs its packages unless the installed
/// ones match its lock file.
pub(super) fn setup(root: &Path) -> Result<()> {
    step(
        "Streamr's network layer (npm ci in the target directory)",
        || {
            let from = source(root)?;
            let to = copy(root);
            std::fs::create_dir_all(&to)?;
            let lock = std::fs::read(from.join("package-lock.json"))?;
            let fresh = std::fs::read(to.join("package-lock.json")).is_ok_and(|l| l == lock)
                && to.join("node_modules/.package-lock.json").exists();
            for entry in std::fs::read_dir(&from)? {
                let entry = entry?;
                if entry.file_type()?.is_file() {
                    let target = to.join(entry.file_name());
                    std::fs::copy(entry.path(), &target)?;
                    // shared/ is read-only; the copy must not be, or the next copy fails.
                    let mut perms = std::fs::metadata(&target)?.permissions();
                    #[allow(clippy::permissions_set_readonly_false)]
                    perms.set_readonly(false);
                    std::fs::set_permissions(&target, perms)?;
                }
            }
            if fresh {
                eprintln!("{} is up to date", to.display());
                return Ok(());
            }
            let dir = to.to_str().context("non-UTF-8 path")?;
            // Native addons' install scripts would download prebuilt binaries; the bench stubs them.
            run(
                "npm",
                &[
                    "ci",
                    "--prefix",
                    dir,
                    "--ignore-scripts",
                    "--no-audit",
                    "--no-fund",
                ],
            )
        },
    )
}

/// Runs phases A (throughput), B (latency at 1,000 msg/s), C1 and C2 (the same with verifying
/// subscribers) and the join once (`wait`: waiting for an idle machine and measuring a disturbed phase
/// again, as [`super::machine::measured`] does); returns its results file.
pub(super) fn measure(root: &Path, wait: bool) -> Result<Value> {
    let dir = copy(root);
    let out = dir.join("results.json");
    let _ = std::fs::remove_file(&out);
    // Its own idle check, like ours, waits for an idle machine and measures a disturbed phase again.
    let attempts = if wait { "3" } else { "1" };
    let mut args = vec![
        "bench.cjs",
        "--reps",
        "1",
        "--n",
        "20000",
        "--rate",
        "1000",
        "--dur",
        "5",
        "--phases",
        "A,B,C1,C2",
        "--maxAttempts",
        attempts,
        "--out",
        "results.json",
    ];
    if wait {
        args.extend([
            "--waitIdle",
            "1",
            "--waitCapS",
            "300",
            "--waitTotalCapS",
            "1800",
        ]);
    }
    eprintln!("$ (cd {}; node {})", dir.display(), args.join(" "));
    let child = Command::new("node")
        .args(args)
        .current_dir(&dir)
        .stdin(Stdio::null())
        .stdout(Stdio::from(std::io::stderr().as_fd().try_clone_to_owned()?))
        .spawn()
        .context("cannot start node (Node.js 20 or newer)")?;
    let mut child = KillOnDrop(child);
    let deadline = Instant::now() + Duration::from_secs(if wait { 2400 } else { 600 });
    let status = loop {
        if let Some(status) = child.0.try_wait()? {
            break status;
        }
        if Instant::now() > deadline {
            bail!("Streamr's bench did not finish in time");
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    if !status.success() {
        bail!("Streamr's bench failed: {status}");
    }
    let results: Value = serde_json::from_str(
        &std::fs::read_to_string(&out)
            .with_context(|| format!("Streamr's bench wrote no {}", out.display()))?,
    )?;
    if let Some(error) = results["reps"][0]["error"].as_str() {
        bail!("Streamr's bench: {error}");
    }
    let mut results = results;
    least_disturbed(&mut results);
    Ok(results)
}

/// The figures of each phase's least disturbed attempt. When every attempt was disturbed, Streamr's bench
/// keeps the last; this harness keeps the one during which others used the least CPU, as it does for
/// its own runs. The medians (of one repetition) are set from the kept attempts.
pub(super) fn least_disturbed(results: &mut Value) {
    let rep = &mut results["reps"][0];
    for phase in ["A", "B", "C1", "C2"] {
        let discarded = format!("{phase}_discardedAttempts");
        let mut attempts: Vec<Value> = std::iter::once(rep[phase].take())
            .chain(rep[&discarded].as_array().cloned().unwrap_or_default())
            .filter(|a| !a.is_null())
            .collect();
        if attempts.is_empty() {
            continue;
        }
        let foreign = |a: &Value| a["foreignCoresDuring"].as_f64().unwrap_or(f64::MAX);
        let best = (0..attempts.len())
            .min_by(|&i, &j| foreign(&attempts[i]).total_cmp(&foreign(&attempts[j])))
            .unwrap_or(0);
        rep[phase] = attempts.remove(best);
        if !attempts.is_empty() {
            rep[&discarded] = Value::Array(attempts);
        }
    }
    let rep = results["reps"][0].clone();
    let medians = &mut results["medians"];
    for (key, phase, field) in [
        ("A_msgsPerS", "A", "msgsPerS"),
        ("A_deliveriesPerS", "A", "deliveriesPerS"),
        ("C1_msgsPerS", "C1", "msgsPerS"),
        ("C1_deliveriesPerS", "C1", "deliveriesPerS"),
        ("B_p50us", "B", "p50us"),
        ("B_p99us", "B", "p99us"),
        ("C2_p50us", "C2", "p50us"),
        ("C2_p99us", "C2", "p99us"),
    ] {
        if !rep[phase].is_null() {
            medians[key] = rep[phase][field].clone();
        }
    }
    medians["kept"] = "each phase's least disturbed attempt (least foreign CPU during it)".into();
}
