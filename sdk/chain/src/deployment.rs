//! Where the contracts live on a chain: the deployment file that nodes, the SDK and the dapp read, and the
//! deploy step that writes it.

use std::path::Path;

use alloy::{
    primitives::{Address, U256},
    providers::Provider,
};
use serde::{Deserialize, Serialize};

use crate::{
    ChainError,
    bindings::{DataToken, Marketplace, StreamRegistry},
};

/// Contract addresses on one chain, as written to `deployment.json`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Deployment {
    /// The chain id the contracts are on.
    pub chain_id: u64,
    /// The JSON-RPC URL they were deployed through (a default for clients).
    pub rpc_url: String,
    /// The DATA token.
    pub data_token: Address,
    /// The stream registry.
    pub stream_registry: Address,
    /// The marketplace.
    pub marketplace: Address,
    /// The block the deployment started at; event scans start here.
    pub start_block: u64,
}

impl Deployment {
    /// Reads a deployment file.
    pub fn load(path: &Path) -> Result<Deployment, ChainError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ChainError::Config(format!("cannot read {}: {e}", path.display())))?;
        serde_json::from_str(&text).map_err(|e| {
            ChainError::Config(format!("{} is not a deployment file: {e}", path.display()))
        })
    }

    /// Writes a deployment file.
    pub fn save(&self, path: &Path) -> Result<(), ChainError> {
        let text =
            serde_json::to_string_pretty(self).map_err(|e| ChainError::Config(e.to_string()))?;
        std::fs::write(path, text + "\n")
            .map_err(|e| ChainError::Config(format!("cannot write {}: {e}", path.display())))
    }
}

/// Deploys DATA, the registry and the marketplace from `provider`'s default sender (who owns them), and
/// mints `fund` DATA to each of `accounts`.
pub async fn deploy<P: Provider + Clone>(
    provider: P,
    rpc_url: &str,
    accounts: &[Address],
    fund: U256,
) -> Result<Deployment, ChainError> {
    let chain_id = provider.get_chain_id().await.map_err(ChainError::rpc)?;
    let start_block = provider.get_block_number().await.map_err(ChainError::rpc)?;
    let owner = provider
        .get_accounts()
        .await
        .map_err(ChainError::rpc)?
        .first()
        .copied()
        .ok_or_else(|| ChainError::Config("the provider has no account to deploy from".into()))?;
    let token = DataToken::deploy(provider.clone(), owner)
        .await
        .map_err(ChainError::contract)?;
    let registry = StreamRegistry::deploy(provider.clone())
        .await
        .map_err(ChainError::contract)?;
    let marketplace = Marketplace::deploy(
        provider.clone(),
        *token.address(),
        *registry.address(),
        owner,
    )
    .await
    .map_err(ChainError::contract)?;
    for account in accounts {
        token
            .mint(*account, fund)
            .send()
            .await
            .map_err(ChainError::contract)?
            .get_receipt()
            .await
            .map_err(ChainError::pending)?;
    }
    Ok(Deployment {
        chain_id,
        rpc_url: rpc_url.to_owned(),
        data_token: *token.address(),
        stream_registry: *registry.address(),
        marketplace: *marketplace.address(),
        start_block,
    })
}
