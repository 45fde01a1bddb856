//! `cargo xtask soak`: three relay nodes under a steady load for a long while, one of them killed with
//! SIGKILL and restarted every few minutes, their memory watched.
//!
//! Release builds; anvil with the contracts; a public bench stream the network coordinator stores on
//! all three nodes (replication 3; a restarted node copies what it missed from the others). The load
//! (`relay-node bench --duration-secs`) is three publishers sharing a steady rate and three
//! subscribers, one of each at home on each node, so every node does the same work: it takes a third
//! of the events from its publisher and the rest by gossip, and pushes all of them to its
//! subscriber. A client whose node is killed moves to another node (a publisher sends again what was
//! not answered) and back home once its node has been back for 30 s. Every `--kill-every-secs` the
//! next node in turn (a, b, c, a, …) is killed and, after `--down-secs`, restarted with its data
//! directory. Each node's resident memory is read from `/proc/<pid>/status` every 10 s (`--sample-secs`:
//! every second shows what the 10-s samples alias with — the node's own 10-s work, its memory trim).
//!
//! It prints, and writes to `$CARGO_TARGET_DIR/soak.json`: events published and acknowledged,
//! delivered live, delivered after gap fill (the subscriber's resend of what it missed), lost, and
//! each node's memory over time with whether it stayed within ±10 % of its warm level ([`memory`]).
//! It fails when an acknowledged event is lost. Everything it starts is stopped on exit, on failure
//! and on Ctrl-C.

mod cluster;
mod memory;
mod options;
mod report;

use std::{
    path::{Path, PathBuf},
    process::{Command, Stdio},
    sync::atomic::{AtomicBool, Ordering},
    time::{Duration, Instant},
};

use anyhow::{Context, Result, bail};
use serde_json::Value;

use self::{
    cluster::Cluster,
    memory::{Sample, Warmth},
    options::Options,
    report::{Event, Report},
};
use crate::{
    bench::{BENCH_KEY, BenchChain, build_release},
    cmd::{KillOnDrop, capture, run_dir, step, target_dir},
    health, network,
    setup::setup,
};

/// No node is killed this close to the end, so every node is up for the gap fill.
const QUIET_END: Duration = Duration::from_secs(60);
/// How long a restarted node's process warms up before its memory is judged.
const PROCESS_WARM_UP_SECS: u64 = 180;

/// Set by Ctrl-C and SIGTERM.
static STOP: AtomicBool = AtomicBool::new(false);

/// `cargo xtask soak [flags]`.
pub(crate) fn soak(root: &Path, args: &[String]) -> Result<()> {
    let options = Options::parse(args)?;
    // Ctrl-C and SIGTERM set the flag; the loop stops and everything started is dropped (killed).
    let _ = ctrlc::set_handler(|| STOP.store(true, Ordering::Relaxed));
    setup(root)?;
    let (relay, deployer) = build_release(root)?;
    let dir = run_dir(root, "soak")?;
    // Copies: a build in the shared target directory during the run must not change the binary a
    // restarted node runs.
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin)?;
    let copy = |from: &Path| -> Result<PathBuf> {
        let to = bin.join(from.file_name().context("a binary without a name")?);
        std::fs::copy(from, &to)
            .with_context(|| format!("cannot copy {} to {}", from.display(), to.display()))?;
        Ok(to)
    };
    let (relay, deployer) = (copy(&relay)?, copy(&deployer)?);
    let result = run(root, &options, (&relay, &deployer), &dir);
    match &result {
        Ok(()) if !options.keep => {
            let _ = std::fs::remove_dir_all(&dir);
        }
        _ => eprintln!(
            "run files (node logs, data, the load's report) in {}",
            dir.display()
        ),
    }
    result
}

fn run(root: &Path, o: &Options, (relay, deployer): (&Path, &Path), dir: &Path) -> Result<()> {
    let names = ["a", "b", "c"];
    let node_dirs: Vec<PathBuf> = names.iter().map(|n| dir.join(n)).collect();
    let accounts = node_dirs
        .iter()
        .map(|d| network::account_of(relay, d))
        .collect::<Result<Vec<_>>>()?;
    let chain = step("chain, contracts and the bench stream", || {
        BenchChain::start_funding(root, dir, (relay, deployer), 1, &accounts)
    })?;
    let deployment = chain.deployment.to_str().context("non-UTF-8 path")?;
    capture(
        relay,
        &[
            "network",
            "store",
            &chain.stream,
            "--private-key",
            BENCH_KEY,
            "--chain.deployment",
            deployment,
        ],
    )?;
    let mut cluster = Cluster::new(relay, &chain.deployment, &chain.config, dir, &names)?;
    step("three relay nodes storing the bench stream", || {
        for i in 0..cluster.len() {
            cluster.start(i)?;
        }
        let https: Vec<String> = (0..cluster.len()).map(|i| cluster.http(i)).collect();
        let https: Vec<&str> = https.iter().map(String::as_str).collect();
        health::wait_until_serving(
            &https,
            &[format!("{}#0", chain.stream)],
            Duration::from_secs(120),
        )
    })?;

    let duration = o.duration();
    eprintln!(
        "\n==> soak: {} min at {} events/s, a node killed every {} s (down {} s); memory every {} s",
        o.minutes,
        o.rate,
        o.kill_every.as_secs(),
        o.down.as_secs(),
        o.sample_every.as_secs()
    );
    let load_out = dir.join("load.json");
    let mut load = Command::new(relay);
    load.args(["bench", "--stream", &chain.stream])
        .args(["--publish-node", &cluster.http(0)]);
    for i in 0..cluster.len() {
        load.args(["--subscribe-node", &cluster.http(i)]);
    }
    let clients = cluster.len().to_string();
    load.args(["--publishers", &clients, "--subscribers", &clients])
        .args(["--rate", &o.rate.to_string()])
        .args(["--payload", &o.payload.to_string()])
        .args(["--duration-secs", &duration.as_secs().to_string()])
        .args(["--progress-secs", "60", "--private-key", BENCH_KEY])
        .stdin(Stdio::null())
        .stdout(Stdio::from(std::fs::File::create(&load_out)?))
        .stderr(Stdio::inherit());
    if !o.verify {
        // Live events are taken on the nodes' word (they verified them); resent ones are verified.
        load.arg("--no-verify");
    }
    let started = Instant::now();
    let mut load = KillOnDrop(load.spawn().context("cannot start relay-node bench")?);

    let mut samples: Vec<Vec<Sample>> = vec![Vec::new(); cluster.len()];
    let mut events = Vec::new();
    let mut next_kill = o.kill_every;
    let mut victim = 0;
    let mut restart_at: Option<(usize, Instant)> = None;
    let mut next_sample = Duration::ZERO;
    let mut next_line = Duration::from_secs(60);
    let status = loop {
        if STOP.load(Ordering::Relaxed) {
            bail!("stopped (Ctrl-C)");
        }
        if let Some(status) = load.0.try_wait()? {
            break status;
        }
        let t = started.elapsed();
        if restart_at.is_none() && t >= next_kill && next_kill + o.down + QUIET_END <= duration {
            cluster.kill(victim);
            events.push(Event::killed(t, cluster.name(victim)));
            restart_at = Some((victim, Instant::now() + o.down));
            victim = (victim + 1) % cluster.len();
            next_kill += o.kill_every;
        }
        if let Some((i, at)) = restart_at
            && Instant::now() >= at
        {
            cluster.start(i)?;
            events.push(Event::restarted(started.elapsed(), cluster.name(i)));
            restart_at = None;
        }
        if t >= next_sample {
            for (i, series) in samples.iter_mut().enumerate() {
                series.push(Sample {
                    t_secs: t.as_secs(),
                    rss_kib: cluster.rss_kib(i),
                    up_secs: if cluster.is_up(i) {
                        cluster.up_secs(i)
                    } else {
                        0
                    },
                    store_bytes: cluster.store_bytes(i),
                    anon_kib: cluster.anon_kib(i),
                    store_cache_bytes: cluster.store_cache_bytes(i),
                    cpu_secs: cluster.cpu_secs(i).unwrap_or(0.0),
                });
            }
            next_sample += o.sample_every;
        }
        if t >= next_line {
            eprintln!("{}", report::memory_line(t, &cluster, &samples));
            next_line += Duration::from_secs(60);
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    if !status.success() {
        bail!("relay-node bench exited with {status}; see above");
    }
    let load: Value = serde_json::from_str(
        std::fs::read_to_string(&load_out)
            .context("the load wrote no report")?
            .trim(),
    )
    .context("the load's report is not JSON")?;
    let warmth = Warmth::for_run(duration.as_secs(), PROCESS_WARM_UP_SECS);
    let report = Report {
        options: o,
        load: &load,
        names: &names,
        samples: &samples,
        events: &events,
        warmth,
    };
    let json = report.json();
    report.print();
    let out = target_dir(root).join("soak.json");
    std::fs::write(&out, serde_json::to_vec_pretty(&json)?)?;
    eprintln!("wrote {}", out.display());
    let lost = load["lost"].as_u64().unwrap_or(0);
    if lost > 0 {
        bail!("{lost} acknowledged events were lost");
    }
    if load["publisherErrors"]
        .as_array()
        .is_some_and(|e| !e.is_empty())
    {
        bail!("a publisher failed: {}", load["publisherErrors"]);
    }
    if load["subscriberErrors"]
        .as_array()
        .is_some_and(|e| !e.is_empty())
    {
        bail!("a subscriber failed: {}", load["subscriberErrors"]);
    }
    Ok(())
}
