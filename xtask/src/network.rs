//! A whole local Rivulet network on one machine, for the README's main command (`cargo xtask up`) and the
//! browser tests: anvil with the contracts, demo streams, three relay nodes (TCP, WebSocket and
//! WebRTC-direct listeners), a server-side demo publisher, and a static web server on 127.0.0.1 for
//! `www/`, the npm package (`/sdk/`), the dapp (`/dapp/`) and `/config.json`. Everything it starts stops
//! when the value is dropped.

use std::{
    io::{BufRead, BufReader},
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

use crate::{
    cmd::{KillOnDrop, capture, target_dir},
    demo_feeds::{start_publisher, start_web, traffic_reading, weather_reading},
};

/// anvil's development account 1 (publicly known; local chain only): owns the demo streams.
pub(crate) const DEMO_OWNER_KEY: &str =
    "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d";
/// anvil's development account 3: the server-side demo publisher.
const DEMO_PUBLISHER_KEY: &str =
    "0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6";
/// anvil's development account 6: a second seller on the marketplace.
const SECOND_SELLER_KEY: &str =
    "0x92db14e403b83dfe3df233f83dfa3a0d7096f21ca9b0d6d6b8d88b2b4ec1564e";
/// anvil's development account 7: the second seller's device, publishing traffic counts.
const TRAFFIC_DEVICE_KEY: &str =
    "0x4bbbf85ce3377467afe5d46f804f221813b2bb87f24d81f60f1fcdbf7cbf4356";
const TRAFFIC_DEVICE: &str = "0x14dC79964da2C08b23698B3D3cc7Ca32193d9955";

/// Ports of a local network (0: let the system pick).
pub(crate) struct Ports {
    pub(crate) chain: u16,
    pub(crate) web: u16,
}

impl RelayNode {
    /// Its process id.
    pub(crate) fn pid(&self) -> u32 {
        self.process.0.id()
    }

    /// Its TCP address (what other nodes bootstrap from).
    pub(crate) fn tcp(&self) -> Result<&str> {
        self.listen
            .iter()
            .find(|addr| !addr.contains("/ws") && !addr.contains("/webrtc"))
            .map(String::as_str)
            .context("the node has no TCP address")
    }
}

/// A running relay node.
pub(crate) struct RelayNode {
    process: KillOnDrop,
    /// Its HTTP API, `http://…`.
    pub(crate) http: String,
    /// Its libp2p addresses with `/p2p/<peer id>`.
    pub(crate) listen: Vec<String>,
}

/// A running local network.
pub(crate) struct LocalNetwork {
    /// The web server's base URL.
    pub(crate) site: String,
    /// What `/config.json` serves.
    pub(crate) config: Value,
    /// The relay nodes.
    pub(crate) nodes: Vec<RelayNode>,
    /// The deployment file.
    pub(crate) deployment_file: PathBuf,
    _chain: KillOnDrop,
    _publishers: [KillOnDrop; 2],
    _web: KillOnDrop,
}

/// Which build of the relay-node and rivulet-deploy binaries a local network runs.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Build {
    /// `target/debug` (what the tests build).
    Debug,
    /// `target/release`.
    Release,
}

impl Build {
    /// The directory its binaries are in.
    pub(crate) fn dir(self, root: &Path) -> PathBuf {
        target_dir(root).join(match self {
            Build::Debug => "debug",
            Build::Release => "release",
        })
    }
}

fn path_str(p: &Path) -> Result<&str> {
    p.to_str().context("non-UTF-8 path")
}

/// Starts anvil on `port` (0: any; it reports the one it took), logging to `log`, and returns it with its
/// URL.
pub(crate) fn start_chain(root: &Path, port: u16, log: &Path) -> Result<(KillOnDrop, String)> {
    let mut command = Command::new(anvil_binary(root));
    command.args(["--host", "127.0.0.1", "--port", &port.to_string()]);
    let (guard, addr) = spawn_anvil(command, log).with_context(|| {
        format!(
            "anvil did not start on 127.0.0.1:{port} (is the port taken? see {})",
            log.display()
        )
    })?;
    Ok((guard, format!("http://{addr}")))
}

/// Anvil from npm (`@foundry-rs/anvil`, installed by `npm ci`).
pub(crate) fn anvil_binary(root: &Path) -> PathBuf {
    root.join("node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil")
}

/// Runs `command` (anvil, or something that runs it, such as `ip netns exec`), logging its stderr to
/// `log`, and returns it with the address it says it listens on.
pub(crate) fn spawn_anvil(mut command: Command, log: &Path) -> Result<(KillOnDrop, String)> {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::from(std::fs::File::create(log)?))
        .spawn()
        .with_context(|| format!("cannot start {:?} (npm ci first)", command.get_program()))?;
    let stdout = child.stdout.take().context("anvil has no stdout")?;
    let guard = KillOnDrop(child);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut tx = Some(tx);
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(addr) = line.strip_prefix("Listening on ")
                && let Some(tx) = tx.take()
            {
                let _ = tx.send(addr.trim().to_owned());
            }
        }
    });
    let addr = rx
        .recv_timeout(Duration::from_secs(15))
        .context("anvil did not say where it listens within 15 s")?;
    Ok((guard, addr))
}

/// Starts a relay node in `dir` (TCP, WebSocket and WebRTC-direct on ephemeral loopback ports) and waits
/// for its state file.
pub(crate) fn start_node(
    bin: &Path,
    dir: &Path,
    deployment: &Path,
    extra: &[&str],
) -> Result<RelayNode> {
    start_node_on(
        bin,
        dir,
        deployment,
        "127.0.0.1:0",
        &[
            "/ip4/127.0.0.1/tcp/0",
            "/ip4/127.0.0.1/tcp/0/ws",
            "/ip4/127.0.0.1/udp/0/webrtc-direct",
        ],
        extra,
    )
}

/// Starts a relay node in `dir` with its HTTP API on `http` and libp2p on `listen`, and waits until its
/// state file lists every listener.
pub(crate) fn start_node_on(
    bin: &Path,
    dir: &Path,
    deployment: &Path,
    http: &str,
    listen: &[&str],
    extra: &[&str],
) -> Result<RelayNode> {
    std::fs::create_dir_all(dir)?;
    let _ = std::fs::remove_file(dir.join("node.json"));
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("node.log"))?;
    let mut command = Command::new(bin);
    command
        .args(["run", "--storage.data-dir", path_str(dir)?])
        .args(["--chain.deployment", path_str(deployment)?])
        .args(["--http.listen", http]);
    for addr in listen {
        command.args(["--network.listen", addr]);
    }
    let child = command
        .args(extra)
        .env("RIVULET_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::from(log))
        .spawn()?;
    let guard = KillOnDrop(child);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(text) = std::fs::read_to_string(dir.join("node.json"))
            && let Ok(state) = serde_json::from_str::<Value>(&text)
        {
            let addresses: Vec<String> = state["listen"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|v| v.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default();
            // Every listener is up.
            if addresses.len() >= listen.len() {
                return Ok(RelayNode {
                    process: guard,
                    http: format!("http://{}", state["http"].as_str().unwrap_or_default()),
                    listen: addresses,
                });
            }
        }
        if Instant::now() > deadline {
            bail!(
                "relay node in {} did not start; see node.log there",
                dir.display()
            );
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Runs a relay-node client command and returns its stdout as JSON.
fn cli(bins: &Path, deployment: &Path, args: &[&str]) -> Result<Value> {
    cli_as(bins, deployment, DEMO_OWNER_KEY, args)
}

/// Runs a relay-node client command with `key` and returns its stdout as JSON.
fn cli_as(bins: &Path, deployment: &Path, key: &str, args: &[&str]) -> Result<Value> {
    let out = capture(
        &bins.join("relay-node"),
        &[
            args,
            &[
                "--private-key",
                key,
                "--chain.deployment",
                path_str(deployment)?,
            ],
        ]
        .concat(),
    )?;
    Ok(serde_json::from_str(out.trim()).unwrap_or(Value::Null))
}

/// The account of the relay node whose data directory is `dir` (its key is created there if missing).
fn node_account(bins: &Path, dir: &Path) -> Result<String> {
    account_of(&bins.join("relay-node"), dir)
}

/// The account of the relay node whose data directory is `dir`, asked of the relay binary `relay`
/// (the key is created there if missing).
pub(crate) fn account_of(relay: &Path, dir: &Path) -> Result<String> {
    let out = capture(
        relay,
        &["node", "account", "--storage.data-dir", path_str(dir)?],
    )?;
    let answer: Value = serde_json::from_str(out.trim())
        .with_context(|| format!("relay-node node account printed {out:?}"))?;
    answer["account"]
        .as_str()
        .map(str::to_owned)
        .context("relay-node node account printed no account")
}

/// Links (or copies, where links fail) `from` at `to`.
fn link(from: &Path, to: &Path) -> Result<()> {
    let _ = std::fs::remove_file(to);
    #[cfg(unix)]
    std::os::unix::fs::symlink(from, to)
        .with_context(|| format!("cannot link {} at {}", from.display(), to.display()))?;
    Ok(())
}

impl LocalNetwork {
    /// Starts everything under `dir` (wiped first). The relay-node and rivulet-deploy binaries of
    /// `build` and the npm package must be built.
    pub(crate) fn start(
        root: &Path,
        dir: &Path,
        ports: Ports,
        build: Build,
    ) -> Result<LocalNetwork> {
        let bins = build.dir(root);
        let _ = std::fs::remove_dir_all(dir);
        std::fs::create_dir_all(dir)?;
        let (chain, rpc_url) = start_chain(root, ports.chain, &dir.join("anvil.log"))?;
        let deployment_file = dir.join("deployment.json");
        // The relay nodes' accounts (their keys made in their data directories now), funded with ETH
        // for gas and DATA for their stakes by the deployment.
        let node_dirs: Vec<PathBuf> = ["node-a", "node-b", "node-c"]
            .iter()
            .map(|name| dir.join(name))
            .collect();
        let mut deploy_args = vec![
            "--rpc-url".to_owned(),
            rpc_url.clone(),
            "--out".to_owned(),
            path_str(&deployment_file)?.to_owned(),
            "--force".to_owned(),
        ];
        for node_dir in &node_dirs {
            deploy_args.extend(["--fund".to_owned(), node_account(&bins, node_dir)?]);
        }
        let deploy_args: Vec<&str> = deploy_args.iter().map(String::as_str).collect();
        capture(&bins.join("rivulet-deploy"), &deploy_args)?;
        let deployment: Value = serde_json::from_str(&std::fs::read_to_string(&deployment_file)?)?;

        // Demo streams: one anyone may publish to and read, one a server-side publisher feeds.
        let sensors = cli(
            &bins,
            &deployment_file,
            &[
                "stream",
                "create",
                "demo/sensors",
                "--name",
                "Browser sensors",
                "--description",
                "Anyone may publish and subscribe: the browser publisher demo",
            ],
        )?;
        let sensors = sensors["streamId"]
            .as_str()
            .context("no stream id")?
            .to_owned();
        let weather = cli(
            &bins,
            &deployment_file,
            &[
                "stream",
                "create",
                "demo/weather",
                "--name",
                "Weather station",
                "--description",
                "Simulated weather readings from a server-side publisher; public to read",
            ],
        )?;
        let weather = weather["streamId"]
            .as_str()
            .context("no stream id")?
            .to_owned();
        for (stream, permission) in [
            (&sensors, "publish"),
            (&sensors, "subscribe"),
            (&weather, "subscribe"),
        ] {
            cli(
                &bins,
                &deployment_file,
                &["grant", stream, "public", permission],
            )?;
        }
        let publisher_address = "0x90F79bf6EB2c4f870365E785982E1f101E93b906";
        cli(
            &bins,
            &deployment_file,
            &["grant", &weather, publisher_address, "publish"],
        )?;
        // A second seller with a stream that is not public: readers need a licence.
        let traffic = cli_as(
            &bins,
            &deployment_file,
            SECOND_SELLER_KEY,
            &[
                "stream",
                "create",
                "demo/traffic",
                "--name",
                "City traffic",
                "--description",
                "Vehicles per minute at three crossings, from a roadside device",
            ],
        )?;
        let traffic = traffic["streamId"]
            .as_str()
            .context("no stream id")?
            .to_owned();
        cli_as(
            &bins,
            &deployment_file,
            SECOND_SELLER_KEY,
            &["grant", &traffic, TRAFFIC_DEVICE, "publish"],
        )?;
        // The marketplace: both sellers list their streams; the second also sells day passes at a
        // lower rate.
        for (key, stream, name, description, category, price, minimum) in [
            (
                DEMO_OWNER_KEY,
                &weather,
                "Weather station",
                "Temperature, humidity and wind twice a second",
                "environment",
                "1000000000000",
                "60",
            ),
            (
                SECOND_SELLER_KEY,
                &traffic,
                "City traffic",
                "Vehicle counts at three crossings, every second",
                "mobility",
                "5000000000000",
                "60",
            ),
            (
                SECOND_SELLER_KEY,
                &traffic,
                "City traffic day pass",
                "The same vehicle counts, sold by the day at a lower rate",
                "mobility",
                "2000000000000",
                "86400",
            ),
        ] {
            cli_as(
                &bins,
                &deployment_file,
                key,
                &[
                    "product",
                    "create",
                    "--stream",
                    stream,
                    "--price-per-second",
                    price,
                    "--minimum-seconds",
                    minimum,
                    "--name",
                    name,
                    "--description",
                    description,
                    "--category",
                    category,
                ],
            )?;
        }

        // The network stores the demo streams: each part on three nodes, as the coordinator assigns.
        cli(&bins, &deployment_file, &["network", "store", &sensors])?;
        cli(&bins, &deployment_file, &["network", "store", &weather])?;
        cli_as(
            &bins,
            &deployment_file,
            SECOND_SELLER_KEY,
            &["network", "store", &traffic],
        )?;

        // Three relay nodes that register with the coordinator, staking 100 DATA each, and store what it
        // assigns them; A is everyone's bootstrap peer.
        let relay = bins.join("relay-node");
        let stake = ["--coordinator.stake", "100"];
        let a = start_node(&relay, &node_dirs[0], &deployment_file, &stake)?;
        let tcp_a = a.tcp()?.to_owned();
        let joining = [&stake[..], &["--network.bootstrap", &tcp_a]].concat();
        let b = start_node(&relay, &node_dirs[1], &deployment_file, &joining)?;
        let c = start_node(&relay, &node_dirs[2], &deployment_file, &joining)?;
        let nodes = vec![a, b, c];
        let parts: Vec<String> = [&sensors, &weather, &traffic]
            .iter()
            .map(|s| format!("{s}#0"))
            .collect();
        let https: Vec<&str> = nodes.iter().map(|n| n.http.as_str()).collect();
        crate::health::wait_until_serving(&https, &parts, Duration::from_secs(90))?;

        // Browsers dial WebSocket first (the quiet path), WebRTC-direct next.
        let mut entry: Vec<String> = Vec::new();
        for kind in ["/ws/", "/webrtc-direct/"] {
            for node in &nodes {
                entry.extend(node.listen.iter().filter(|a| a.contains(kind)).cloned());
            }
        }

        let publisher = start_publisher(
            &bins,
            &nodes[0].http,
            (&weather, DEMO_PUBLISHER_KEY),
            &deployment_file,
            &dir.join("publisher.log"),
            weather_reading,
        )?;
        let traffic_publisher = start_publisher(
            &bins,
            &nodes[1].http,
            (&traffic, TRAFFIC_DEVICE_KEY),
            &deployment_file,
            &dir.join("traffic-publisher.log"),
            traffic_reading,
        )?;

        let config = json!({
            "nodes": entry,
            "rpcUrl": rpc_url,
            "chainId": deployment["chainId"],
            "deployment": deployment,
            "demo": { "stream": sensors, "serverStream": weather, "licensedStream": traffic },
            "nodeHttp": nodes.iter().map(|n| n.http.clone()).collect::<Vec<_>>(),
            "dapp": root.join("marketplace-dapp/dist").exists().then_some("/dapp/"),
        });
        let site = dir.join("site");
        std::fs::create_dir_all(&site)?;
        for entry in std::fs::read_dir(root.join("www"))? {
            let entry = entry?;
            link(&entry.path(), &site.join(entry.file_name()))?;
        }
        link(&crate::wasm::sdk_pkg(root), &site.join("sdk"))?;
        let dapp = root.join("marketplace-dapp/dist");
        if dapp.exists() {
            link(&dapp, &site.join("dapp"))?;
        }
        std::fs::write(
            site.join("config.json"),
            serde_json::to_vec_pretty(&config)?,
        )?;
        let (web, site_url) = start_web(&site, ports.web, &dir.join("web.log"))?;
        Ok(LocalNetwork {
            site: site_url,
            config,
            nodes,
            deployment_file,
            _chain: chain,
            _publishers: [publisher, traffic_publisher],
            _web: web,
        })
    }
}
