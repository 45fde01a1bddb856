//! The follower's conversation with the chain: reading the coordinator's state into a [`Snapshot`] (at
//! one block, so that the active set, the stored streams and the nodes describe one state) and sending
//! the node's transactions through `rivulet-contracts`' [`Coordinator`].

use std::collections::{BTreeMap, HashMap};

use rivulet_contracts::U256;
use rivulet_contracts::{
    Contracts, ContractsError, Coordinator, NodeInfo, Revert,
    bindings::NetworkCoordinator::NetworkCoordinatorErrors as E, from_alloy, to_alloy,
};
use rivulet_network::libp2p::{Multiaddr, PeerId};
use rivulet_protocol::{
    Address, StreamPartId,
    assignment::Member,
    checksum::{ChecksumInterval, IntervalChecksum},
};

use super::snapshot::{NodeRecord, Snapshot, StoredStream, Timing};

/// The coordinator's state, and `account`'s DATA balance, now.
pub(super) async fn read_snapshot(
    contracts: &Contracts,
    account: Address,
) -> Result<Snapshot, ContractsError> {
    let coordinator = contracts.coordinator()?;
    let assignment = coordinator.assignment().await?;
    let parameters = coordinator.parameters().await?;
    let interval_secs = coordinator.checksum_interval().await?;
    // The constructor refuses 0; `max` only keeps the type's promise.
    let Some(checksum_interval) = ChecksumInterval::from_secs(interval_secs.max(1)) else {
        unreachable!("a non-zero number of seconds is a checksum interval")
    };
    let mut nodes = HashMap::new();
    for node in coordinator.all_nodes().await? {
        if let Some(info) = coordinator.node_info(node).await? {
            let record = node_record(info);
            nodes.insert(record.account, record);
        }
    }
    let streams = assignment
        .streams
        .iter()
        .map(|s| {
            (
                s.id.to_string(),
                StoredStream {
                    id: s.id.clone(),
                    partitions: s.request.partitions,
                    replication: s.request.replication,
                    retention_secs: s.request.retention_seconds.unwrap_or(0),
                    since: s.request.since,
                },
            )
        })
        .collect::<BTreeMap<_, _>>();
    Ok(Snapshot {
        chain_now: contracts.chain_time().await?,
        epoch: assignment.active.epoch,
        epoch_started_at: assignment.active.started_at,
        active: assignment
            .active
            .members
            .iter()
            .map(|m| Member {
                account: from_alloy(m.account),
                weight: m.weight,
            })
            .collect(),
        nodes,
        streams,
        timing: Timing {
            checksum_interval,
            heartbeat_secs: parameters.heartbeat_interval,
            liveness_secs: parameters.liveness_window,
            settle_secs: parameters.settle_time,
            report_window_secs: parameters.report_window,
        },
        reward_pool: wei(coordinator.reward_pool().await?),
        balance: wei(contracts.balance(to_alloy(account)).await?),
        rebalance_needed: coordinator.rebalance_needed().await?,
        successor: coordinator.successor().await?.map(from_alloy),
    })
}

/// A node as the snapshot keeps it: its peer id and addresses parsed (what does not parse is left out).
fn node_record(info: NodeInfo) -> NodeRecord {
    let addresses_text = info.addresses.join(",");
    NodeRecord {
        account: from_alloy(info.account),
        peer_id: info.peer_id.parse::<PeerId>().ok(),
        addresses: info
            .addresses
            .iter()
            .filter_map(|a| a.parse::<Multiaddr>().ok())
            .collect(),
        addresses_text,
        stake: wei(info.stake),
        weight: info.weight,
        live: info.live,
        last_seen: info.last_seen,
        leaving_since: info.leaving_since.unwrap_or(0),
    }
}

/// DATA wei as u128 (saturating: more DATA than exists is still "a lot").
fn wei(amount: U256) -> u128 {
    amount.saturating_to()
}

fn coordinator(contracts: &Contracts) -> Result<Coordinator, ContractsError> {
    contracts.coordinator()
}

/// Registers this node (approving the stake first when needed).
pub(super) async fn register(
    contracts: &Contracts,
    peer_id: &str,
    addresses: &[String],
    stake: U256,
) -> Result<(), ContractsError> {
    coordinator(contracts)?
        .register(peer_id, addresses, stake)
        .await
        .map(drop)
}

/// Replaces the registered dial addresses.
pub(super) async fn update_addresses(
    contracts: &Contracts,
    addresses: &[String],
) -> Result<(), ContractsError> {
    coordinator(contracts)?
        .update_addresses(addresses)
        .await
        .map(drop)
}

/// Says the node is alive.
/// Takes this node's stake back (from a retired coordinator: at once); the amount.
pub(super) async fn withdraw(contracts: &Contracts) -> Result<U256, ContractsError> {
    Ok(coordinator(contracts)?.withdraw().await?.amount)
}

pub(super) async fn heartbeat(contracts: &Contracts) -> Result<(), ContractsError> {
    coordinator(contracts)?.heartbeat().await.map(drop)
}

/// Calls `rebalance()`: the reward paid when it changed the active set, `None` when it changed nothing.
pub(super) async fn rebalance(contracts: &Contracts) -> Result<Option<U256>, ContractsError> {
    let outcome = coordinator(contracts)?.rebalance().await?;
    Ok(outcome.changed.then_some(outcome.reward))
}

/// The nodes that judge `interval` of `part` (empty before its first report).
pub(super) async fn interval_assignment(
    contracts: &Contracts,
    part: &StreamPartId,
    interval: u64,
) -> Result<Vec<Address>, ContractsError> {
    Ok(coordinator(contracts)?
        .interval_assignment(part, interval)
        .await?
        .into_iter()
        .map(from_alloy)
        .collect())
}

/// Reports a checksum: the DATA it paid this node (0 unless it made the interval final).
pub(super) async fn report(
    contracts: &Contracts,
    part: &StreamPartId,
    checksum: &IntervalChecksum,
) -> Result<U256, ContractsError> {
    Ok(coordinator(contracts)?.report(part, checksum).await?.reward)
}

/// Closes `interval` of `part`: how many assigned nodes dissented and how many were silent.
pub(super) async fn close_interval(
    contracts: &Contracts,
    part: &StreamPartId,
    interval: u64,
) -> Result<(usize, usize), ContractsError> {
    let outcome = coordinator(contracts)?
        .close_interval(part, interval)
        .await?;
    Ok((outcome.dissenting.len(), outcome.silent.len()))
}

/// Whether an error may pass (the chain or the network, not the contract's refusal).
pub(super) fn is_transient(e: &ContractsError) -> bool {
    !matches!(e, ContractsError::Reverted(_))
}

/// Whether the contract refused a report for a reason that will not pass (already reported, not a
/// judge of the interval, too late, before the stream was stored): the report is not tried again.
pub(super) fn is_final_refusal(e: &ContractsError) -> bool {
    matches!(
        e,
        ContractsError::Reverted(Revert::NetworkCoordinator(
            E::AlreadyReported(_)
                | E::NotAssigned(_)
                | E::ReportTooLate(_)
                | E::IntervalBeforeStorage(_)
                | E::StreamNotStored(_)
                | E::PartitionOutOfRange(_)
                | E::AssignmentChanged(_)
        ))
    )
}
