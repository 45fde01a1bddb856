//! `cargo xtask scale`: many real relay processes, each in its own network namespace on one bridge,
//! with the latency model of Streamr's 2,000-node test; they find each other through the DHT from
//! three bootstrap peers. It measures, and prints as one JSON document (also written to
//! `$CARGO_TARGET_DIR/scale.json`):
//!
//! - joining: every node's peers, and how long it took to reach them;
//! - three phases — steady, churn (10 % killed and restarted), malicious (20 % adversaries) — each
//!   with time to data, publish→deliver latency, delivery before and after gap fill, forged and
//!   unpermitted events delivered (must be none), memory and messages per node;
//! - linear scaling: 1…16 nodes with their own stream parts and a CPU quota each;
//! - the simulated network at 100, 1,000 and 10,000 nodes (`rivulet-scale sim`).
//!
//! Flags: `--quick` (20 nodes, short phases, debug builds: the test command's version), `--nodes N`,
//! `--publish-secs S`, `--release`/`--debug`, `--skip-phases`, `--skip-scaling`, `--skip-sim`,
//! `--keep` (keep the run directory). It asserts only what does not depend on the machine's speed — every node joined,
//! every expected event delivered after gap fill, nothing forged or unpermitted delivered — and
//! prints the timings. It skips, saying why, where it cannot run (not root, no `ip netns`).
//! Everything it starts — processes, namespaces, veths, the bridge, cgroups — is removed on exit,
//! on failure and on Ctrl-C.

mod cgroup;
mod chain;
mod copies;
pub(crate) mod latency;
mod netns;
mod nodes;
mod options;
mod phases;
pub(crate) mod report;
mod run;
mod scaling;
mod scenario;
mod stop;

use std::{path::Path, sync::atomic::Ordering};

use anyhow::{Context, Result};

use crate::cmd::{run as run_cmd, step, target_dir};
use options::Options;
use stop::STOP;

/// `cargo xtask scale [flags]`.
pub(crate) fn scale(root: &Path, args: &[String]) -> Result<()> {
    let options = Options::parse(args)?;
    if let Some(why) = netns::unavailable() {
        eprintln!("scale: skipped — {why}. Run it as root on Linux with iproute2.");
        return Ok(());
    }
    // Ctrl-C and SIGTERM set the flag; `up` may have installed a handler already in this process.
    let _ = ctrlc::set_handler(|| STOP.store(true, Ordering::Relaxed));
    netns::sweep_orphans();
    cgroup::sweep_orphans();
    let profile = if options.release { "release" } else { "debug" };
    step(
        &format!("{profile} build of relay-node, rivulet-deploy and rivulet-scale"),
        || {
            let mut args = vec![
                "build",
                "--locked",
                "-p",
                "relay-node",
                "-p",
                "rivulet-deploy",
                "-p",
                "rivulet-scale",
            ];
            if options.release {
                args.insert(1, "--release");
            }
            run_cmd("cargo", &args)
        },
    )?;
    let bin = target_dir(root).join(profile);
    let bins = nodes::Binaries {
        relay: bin.join("relay-node"),
        deploy: bin.join("rivulet-deploy"),
        scale: bin.join("rivulet-scale"),
    };
    let dir = target_dir(root)
        .join("xtask")
        .join(format!("scale-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let result = run::run(root, &options, &bins, &dir);
    match &result {
        Ok(_) if !options.keep => {
            let _ = std::fs::remove_dir_all(&dir);
        }
        _ => eprintln!(
            "run files (logs, plans, probe reports) in {}",
            dir.display()
        ),
    }
    result
}
