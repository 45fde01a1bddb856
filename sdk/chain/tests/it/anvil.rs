//! Starts anvil (from the npm package `@foundry-rs/anvil`, installed by `cargo xtask setup`) on a free
//! loopback port, deploys the contracts, and stops it when dropped.

use std::{
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::Duration,
};

use alloy::{
    primitives::{Address, U256},
    providers::{DynProvider, Provider},
    signers::local::PrivateKeySigner,
};
use rivulet_chain::{Deployment, deploy};

/// anvil's well-known development keys (mnemonic "test test … junk").
pub(crate) const DEV_KEYS: [&str; 4] = [
    "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
    "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d",
    "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a",
    "0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6",
];

pub(crate) struct Chain {
    child: Child,
    pub(crate) url: String,
    pub(crate) deployment: Deployment,
}

impl Drop for Chain {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn anvil_binary() -> PathBuf {
    if let Some(p) = std::env::var_os("RIVULET_ANVIL") {
        return p.into();
    }
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil")
}

pub(crate) fn signer(i: usize) -> PrivateKeySigner {
    DEV_KEYS[i].parse().unwrap()
}

/// A provider that signs as dev account `i`.
pub(crate) fn provider(url: &str, i: usize) -> DynProvider {
    rivulet_chain::http_provider(url, Some(signer(i))).unwrap()
}

impl Chain {
    /// A fresh chain with the contracts deployed and 1,000,000 DATA on each dev account.
    pub(crate) async fn start() -> Chain {
        Chain::start_with_chain_id(31337).await
    }

    /// Like [`Chain::start`], on another chain id.
    pub(crate) async fn start_with_chain_id(chain_id: u64) -> Chain {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let binary = anvil_binary();
        let child = Command::new(&binary)
            .args([
                "--host",
                "127.0.0.1",
                "--port",
                &port.to_string(),
                "--chain-id",
                &chain_id.to_string(),
                "--silent",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start {}: {e}; run cargo xtask setup",
                    binary.display()
                )
            });
        let url = format!("http://127.0.0.1:{port}");
        let probe = provider(&url, 0);
        for _ in 0..100 {
            if probe.get_chain_id().await.is_ok() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let accounts: Vec<Address> = (0..DEV_KEYS.len()).map(|i| signer(i).address()).collect();
        let fund = U256::from(1_000_000u64) * U256::from(10u64).pow(U256::from(18u64));
        let deployment = deploy(probe, &url, &accounts, fund).await.unwrap();
        Chain {
            child,
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
