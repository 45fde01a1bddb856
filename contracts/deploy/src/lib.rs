//! # rivulet-deploy
//!
//! Puts Rivulet's contracts on a chain and says where they are: [`deploy`] creates DATA, the stream
//! registry and the marketplace with `rivulet-contracts`' own transactions (contract creation from the
//! bytecode in `contracts/out/`) and returns the [`Deployment`]; the `rivulet-deploy` binary writes it
//! to the deployment file that relay nodes, the SDK and the dapp read.
//!
//! [`dev`] is the local development chain: anvil from npm, its development accounts, and
//! [`dev::deployed_chain`], a fresh chain with the contracts on it — what the tests start from.

use alloy_sol_types::SolConstructor;
use rivulet_contracts::{
    Address, Chain, ContractsError, Deployment, U256,
    bindings::{DataToken, Marketplace, StreamRegistry},
};

pub mod dev;

/// Deploys DATA, the registry and the marketplace from `chain`'s sender (who owns DATA and the
/// marketplace), and mints `fund` DATA wei to each of `accounts`. `rpc_url` goes into the deployment as
/// the clients' default endpoint.
pub async fn deploy(
    chain: &Chain,
    rpc_url: &str,
    accounts: &[Address],
    fund: U256,
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
        start_block,
    })
}
