//! `cargo xtask`: the project's chores, in Rust so they run the same everywhere.
//!
//! - `cargo xtask test`: installs what the tests need (idempotently), then runs every check and test.
//! - `cargo xtask setup`: only the installs.
//! - `cargo xtask contracts`: recompiles `contracts/src` into the committed artifacts in `contracts/out`.
//! - `cargo xtask chain`: a local chain with the contracts deployed (`.rivulet/deployment.json`).
//! - `cargo xtask relay-bench`: the relay load-generator matrix (1 and 3 nodes, 1 and 10 subscribers,
//!   200 B and 1 KiB) against release builds on loopback, as JSON lines.
//! - `cargo xtask node-bench`: one release node's ingest (several publishers, 1 and 2 verifying
//!   threads) and fan-out (100 WebSocket and 100 light subscribers, steady and flat out), per second
//!   of the node's CPU.
//! - `cargo xtask bench-compare`: Rivulet side by side with NATS, mosquitto and Streamr's network layer,
//!   in one run on this machine; a table of every figure and the ratios, and JSON.
//! - `cargo xtask scale`: many relay nodes in network namespaces with a latency model — time to data,
//!   latency, delivery under churn and attack, linear scaling, a simulated larger network (JSON);
//!   `--quick` is the test command's short version.
//! - `cargo xtask soak`: three relay nodes under a steady load for an hour, one killed with SIGKILL
//!   and restarted every 5 minutes: delivery after gap fill (nothing acknowledged may be lost) and
//!   each node's memory over time (JSON).
//! - `cargo xtask browser-bench`: the publisher demo's benchmark in headless Chromium against release
//!   nodes — publish, read back and verify (JSON; also a step of `test`).
//! - `cargo xtask up [--release]`, `e2e`, `sdk`, `dapp`: see the usage text.
//!
//! Honours `CARGO_TARGET_DIR` (CI points it outside the clone to reuse build output).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

mod bench;
mod checks;
mod cmd;
mod compare;
mod demo_feeds;
mod health;
mod network;
mod scale;
mod setup;
mod soak;
mod tidy;
mod up;
mod wasm;
mod wasm_binary;
mod wasm_order;

use crate::{
    cmd::{run, step},
    setup::{setup, setup_all},
};

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let root = workspace_root();
    std::env::set_current_dir(&root).with_context(|| format!("cannot enter {}", root.display()))?;
    match args.first().map(String::as_str) {
        Some("test") => checks::test(&root),
        Some("setup") => setup_all(&root),
        Some("tidy") => tidy::check(&root),
        Some("contracts") => run("node", &["contracts/build.mjs"]),
        Some("relay-bench") => bench::relay_bench(&root),
        Some("node-bench") => bench::node_bench(&root),
        Some("scale") => {
            setup(&root)?;
            scale::scale(&root, &args[1..])
        }
        Some("soak") => soak::soak(&root, &args[1..]),
        Some("bench-compare") => compare::bench_compare(&root, &args[1..]),
        Some("up") => up::up(&root, &args[1..]),
        Some("e2e") => {
            setup_all(&root)?;
            wasm::build_sdk(&root)?;
            wasm::build_dapp(&root)?;
            up::build_binaries(network::Build::Debug)?;
            step(
                "the SDK in Node and in Chromium against a local network",
                || checks::sdk_end_to_end(&root),
            )
        }
        Some("browser-bench") => {
            setup_all(&root)?;
            wasm::build_sdk(&root)?;
            wasm::build_dapp(&root)?;
            step(
                "the publisher demo's benchmark in Chromium against release nodes",
                || checks::browser_bench(&root),
            )
        }
        Some("dapp") => {
            setup(&root)?;
            wasm::setup_wasm_bindgen(&root)?;
            let gz = wasm::build_dapp(&root)?;
            wasm::check_budget("marketplace dapp wasm", gz, wasm::DAPP_GZIP_BUDGET)
        }
        Some("sdk") => {
            setup(&root)?;
            wasm::setup_wasm_bindgen(&root)?;
            let gz = wasm::build_sdk(&root)?;
            wasm::check_budget("@rivulet/sdk wasm", gz, wasm::SDK_GZIP_BUDGET)
        }
        Some("chain") => {
            setup(&root)?;
            run(
                "cargo",
                &[
                    "run",
                    "--quiet",
                    "--locked",
                    "-p",
                    "rivulet-deploy",
                    "--",
                    "--start-anvil",
                ],
            )
        }
        _ => {
            eprintln!(
                "usage: cargo xtask <command>\n\n  test    install what is missing, then run every check and test\n  setup   only install what is missing (wasm target, npm packages)\n  tidy    check the code's shape: no import circle between a crate's modules, no source file over 600 lines\n  contracts  recompile the Solidity contracts into contracts/out\n  chain   start anvil on 127.0.0.1:8545 if needed and deploy the contracts (.rivulet/deployment.json)\n  relay-bench  release build; chain + 3 relay nodes on loopback; load generator matrix as JSON lines\n  node-bench  release build; one node's ingest and fan-out per second of its CPU, as JSON lines\n  bench-compare  [--wait-idle] [--only brokers,rivulet,streamr] [--from-json FILE]  Rivulet beside NATS, mosquitto and Streamr's network layer on this machine: a table and JSON\n  scale   many relay nodes in network namespaces (root): time to data, latency, churn, attacks, scaling, simulation (--quick: 20 nodes, short)\n  soak    [--minutes N (60)] [--rate R] [--kill-every-secs S (300)] [--down-secs S (10)] [--payload B] [--sample-secs S (10)] [--verify] [--keep]  release build; chain + 3 relay nodes storing a stream; steady publishers and subscribers on every node; a node killed (SIGKILL) and restarted every S; delivery after gap fill and memory per node over time (JSON)\n  up      [--release]  build, then run a local network: chain, contracts, 3 relay nodes, demo streams, the site on 127.0.0.1:8080\n  browser-bench  release build; a local network of it; the publisher demo's benchmark in headless Chromium (publish, read back and verify), as JSON\n  e2e     only the SDK's Node and browser tests against a local network\n  sdk     build the npm package @rivulet/sdk into sdk/wasm/pkg and check its size budget\n  dapp    build the marketplace dapp into marketplace-dapp/dist and check its size budget"
            );
            bail!("unknown or missing command")
        }
    }
}

/// The workspace this xtask belongs to. `cargo xtask` (cargo run) says where the manifest it ran is; the
/// path compiled in is only the fallback, because clones at different paths share one build directory
/// (`CARGO_TARGET_DIR`) and a binary built from one clone must not test another.
fn workspace_root() -> PathBuf {
    let manifest = std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .filter(|dir| dir.ends_with("xtask") && dir.join("Cargo.toml").is_file())
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")));
    manifest.parent().map(Path::to_path_buf).unwrap_or(manifest)
}
