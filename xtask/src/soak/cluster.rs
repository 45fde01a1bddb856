//! The soak's three relay nodes: release builds on loopback, each with a fixed HTTP port and a fixed
//! libp2p TCP port (chosen free at the start) so that a node restarted after a kill comes back where
//! clients and peers knew it, with its data directory kept. They register with the network coordinator
//! and store what it assigns them. Killing is `SIGKILL`; dropping the cluster kills every node.

use std::{
    net::TcpListener,
    path::{Path, PathBuf},
    time::Instant,
};

use anyhow::{Context, Result};

use crate::network::{self, RelayNode};

/// One node's place in the cluster.
struct Slot {
    name: String,
    dir: PathBuf,
    http: String,
    tcp: String,
    /// Its `/p2p/<peer id>` address, once known.
    address: Option<String>,
    node: Option<RelayNode>,
    started: Instant,
}

/// Three nodes (or however many were asked for) that can be killed and restarted.
pub(crate) struct Cluster {
    relay: PathBuf,
    deployment: PathBuf,
    config: String,
    slots: Vec<Slot>,
}

/// A TCP port on 127.0.0.1 that was free a moment ago.
fn free_port() -> Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").context("cannot bind a loopback port")?;
    Ok(listener.local_addr()?.port())
}

impl Cluster {
    /// Plans nodes named `names` with data directories under `dir` (nothing started yet).
    pub(crate) fn new(
        relay: &Path,
        deployment: &Path,
        config: &str,
        dir: &Path,
        names: &[&str],
    ) -> Result<Cluster> {
        let slots = names
            .iter()
            .map(|name| {
                Ok(Slot {
                    name: (*name).to_owned(),
                    dir: dir.join(name),
                    http: format!("127.0.0.1:{}", free_port()?),
                    tcp: format!("/ip4/127.0.0.1/tcp/{}", free_port()?),
                    address: None,
                    node: None,
                    started: Instant::now(),
                })
            })
            .collect::<Result<_>>()?;
        Ok(Cluster {
            relay: relay.to_owned(),
            deployment: deployment.to_owned(),
            config: config.to_owned(),
            slots,
        })
    }

    /// How many nodes.
    pub(crate) fn len(&self) -> usize {
        self.slots.len()
    }

    /// Node `i`'s name.
    pub(crate) fn name(&self, i: usize) -> &str {
        &self.slots[i].name
    }

    /// Node `i`'s HTTP API, `http://…` (the same across restarts).
    pub(crate) fn http(&self, i: usize) -> String {
        format!("http://{}", self.slots[i].http)
    }

    /// Starts node `i`, bootstrapping from every other node whose address is known, and waits until
    /// it listens.
    pub(crate) fn start(&mut self, i: usize) -> Result<()> {
        let bootstrap: Vec<String> = self
            .slots
            .iter()
            .enumerate()
            .filter(|(j, _)| *j != i)
            .filter_map(|(_, s)| s.address.clone())
            .collect();
        let mut extra = vec!["--config", &self.config, "--coordinator.stake", "100"];
        for address in &bootstrap {
            extra.extend(["--network.bootstrap", address]);
        }
        let slot = &self.slots[i];
        let node = network::start_node_on(
            &self.relay,
            &slot.dir,
            &self.deployment,
            &slot.http,
            &[&slot.tcp],
            &extra,
        )
        .with_context(|| format!("node {}", slot.name))?;
        let address = node.tcp()?.to_owned();
        let slot = &mut self.slots[i];
        slot.address = Some(address);
        slot.node = Some(node);
        slot.started = Instant::now();
        Ok(())
    }

    /// Kills node `i` with SIGKILL (and reaps it).
    pub(crate) fn kill(&mut self, i: usize) {
        drop(self.slots[i].node.take());
    }

    /// Whether node `i` is running.
    pub(crate) fn is_up(&self, i: usize) -> bool {
        self.slots[i].node.is_some()
    }

    /// Node `i`'s resident memory, KiB (`None` while it is down).
    pub(crate) fn rss_kib(&self, i: usize) -> Option<u64> {
        crate::cmd::process_rss_kib(self.slots[i].node.as_ref()?.pid())
    }

    /// Node `i`'s anonymous resident memory (`RssAnon`: its heap, not its binary's pages), KiB
    /// (`None` while it is down).
    pub(crate) fn anon_kib(&self, i: usize) -> Option<u64> {
        crate::cmd::process_status_kib(self.slots[i].node.as_ref()?.pid(), "RssAnon")
    }

    /// Bytes node `i`'s history store holds in its page cache, from its `/metrics` (`None` while it
    /// is down or does not answer).
    pub(crate) fn store_cache_bytes(&self, i: usize) -> Option<u64> {
        self.slots[i].node.as_ref()?;
        let text = crate::health::http_get(&self.http(i), "/metrics").ok()?;
        let metrics = crate::health::parse_metrics(&text);
        metrics
            .get("rivulet_store_cache_bytes")
            .map(|&bytes| bytes as u64)
    }

    /// CPU time node `i`'s current process has used, seconds (`None` while it is down).
    pub(crate) fn cpu_secs(&self, i: usize) -> Option<f64> {
        crate::cmd::process_cpu_secs(self.slots[i].node.as_ref()?.pid())
    }

    /// Seconds since node `i`'s current process started.
    pub(crate) fn up_secs(&self, i: usize) -> u64 {
        self.slots[i].started.elapsed().as_secs()
    }

    /// The size of node `i`'s history file, bytes.
    pub(crate) fn store_bytes(&self, i: usize) -> u64 {
        std::fs::metadata(self.slots[i].dir.join("history.redb"))
            .map(|m| m.len())
            .unwrap_or(0)
    }
}
