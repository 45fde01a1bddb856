//! The network coordinator, read without an account for the Network page: the registered nodes with
//! their stakes, weights, liveness and DATA, the stored stream parts with the nodes they are assigned to
//! and each part's latest finalised checksum, the epoch and the reward pool.

use rivulet_contracts::{Contracts, Coordinator, Rpc, Sender, format_data};

use super::config::Config;
use crate::error::DappError;

/// How many checksum intervals back the page looks for a part's latest final checksum.
const FINAL_LOOKBACK: u64 = 12;

/// A registered node as the page lists it.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct NodeRow {
    /// Its account, EIP-55.
    pub(crate) account: String,
    /// Its libp2p peer id.
    pub(crate) peer_id: String,
    /// Its stake, e.g. `100 DATA`.
    pub(crate) stake: String,
    /// Its weight (1..=100): lower after dissent or silence.
    pub(crate) weight: u16,
    /// Seen within the liveness window.
    pub(crate) live: bool,
    /// In the active set (stores parts).
    pub(crate) active: bool,
    /// Stream parts assigned to it.
    pub(crate) parts: usize,
    /// The DATA its account holds (where rewards are paid), e.g. `912 DATA`.
    pub(crate) balance: String,
}

/// A stored stream part.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct PartRow {
    /// `<stream id>#<partition>`.
    pub(crate) part: String,
    /// The accounts of the nodes that store it, lowest score first.
    pub(crate) nodes: Vec<String>,
    /// The latest finalised interval: its index, event count and checksum (hex).
    pub(crate) last_final: Option<(u64, u64, String)>,
}

/// The whole network as the Network page shows it.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct NetworkView {
    /// The active set's epoch.
    pub(crate) epoch: u64,
    /// The reward pool, e.g. `99,990 DATA`.
    pub(crate) reward_pool: String,
    /// Seconds per checksum interval.
    pub(crate) interval_secs: u64,
    /// Registered nodes.
    pub(crate) nodes: Vec<NodeRow>,
    /// Stored stream parts.
    pub(crate) parts: Vec<PartRow>,
}

/// Reads the coordinator of `config`'s deployment; `Ok(None)` when the deployment has none.
pub(crate) async fn network(config: &Config) -> Result<Option<NetworkView>, DappError> {
    if config.deployment.coordinator.is_none() {
        return Ok(None);
    }
    let rpc = Rpc::http(&config.rpc_url)?;
    let contracts = Contracts::connect(rpc, config.deployment.clone(), Sender::None).await?;
    let coordinator = contracts.coordinator()?;
    let assignment = coordinator.assignment().await?;
    let parts = assignment.parts();
    let mut nodes = Vec::new();
    for account in coordinator.all_nodes().await? {
        let Some(info) = coordinator.node_info(account).await? else {
            continue;
        };
        nodes.push(NodeRow {
            account: account.to_checksum(None),
            peer_id: info.peer_id,
            stake: format_data(info.stake),
            weight: info.weight,
            live: info.live,
            active: info.active,
            parts: parts.iter().filter(|(_, n)| n.contains(&account)).count(),
            balance: format_data(contracts.balance(account).await?),
        });
    }
    let interval_secs = coordinator.checksum_interval().await?;
    let now = contracts.chain_time().await?;
    let mut rows = Vec::new();
    for (part, assigned) in parts {
        rows.push(PartRow {
            last_final: last_final(&coordinator, &part, now / interval_secs.max(1)).await?,
            part: part.to_string(),
            nodes: assigned.iter().map(|a| a.to_checksum(None)).collect(),
        });
    }
    Ok(Some(NetworkView {
        epoch: assignment.active.epoch,
        reward_pool: format_data(coordinator.reward_pool().await?),
        interval_secs,
        nodes,
        parts: rows,
    }))
}

/// The latest final interval of `part` among the [`FINAL_LOOKBACK`] before `current`.
async fn last_final(
    coordinator: &Coordinator,
    part: &rivulet_protocol::StreamPartId,
    current: u64,
) -> Result<Option<(u64, u64, String)>, DappError> {
    for interval in (current.saturating_sub(FINAL_LOOKBACK)..current).rev() {
        if let Some(f) = coordinator.final_checksum(part, interval).await? {
            return Ok(Some((interval, f.count, f.checksum.to_string())));
        }
    }
    Ok(None)
}
