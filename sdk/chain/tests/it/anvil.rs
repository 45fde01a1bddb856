//! A fresh anvil chain per test (from `rivulet_chain::dev`), with the contracts deployed and DATA on the
//! first dev accounts; stopped when dropped.

use std::path::Path;

use alloy::{
    primitives::{Address, U256},
    providers::{DynProvider, Provider},
    signers::local::PrivateKeySigner,
};
use rivulet_chain::{
    Deployment, deploy,
    dev::{Anvil, DEV_KEYS, LOCAL_CHAIN_ID, anvil_binary},
};

pub(crate) struct Chain {
    _anvil: Anvil,
    pub(crate) url: String,
    pub(crate) deployment: Deployment,
}

pub(crate) fn signer(i: usize) -> PrivateKeySigner {
    DEV_KEYS[i].parse().unwrap()
}

/// A provider that signs as dev account `i`.
pub(crate) fn provider(url: &str, i: usize) -> DynProvider {
    rivulet_chain::http_provider(url, Some(signer(i))).unwrap()
}

impl Chain {
    /// A fresh chain with the contracts deployed and 1,000,000 DATA on dev accounts 0..4.
    pub(crate) async fn start() -> Chain {
        Chain::start_with_chain_id(LOCAL_CHAIN_ID).await
    }

    /// Like [`Chain::start`], on another chain id.
    pub(crate) async fn start_with_chain_id(chain_id: u64) -> Chain {
        let binary = anvil_binary(Path::new(env!("CARGO_MANIFEST_DIR"))).unwrap();
        let anvil = Anvil::spawn(&binary, None, chain_id, None).unwrap();
        let url = anvil.url();
        let accounts: Vec<Address> = (0..4).map(|i| signer(i).address()).collect();
        let fund = U256::from(1_000_000u64) * U256::from(10u64).pow(U256::from(18u64));
        let deployment = deploy(provider(&url, 0), &url, &accounts, fund)
            .await
            .unwrap();
        Chain {
            _anvil: anvil,
            url,
            deployment,
        }
    }

    pub(crate) fn provider(&self, i: usize) -> DynProvider {
        provider(&self.url, i)
    }

    /// Moves the chain's clock forward and mines a block.
    pub(crate) async fn advance(&self, seconds: u64) {
        let p = self.provider(0);
        let _: serde_json::Value = p
            .raw_request("evm_increaseTime".into(), (seconds,))
            .await
            .unwrap();
        let _: serde_json::Value = p.raw_request("evm_mine".into(), ()).await.unwrap();
    }
}

/// Sends a contract call, waits for its receipt, and checks it succeeded.
pub(crate) trait Mined {
    async fn mined(self) -> alloy::rpc::types::TransactionReceipt;
}

impl<C: alloy::contract::CallDecoder> Mined for alloy::contract::CallBuilder<&DynProvider, C> {
    async fn mined(self) -> alloy::rpc::types::TransactionReceipt {
        let receipt = self.send().await.unwrap().get_receipt().await.unwrap();
        assert!(receipt.status(), "transaction reverted");
        receipt
    }
}
