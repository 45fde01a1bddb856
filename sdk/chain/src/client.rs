//! `ChainClient`: typed access to the registry, the marketplace and the token for one deployment.

use alloy::{
    primitives::{Address, U256},
    providers::{DynProvider, Provider},
    rpc::types::{Filter, Log},
    signers::{Signer, local::PrivateKeySigner},
    sol,
    sol_types::{SolEvent, SolStruct, eip712_domain},
};
use rivulet_protocol::StreamId;

use crate::{
    ChainError, Deployment,
    bindings::{
        DataToken::{self, DataTokenInstance},
        Marketplace::{self, MarketplaceInstance},
        StreamRegistry::{self, StreamRegistryInstance},
    },
    http_provider,
    types::{
        NewProduct, PermissionKind, Permissions, Product, Purchase, StreamInfo, StreamMetadata,
    },
};

sol! {
    /// The EIP-2612 permit DATA accepts.
    struct Permit { address owner; address spender; uint256 value; uint256 nonce; uint256 deadline; }
}

/// Blocks per `eth_getLogs` request.
pub const LOG_PAGE_BLOCKS: u64 = 5_000;

/// A change the registry announced, in block order.
#[derive(Clone, Debug, PartialEq)]
pub enum RegistryEvent {
    /// A stream was created.
    Created {
        /// The stream.
        id: String,
        /// Its metadata JSON.
        metadata: String,
        /// Its creator.
        creator: Address,
    },
    /// A stream's metadata changed.
    Updated {
        /// The stream.
        id: String,
        /// The new metadata JSON.
        metadata: String,
    },
    /// A stream was deleted (with all its permissions).
    Deleted {
        /// The stream.
        id: String,
    },
    /// An address's permissions on a stream were set.
    Permission {
        /// The stream.
        id: String,
        /// Whose permissions (the zero address: everyone).
        user: Address,
        /// The permissions now.
        permissions: Permissions,
    },
}

/// Typed access to one deployment's contracts through one provider.
#[derive(Clone, Debug)]
pub struct ChainClient {
    provider: DynProvider,
    deployment: Deployment,
    sender: Option<Address>,
}

impl ChainClient {
    /// Connects over HTTP JSON-RPC (`url`, or the deployment's own) and checks that the endpoint serves the
    /// deployment's chain and that every contract has code there. `signer` sends transactions; without it
    /// the client only reads.
    pub async fn connect(
        deployment: Deployment,
        url: Option<&str>,
        signer: Option<PrivateKeySigner>,
    ) -> Result<ChainClient, ChainError> {
        let url = url.unwrap_or(&deployment.rpc_url).to_owned();
        let sender = signer.as_ref().map(|s| s.address());
        let client = ChainClient {
            provider: http_provider(&url, signer)?,
            deployment,
            sender,
        };
        client.check().await?;
        Ok(client)
    }

    /// Wraps any provider (a browser wallet's, a test's) without checks; call [`ChainClient::check`].
    pub fn new(
        provider: DynProvider,
        deployment: Deployment,
        sender: Option<Address>,
    ) -> ChainClient {
        ChainClient {
            provider,
            deployment,
            sender,
        }
    }

    /// Checks the chain id and that the contracts have code.
    pub async fn check(&self) -> Result<(), ChainError> {
        let actual = self
            .provider
            .get_chain_id()
            .await
            .map_err(ChainError::rpc)?;
        if actual != self.deployment.chain_id {
            return Err(ChainError::WrongChain {
                expected: self.deployment.chain_id,
                actual,
            });
        }
        for (name, address) in [
            ("DataToken", self.deployment.data_token),
            ("StreamRegistry", self.deployment.stream_registry),
            ("Marketplace", self.deployment.marketplace),
        ] {
            let code = self
                .provider
                .get_code_at(address)
                .await
                .map_err(ChainError::rpc)?;
            if code.is_empty() {
                return Err(ChainError::NoCode { name, address });
            }
        }
        Ok(())
    }

    /// The deployment.
    pub fn deployment(&self) -> &Deployment {
        &self.deployment
    }

    /// The provider.
    pub fn provider(&self) -> &DynProvider {
        &self.provider
    }

    /// The address transactions are sent from.
    pub fn sender(&self) -> Result<Address, ChainError> {
        self.sender
            .ok_or_else(|| ChainError::Config("this client has no signer; it can only read".into()))
    }

    fn registry(&self) -> StreamRegistryInstance<DynProvider> {
        StreamRegistry::new(self.deployment.stream_registry, self.provider.clone())
    }

    fn marketplace(&self) -> MarketplaceInstance<DynProvider> {
        Marketplace::new(self.deployment.marketplace, self.provider.clone())
    }

    fn token(&self) -> DataTokenInstance<DynProvider> {
        DataToken::new(self.deployment.data_token, self.provider.clone())
    }

    /// The latest block number.
    pub async fn block_number(&self) -> Result<u64, ChainError> {
        self.provider
            .get_block_number()
            .await
            .map_err(ChainError::rpc)
    }

    /// The chain's latest block timestamp (Unix seconds): "now" as the contracts see it.
    pub async fn chain_time(&self) -> Result<u64, ChainError> {
        let block = self
            .provider
            .get_block_by_number(Default::default())
            .await
            .map_err(ChainError::rpc)?
            .ok_or_else(|| ChainError::Rpc("the node returned no latest block".into()))?;
        Ok(block.header.timestamp)
    }

    // ---- streams ----

    /// Creates `<sender>/<path>`; returns its id.
    pub async fn create_stream(
        &self,
        path: &str,
        metadata: &StreamMetadata,
    ) -> Result<StreamId, ChainError> {
        metadata.validate()?;
        let id = StreamId::from_parts(crate::types::from_alloy(self.sender()?), path)
            .map_err(|e| ChainError::Config(e.to_string()))?;
        send(
            self.registry()
                .createStream(id.path().to_owned(), metadata.to_json()),
        )
        .await?;
        Ok(id)
    }

    /// Replaces a stream's metadata (needs edit).
    pub async fn update_stream_metadata(
        &self,
        id: &StreamId,
        metadata: &StreamMetadata,
    ) -> Result<(), ChainError> {
        metadata.validate()?;
        send(
            self.registry()
                .updateStreamMetadata(id.to_string(), metadata.to_json()),
        )
        .await
    }

    /// Deletes a stream (needs delete).
    pub async fn delete_stream(&self, id: &StreamId) -> Result<(), ChainError> {
        send(self.registry().deleteStream(id.to_string())).await
    }

    /// A stream, or `None` if it does not exist.
    pub async fn get_stream(&self, id: &StreamId) -> Result<Option<StreamInfo>, ChainError> {
        let registry = self.registry();
        if !registry
            .exists(id.to_string())
            .call()
            .await
            .map_err(ChainError::contract)?
        {
            return Ok(None);
        }
        let s = registry
            .getStream(id.to_string())
            .call()
            .await
            .map_err(ChainError::contract)?;
        Ok(Some(StreamInfo {
            id: id.clone(),
            metadata: StreamMetadata::parse(&s.metadata),
            creator: s.creator,
            created_at: s.createdAt,
        }))
    }

    /// The registry's events in blocks `from_block..=to_block` (to the latest block when `None`), in order,
    /// and the last block read.
    pub async fn registry_events(
        &self,
        from_block: u64,
        to_block: Option<u64>,
    ) -> Result<(Vec<RegistryEvent>, u64), ChainError> {
        let to = match to_block {
            Some(b) => b,
            None => self
                .provider
                .get_block_number()
                .await
                .map_err(ChainError::rpc)?,
        };
        let mut events = Vec::new();
        // Public JSON-RPC providers cap eth_getLogs ranges: ask in pages.
        let mut start = from_block;
        while start <= to {
            let end = to.min(start.saturating_add(LOG_PAGE_BLOCKS - 1));
            let filter = Filter::new()
                .address(self.deployment.stream_registry)
                .from_block(start)
                .to_block(end);
            let logs = self
                .provider
                .get_logs(&filter)
                .await
                .map_err(ChainError::rpc)?;
            events.extend(logs.iter().filter_map(decode_registry_log));
            start = end + 1;
        }
        Ok((events, to))
    }

    /// Every existing stream, from the registry's events.
    pub async fn list_streams(&self) -> Result<Vec<StreamInfo>, ChainError> {
        let (events, _) = self
            .registry_events(self.deployment.start_block, None)
            .await?;
        let mut streams: Vec<(String, String, Address)> = Vec::new();
        for event in events {
            match event {
                RegistryEvent::Created {
                    id,
                    metadata,
                    creator,
                } => {
                    streams.retain(|(s, _, _)| *s != id);
                    streams.push((id, metadata, creator));
                }
                RegistryEvent::Updated { id, metadata } => {
                    if let Some(s) = streams.iter_mut().find(|(s, _, _)| *s == id) {
                        s.1 = metadata;
                    }
                }
                RegistryEvent::Deleted { id } => streams.retain(|(s, _, _)| *s != id),
                RegistryEvent::Permission { .. } => {}
            }
        }
        let mut out = Vec::with_capacity(streams.len());
        for (id, _, _) in streams {
            let Ok(id) = id.parse::<StreamId>() else {
                continue;
            };
            if let Some(info) = self.get_stream(&id).await? {
                out.push(info);
            }
        }
        Ok(out)
    }

    /// Streams whose id, name or description contains `query` (case-insensitive).
    pub async fn search_streams(&self, query: &str) -> Result<Vec<StreamInfo>, ChainError> {
        let q = query.to_lowercase();
        Ok(self
            .list_streams()
            .await?
            .into_iter()
            .filter(|s| {
                s.id.as_str().to_lowercase().contains(&q)
                    || s.metadata.name.to_lowercase().contains(&q)
                    || s.metadata.description.to_lowercase().contains(&q)
            })
            .collect())
    }

    // ---- permissions ----

    /// What `user` holds directly on a stream.
    pub async fn get_permissions(
        &self,
        id: &StreamId,
        user: Address,
    ) -> Result<Permissions, ChainError> {
        let p = self
            .registry()
            .getPermissionsForUser(id.to_string(), user)
            .call()
            .await
            .map_err(ChainError::contract)?;
        Ok(p.into())
    }

    /// Sets all of `user`'s permissions (needs grant).
    pub async fn set_permissions(
        &self,
        id: &StreamId,
        user: Address,
        permissions: Permissions,
    ) -> Result<(), ChainError> {
        send(
            self.registry()
                .setPermissions(id.to_string(), user, permissions.into()),
        )
        .await
    }

    /// Grants `kind` (publish and subscribe without expiry). `Address::ZERO` grants to everyone.
    pub async fn grant(
        &self,
        id: &StreamId,
        user: Address,
        kind: PermissionKind,
    ) -> Result<(), ChainError> {
        if user == Address::ZERO {
            send(
                self.registry()
                    .grantPublicPermission(id.to_string(), kind.as_u8()),
            )
            .await
        } else {
            send(
                self.registry()
                    .grantPermission(id.to_string(), user, kind.as_u8()),
            )
            .await
        }
    }

    /// Grants publish or subscribe until Unix time `until`.
    pub async fn grant_until(
        &self,
        id: &StreamId,
        user: Address,
        kind: PermissionKind,
        until: u64,
    ) -> Result<(), ChainError> {
        send(
            self.registry()
                .setExpirationTime(id.to_string(), user, kind.as_u8(), until),
        )
        .await
    }

    /// Revokes `kind` from `user`.
    pub async fn revoke(
        &self,
        id: &StreamId,
        user: Address,
        kind: PermissionKind,
    ) -> Result<(), ChainError> {
        send(
            self.registry()
                .revokePermission(id.to_string(), user, kind.as_u8()),
        )
        .await
    }

    /// Whether `user` holds `kind` (directly or publicly) at Unix time `at`, or now when `at` is `None`.
    pub async fn has_permission(
        &self,
        id: &StreamId,
        user: Address,
        kind: PermissionKind,
        at: Option<u64>,
    ) -> Result<bool, ChainError> {
        let Some(at) = at else {
            return self
                .registry()
                .hasPermission(id.to_string(), user, kind.as_u8())
                .call()
                .await
                .map_err(ChainError::contract);
        };
        if !self
            .registry()
            .exists(id.to_string())
            .call()
            .await
            .map_err(ChainError::contract)?
        {
            return Ok(false);
        }
        if self.get_permissions(id, user).await?.allows(kind, at) {
            return Ok(true);
        }
        Ok(
            matches!(kind, PermissionKind::Publish | PermissionKind::Subscribe)
                && self
                    .get_permissions(id, Address::ZERO)
                    .await?
                    .allows(kind, at),
        )
    }

    // ---- marketplace ----

    /// Lists a product; returns its id.
    pub async fn create_product(&self, product: &NewProduct) -> Result<u64, ChainError> {
        let market = self.marketplace();
        let call = market.createProduct(
            product.streams.iter().map(|s| s.to_string()).collect(),
            product.beneficiary,
            product.price_per_second,
            product.minimum_seconds,
            product.metadata.clone(),
            product.terms_uri.clone(),
            product.terms_hash,
        );
        let receipt = call
            .send()
            .await
            .map_err(ChainError::contract)?
            .get_receipt()
            .await
            .map_err(ChainError::pending)?;
        check_status(&receipt)?;
        receipt
            .inner
            .logs()
            .iter()
            .find_map(|log| Marketplace::ProductCreated::decode_log(&log.inner).ok())
            .map(|e| e.productId.saturating_to())
            .ok_or_else(|| ChainError::Rpc("the receipt has no ProductCreated event".into()))
    }

    /// A product.
    pub async fn get_product(&self, id: u64) -> Result<Product, ChainError> {
        let p = self
            .marketplace()
            .getProduct(U256::from(id))
            .call()
            .await
            .map_err(ChainError::contract)?;
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

    /// Every product, by id.
    pub async fn list_products(&self) -> Result<Vec<Product>, ChainError> {
        let count: u64 = self
            .marketplace()
            .productCount()
            .call()
            .await
            .map_err(ChainError::contract)?
            .saturating_to();
        let mut out = Vec::with_capacity(count as usize);
        for id in 1..=count {
            out.push(self.get_product(id).await?);
        }
        Ok(out)
    }

    /// Pauses or resumes sales of a product (owner only).
    pub async fn set_product_active(&self, id: u64, active: bool) -> Result<(), ChainError> {
        if active {
            send(self.marketplace().resumeProduct(U256::from(id))).await
        } else {
            send(self.marketplace().pauseProduct(U256::from(id))).await
        }
    }

    /// Changes a product's price (owner only).
    pub async fn set_product_price(
        &self,
        id: u64,
        price_per_second: U256,
    ) -> Result<(), ChainError> {
        send(
            self.marketplace()
                .setPrice(U256::from(id), price_per_second),
        )
        .await
    }

    /// The price of `seconds` of a product.
    pub async fn price_of(&self, id: u64, seconds: u64) -> Result<U256, ChainError> {
        self.marketplace()
            .priceOf(U256::from(id), seconds)
            .call()
            .await
            .map_err(ChainError::contract)
    }

    /// Buys `seconds` of a product the two-transaction way: approve (when the allowance is short), then buy,
    /// paying at most `max_price` (the price the buyer was shown; the purchase reverts with
    /// `PriceAboveMaximum` if the seller raised it). Returns the new licence expiry.
    pub async fn buy(&self, id: u64, seconds: u64, max_price: U256) -> Result<u64, ChainError> {
        let sender = self.sender()?;
        let price = self.price_of(id, seconds).await?.min(max_price);
        let allowance = self
            .token()
            .allowance(sender, self.deployment.marketplace)
            .call()
            .await
            .map_err(ChainError::contract)?;
        if allowance < price {
            send(self.token().approve(self.deployment.marketplace, price)).await?;
        }
        send(self.marketplace().buy(U256::from(id), seconds, max_price)).await?;
        self.licence_expiry(id, sender).await
    }

    /// Buys in one transaction with an EIP-2612 permit for `max_price`, signed by `signer` (who must be the
    /// sender). Pays the current price if it is at most `max_price`.
    pub async fn buy_with_permit(
        &self,
        id: u64,
        seconds: u64,
        max_price: U256,
        signer: &PrivateKeySigner,
    ) -> Result<u64, ChainError> {
        let owner = signer.address();
        let nonce = self
            .token()
            .nonces(owner)
            .call()
            .await
            .map_err(ChainError::contract)?;
        let deadline = U256::from(self.chain_time().await? + 3600);
        let domain = eip712_domain! {
            name: "Rivulet DATA",
            version: "1",
            chain_id: self.deployment.chain_id,
            verifying_contract: self.deployment.data_token,
        };
        let permit = Permit {
            owner,
            spender: self.deployment.marketplace,
            value: max_price,
            nonce,
            deadline,
        };
        let sig = signer
            .sign_hash(&permit.eip712_signing_hash(&domain))
            .await
            .map_err(|e| ChainError::Config(format!("cannot sign the permit: {e}")))?;
        let v = 27 + u8::from(sig.v());
        send(self.marketplace().buyWithPermit(
            U256::from(id),
            seconds,
            max_price,
            deadline,
            v,
            sig.r().into(),
            sig.s().into(),
        ))
        .await?;
        self.licence_expiry(id, owner).await
    }

    /// When `buyer`'s licence to a product ends (0: never bought).
    pub async fn licence_expiry(&self, id: u64, buyer: Address) -> Result<u64, ChainError> {
        self.marketplace()
            .licenceExpiry(U256::from(id), buyer)
            .call()
            .await
            .map_err(ChainError::contract)
    }

    /// Purchases from the marketplace's events, optionally only of products owned by `seller`.
    pub async fn purchases(&self, seller: Option<Address>) -> Result<Vec<Purchase>, ChainError> {
        let filter = Filter::new()
            .address(self.deployment.marketplace)
            .event_signature(Marketplace::Purchased::SIGNATURE_HASH)
            .from_block(self.deployment.start_block);
        let logs = self
            .provider
            .get_logs(&filter)
            .await
            .map_err(ChainError::rpc)?;
        let mut out = Vec::new();
        let mut owners: std::collections::HashMap<u64, Address> = std::collections::HashMap::new();
        for log in logs {
            let Ok(e) = Marketplace::Purchased::decode_log(&log.inner) else {
                continue;
            };
            let product_id: u64 = e.productId.saturating_to();
            if let Some(seller) = seller {
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
                block: log.block_number.unwrap_or_default(),
            });
        }
        Ok(out)
    }

    // ---- token ----

    /// DATA balance (wei).
    pub async fn balance(&self, account: Address) -> Result<U256, ChainError> {
        self.token()
            .balanceOf(account)
            .call()
            .await
            .map_err(ChainError::contract)
    }

    /// Mints test DATA on the local chain.
    pub async fn faucet(&self, to: Address, amount: U256) -> Result<(), ChainError> {
        send(self.token().faucet(to, amount)).await
    }
}

fn decode_registry_log(log: &Log) -> Option<RegistryEvent> {
    let inner = &log.inner;
    if let Ok(e) = StreamRegistry::StreamCreated::decode_log(inner) {
        return Some(RegistryEvent::Created {
            id: e.streamId.clone(),
            metadata: e.metadata.clone(),
            creator: e.creator,
        });
    }
    if let Ok(e) = StreamRegistry::StreamUpdated::decode_log(inner) {
        return Some(RegistryEvent::Updated {
            id: e.streamId.clone(),
            metadata: e.metadata.clone(),
        });
    }
    if let Ok(e) = StreamRegistry::StreamDeleted::decode_log(inner) {
        return Some(RegistryEvent::Deleted {
            id: e.streamId.clone(),
        });
    }
    if let Ok(e) = StreamRegistry::PermissionUpdated::decode_log(inner) {
        return Some(RegistryEvent::Permission {
            id: e.streamId.clone(),
            user: e.user,
            permissions: Permissions {
                edit: e.canEdit,
                delete: e.canDelete,
                publish_until: e.publishExpiration,
                subscribe_until: e.subscribeExpiration,
                grant: e.canGrant,
            },
        });
    }
    None
}

fn check_status(receipt: &alloy::rpc::types::TransactionReceipt) -> Result<(), ChainError> {
    if receipt.status() {
        Ok(())
    } else {
        Err(ChainError::Revert {
            reason: format!("transaction {} reverted", receipt.transaction_hash),
        })
    }
}

/// Sends a contract call and waits for a successful receipt.
async fn send<C>(call: alloy::contract::CallBuilder<&DynProvider, C>) -> Result<(), ChainError>
where
    C: alloy::contract::CallDecoder,
{
    let receipt = call
        .send()
        .await
        .map_err(ChainError::contract)?
        .get_receipt()
        .await
        .map_err(ChainError::pending)?;
    check_status(&receipt)
}
