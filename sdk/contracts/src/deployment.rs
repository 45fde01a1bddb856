//! Where the contracts live on a chain: the deployment file that nodes, the SDK and the dapp read
//! (`rivulet-deploy` writes it).

use alloy_primitives::Address;
use serde::{Deserialize, Serialize};

/// Contract addresses on one chain, as written to `deployment.json`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Deployment {
    /// The chain id the contracts are on.
    pub chain_id: u64,
    /// The JSON-RPC URL they were deployed through (a default for clients; may be empty).
    #[serde(default)]
    pub rpc_url: String,
    /// The DATA token.
    pub data_token: Address,
    /// The stream registry.
    pub stream_registry: Address,
    /// The marketplace.
    pub marketplace: Address,
    /// The block the deployment started at; event scans start here.
    #[serde(default)]
    pub start_block: u64,
}

#[cfg(not(target_arch = "wasm32"))]
impl Deployment {
    /// Reads a deployment file.
    pub fn load(path: &std::path::Path) -> Result<Deployment, crate::ContractsError> {
        let text = std::fs::read_to_string(path).map_err(|source| {
            crate::ContractsError::DeploymentFile {
                action: "read",
                path: path.to_owned(),
                source,
            }
        })?;
        serde_json::from_str(&text).map_err(|source| crate::ContractsError::DeploymentFormat {
            path: path.to_owned(),
            source,
        })
    }

    /// Writes a deployment file.
    pub fn save(&self, path: &std::path::Path) -> Result<(), crate::ContractsError> {
        let mut text = serde_json::to_string_pretty(self).unwrap_or_default();
        text.push('\n');
        std::fs::write(path, text).map_err(|source| crate::ContractsError::DeploymentFile {
            action: "write",
            path: path.to_owned(),
            source,
        })
    }
}
