//! The deployment the dapp talks to: `/config.json`, which `cargo xtask up` serves next to the site
//! (entry nodes, the chain's JSON-RPC URL, the contracts' addresses).

use std::rc::Rc;

use rivulet_contracts::Deployment;
use serde::Deserialize;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;

use crate::error::DappError;

/// The local development chain's id (anvil).
pub(crate) const LOCAL_CHAIN_ID: u64 = 31337;

/// The parts of `/config.json` the dapp reads.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Config {
    /// Entry nodes' multiaddrs.
    pub(crate) nodes: Vec<String>,
    /// The chain's JSON-RPC URL (reads, and the local account's transactions).
    pub(crate) rpc_url: String,
    /// The contracts (the deployment file).
    pub(crate) deployment: Deployment,
}

impl Config {
    /// Whether the deployment is on the local development chain (faucet, development account).
    pub(crate) fn is_local(&self) -> bool {
        self.deployment.chain_id == LOCAL_CHAIN_ID
    }
}

/// Reads `/config.json` (one level up from the dapp).
pub(crate) async fn load() -> Result<Rc<Config>, DappError> {
    let config: Config = serde_json::from_str(&fetch_text("../config.json").await?)
        .map_err(|e| DappError::Config(format!("config.json: {e}")))?;
    Ok(Rc::new(config))
}

async fn fetch_text(url: &str) -> Result<String, DappError> {
    let fail = |what: String| DappError::Config(what);
    let window = web_sys::window().ok_or_else(|| fail("no window".into()))?;
    let response = JsFuture::from(window.fetch_with_str(url))
        .await
        .map_err(|_| fail(format!("cannot fetch {url}")))?;
    let response: web_sys::Response = response
        .dyn_into()
        .map_err(|_| fail("not a response".into()))?;
    if !response.ok() {
        return Err(fail(format!("{url} answered {}", response.status())));
    }
    let text = JsFuture::from(response.text().map_err(|_| fail("no body".into()))?)
        .await
        .map_err(|_| fail("cannot read the body".into()))?;
    text.as_string()
        .ok_or_else(|| fail("the body is not text".into()))
}
