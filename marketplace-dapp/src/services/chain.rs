//! The contracts, through the contract client (`rivulet-contracts`): products and their streams,
//! prices, buying (by EIP-2612 permit or approve-then-buy, the balance checked before anything is
//! signed), licences and their expiries, the seller's streams, device grants, products and sales, the
//! faucet and the chain's clock. [`Chain`] is one account's access (or read-only access); the steps of
//! its signatures and transactions are told, as they happen, to whoever listens. The client's errors
//! become [`DappError`]s here, reverts by their decoded names.

use std::{cell::RefCell, rc::Rc};

use alloy_primitives::{Address, B256, U256};
use futures::StreamExt;
use rivulet_contracts::{
    Contracts, ContractsError, PermissionKind, Product, PurchaseFilter, Rpc, Sender,
    StreamMetadata, TxStep, to_alloy,
};
use rivulet_protocol::StreamId;
use wasm_bindgen_futures::spawn_local;
use yew::Callback;

use crate::{
    error::DappError,
    input::{DeviceGrant, NewProduct, NewStream},
    model::{Licence, Listing, OwnStream, Sale, Step},
    services::config::Config,
};

impl From<ContractsError> for DappError {
    fn from(e: ContractsError) -> DappError {
        // The error and its causes, as one text.
        let mut what = e.to_string();
        let mut cause = std::error::Error::source(&e);
        while let Some(c) = cause {
            what = format!("{what}: {c}");
            cause = c.source();
        }
        match e {
            ContractsError::Rpc { code: 4001, .. } => DappError::Rejected,
            ContractsError::Rpc { code: 4100, .. } => DappError::Unauthorised,
            ContractsError::Rpc { code, message, .. } => DappError::Rpc { code, message },
            ContractsError::Reverted(revert) => DappError::Reverted {
                name: revert.name().into(),
                reason: revert.to_string(),
            },
            ContractsError::TransactionReverted { .. } => DappError::reverted(what),
            ContractsError::WrongChain { expected, actual } => {
                DappError::WrongChain { expected, actual }
            }
            ContractsError::Unreachable { .. } | ContractsError::NotMined { .. } => {
                DappError::Unreachable(what)
            }
            ContractsError::NotJsonRpc { .. }
            | ContractsError::Answer { .. }
            | ContractsError::Abi { .. } => DappError::Answer(what),
            _ => DappError::Config(what),
        }
    }
}

/// A transaction step as the model shows it.
fn step(s: TxStep) -> Step {
    match s {
        TxStep::SignatureRequested { what } => Step::SignatureRequested(what),
        TxStep::Signed { what } => Step::Signed(what),
        TxStep::TransactionRequested { what } => Step::TransactionRequested(what),
        TxStep::Sent { what, hash } => Step::Sent(what, hash),
        TxStep::Confirmed { what, block, .. } => Step::Confirmed(what, block),
    }
}

/// How a licence is paid for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Payment {
    /// One transaction: the wallet signs an EIP-2612 permit (`eth_signTypedData_v4`), then `buyWithPermit`.
    Permit,
    /// Two transactions: `approve`, then `buy`.
    ApproveThenBuy,
}

/// The steps one listener has been told of.
struct StepLog {
    steps: Vec<String>,
    listener: Callback<Vec<String>>,
}

/// Chain access as one account (or read-only): the deployment's registry, marketplace and token.
pub(crate) struct Chain {
    registry: Contracts,
    /// Who hears the transaction steps now (the component running the transaction).
    listener: Rc<RefCell<Option<StepLog>>>,
}

/// The deployment's registry and marketplace over `rpc`, sending as `sender`.
async fn registry(config: &Config, rpc: Rpc, sender: Sender) -> Result<Contracts, DappError> {
    Ok(Contracts::connect(rpc, config.deployment.clone(), sender).await?)
}

/// Every product with its streams' partition counts, read without an account.
pub(crate) async fn listings(config: &Config) -> Result<Vec<Listing>, DappError> {
    let rpc = Rpc::http(&config.rpc_url)?;
    let reader = registry(config, rpc, Sender::None).await?;
    let products = reader.list_products().await?;
    let streams = reader.list_streams().await?;
    let partitions = |id: &str| {
        streams
            .iter()
            .find(|s| s.id.as_str() == id)
            .map(|s| s.metadata.partitions)
    };
    Ok(products
        .iter()
        .map(|p| listing(p).with_partitions(partitions))
        .collect())
}

/// A product as the pages list it.
fn listing(p: &Product) -> Listing {
    Listing {
        seller: p.owner.to_checksum(None),
        price_per_second: p.price_per_second,
        minimum_seconds: p.minimum_seconds,
        active: p.active,
        streams: p.streams.clone(),
        terms_uri: p.terms_uri.clone(),
        partitions: vec![1; p.streams.len()],
        ..Listing::described(p.id, &p.metadata)
    }
}

impl Chain {
    /// Access over `rpc` sending as `sender` (a key, or a wallet's account); its steps go to whoever
    /// [listens](Chain::listen).
    pub(super) async fn connect(
        config: &Config,
        rpc: Rpc,
        sender: Sender,
    ) -> Result<Chain, DappError> {
        let (progress, mut steps) = futures::channel::mpsc::unbounded();
        let registry = registry(config, rpc, sender).await?.with_progress(progress);
        let listener: Rc<RefCell<Option<StepLog>>> = Rc::default();
        let slot = listener.clone();
        spawn_local(async move {
            while let Some(s) = steps.next().await {
                let told = slot.borrow_mut().as_mut().map(|log| {
                    log.steps.push(step(s).to_string());
                    (log.listener.clone(), log.steps.clone())
                });
                if let Some((listener, steps)) = told {
                    listener.emit(steps);
                }
            }
        });
        Ok(Chain { registry, listener })
    }

    /// From now on tells `listener` every step so far, as sentences, each time one happens (the
    /// component that starts a transaction listens).
    pub(crate) fn listen(&self, listener: Callback<Vec<String>>) {
        *self.listener.borrow_mut() = Some(StepLog {
            steps: Vec::new(),
            listener,
        });
    }

    /// The latest block's timestamp, Unix seconds: "now" as the contracts see it.
    pub(crate) async fn chain_time(&self) -> Result<u64, DappError> {
        Ok(self.registry.chain_time().await?)
    }

    /// `account`'s DATA, wei.
    pub(crate) async fn balance(&self, account: Address) -> Result<U256, DappError> {
        Ok(self.registry.balance(account).await?)
    }

    /// `amount` DATA wei from the token's faucet (the local chain only).
    pub(crate) async fn faucet(&self, to: Address, amount: U256) -> Result<(), DappError> {
        Ok(self.registry.faucet(to, amount).await?)
    }

    /// What `seconds` of product `id` cost now, DATA wei.
    pub(crate) async fn price_of(&self, id: u64, seconds: u64) -> Result<U256, DappError> {
        Ok(self.registry.price_of(id, seconds).await?)
    }

    /// Buys `seconds` of product `id` for `buyer`, paying at most `price`. A balance below the price is
    /// said before anything is signed. Returns the licence's new end (Unix seconds).
    pub(crate) async fn buy(
        &self,
        buyer: Address,
        id: u64,
        seconds: u64,
        price: U256,
        payment: Payment,
    ) -> Result<u64, DappError> {
        let balance = self.registry.balance(buyer).await?;
        if balance < price {
            return Err(DappError::InsufficientBalance { balance, price });
        }
        Ok(match payment {
            Payment::Permit => {
                // The permit is good for half an hour by the chain's clock.
                let deadline = self
                    .registry
                    .chain_time()
                    .await
                    .unwrap_or(js_sys::Date::now() as u64 / 1000)
                    + 1800;
                self.registry
                    .buy_with_permit(id, seconds, price, deadline)
                    .await?
            }
            Payment::ApproveThenBuy => self.registry.buy(id, seconds, price).await?,
        })
    }

    /// `buyer`'s licences to the products in `listings`, from the marketplace's purchase events (one per
    /// product, the payments added up) and each product's licence expiry.
    pub(crate) async fn licences(
        &self,
        buyer: Address,
        listings: &[Listing],
    ) -> Result<Vec<Licence>, DappError> {
        let purchases = self
            .registry
            .purchases(PurchaseFilter::by_buyer(buyer))
            .await?;
        let mut licences: Vec<Licence> = Vec::new();
        for p in &purchases {
            if let Some(l) = licences.iter_mut().find(|l| l.listing.id == p.product_id) {
                l.paid += p.price;
                continue;
            }
            let Some(listing) = listings.iter().find(|l| l.id == p.product_id) else {
                continue;
            };
            licences.push(Licence {
                listing: listing.clone(),
                expiry: self.registry.licence_expiry(p.product_id, buyer).await?,
                paid: p.price,
            });
        }
        Ok(licences)
    }

    /// The streams `owner` created.
    pub(crate) async fn streams_of(&self, owner: Address) -> Result<Vec<OwnStream>, DappError> {
        Ok(self
            .registry
            .list_streams()
            .await?
            .into_iter()
            .filter(|s| s.creator == owner)
            .map(|s| OwnStream {
                id: s.id.to_string(),
                name: s.metadata.name,
            })
            .collect())
    }

    /// Every sale of the products `ids`, oldest first.
    pub(crate) async fn sales(&self, ids: &[u64]) -> Result<Vec<Sale>, DappError> {
        Ok(self
            .registry
            .purchases(PurchaseFilter::all())
            .await?
            .into_iter()
            .filter(|p| ids.contains(&p.product_id))
            .map(|p| Sale {
                block: p.block,
                product_id: p.product_id,
                buyer: p.buyer,
                seconds: p.seconds,
                price: p.price,
            })
            .collect())
    }

    /// Creates the stream `<account>/<path>`; returns its id.
    pub(crate) async fn create_stream(&self, stream: &NewStream) -> Result<String, DappError> {
        let id = self
            .registry
            .create_stream(&stream.path, &StreamMetadata::parse(&stream.metadata()))
            .await?;
        Ok(id.to_string())
    }

    /// Asks the network coordinator to store `stream`'s `partitions` for `retention_days` (0: for good)
    /// at the network's default replication; the replicas it will keep, or `None` when the deployment
    /// has no coordinator.
    pub(crate) async fn request_storage(
        &self,
        stream: &str,
        partitions: u32,
        retention_days: u32,
    ) -> Result<Option<u8>, DappError> {
        let coordinator = match self.registry.coordinator() {
            Ok(c) => c,
            Err(ContractsError::NoCoordinator) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let stream: StreamId = stream
            .parse()
            .map_err(|e| DappError::Network(format!("{stream}: {e}")))?;
        coordinator
            .request_storage(
                &stream,
                partitions,
                0,
                Some(u64::from(retention_days) * 86_400),
            )
            .await?;
        Ok(coordinator
            .storage_of(&stream)
            .await?
            .map(|s| s.replication))
    }

    /// Lets a device key publish to one of the account's streams.
    pub(crate) async fn grant_publish(&self, grant: &DeviceGrant) -> Result<(), DappError> {
        Ok(self
            .registry
            .grant(
                &grant.stream,
                to_alloy(grant.device),
                PermissionKind::Publish,
            )
            .await?)
    }

    /// Lists a product; returns its id. The marketplace grants licences, so it is given grant
    /// permission on each stream first (where it has none).
    pub(crate) async fn list_product(&self, product: NewProduct) -> Result<u64, DappError> {
        let market = self.registry.deployment().marketplace;
        for id in &product.streams {
            if !self
                .registry
                .has_direct_permission(id, market, PermissionKind::Grant)
                .await?
            {
                self.registry
                    .grant(id, market, PermissionKind::Grant)
                    .await?;
            }
        }
        let beneficiary = match product.beneficiary {
            Some(b) => b,
            None => self.registry.sender().ok_or(ContractsError::NoSender)?,
        };
        Ok(self
            .registry
            .create_product(&rivulet_contracts::NewProduct {
                streams: product.streams,
                beneficiary,
                price_per_second: product.price_per_second,
                minimum_seconds: product.minimum_seconds,
                metadata: product.metadata,
                terms_uri: product.terms_uri,
                terms_hash: B256::ZERO,
            })
            .await?)
    }

    /// Resumes (`active`) or pauses sales of product `id`.
    pub(crate) async fn set_on_sale(&self, id: u64, active: bool) -> Result<(), DappError> {
        Ok(self.registry.set_product_active(id, active).await?)
    }

    /// Sets product `id`'s price, DATA wei per second.
    pub(crate) async fn set_price(&self, id: u64, price_per_second: U256) -> Result<(), DappError> {
        Ok(self
            .registry
            .set_product_price(id, price_per_second)
            .await?)
    }
}

#[cfg(test)]
mod tests {
    //! The client's errors and steps as the pages show them (run in Chromium with the components' tests).

    use rivulet_contracts::{
        Revert,
        bindings::{Marketplace, Marketplace::MarketplaceErrors},
    };
    use wasm_bindgen_test::wasm_bindgen_test;

    use super::*;

    #[wasm_bindgen_test]
    fn client_errors_become_typed_errors() {
        let rejected = ContractsError::Rpc {
            code: 4001,
            message: "User rejected".into(),
            data: None,
        };
        assert_eq!(DappError::from(rejected), DappError::Rejected);
        let paused = ContractsError::Reverted(Revert::Marketplace(
            MarketplaceErrors::ProductIsPaused(Marketplace::ProductIsPaused {
                productId: U256::from(3u64),
            }),
        ));
        assert_eq!(
            DappError::from(paused),
            DappError::Reverted {
                name: "ProductIsPaused".into(),
                reason: "ProductIsPaused: product 3 is paused".into()
            }
        );
        let wrong = ContractsError::WrongChain {
            expected: 31337,
            actual: 1,
        };
        assert_eq!(
            DappError::from(wrong),
            DappError::WrongChain {
                expected: 31337,
                actual: 1
            }
        );
        let other = ContractsError::Rpc {
            code: -32000,
            message: "nonce too low".into(),
            data: None,
        };
        assert_eq!(
            DappError::from(other).to_string(),
            "JSON-RPC error -32000: nonce too low."
        );
    }

    #[wasm_bindgen_test]
    fn steps_read_as_sentences() {
        let confirmed = step(TxStep::Confirmed {
            what: "buyWithPermit".into(),
            hash: "0x00".into(),
            block: 7,
        });
        assert_eq!(confirmed.to_string(), "Confirmed in block 7: the purchase.");
        assert!(
            step(TxStep::SignatureRequested {
                what: "permit".into()
            })
            .to_string()
            .contains("wallet")
        );
    }
}
