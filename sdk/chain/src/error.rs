//! The chain crate's error type: every failure typed, reverts decoded to the contract's own error.

use alloy::{
    contract::Error as ContractError,
    providers::PendingTransactionError,
    sol_types::SolInterface,
    transports::{RpcError, TransportErrorKind},
};

use crate::bindings::{
    DataToken::DataTokenErrors, Marketplace::MarketplaceErrors,
    StreamRegistry::StreamRegistryErrors,
};

/// What went wrong talking to the chain.
#[derive(Debug, thiserror::Error)]
pub enum ChainError {
    /// The JSON-RPC endpoint cannot be reached or answered with a transport error.
    #[error("JSON-RPC endpoint unreachable or failing: {0}")]
    Rpc(String),
    /// The endpoint serves another chain than the deployment names.
    #[error(
        "wrong chain: the endpoint serves chain {actual}, the deployment is for chain {expected}"
    )]
    WrongChain {
        /// The deployment's chain id.
        expected: u64,
        /// The endpoint's chain id.
        actual: u64,
    },
    /// No contract code at an address the deployment names.
    #[error("no contract code at {address} ({name}); is the deployment file for this chain?")]
    NoCode {
        /// Which contract.
        name: &'static str,
        /// The address.
        address: alloy::primitives::Address,
    },
    /// A transaction or call reverted; `reason` is the decoded contract error, e.g.
    /// `NoPermission("0x…/s", 0x…, Grant)` or `ERC20InsufficientBalance(…)`.
    #[error("reverted: {reason}")]
    Revert {
        /// The decoded reason (or the raw revert data in hex when it matches no known error).
        reason: String,
    },
    /// Bad configuration or input (deployment file, arguments).
    #[error("{0}")]
    Config(String),
}

impl ChainError {
    /// Maps a provider error.
    pub fn rpc(e: RpcError<TransportErrorKind>) -> ChainError {
        match e.as_error_resp().and_then(|p| p.as_revert_data()) {
            Some(data) => ChainError::Revert {
                reason: decode_revert(&data),
            },
            None => ChainError::Rpc(e.to_string()),
        }
    }

    /// Maps a contract call error, decoding revert data against every Rivulet contract's errors.
    pub fn contract(e: ContractError) -> ChainError {
        if let Some(data) = e.as_revert_data() {
            return ChainError::Revert {
                reason: decode_revert(&data),
            };
        }
        match e {
            ContractError::TransportError(t) => ChainError::rpc(t),
            other => ChainError::Rpc(other.to_string()),
        }
    }

    /// Maps an error while waiting for a receipt.
    pub fn pending(e: PendingTransactionError) -> ChainError {
        match e {
            PendingTransactionError::TransportError(t) => ChainError::rpc(t),
            other => ChainError::Rpc(other.to_string()),
        }
    }
}

/// Names the contract error in revert data, with its arguments.
pub fn decode_revert(data: &[u8]) -> String {
    if let Ok(e) = StreamRegistryErrors::abi_decode(data) {
        return format!("{e:?}");
    }
    if let Ok(e) = MarketplaceErrors::abi_decode(data) {
        return format!("{e:?}");
    }
    if let Ok(e) = DataTokenErrors::abi_decode(data) {
        return format!("{e:?}");
    }
    if let Ok(reason) = alloy::sol_types::decode_revert_reason(data).ok_or(()) {
        return reason;
    }
    format!("0x{}", alloy::hex::encode(data))
}
