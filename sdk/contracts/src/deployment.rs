//! Where the contracts live on a chain: the deployment file that nodes, the SDK and the dapp read
//! (`rivulet-deploy` writes it).

use alloy_primitives::Address;
use serde::{Deserialize, Serialize};

/// Contract addresses on one chain, as written to `deployment.json` (camelCase keys; other keys are
/// ignored).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Deployment {
    /// The chain id the contracts are on.
    pub chain_id: u64,
    /// The JSON-RPC URL they were deployed through (a default for clients; may be empty).
    pub rpc_url: String,
    /// The DATA token.
    pub data_token: Address,
    /// The stream registry.
    pub stream_registry: Address,
    /// The marketplace.
    pub marketplace: Address,
    /// The network coordinator (`None` in files written before it existed; key `coordinator`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub coordinator: Option<Address>,
    /// The block the deployment started at; event scans start here (0 when absent).
    pub start_block: u64,
}

/// Read through a JSON map with the JSON-RPC answer readers (a derived deserializer would bring a
/// second address parser into the browser build).
impl<'de> Deserialize<'de> for Deployment {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let map = serde_json::Map::<String, serde_json::Value>::deserialize(deserializer)?;
        let field = |name: &'static str| map.get(name).unwrap_or(&serde_json::Value::Null);
        let address = |name| {
            crate::rpc::answer::address("deployment", name, field(name)).map_err(|e| match e {
                crate::ContractsError::Answer { source, .. } => D::Error::custom(source),
                other => D::Error::custom(other),
            })
        };
        let number = |name| match field(name) {
            serde_json::Value::Null if name == "startBlock" => Ok(0),
            n => n
                .as_u64()
                .ok_or_else(|| D::Error::custom(format!("{name} is not a whole number"))),
        };
        Ok(Deployment {
            chain_id: number("chainId")?,
            rpc_url: field("rpcUrl").as_str().unwrap_or_default().to_owned(),
            data_token: address("dataToken")?,
            stream_registry: address("streamRegistry")?,
            marketplace: address("marketplace")?,
            coordinator: match field("coordinator") {
                serde_json::Value::Null => None,
                _ => Some(address("coordinator")?),
            },
            start_block: number("startBlock")?,
        })
    }
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn reads_what_it_writes_and_names_what_is_wrong() {
        let d = Deployment {
            chain_id: 31337,
            rpc_url: "http://127.0.0.1:8545".into(),
            data_token: Address::repeat_byte(1),
            stream_registry: Address::repeat_byte(2),
            marketplace: Address::repeat_byte(3),
            coordinator: Some(Address::repeat_byte(4)),
            start_block: 7,
        };
        let json = serde_json::to_string(&d).unwrap();
        assert!(json.contains(r#""dataToken":"0x0101010101010101010101010101010101010101""#));
        assert!(json.contains(r#""coordinator":"0x0404040404040404040404040404040404040404""#));
        assert_eq!(serde_json::from_str::<Deployment>(&json).unwrap(), d);
        // A file without a coordinator (written before there was one) still loads, and is written
        // without the key.
        let older = Deployment {
            coordinator: None,
            ..d.clone()
        };
        let json = serde_json::to_string(&older).unwrap();
        assert!(!json.contains("coordinator"), "{json}");
        assert_eq!(serde_json::from_str::<Deployment>(&json).unwrap(), older);
        // Optional keys, unknown keys.
        let short = r#"{"chainId":1,"dataToken":"0x0101010101010101010101010101010101010101",
            "streamRegistry":"0x0202020202020202020202020202020202020202",
            "marketplace":"0x0303030303030303030303030303030303030303","other":"x"}"#;
        let read = serde_json::from_str::<Deployment>(short).unwrap();
        assert_eq!(
            (read.rpc_url.as_str(), read.start_block, read.coordinator),
            ("", 0, None)
        );
        for (bad, why) in [
            (
                short.replace(r#""marketplace""#, r#""market""#),
                "marketplace is missing",
            ),
            (
                short.replace("0x03030303", "0x0303zz03"),
                "marketplace is not hex",
            ),
            (
                short.replace(r#""chainId":1"#, r#""chainId":"1""#),
                "chainId is not a whole number",
            ),
            (
                short.replace(r#""other":"x""#, r#""coordinator":"0x04""#),
                "coordinator",
            ),
        ] {
            let e = serde_json::from_str::<Deployment>(&bad)
                .unwrap_err()
                .to_string();
            assert!(e.contains(why), "{e}");
        }
    }
}
