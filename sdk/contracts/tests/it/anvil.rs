//! A fresh anvil chain per test (from `rivulet_deploy::dev`), with the contracts deployed and DATA on the
//! first dev accounts; stopped when dropped.

use std::path::Path;

use rivulet_contracts::{
    Address, Chain, Contracts, ContractsError, Deployment, Revert, Rpc, Sender, U256, to_alloy,
};
use rivulet_deploy::{
    deploy,
    dev::{Anvil, LOCAL_CHAIN_ID, anvil_binary, dev_key},
};
use serde_json::json;

pub(crate) struct TestChain {
    _anvil: Anvil,
    pub(crate) url: String,
    pub(crate) deployment: Deployment,
}

/// Development account `i`'s address.
pub(crate) fn address(i: usize) -> Address {
    to_alloy(dev_key(i).address())
}

impl TestChain {
    /// A fresh chain with the contracts deployed and 1,000,000 DATA on dev accounts 0..4.
    pub(crate) async fn start() -> TestChain {
        TestChain::start_with_chain_id(LOCAL_CHAIN_ID).await
    }

    /// Like [`TestChain::start`], on another chain id.
    pub(crate) async fn start_with_chain_id(chain_id: u64) -> TestChain {
        let binary = anvil_binary(Path::new(env!("CARGO_MANIFEST_DIR"))).unwrap();
        let anvil = Anvil::spawn(&binary, None, chain_id, None).unwrap();
        let url = anvil.url();
        let accounts: Vec<Address> = (0..4).map(address).collect();
        let fund = U256::from(1_000_000u64) * U256::from(10u64).pow(U256::from(18u64));
        let deployer = Chain::connect(Rpc::http(&url).unwrap(), Sender::Key(dev_key(0)))
            .await
            .unwrap();
        let deployment = deploy(&deployer, &url, &accounts, fund).await.unwrap();
        TestChain {
            _anvil: anvil,
            url,
            deployment,
        }
    }

    /// The contracts, sending as dev account `i`.
    pub(crate) async fn contracts(&self, i: usize) -> Contracts {
        Contracts::connect_http(self.deployment.clone(), None, Sender::Key(dev_key(i)))
            .await
            .unwrap()
    }

    /// The chain, sending as dev account `i` (for contract functions `Contracts` does not wrap).
    pub(crate) async fn chain(&self, i: usize) -> Chain {
        Chain::connect(Rpc::http(&self.url).unwrap(), Sender::Key(dev_key(i)))
            .await
            .unwrap()
    }

    /// Moves the chain's clock forward and mines a block.
    pub(crate) async fn advance(&self, seconds: u64) {
        let rpc = Rpc::http(&self.url).unwrap();
        rpc.call("evm_increaseTime", json!([seconds]))
            .await
            .unwrap();
        rpc.call("evm_mine", json!([])).await.unwrap();
    }
}

/// The contract error a call or transaction reverted with.
pub(crate) fn revert<T: std::fmt::Debug>(result: Result<T, ContractsError>) -> Revert {
    match result {
        Err(ContractsError::Reverted(revert)) => revert,
        other => panic!("expected a revert, got {other:?}"),
    }
}
