//! Plain Rust views of what the network coordinator holds — its parameters, nodes, the active set,
//! storage requests, checksum intervals — and of what its transactions did.

use alloy_primitives::{Address, B256, U256};
use rivulet_protocol::{Partition, StreamId, StreamPartId, assignment};
use serde::{Deserialize, Serialize};

use crate::{Receipt, bindings::NetworkCoordinator as C, from_alloy, to_alloy};

/// The parameters the coordinator's owner may change (`setParameters`). Amounts are DATA wei, times
/// seconds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Parameters {
    /// The least stake a node must put up to register.
    pub min_stake: U256,
    /// How often a node with nothing to report should send a heartbeat (advisory).
    pub heartbeat_interval: u64,
    /// A node is live while it was last seen at most this long ago (≥ `heartbeat_interval`).
    pub liveness_window: u64,
    /// From `requestUnstake` to the earliest `withdraw`.
    pub unstake_delay: u64,
    /// Reports of an interval are taken from this long after its end...
    pub settle_time: u64,
    /// ...until this long after its end (> `settle_time`); then it can be closed.
    pub report_window: u64,
    /// The share (basis points, 5001..=10000) of an interval's assigned nodes that must agree.
    pub threshold_bps: u16,
    /// Replication of a storage request that asks for 0 (1..=16).
    pub default_replication: u8,
    /// Paid from the reward pool for each report that agrees with the final value.
    pub report_reward: U256,
    /// Paid from the reward pool to the caller of a rebalance that changes the active set.
    pub rebalance_reward: U256,
}

impl From<C::Parameters> for Parameters {
    fn from(p: C::Parameters) -> Parameters {
        Parameters {
            min_stake: p.minStake,
            heartbeat_interval: p.heartbeatInterval,
            liveness_window: p.livenessWindow,
            unstake_delay: p.unstakeDelay,
            settle_time: p.settleTime,
            report_window: p.reportWindow,
            threshold_bps: p.thresholdBps,
            default_replication: p.defaultReplication,
            report_reward: p.reportReward,
            rebalance_reward: p.rebalanceReward,
        }
    }
}

impl From<&Parameters> for C::Parameters {
    fn from(p: &Parameters) -> C::Parameters {
        C::Parameters {
            minStake: p.min_stake,
            heartbeatInterval: p.heartbeat_interval,
            livenessWindow: p.liveness_window,
            unstakeDelay: p.unstake_delay,
            settleTime: p.settle_time,
            reportWindow: p.report_window,
            thresholdBps: p.threshold_bps,
            defaultReplication: p.default_replication,
            reportReward: p.report_reward,
            rebalanceReward: p.rebalance_reward,
        }
    }
}

/// A registered node.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeInfo {
    /// The node's account (its secp256k1 key; the sender of its transactions).
    pub account: Address,
    /// Its libp2p peer id.
    pub peer_id: String,
    /// Its dial addresses (multiaddrs).
    pub addresses: Vec<String>,
    /// DATA wei staked.
    pub stake: U256,
    /// Current performance weight, 1..=100 (the active set holds the weight of the last rebalance).
    pub weight: u16,
    /// When it was last seen (registration, heartbeat or report), chain time.
    pub last_seen: u64,
    /// When it asked to unstake (`None`: it has not).
    pub leaving_since: Option<u64>,
    /// Whether it is in the active set.
    pub active: bool,
    /// Whether it is live now: registered, not leaving, seen within the liveness window.
    pub live: bool,
}

impl From<C::NodeInfo> for NodeInfo {
    fn from(n: C::NodeInfo) -> NodeInfo {
        NodeInfo {
            account: n.account,
            peer_id: n.peerId,
            addresses: split_addresses(&n.addresses),
            stake: n.stake,
            weight: n.weight,
            last_seen: n.lastSeen,
            leaving_since: (n.leavingSince != 0).then_some(n.leavingSince),
            active: n.active,
            live: n.live,
        }
    }
}

/// Dial addresses as the contract stores them: comma-separated (a multiaddr holds no comma).
pub(crate) fn join_addresses(addresses: &[String]) -> String {
    addresses.join(",")
}

/// The contract's comma-separated addresses, each trimmed, empty ones dropped.
pub(crate) fn split_addresses(addresses: &str) -> Vec<String> {
    addresses
        .split(',')
        .map(str::trim)
        .filter(|a| !a.is_empty())
        .map(str::to_owned)
        .collect()
}

/// One member of the active set.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ActiveMember {
    /// The node's account.
    pub account: Address,
    /// Its weight when the set was taken.
    pub weight: u16,
}

/// The active set of one epoch, read at one block: whom stream parts are assigned to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ActiveSet {
    /// The epoch (bumped by every rebalance that changes the set; 0 before the first).
    pub epoch: u64,
    /// When the epoch began, chain time.
    pub started_at: u64,
    /// The block it was read at.
    pub block: u64,
    /// The members, in the contract's order (which does not affect assignment).
    pub members: Vec<ActiveMember>,
}

impl ActiveSet {
    /// The nodes that store `part` with `replication` replicas, lowest score first: the rule of the
    /// contract's `assignedNodes`, computed here ([`rivulet_protocol::assignment`]).
    pub fn assigned_nodes(&self, part: &StreamPartId, replication: u8) -> Vec<Address> {
        let members: Vec<assignment::Member> = self
            .members
            .iter()
            .map(|m| assignment::Member {
                account: from_alloy(m.account),
                weight: m.weight,
            })
            .collect();
        assignment::assigned_nodes(
            &members,
            part.stream_id.as_str(),
            u32::from(part.partition.get()),
            usize::from(replication),
        )
        .into_iter()
        .map(to_alloy)
        .collect()
    }

    /// Whether `account` is a member.
    pub fn contains(&self, account: Address) -> bool {
        self.members.iter().any(|m| m.account == account)
    }
}

/// A stream the network stores, and how.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StoredStream {
    /// The stream.
    pub id: StreamId,
    /// Its storage request.
    #[serde(flatten)]
    pub request: StorageRequest,
}

/// The active set and every stored stream, read at one block: all that assignment depends on.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Assignment {
    /// The active set.
    pub active: ActiveSet,
    /// The stored streams (in the contract's order).
    pub streams: Vec<StoredStream>,
}

impl Assignment {
    /// Every stored stream part with the nodes that store it, lowest score first.
    pub fn parts(&self) -> Vec<(StreamPartId, Vec<Address>)> {
        self.streams
            .iter()
            .flat_map(|s| {
                s.request.parts(&s.id).into_iter().map(|part| {
                    let nodes = self.active.assigned_nodes(&part, s.request.replication);
                    (part, nodes)
                })
            })
            .collect()
    }

    /// The stored stream parts assigned to `account`.
    pub fn parts_of(&self, account: Address) -> Vec<StreamPartId> {
        if !self.active.contains(account) {
            return Vec::new();
        }
        self.parts()
            .into_iter()
            .filter(|(_, nodes)| nodes.contains(&account))
            .map(|(part, _)| part)
            .collect()
    }

    /// The nodes that store `part`, or `None` if the network does not store it.
    pub fn nodes_of(&self, part: &StreamPartId) -> Option<Vec<Address>> {
        let stored = self.streams.iter().find(|s| s.id == part.stream_id)?;
        (u32::from(part.partition.get()) < stored.request.partitions)
            .then(|| self.active.assigned_nodes(part, stored.request.replication))
    }
}

/// A stream's storage request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StorageRequest {
    /// Partitions stored, 1..=100.
    pub partitions: u32,
    /// Nodes per stream part.
    pub replication: u8,
    /// How long nodes keep events, seconds (`None`: for ever).
    pub retention_seconds: Option<u64>,
    /// When the network started storing the stream, chain time (earlier intervals are not judged).
    pub since: u64,
}

impl StorageRequest {
    /// The request as the contract returns it; `None` when the stream is not stored.
    pub(crate) fn from_contract(s: C::StorageRequest) -> Option<StorageRequest> {
        (s.partitions != 0).then_some(StorageRequest {
            partitions: s.partitions,
            replication: s.replication,
            retention_seconds: (s.retentionSeconds != 0).then_some(s.retentionSeconds),
            since: s.since,
        })
    }

    /// The stream parts of `stream` the request covers.
    pub fn parts(&self, stream: &StreamId) -> Vec<StreamPartId> {
        (0..self.partitions)
            .filter_map(|p| Partition::new(p).ok())
            .map(|p| StreamPartId::new(stream.clone(), p))
            .collect()
    }
}

/// The bookkeeping of one checksum interval of one stream part (all zero before its first report).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IntervalState {
    /// The epoch whose assignment judges it (fixed by its first report).
    pub epoch: u64,
    /// The replication the assignment was taken with.
    pub replication: u8,
    /// How many nodes were assigned (0: no report yet).
    pub size: u8,
    /// Bit `i`: the `i`-th assigned node (see `interval_assignment`) reported.
    pub reported: u16,
    /// Bit `i`: the `i`-th assigned node's report agrees with the final value.
    pub agreed: u16,
    /// Whether a threshold of the assigned nodes agreed.
    pub is_final: bool,
    /// Whether it was closed after its report window.
    pub closed: bool,
    /// The final event count (0 until final).
    pub final_count: u64,
    /// The final checksum (zero until final).
    pub final_checksum: B256,
}

impl From<C::Interval> for IntervalState {
    fn from(i: C::Interval) -> IntervalState {
        IntervalState {
            epoch: i.epoch,
            replication: i.replication,
            size: i.size,
            reported: i.reported,
            agreed: i.agreed,
            is_final: i.isFinal,
            closed: i.closed,
            final_count: i.finalCount,
            final_checksum: i.finalChecksum,
        }
    }
}

impl IntervalState {
    /// Whether the `position`-th assigned node reported.
    pub fn has_reported(&self, position: usize) -> bool {
        position < 16 && self.reported & (1 << position) != 0
    }

    /// Whether the `position`-th assigned node's report agrees with the final value.
    pub fn has_agreed(&self, position: usize) -> bool {
        position < 16 && self.agreed & (1 << position) != 0
    }
}

/// A finalised interval's value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FinalChecksum {
    /// The rolling checksum.
    pub checksum: B256,
    /// The event count.
    pub count: u64,
}

/// When reports of an interval are taken: from `opens_at` until before `closes_at` (chain time), after
/// which it can be closed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReportWindow {
    /// The first second reports are taken.
    pub opens_at: u64,
    /// The first second they are not; closing is possible from then.
    pub closes_at: u64,
}

/// What a `rebalance` did.
#[derive(Clone, Debug, PartialEq)]
pub struct RebalanceOutcome {
    /// Whether the active set changed (only then is anything paid).
    pub changed: bool,
    /// The new epoch, when it changed.
    pub epoch: Option<u64>,
    /// The new active set's members, when it changed.
    pub members: Vec<ActiveMember>,
    /// DATA wei paid to the caller.
    pub reward: U256,
    /// The transaction.
    pub receipt: Receipt,
}

/// What a `report` did.
#[derive(Clone, Debug, PartialEq)]
pub struct ReportOutcome {
    /// Whether this report made the interval final.
    pub finalised: bool,
    /// DATA wei paid to the reporter by this transaction (its report agreed with the final value).
    pub reward: U256,
    /// The transaction.
    pub receipt: Receipt,
}

/// What a `closeInterval` judged.
#[derive(Clone, Debug, PartialEq)]
pub struct CloseOutcome {
    /// Whether the interval was final (if not, nobody was judged).
    pub is_final: bool,
    /// Assigned nodes that reported nothing; they lost weight.
    pub silent: Vec<Address>,
    /// Assigned nodes that reported another value; they lost weight.
    pub dissenting: Vec<Address>,
    /// The transaction.
    pub receipt: Receipt,
}

/// A `requestUnstake`.
#[derive(Clone, Debug, PartialEq)]
pub struct UnstakeRequest {
    /// The earliest `withdraw`, chain time (a rebalance must also have dropped the node).
    pub withdrawable_at: u64,
    /// The transaction.
    pub receipt: Receipt,
}

/// DATA that left the coordinator: a `withdraw`'s stake, or a `migrateRewardPool`'s pool.
#[derive(Clone, Debug, PartialEq)]
pub struct Transfer {
    /// DATA wei.
    pub amount: U256,
    /// The transaction.
    pub receipt: Receipt,
}
