//! `cargo xtask relay-bench`: the load generator's matrix against release builds on loopback (a chain
//! and three relay nodes), as JSON lines.

use std::path::Path;

use anyhow::{Context, Result};

use crate::{
    cmd::{capture, run, run_dir, step, target_dir},
    network,
    setup::setup,
};

/// anvil's development account 1 (publicly known; local chain only): owns the bench stream and publishes.
pub(crate) const BENCH_KEY: &str =
    "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d";

/// The load-generator matrix on loopback against release builds.
pub(crate) fn relay_bench(root: &Path) -> Result<()> {
    setup(root)?;
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
    let release = target_dir(root).join("release");
    let (relay, deployer) = (release.join("relay-node"), release.join("rivulet-deploy"));
    let dir = run_dir(root, "relay-bench")?;
    let (_anvil, url) = network::start_chain(root, 0, &dir.join("anvil.log"))?;
    let deployment = dir.join("deployment.json");
    let deployment_str = deployment.to_str().context("path")?;
    capture(&deployer, &["--rpc-url", &url, "--out", deployment_str])?;
    let created = capture(
        &relay,
        &[
            "stream",
            "create",
            "bench",
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
        &relay,
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
    // The load generator floods over one WebSocket: no per-connection rate limit here.
    let config = dir.join("node.toml");
    std::fs::write(&config, "[http]\nws_frames_per_second = 1000000\n")?;
    let config = config.to_str().context("non-UTF-8 path")?;
    let a = network::start_node(&relay, &dir.join("a"), &deployment, &["--config", config])?;
    let a_tcp = a.tcp()?.to_owned();
    let with_a = ["--config", config, "--network.bootstrap", &a_tcp];
    let b = network::start_node(&relay, &dir.join("b"), &deployment, &with_a)?;
    let c = network::start_node(&relay, &dir.join("c"), &deployment, &with_a)?;
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
                    &stream,
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
