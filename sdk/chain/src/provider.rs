//! JSON-RPC providers configured the way Rivulet needs them.

use alloy::{
    network::EthereumWallet,
    providers::{DynProvider, Provider, ProviderBuilder},
    signers::local::PrivateKeySigner,
};

use crate::ChainError;

/// An HTTP JSON-RPC provider, signing transactions with `signer` when given.
///
/// Nonces are read from the node before every transaction (alloy's "simple" nonce management) rather
/// than counted locally: a transaction that fails before it is sent — a revert found while estimating
/// gas, a rejected signature — must not leave a gap that stalls every later transaction of the account.
pub fn http_provider(
    url: &str,
    signer: Option<PrivateKeySigner>,
) -> Result<DynProvider, ChainError> {
    let url = url
        .parse()
        .map_err(|e| ChainError::Config(format!("invalid JSON-RPC URL {url:?}: {e}")))?;
    let builder = ProviderBuilder::default()
        .with_gas_estimation()
        .with_simple_nonce_management()
        .fetch_chain_id();
    Ok(match signer {
        Some(signer) => builder
            .wallet(EthereumWallet::from(signer))
            .connect_http(url)
            .erased(),
        None => builder.connect_http(url).erased(),
    })
}

/// A transaction signer for a raw secp256k1 private key (the same key that signs stream events).
pub fn alloy_signer(key: &[u8; 32]) -> Result<PrivateKeySigner, ChainError> {
    PrivateKeySigner::from_slice(key).map_err(|e| ChainError::Config(format!("private key: {e}")))
}
