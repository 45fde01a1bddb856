//! `cargo xtask test`, the README's test command (CI runs it through `.ci/run`): every check and test
//! in one run, each step named and timed.

use std::{path::Path, process::Command, time::Instant};

use anyhow::{Context, Result, bail};

use crate::{
    cmd::{run, run_dir, run_env, step, target_dir},
    network,
    setup::{python_venv, setup_all},
    tidy,
    wasm::{self, WASM_TARGET},
};

/// The crates that must build for the browser.
pub(crate) const WASM_CRATES: [&str; 5] = [
    "rivulet-protocol",
    "rivulet-contracts",
    "rivulet-client",
    "rivulet-wasm",
    "marketplace-dapp",
];

pub(crate) fn test(root: &Path) -> Result<()> {
    let start = Instant::now();
    setup_all(root)?;
    step("format", || {
        run("cargo", &["fmt", "--all", "--", "--check"])
    })?;
    step(
        "tidy: no import circle between a crate's modules, no source file over 600 lines",
        || tidy::check(root),
    )?;
    step(
        "contracts compile (solc from npm) and match the committed artifacts",
        || run("node", &["contracts/build.mjs", "--check"]),
    )?;
    step("clippy (native, all targets)", || {
        run(
            "cargo",
            &[
                "clippy",
                "--workspace",
                "--all-targets",
                "--locked",
                "--",
                "-D",
                "warnings",
            ],
        )
    })?;
    step(
        "clippy and build of the browser-bound crates for wasm32",
        || {
            let mut packages = Vec::new();
            for crate_name in WASM_CRATES {
                packages.extend(["-p", crate_name]);
            }
            let target = ["--target", WASM_TARGET, "--locked"];
            run(
                "cargo",
                &[
                    &["clippy"],
                    &packages[..],
                    &target,
                    &["--", "-D", "warnings"],
                ]
                .concat(),
            )?;
            run("cargo", &[&["build"], &packages[..], &target].concat())
        },
    )?;
    step("Rust tests", || {
        run("cargo", &["test", "--workspace", "--locked"])?;
        // The workspace's native builds verify with libsecp256k1; the protocol core alone keeps k256,
        // the browsers' backend: its tests run on both.
        run(
            "cargo",
            &[
                "test",
                "--locked",
                "-p",
                "rivulet-protocol",
                "--lib",
                "--test",
                "it",
            ],
        )
    })?;
    step(
        "wasm tests in Node and in headless Chromium (SDK), and the dapp's components in Chromium",
        || {
            let args = [
                "test",
                "--locked",
                "-p",
                "rivulet-wasm",
                "--target",
                WASM_TARGET,
                "--test",
                "web",
            ];
            run("cargo", &args)?;
            let mut cmd = Command::new("cargo");
            cmd.args(args).env("WASM_BINDGEN_USE_BROWSER", "1");
            eprintln!("$ WASM_BINDGEN_USE_BROWSER=1 cargo {}", args.join(" "));
            if !cmd.status()?.success() {
                bail!("the wasm tests failed in Chromium");
            }
            // The dapp's components, rendered in headless Chromium.
            run(
                "cargo",
                &[
                    "test",
                    "--locked",
                    "-p",
                    "marketplace-dapp",
                    "--target",
                    WASM_TARGET,
                ],
            )
        },
    )?;
    let gz = wasm::build_sdk(root)?;
    let dapp_gz = wasm::build_dapp(root)?;
    step("size budgets of the npm package and the dapp", || {
        wasm::check_budget("@rivulet/sdk wasm", gz, wasm::SDK_GZIP_BUDGET)?;
        wasm::check_budget("marketplace dapp wasm", dapp_gz, wasm::DAPP_GZIP_BUDGET)
    })?;

    step("cross-check with ethers v6 and eciesjs", || {
        crosscheck(root)
    })?;
    step(
        "the deployed contracts through ethers v6 (ABI, custom errors, EIP-2612 permit)",
        || ethers_contracts(root),
    )?;
    // Starts its own anvil and deploys what it needs from the artifacts.
    step(
        "the NetworkCoordinator, public keys and key delegates through ethers v6",
        || {
            run(
                "node",
                &[
                    "--test",
                    "--test-timeout=300000",
                    "--test-reporter=spec",
                    "tests/ethers/coordinator.mjs",
                ],
            )
        },
    )?;
    // The relay-node binary comes from the Rust tests' build, rivulet-deploy from the steps above.
    step(
        "the SDK in Node and in Chromium against a local network",
        || sdk_end_to_end(root),
    )?;
    step(
        "the publisher demo's benchmark in Chromium against release nodes",
        || browser_bench(root),
    )?;
    // Skips itself, saying why, where it cannot make network namespaces (not root, no `ip netns`).
    step(
        "scale --quick: 20 relay nodes in network namespaces with the latency model; churn, adversaries, scaling, simulation",
        || crate::scale::scale(root, &["--quick".to_owned()]),
    )?;
    eprintln!(
        "\nall checks passed in {:.0}s",
        start.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Starts a whole local network (fresh chain, three nodes, the site) and runs the Node SDK tests and the
/// browser end-to-end tests against it.
pub(crate) fn sdk_end_to_end(root: &Path) -> Result<()> {
    // The tests import the package by name, as users do.
    let link = root.join("node_modules/@rivulet/sdk");
    std::fs::create_dir_all(root.join("node_modules/@rivulet"))?;
    let _ = std::fs::remove_file(&link);
    #[cfg(unix)]
    std::os::unix::fs::symlink("../../sdk/wasm/pkg", &link)
        .with_context(|| format!("cannot link {}", link.display()))?;
    let dir = run_dir(root, "local-network")?;
    let net = network::LocalNetwork::start(
        root,
        &dir,
        network::Ports { chain: 0, web: 0 },
        network::Build::Debug,
    )?;
    let config = dir.join("site/config.json");
    let relay = target_dir(root).join("debug/relay-node");
    let screenshots = target_dir(root).join("screenshots");
    let node_test = |file: &str| {
        run_env(
            "node",
            &[
                "--test",
                "--test-concurrency=1",
                "--test-timeout=300000",
                "--test-reporter=spec",
                file,
            ],
            &[
                ("RIVULET_CONFIG", &config),
                ("RIVULET_SITE", Path::new(&net.site)),
                ("RIVULET_RELAY_NODE", &relay),
                ("RIVULET_SCREENSHOTS", &screenshots),
                // Node clients with a key keep their group keys in files: here, not in ~/.rivulet.
                ("RIVULET_KEY_DIR", &dir.join("keys")),
            ],
        )
    };
    node_test("tests/sdk/node.test.mjs")?;
    node_test("tests/browser/e2e.test.mjs")?;
    node_test("tests/browser/dapp.test.mjs")?;
    run_env(
        &python_venv(root).join("bin/python").to_string_lossy(),
        &["tests/python/test_api.py"],
        &[("RIVULET_CONFIG", &config)],
    )?;
    eprintln!("screenshots in {}", screenshots.display());
    drop(net);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// Builds the release binaries, starts a local network of them and runs the publisher demo's benchmark
/// in Chromium (`tests/browser/bench.test.mjs`: its rates printed as JSON, every event read back
/// verified), three times unless `RIVULET_BENCH_RUNS` says how many.
pub(crate) fn browser_bench(root: &Path) -> Result<()> {
    crate::up::build_binaries(network::Build::Release)?;
    let dir = run_dir(root, "bench-network")?;
    let net = network::LocalNetwork::start(
        root,
        &dir,
        network::Ports { chain: 0, web: 0 },
        network::Build::Release,
    )?;
    run_env(
        "node",
        &[
            "--test",
            "--test-timeout=600000",
            "--test-reporter=spec",
            "tests/browser/bench.test.mjs",
        ],
        &[("RIVULET_SITE", Path::new(&net.site))],
    )?;
    drop(net);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// Rust signs random messages for ethers to verify and re-sign byte for byte; ethers signs random messages
/// for Rust to verify. Pinned vectors are checked by ethers too.
pub(crate) fn crosscheck(root: &Path) -> Result<()> {
    let dir = run_dir(root, "crosscheck")?;
    let rust_json = dir.join("rust-signed.json");
    let ethers_json = dir.join("ethers-signed.json");
    let example = [
        "run",
        "--quiet",
        "--locked",
        "-p",
        "rivulet-protocol",
        "--example",
        "ethers_crosscheck",
        "--",
    ];
    let path_str = |p: &Path| p.to_str().map(str::to_owned).context("non-UTF-8 path");
    run(
        "cargo",
        &[&example[..], &["emit", &path_str(&rust_json)?]].concat(),
    )?;
    run_env(
        "node",
        &[
            "--test",
            "--test-timeout=120000",
            "--test-reporter=spec",
            "tests/ethers/crosscheck.mjs",
        ],
        &[
            (
                "RIVULET_VECTORS",
                &root.join("sdk/protocol/testdata/vectors.json"),
            ),
            ("RIVULET_RUST_JSON", &rust_json),
            ("RIVULET_ETHERS_OUT", &ethers_json),
        ],
    )?;
    run(
        "cargo",
        &[&example[..], &["verify", &path_str(&ethers_json)?]].concat(),
    )?;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// Starts a fresh anvil on a port it picks itself, deploys with `rivulet-deploy`, and runs
/// `tests/ethers/contracts.mjs` against it.
pub(crate) fn ethers_contracts(root: &Path) -> Result<()> {
    let dir = run_dir(root, "ethers-chain")?;
    let (_anvil, url) = network::start_chain(root, 0, &dir.join("anvil.log"))?;
    let deployment = dir.join("deployment.json");
    let path = deployment.to_str().context("non-UTF-8 path")?;
    run(
        "cargo",
        &[
            "run",
            "--quiet",
            "--locked",
            "-p",
            "rivulet-deploy",
            "--",
            "--rpc-url",
            &url,
            "--out",
            path,
            "--force",
        ],
    )?;
    run_env(
        "node",
        &[
            "--test",
            "--test-timeout=120000",
            "--test-reporter=spec",
            "tests/ethers/contracts.mjs",
        ],
        &[("RIVULET_DEPLOYMENT", &deployment)],
    )?;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
