//! Every failure typed: [`ContractsError`], and a contract's refusal as [`Revert`], decoded from the
//! generated error types of the four contracts.

use alloy_primitives::{Address, Bytes};
use alloy_sol_types::{Panic, SolError, SolInterface};

use crate::bindings::{
    DataToken::DataTokenErrors, Marketplace::MarketplaceErrors,
    StreamRegistry::StreamRegistryErrors,
};
#[cfg(feature = "coordinator")]
use crate::{bindings::NetworkCoordinator::NetworkCoordinatorErrors, types::format_data};

/// What went wrong talking to the contracts.
#[derive(Debug, thiserror::Error)]
pub enum ContractsError {
    /// A JSON-RPC URL that is not `http://` or `https://`.
    #[error("JSON-RPC URL {0:?} must start with http:// or https://")]
    InvalidUrl(String),
    /// The endpoint could not be reached, or its answer not read.
    #[error("JSON-RPC endpoint {url} unreachable")]
    Unreachable {
        /// The endpoint.
        url: String,
        /// Why.
        #[source]
        source: TransportError,
    },
    /// The endpoint (or the wallet) answered with an error.
    #[error("JSON-RPC error {code}: {message}")]
    Rpc {
        /// The JSON-RPC (or EIP-1193) error code: 4001 is a user's rejection in a wallet, 4902 a chain
        /// the wallet does not know.
        code: i64,
        /// What the endpoint said.
        message: String,
        /// Revert data (hex) or other detail, when there is some.
        data: Option<String>,
    },
    /// A contract refused the call or transaction; its error, decoded.
    #[error("reverted: {0}")]
    Reverted(Revert),
    /// A transaction was mined but failed (its receipt says so and gives no reason).
    #[error("transaction {hash} reverted")]
    TransactionReverted {
        /// The transaction, `0x…`.
        hash: String,
    },
    /// A transaction was not mined in time.
    #[error("transaction {hash} was not mined within 2 minutes")]
    NotMined {
        /// The transaction, `0x…`.
        hash: String,
    },
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
        address: Address,
    },
    /// A network coordinator call on a deployment that names none.
    #[error(
        "the deployment names no network coordinator; deploy one (rivulet-deploy) or use a newer deployment file"
    )]
    NoCoordinator,
    /// A transaction succeeded but its receipt lacks the event that says what it did.
    #[error("the receipt of transaction {hash} has no {event} event")]
    MissingEvent {
        /// The event's name.
        event: &'static str,
        /// The transaction, `0x…`.
        hash: String,
    },
    /// A transaction or signature was asked of a client without a key or wallet.
    #[error("this client has no key or wallet to send transactions with; it can only read")]
    NoSender,
    /// A stream id that the protocol refuses.
    #[error("invalid stream id")]
    StreamId(#[from] rivulet_protocol::StreamIdError),
    /// A partition count outside 1..=100.
    #[error("partitions must be 1..=100, got {0}")]
    Partitions(u32),
    /// The endpoint's answer is not JSON-RPC.
    #[error("the answer to {method} is not JSON-RPC")]
    NotJsonRpc {
        /// The method called.
        method: String,
        /// The parse error.
        #[source]
        source: serde_json::Error,
    },
    /// The endpoint's answer has not the shape the method's answer has.
    #[error("unexpected answer to {method}")]
    Answer {
        /// The method called.
        method: String,
        /// What is wrong with it.
        #[source]
        source: AnswerError,
    },
    /// A contract's answer does not decode as its ABI says.
    #[error("cannot decode the answer of {function}")]
    Abi {
        /// The contract function.
        function: &'static str,
        /// The decoder's error.
        #[source]
        source: alloy_sol_types::Error,
    },
    /// The wallet (EIP-1193 provider) failed outside JSON-RPC: no `request` method, a thrown exception,
    /// an answer that is not JSON.
    #[error("EIP-1193 provider: {0}")]
    Wallet(String),
    /// A deployment file that cannot be read or written.
    #[error("cannot {action} {path}")]
    DeploymentFile {
        /// `read` or `write`.
        action: &'static str,
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A deployment file that is not one.
    #[error("{path} is not a deployment file")]
    DeploymentFormat {
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        #[source]
        source: serde_json::Error,
    },
}

/// What is wrong with a JSON-RPC answer.
#[derive(Debug, thiserror::Error)]
pub enum AnswerError {
    /// A field is missing or not a string.
    #[error("{0} is missing")]
    Missing(&'static str),
    /// A field is not a quantity (`0x…`, at most 64 bits).
    #[error("{0} is not a quantity")]
    Quantity(&'static str),
    /// A field is not hex.
    #[error("{field} is not hex")]
    Hex {
        /// The field.
        field: &'static str,
        /// The decoder's error.
        #[source]
        source: hex::FromHexError,
    },
    /// A field has the wrong length.
    #[error("{field} has {len} bytes, not {expected}")]
    Length {
        /// The field.
        field: &'static str,
        /// Its length.
        len: usize,
        /// The length it must have.
        expected: usize,
    },
}

/// Why a JSON-RPC request did not get an answer.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    /// HTTP, natively.
    #[cfg(not(target_arch = "wasm32"))]
    #[error(transparent)]
    Http(#[from] reqwest::Error),
    /// `fetch` (or reading its body) failed in JavaScript, with this message.
    #[error("{0}")]
    Fetch(String),
}

/// A contract's refusal: the error it reverted with, decoded against the four contracts' generated
/// error types (`Display`: `Name: what it means`). OpenZeppelin's errors, which several contracts
/// declare, decode as the first that declares them (same name, same fields).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Revert {
    /// One of the stream registry's errors.
    StreamRegistry(StreamRegistryErrors),
    /// One of the marketplace's errors (the registry's `StreamNotFound` decodes as the registry's).
    Marketplace(MarketplaceErrors),
    /// One of the DATA token's errors.
    DataToken(DataTokenErrors),
    /// One of the network coordinator's errors (feature `coordinator`).
    #[cfg(feature = "coordinator")]
    NetworkCoordinator(NetworkCoordinatorErrors),
    /// Solidity's `Error(string)`: a `require` or `revert` with a message.
    Message(alloy_sol_types::Revert),
    /// Solidity's `Panic(uint256)`: a failed assertion, an overflow, a division by zero...
    Panic(Panic),
    /// Revert data that matches no known error.
    Unknown(Bytes),
}

impl Revert {
    /// Decodes revert data.
    pub fn decode(data: &[u8]) -> Revert {
        if let Ok(e) = StreamRegistryErrors::abi_decode(data) {
            return Revert::StreamRegistry(e);
        }
        if let Ok(e) = MarketplaceErrors::abi_decode(data) {
            return Revert::Marketplace(e);
        }
        if let Ok(e) = DataTokenErrors::abi_decode(data) {
            return Revert::DataToken(e);
        }
        #[cfg(feature = "coordinator")]
        if let Ok(e) = NetworkCoordinatorErrors::abi_decode(data) {
            return Revert::NetworkCoordinator(e);
        }
        if let Ok(e) = alloy_sol_types::Revert::abi_decode(data) {
            return Revert::Message(e);
        }
        if let Ok(e) = Panic::abi_decode(data) {
            return Revert::Panic(e);
        }
        Revert::Unknown(Bytes::copy_from_slice(data))
    }

    /// The error's name as the contract declares it (`NoPermission`, `ERC20InsufficientBalance`, …);
    /// `Error` and `Panic` for Solidity's own, `Unknown` for data no contract declares.
    pub fn name(&self) -> &'static str {
        let name = match self {
            Revert::StreamRegistry(e) => StreamRegistryErrors::name_by_selector(e.selector()),
            Revert::Marketplace(e) => MarketplaceErrors::name_by_selector(e.selector()),
            Revert::DataToken(e) => DataTokenErrors::name_by_selector(e.selector()),
            #[cfg(feature = "coordinator")]
            Revert::NetworkCoordinator(e) => {
                NetworkCoordinatorErrors::name_by_selector(e.selector())
            }
            Revert::Message(_) => Some("Error"),
            Revert::Panic(_) => Some("Panic"),
            Revert::Unknown(_) => Some("Unknown"),
        };
        name.unwrap_or("Unknown")
    }
}

const PERMISSION_NAMES: [&str; 5] = ["edit", "delete", "publish", "subscribe", "grant"];

impl std::fmt::Display for Revert {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use DataTokenErrors as T;
        use MarketplaceErrors as M;
        use StreamRegistryErrors as R;
        let name = self.name();
        match self {
            Revert::StreamRegistry(e) => match e {
                R::StreamExists(e) => write!(f, "{name}: {} exists already", e.streamId),
                R::StreamNotFound(e) => write!(f, "{name}: {} does not exist", e.streamId),
                R::InvalidPath(e) => write!(f, "{name}: {:?} is not a valid stream path", e.path),
                R::StreamIdTooLong(e) => write!(f, "{name}: {} bytes", e.length),
                R::NoPermission(e) => write!(
                    f,
                    "{name}: {} lacks permission {} on {}",
                    e.user,
                    PERMISSION_NAMES
                        .get(usize::from(e.required))
                        .unwrap_or(&"?"),
                    e.streamId
                ),
                R::PublicPermissionNotAllowed(_) => {
                    write!(f, "{name}: only publish and subscribe can be public")
                }
                R::NotAnExpiringPermission(_) => {
                    write!(f, "{name}: only publish and subscribe expire")
                }
                _ => f.write_str(name),
            },
            Revert::Marketplace(e) => match e {
                M::ProductNotFound(e) => {
                    write!(f, "{name}: product {} does not exist", e.productId)
                }
                M::NotProductOwner(e) => write!(
                    f,
                    "{name}: {} does not own product {}",
                    e.caller, e.productId
                ),
                M::ProductIsPaused(e) => write!(f, "{name}: product {} is paused", e.productId),
                M::PeriodTooShort(e) => write!(
                    f,
                    "{name}: {} s is less than the minimum of {} s",
                    e.seconds_, e.minimumSeconds
                ),
                M::NoStreams(_) => write!(f, "{name}: a product needs at least one stream"),
                M::TooManyStreams(e) => write!(f, "{name}: {}", e.count),
                M::ZeroBeneficiary(_) => write!(f, "{name}: the beneficiary is the zero address"),
                M::ZeroMinimumPeriod(_) => write!(f, "{name}: the minimum period is zero"),
                M::StreamNotFound(e) => write!(f, "{name}: {}", e.streamId),
                M::SellerCannotGrant(e) => write!(
                    f,
                    "{name}: {} lacks grant permission on {}",
                    e.seller, e.streamId
                ),
                M::MarketplaceCannotGrant(e) => write!(
                    f,
                    "{name}: give the marketplace grant permission on {}",
                    e.streamId
                ),
                M::PriceAboveMaximum(e) => write!(
                    f,
                    "{name}: the price is {} but at most {} was offered",
                    e.price, e.maxPrice
                ),
                M::PeriodTooLong(e) => write!(f, "{name}: {} s", e.seconds_),
                _ => f.write_str(name),
            },
            Revert::DataToken(e) => match e {
                T::ERC20InsufficientBalance(e) => write!(
                    f,
                    "{name}: {} has {} DATA wei, needs {}",
                    e.sender, e.balance, e.needed
                ),
                T::ERC20InsufficientAllowance(e) => write!(
                    f,
                    "{name}: {} may spend {}, needs {}",
                    e.spender, e.allowance, e.needed
                ),
                T::ERC2612ExpiredSignature(e) => {
                    write!(f, "{name}: the permit expired at {}", e.deadline)
                }
                T::ERC2612InvalidSigner(e) => {
                    write!(f, "{name}: signed by {}, not {}", e.signer, e.owner)
                }
                T::FaucetDisabled(e) => write!(f, "{name}: no faucet on chain {}", e.chainId),
                _ => f.write_str(name),
            },
            #[cfg(feature = "coordinator")]
            Revert::NetworkCoordinator(e) => coordinator_reason(f, name, e),
            Revert::Message(e) => write!(f, "{e}"),
            Revert::Panic(e) => write!(f, "{e}"),
            Revert::Unknown(data) => write!(f, "revert data {data}"),
        }
    }
}

/// `Name: what it means` for the network coordinator's errors.
#[cfg(feature = "coordinator")]
fn coordinator_reason(
    f: &mut std::fmt::Formatter<'_>,
    name: &str,
    e: &NetworkCoordinatorErrors,
) -> std::fmt::Result {
    use NetworkCoordinatorErrors as N;
    match e {
        N::StakeTooLow(e) => write!(
            f,
            "{name}: stake {} is below the minimum {}",
            format_data(e.stake),
            format_data(e.minStake)
        ),
        N::AlreadyRegistered(e) => write!(f, "{name}: {} is registered already", e.node),
        N::NotRegistered(e) => write!(f, "{name}: {} is not a registered node", e.node),
        N::AlreadyLeaving(e) => write!(f, "{name}: {} asked to unstake already", e.node),
        N::NotLeaving(e) => write!(
            f,
            "{name}: {} has not asked to unstake (request it first)",
            e.node
        ),
        N::UnstakeLocked(e) => write!(
            f,
            "{name}: {} may withdraw from {} (Unix seconds, chain time)",
            e.node, e.withdrawableAt
        ),
        N::StillActive(e) => write!(
            f,
            "{name}: {} is still in the active set; a rebalance must drop it first",
            e.node
        ),
        N::EmptyPeerId(_) => write!(f, "{name}: the peer id is empty"),
        N::StringTooLong(e) => write!(f, "{name}: {} bytes, at most {}", e.length, e.max),
        N::Retired(e) => write!(
            f,
            "{name}: this coordinator is retired; its successor is {}",
            e.successor
        ),
        N::NoEditPermission(e) => write!(
            f,
            "{name}: {} lacks edit permission on {}",
            e.caller, e.streamId
        ),
        N::InvalidPartitions(e) => {
            write!(
                f,
                "{name}: partitions must be 1..=100, got {}",
                e.partitions
            )
        }
        N::InvalidReplication(e) => {
            write!(
                f,
                "{name}: replication must be 0..=16, got {}",
                e.replication
            )
        }
        N::StreamNotStored(e) => write!(f, "{name}: the network does not store {}", e.streamId),
        N::PartitionOutOfRange(e) => write!(
            f,
            "{name}: partition {} is not below the stream's {} partitions",
            e.partition, e.partitions
        ),
        N::NotAssigned(e) => write!(
            f,
            "{name}: {} is not assigned {}#{} for interval {}",
            e.node, e.streamId, e.partition, e.interval
        ),
        N::ReportTooEarly(e) => write!(
            f,
            "{name}: reports of interval {} are taken from {}",
            e.interval, e.opensAt
        ),
        N::ReportTooLate(e) => write!(
            f,
            "{name}: reports of interval {} were taken until {}",
            e.interval, e.closedAt
        ),
        N::AlreadyReported(e) => write!(
            f,
            "{name}: {} reported interval {} already",
            e.node, e.interval
        ),
        N::EmptyReport(_) => write!(f, "{name}: a report counts at least one event"),
        N::IntervalBeforeStorage(e) => write!(
            f,
            "{name}: interval {} began before the network stored the stream (at {})",
            e.interval, e.storedSince
        ),
        N::AssignmentChanged(e) => write!(
            f,
            "{name}: the assignment changed at {}, after interval {} began; it is not judged",
            e.epochStartedAt, e.interval
        ),
        N::CloseTooEarly(e) => write!(
            f,
            "{name}: interval {} can be closed from {}",
            e.interval, e.closesAt
        ),
        N::NoReports(e) => write!(f, "{name}: nobody reported interval {}", e.interval),
        N::AlreadyClosed(e) => write!(f, "{name}: interval {} is closed already", e.interval),
        N::InvalidParameter(e) => write!(f, "{name}: parameter {} is out of range", e.name),
        N::ZeroAmount(_) => write!(f, "{name}: the amount must be above zero"),
        N::SuccessorAlreadySet(e) => {
            write!(f, "{name}: the successor is set already ({})", e.successor)
        }
        N::NotRetired(_) => write!(f, "{name}: no successor is set"),
        N::OwnableUnauthorizedAccount(e) => {
            write!(f, "{name}: {} is not the coordinator's owner", e.account)
        }
        _ => f.write_str(name),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use alloy_primitives::U256;
    use alloy_sol_types::{SolError, SolInterface};

    use super::*;
    use crate::bindings::{DataToken, Marketplace, StreamRegistry};

    #[test]
    fn every_contracts_errors_decode_by_name() {
        let no_permission = StreamRegistryErrors::NoPermission(StreamRegistry::NoPermission {
            streamId: "0xab/s".into(),
            user: Address::repeat_byte(1),
            required: 4,
        });
        let revert = Revert::decode(&no_permission.abi_encode());
        assert_eq!(revert, Revert::StreamRegistry(no_permission));
        assert_eq!(revert.name(), "NoPermission");
        assert!(
            revert.to_string().starts_with("NoPermission: ")
                && revert.to_string().contains("permission grant on 0xab/s"),
            "{revert}"
        );

        let paused = Marketplace::ProductIsPaused {
            productId: U256::from(3u64),
        };
        let revert = Revert::decode(&paused.abi_encode());
        assert_eq!(revert.name(), "ProductIsPaused");
        assert_eq!(revert.to_string(), "ProductIsPaused: product 3 is paused");

        // An error without a sentence of its own still reads by name.
        let unauthorized = DataToken::OwnableUnauthorizedAccount {
            account: Address::repeat_byte(2),
        };
        let revert = Revert::decode(&unauthorized.abi_encode());
        assert_eq!(revert.name(), "OwnableUnauthorizedAccount");
        assert!(
            revert.to_string().starts_with("OwnableUnauthorizedAccount"),
            "{revert}"
        );

        let reason = alloy_sol_types::Revert::from("no").abi_encode();
        assert_eq!(Revert::decode(&reason).name(), "Error");
        assert_eq!(Revert::decode(&reason).to_string(), "revert: no");
        let overflow = Panic::from(alloy_sol_types::PanicKind::UnderOverflow).abi_encode();
        assert_eq!(Revert::decode(&overflow).name(), "Panic");
        assert!(Revert::decode(&overflow).to_string().contains("overflow"));
        assert_eq!(Revert::decode(&[1, 2, 3, 4]).name(), "Unknown");
        assert_eq!(
            Revert::decode(&[1, 2, 3, 4]).to_string(),
            "revert data 0x01020304"
        );
    }
}
