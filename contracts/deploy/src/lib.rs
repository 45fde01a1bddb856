//! # rivulet-deploy
//!
//! Puts Rivulet's contracts on a chain and says where they are: [`deploy`] creates DATA, the stream
//! registry, the marketplace and the network coordinator (timing and rewards from a
//! [`CoordinatorSetup`]) with `rivulet-contracts`' own transactions (contract creation from the
//! bytecode in `contracts/out/`) and returns the [`Deployment`]; the `rivulet-deploy` binary writes it
//! to the deployment file that relay nodes, the SDK and the dapp read.
//!
//! [`dev`] is the local development chain: anvil from npm, its development accounts, and
//! [`dev::deployed_chain`], a fresh chain with the contracts on it — what the tests start from.

use alloy_sol_types::SolConstructor;
use rivulet_contracts::{
    Address, Chain, ContractsError, Coordinator, DATA_WEI, Deployment, Parameters, U256,
    bindings::{DataToken, Marketplace, NetworkCoordinator, StreamRegistry},
};

pub mod dev;

/// How a new network coordinator is set up: its checksum interval (fixed for its life), its
/// parameters (changeable by its owner) and the DATA its reward pool starts with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CoordinatorSetup {
    /// Seconds per checksum interval.
    pub checksum_interval: u64,
    /// Stakes, liveness, report timing, threshold, replication, rewards.
    pub parameters: Parameters,
    /// DATA wei minted to the deployer and put into the reward pool.
    pub reward_pool: U256,
}

impl CoordinatorSetup {
    /// A development network's: things happen within seconds so that a local network and its tests
    /// show them — 10 s intervals settled 5 s after their end and reported for a minute, heartbeats
    /// every 5 s, a node judged gone after 20 s of silence, unstaking after 30 s; 100 DATA stake,
    /// replication 3, two thirds to agree; 1 DATA per agreeing report, 5 per effective rebalance,
    /// a pool of 100,000 DATA.
    pub fn development() -> CoordinatorSetup {
        let data = |n: u128| U256::from(n * DATA_WEI);
        CoordinatorSetup {
            checksum_interval: 10,
            parameters: Parameters {
                min_stake: data(100),
                heartbeat_interval: 5,
                liveness_window: 20,
                unstake_delay: 30,
                settle_time: 5,
                report_window: 60,
                threshold_bps: 6_666,
                default_replication: 3,
                report_reward: data(1),
                rebalance_reward: data(5),
            },
            reward_pool: data(100_000),
        }
    }

    /// A public network's: hourly intervals settled for 5 minutes and reported within a day, heartbeats
    /// every 10 minutes, gone after 30 minutes of silence, a week to unstake; 10,000 DATA stake,
    /// replication 3, two thirds to agree; 1 DATA per agreeing report, 10 per effective rebalance;
    /// the pool starts empty (anyone funds it).
    pub fn production() -> CoordinatorSetup {
        let data = |n: u128| U256::from(n * DATA_WEI);
        CoordinatorSetup {
            checksum_interval: 3_600,
            parameters: Parameters {
                min_stake: data(10_000),
                heartbeat_interval: 600,
                liveness_window: 1_800,
                unstake_delay: 7 * 86_400,
                settle_time: 300,
                report_window: 86_400,
                threshold_bps: 6_666,
                default_replication: 3,
                report_reward: data(1),
                rebalance_reward: data(10),
            },
            reward_pool: U256::ZERO,
        }
    }
}

/// Deploys DATA, the registry, the marketplace and the network coordinator (set up as
/// [`CoordinatorSetup::development`]) from `chain`'s sender (who owns all but the registry), and mints
/// `fund` DATA wei to each of `accounts`. `rpc_url` goes into the deployment as the clients' default
/// endpoint.
pub async fn deploy(
    chain: &Chain,
    rpc_url: &str,
    accounts: &[Address],
    fund: U256,
) -> Result<Deployment, ContractsError> {
    deploy_with(
        chain,
        rpc_url,
        accounts,
        fund,
        &CoordinatorSetup::development(),
    )
    .await
}

/// Like [`deploy`], with the coordinator set up as `setup` says.
pub async fn deploy_with(
    chain: &Chain,
    rpc_url: &str,
    accounts: &[Address],
    fund: U256,
    setup: &CoordinatorSetup,
) -> Result<Deployment, ContractsError> {
    let owner = chain.sender_address().ok_or(ContractsError::NoSender)?;
    let start_block = chain.block_number().await?;
    let creation = |bytecode: &[u8], constructor: Vec<u8>| [bytecode, &constructor].concat();
    let (data_token, _) = chain
        .deploy(
            "DataToken",
            creation(
                &DataToken::BYTECODE,
                DataToken::constructorCall {
                    initialOwner: owner,
                }
                .abi_encode(),
            ),
        )
        .await?;
    let (stream_registry, _) = chain
        .deploy("StreamRegistry", StreamRegistry::BYTECODE.to_vec())
        .await?;
    let (marketplace, _) = chain
        .deploy(
            "Marketplace",
            creation(
                &Marketplace::BYTECODE,
                Marketplace::constructorCall {
                    token_: data_token,
                    registry_: stream_registry,
                    initialOwner: owner,
                }
                .abi_encode(),
            ),
        )
        .await?;
    let coordinator = deploy_coordinator(chain, data_token, stream_registry, setup).await?;
    for account in accounts {
        chain
            .send(
                data_token,
                DataToken::mintCall {
                    to: *account,
                    amount: fund,
                },
            )
            .await?;
    }
    Ok(Deployment {
        chain_id: chain.chain_id(),
        rpc_url: rpc_url.to_owned(),
        data_token,
        stream_registry,
        marketplace,
        coordinator: Some(coordinator),
        start_block,
    })
}

/// Deploys a network coordinator over `token` and `registry` from `chain`'s sender (its owner), set up
/// as `setup` says; when the setup has a reward pool, the sender mints it (it must own DATA) and funds
/// the pool. Also how a network upgrade starts: the successor is deployed, then the old coordinator's
/// owner calls `setSuccessor` and `migrateRewardPool` (`contracts/README.md`).
pub async fn deploy_coordinator(
    chain: &Chain,
    token: Address,
    registry: Address,
    setup: &CoordinatorSetup,
) -> Result<Address, ContractsError> {
    let owner = chain.sender_address().ok_or(ContractsError::NoSender)?;
    let creation = [
        &NetworkCoordinator::BYTECODE[..],
        &NetworkCoordinator::constructorCall {
            token_: token,
            registry_: registry,
            checksumInterval_: setup.checksum_interval,
            params: (&setup.parameters).into(),
        }
        .abi_encode(),
    ]
    .concat();
    let (coordinator, _) = chain.deploy("NetworkCoordinator", creation).await?;
    if !setup.reward_pool.is_zero() {
        chain
            .send(
                token,
                DataToken::mintCall {
                    to: owner,
                    amount: setup.reward_pool,
                },
            )
            .await?;
        Coordinator::at(chain.clone(), coordinator)
            .await?
            .fund(setup.reward_pool)
            .await?;
    }
    Ok(coordinator)
}
