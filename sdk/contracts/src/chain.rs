//! [`Chain`] — one chain through one [`Rpc`] carrier and who sends on it: reads, transactions (calls and
//! contract creations), receipts, logs, progress reports — and [`Contracts`], one deployment's contracts
//! on it.

use std::time::Duration;

use alloy_primitives::{Address, B256, Bytes};
use alloy_sol_types::SolCall;
use rivulet_protocol::Signer;
use serde_json::{Value, json};

use crate::{
    ContractsError, Deployment, Revert, Rpc, TxStep,
    rpc::answer,
    tx::{self, Eip1559Transaction},
};

/// Blocks per `eth_getLogs` request (public JSON-RPC providers cap the range).
pub const LOG_PAGE_BLOCKS: u64 = 5_000;

/// Who sends transactions and signs permits.
#[derive(Clone, Debug)]
pub enum Sender {
    /// Nobody: read only.
    None,
    /// This key, here: EIP-1559 transactions signed with the protocol's k256 [`Signer`].
    Key(Signer),
    /// The wallet behind the EIP-1193 carrier (or an unlocked node account), from this account:
    /// `eth_sendTransaction`, `eth_signTypedData_v4`.
    Wallet(Address),
}

/// A mined transaction that succeeded.
#[derive(Clone, Debug, PartialEq)]
pub struct Receipt {
    /// The transaction.
    pub hash: B256,
    /// The block it is in.
    pub block: u64,
    /// Gas it used.
    pub gas_used: u64,
    /// The receipt as the node gave it (read further only when asked: the browser build need not
    /// carry a log parser for every transaction).
    json: Value,
}

const RECEIPT: &str = "eth_getTransactionReceipt";

impl Receipt {
    /// The contract it created, if it created one.
    pub fn contract_address(&self) -> Result<Option<Address>, ContractsError> {
        match &self.json["contractAddress"] {
            Value::Null => Ok(None),
            address => answer::address(RECEIPT, "contractAddress", address).map(Some),
        }
    }

    /// The events it emitted.
    pub fn logs(&self) -> Result<Vec<Log>, ContractsError> {
        self.json["logs"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default()
            .iter()
            .map(|log| answer::log(RECEIPT, log))
            .collect()
    }
}

/// An event log, as `eth_getLogs` and receipts give it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Log {
    /// The contract that emitted it.
    pub address: Address,
    /// Its topics (the first is the event's signature hash).
    pub topics: Vec<B256>,
    /// Its non-indexed data.
    pub data: Bytes,
    /// The block it is in (`None` while pending).
    pub block_number: Option<u64>,
}

impl Log {
    /// Decodes it as event `E`, if it is one.
    pub fn decode<E: alloy_sol_types::SolEvent>(&self) -> Option<E> {
        if self.topics.first() != Some(&E::SIGNATURE_HASH) {
            return None;
        }
        E::decode_raw_log(self.topics.iter().copied(), &self.data).ok()
    }

    /// The block number (0 while pending).
    pub fn block(&self) -> u64 {
        self.block_number.unwrap_or(0)
    }
}

/// One chain through one JSON-RPC carrier, and who sends on it. Cloning shares the carrier.
#[derive(Clone, Debug)]
pub struct Chain {
    rpc: Rpc,
    chain_id: u64,
    sender: Sender,
    progress: Option<futures_channel::mpsc::UnboundedSender<TxStep>>,
}

impl Chain {
    /// The chain behind `rpc` (asks its id), sending as `sender`.
    pub async fn connect(rpc: Rpc, sender: Sender) -> Result<Chain, ContractsError> {
        let chain_id = rpc.call("eth_chainId", json!([])).await?;
        let chain_id = answer::quantity("eth_chainId", "result", &chain_id)?;
        Ok(Chain {
            rpc,
            chain_id,
            sender,
            progress: None,
        })
    }

    /// Reports every signature and transaction step to `progress` as it happens.
    pub fn with_progress(
        mut self,
        progress: futures_channel::mpsc::UnboundedSender<TxStep>,
    ) -> Chain {
        self.progress = Some(progress);
        self
    }

    pub(crate) fn report(&self, step: TxStep) {
        if let Some(progress) = &self.progress {
            let _ = progress.unbounded_send(step);
        }
    }

    /// The chain id.
    pub fn chain_id(&self) -> u64 {
        self.chain_id
    }

    /// The JSON-RPC carrier (for calls this crate does not wrap, e.g. a wallet's or a test chain's).
    pub fn rpc(&self) -> &Rpc {
        &self.rpc
    }

    /// Who sends.
    pub fn sender(&self) -> &Sender {
        &self.sender
    }

    /// The address transactions come from (`None`: read only).
    pub fn sender_address(&self) -> Option<Address> {
        match &self.sender {
            Sender::None => None,
            Sender::Key(key) => Some(crate::to_alloy(key.address())),
            Sender::Wallet(account) => Some(*account),
        }
    }

    pub(crate) fn require_sender(&self) -> Result<Address, ContractsError> {
        self.sender_address().ok_or(ContractsError::NoSender)
    }

    /// The latest block number.
    pub async fn block_number(&self) -> Result<u64, ContractsError> {
        let n = self.rpc.call("eth_blockNumber", json!([])).await?;
        answer::quantity("eth_blockNumber", "result", &n)
    }

    /// The latest block's timestamp, Unix seconds: "now" as the contracts see it.
    pub async fn chain_time(&self) -> Result<u64, ContractsError> {
        self.rpc.chain_time().await
    }

    /// The code at `address` (empty: no contract).
    pub async fn code(&self, address: Address) -> Result<Bytes, ContractsError> {
        let code = self
            .rpc
            .call("eth_getCode", json!([address.to_string(), "latest"]))
            .await?;
        answer::bytes("eth_getCode", "result", &code)
    }

    /// A read-only call of the contract at `to`, at the latest block; a revert is decoded.
    pub async fn call<C: SolCall>(
        &self,
        to: Address,
        call: C,
    ) -> Result<C::Return, ContractsError> {
        self.call_at_tag(to, call, json!("latest")).await
    }

    /// Like [`Chain::call`], at block `block`: several calls at one block read one state.
    pub async fn call_at<C: SolCall>(
        &self,
        to: Address,
        call: C,
        block: u64,
    ) -> Result<C::Return, ContractsError> {
        self.call_at_tag(to, call, json!(tx::to_quantity(u128::from(block))))
            .await
    }

    async fn call_at_tag<C: SolCall>(
        &self,
        to: Address,
        call: C,
        block: Value,
    ) -> Result<C::Return, ContractsError> {
        let data = self.eth_call(to, call.abi_encode(), block).await?;
        C::abi_decode_returns(&data).map_err(|source| ContractsError::Abi {
            function: C::SIGNATURE,
            source,
        })
    }

    /// `eth_call` of ABI-encoded `input` at `block` (a number or tag); the returned bytes. (Only
    /// encoding and decoding are generic: the request itself is one function, not one per call type.)
    async fn eth_call(
        &self,
        to: Address,
        input: Vec<u8>,
        block: Value,
    ) -> Result<Bytes, ContractsError> {
        let data = self
            .rpc
            .call(
                "eth_call",
                json!([{ "to": to.to_string(), "data": hex_data(&input) }, block]),
            )
            .await
            .map_err(reverted)?;
        answer::bytes("eth_call", "result", &data)
    }

    /// Sends a call of the contract at `to` as a transaction and waits for its successful receipt. A
    /// revert shows before anything is signed (while estimating gas), decoded. The gas limit is the
    /// estimate and a fifth more (see [`Chain::send_with_gas`]).
    pub async fn send<C: SolCall>(&self, to: Address, call: C) -> Result<Receipt, ContractsError> {
        self.send_with_gas(to, call, 0).await
    }

    /// Like [`Chain::send`], with `extra` gas on top of the limit: for calls whose cost depends on state
    /// that may change between the estimate and the block that includes them (unused gas is not paid).
    pub async fn send_with_gas<C: SolCall>(
        &self,
        to: Address,
        call: C,
        extra: u64,
    ) -> Result<Receipt, ContractsError> {
        let what = C::SIGNATURE.split('(').next().unwrap_or(C::SIGNATURE);
        self.transact(Some(to), call.abi_encode(), what.to_owned(), extra)
            .await
    }

    /// Creates a contract from `creation_code` (its bytecode followed by its ABI-encoded constructor
    /// arguments); `name` names it in the reported steps. Returns its address.
    pub async fn deploy(
        &self,
        name: &str,
        creation_code: Vec<u8>,
    ) -> Result<(Address, Receipt), ContractsError> {
        let receipt = self
            .transact(None, creation_code, name.to_owned(), 0)
            .await?;
        let address = receipt
            .contract_address()?
            .ok_or_else(|| ContractsError::Rpc {
                code: -32603,
                message: format!("the receipt of {name}'s creation names no contract"),
                data: None,
            })?;
        Ok((address, receipt))
    }

    /// Sends `input` to `to` (`None`: creates a contract) as a transaction (`what` names it in the
    /// reported steps) and waits for its receipt. The gas limit is the estimate, a fifth more, and
    /// `extra`.
    ///
    /// The nonce is read from the node for every transaction rather than counted here: a transaction
    /// that fails before it is sent — a revert found while estimating gas, a rejected signature — must
    /// not leave a gap that stalls every later transaction of the account.
    async fn transact(
        &self,
        to: Option<Address>,
        input: Vec<u8>,
        what: String,
        extra: u64,
    ) -> Result<Receipt, ContractsError> {
        let from = self.require_sender()?;
        let mut request = json!({ "from": from.to_string(), "data": hex_data(&input) });
        if let Some(to) = to {
            request["to"] = json!(to.to_string());
        }
        // A revert shows here, with the contract's reason, before anything is signed.
        let gas = self
            .rpc
            .call("eth_estimateGas", json!([request]))
            .await
            .map_err(reverted)?;
        let gas = answer::quantity("eth_estimateGas", "result", &gas)?;
        // 20% headroom over the estimate (state may change before the block), plus the caller's extra.
        let gas_limit = gas.saturating_add(gas / 5).saturating_add(extra);
        self.report(TxStep::TransactionRequested { what: what.clone() });
        let (method, hash) = match &self.sender {
            Sender::Key(key) => {
                let nonce = self
                    .rpc
                    .call(
                        "eth_getTransactionCount",
                        json!([from.to_string(), "pending"]),
                    )
                    .await?;
                let nonce = answer::quantity("eth_getTransactionCount", "result", &nonce)?;
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
                let transaction = Eip1559Transaction {
                    chain_id: self.chain_id,
                    nonce,
                    max_priority_fee_per_gas: tip,
                    max_fee_per_gas: base * 2 + tip,
                    gas_limit,
                    to,
                    input,
                };
                let method = "eth_sendRawTransaction";
                let raw = hex_data(&transaction.sign(key));
                let hash = self.rpc.call(method, json!([raw])).await;
                (method, hash.map_err(reverted)?)
            }
            Sender::Wallet(_) => {
                request["gas"] = json!(tx::to_quantity(u128::from(gas_limit)));
                let method = "eth_sendTransaction";
                let hash = self.rpc.call(method, json!([request])).await;
                (method, hash.map_err(reverted)?)
            }
            Sender::None => return Err(ContractsError::NoSender),
        };
        let hash = answer::b256(method, "result", &hash)?;
        self.report(TxStep::Sent {
            what: what.clone(),
            hash: hash.to_string(),
        });
        let receipt = self.wait_receipt(hash).await?;
        self.report(TxStep::Confirmed {
            what,
            hash: hash.to_string(),
            block: receipt.block,
        });
        Ok(receipt)
    }

    /// Waits for a transaction's receipt; the receipt when it succeeded.
    async fn wait_receipt(&self, hash: B256) -> Result<Receipt, ContractsError> {
        for _ in 0..600 {
            let receipt = self.rpc.call(RECEIPT, json!([hash.to_string()])).await?;
            if !receipt.is_null() {
                if tx::quantity(&receipt["status"]) != Some(1) {
                    return Err(ContractsError::TransactionReverted {
                        hash: hash.to_string(),
                    });
                }
                return Ok(Receipt {
                    hash,
                    block: answer::quantity(RECEIPT, "blockNumber", &receipt["blockNumber"])?,
                    gas_used: answer::quantity(RECEIPT, "gasUsed", &receipt["gasUsed"])?,
                    json: receipt,
                });
            }
            futures_timer::Delay::new(Duration::from_millis(200)).await;
        }
        Err(ContractsError::NotMined {
            hash: hash.to_string(),
        })
    }

    /// The logs of the contract at `address` matching `topics` (JSON-RPC's topic filter) in blocks
    /// `from..=to`, in order, asked for in pages of [`LOG_PAGE_BLOCKS`].
    pub(crate) async fn logs(
        &self,
        address: Address,
        topics: Value,
        from: u64,
        to: u64,
    ) -> Result<Vec<Log>, ContractsError> {
        let mut logs = Vec::new();
        let mut start = from;
        while start <= to {
            let end = to.min(start.saturating_add(LOG_PAGE_BLOCKS - 1));
            let page = self
                .rpc
                .call(
                    "eth_getLogs",
                    json!([{
                        "address": address.to_string(),
                        "fromBlock": tx::to_quantity(u128::from(start)),
                        "toBlock": tx::to_quantity(u128::from(end)),
                        "topics": topics,
                    }]),
                )
                .await?;
            for log in page.as_array().map(Vec::as_slice).unwrap_or_default() {
                logs.push(answer::log("eth_getLogs", log)?);
            }
            start = end + 1;
        }
        Ok(logs)
    }
}

/// Data as JSON-RPC writes it.
fn hex_data(bytes: &[u8]) -> String {
    format!("0x{}", hex::encode(bytes))
}

/// A failed call or estimate as a decoded revert where the error carries revert data.
fn reverted(e: ContractsError) -> ContractsError {
    match &e {
        ContractsError::Rpc {
            data: Some(data), ..
        } => match hex::decode(data.trim_start_matches("0x")) {
            Ok(bytes) if bytes.len() >= 4 => ContractsError::Reverted(Revert::decode(&bytes)),
            _ => e,
        },
        _ => e,
    }
}

/// One deployment's contracts — the stream registry, the marketplace, the DATA token, the network
/// coordinator ([`Contracts::coordinator`]) — on a [`Chain`].
/// Streams and permissions, products and licences, purchases, balances: see the methods. Cloning shares
/// the carrier.
#[derive(Clone, Debug)]
pub struct Contracts {
    chain: Chain,
    deployment: Deployment,
}

impl Contracts {
    /// The deployment's contracts through `rpc`, sending as `sender`. Checks that the endpoint serves
    /// the deployment's chain and that every contract has code there.
    pub async fn connect(
        rpc: Rpc,
        deployment: Deployment,
        sender: Sender,
    ) -> Result<Contracts, ContractsError> {
        let chain = Chain::connect(rpc, sender).await?;
        if chain.chain_id != deployment.chain_id {
            return Err(ContractsError::WrongChain {
                expected: deployment.chain_id,
                actual: chain.chain_id,
            });
        }
        let coordinator = deployment
            .coordinator
            .map(|address| ("NetworkCoordinator", address));
        for (name, address) in [
            ("DataToken", deployment.data_token),
            ("StreamRegistry", deployment.stream_registry),
            ("Marketplace", deployment.marketplace),
        ]
        .into_iter()
        .chain(coordinator)
        {
            if chain.code(address).await?.is_empty() {
                return Err(ContractsError::NoCode { name, address });
            }
        }
        Ok(Contracts { chain, deployment })
    }

    /// Like [`Contracts::connect`], over HTTP to `url` or else the deployment's own JSON-RPC URL.
    pub async fn connect_http(
        deployment: Deployment,
        url: Option<&str>,
        sender: Sender,
    ) -> Result<Contracts, ContractsError> {
        let rpc = Rpc::http(url.unwrap_or(&deployment.rpc_url))?;
        Contracts::connect(rpc, deployment, sender).await
    }

    /// Reports every signature and transaction step to `progress` as it happens.
    pub fn with_progress(
        mut self,
        progress: futures_channel::mpsc::UnboundedSender<TxStep>,
    ) -> Contracts {
        self.chain = self.chain.with_progress(progress);
        self
    }

    /// The deployment.
    pub fn deployment(&self) -> &Deployment {
        &self.deployment
    }

    /// Contracts of `deployment` on `chain`, as they are (no checks: for a deployment derived from one
    /// that was checked).
    #[cfg(feature = "coordinator")]
    pub(crate) fn from_parts(chain: Chain, deployment: Deployment) -> Contracts {
        Contracts { chain, deployment }
    }

    /// The chain (for calls of contract functions this type does not wrap: [`Chain::call`],
    /// [`Chain::send`] with the generated [`bindings`](crate::bindings)).
    pub fn chain(&self) -> &Chain {
        &self.chain
    }

    /// The JSON-RPC carrier.
    pub fn rpc(&self) -> &Rpc {
        self.chain.rpc()
    }

    /// The address transactions come from (`None`: read only).
    pub fn sender(&self) -> Option<Address> {
        self.chain.sender_address()
    }

    /// The latest block number.
    pub async fn block_number(&self) -> Result<u64, ContractsError> {
        self.chain.block_number().await
    }

    /// The latest block's timestamp, Unix seconds: "now" as the contracts see it.
    pub async fn chain_time(&self) -> Result<u64, ContractsError> {
        self.chain.chain_time().await
    }
}
