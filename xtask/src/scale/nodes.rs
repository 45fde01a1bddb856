//! The processes of a scale run: one per lab slot — a relay node, or in the malicious phase an
//! adversary — each started in its slot's namespace with `ip netns exec`, listening only on the
//! slot's private address (libp2p on TCP 7171, HTTP on 7170). Slots can be killed (`SIGKILL`),
//! restarted with the same data directory (so the same identity), stopped, and read: `/health`,
//! `/metrics`, resident memory and CPU time from `/proc`. Every process is killed when the cluster is
//! dropped.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{Context, Result, bail};
use serde_json::Value;

use super::{netns::Lab, stop::stop_requested};
use crate::{cmd::KillOnDrop, health::http_get};

/// libp2p and HTTP ports inside every namespace.
const P2P_PORT: u16 = 7171;
const HTTP_PORT: u16 = 7170;

/// The programs a run starts.
#[derive(Clone, Debug)]
pub(crate) struct Binaries {
    pub(crate) relay: PathBuf,
    pub(crate) deploy: PathBuf,
    pub(crate) scale: PathBuf,
}

/// What runs in a slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Relay,
    Dropping,
    Forging,
}

struct Slot {
    process: Option<KillOnDrop>,
    args: Vec<String>,
    kind: Kind,
    pid: u32,
}

/// Every slot's process.
pub(crate) struct Cluster<'a> {
    lab: &'a Lab,
    dir: PathBuf,
    bins: Binaries,
    /// Flags every relay gets (chain, latency model, config file).
    common: Vec<String>,
    slots: Vec<Option<Slot>>,
    /// Bootstrap peers' multiaddrs.
    pub(crate) bootstrap: Vec<String>,
}

impl<'a> Cluster<'a> {
    /// A cluster over `lab`'s slots, with run files under `dir`; `common` are flags for every relay.
    pub(crate) fn new(
        lab: &'a Lab,
        dir: &Path,
        bins: Binaries,
        common: Vec<String>,
    ) -> Cluster<'a> {
        Cluster {
            lab,
            dir: dir.to_path_buf(),
            bins,
            common,
            slots: (0..lab.slots()).map(|_| None).collect(),
            bootstrap: Vec::new(),
        }
    }

    /// The lab the slots live in.
    pub(crate) fn lab(&self) -> &'a Lab {
        self.lab
    }

    /// Slot `i`'s HTTP API.
    pub(crate) fn http(&self, i: usize) -> String {
        format!("http://{}:{HTTP_PORT}", self.lab.address(i))
    }

    fn data_dir(&self, i: usize) -> PathBuf {
        self.dir.join(format!("node-{i}"))
    }

    /// Starts a relay node in slot `i` with the common flags, the bootstrap peers and `extra`.
    pub(crate) fn start_relay(&mut self, i: usize, extra: &[String]) -> Result<()> {
        let ip = self.lab.address(i);
        let data = self.data_dir(i);
        std::fs::create_dir_all(&data)?;
        let _ = std::fs::remove_file(data.join("node.json"));
        let mut args = vec![
            "run".to_owned(),
            "--storage.data-dir".into(),
            data.display().to_string(),
            "--http.listen".into(),
            format!("{ip}:{HTTP_PORT}"),
            "--network.listen".into(),
            format!("/ip4/{ip}/tcp/{P2P_PORT}"),
        ];
        args.extend(self.common.iter().cloned());
        for b in &self.bootstrap {
            args.extend(["--network.bootstrap".into(), b.clone()]);
        }
        args.extend(extra.iter().cloned());
        self.spawn(i, Kind::Relay, args)
    }

    /// Starts an adversary in slot `i` (its node stopped first) joining `parts`.
    pub(crate) fn start_adversary(
        &mut self,
        i: usize,
        kind: Kind,
        parts: &[String],
        latency_model: &Path,
    ) -> Result<()> {
        self.stop(i);
        let mode = if kind == Kind::Forging {
            "forge"
        } else {
            "drop"
        };
        let mut args = vec![
            "adversary".to_owned(),
            "--mode".into(),
            mode.into(),
            "--listen".into(),
            format!("/ip4/{}/tcp/{P2P_PORT}", self.lab.address(i)),
            "--latency-model".into(),
            latency_model.display().to_string(),
            "--stats".into(),
            self.adversary_stats(i).display().to_string(),
        ];
        for b in &self.bootstrap {
            args.extend(["--bootstrap".into(), b.clone()]);
        }
        for p in parts {
            args.extend(["--part".into(), p.clone()]);
        }
        self.spawn(i, kind, args)
    }

    /// Where slot `i`'s adversary writes its counts.
    pub(crate) fn adversary_stats(&self, i: usize) -> PathBuf {
        self.dir.join(format!("adversary-{i}.json"))
    }

    fn spawn(&mut self, i: usize, kind: Kind, args: Vec<String>) -> Result<()> {
        let program = match kind {
            Kind::Relay => &self.bins.relay,
            _ => &self.bins.scale,
        };
        let log_name = match kind {
            Kind::Relay => format!("node-{i}.log"),
            _ => format!("adversary-{i}.log"),
        };
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join(log_name))?;
        let mut command = Command::new("ip");
        command.args(["netns", "exec", &self.lab.namespace(i)]);
        if kind != Kind::Relay {
            // At the lowest CPU priority: on a real network an attacker's CPU is its own, while here
            // twenty adversaries flooding forgeries took 0.8 of the machine's 2 cores from the honest
            // nodes, and latency under attack measured the scheduler (BENCHMARKS.md, "Many nodes").
            command.args(["nice", "-n", "19"]);
        }
        let child = command
            .arg(program)
            .args(&args)
            // RIVULET_SCALE_LOG sets the nodes' log filter (e.g. `libp2p_kad=debug,info`).
            .env(
                "RIVULET_LOG",
                std::env::var("RIVULET_SCALE_LOG").unwrap_or_else(|_| "info".into()),
            )
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(log))
            .spawn()
            .with_context(|| format!("cannot start {} in slot {i}", program.display()))?;
        let pid = child.id();
        self.slots[i] = Some(Slot {
            process: Some(KillOnDrop(child)),
            args,
            kind,
            pid,
        });
        Ok(())
    }

    /// Waits until slot `i`'s relay has written its addresses; returns its multiaddr with peer id.
    pub(crate) fn wait_ready(&mut self, i: usize, limit: Duration) -> Result<String> {
        let deadline = Instant::now() + limit;
        let state = self.data_dir(i).join("node.json");
        let mut last = String::from("no node.json yet");
        loop {
            stop_requested()?;
            if let Ok(text) = std::fs::read_to_string(&state)
                && let Ok(v) = serde_json::from_str::<Value>(&text)
                && let Some(addr) = v["listen"].as_array().and_then(|a| a.first()?.as_str())
            {
                match http_get(&self.http(i), "/health") {
                    Ok(_) => return Ok(addr.to_owned()),
                    Err(e) => last = format!("/health: {e:#}"),
                }
            }
            if let Some(Some(slot)) = self.slots.get_mut(i)
                && let Some(process) = slot.process.as_mut()
                && let Ok(Some(status)) = process.0.try_wait()
            {
                bail!(
                    "the relay in slot {i} exited ({status}); see {}",
                    self.log(i).display()
                );
            }
            if Instant::now() > deadline {
                bail!(
                    "the relay in slot {i} did not start ({last}; {}); see {}",
                    self.lab.describe(i),
                    self.log(i).display()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn log(&self, i: usize) -> PathBuf {
        self.dir.join(format!("node-{i}.log"))
    }

    /// Kills slot `i`'s process with SIGKILL (as a crash would).
    pub(crate) fn kill(&mut self, i: usize) {
        if let Some(Some(slot)) = self.slots.get_mut(i) {
            slot.process.take();
        }
    }

    /// Starts slot `i`'s last process again, with the same flags and data directory.
    pub(crate) fn restart(&mut self, i: usize) -> Result<()> {
        let Some(Some(slot)) = self.slots.get(i) else {
            bail!("slot {i} never ran");
        };
        let (kind, args) = (slot.kind, slot.args.clone());
        if kind == Kind::Relay {
            let _ = std::fs::remove_file(self.data_dir(i).join("node.json"));
        }
        self.spawn(i, kind, args)
    }

    /// Stops slot `i`'s process: SIGTERM, then SIGKILL after 5 s.
    pub(crate) fn stop(&mut self, i: usize) {
        let Some(Some(slot)) = self.slots.get_mut(i) else {
            return;
        };
        if let Some(mut process) = slot.process.take() {
            let _ = Command::new("kill")
                .args(["-TERM", &slot.pid.to_string()])
                .status();
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = process.0.try_wait() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        self.slots[i] = None;
    }

    /// What runs in slot `i`, if anything.
    pub(crate) fn kind(&self, i: usize) -> Option<Kind> {
        self.slots
            .get(i)?
            .as_ref()
            .filter(|s| s.process.is_some())
            .map(|s| s.kind)
    }

    /// Slot `i`'s process id.
    pub(crate) fn pid(&self, i: usize) -> Option<u32> {
        self.slots.get(i)?.as_ref().map(|s| s.pid)
    }

    /// Slot `i`'s `/health`.
    pub(crate) fn health(&self, i: usize) -> Option<Value> {
        let body = http_get(&self.http(i), "/health").ok()?;
        serde_json::from_str(&body).ok()
    }

    /// Slot `i`'s `/metrics`, as series → value.
    pub(crate) fn metrics(&self, i: usize) -> Option<BTreeMap<String, f64>> {
        let body = http_get(&self.http(i), "/metrics").ok()?;
        Some(crate::health::parse_metrics(&body))
    }

    /// Slot `i`'s resident memory, KiB.
    pub(crate) fn rss_kib(&self, i: usize) -> Option<u64> {
        crate::cmd::process_rss_kib(self.pid(i)?)
    }

    /// CPU time slot `i`'s process has used, seconds.
    pub(crate) fn cpu_seconds(&self, i: usize) -> Option<f64> {
        crate::cmd::process_cpu_secs(self.pid(i)?)
    }
}
