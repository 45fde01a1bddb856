//! The local development chain: anvil from the npm package `@foundry-rs/anvil` (installed by
//! `cargo xtask setup`), its well-known accounts, and a freshly deployed chain for tests.

use std::{
    io::{BufRead, BufReader, Write},
    net::{SocketAddr, TcpStream},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use rivulet_contracts::{Chain, Deployment, Rpc, Sender, U256};
use rivulet_protocol::Signer;

/// Why the local chain could not be started.
#[derive(Debug, thiserror::Error)]
pub enum DevChainError {
    /// No anvil binary.
    #[error(
        "anvil not found ({relative} above {start}); run `cargo xtask setup` or set RIVULET_ANVIL"
    )]
    NotFound {
        /// Where it was looked for, under each ancestor.
        relative: &'static str,
        /// Where the search started.
        start: PathBuf,
    },
    /// The log file cannot be written.
    #[error("cannot write {path}")]
    Log {
        /// The log file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The process cannot be started.
    #[error("cannot start {binary}")]
    Spawn {
        /// The binary.
        binary: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// anvil never said which port it listens on.
    #[error("anvil did not report a listening port ({status})")]
    NoPort {
        /// How it ended, if it did.
        status: String,
    },
    /// anvil exited while starting.
    #[error("anvil exited at start ({status}); is port {port} taken?")]
    Exited {
        /// How it ended.
        status: std::process::ExitStatus,
        /// The port it was to listen on.
        port: u16,
    },
    /// anvil did not listen in time.
    #[error("anvil did not listen on 127.0.0.1:{port} within 15 s")]
    Timeout {
        /// The port.
        port: u16,
    },
    /// Deploying to it failed.
    #[error("cannot deploy the contracts to the local chain")]
    Deploy(#[from] rivulet_contracts::ContractsError),
}

/// anvil's development private keys (mnemonic "test test test test test test test test test test test junk"),
/// accounts 0..10. Publicly known: for the local chain only.
pub const DEV_KEYS: [&str; 10] = [
    "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
    "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d",
    "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a",
    "0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6",
    "0x47e179ec197488593b187f80a00eb0da91f1b9d0b13f8733639f19c30a34926a",
    "0x8b3a350cf5c34c9194ca85829a2df0ec3153be0318b5e2d3348e872092edffba",
    "0x92db14e403b83dfe3df233f83dfa3a0d7096f21ca9b0d6d6b8d88b2b4ec1564e",
    "0x4bbbf85ce3377467afe5d46f804f221813b2bb87f24d81f60f1fcdbf7cbf4356",
    "0xdbda1821b80551c9d65939329250298aa3472ba22feea921c0cf5d620ea67b97",
    "0x2a871d0798f97d79848a013d4936a73bf4cc922c825d33c1cf7073dff6d409c6",
];

/// The chain id anvil uses by default.
pub const LOCAL_CHAIN_ID: u64 = 31337;

/// The anvil binary: `$RIVULET_ANVIL`, or the npm package's binary under the first `node_modules` found
/// walking up from `start`.
pub fn anvil_binary(start: &Path) -> Result<PathBuf, DevChainError> {
    if let Some(p) = std::env::var_os("RIVULET_ANVIL") {
        return Ok(p.into());
    }
    let relative = "node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil";
    start
        .ancestors()
        .map(|dir| dir.join(relative))
        .find(|p| p.is_file())
        .ok_or_else(|| DevChainError::NotFound {
            relative,
            start: start.to_owned(),
        })
}

/// A running anvil on 127.0.0.1. Stopped when dropped, unless [`Anvil::detach`]ed.
#[derive(Debug)]
pub struct Anvil {
    child: Option<Child>,
    port: u16,
}

impl Anvil {
    /// Starts anvil on `127.0.0.1:port` with `chain_id`, logging to `log` (or nowhere), and waits until it
    /// accepts connections.
    ///
    /// With `port: None` anvil picks a free port itself and reports it (no race with other processes
    /// picking the same port); its output is read by a thread of this process, so such an anvil must not
    /// outlive it. With a fixed port the output goes straight to `log`, and [`Anvil::detach`] is safe.
    pub fn spawn(
        binary: &Path,
        port: Option<u16>,
        chain_id: u64,
        log: Option<&Path>,
    ) -> Result<Anvil, DevChainError> {
        let log_file = |path: &Path| {
            std::fs::File::create(path).map_err(|source| DevChainError::Log {
                path: path.to_owned(),
                source,
            })
        };
        let mut command = Command::new(binary);
        command
            .args([
                "--host",
                "127.0.0.1",
                "--port",
                &port.unwrap_or(0).to_string(),
                "--chain-id",
                &chain_id.to_string(),
            ])
            .stdin(Stdio::null())
            .stderr(Stdio::null());
        match (port, log) {
            (None, _) => command.stdout(Stdio::piped()),
            (Some(_), Some(path)) => command.stdout(Stdio::from(log_file(path)?)),
            (Some(_), None) => command.stdout(Stdio::null()),
        };
        let mut child = command.spawn().map_err(|source| DevChainError::Spawn {
            binary: binary.to_owned(),
            source,
        })?;
        let port = match port {
            Some(port) => port,
            None => {
                let Some(stdout) = child.stdout.take() else {
                    return Err(DevChainError::NoPort {
                        status: "no stdout".into(),
                    });
                };
                let mut sink = log.map(log_file).transpose()?;
                let (tx, rx) = std::sync::mpsc::channel();
                std::thread::spawn(move || {
                    let mut tx = Some(tx);
                    for line in BufReader::new(stdout).lines() {
                        let Ok(line) = line else { break };
                        if let Some(addr) = line.strip_prefix("Listening on ")
                            && let Some(tx) = tx.take()
                        {
                            let _ = tx.send(addr.trim().to_owned());
                        }
                        if let Some(f) = sink.as_mut() {
                            let _ = writeln!(f, "{line}");
                        }
                    }
                });
                let reported = rx.recv_timeout(Duration::from_secs(15));
                let port = reported
                    .ok()
                    .and_then(|addr| addr.rsplit(':').next().and_then(|p| p.parse().ok()));
                match port {
                    Some(port) => port,
                    None => {
                        let _ = child.kill();
                        let status = child.wait().map(|s| s.to_string()).unwrap_or_default();
                        return Err(DevChainError::NoPort { status });
                    }
                }
            }
        };
        let mut anvil = Anvil {
            child: Some(child),
            port,
        };
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(status) = anvil
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                return Err(DevChainError::Exited { status, port });
            }
            if is_listening(port) {
                // A fixed port may be held by another process: make sure anvil itself is still up.
                std::thread::sleep(Duration::from_millis(50));
                if let Some(status) = anvil
                    .child
                    .as_mut()
                    .and_then(|c| c.try_wait().ok().flatten())
                {
                    return Err(DevChainError::Exited { status, port });
                }
                return Ok(anvil);
            }
            if Instant::now() > deadline {
                return Err(DevChainError::Timeout { port });
            }
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    /// The JSON-RPC URL.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Leaves anvil running after this value is dropped; returns its process id.
    pub fn detach(mut self) -> Option<u32> {
        self.child.take().map(|c| c.id())
    }
}

impl Drop for Anvil {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Development account `i`'s key (0..10).
///
/// # Panics
/// When `i` is 10 or more.
pub fn dev_key(i: usize) -> Signer {
    match Signer::from_hex(DEV_KEYS[i]) {
        Ok(key) => key,
        Err(e) => unreachable!("anvil's development keys are valid keys: {e}"),
    }
}

/// A fresh local chain (anvil on a free port, found from `start`, see [`anvil_binary`]) with the
/// contracts deployed from development account 0 — what tests start from.
pub async fn deployed_chain(start: &Path) -> Result<(Anvil, Deployment), DevChainError> {
    let anvil = Anvil::spawn(&anvil_binary(start)?, None, LOCAL_CHAIN_ID, None)?;
    let url = anvil.url();
    let deployer = Chain::connect(Rpc::http(&url)?, Sender::Key(dev_key(0))).await?;
    let deployment = crate::deploy(&deployer, &url, &[], U256::from(1u64)).await?;
    Ok((anvil, deployment))
}

/// Whether something accepts TCP connections on `127.0.0.1:port`.
pub fn is_listening(port: u16) -> bool {
    TcpStream::connect_timeout(
        &SocketAddr::from(([127, 0, 0, 1], port)),
        Duration::from_millis(200),
    )
    .is_ok()
}
