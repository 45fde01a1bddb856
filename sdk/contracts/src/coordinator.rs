//! The network coordinator: [`Coordinator`], a handle on one NetworkCoordinator contract — its nodes
//! (register, addresses, heartbeat, unstake, withdraw), the active set and rebalancing, the reward
//! pool, the owner's parameters and the network upgrade (successor, pool migration). Storage requests,
//! assignment and checksum reports are `coordinator_parts`'; the types are `coordinator_types`'.
//!
//! Reads that belong together (the active set and its epoch, every page of a list) are made at one
//! block, so they describe one state. Transactions whose gas depends on state that may change before
//! they are mined (`rebalance`, `report`) get extra gas on top of the estimate; unused gas is not paid.

use alloy_primitives::{Address, U256};
use alloy_sol_types::{SolCall, SolEvent};

use crate::{
    ActiveMember, ActiveSet, Chain, Contracts, ContractsError, NodeInfo, Parameters,
    RebalanceOutcome, Receipt, Revert, Transfer, UnstakeRequest,
    bindings::NetworkCoordinator::{self as C, NetworkCoordinatorErrors},
    coordinator_types::join_addresses,
    token,
};

/// Entries per `nodes` / `storedStreams` page.
pub(crate) const PAGE: u64 = 100;

/// Extra gas per registered node for a `rebalance`: a node that lapses or returns between the estimate
/// and the block rewrites its slot and an active-set entry (about 25k gas at most).
const REBALANCE_GAS_PER_NODE: u64 = 30_000;

/// One NetworkCoordinator contract on a [`Chain`], and the DATA token it takes stakes in. Cloning
/// shares the carrier.
#[derive(Clone, Debug)]
pub struct Coordinator {
    chain: Chain,
    address: Address,
    token: Address,
}

impl Contracts {
    /// The deployment's network coordinator, on this client's chain and sender.
    /// [`ContractsError::NoCoordinator`] when the deployment names none.
    pub fn coordinator(&self) -> Result<Coordinator, ContractsError> {
        let address = self
            .deployment()
            .coordinator
            .ok_or(ContractsError::NoCoordinator)?;
        Ok(Coordinator {
            chain: self.chain().clone(),
            address,
            token: self.deployment().data_token,
        })
    }

    /// These contracts with `coordinator` as the network coordinator: a retired coordinator's
    /// successor, which nodes and clients follow after a network upgrade.
    pub fn with_coordinator(&self, coordinator: Address) -> Contracts {
        let mut deployment = self.deployment().clone();
        deployment.coordinator = Some(coordinator);
        Contracts::from_parts(self.chain().clone(), deployment)
    }
}

impl Coordinator {
    /// The coordinator at `address` (e.g. a retired one's successor): checks that it has code and reads
    /// its token.
    pub async fn at(chain: Chain, address: Address) -> Result<Coordinator, ContractsError> {
        if chain.code(address).await?.is_empty() {
            return Err(ContractsError::NoCode {
                name: "NetworkCoordinator",
                address,
            });
        }
        let token = chain.call(address, C::tokenCall {}).await?;
        Ok(Coordinator {
            chain,
            address,
            token,
        })
    }

    /// The contract's address.
    pub fn address(&self) -> Address {
        self.address
    }

    /// The DATA token stakes and rewards are paid in.
    pub fn token(&self) -> Address {
        self.token
    }

    /// The chain (for calls this handle does not wrap, with the generated
    /// [`bindings`](crate::bindings)).
    pub fn chain(&self) -> &Chain {
        &self.chain
    }

    /// The account transactions come from (`None`: read only).
    pub fn sender(&self) -> Option<Address> {
        self.chain.sender_address()
    }

    // ---- reads ----

    /// The owner-settable parameters.
    pub async fn parameters(&self) -> Result<Parameters, ContractsError> {
        Ok(self.call(C::parametersCall {}).await?.into())
    }

    /// The length of a checksum interval, seconds (fixed for the contract's life).
    pub async fn checksum_interval(&self) -> Result<u64, ContractsError> {
        self.call(C::checksumIntervalCall {}).await
    }

    /// The owner (who may set parameters and the successor).
    pub async fn owner(&self) -> Result<Address, ContractsError> {
        self.call(C::ownerCall {}).await
    }

    /// How many nodes are registered.
    pub async fn node_count(&self) -> Result<u64, ContractsError> {
        Ok(self.call(C::nodeCountCall {}).await?.saturating_to())
    }

    /// Registered node accounts `[offset, offset + limit)` (in no particular order).
    pub async fn nodes(&self, offset: u64, limit: u64) -> Result<Vec<Address>, ContractsError> {
        self.call(C::nodesCall {
            offset: U256::from(offset),
            limit: U256::from(limit),
        })
        .await
    }

    /// Every registered node account, read page by page at one block.
    pub async fn all_nodes(&self) -> Result<Vec<Address>, ContractsError> {
        let block = self.chain.block_number().await?;
        let count: u64 = self
            .call_at(C::nodeCountCall {}, block)
            .await?
            .saturating_to();
        let mut out = Vec::with_capacity(count.min(10_000) as usize);
        while (out.len() as u64) < count {
            let page = self
                .call_at(
                    C::nodesCall {
                        offset: U256::from(out.len()),
                        limit: U256::from(PAGE),
                    },
                    block,
                )
                .await?;
            if page.is_empty() {
                break;
            }
            out.extend(page);
        }
        Ok(out)
    }

    /// A registered node, or `None` if `account` is not one.
    pub async fn node_info(&self, account: Address) -> Result<Option<NodeInfo>, ContractsError> {
        match self.call(C::nodeInfoCall { account }).await {
            Ok(info) => Ok(Some(info.into())),
            Err(ContractsError::Reverted(Revert::NetworkCoordinator(
                NetworkCoordinatorErrors::NotRegistered(_),
            ))) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Whether `account` is registered, not leaving, and was seen within the liveness window.
    pub async fn is_live(&self, account: Address) -> Result<bool, ContractsError> {
        self.call(C::isLiveCall { account }).await
    }

    /// Whether a `rebalance` would change the active set now (and so pay its caller).
    pub async fn rebalance_needed(&self) -> Result<bool, ContractsError> {
        self.call(C::rebalanceNeededCall {}).await
    }

    /// The current epoch's number (0 before the first effective rebalance).
    pub async fn epoch(&self) -> Result<u64, ContractsError> {
        self.call(C::epochCall {}).await
    }

    /// The active set with its epoch, read at the latest block.
    pub async fn active_set(&self) -> Result<ActiveSet, ContractsError> {
        let block = self.chain.block_number().await?;
        self.active_set_at(block).await
    }

    /// The active set with its epoch, read at `block`.
    pub async fn active_set_at(&self, block: u64) -> Result<ActiveSet, ContractsError> {
        let set = self.call_at(C::activeSetCall {}, block).await?;
        let epoch = self.call_at(C::epochCall {}, block).await?;
        let started_at = self.call_at(C::epochStartedAtCall {}, block).await?;
        Ok(ActiveSet {
            epoch,
            started_at,
            block,
            members: set
                .accounts
                .into_iter()
                .zip(set.weights)
                .map(|(account, weight)| ActiveMember { account, weight })
                .collect(),
        })
    }

    /// DATA wei available for rewards.
    pub async fn reward_pool(&self) -> Result<U256, ContractsError> {
        self.call(C::rewardPoolCall {}).await
    }

    /// DATA wei staked by all nodes.
    pub async fn total_staked(&self) -> Result<U256, ContractsError> {
        self.call(C::totalStakedCall {}).await
    }

    /// The coordinator that replaces this one, once the owner named it.
    pub async fn successor(&self) -> Result<Option<Address>, ContractsError> {
        let successor = self.call(C::successorCall {}).await?;
        Ok((!successor.is_zero()).then_some(successor))
    }

    // ---- nodes ----

    /// Registers the sender as a node with libp2p `peer_id`, dial `addresses` and `stake` DATA wei:
    /// approves the stake first when the allowance is short of it (two transactions), then registers.
    /// Returns the registration's receipt.
    pub async fn register(
        &self,
        peer_id: &str,
        addresses: &[String],
        stake: U256,
    ) -> Result<Receipt, ContractsError> {
        token::ensure_allowance(&self.chain, self.token, self.address, stake).await?;
        self.send(C::registerCall {
            peerId: peer_id.to_owned(),
            addresses: join_addresses(addresses),
            stake,
        })
        .await
    }

    /// Registers in one transaction, with an EIP-2612 permit for the stake signed by the key or the
    /// wallet (valid until `deadline`, Unix seconds).
    pub async fn register_with_permit(
        &self,
        peer_id: &str,
        addresses: &[String],
        stake: U256,
        deadline: u64,
    ) -> Result<Receipt, ContractsError> {
        let signature =
            token::sign_permit(&self.chain, self.token, self.address, stake, deadline).await?;
        let (v, r, s) = token::split_signature(&signature);
        self.send(C::registerWithPermitCall {
            peerId: peer_id.to_owned(),
            addresses: join_addresses(addresses),
            stake,
            deadline: U256::from(deadline),
            v,
            r,
            s,
        })
        .await
    }

    /// Replaces the sender's dial addresses.
    pub async fn update_addresses(&self, addresses: &[String]) -> Result<Receipt, ContractsError> {
        self.send(C::updateAddressesCall {
            addresses: join_addresses(addresses),
        })
        .await
    }

    /// Marks the sender as seen now (a report does too).
    pub async fn heartbeat(&self) -> Result<Receipt, ContractsError> {
        self.send(C::heartbeatCall {}).await
    }

    /// The sender leaves: out of the live set now, out of the active set at the next rebalance; it may
    /// withdraw from the returned time on.
    pub async fn request_unstake(&self) -> Result<UnstakeRequest, ContractsError> {
        let receipt = self.send(C::requestUnstakeCall {}).await?;
        let event: C::UnstakeRequested = self.expect_event(&receipt)?;
        Ok(UnstakeRequest {
            withdrawable_at: event.withdrawableAt,
            receipt,
        })
    }

    /// Takes the sender's stake back and forgets the node (after the unstake delay and a rebalance that
    /// dropped it, or at once from a retired coordinator).
    pub async fn withdraw(&self) -> Result<Transfer, ContractsError> {
        let receipt = self.send(C::withdrawCall {}).await?;
        let event: C::Withdrawn = self.expect_event(&receipt)?;
        Ok(Transfer {
            amount: event.amount,
            receipt,
        })
    }

    // ---- the active set and the reward pool ----

    /// Replaces the active set with the live set if their members differ; says whether it did, and what
    /// it paid the sender.
    pub async fn rebalance(&self) -> Result<RebalanceOutcome, ContractsError> {
        let nodes = self.node_count().await?;
        let extra = nodes.saturating_mul(REBALANCE_GAS_PER_NODE).min(10_000_000);
        let receipt = self
            .chain
            .send_with_gas(self.address, C::rebalanceCall {}, extra)
            .await?;
        Ok(match self.event::<C::Rebalanced>(&receipt)? {
            Some(e) => RebalanceOutcome {
                changed: true,
                epoch: Some(e.epoch),
                members: e
                    .nodes
                    .into_iter()
                    .zip(e.weights)
                    .map(|(account, weight)| ActiveMember { account, weight })
                    .collect(),
                reward: e.reward,
                receipt,
            },
            None => RebalanceOutcome {
                changed: false,
                epoch: None,
                members: Vec::new(),
                reward: U256::ZERO,
                receipt,
            },
        })
    }

    /// Adds `amount` DATA wei of the sender's to the reward pool (approving it first when the allowance
    /// is short).
    pub async fn fund(&self, amount: U256) -> Result<Receipt, ContractsError> {
        token::ensure_allowance(&self.chain, self.token, self.address, amount).await?;
        self.send(C::fundCall { amount }).await
    }

    // ---- the owner's ----

    /// Replaces the parameters (owner only).
    pub async fn set_parameters(&self, parameters: &Parameters) -> Result<Receipt, ContractsError> {
        self.send(C::setParametersCall {
            params: parameters.into(),
        })
        .await
    }

    /// Retires this coordinator in favour of `next` (owner only, once).
    pub async fn set_successor(&self, next: Address) -> Result<Receipt, ContractsError> {
        self.send(C::setSuccessorCall { next }).await
    }

    /// Moves the reward pool into the successor's (owner only, after [`Coordinator::set_successor`]).
    pub async fn migrate_reward_pool(&self) -> Result<Transfer, ContractsError> {
        let receipt = self.send(C::migrateRewardPoolCall {}).await?;
        let event: C::RewardPoolMigrated = self.expect_event(&receipt)?;
        Ok(Transfer {
            amount: event.amount,
            receipt,
        })
    }

    // ---- plumbing ----

    pub(crate) async fn call<K: SolCall>(&self, call: K) -> Result<K::Return, ContractsError> {
        self.chain.call(self.address, call).await
    }

    pub(crate) async fn call_at<K: SolCall>(
        &self,
        call: K,
        block: u64,
    ) -> Result<K::Return, ContractsError> {
        self.chain.call_at(self.address, call, block).await
    }

    pub(crate) async fn send<K: SolCall>(&self, call: K) -> Result<Receipt, ContractsError> {
        self.chain.send(self.address, call).await
    }

    /// The first event `E` this contract emitted in the transaction.
    pub(crate) fn event<E: SolEvent>(
        &self,
        receipt: &Receipt,
    ) -> Result<Option<E>, ContractsError> {
        Ok(self.events(receipt)?.into_iter().next())
    }

    /// Every event `E` this contract emitted in the transaction, in order.
    pub(crate) fn events<E: SolEvent>(&self, receipt: &Receipt) -> Result<Vec<E>, ContractsError> {
        Ok(receipt
            .logs()?
            .iter()
            .filter(|log| log.address == self.address)
            .filter_map(|log| log.decode::<E>())
            .collect())
    }

    /// The event `E` the transaction must have emitted.
    pub(crate) fn expect_event<E: SolEvent>(&self, receipt: &Receipt) -> Result<E, ContractsError> {
        self.event(receipt)?
            .ok_or_else(|| ContractsError::MissingEvent {
                event: E::SIGNATURE.split('(').next().unwrap_or(E::SIGNATURE),
                hash: receipt.hash.to_string(),
            })
    }
}
