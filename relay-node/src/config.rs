//! The node's configuration: defaults that run on one machine, a TOML file, then environment variables
//! and command-line flags (clap), later ones winning. Every value is checked once, at start, with a
//! message that names the setting.

use std::{net::SocketAddr, path::PathBuf, sync::Arc};

use anyhow::{Context, Result, bail};
use clap::Args;
use rivulet_contracts::{U256, parse_data};
use rivulet_network::{latency::LatencyModel, libp2p::Multiaddr};
use rivulet_protocol::StreamPartId;
use serde::Deserialize;

/// Settings as written in `node.toml` (all optional; `node.example.toml` lists them at their defaults).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub(crate) struct FileConfig {
    network: Option<NetworkSection>,
    http: Option<HttpSection>,
    chain: Option<ChainSection>,
    storage: Option<StorageSection>,
    limits: Option<LimitsSection>,
    coordinator: Option<CoordinatorSection>,
    performance: Option<PerformanceSection>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct PerformanceSection {
    verify_threads: Option<usize>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct CoordinatorSection {
    stake: Option<String>,
    poll_ms: Option<u64>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct NetworkSection {
    listen: Option<Vec<String>>,
    bootstrap: Option<Vec<String>>,
    latency_model: Option<PathBuf>,
    max_connections: Option<u32>,
    max_connections_per_address: Option<u32>,
    connections_per_second_per_address: Option<u32>,
    light_max_subscriptions: Option<usize>,
    light_max_publishing_per_address: Option<usize>,
    gossip_queue_mb_per_peer: Option<usize>,
    gossip_queue_mb: Option<usize>,
    request_mb_per_address: Option<usize>,
    request_mb: Option<usize>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct HttpSection {
    listen: Option<String>,
    ws_frames_per_second: Option<u32>,
    ws_max_connections: Option<usize>,
    ws_max_connections_per_address: Option<usize>,
    ws_max_subscriptions: Option<usize>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ChainSection {
    deployment: Option<PathBuf>,
    rpc_url: Option<String>,
    sync_interval_ms: Option<u64>,
    confirmations: Option<u64>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct StorageSection {
    data_dir: Option<PathBuf>,
    parts: Option<Vec<String>>,
    cache_mb: Option<usize>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct LimitsSection {
    max_content_bytes: Option<usize>,
    max_future_skew_ms: Option<u64>,
    max_past_skew_ms: Option<u64>,
}

/// Flags of `relay-node run` (each also an environment variable).
#[derive(Debug, Clone, Args)]
pub(crate) struct RunArgs {
    /// The TOML configuration file.
    #[arg(long, env = "RIVULET_CONFIG")]
    pub(crate) config: Option<PathBuf>,
    /// libp2p listen address (repeatable), e.g. /ip4/127.0.0.1/tcp/7171, /ip4/127.0.0.1/tcp/7172/ws or
    /// /ip4/127.0.0.1/udp/7173/webrtc-direct (browsers).
    #[arg(
        long = "network.listen",
        env = "RIVULET_NETWORK_LISTEN",
        value_delimiter = ','
    )]
    network_listen: Vec<String>,
    /// Bootstrap peer (repeatable), a multiaddr ending in `/p2p/<peer id>`.
    #[arg(
        long = "network.bootstrap",
        env = "RIVULET_NETWORK_BOOTSTRAP",
        value_delimiter = ','
    )]
    network_bootstrap: Vec<String>,
    /// For testing only: a latency model (JSON, written by `cargo xtask scale`) whose one-way delays
    /// between node addresses are added to every TCP connection between nodes. Off by default.
    #[arg(long = "network.latency-model", env = "RIVULET_NETWORK_LATENCY_MODEL")]
    network_latency_model: Option<PathBuf>,
    /// HTTP API address.
    #[arg(long = "http.listen", env = "RIVULET_HTTP_LISTEN")]
    http_listen: Option<String>,
    /// The deployment file written by rivulet-deploy.
    #[arg(long = "chain.deployment", env = "RIVULET_DEPLOYMENT")]
    chain_deployment: Option<PathBuf>,
    /// JSON-RPC URL (defaults to the deployment's).
    #[arg(long = "chain.rpc-url", env = "RIVULET_RPC_URL")]
    chain_rpc_url: Option<String>,
    /// Data directory (node key, history, state file).
    #[arg(long = "storage.data-dir", env = "RIVULET_DATA_DIR")]
    storage_data_dir: Option<PathBuf>,
    /// Stream part this node stores (repeatable), `<stream id>#<partition>`.
    #[arg(
        long = "storage.part",
        env = "RIVULET_STORAGE_PARTS",
        value_delimiter = ','
    )]
    storage_parts: Vec<String>,
    /// The history store's page cache, MiB (`storage.cache_mb`).
    #[arg(long = "storage.cache-mb", env = "RIVULET_STORAGE_CACHE_MB")]
    storage_cache_mb: Option<usize>,
    /// Register with the network coordinator with this stake (DATA, e.g. `100` or `0.5`) when not
    /// registered yet. Without it the node follows a registration made with `relay-node node register`.
    #[arg(long = "coordinator.stake", env = "RIVULET_COORDINATOR_STAKE")]
    coordinator_stake: Option<String>,
    /// Threads that verify signatures (0: one per core).
    #[arg(long = "performance.verify-threads", env = "RIVULET_VERIFY_THREADS")]
    verify_threads: Option<usize>,
    /// Testing only: acknowledge but never store events whose wire bytes contain this text (a node
    /// with an altered store, for the tests that show readers and the coordinator catch it).
    #[arg(long = "testing.drop-stored", hide = true)]
    testing_drop_stored: Option<String>,
}

/// The checked configuration the node runs with.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct NodeConfig {
    pub(crate) listen: Vec<Multiaddr>,
    pub(crate) bootstrap: Vec<Multiaddr>,
    /// Test networks only: delays between node addresses (`network.latency_model`).
    pub(crate) latency_model: Option<Arc<LatencyModel>>,
    /// Incoming libp2p connections (peers and light clients) held at once; more are closed.
    pub(crate) max_connections: u32,
    /// Incoming libp2p connections one address (an IPv6 one by its /64) may hold at once.
    pub(crate) max_connections_per_address: u32,
    /// New incoming libp2p connections one address may open a second (bursts of twice that).
    pub(crate) connections_per_second_per_address: u32,
    /// Stream parts one light client may subscribe to.
    pub(crate) light_max_subscriptions: usize,
    /// Light-protocol events one client address may have being published (not yet answered) at once.
    pub(crate) light_max_publishing_per_address: usize,
    /// Bytes of events queued for one peer, and for all peers together, at most
    /// (`network.gossip_queue_mb_per_peer`, `network.gossip_queue_mb`).
    pub(crate) gossip_queue_bytes: (usize, usize),
    /// Bytes of light requests being read for one address, and for all, at most
    /// (`network.request_mb_per_address`, `network.request_mb`).
    pub(crate) request_bytes: (usize, usize),
    pub(crate) http_listen: SocketAddr,
    pub(crate) deployment: PathBuf,
    pub(crate) rpc_url: Option<String>,
    pub(crate) sync_interval_ms: u64,
    pub(crate) confirmations: u64,
    pub(crate) data_dir: PathBuf,
    /// Parts stored by the operator's choice; when empty, the node stores what the network coordinator
    /// assigns it (if the deployment has one).
    pub(crate) parts: Vec<StreamPartId>,
    /// The stake to register with, DATA wei (`None`: do not register).
    pub(crate) coordinator_stake: Option<U256>,
    /// How often the coordinator is read, ms.
    pub(crate) coordinator_poll_ms: u64,
    /// Testing only: events containing these bytes are acknowledged but not stored.
    pub(crate) testing_drop_stored: Option<Vec<u8>>,
    /// The history store's page cache, bytes.
    pub(crate) store_cache_bytes: usize,
    pub(crate) max_content_bytes: usize,
    pub(crate) max_future_skew_ms: u64,
    /// How far (ms) a live event's timestamp may be behind the chain's clock when it arrives.
    pub(crate) max_past_skew_ms: u64,
    pub(crate) ws_rate: u32,
    /// WebSocket connections served at once; more are refused with 503.
    pub(crate) ws_max_connections: usize,
    /// WebSocket connections one client address (an IPv6 one by its /64) may hold at once.
    pub(crate) ws_max_connections_per_address: usize,
    /// Stream parts one WebSocket connection may subscribe to.
    pub(crate) ws_max_subscriptions: usize,
    /// Threads verifying signatures (at least 1).
    pub(crate) verify_threads: usize,
}

impl NodeConfig {
    /// Defaults, then the file (if any), then env and flags.
    pub(crate) fn load(args: &RunArgs) -> Result<NodeConfig> {
        let file: FileConfig = match &args.config {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("cannot read config {}", path.display()))?;
                toml::from_str(&text)
                    .with_context(|| format!("invalid config {}", path.display()))?
            }
            None => FileConfig::default(),
        };
        let network = file.network.unwrap_or_default();
        let chain = file.chain.unwrap_or_default();
        let storage = file.storage.unwrap_or_default();
        let limits = file.limits.unwrap_or_default();
        let pick = |flag: &Vec<String>, file: Option<Vec<String>>, default: Vec<String>| {
            if !flag.is_empty() {
                flag.clone()
            } else {
                file.unwrap_or(default)
            }
        };
        let listen = pick(
            &args.network_listen,
            network.listen,
            vec![
                "/ip4/127.0.0.1/tcp/0".into(),
                "/ip4/127.0.0.1/tcp/0/ws".into(),
                "/ip4/127.0.0.1/udp/0/webrtc-direct".into(),
            ],
        );
        let bootstrap = pick(&args.network_bootstrap, network.bootstrap, Vec::new());
        let latency_model = match args.network_latency_model.clone().or(network.latency_model) {
            Some(path) => Some(Arc::new(load_latency_model(&path)?)),
            None => None,
        };
        let max_connections =
            at_least_one("network.max_connections", network.max_connections, 10_000)?;
        let max_connections_per_address = at_least_one(
            "network.max_connections_per_address",
            network.max_connections_per_address,
            1_000,
        )?;
        let connections_per_second_per_address = at_least_one(
            "network.connections_per_second_per_address",
            network.connections_per_second_per_address,
            100,
        )?;
        let light_max_subscriptions = at_least_one(
            "network.light_max_subscriptions",
            network.light_max_subscriptions,
            1_000,
        )?;
        let light_max_publishing_per_address = at_least_one(
            "network.light_max_publishing_per_address",
            network.light_max_publishing_per_address,
            2_048,
        )?;
        let http_section = file.http.unwrap_or_default();
        let http = args
            .http_listen
            .clone()
            .or(http_section.listen)
            .unwrap_or_else(|| "127.0.0.1:7170".into());
        let ws_rate = at_least_one(
            "http.ws_frames_per_second",
            http_section.ws_frames_per_second,
            1000,
        )?;
        let ws_max_connections = at_least_one(
            "http.ws_max_connections",
            http_section.ws_max_connections,
            10_000,
        )?;
        let ws_max_connections_per_address = at_least_one(
            "http.ws_max_connections_per_address",
            http_section.ws_max_connections_per_address,
            1_000,
        )?;
        let ws_max_subscriptions = at_least_one(
            "http.ws_max_subscriptions",
            http_section.ws_max_subscriptions,
            1_000,
        )?;
        let parts = pick(&args.storage_parts, storage.parts, Vec::new());
        let max_content_bytes = limits
            .max_content_bytes
            .unwrap_or(rivulet_protocol::codec::DEFAULT_MAX_CONTENT_LEN);
        if max_content_bytes == 0 || max_content_bytes > rivulet_protocol::codec::MAX_CONTENT_LEN {
            bail!("limits.max_content_bytes must be 1..=16777216, got {max_content_bytes}");
        }
        let cache_mb = args
            .storage_cache_mb
            .or(storage.cache_mb)
            .unwrap_or(rivulet_store::DEFAULT_CACHE_BYTES >> 20);
        within_mib("storage.cache_mb", cache_mb)?;
        let largest_message = max_content_bytes + rivulet_network::MESSAGE_HEADROOM;
        let gossip_queue_bytes = shared_budget(
            (
                "network.gossip_queue_mb_per_peer",
                network.gossip_queue_mb_per_peer,
            ),
            ("network.gossip_queue_mb", network.gossip_queue_mb),
            rivulet_network::DEFAULT_GOSSIP_QUEUE_BYTES,
            largest_message,
            &format!(
                "the largest event (limits.max_content_bytes, {max_content_bytes} bytes, and its headers)"
            ),
        )?;
        let largest_request = rivulet_network::light_request_maximum(largest_message);
        let request_bytes = shared_budget(
            (
                "network.request_mb_per_address",
                network.request_mb_per_address,
            ),
            ("network.request_mb", network.request_mb),
            rivulet_network::DEFAULT_REQUEST_BYTES,
            largest_request,
            &format!(
                "the largest light request ({largest_request} bytes: the largest event or a full publish batch, and their framing)"
            ),
        )?;
        let coordinator = file.coordinator.unwrap_or_default();
        let coordinator_stake = match args.coordinator_stake.clone().or(coordinator.stake) {
            Some(text) => {
                Some(parse_data(&text).with_context(|| format!("coordinator.stake {text:?}"))?)
            }
            None => None,
        };
        let coordinator_poll_ms = coordinator.poll_ms.unwrap_or(1000);
        if coordinator_poll_ms < 100 {
            bail!("coordinator.poll_ms must be at least 100, got {coordinator_poll_ms}");
        }
        let verify_threads = match args
            .verify_threads
            .or(file.performance.unwrap_or_default().verify_threads)
            .unwrap_or(0)
        {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n if n <= 256 => n,
            n => bail!("performance.verify_threads must be 0..=256 (0: one per core), got {n}"),
        };
        let sync_interval_ms = chain.sync_interval_ms.unwrap_or(1000);
        if sync_interval_ms < 50 {
            bail!("chain.sync_interval_ms must be at least 50, got {sync_interval_ms}");
        }
        Ok(NodeConfig {
            listen: listen
                .iter()
                .map(|a| parse_addr("network.listen", a))
                .collect::<Result<_>>()?,
            bootstrap: bootstrap
                .iter()
                .map(|a| {
                    let addr = parse_addr("network.bootstrap", a)?;
                    if rivulet_network::peer_of(&addr).is_none() {
                        bail!("network.bootstrap {a:?} must end in /p2p/<peer id>");
                    }
                    Ok(addr)
                })
                .collect::<Result<_>>()?,
            latency_model,
            max_connections,
            max_connections_per_address,
            connections_per_second_per_address,
            light_max_subscriptions,
            light_max_publishing_per_address,
            gossip_queue_bytes,
            request_bytes,
            http_listen: http.parse().with_context(|| {
                format!("http.listen {http:?} is not an address like 127.0.0.1:7170")
            })?,
            deployment: args
                .chain_deployment
                .clone()
                .or(chain.deployment)
                .unwrap_or_else(|| PathBuf::from(".rivulet/deployment.json")),
            rpc_url: args.chain_rpc_url.clone().or(chain.rpc_url),
            sync_interval_ms,
            confirmations: chain.confirmations.unwrap_or(0),
            data_dir: args
                .storage_data_dir
                .clone()
                .or(storage.data_dir)
                .unwrap_or_else(|| PathBuf::from(".rivulet/node")),
            parts: parts
                .iter()
                .map(|p| {
                    p.parse()
                        .map_err(|e| anyhow::anyhow!("storage.part {p:?}: {e}"))
                })
                .collect::<Result<_>>()?,
            coordinator_stake,
            coordinator_poll_ms,
            testing_drop_stored: args.testing_drop_stored.clone().map(String::into_bytes),
            store_cache_bytes: cache_mb << 20,
            max_content_bytes,
            max_future_skew_ms: limits.max_future_skew_ms.unwrap_or(60_000),
            max_past_skew_ms: limits.max_past_skew_ms.unwrap_or(60_000),
            ws_rate,
            ws_max_connections,
            ws_max_connections_per_address,
            ws_max_subscriptions,
            verify_threads,
        })
    }
}

/// A count setting's value — `value` from the file, or `default` — refused when it is 0.
fn at_least_one<T: Copy + PartialEq + From<u8>>(
    name: &str,
    value: Option<T>,
    default: T,
) -> Result<T> {
    let value = value.unwrap_or(default);
    if value == T::from(0) {
        bail!("{name} must be at least 1");
    }
    Ok(value)
}

/// A size setting in MiB, checked to be 1..=65536.
fn within_mib(name: &str, mb: usize) -> Result<()> {
    if !(1..=65_536).contains(&mb) {
        bail!("{name} must be 1..=65536 (MiB), got {mb}");
    }
    Ok(())
}

/// A budget shared out by holder, bytes (MiB in the file): `share`, what one holder may hold, and
/// `total`, what all may (each a setting's name and value). Left out, each is its default in
/// `defaults`, raised to hold `largest` bytes (the share) and the share (the total), so raising
/// `limits.max_content_bytes` alone needs nothing else. Each is 1..=65536 MiB, the share at least
/// `largest` bytes (`largest_is` says what that is), and the total at least the share.
fn shared_budget(
    (share_name, share): (&str, Option<usize>),
    (total_name, total): (&str, Option<usize>),
    defaults: (usize, usize),
    largest: usize,
    largest_is: &str,
) -> Result<(usize, usize)> {
    let share = share.unwrap_or((defaults.0 >> 20).max(largest.div_ceil(1 << 20)));
    let total = total.unwrap_or((defaults.1 >> 20).max(share));
    within_mib(share_name, share)?;
    within_mib(total_name, total)?;
    if share << 20 < largest {
        bail!("{share_name} ({share} MiB) must hold {largest_is}");
    }
    if total < share {
        bail!("{total_name} ({total} MiB) must be at least {share_name} ({share} MiB)");
    }
    Ok((share << 20, total << 20))
}

/// Reads and checks a latency model file.
fn load_latency_model(path: &std::path::Path) -> Result<LatencyModel> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("network.latency_model: cannot read {}", path.display()))?;
    let model: LatencyModel = serde_json::from_str(&text)
        .with_context(|| format!("network.latency_model {}", path.display()))?;
    model
        .check()
        .with_context(|| format!("network.latency_model {}", path.display()))?;
    Ok(model)
}

fn parse_addr(setting: &str, s: &str) -> Result<Multiaddr> {
    s.parse().with_context(|| {
        format!("{setting} {s:?} is not a multiaddr (e.g. /ip4/127.0.0.1/tcp/7171)")
    })
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        run: RunArgs,
    }

    fn load(args: &[&str], toml: Option<&str>) -> Result<NodeConfig> {
        let dir = tempfile::tempdir().unwrap();
        let mut argv = vec!["relay-node".to_owned()];
        if let Some(text) = toml {
            let path = dir.path().join("node.toml");
            std::fs::write(&path, text).unwrap();
            argv.extend(["--config".to_owned(), path.display().to_string()]);
        }
        argv.extend(args.iter().map(|s| s.to_string()));
        NodeConfig::load(&Cli::try_parse_from(argv).unwrap().run)
    }

    #[test]
    fn defaults_run_on_one_machine() {
        let c = load(&[], None).unwrap();
        assert_eq!(c.http_listen.to_string(), "127.0.0.1:7170");
        assert_eq!(c.listen.len(), 3);
        assert!(
            c.listen
                .iter()
                .all(|a| a.to_string().starts_with("/ip4/127.0.0.1/"))
        );
        assert!(c.parts.is_empty());
    }

    #[test]
    fn the_example_file_lists_every_setting_at_its_default() {
        let example = include_str!("../node.example.toml");
        assert_eq!(load(&[], Some(example)).unwrap(), load(&[], None).unwrap());
        // The example names every key of the file format (`rpc_url`, which has no default, commented out).
        let file: toml::Table = toml::from_str(example).unwrap();
        let keys: Vec<String> = file
            .iter()
            .flat_map(|(section, table)| {
                let table = table.as_table().unwrap();
                table.keys().map(move |k| format!("{section}.{k}"))
            })
            .collect();
        for key in [
            "network.listen",
            "network.bootstrap",
            "network.max_connections",
            "network.max_connections_per_address",
            "network.connections_per_second_per_address",
            "network.light_max_subscriptions",
            "network.light_max_publishing_per_address",
            "network.gossip_queue_mb_per_peer",
            "network.gossip_queue_mb",
            "network.request_mb_per_address",
            "network.request_mb",
            "http.listen",
            "http.ws_frames_per_second",
            "http.ws_max_connections",
            "http.ws_max_connections_per_address",
            "http.ws_max_subscriptions",
            "chain.deployment",
            "chain.sync_interval_ms",
            "chain.confirmations",
            "storage.data_dir",
            "storage.parts",
            "storage.cache_mb",
            "limits.max_content_bytes",
            "limits.max_future_skew_ms",
            "limits.max_past_skew_ms",
            "coordinator.poll_ms",
            "performance.verify_threads",
        ] {
            assert!(keys.contains(&key.to_owned()), "{key} is missing");
        }
        // A value other than the default does change the configuration.
        let changed = example.replace("ws_max_subscriptions = 1000", "ws_max_subscriptions = 7");
        assert_eq!(load(&[], Some(&changed)).unwrap().ws_max_subscriptions, 7);
    }

    /// A node configured for the largest events the protocol allows needs no other setting raised:
    /// gossip's queue for one peer grows to hold one; a setting given stays as given (and is refused
    /// when too small).
    #[test]
    fn budgets_left_out_hold_the_largest_event() {
        let c = load(&[], Some("[limits]\nmax_content_bytes = 16777216\n")).unwrap();
        assert_eq!(c.gossip_queue_bytes, (17 << 20, 128 << 20));
        assert_eq!(c.request_bytes, (32 << 20, 256 << 20));
        let toml =
            "[limits]\nmax_content_bytes = 16777216\n[network]\ngossip_queue_mb_per_peer = 16\n";
        let err = format!("{:#}", load(&[], Some(toml)).unwrap_err());
        assert!(
            err.contains("(16 MiB) must hold the largest event"),
            "{err}"
        );
        let c = load(&[], None).unwrap();
        assert_eq!(c.gossip_queue_bytes, (16 << 20, 128 << 20));
    }

    #[test]
    fn flags_override_the_file() {
        let toml =
            "[http]\nlisten = \"127.0.0.1:9000\"\n[storage]\nparts = [\"rivulet.eth/a#1\"]\n";
        let c = load(&["--http.listen", "127.0.0.1:9001"], Some(toml)).unwrap();
        assert_eq!(c.http_listen.to_string(), "127.0.0.1:9001");
        assert_eq!(c.parts[0].to_string(), "rivulet.eth/a#1");
        let toml = "[storage]\ncache_mb = 16\n";
        let c = load(&["--storage.cache-mb", "4"], Some(toml)).unwrap();
        assert_eq!(c.store_cache_bytes, 4 << 20);
    }

    #[test]
    fn bad_values_name_the_setting() {
        let cases: [(&[&str], Option<&str>, &str); 18] = [
            (
                &["--performance.verify-threads", "1000"],
                None,
                "performance.verify_threads",
            ),
            (
                &["--network.latency-model", "/nonexistent/model.json"],
                None,
                "network.latency_model",
            ),
            (&["--coordinator.stake", "five"], None, "coordinator.stake"),
            (
                &[],
                Some("[coordinator]\npoll_ms = 5\n"),
                "coordinator.poll_ms",
            ),
            (&["--network.listen", "tcp:7171"], None, "network.listen"),
            (
                &[],
                Some("[network]\nmax_connections_per_address = 0\n"),
                "network.max_connections_per_address",
            ),
            (
                &["--network.bootstrap", "/ip4/127.0.0.1/tcp/7171"],
                None,
                "/p2p/",
            ),
            (&["--http.listen", "localhost"], None, "http.listen"),
            (&["--storage.part", "nope#1"], None, "storage.part"),
            (&["--storage.cache-mb", "0"], None, "storage.cache_mb"),
            (
                &[],
                Some("[network]\ngossip_queue_mb_per_peer = 0\n"),
                "network.gossip_queue_mb_per_peer must be 1..=65536",
            ),
            (
                &[],
                Some("[network]\ngossip_queue_mb_per_peer = 1\n"),
                "must hold the largest event",
            ),
            (
                &[],
                Some("[network]\ngossip_queue_mb_per_peer = 32\ngossip_queue_mb = 16\n"),
                "must be at least network.gossip_queue_mb_per_peer",
            ),
            (
                &[],
                Some("[network]\nrequest_mb_per_address = 4\n"),
                "network.request_mb_per_address (4 MiB) must hold the largest light request",
            ),
            (
                &[],
                Some("[network]\nrequest_mb_per_address = 64\nrequest_mb = 32\n"),
                "network.request_mb (32 MiB) must be at least network.request_mb_per_address (64 MiB)",
            ),
            (
                &[],
                Some("[network]\nrequest_mb = 0\n"),
                "network.request_mb must be 1..=65536",
            ),
            (
                &[],
                Some("[limits]\nmax_content_bytes = 0\n"),
                "limits.max_content_bytes",
            ),
            (
                &[],
                Some("[network]\nlisten = []\nspeed = 1\n"),
                "unknown field",
            ),
        ];
        for (args, toml, expected) in cases {
            let err = format!("{:#}", load(args, toml).unwrap_err());
            assert!(err.contains(expected), "{args:?}: {err}");
        }
    }
}
