//! `cargo xtask`: the project's chores, in Rust so they run the same everywhere.
//!
//! - `cargo xtask test`: installs what the tests need (idempotently), then runs every check and test.
//! - `cargo xtask setup`: only the installs.
//! - `cargo xtask contracts`: recompiles `contracts/src` into the committed artifacts in `contracts/out`.
//! - `cargo xtask chain`: a local chain with the contracts deployed (`.rivulet/deployment.json`).
//! - `cargo xtask relay-bench`: the relay load-generator matrix (1 and 3 nodes, 1 and 10 subscribers,
//!   200 B and 1 KiB) against release builds on loopback, as JSON lines.
//!
//! Honours `CARGO_TARGET_DIR` (CI points it outside the clone to reuse build output).

use std::{
    path::{Path, PathBuf},
    process::{Child, Command},
    time::Instant,
};

use anyhow::{Context, Result, bail};

mod network;
mod wasm;

const WASM_TARGET: &str = "wasm32-unknown-unknown";
/// The crates that must build for the browser.
const WASM_CRATES: [&str; 5] = [
    "rivulet-protocol",
    "rivulet-contracts",
    "rivulet-client",
    "rivulet-wasm",
    "marketplace-dapp",
];

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let root = workspace_root();
    std::env::set_current_dir(&root).with_context(|| format!("cannot enter {}", root.display()))?;
    match args.first().map(String::as_str) {
        Some("test") => test(&root),
        Some("setup") => setup_all(&root),
        Some("contracts") => run("node", &["contracts/build.mjs"]),
        Some("relay-bench") => relay_bench(&root),
        Some("up") => up(&root),
        Some("e2e") => {
            setup_all(&root)?;
            wasm::build_sdk(&root)?;
            wasm::build_dapp(&root)?;
            build_binaries()?;
            step(
                "the SDK in Node and in Chromium against a local network",
                || sdk_end_to_end(&root),
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
                "usage: cargo xtask <command>\n\n  test    install what is missing, then run every check and test\n  setup   only install what is missing (wasm target, npm packages)\n  contracts  recompile the Solidity contracts into contracts/out\n  chain   start anvil on 127.0.0.1:8545 if needed and deploy the contracts (.rivulet/deployment.json)\n  relay-bench  release build; chain + 3 relay nodes on loopback; load generator matrix as JSON lines\n  up      build, then run a local network: chain, contracts, 3 relay nodes, demo streams, the site on 127.0.0.1:8080\n  e2e     only the SDK's Node and browser tests against a local network\n  sdk     build the npm package @rivulet/sdk into sdk/wasm/pkg and check its size budget\n  dapp    build the marketplace dapp into marketplace-dapp/dist and check its size budget"
            );
            bail!("unknown or missing command")
        }
    }
}

fn workspace_root() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().map(Path::to_path_buf).unwrap_or(manifest)
}

fn target_dir(root: &Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"))
}

/// The README's main command: builds what is missing, starts a whole local network and serves the site,
/// until Ctrl-C (or SIGTERM) stops everything.
fn up(root: &Path) -> Result<()> {
    setup(root)?;
    wasm::setup_wasm_bindgen(root)?;
    wasm::build_sdk(root)?;
    wasm::build_dapp(root)?;
    build_binaries()?;
    let port = |name: &str, default: u16| -> Result<u16> {
        match std::env::var(name) {
            Ok(v) => v
                .parse()
                .with_context(|| format!("{name}={v:?} is not a port number")),
            Err(_) => Ok(default),
        }
    };
    let ports = network::Ports {
        chain: port("RIVULET_CHAIN_PORT", 8545)?,
        web: port("RIVULET_WEB_PORT", 8080)?,
    };
    let (stop_tx, stop_rx) = std::sync::mpsc::channel();
    ctrlc::set_handler(move || {
        let _ = stop_tx.send(());
    })
    .context("cannot install the Ctrl-C handler")?;
    let dir = root.join(".rivulet/up");
    let net = step("local network", || {
        network::LocalNetwork::start(root, &dir, ports)
    })?;
    println!("\nRivulet is running on this machine:\n");
    println!("  site and browser demo   {}/", net.site);
    println!("  publisher demo          {}/demo.html", net.site);
    println!("  SDK docs                {}/docs.html", net.site);
    if root.join("marketplace-dapp/dist").exists() {
        println!("  marketplace dapp        {}/dapp/", net.site);
    }
    println!(
        "  chain (JSON-RPC)        {}",
        net.config["rpcUrl"].as_str().unwrap_or("")
    );
    for (i, node) in net.nodes.iter().enumerate() {
        println!(
            "  relay node {}            {}  {}",
            i + 1,
            node.http,
            node.listen.join(" ")
        );
    }
    println!(
        "  deployment              {}",
        net.deployment_file.display()
    );
    println!("\nlogs in {}; Ctrl-C stops everything.", dir.display());
    let _ = stop_rx.recv();
    eprintln!("stopping...");
    drop(net);
    Ok(())
}

/// Debug builds of the node and deploy binaries (shared with the tests' build output).
fn build_binaries() -> Result<()> {
    step("relay-node and rivulet-deploy", || {
        run(
            "cargo",
            &[
                "build",
                "--locked",
                "-p",
                "relay-node",
                "-p",
                "rivulet-deploy",
            ],
        )
    })
}

/// Runs a step, timing it; fails with the step's name.
fn step<T>(name: &str, f: impl FnOnce() -> Result<T>) -> Result<T> {
    eprintln!("\n==> {name}");
    let start = Instant::now();
    let value = f().with_context(|| format!("step failed: {name}"))?;
    eprintln!("<== {name} ({:.1}s)", start.elapsed().as_secs_f64());
    Ok(value)
}

fn run(program: &str, args: &[&str]) -> Result<()> {
    run_env(program, args, &[])
}

fn run_env(program: &str, args: &[&str], env: &[(&str, &Path)]) -> Result<()> {
    eprintln!("$ {program} {}", args.join(" "));
    let mut cmd = Command::new(program);
    cmd.args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let status = cmd
        .status()
        .with_context(|| format!("cannot start {program}: is it installed and on PATH?"))?;
    if !status.success() {
        bail!("{program} {} exited with {status}", args.join(" "));
    }
    Ok(())
}

fn output(program: &str, args: &[&str]) -> Result<String> {
    let out = Command::new(program)
        .args(args)
        .output()
        .with_context(|| format!("cannot start {program}: is it installed and on PATH?"))?;
    if !out.status.success() {
        bail!(
            "{program} {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn setup(root: &Path) -> Result<()> {
    step("wasm32 target", || {
        if output("rustup", &["target", "list", "--installed"])?
            .lines()
            .any(|l| l.trim() == WASM_TARGET)
        {
            eprintln!("{WASM_TARGET} already installed");
            return Ok(());
        }
        run("rustup", &["target", "add", WASM_TARGET])
    })?;
    step("npm packages", || {
        let node_major = output("node", &["--version"])
            .context("Node.js 20 or newer is needed (Debian: apt-get install nodejs npm)")?;
        let major: u32 = node_major
            .trim()
            .trim_start_matches('v')
            .split('.')
            .next()
            .unwrap_or("0")
            .parse()?;
        if major < 20 {
            bail!("Node.js {} found; 20 or newer is needed", node_major.trim());
        }
        let lock = root.join("package-lock.json");
        let installed = root.join("node_modules/.package-lock.json");
        let fresh = match (std::fs::metadata(&lock), std::fs::metadata(&installed)) {
            (Ok(l), Ok(i)) => i.modified()? >= l.modified()?,
            _ => false,
        };
        if fresh {
            eprintln!("node_modules is up to date with package-lock.json");
            return Ok(());
        }
        run("npm", &["ci", "--no-audit", "--no-fund"])
    })
}

/// Everything the tests need: the base setup, wasm-bindgen-cli, Chromium and the Python packages.
fn setup_all(root: &Path) -> Result<()> {
    setup(root)?;
    wasm::setup_wasm_bindgen(root)?;
    wasm::setup_chromium()?;
    setup_python(root)
}

/// The venv (in the target directory) with the packages of `tests/python/requirements.txt`, from PyPI.
fn python_venv(root: &Path) -> PathBuf {
    target_dir(root).join("python")
}

fn setup_python(root: &Path) -> Result<()> {
    step("Python packages (tests/python/requirements.txt)", || {
        let venv = python_venv(root);
        let requirements = root.join("tests/python/requirements.txt");
        let wanted = std::fs::read_to_string(&requirements)?;
        let stamp = venv.join("rivulet-requirements.txt");
        if std::fs::read_to_string(&stamp).is_ok_and(|s| s == wanted) {
            eprintln!("{} is up to date", venv.display());
            return Ok(());
        }
        let venv_arg = venv.to_string_lossy().into_owned();
        run("python3", &["-m", "venv", &venv_arg]).context(
            "Python 3 with its venv module is needed (Debian: apt-get install python3-venv)",
        )?;
        run(
            &venv.join("bin/pip").to_string_lossy(),
            &[
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "-r",
                &requirements.to_string_lossy(),
            ],
        )?;
        std::fs::write(&stamp, wanted)?;
        Ok(())
    })
}

fn test(root: &Path) -> Result<()> {
    let start = Instant::now();
    setup_all(root)?;
    step("format", || {
        run("cargo", &["fmt", "--all", "--", "--check"])
    })?;
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
        run("cargo", &["test", "--workspace", "--locked"])
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
    // The relay-node binary comes from the Rust tests' build, rivulet-deploy from the steps above.
    step(
        "the SDK in Node and in Chromium against a local network",
        || sdk_end_to_end(root),
    )?;
    eprintln!(
        "\nall checks passed in {:.0}s",
        start.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Starts a whole local network (fresh chain, three nodes, the site) and runs the Node SDK tests and the
/// browser end-to-end tests against it.
fn sdk_end_to_end(root: &Path) -> Result<()> {
    // The tests import the package by name, as users do.
    let link = root.join("node_modules/@rivulet/sdk");
    std::fs::create_dir_all(root.join("node_modules/@rivulet"))?;
    let _ = std::fs::remove_file(&link);
    #[cfg(unix)]
    std::os::unix::fs::symlink("../../sdk/wasm/pkg", &link)
        .with_context(|| format!("cannot link {}", link.display()))?;
    let dir = run_dir(root, "local-network")?;
    let net = network::LocalNetwork::start(root, &dir, network::Ports { chain: 0, web: 0 })?;
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

/// Rust signs random messages for ethers to verify and re-sign byte for byte; ethers signs random messages
/// for Rust to verify. Pinned vectors are checked by ethers too.
fn crosscheck(root: &Path) -> Result<()> {
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

/// Stops a child process when dropped.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts a fresh anvil on a port it picks itself, deploys with `rivulet-deploy`, and runs
/// `tests/ethers/contracts.mjs` against it.
fn ethers_contracts(root: &Path) -> Result<()> {
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

/// A scratch directory for this run only (runs sharing a target directory do not collide).
fn run_dir(root: &Path, name: &str) -> Result<PathBuf> {
    let dir = target_dir(root)
        .join("xtask")
        .join(format!("{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    Ok(dir)
}

/// anvil's development account 1 (publicly known; local chain only): owns the bench stream and publishes.
const BENCH_KEY: &str = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d";

/// Runs a command and returns its stdout.
fn capture(program: &Path, args: &[&str]) -> Result<String> {
    let out = Command::new(program)
        .args(args)
        .output()
        .with_context(|| format!("cannot start {}", program.display()))?;
    if !out.status.success() {
        bail!(
            "{} {} failed: {}",
            program.display(),
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The load-generator matrix on loopback against release builds.
fn relay_bench(root: &Path) -> Result<()> {
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
