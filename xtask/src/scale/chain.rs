//! The chain of a scale run: anvil in a lab namespace of its own (so a run killed outright leaves
//! nothing the next run's sweep does not remove), on that namespace's address, which every node and
//! the harness reach over the bridge; the contracts deployed, and the streams the phases publish to.

use std::{
    net::Ipv4Addr,
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{Context, Result};
use serde_json::Value;

use super::nodes::Binaries;
use crate::{
    bench::BENCH_KEY,
    cmd::{KillOnDrop, capture},
    network,
};

/// The publisher's address (anvil's development account 2).
const PUBLISHER: &str = "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC";

/// The chain of a run: anvil on the lab bridge's address, the contracts deployed.
pub(crate) struct Chain {
    _anvil: KillOnDrop,
    pub(crate) rpc: String,
    pub(crate) deployment: PathBuf,
}

impl Chain {
    /// Starts anvil in `namespace`, listening on `host`.
    pub(crate) fn start(
        root: &Path,
        bins: &Binaries,
        (namespace, host): (&str, Ipv4Addr),
        dir: &Path,
    ) -> Result<Chain> {
        let mut command = Command::new("ip");
        command
            .args(["netns", "exec", namespace])
            .arg(network::anvil_binary(root))
            .args(["--host", &host.to_string(), "--port", "0"]);
        let (guard, addr) = network::spawn_anvil(command, &dir.join("anvil.log"))?;
        let rpc = format!("http://{addr}");
        let deployment = dir.join("deployment.json");
        capture(
            &bins.deploy,
            &[
                "--rpc-url",
                &rpc,
                "--out",
                path_str(&deployment)?,
                "--force",
            ],
        )?;
        Ok(Chain {
            _anvil: guard,
            rpc,
            deployment,
        })
    }

    /// Runs a relay-node client command as the streams' owner; its JSON output.
    fn cli(&self, bins: &Binaries, args: &[&str]) -> Result<Value> {
        let mut all = args.to_vec();
        all.extend([
            "--private-key",
            BENCH_KEY,
            "--chain.deployment",
            path_str(&self.deployment)?,
        ]);
        let out = capture(&bins.relay, &all)?;
        Ok(serde_json::from_str(out.trim()).unwrap_or(Value::Null))
    }

    /// Creates `<owner>/<path>` with `partitions`, readable by anyone, published to by [`PUBLISHER`].
    pub(crate) fn stream(&self, bins: &Binaries, path: &str, partitions: usize) -> Result<String> {
        let created = self.cli(
            bins,
            &[
                "stream",
                "create",
                path,
                "--partitions",
                &partitions.to_string(),
            ],
        )?;
        let id = created["streamId"]
            .as_str()
            .context("no stream id")?
            .to_owned();
        self.cli(bins, &["grant", &id, "public", "subscribe"])?;
        self.cli(bins, &["grant", &id, PUBLISHER, "publish"])?;
        Ok(id)
    }
}

pub(crate) fn path_str(p: &Path) -> Result<&str> {
    p.to_str().context("non-UTF-8 path")
}
