//! The marketplace and the DATA token: products (list, read, create, price, pause), licences (price,
//! expiry, buying by approve-then-buy or by one transaction with an EIP-2612 permit), purchases from
//! events, balances and the local chain's faucet. Allowances and permits are in `token`.

use std::collections::HashMap;

use alloy_primitives::{Address, B256, U256};
use alloy_sol_types::{SolCall, SolEvent};
use serde_json::{Value, json};

use crate::{
    Contracts, ContractsError, NewProduct, Product, Purchase, PurchaseFilter,
    bindings::{DataToken, Marketplace},
    token,
};

impl Contracts {
    // ---- products ----

    /// Lists a product (the seller and the marketplace must both hold grant permission on every
    /// stream); returns its id, from the receipt's `ProductCreated` event.
    pub async fn create_product(&self, product: &NewProduct) -> Result<u64, ContractsError> {
        let receipt = self
            .chain()
            .send(
                self.deployment().marketplace,
                Marketplace::createProductCall {
                    streams: product.streams.iter().map(|s| s.to_string()).collect(),
                    beneficiary: product.beneficiary,
                    pricePerSecond: product.price_per_second,
                    minimumSeconds: product.minimum_seconds,
                    metadata: product.metadata.clone(),
                    termsUri: product.terms_uri.clone(),
                    termsHash: product.terms_hash,
                },
            )
            .await?;
        receipt
            .logs()?
            .iter()
            .filter(|log| log.address == self.deployment().marketplace)
            .find_map(|log| log.decode::<Marketplace::ProductCreated>())
            .map(|e| e.productId.saturating_to())
            .ok_or_else(|| ContractsError::Rpc {
                code: -32603,
                message: format!(
                    "the receipt of transaction {} has no ProductCreated event",
                    receipt.hash
                ),
                data: None,
            })
    }

    /// A product.
    pub async fn get_product(&self, id: u64) -> Result<Product, ContractsError> {
        let p = self
            .call_market(Marketplace::getProductCall {
                productId: U256::from(id),
            })
            .await?;
        Ok(Product {
            id,
            owner: p.owner,
            beneficiary: p.beneficiary,
            price_per_second: p.pricePerSecond,
            minimum_seconds: p.minimumSeconds,
            active: p.active,
            metadata: p.metadata,
            terms_uri: p.termsUri,
            terms_hash: p.termsHash,
            streams: p.streams,
        })
    }

    /// Every product, in id order.
    pub async fn list_products(&self) -> Result<Vec<Product>, ContractsError> {
        let count: u64 = self
            .call_market(Marketplace::productCountCall {})
            .await?
            .saturating_to();
        let mut out = Vec::with_capacity(count.min(1024) as usize);
        for id in 1..=count {
            out.push(self.get_product(id).await?);
        }
        Ok(out)
    }

    /// Pauses (`false`) or resumes (`true`) sales of a product (its owner only).
    pub async fn set_product_active(&self, id: u64, active: bool) -> Result<(), ContractsError> {
        let product_id = U256::from(id);
        if active {
            self.send_market(Marketplace::resumeProductCall {
                productId: product_id,
            })
            .await
        } else {
            self.send_market(Marketplace::pauseProductCall {
                productId: product_id,
            })
            .await
        }
    }

    /// Changes a product's price (its owner only).
    pub async fn set_product_price(
        &self,
        id: u64,
        price_per_second: U256,
    ) -> Result<(), ContractsError> {
        self.send_market(Marketplace::setPriceCall {
            productId: U256::from(id),
            pricePerSecond: price_per_second,
        })
        .await
    }

    // ---- licences ----

    /// The price of `seconds` of a product, DATA wei.
    pub async fn price_of(&self, id: u64, seconds: u64) -> Result<U256, ContractsError> {
        self.call_market(Marketplace::priceOfCall {
            productId: U256::from(id),
            seconds_: seconds,
        })
        .await
    }

    /// When `buyer`'s licence to a product ends (0: never bought), Unix seconds.
    pub async fn licence_expiry(&self, id: u64, buyer: Address) -> Result<u64, ContractsError> {
        self.call_market(Marketplace::licenceExpiryCall {
            productId: U256::from(id),
            buyer,
        })
        .await
    }

    /// Buys `seconds` of a product in two transactions: approve (when the allowance is short of the
    /// price), then buy, paying at most `max_price` (the price the buyer was shown; the purchase
    /// reverts with `PriceAboveMaximum` if the seller raised it). Returns the licence's new end.
    pub async fn buy(&self, id: u64, seconds: u64, max_price: U256) -> Result<u64, ContractsError> {
        let buyer = self.chain().require_sender()?;
        let marketplace = self.deployment().marketplace;
        let price = self.price_of(id, seconds).await?.min(max_price);
        token::ensure_allowance(
            self.chain(),
            self.deployment().data_token,
            marketplace,
            price,
        )
        .await?;
        self.send_market(Marketplace::buyCall {
            productId: U256::from(id),
            seconds_: seconds,
            maxPrice: max_price,
        })
        .await?;
        self.licence_expiry(id, buyer).await
    }

    /// Buys `seconds` of a product in one transaction, with an EIP-2612 permit for `max_price` signed by
    /// the key or the wallet (valid until `deadline`, Unix seconds). Pays the current price if it is at
    /// most `max_price`. Returns the licence's new end.
    pub async fn buy_with_permit(
        &self,
        id: u64,
        seconds: u64,
        max_price: U256,
        deadline: u64,
    ) -> Result<u64, ContractsError> {
        let buyer = self.chain().require_sender()?;
        let signature = self
            .sign_permit(self.deployment().marketplace, max_price, deadline)
            .await?;
        let (v, r, s) = token::split_signature(&signature);
        self.send_market(Marketplace::buyWithPermitCall {
            productId: U256::from(id),
            seconds_: seconds,
            maxPrice: max_price,
            deadline: U256::from(deadline),
            v,
            r,
            s,
        })
        .await?;
        self.licence_expiry(id, buyer).await
    }

    /// The sender's permit for `spender` to take `value` DATA wei until `deadline` (Unix seconds),
    /// signed by the key or the wallet: 65 bytes, `r ‖ s ‖ v`. The EIP-712 domain is the one the token
    /// states (ERC-5267), not an assumed one.
    pub async fn sign_permit(
        &self,
        spender: Address,
        value: U256,
        deadline: u64,
    ) -> Result<[u8; 65], ContractsError> {
        token::sign_permit(
            self.chain(),
            self.deployment().data_token,
            spender,
            value,
            deadline,
        )
        .await
    }

    /// Purchases from the marketplace's events, in block order, that match `filter`.
    pub async fn purchases(&self, filter: PurchaseFilter) -> Result<Vec<Purchase>, ContractsError> {
        let head = self.block_number().await?;
        // The buyer is an indexed topic: the node filters. The seller (a product's owner) is not in the
        // event: each product's owner is read once.
        let logs = self
            .chain()
            .logs(
                self.deployment().marketplace,
                json!([
                    Marketplace::Purchased::SIGNATURE_HASH.to_string(),
                    Value::Null,
                    filter
                        .buyer
                        .map(|b| B256::left_padding_from(b.as_slice()).to_string()),
                ]),
                self.deployment().start_block,
                head,
            )
            .await?;
        let mut owners: HashMap<u64, Address> = HashMap::new();
        let mut out = Vec::new();
        for log in &logs {
            let Some(e) = log.decode::<Marketplace::Purchased>() else {
                continue;
            };
            let product_id: u64 = e.productId.saturating_to();
            if let Some(seller) = filter.seller {
                let owner = match owners.get(&product_id) {
                    Some(owner) => *owner,
                    None => {
                        let owner = self.get_product(product_id).await?.owner;
                        owners.insert(product_id, owner);
                        owner
                    }
                };
                if owner != seller {
                    continue;
                }
            }
            out.push(Purchase {
                product_id,
                buyer: e.buyer,
                beneficiary: e.beneficiary,
                seconds: e.seconds_,
                price: e.price,
                fee: e.fee,
                expiry: e.expiry,
                block: log.block(),
            });
        }
        Ok(out)
    }

    // ---- the token ----

    /// DATA wei held by `account`.
    pub async fn balance(&self, account: Address) -> Result<U256, ContractsError> {
        self.call_token(DataToken::balanceOfCall { account }).await
    }

    /// Mints DATA to `to` (the local development chain only: elsewhere `FaucetDisabled`).
    pub async fn faucet(&self, to: Address, amount: U256) -> Result<(), ContractsError> {
        self.send_token(DataToken::faucetCall { to, amount }).await
    }

    async fn call_market<C: SolCall>(&self, call: C) -> Result<C::Return, ContractsError> {
        self.chain().call(self.deployment().marketplace, call).await
    }

    async fn send_market<C: SolCall>(&self, call: C) -> Result<(), ContractsError> {
        self.chain()
            .send(self.deployment().marketplace, call)
            .await
            .map(drop)
    }

    async fn call_token<C: SolCall>(&self, call: C) -> Result<C::Return, ContractsError> {
        self.chain().call(self.deployment().data_token, call).await
    }

    async fn send_token<C: SolCall>(&self, call: C) -> Result<(), ContractsError> {
        self.chain()
            .send(self.deployment().data_token, call)
            .await
            .map(drop)
    }
}
