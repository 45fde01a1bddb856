//! `cargo xtask relay-bench`: the load generator's matrix against release builds on loopback (a chain
//! and three relay nodes), as JSON lines.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::{
    cmd::{KillOnDrop, capture, run, run_dir, step, target_dir},
    network,
    setup::setup,
};

/// anvil's development account 1 (publicly known; local chain only): owns the bench stream and publishes.
pub(crate) const BENCH_KEY: &str =
    "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d";

/// Release builds of the relay node and the deployer; their paths. The binaries in `target/release` are
/// removed first, so that Cargo puts this clone's there again even when they are up to date: another
/// clone sharing the target directory may have put its own there since (Cargo does not copy an
/// up-to-date binary again unless it is missing).
pub(crate) fn build_release(root: &Path) -> Result<(PathBuf, PathBuf)> {
    let release = target_dir(root).join("release");
    let bins = (release.join("relay-node"), release.join("rivulet-deploy"));
    let _ = std::fs::remove_file(&bins.0);
    let _ = std::fs::remove_file(&bins.1);
    step("release build of relay-node and rivulet-deploy", || {
        run(
            "cargo",
            &[
                "build",
                "--release",
                "--locked",
                "-p",
                "relay-node",
                "-p",
                "rivulet-deploy",
            ],
        )
    })?;
    Ok(bins)
}

/// A chain with the contracts and a stream anyone may read, for the load generator.
pub(crate) struct BenchChain {
    _anvil: KillOnDrop,
    /// The deployment file.
    pub(crate) deployment: PathBuf,
    /// The bench stream's id.
    pub(crate) stream: String,
    /// A node configuration without the per-connection rate limit (the load generator floods over
    /// one WebSocket).
    pub(crate) config: String,
}

impl BenchChain {
    /// Starts anvil, deploys, creates the stream with `partitions` partitions (owned by [`BENCH_KEY`]) and
    /// makes it public to subscribe; files go under `dir`.
    pub(crate) fn start(
        root: &Path,
        dir: &Path,
        bins: (&Path, &Path),
        partitions: u32,
    ) -> Result<BenchChain> {
        BenchChain::start_funding(root, dir, bins, partitions, &[])
    }

    /// As [`BenchChain::start`], and the deployment gives each of `fund` (accounts, e.g. relay nodes')
    /// ETH for gas and DATA for a stake.
    pub(crate) fn start_funding(
        root: &Path,
        dir: &Path,
        (relay, deployer): (&Path, &Path),
        partitions: u32,
        fund: &[String],
    ) -> Result<BenchChain> {
        let (anvil, url) = network::start_chain(root, 0, &dir.join("anvil.log"))?;
        let deployment = dir.join("deployment.json");
        let deployment_str = deployment.to_str().context("path")?;
        let mut deploy = vec!["--rpc-url", &url, "--out", deployment_str];
        for account in fund {
            deploy.extend(["--fund", account]);
        }
        capture(deployer, &deploy)?;
        let created = capture(
            relay,
            &[
                "stream",
                "create",
                "bench",
                "--partitions",
                &partitions.to_string(),
                "--private-key",
                BENCH_KEY,
                "--chain.deployment",
                deployment_str,
            ],
        )?;
        let stream = created
            .split("\"streamId\":\"")
            .nth(1)
            .and_then(|r| r.split('"').next())
            .context("no stream id")?
            .to_owned();
        capture(
            relay,
            &[
                "grant",
                &stream,
                "public",
                "subscribe",
                "--private-key",
                BENCH_KEY,
                "--chain.deployment",
                deployment_str,
            ],
        )?;
        let config = dir.join("node.toml");
        std::fs::write(&config, "[http]\nws_frames_per_second = 1000000\n")?;
        Ok(BenchChain {
            _anvil: anvil,
            deployment,
            stream,
            config: config.to_str().context("non-UTF-8 path")?.to_owned(),
        })
    }
}

/// The load-generator matrix on loopback against release builds.
pub(crate) fn relay_bench(root: &Path) -> Result<()> {
    setup(root)?;
    let (relay, deployer) = build_release(root)?;
    let dir = run_dir(root, "relay-bench")?;
    let chain = BenchChain::start(root, &dir, (&relay, &deployer), 1)?;
    let (deployment, stream, config) = (&chain.deployment, &chain.stream, chain.config.as_str());
    let a = network::start_node(&relay, &dir.join("a"), deployment, &["--config", config])?;
    let a_tcp = a.tcp()?.to_owned();
    let with_a = ["--config", config, "--network.bootstrap", &a_tcp];
    let b = network::start_node(&relay, &dir.join("b"), deployment, &with_a)?;
    let c = network::start_node(&relay, &dir.join("c"), deployment, &with_a)?;
    let (a_http, b_http, c_http) = (a.http.clone(), b.http.clone(), c.http.clone());
    let mut results = Vec::new();
    for (nodes, subscribe_nodes) in [
        (1, vec![a_http.clone()]),
        (3, vec![b_http.clone(), c_http.clone()]),
    ] {
        for (subscribers, payload, rate) in [
            ("1", "200", "0"),
            ("1", "1024", "0"),
            ("10", "200", "0"),
            ("10", "1024", "0"),
            ("1", "200", "1000"),
            ("10", "200", "1000"),
        ] {
            {
                let mut args = vec![
                    "bench",
                    "--stream",
                    stream,
                    "--publish-node",
                    &a_http,
                    "--private-key",
                    BENCH_KEY,
                ];
                for node in &subscribe_nodes {
                    args.extend(["--subscribe-node", node]);
                }
                args.extend([
                    "--subscribers",
                    subscribers,
                    "--payload",
                    payload,
                    "--count",
                    "3000",
                    "--rate",
                    rate,
                ]);
                let line = capture(&relay, &args)?;
                let line = format!(
                    "{{\"nodes\":{nodes},{}",
                    line.trim().trim_start_matches('{')
                );
                println!("{line}");
                results.push(line);
            }
        }
    }
    let out = target_dir(root).join("relay-bench.json");
    std::fs::write(&out, results.join("\n") + "\n")?;
    eprintln!("wrote {}", out.display());
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// One release node's ingest and fan-out (`relay-node bench-node`), each shape as a JSON line: ingest
/// from 4 publisher connections with 1 and 2 verifying threads, fan-out to 100 WebSocket sessions, to
/// 100 light clients, and to both — at a steady 200 events/s (one event per light delivery) and flat
/// out (light deliveries batch up as clients fall behind). Figures per second of the node's own CPU are what to compare (the
/// load generator shares the machine).
pub(crate) fn node_bench(root: &Path) -> Result<()> {
    setup(root)?;
    let (relay, deployer) = build_release(root)?;
    let dir = run_dir(root, "node-bench")?;
    let chain = BenchChain::start(root, &dir, (&relay, &deployer), 1)?;
    let (deployment, stream, config) = (&chain.deployment, &chain.stream, chain.config.as_str());
    let mut results = Vec::new();
    let shapes: [(&str, &str, &str, &str, &str, &str); 7] = [
        // verify threads, publishers, events, rate (0: flat out), WebSocket subscribers, light subscribers
        ("1", "4", "40000", "0", "0", "0"),
        ("2", "4", "40000", "0", "0", "0"),
        ("2", "1", "2000", "0", "100", "0"),
        ("2", "1", "2000", "200", "0", "100"),
        ("2", "1", "2000", "200", "100", "100"),
        ("2", "1", "2000", "0", "0", "100"),
        ("2", "1", "2000", "0", "100", "100"),
    ];
    for (i, (threads, publishers, count, rate, ws, light)) in shapes.into_iter().enumerate() {
        // A fresh node per shape, so one shape's sessions do not weigh on the next.
        let node = network::start_node(
            &relay,
            &dir.join(format!("node-{i}")),
            deployment,
            &["--config", config, "--performance.verify-threads", threads],
        )?;
        let line = capture(
            &relay,
            &[
                "bench-node",
                "--stream",
                stream,
                "--node",
                &node.http,
                "--private-key",
                BENCH_KEY,
                "--publishers",
                publishers,
                "--count",
                count,
                "--rate",
                rate,
                "--ws-subscribers",
                ws,
                "--light-subscribers",
                light,
            ],
        )?;
        let line = format!(
            "{{\"verifyThreads\":{threads},{}",
            line.trim().trim_start_matches('{')
        );
        println!("{line}");
        results.push(line);
    }
    let out = target_dir(root).join("node-bench.json");
    std::fs::write(&out, results.join("\n") + "\n")?;
    eprintln!("wrote {}", out.display());
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
