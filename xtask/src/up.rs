//! `cargo xtask up`, the README's main command: builds what is missing, starts a whole local network
//! and serves the site, until Ctrl-C (or SIGTERM) stops everything.

use std::path::Path;

use anyhow::{Context, Result};

use crate::{
    cmd::{run, step},
    network,
    setup::setup,
    wasm,
};

/// The README's main command: builds what is missing, starts a whole local network and serves the site,
/// until Ctrl-C (or SIGTERM) stops everything.
/// `--release` runs release builds of the nodes (the build takes longer; the nodes are several times
/// faster).
pub(crate) fn up(root: &Path, args: &[String]) -> Result<()> {
    let build = match args {
        [] => network::Build::Debug,
        [flag] if flag == "--release" => network::Build::Release,
        _ => anyhow::bail!("cargo xtask up takes only --release, not {args:?}"),
    };
    setup(root)?;
    wasm::setup_wasm_bindgen(root)?;
    wasm::build_sdk(root)?;
    wasm::build_dapp(root)?;
    build_binaries(build)?;
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
        network::LocalNetwork::start(root, &dir, ports, build)
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

/// Builds the node and deploy binaries (debug builds are shared with the tests' build output).
pub(crate) fn build_binaries(build: network::Build) -> Result<()> {
    let mut args = vec![
        "build",
        "--locked",
        "-p",
        "relay-node",
        "-p",
        "rivulet-deploy",
    ];
    let what = match build {
        network::Build::Debug => "relay-node and rivulet-deploy",
        network::Build::Release => {
            args.push("--release");
            "release builds of relay-node and rivulet-deploy"
        }
    };
    step(what, || run("cargo", &args))
}
