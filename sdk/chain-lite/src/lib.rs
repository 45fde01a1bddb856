//! # rivulet-chain-lite
//!
//! The stream registry over bare Ethereum JSON-RPC, for the browser build (`@rivulet/sdk`), where a full
//! provider would double the package (`rivulet-chain`, on alloy's provider, serves native programs and the
//! dapp). It declares only the registry calls the SDK makes (`alloy-sol-types` encodes them), reads with
//! `eth_call` / `eth_getLogs`, and sends transactions either signed here — EIP-1559, with the same key that
//! signs stream events ([`tx`]) — or through an EIP-1193 wallet's `eth_sendTransaction`.

use std::time::Duration;

use alloy_primitives::Address;
use alloy_sol_types::{SolCall, SolEvent, SolInterface, sol};
use rivulet_protocol::{Signer, StreamId};
use serde_json::{Value, json};

pub mod market;
pub mod rpc;
pub mod tx;

/// The address and amount types of this crate's API.
pub use alloy_primitives;
pub use rpc::Rpc;

/// A step of a signature or transaction, as it happens (for a user watching a wallet).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TxStep {
    /// The key or wallet is asked to sign `what` (e.g. `permit`).
    SignatureRequested {
        /// What is to be signed.
        what: String,
    },
    /// The key or wallet signed `what`.
    Signed {
        /// What was signed.
        what: String,
    },
    /// The key or wallet is asked to send a transaction calling `what` (e.g. `approve`, `buyWithPermit`).
    TransactionRequested {
        /// The contract function.
        what: String,
    },
    /// The transaction was sent and waits to be mined.
    Sent {
        /// The contract function.
        what: String,
        /// Its hash, `0x…`.
        hash: String,
    },
    /// The transaction was mined and succeeded.
    Confirmed {
        /// The contract function.
        what: String,
        /// Its hash, `0x…`.
        hash: String,
        /// The block it is in.
        block: u64,
    },
}

sol! {
    /// The registry calls and events the SDK uses (see contracts/src/StreamRegistry.sol).
    interface StreamRegistry {
        function createStream(string path, string metadata) external returns (string streamId);
        function exists(string streamId) external view returns (bool);
        function getStream(string streamId) external view returns (string metadata, address creator, uint64 createdAt);
        function hasPermission(string streamId, address user, uint8 kind) external view returns (bool);
        function hasDirectPermission(string streamId, address user, uint8 kind) external view returns (bool);
        function grantPermission(string streamId, address user, uint8 kind) external;
        function grantPublicPermission(string streamId, uint8 kind) external;
        function revokePermission(string streamId, address user, uint8 kind) external;

        event StreamCreated(string streamId, string metadata, address indexed creator);
        event StreamUpdated(string streamId, string metadata);
        event StreamDeleted(string streamId);

        error StreamExists(string streamId);
        error StreamNotFound(string streamId);
        error InvalidPath(string path);
        error StreamIdTooLong(uint256 length);
        error NoPermission(string streamId, address user, uint8 required);
        error PublicPermissionNotAllowed(uint8 permissionType);
        error NotAnExpiringPermission(uint8 permissionType);
    }
}

/// Why a registry call failed.
#[derive(Debug, thiserror::Error)]
pub enum LiteError {
    /// A setting is wrong (URL, address, provider).
    #[error("{0}")]
    Config(String),
    /// The endpoint could not be reached.
    #[error("JSON-RPC endpoint unreachable: {0}")]
    Unreachable(String),
    /// The endpoint (or wallet) answered with an error.
    #[error("JSON-RPC error {code}: {message}")]
    Rpc {
        /// The JSON-RPC (or EIP-1193) error code; 4001 is a user's rejection in a wallet.
        code: i64,
        /// What the endpoint said.
        message: String,
        /// Revert data, hex, when there is some.
        data: Option<String>,
    },
    /// The contract refused: its custom error, decoded.
    #[error("the registry refused: {0}")]
    Reverted(String),
    /// The endpoint serves another chain.
    #[error("wrong chain: the deployment is on chain {expected}, the endpoint serves {actual}")]
    WrongChain {
        /// The deployment's chain.
        expected: u64,
        /// The endpoint's.
        actual: u64,
    },
    /// An answer could not be decoded.
    #[error("unexpected answer: {0}")]
    Decode(String),
}

/// A stream's registry entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StreamRecord {
    /// The id.
    pub id: StreamId,
    /// Metadata JSON, as stored.
    pub metadata: String,
    /// Who created it.
    pub creator: rivulet_protocol::Address,
    /// Unix seconds (0 when read from events only).
    pub created_at: u64,
}

impl StreamRecord {
    /// A metadata field (`name`, `description`) as text, or empty.
    pub fn field(&self, name: &str) -> String {
        serde_json::from_str::<Value>(&self.metadata)
            .ok()
            .and_then(|v| v.get(name).and_then(Value::as_str).map(str::to_owned))
            .unwrap_or_default()
    }

    /// The number of partitions (1 when the metadata does not say).
    pub fn partitions(&self) -> u32 {
        serde_json::from_str::<Value>(&self.metadata)
            .ok()
            .and_then(|v| v.get("partitions").and_then(Value::as_u64))
            .map_or(1, |n| n as u32)
    }
}

/// Permission kinds, numbered as the registry numbers them.
pub const EDIT: u8 = 0;
/// Delete the stream.
pub const DELETE: u8 = 1;
/// Publish.
pub const PUBLISH: u8 = 2;
/// Subscribe.
pub const SUBSCRIBE: u8 = 3;
/// Change others' permissions.
pub const GRANT: u8 = 4;

/// The number of a permission name (`edit`, `delete`, `publish`, `subscribe`, `grant`).
pub fn permission_kind(name: &str) -> Result<u8, LiteError> {
    match name.to_ascii_lowercase().as_str() {
        "edit" => Ok(EDIT),
        "delete" => Ok(DELETE),
        "publish" => Ok(PUBLISH),
        "subscribe" => Ok(SUBSCRIBE),
        "grant" => Ok(GRANT),
        other => Err(LiteError::Config(format!(
            "unknown permission {other:?}; expected edit, delete, publish, subscribe or grant"
        ))),
    }
}

/// How transactions get signed.
#[derive(Debug)]
pub enum Sender {
    /// Read only.
    None,
    /// Signed here with this key.
    Key(Signer),
    /// Sent by the wallet behind the EIP-1193 provider, from this account.
    Wallet(Address),
}

/// The stream registry of one deployment, over one JSON-RPC carrier.
#[derive(Debug)]
pub struct Registry {
    rpc: Rpc,
    chain_id: u64,
    address: Address,
    from_block: u64,
    sender: Sender,
    /// The marketplace and DATA token, for the calls in [`market`].
    market: Option<(Address, Address)>,
    /// Where [`TxStep`]s are reported.
    progress: Option<futures_channel::mpsc::UnboundedSender<TxStep>>,
}

fn to_address(a: rivulet_protocol::Address) -> Address {
    Address::from(a.0)
}

fn from_address(a: Address) -> rivulet_protocol::Address {
    rivulet_protocol::Address(a.into_array())
}

fn hex_data(bytes: &[u8]) -> String {
    format!("0x{}", hex::encode(bytes))
}

pub(crate) fn decode_hex(value: &Value) -> Result<Vec<u8>, LiteError> {
    let s = value
        .as_str()
        .ok_or_else(|| LiteError::Decode(format!("expected hex data, got {value}")))?;
    hex::decode(s.trim_start_matches("0x")).map_err(|e| LiteError::Decode(e.to_string()))
}

/// The registry's custom error in revert data, by name and arguments.
pub fn decode_revert(data: &[u8]) -> String {
    use StreamRegistry::StreamRegistryErrors as E;
    match E::abi_decode(data) {
        Ok(E::StreamExists(e)) => format!("StreamExists: {} exists already", e.streamId),
        Ok(E::StreamNotFound(e)) => format!("StreamNotFound: {} does not exist", e.streamId),
        Ok(E::InvalidPath(e)) => format!("InvalidPath: {:?} is not a valid stream path", e.path),
        Ok(E::StreamIdTooLong(e)) => format!("StreamIdTooLong: {} bytes", e.length),
        Ok(E::NoPermission(e)) => format!(
            "NoPermission: {} lacks permission {} on {}",
            e.user,
            ["edit", "delete", "publish", "subscribe", "grant"]
                .get(usize::from(e.required))
                .unwrap_or(&"?"),
            e.streamId
        ),
        Ok(E::PublicPermissionNotAllowed(_)) => {
            "PublicPermissionNotAllowed: only publish and subscribe can be public".into()
        }
        Ok(E::NotAnExpiringPermission(_)) => {
            "NotAnExpiringPermission: only publish and subscribe expire".into()
        }
        Err(_) => market::decode_revert(data)
            .unwrap_or_else(|| format!("revert data 0x{}", hex::encode(data))),
    }
}

/// A failed call or estimate as a named revert where the data says which.
fn reverted(e: LiteError) -> LiteError {
    match &e {
        LiteError::Rpc {
            data: Some(data), ..
        } => match hex::decode(data.trim_start_matches("0x")) {
            Ok(bytes) if bytes.len() >= 4 => LiteError::Reverted(decode_revert(&bytes)),
            _ => e,
        },
        _ => e,
    }
}

impl Registry {
    /// The registry at `address` on chain `chain_id`, reached through `rpc`; event scans start at
    /// `from_block`. Checks that the endpoint serves that chain and that the registry has code there.
    pub async fn connect(
        rpc: Rpc,
        chain_id: u64,
        address: Address,
        from_block: u64,
        sender: Sender,
    ) -> Result<Registry, LiteError> {
        let actual = tx::quantity(&rpc.call("eth_chainId", json!([])).await?)
            .ok_or_else(|| LiteError::Decode("eth_chainId".into()))? as u64;
        if actual != chain_id {
            return Err(LiteError::WrongChain {
                expected: chain_id,
                actual,
            });
        }
        let code = rpc
            .call("eth_getCode", json!([address.to_string(), "latest"]))
            .await?;
        if decode_hex(&code)?.is_empty() {
            return Err(LiteError::Config(format!(
                "no StreamRegistry contract at {address} on chain {chain_id}: is the deployment file current?"
            )));
        }
        Ok(Registry {
            rpc,
            chain_id,
            address,
            from_block,
            sender,
            market: None,
            progress: None,
        })
    }

    /// Adds the marketplace and the DATA token of the same deployment (for [`market`]'s calls).
    pub fn with_market(mut self, marketplace: Address, token: Address) -> Registry {
        self.market = Some((marketplace, token));
        self
    }

    /// Reports every signature and transaction step to `progress` as it happens.
    pub fn with_progress(
        mut self,
        progress: futures_channel::mpsc::UnboundedSender<TxStep>,
    ) -> Registry {
        self.progress = Some(progress);
        self
    }

    pub(crate) fn report(&self, step: TxStep) {
        if let Some(progress) = &self.progress {
            let _ = progress.unbounded_send(step);
        }
    }

    /// The latest block's timestamp, Unix seconds: "now" as the contracts see it.
    pub async fn chain_time(&self) -> Result<u64, LiteError> {
        self.rpc.chain_time().await
    }

    /// The JSON-RPC carrier (for calls this crate does not wrap, e.g. a wallet's).
    pub fn rpc(&self) -> &Rpc {
        &self.rpc
    }

    /// The address transactions come from.
    pub fn sender(&self) -> Option<Address> {
        match &self.sender {
            Sender::None => None,
            Sender::Key(k) => Some(to_address(k.address())),
            Sender::Wallet(a) => Some(*a),
        }
    }

    async fn view<C: SolCall>(&self, call: C) -> Result<C::Return, LiteError> {
        self.view_at(self.address, call).await
    }

    /// A read-only call to the contract at `to`. (Only encoding and decoding are generic: the request
    /// itself is one function, not one per call type.)
    async fn view_at<C: SolCall>(&self, to: Address, call: C) -> Result<C::Return, LiteError> {
        let data = self.eth_call(to, call.abi_encode()).await?;
        C::abi_decode_returns(&data).map_err(|e| LiteError::Decode(e.to_string()))
    }

    /// `eth_call` of ABI-encoded `input` at the latest block; the returned bytes.
    async fn eth_call(&self, to: Address, input: Vec<u8>) -> Result<Vec<u8>, LiteError> {
        let data = self
            .rpc
            .call(
                "eth_call",
                json!([{ "to": to.to_string(), "data": hex_data(&input) }, "latest"]),
            )
            .await
            .map_err(reverted)?;
        decode_hex(&data)
    }

    /// Sends a call as a transaction and waits for its receipt.
    async fn send<C: SolCall>(&self, call: C) -> Result<String, LiteError> {
        self.send_to(self.address, call).await
    }

    /// Sends a call to the contract at `to` as a transaction and waits for its receipt.
    async fn send_to<C: SolCall>(&self, to: Address, call: C) -> Result<String, LiteError> {
        let what = C::SIGNATURE.split('(').next().unwrap_or(C::SIGNATURE);
        self.transact(to, call.abi_encode(), what.to_owned()).await
    }

    /// Sends ABI-encoded `input` to `to` as a transaction (`what` names it in the reported steps) and
    /// waits for its receipt.
    async fn transact(
        &self,
        to: Address,
        input: Vec<u8>,
        what: String,
    ) -> Result<String, LiteError> {
        let from = self.sender().ok_or_else(no_sender)?;
        let tx =
            json!({ "from": from.to_string(), "to": to.to_string(), "data": hex_data(&input) });
        // A revert shows here, with the contract's reason, before anything is signed.
        let gas = self
            .rpc
            .call("eth_estimateGas", json!([tx]))
            .await
            .map_err(reverted)?;
        self.report(TxStep::TransactionRequested { what: what.clone() });
        let hash = match &self.sender {
            Sender::Key(key) => {
                let gas = tx::quantity(&gas).ok_or_else(|| LiteError::Decode("gas".into()))?;
                let nonce = self
                    .rpc
                    .call(
                        "eth_getTransactionCount",
                        json!([from.to_string(), "pending"]),
                    )
                    .await?;
                let tip = self
                    .rpc
                    .call("eth_maxPriorityFeePerGas", json!([]))
                    .await
                    .ok()
                    .and_then(|v| tx::quantity(&v))
                    .unwrap_or(1_000_000_000);
                let block = self
                    .rpc
                    .call("eth_getBlockByNumber", json!(["latest", false]))
                    .await?;
                let base = tx::quantity(&block["baseFeePerGas"]).unwrap_or(1_000_000_000);
                let call = tx::Eip1559Call {
                    chain_id: self.chain_id,
                    nonce: tx::quantity(&nonce).ok_or_else(|| LiteError::Decode("nonce".into()))?
                        as u64,
                    max_priority_fee_per_gas: tip,
                    max_fee_per_gas: base * 2 + tip,
                    // 20% headroom over the estimate.
                    gas_limit: (gas + gas / 5) as u64,
                    to,
                    input,
                };
                self.rpc
                    .call("eth_sendRawTransaction", json!([hex_data(&call.sign(key))]))
                    .await
                    .map_err(reverted)?
            }
            Sender::Wallet(_) => {
                let mut tx = tx;
                tx["gas"] = json!(gas);
                self.rpc
                    .call("eth_sendTransaction", json!([tx]))
                    .await
                    .map_err(reverted)?
            }
            Sender::None => return Err(no_sender()),
        };
        let hash = hash
            .as_str()
            .ok_or_else(|| LiteError::Decode("transaction hash".into()))?
            .to_owned();
        self.report(TxStep::Sent {
            what: what.clone(),
            hash: hash.clone(),
        });
        let block = self.wait_receipt(&hash).await?;
        self.report(TxStep::Confirmed {
            what,
            hash: hash.clone(),
            block,
        });
        Ok(hash)
    }

    /// Waits for a transaction's receipt; its block number when it succeeded.
    async fn wait_receipt(&self, hash: &str) -> Result<u64, LiteError> {
        for _ in 0..600 {
            let receipt = self
                .rpc
                .call("eth_getTransactionReceipt", json!([hash]))
                .await?;
            if !receipt.is_null() {
                return match receipt["status"].as_str() {
                    Some("0x1") => Ok(tx::quantity(&receipt["blockNumber"]).unwrap_or(0) as u64),
                    _ => Err(LiteError::Reverted(format!("transaction {hash} reverted"))),
                };
            }
            futures_timer::Delay::new(Duration::from_millis(200)).await;
        }
        Err(LiteError::Unreachable(format!(
            "transaction {hash} was not mined within 2 minutes"
        )))
    }

    /// A stream's entry, or `None`.
    pub async fn get_stream(&self, id: &StreamId) -> Result<Option<StreamRecord>, LiteError> {
        let key = id.to_string();
        if !self
            .view(StreamRegistry::existsCall {
                streamId: key.clone(),
            })
            .await?
        {
            return Ok(None);
        }
        let s = self
            .view(StreamRegistry::getStreamCall { streamId: key })
            .await?;
        Ok(Some(StreamRecord {
            id: id.clone(),
            metadata: s.metadata,
            creator: from_address(s.creator),
            created_at: s.createdAt,
        }))
    }

    /// Every existing stream, from the registry's events.
    pub async fn list_streams(&self) -> Result<Vec<StreamRecord>, LiteError> {
        let logs = self
            .rpc
            .call(
                "eth_getLogs",
                json!([{
                    "address": self.address.to_string(),
                    "fromBlock": tx::to_quantity(u128::from(self.from_block)),
                    "toBlock": "latest",
                    "topics": [[
                        StreamRegistry::StreamCreated::SIGNATURE_HASH.to_string(),
                        StreamRegistry::StreamUpdated::SIGNATURE_HASH.to_string(),
                        StreamRegistry::StreamDeleted::SIGNATURE_HASH.to_string(),
                    ]],
                }]),
            )
            .await?;
        let mut streams: Vec<StreamRecord> = Vec::new();
        for log in logs.as_array().map(Vec::as_slice).unwrap_or_default() {
            let topics: Vec<alloy_primitives::B256> = log["topics"]
                .as_array()
                .map(|t| t.iter().filter_map(|v| v.as_str()?.parse().ok()).collect())
                .unwrap_or_default();
            let data = decode_hex(&log["data"])?;
            let Some(topic) = topics.first() else {
                continue;
            };
            if *topic == StreamRegistry::StreamCreated::SIGNATURE_HASH {
                let e =
                    StreamRegistry::StreamCreated::decode_raw_log(topics.iter().copied(), &data)
                        .map_err(|e| LiteError::Decode(e.to_string()))?;
                if let Ok(id) = e.streamId.parse::<StreamId>() {
                    streams.retain(|s| s.id != id);
                    streams.push(StreamRecord {
                        id,
                        metadata: e.metadata,
                        creator: from_address(e.creator),
                        created_at: 0,
                    });
                }
            } else if *topic == StreamRegistry::StreamUpdated::SIGNATURE_HASH {
                let e =
                    StreamRegistry::StreamUpdated::decode_raw_log(topics.iter().copied(), &data)
                        .map_err(|e| LiteError::Decode(e.to_string()))?;
                if let Some(s) = streams.iter_mut().find(|s| s.id.as_str() == e.streamId) {
                    s.metadata = e.metadata;
                }
            } else if *topic == StreamRegistry::StreamDeleted::SIGNATURE_HASH {
                let e =
                    StreamRegistry::StreamDeleted::decode_raw_log(topics.iter().copied(), &data)
                        .map_err(|e| LiteError::Decode(e.to_string()))?;
                streams.retain(|s| s.id.as_str() != e.streamId);
            }
        }
        Ok(streams)
    }

    /// Streams whose id, name or description contains `term` (case-insensitive).
    pub async fn search_streams(&self, term: &str) -> Result<Vec<StreamRecord>, LiteError> {
        let q = term.to_lowercase();
        Ok(self
            .list_streams()
            .await?
            .into_iter()
            .filter(|s| {
                s.id.as_str().to_lowercase().contains(&q)
                    || s.field("name").to_lowercase().contains(&q)
                    || s.field("description").to_lowercase().contains(&q)
            })
            .collect())
    }

    /// Creates `<sender>/<path>` with `metadata` (JSON); returns the id.
    pub async fn create_stream(&self, path: &str, metadata: &str) -> Result<StreamId, LiteError> {
        let owner = self
            .sender()
            .ok_or_else(|| LiteError::Config("creating a stream needs a key or a wallet".into()))?;
        let id = StreamId::from_parts(from_address(owner), path)
            .map_err(|e| LiteError::Config(e.to_string()))?;
        self.send(StreamRegistry::createStreamCall {
            path: path.to_owned(),
            metadata: metadata.to_owned(),
        })
        .await?;
        Ok(id)
    }

    /// Grants `kind` to `user` (`None`: to everyone; publish and subscribe only).
    pub async fn grant(
        &self,
        id: &StreamId,
        user: Option<rivulet_protocol::Address>,
        kind: u8,
    ) -> Result<(), LiteError> {
        match user {
            Some(user) => {
                self.send(StreamRegistry::grantPermissionCall {
                    streamId: id.to_string(),
                    user: to_address(user),
                    kind,
                })
                .await?
            }
            None => {
                self.send(StreamRegistry::grantPublicPermissionCall {
                    streamId: id.to_string(),
                    kind,
                })
                .await?
            }
        };
        Ok(())
    }

    /// Revokes `kind` from `user` (`None`: the public grant).
    pub async fn revoke(
        &self,
        id: &StreamId,
        user: Option<rivulet_protocol::Address>,
        kind: u8,
    ) -> Result<(), LiteError> {
        self.send(StreamRegistry::revokePermissionCall {
            streamId: id.to_string(),
            user: user.map_or(Address::ZERO, to_address),
            kind,
        })
        .await?;
        Ok(())
    }

    /// Whether `user` holds `kind` now; public grants count when `allow_public`.
    pub async fn has_permission(
        &self,
        id: &StreamId,
        user: rivulet_protocol::Address,
        kind: u8,
        allow_public: bool,
    ) -> Result<bool, LiteError> {
        if !self
            .view(StreamRegistry::existsCall {
                streamId: id.to_string(),
            })
            .await?
        {
            return Ok(false);
        }
        if allow_public {
            self.view(StreamRegistry::hasPermissionCall {
                streamId: id.to_string(),
                user: to_address(user),
                kind,
            })
            .await
        } else {
            self.view(StreamRegistry::hasDirectPermissionCall {
                streamId: id.to_string(),
                user: to_address(user),
                kind,
            })
            .await
        }
    }
}

fn no_sender() -> LiteError {
    LiteError::Config("this client has no key or wallet to send transactions with".into())
}
