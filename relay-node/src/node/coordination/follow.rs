//! The follower task: once a poll interval it reads the coordinator and acts on what changed — register
//! (if the operator gave a stake), keep the registered addresses current, heartbeat, rebalance when it
//! would change something, store exactly the assigned parts (backfilling new ones, pruning dropped ones
//! and what retention drops) and report the checksums of intervals whose report window is open. When
//! the coordinator retires (its owner named a successor: a network upgrade), the node withdraws its
//! stake from it, registers with the successor with the same stake, and follows that one.

use std::{
    collections::{BTreeMap, HashMap},
    sync::Arc,
    time::{Duration, Instant},
};

use rivulet_contracts::{Contracts, U256, to_alloy};
use rivulet_network::libp2p::PeerId;
use rivulet_protocol::{Address, StreamPartId, hash::keccak256};
use tokio::{sync::mpsc, task::JoinHandle};
use tracing::{debug, info, warn};

use super::{
    Coordination,
    backfill::{BackfillContext, backfill, backfill_start},
    chain,
    closing::Closing,
    ledger::Ledger,
    reports::{due_intervals, interval_checksum},
    snapshot::{Placement, Snapshot, part_changes},
};
use crate::{
    metrics::Metrics,
    node::{
        access::now_ms,
        announce::Listening,
        commands::Command,
        stored::{PartState, StoredParts},
    },
};

/// How long a part no longer assigned is kept before it is pruned (an assignment that flaps back
/// finds its history still there).
const UNASSIGNED_GRACE: Duration = Duration::from_secs(600);
/// How often retention is enforced.
const PRUNE_EVERY: Duration = Duration::from_secs(60);
/// How long a node waits per rank before it calls `rebalance()` itself (the nodes ranked before it
/// usually call first, and only the first call pays).
const REBALANCE_STAGGER: Duration = Duration::from_secs(3);
/// How long a failed backfill waits before it is tried again.
const BACKFILL_RETRY: Duration = Duration::from_secs(5);
/// Backfill attempts before a part is served with what live gossip brought (its other replicas are
/// unreachable, and so probably about to be rebalanced away).
const BACKFILL_ATTEMPTS: u32 = 6;
/// How long a failed registration waits before it is tried again.
const REGISTER_RETRY: Duration = Duration::from_secs(5);
/// How long after a backfill the last moments are copied once more.
const CATCH_UP_AFTER: Duration = Duration::from_secs(3);
/// How far before the backfill began that second copy starts.
const CATCH_UP_MARGIN_MS: u64 = 10_000;
/// Reports sent per poll at most (the rest wait for the next).
const REPORTS_PER_POLL: usize = 16;
/// How long the coordinator's state as last read is used while no block comes (nothing in a contract
/// changes without one; what time changes — liveness, due reports — is read again this often). Every
/// transaction the node sends brings a block, so its own actions are always followed by a fresh read.
const QUIET_CHAIN_READ_EVERY: Duration = Duration::from_secs(10);

/// What the operator configured.
#[derive(Clone, Debug)]
pub(crate) struct FollowerConfig {
    /// Register with this stake (DATA wei) when not registered; `None`: only follow a registration
    /// made with `relay-node node register`.
    pub(crate) stake: Option<U256>,
    /// How often the coordinator is read.
    pub(crate) poll: Duration,
}

/// The follower and what it drives.
pub(crate) struct Follower {
    /// The coordinator, sending as this node's account.
    pub(crate) chain: Contracts,
    /// The node's account.
    pub(crate) account: Address,
    /// The node's libp2p identity.
    pub(crate) peer_id: PeerId,
    pub(crate) config: FollowerConfig,
    pub(crate) coordination: Coordination,
    pub(crate) stored: StoredParts,
    pub(crate) ledger: Ledger,
    pub(crate) backfill: BackfillContext,
    pub(crate) listening: Listening,
    pub(crate) commands: mpsc::Sender<Command>,
    pub(crate) metrics: Arc<Metrics>,
}

/// The follower's working state.
#[derive(Default)]
struct State {
    placements: BTreeMap<StreamPartId, Placement>,
    backfills: HashMap<StreamPartId, JoinHandle<()>>,
    unassigned: HashMap<StreamPartId, Instant>,
    registered_addresses: Option<Vec<String>>,
    /// When registering may be tried again (after a failure: the account may be funded meanwhile).
    register_after: Option<Instant>,
    rebalance_at: Option<Instant>,
    last_prune: Option<Instant>,
    told_unregistered: bool,
    closing: Closing,
    /// The stake this node had with a coordinator that retired: what it registers with on the
    /// successor when the operator configured none.
    carried_stake: Option<U256>,
}

impl Follower {
    /// Runs until the process ends.
    pub(crate) async fn run(mut self) {
        let mut state = State::default();
        let mut ticker = tokio::time::interval(self.config.poll);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // The state as last read: at which block, and when.
        let mut last: Option<(Snapshot, u64, Instant)> = None;
        loop {
            ticker.tick().await;
            let block = match self.chain.block_number().await {
                Ok(b) => b,
                Err(e) => {
                    warn!("cannot read the chain: {e}");
                    continue;
                }
            };
            let snapshot = match &last {
                Some((snapshot, at_block, read_at))
                    if *at_block == block && read_at.elapsed() < QUIET_CHAIN_READ_EVERY =>
                {
                    // No block since: the same state, with the chain's clock carried forward.
                    Snapshot {
                        chain_now: snapshot.chain_now + read_at.elapsed().as_secs(),
                        ..snapshot.clone()
                    }
                }
                _ => match chain::read_snapshot(&self.chain, self.account).await {
                    Ok(s) => {
                        self.coordination.publish(s.clone());
                        last = Some((s.clone(), block, Instant::now()));
                        s
                    }
                    Err(e) => {
                        warn!("cannot read the coordinator: {e}");
                        continue;
                    }
                },
            };
            let coordinator = self.chain.deployment().coordinator;
            self.round(&snapshot, &mut state).await;
            if self.chain.deployment().coordinator != coordinator {
                // Moved to a successor: its state is read afresh.
                last = None;
            }
        }
    }

    async fn round(&mut self, snapshot: &Snapshot, state: &mut State) {
        debug!(
            now = snapshot.chain_now,
            epoch = snapshot.epoch,
            rebalance_needed = snapshot.rebalance_needed,
            "coordinator read"
        );
        let me = snapshot.nodes.get(&self.account).cloned();
        self.metrics.coordinator_gauges(snapshot, me.as_ref());
        if let Some(next) = snapshot.successor {
            self.move_to_successor(next, me.map(|m| m.stake), state)
                .await;
            return;
        }
        let Some(me) = me else {
            self.unregistered(state).await;
            self.follow_parts(snapshot, state).await;
            return;
        };
        let addresses = self.addresses();
        if !addresses.is_empty()
            && me.addresses_text != addresses.join(",")
            && state.registered_addresses.as_ref() != Some(&addresses)
        {
            match chain::update_addresses(&self.chain, &addresses).await {
                Ok(()) => {
                    info!("registered addresses updated");
                    state.registered_addresses = Some(addresses);
                }
                Err(e) => warn!("cannot update the registered addresses: {e}"),
            }
        }
        // The chain's clock moves only with blocks, and a quiet chain may mine none until someone sends
        // a transaction: the heartbeat's period is kept by this node's clock (or the chain's, when
        // that is ahead), and the heartbeat itself moves the chain along.
        let now = snapshot.chain_now.max(now_ms() / 1000);
        if me.leaving_since == 0 && now >= me.last_seen + snapshot.timing.heartbeat_secs {
            match chain::heartbeat(&self.chain).await {
                Ok(()) => debug!(now, "heartbeat sent"),
                Err(e) => warn!("heartbeat failed: {e}"),
            }
        }
        self.maybe_rebalance(snapshot, state).await;
        self.follow_parts(snapshot, state).await;
        self.report(snapshot, state).await;
        state
            .closing
            .close_due(&self.chain, snapshot.chain_now)
            .await;
        self.prune(state).await;
    }

    /// The node's libp2p addresses as registered, each ending in `/p2p/<peer id>`.
    fn addresses(&self) -> Vec<String> {
        self.listening.all()
    }

    /// The coordinator retired: withdraws this node's stake (if it has one there; tried again next
    /// poll if that fails), then follows `next`, where it registers with the same stake.
    async fn move_to_successor(&mut self, next: Address, stake: Option<u128>, state: &mut State) {
        if let Some(stake) = stake {
            match chain::withdraw(&self.chain).await {
                Ok(amount) => info!(%amount, "the coordinator retired: stake withdrawn"),
                Err(e) => {
                    warn!("the coordinator retired, and withdrawing the stake failed: {e}");
                    return;
                }
            }
            state.carried_stake = Some(U256::from(stake));
        }
        info!(successor = %next, "following the coordinator's successor");
        self.chain = self.chain.with_coordinator(to_alloy(next));
        let carried = state.carried_stake.take();
        *state = State {
            placements: std::mem::take(&mut state.placements),
            backfills: std::mem::take(&mut state.backfills),
            unassigned: std::mem::take(&mut state.unassigned),
            last_prune: state.last_prune,
            carried_stake: carried,
            ..State::default()
        };
    }

    async fn unregistered(&self, state: &mut State) {
        let Some(stake) = self.config.stake.or(state.carried_stake) else {
            if !state.told_unregistered {
                info!(
                    account = %self.account,
                    "not registered with the coordinator: relaying only (register with `relay-node node register` or --coordinator.stake)"
                );
                state.told_unregistered = true;
            }
            return;
        };
        let addresses = self.addresses();
        if addresses.is_empty() || state.register_after.is_some_and(|at| Instant::now() < at) {
            return;
        }
        state.register_after = Some(Instant::now() + REGISTER_RETRY);
        match chain::register(&self.chain, &self.peer_id.to_string(), &addresses, stake).await {
            Ok(()) => {
                info!(account = %self.account, "registered with the coordinator");
                state.registered_addresses = Some(addresses);
                state.carried_stake = None;
            }
            Err(e) => warn!("cannot register with the coordinator: {e}"),
        }
    }

    /// Calls `rebalance()` when it would change the active set — after a wait that grows with this
    /// node's rank among the live nodes, so that usually one node calls.
    async fn maybe_rebalance(&self, snapshot: &Snapshot, state: &mut State) {
        if !snapshot.rebalance_needed {
            state.rebalance_at = None;
            return;
        }
        let at = *state.rebalance_at.get_or_insert_with(|| {
            // One stagger before the first: after the chain's clock jumps (a development chain's
            // `evm_increaseTime`), live nodes get a heartbeat in before anyone rebalances them away.
            Instant::now() + REBALANCE_STAGGER * (rebalance_rank(snapshot, &self.account) + 1)
        });
        if Instant::now() < at {
            return;
        }
        state.rebalance_at = None;
        match chain::rebalance(&self.chain).await {
            Ok(Some(reward)) => {
                info!(%reward, "rebalanced the network");
                self.metrics.rebalance("changed");
            }
            Ok(None) => self.metrics.rebalance("unchanged"),
            Err(e) => {
                warn!("rebalance failed: {e}");
                self.metrics.rebalance("failed");
            }
        }
    }

    /// Stores exactly the parts assigned to this node.
    async fn follow_parts(&mut self, snapshot: &Snapshot, state: &mut State) {
        let wanted = snapshot.parts_of(&self.account);
        let changes = part_changes(state.placements.keys(), &wanted);
        for part in changes.removed {
            info!(%part, "no longer assigned");
            state.placements.remove(&part);
            if let Some(task) = state.backfills.remove(&part) {
                task.abort();
            }
            self.stored.remove(&part);
            let _ = self
                .commands
                .send(Command::Unstore { part: part.clone() })
                .await;
            if let Err(e) = self.ledger.forget(&part.to_string()) {
                warn!("{e:#}");
            }
            state.unassigned.insert(part, Instant::now());
        }
        for part in changes.added {
            let Some(placement) = wanted.get(&part).cloned() else {
                continue;
            };
            info!(%part, replicas = placement.replicas.len(), "assigned");
            state.unassigned.remove(&part);
            let from = backfill_start(
                &self.backfill.store,
                &part,
                &placement,
                &self.backfill.limits,
                snapshot.chain_now * 1000,
            );
            self.stored.insert(part.clone(), PartState::Backfilling);
            let _ = self
                .commands
                .send(Command::Store { part: part.clone() })
                .await;
            let task = tokio::spawn(copy_history(
                self.backfill.clone(),
                self.coordination.clone(),
                self.stored.clone(),
                self.peer_id,
                part.clone(),
                from,
            ));
            state.backfills.insert(part.clone(), task);
            state.placements.insert(part, placement);
        }
        // Replica sets may change without this node's parts changing.
        for (part, placement) in wanted {
            state.placements.insert(part, placement);
        }
        state.backfills.retain(|_, task| !task.is_finished());
        self.metrics
            .assigned_parts
            .set(state.placements.len() as i64);
    }

    /// Reports the checksums of served parts' intervals whose report window is open.
    async fn report(&mut self, snapshot: &Snapshot, state: &mut State) {
        let mut sent = 0;
        let closing = &mut state.closing;
        for (part, placement) in &state.placements {
            if !self.stored.serves(part) {
                continue;
            }
            let key = part.to_string();
            let Some(due) = due_intervals(&snapshot.timing, snapshot.chain_now, placement.since)
            else {
                continue;
            };
            for interval in due {
                if sent >= REPORTS_PER_POLL {
                    return;
                }
                if self
                    .ledger
                    .last_reported(&key)
                    .is_some_and(|k| k >= interval)
                {
                    continue;
                }
                debug!(%part, interval, "reporting");
                let outcome = self.report_one(snapshot, part, interval).await;
                debug!(%part, interval, ?outcome, "reported");
                if outcome != ReportOutcome::Retry
                    && let Err(e) = self.ledger.reported(&key, interval)
                {
                    warn!("{e:#}");
                }
                if outcome == ReportOutcome::Sent {
                    sent += 1;
                    if placement.replicas.first() == Some(&self.account) {
                        closing.schedule(part, interval, &snapshot.timing);
                    }
                }
            }
        }
    }

    async fn report_one(
        &self,
        snapshot: &Snapshot,
        part: &StreamPartId,
        interval: u64,
    ) -> ReportOutcome {
        let store = self.backfill.store.clone();
        let (p, timing) = (part.clone(), snapshot.timing);
        let checksum = match tokio::task::spawn_blocking(move || {
            interval_checksum(&store, &p, &timing, interval)
        })
        .await
        {
            Ok(Ok(c)) => c,
            Ok(Err(e)) => {
                warn!(%part, interval, "cannot compute a checksum: {e}");
                return ReportOutcome::Retry;
            }
            Err(e) => {
                warn!(%part, interval, "checksum task failed: {e}");
                return ReportOutcome::Retry;
            }
        };
        if checksum.count == 0 {
            return ReportOutcome::Skipped;
        }
        // The interval's judges: fixed by its first report, or the current assignment if none yet.
        match chain::interval_assignment(&self.chain, part, interval).await {
            Ok(judges) if !judges.is_empty() && !judges.contains(&self.account) => {
                return ReportOutcome::Skipped;
            }
            Ok(judges)
                if judges.is_empty()
                    && snapshot.epoch_started_at
                        > interval * snapshot.timing.checksum_interval.millis() / 1000 =>
            {
                // Assigned after the interval began: the contract takes no first report from this epoch.
                return ReportOutcome::Skipped;
            }
            Ok(_) => {}
            Err(e) => {
                warn!(%part, interval, "cannot read the interval's assignment: {e}");
                return ReportOutcome::Retry;
            }
        }
        match chain::report(&self.chain, part, &checksum).await {
            Ok(reward) => {
                if !reward.is_zero() {
                    info!(%part, interval, %reward, "interval final; rewarded");
                }
                self.metrics.report("sent");
                ReportOutcome::Sent
            }
            Err(e) if chain::is_final_refusal(&e) => {
                info!(%part, interval, "report not taken: {e}");
                self.metrics.report("refused");
                ReportOutcome::Skipped
            }
            Err(e) => {
                warn!(%part, interval, "report failed: {e}");
                self.metrics.report("failed");
                ReportOutcome::Retry
            }
        }
    }

    /// Enforces retention on the parts stored, and drops parts unassigned for long enough.
    async fn prune(&self, state: &mut State) {
        if state
            .last_prune
            .is_some_and(|at| at.elapsed() < PRUNE_EVERY)
        {
            return;
        }
        state.last_prune = Some(Instant::now());
        let now_ms = self.backfill.access.now_secs() * 1000;
        let mut jobs: Vec<(StreamPartId, u64)> = state
            .placements
            .iter()
            .filter(|(_, p)| p.retention_secs > 0)
            .map(|(part, p)| (part.clone(), now_ms.saturating_sub(p.retention_secs * 1000)))
            .collect();
        state.unassigned.retain(|part, since| {
            if since.elapsed() >= UNASSIGNED_GRACE {
                jobs.push((part.clone(), u64::MAX));
                false
            } else {
                true
            }
        });
        if jobs.is_empty() {
            return;
        }
        let store = self.backfill.store.clone();
        let metrics = self.metrics.clone();
        let result = tokio::task::spawn_blocking(move || {
            let mut pruned = 0;
            for (part, before) in jobs {
                pruned += store.prune_before(&part, before)?;
            }
            metrics.store_messages.set(store.len().unwrap_or(0) as i64);
            Ok::<_, rivulet_store::StoreError>(pruned)
        })
        .await;
        match result {
            Ok(Ok(0)) => {}
            Ok(Ok(n)) => {
                info!(events = n, "pruned");
                self.metrics.pruned.inc_by(n as u64);
            }
            Ok(Err(e)) => warn!("pruning failed: {e}"),
            Err(e) => warn!("pruning task failed: {e}"),
        }
    }
}

/// How a report attempt ended.
#[derive(Debug, PartialEq, Eq)]
enum ReportOutcome {
    /// Sent and mined.
    Sent,
    /// Not to be sent (nothing stored, not a judge, or refused for good).
    Skipped,
    /// Failed for a passing reason: try again next poll.
    Retry,
}

/// This node's place among the live nodes for calling `rebalance()`: their order by
/// `keccak256(epoch ‖ account)`, so it changes from epoch to epoch.
fn rebalance_rank(snapshot: &Snapshot, account: &Address) -> u32 {
    let key = |a: &Address| {
        let mut bytes = snapshot.epoch.to_be_bytes().to_vec();
        bytes.extend_from_slice(a.as_bytes());
        keccak256(&bytes)
    };
    let mine = key(account);
    snapshot
        .nodes
        .values()
        .filter(|n| n.live && n.account != *account)
        .filter(|n| key(&n.account) < mine)
        .count() as u32
}

/// Copies a newly assigned part's history, retrying while replicas are unreachable, then serves it.
async fn copy_history(
    ctx: BackfillContext,
    coordination: Coordination,
    stored: StoredParts,
    me: PeerId,
    part: StreamPartId,
    from_ms: u64,
) {
    for attempt in 1..=BACKFILL_ATTEMPTS {
        let started_ms = now_ms();
        let replicas = coordination.replica_peers(&part, &me);
        match backfill(&ctx, &part, &replicas, from_ms).await {
            Ok(copied) => {
                info!(
                    %part,
                    events = copied.events,
                    refused = copied.refused,
                    from = ?copied.from,
                    "history copied"
                );
                // Events published while this node's place in the part's topic was forming reached the
                // other replicas but perhaps not this one: copy the last moments once more, then serve.
                tokio::time::sleep(CATCH_UP_AFTER).await;
                let since = started_ms.saturating_sub(CATCH_UP_MARGIN_MS);
                if let Err(e) = backfill(&ctx, &part, &replicas, since).await {
                    warn!(%part, "catching up after the backfill: {e}");
                }
                info!(%part, "serving");
                stored.mark_serving(&part);
                return;
            }
            Err(e) if attempt < BACKFILL_ATTEMPTS => {
                warn!(%part, attempt, "backfill: {e}; trying again");
                tokio::time::sleep(BACKFILL_RETRY).await;
            }
            Err(e) => {
                warn!(%part, "backfill gave up: {e}; serving what live events brought");
                stored.mark_serving(&part);
            }
        }
    }
}
