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
pub(crate) fn up(root: &Path) -> Result<()> {
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
pub(crate) fn build_binaries() -> Result<()> {
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
