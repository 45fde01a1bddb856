//! The network coordinator from the command line: an operator's own node (`node account|register|
//! status|heartbeat|unstake|withdraw`, signing with the node's key from its data directory) and the
//! network as a whole (`network nodes|parts|rebalance|store|unstore|checksum|close`, signing with
//! `--private-key` where a transaction is sent). Every command prints JSON.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use rivulet_contracts::{
    Contracts, Coordinator, Deployment, NodeInfo, Sender, format_data, from_alloy, parse_data,
    to_alloy,
};
use rivulet_protocol::{Partition, StreamId, StreamPartId};
use serde_json::{Value, json};

use super::{ClientArgs, chain, print};
use crate::{identity, paths::DataDir};

/// Which node: its data directory (where `relay-node run` keeps its keys).
#[derive(Debug, Clone, Args)]
pub(crate) struct NodeArgs {
    /// The node's data directory: its libp2p key gives the peer id, its publisher key the account that
    /// registers, stakes and reports (created when missing, as `relay-node run` would).
    #[arg(
        long = "storage.data-dir",
        env = "RIVULET_DATA_DIR",
        default_value = ".rivulet/node",
        global = true
    )]
    data_dir: PathBuf,
    #[command(flatten)]
    client: ClientArgs,
}

/// `relay-node node …`: this node's registration.
#[derive(Debug, Subcommand)]
pub(crate) enum NodeCommand {
    /// Print the node's account (fund it with ETH for gas and DATA for its stake) and peer id.
    Account,
    /// Register with the network coordinator, staking DATA (approved first when needed).
    Register {
        /// The stake, in DATA (e.g. `100` or `0.5`); at least the coordinator's minimum.
        #[arg(long)]
        stake: String,
        /// Dial addresses (repeatable), each ending in `/p2p/<peer id>`; by default those the running
        /// node wrote to `node.json` in its data directory.
        #[arg(long = "address")]
        addresses: Vec<String>,
    },
    /// The node as the coordinator sees it, and the stream parts assigned to it.
    Status,
    /// Say the node is alive (a running node does this itself).
    Heartbeat,
    /// Ask to leave: the node leaves the active set at the next rebalance; its stake can be withdrawn
    /// after the coordinator's unstake delay.
    Unstake,
    /// Withdraw the stake once the unstake delay has passed.
    Withdraw,
}

/// `relay-node network …`: the coordinator as a whole.
#[derive(Debug, Subcommand)]
pub(crate) enum NetworkCommand {
    /// Every registered node, as JSON lines.
    Nodes,
    /// Every stored stream part and the nodes that store it (lowest score first), as JSON lines.
    Parts,
    /// Call `rebalance()`: refreshes the active set when a node joined, left or lapsed, and pays the
    /// caller when it changed something.
    Rebalance,
    /// Ask the network to store a stream (needs edit permission on it).
    Store {
        /// The stream.
        stream: StreamId,
        /// Partitions stored (default: the stream's own count, from the registry).
        #[arg(long)]
        partitions: Option<u32>,
        /// Nodes per stream part (0: the coordinator's default).
        #[arg(long, default_value_t = 0)]
        replication: u8,
        /// How long events are kept, in days (default: for ever).
        #[arg(long)]
        retention_days: Option<u64>,
    },
    /// Stop storing a stream.
    Unstore {
        /// The stream.
        stream: StreamId,
    },
    /// The final checksum of one interval of a stream part, or `"final": false`.
    Checksum {
        /// The stream.
        stream: StreamId,
        /// The partition.
        #[arg(long, default_value_t = 0)]
        partition: u32,
        /// The interval (its index: event timestamp in ms divided by the interval's length in ms).
        #[arg(long)]
        interval: u64,
    },
    /// Close an interval after its report window: assigned nodes that reported nothing or another value
    /// lose weight.
    Close {
        /// The stream.
        stream: StreamId,
        /// The partition.
        #[arg(long, default_value_t = 0)]
        partition: u32,
        /// The interval.
        #[arg(long)]
        interval: u64,
    },
}

/// `node …`.
pub(crate) async fn node(args: &NodeArgs, command: &NodeCommand) -> Result<()> {
    let dir = DataDir::new(&args.data_dir);
    std::fs::create_dir_all(dir.root())
        .with_context(|| format!("cannot create {}", dir.root().display()))?;
    let key = identity::load_or_create_publisher(&dir.publisher_key())?;
    let peer_id = identity::load_or_create(&dir.node_key())?
        .public()
        .to_peer_id();
    let account = key.address();
    if let NodeCommand::Account = command {
        return print(&json!({ "account": account.to_checksum(), "peerId": peer_id.to_string() }));
    }
    let deployment = Deployment::load(&args.client.deployment)?;
    let contracts = Contracts::connect_http(deployment, None, Sender::Key(key)).await?;
    let coordinator = contracts.coordinator()?;
    match command {
        NodeCommand::Account => unreachable!("answered above"),
        NodeCommand::Register { stake, addresses } => {
            let stake = parse_data(stake).context("--stake")?;
            let addresses = if addresses.is_empty() {
                running_addresses(&dir)?
            } else {
                addresses.clone()
            };
            coordinator
                .register(&peer_id.to_string(), &addresses, stake)
                .await?;
            print(&json!({
                "registered": account.to_checksum(),
                "peerId": peer_id.to_string(),
                "addresses": addresses,
                "stake": format_data(stake),
            }))
        }
        NodeCommand::Status => {
            let info = coordinator.node_info(to_alloy(account)).await?;
            let parts: Vec<String> = coordinator
                .assignment()
                .await?
                .parts_of(to_alloy(account))
                .iter()
                .map(ToString::to_string)
                .collect();
            print(&json!({
                "account": account.to_checksum(),
                "node": info.as_ref().map(node_json),
                "parts": parts,
                "balance": format_data(contracts.balance(to_alloy(account)).await?),
            }))
        }
        NodeCommand::Heartbeat => {
            coordinator.heartbeat().await?;
            print(&json!({ "heartbeat": account.to_checksum() }))
        }
        NodeCommand::Unstake => {
            let request = coordinator.request_unstake().await?;
            print(&json!({
                "leaving": account.to_checksum(),
                "withdrawableAt": request.withdrawable_at,
            }))
        }
        NodeCommand::Withdraw => {
            let transfer = coordinator.withdraw().await?;
            print(&json!({ "withdrawn": format_data(transfer.amount) }))
        }
    }
}

/// The addresses the running node wrote to `node.json`.
fn running_addresses(dir: &DataDir) -> Result<Vec<String>> {
    let text = std::fs::read_to_string(dir.state()).with_context(|| {
        format!(
            "cannot read {} (start the node first, or give --address)",
            dir.state().display()
        )
    })?;
    let state: Value = serde_json::from_str(&text)
        .with_context(|| format!("{} is not JSON", dir.state().display()))?;
    let addresses: Vec<String> = state["listen"]
        .as_array()
        .map(|list| {
            list.iter()
                .filter_map(|a| a.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    if addresses.is_empty() {
        bail!(
            "{} lists no addresses: give --address",
            dir.state().display()
        );
    }
    Ok(addresses)
}

fn node_json(n: &NodeInfo) -> Value {
    json!({
        "account": from_alloy(n.account).to_checksum(),
        "peerId": n.peer_id,
        "addresses": n.addresses,
        "stake": format_data(n.stake),
        "weight": n.weight,
        "lastSeen": n.last_seen,
        "leavingSince": n.leaving_since,
        "active": n.active,
        "live": n.live,
    })
}

/// `network …`.
pub(crate) async fn network(args: &ClientArgs, command: &NetworkCommand) -> Result<()> {
    let signs = matches!(
        command,
        NetworkCommand::Rebalance
            | NetworkCommand::Store { .. }
            | NetworkCommand::Unstore { .. }
            | NetworkCommand::Close { .. }
    );
    let contracts = chain(args, signs).await?;
    let coordinator: Coordinator = contracts.coordinator()?;
    match command {
        NetworkCommand::Nodes => {
            for account in coordinator.all_nodes().await? {
                if let Some(info) = coordinator.node_info(account).await? {
                    print(&node_json(&info))?;
                }
            }
            Ok(())
        }
        NetworkCommand::Parts => {
            for (part, nodes) in coordinator.assignment().await?.parts() {
                let nodes: Vec<String> = nodes
                    .into_iter()
                    .map(|a| from_alloy(a).to_checksum())
                    .collect();
                print(&json!({ "part": part.to_string(), "nodes": nodes }))?;
            }
            Ok(())
        }
        NetworkCommand::Rebalance => {
            let outcome = coordinator.rebalance().await?;
            print(&json!({
                "changed": outcome.changed,
                "epoch": outcome.epoch,
                "members": outcome.members.len(),
                "reward": format_data(outcome.reward),
            }))
        }
        NetworkCommand::Store {
            stream,
            partitions,
            replication,
            retention_days,
        } => {
            let partitions = match partitions {
                Some(n) => *n,
                None => {
                    contracts
                        .get_stream(stream)
                        .await?
                        .with_context(|| format!("no stream {stream}"))?
                        .metadata
                        .partitions
                }
            };
            let retention = retention_days.map(|d| d.saturating_mul(86_400));
            coordinator
                .request_storage(stream, partitions, *replication, retention)
                .await?;
            print(&json!({
                "stored": stream.as_str(),
                "partitions": partitions,
                "replication": replication,
                "retentionSeconds": retention,
            }))
        }
        NetworkCommand::Unstore { stream } => {
            coordinator.cancel_storage(stream).await?;
            print(&json!({ "unstored": stream.as_str() }))
        }
        NetworkCommand::Checksum {
            stream,
            partition,
            interval,
        } => {
            let part = part(stream, *partition)?;
            let state = coordinator.interval_state(&part, *interval).await?;
            let judges: Vec<String> = coordinator
                .interval_assignment(&part, *interval)
                .await?
                .into_iter()
                .map(|a| from_alloy(a).to_checksum())
                .collect();
            print(&json!({
                "part": part.to_string(),
                "interval": interval,
                "final": state.is_final,
                "closed": state.closed,
                "checksum": state.is_final.then(|| state.final_checksum.to_string()),
                "count": state.is_final.then_some(state.final_count),
                "judges": judges,
                "reported": (0..judges.len()).filter(|&i| state.has_reported(i)).count(),
                "agreed": (0..judges.len()).filter(|&i| state.has_agreed(i)).count(),
            }))
        }
        NetworkCommand::Close {
            stream,
            partition,
            interval,
        } => {
            let part = part(stream, *partition)?;
            let outcome = coordinator.close_interval(&part, *interval).await?;
            let list = |accounts: &[rivulet_contracts::Address]| -> Vec<String> {
                accounts
                    .iter()
                    .map(|a| from_alloy(*a).to_checksum())
                    .collect()
            };
            print(&json!({
                "part": part.to_string(),
                "interval": interval,
                "final": outcome.is_final,
                "silent": list(&outcome.silent),
                "dissenting": list(&outcome.dissenting),
            }))
        }
    }
}

fn part(stream: &StreamId, partition: u32) -> Result<StreamPartId> {
    let partition =
        Partition::new(partition).map_err(|e| anyhow::anyhow!("--partition {partition}: {e}"))?;
    Ok(StreamPartId::new(stream.clone(), partition))
}
