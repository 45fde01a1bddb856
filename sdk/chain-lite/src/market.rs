//! The marketplace and the DATA token over the same bare JSON-RPC: products (list, read, create, price,
//! pause), licences (price, expiry, buying by approve-then-buy or by one transaction with an EIP-2612
//! permit), purchases from events, balances and the local chain's faucet.
//!
//! A permit is EIP-712 typed data. With a key it is hashed and signed here; with a wallet it goes to
//! `eth_signTypedData_v4` as the standard JSON, so the wallet shows the user what they sign.

use alloy_primitives::{Address, B256, U256};
use alloy_sol_types::{Eip712Domain, SolEvent, SolInterface, SolStruct, sol};
use serde_json::{Value, json};

use crate::{LiteError, Registry, Sender, decode_hex, tx};

sol! {
    /// The marketplace calls and events the SDK uses (see contracts/src/Marketplace.sol).
    interface Marketplace {
        struct Product {
            address owner;
            address beneficiary;
            uint256 pricePerSecond;
            uint64 minimumSeconds;
            bool active;
            string metadata;
            string termsUri;
            bytes32 termsHash;
            string[] streams;
        }

        function productCount() external view returns (uint256);
        function getProduct(uint256 productId) external view returns (Product memory);
        function priceOf(uint256 productId, uint64 seconds_) external view returns (uint256);
        function licenceExpiry(uint256 productId, address buyer) external view returns (uint64);
        function createProduct(string[] streams, address beneficiary, uint256 pricePerSecond, uint64 minimumSeconds, string metadata, string termsUri, bytes32 termsHash) external returns (uint256 productId);
        function setPrice(uint256 productId, uint256 pricePerSecond) external;
        function pauseProduct(uint256 productId) external;
        function resumeProduct(uint256 productId) external;
        function buy(uint256 productId, uint64 seconds_, uint256 maxPrice) external returns (uint64 expiry);
        function buyWithPermit(uint256 productId, uint64 seconds_, uint256 maxPrice, uint256 deadline, uint8 v, bytes32 r, bytes32 s) external returns (uint64 expiry);

        event Purchased(uint256 indexed productId, address indexed buyer, address indexed beneficiary, uint64 seconds_, uint256 price, uint256 fee, uint64 expiry);

        error ProductNotFound(uint256 productId);
        error NotProductOwner(uint256 productId, address caller);
        error ProductIsPaused(uint256 productId);
        error PeriodTooShort(uint64 seconds_, uint64 minimumSeconds);
        error NoStreams();
        error TooManyStreams(uint256 count);
        error ZeroBeneficiary();
        error ZeroMinimumPeriod();
        error StreamNotFound(string streamId);
        error SellerCannotGrant(string streamId, address seller);
        error MarketplaceCannotGrant(string streamId);
        error PriceAboveMaximum(uint256 price, uint256 maxPrice);
        error PeriodTooLong(uint64 seconds_);
    }

    /// The DATA token calls the SDK uses (ERC-20, EIP-2612, ERC-5267, the local faucet).
    interface DataToken {
        function balanceOf(address account) external view returns (uint256);
        function allowance(address owner, address spender) external view returns (uint256);
        function approve(address spender, uint256 value) external returns (bool);
        function nonces(address owner) external view returns (uint256);
        function eip712Domain() external view returns (bytes1 fields, string name, string version, uint256 chainId, address verifyingContract, bytes32 salt, uint256[] extensions);
        function faucet(address to, uint256 amount) external;

        error ERC20InsufficientBalance(address sender, uint256 balance, uint256 needed);
        error ERC20InsufficientAllowance(address spender, uint256 allowance, uint256 needed);
        error ERC2612ExpiredSignature(uint256 deadline);
        error ERC2612InvalidSigner(address signer, address owner);
        error FaucetDisabled(uint256 chainId);
    }

    /// EIP-2612's permit, as EIP-712 typed data.
    struct Permit {
        address owner;
        address spender;
        uint256 value;
        uint256 nonce;
        uint256 deadline;
    }
}

/// A product, as the marketplace holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Product {
    /// Its id (from 1).
    pub id: u64,
    /// The seller.
    pub owner: Address,
    /// Who is paid.
    pub beneficiary: Address,
    /// DATA wei per second of licence.
    pub price_per_second: U256,
    /// The shortest licence sold, seconds.
    pub minimum_seconds: u64,
    /// On sale (not paused).
    pub active: bool,
    /// Name, description, category... (JSON).
    pub metadata: String,
    /// Where the terms are.
    pub terms_uri: String,
    /// The streams a licence covers.
    pub streams: Vec<String>,
}

/// A purchase, from the marketplace's events.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Purchase {
    /// The product.
    pub product_id: u64,
    /// Who bought.
    pub buyer: Address,
    /// Who was paid.
    pub beneficiary: Address,
    /// Seconds bought.
    pub seconds: u64,
    /// DATA wei paid (fee included).
    pub price: U256,
    /// The licence's new end, Unix seconds.
    pub expiry: u64,
    /// The block it is in.
    pub block: u64,
}

/// The marketplace's or the token's named error in revert data, if it is one of theirs.
pub(crate) fn decode_revert(data: &[u8]) -> Option<String> {
    use DataToken::DataTokenErrors as T;
    use Marketplace::MarketplaceErrors as M;
    if let Ok(e) = M::abi_decode(data) {
        return Some(match e {
            M::ProductNotFound(e) => {
                format!("ProductNotFound: product {} does not exist", e.productId)
            }
            M::NotProductOwner(e) => format!(
                "NotProductOwner: {} does not own product {}",
                e.caller, e.productId
            ),
            M::ProductIsPaused(e) => format!("ProductIsPaused: product {} is paused", e.productId),
            M::PeriodTooShort(e) => format!(
                "PeriodTooShort: {} s is less than the minimum of {} s",
                e.seconds_, e.minimumSeconds
            ),
            M::NoStreams(_) => "NoStreams: a product needs at least one stream".into(),
            M::TooManyStreams(e) => format!("TooManyStreams: {}", e.count),
            M::ZeroBeneficiary(_) => "ZeroBeneficiary: the beneficiary is the zero address".into(),
            M::ZeroMinimumPeriod(_) => "ZeroMinimumPeriod: the minimum period is zero".into(),
            M::StreamNotFound(e) => format!("StreamNotFound: {}", e.streamId),
            M::SellerCannotGrant(e) => format!(
                "SellerCannotGrant: {} lacks grant permission on {}",
                e.seller, e.streamId
            ),
            M::MarketplaceCannotGrant(e) => format!(
                "MarketplaceCannotGrant: give the marketplace grant permission on {}",
                e.streamId
            ),
            M::PriceAboveMaximum(e) => format!(
                "PriceAboveMaximum: the price is {} but at most {} was offered",
                e.price, e.maxPrice
            ),
            M::PeriodTooLong(e) => format!("PeriodTooLong: {} s", e.seconds_),
        });
    }
    T::abi_decode(data).ok().map(|e| match e {
        T::ERC20InsufficientBalance(e) => format!(
            "ERC20InsufficientBalance: {} has {} DATA wei, needs {}",
            e.sender, e.balance, e.needed
        ),
        T::ERC20InsufficientAllowance(e) => format!(
            "ERC20InsufficientAllowance: {} may spend {}, needs {}",
            e.spender, e.allowance, e.needed
        ),
        T::ERC2612ExpiredSignature(e) => format!(
            "ERC2612ExpiredSignature: the permit expired at {}",
            e.deadline
        ),
        T::ERC2612InvalidSigner(e) => format!(
            "ERC2612InvalidSigner: signed by {}, not {}",
            e.signer, e.owner
        ),
        T::FaucetDisabled(e) => format!("FaucetDisabled: no faucet on chain {}", e.chainId),
    })
}

impl Registry {
    fn market(&self) -> Result<(Address, Address), LiteError> {
        self.market.ok_or_else(|| {
            LiteError::Config(
                "no marketplace configured: call with_market with the deployment's addresses"
                    .into(),
            )
        })
    }

    fn buyer(&self) -> Result<Address, LiteError> {
        self.sender()
            .ok_or_else(|| LiteError::Config("buying needs a key or a wallet".into()))
    }

    /// Every product, in id order.
    pub async fn list_products(&self) -> Result<Vec<Product>, LiteError> {
        let (marketplace, _) = self.market()?;
        let count = self
            .view_at(marketplace, Marketplace::productCountCall {})
            .await?;
        let count = u64::try_from(count).map_err(|e| LiteError::Decode(e.to_string()))?;
        let mut out = Vec::new();
        for id in 1..=count {
            out.push(self.get_product(id).await?);
        }
        Ok(out)
    }

    /// One product.
    pub async fn get_product(&self, id: u64) -> Result<Product, LiteError> {
        let (marketplace, _) = self.market()?;
        let p = self
            .view_at(
                marketplace,
                Marketplace::getProductCall {
                    productId: U256::from(id),
                },
            )
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
            streams: p.streams,
        })
    }

    /// Lists a product (the seller and the marketplace must both hold grant permission on every stream);
    /// returns its id. Sales pay `beneficiary` (the seller when `None`).
    pub async fn create_product(
        &self,
        streams: Vec<String>,
        beneficiary: Option<Address>,
        price_per_second: U256,
        minimum_seconds: u64,
        metadata: &str,
        terms_uri: &str,
    ) -> Result<u64, LiteError> {
        let (marketplace, _) = self.market()?;
        let beneficiary = match beneficiary {
            Some(b) => b,
            None => self.buyer()?,
        };
        self.send_to(
            marketplace,
            Marketplace::createProductCall {
                streams,
                beneficiary,
                pricePerSecond: price_per_second,
                minimumSeconds: minimum_seconds,
                metadata: metadata.to_owned(),
                termsUri: terms_uri.to_owned(),
                termsHash: B256::ZERO,
            },
        )
        .await?;
        let count = self
            .view_at(marketplace, Marketplace::productCountCall {})
            .await?;
        u64::try_from(count).map_err(|e| LiteError::Decode(e.to_string()))
    }

    /// Changes a product's price (its owner only).
    pub async fn set_price(&self, id: u64, price_per_second: U256) -> Result<(), LiteError> {
        let (marketplace, _) = self.market()?;
        self.send_to(
            marketplace,
            Marketplace::setPriceCall {
                productId: U256::from(id),
                pricePerSecond: price_per_second,
            },
        )
        .await
        .map(drop)
    }

    /// Pauses (`false`) or resumes (`true`) sales of a product.
    pub async fn set_product_active(&self, id: u64, active: bool) -> Result<(), LiteError> {
        let (marketplace, _) = self.market()?;
        let product_id = U256::from(id);
        if active {
            self.send_to(
                marketplace,
                Marketplace::resumeProductCall {
                    productId: product_id,
                },
            )
            .await
        } else {
            self.send_to(
                marketplace,
                Marketplace::pauseProductCall {
                    productId: product_id,
                },
            )
            .await
        }
        .map(drop)
    }

    /// The price of `seconds` of a product, DATA wei.
    pub async fn price_of(&self, id: u64, seconds: u64) -> Result<U256, LiteError> {
        let (marketplace, _) = self.market()?;
        self.view_at(
            marketplace,
            Marketplace::priceOfCall {
                productId: U256::from(id),
                seconds_: seconds,
            },
        )
        .await
    }

    /// When `buyer`'s licence to a product ends (0: never bought), Unix seconds.
    pub async fn licence_expiry(&self, id: u64, buyer: Address) -> Result<u64, LiteError> {
        let (marketplace, _) = self.market()?;
        self.view_at(
            marketplace,
            Marketplace::licenceExpiryCall {
                productId: U256::from(id),
                buyer,
            },
        )
        .await
    }

    /// DATA wei held by `account`.
    pub async fn balance(&self, account: Address) -> Result<U256, LiteError> {
        let (_, token) = self.market()?;
        self.view_at(token, DataToken::balanceOfCall { account })
            .await
    }

    /// Mints DATA to `to` (the local development chain only).
    pub async fn faucet(&self, to: Address, amount: U256) -> Result<(), LiteError> {
        let (_, token) = self.market()?;
        self.send_to(token, DataToken::faucetCall { to, amount })
            .await
            .map(drop)
    }

    /// Buys `seconds` of a product in two transactions: approve the price (if the allowance is short),
    /// then buy, paying at most `max_price`. Returns the licence's end.
    pub async fn buy(&self, id: u64, seconds: u64, max_price: U256) -> Result<u64, LiteError> {
        let (marketplace, token) = self.market()?;
        let buyer = self.buyer()?;
        let allowance = self
            .view_at(
                token,
                DataToken::allowanceCall {
                    owner: buyer,
                    spender: marketplace,
                },
            )
            .await?;
        if allowance < max_price {
            self.send_to(
                token,
                DataToken::approveCall {
                    spender: marketplace,
                    value: max_price,
                },
            )
            .await?;
        }
        self.send_to(
            marketplace,
            Marketplace::buyCall {
                productId: U256::from(id),
                seconds_: seconds,
                maxPrice: max_price,
            },
        )
        .await?;
        self.licence_expiry(id, buyer).await
    }

    /// Buys `seconds` of a product in one transaction, with an EIP-2612 permit for `max_price` signed by
    /// the key or the wallet (valid until `deadline`, Unix seconds). Returns the licence's end.
    pub async fn buy_with_permit(
        &self,
        id: u64,
        seconds: u64,
        max_price: U256,
        deadline: u64,
    ) -> Result<u64, LiteError> {
        let (marketplace, _) = self.market()?;
        let buyer = self.buyer()?;
        let signature = self.sign_permit(marketplace, max_price, deadline).await?;
        let (r, s, v) = (
            B256::from_slice(&signature[..32]),
            B256::from_slice(&signature[32..64]),
            signature[64],
        );
        self.send_to(
            marketplace,
            Marketplace::buyWithPermitCall {
                productId: U256::from(id),
                seconds_: seconds,
                maxPrice: max_price,
                deadline: U256::from(deadline),
                v: if v < 27 { v + 27 } else { v },
                r,
                s,
            },
        )
        .await?;
        self.licence_expiry(id, buyer).await
    }

    /// The permit for `spender` to take `value`, signed by the key or the wallet (65 bytes, r ‖ s ‖ v).
    pub async fn sign_permit(
        &self,
        spender: Address,
        value: U256,
        deadline: u64,
    ) -> Result<[u8; 65], LiteError> {
        let (_, token) = self.market()?;
        let owner = self.buyer()?;
        let nonce = self.view_at(token, DataToken::noncesCall { owner }).await?;
        self.report(crate::TxStep::SignatureRequested {
            what: "permit".into(),
        });
        // The domain as the token states it (ERC-5267), not as we assume it.
        let d = self.view_at(token, DataToken::eip712DomainCall {}).await?;
        let permit = Permit {
            owner,
            spender,
            value,
            nonce,
            deadline: U256::from(deadline),
        };
        let signature = match &self.sender {
            Sender::Key(key) => {
                let domain = Eip712Domain::new(
                    Some(d.name.clone().into()),
                    Some(d.version.clone().into()),
                    Some(d.chainId),
                    Some(d.verifyingContract),
                    None,
                );
                Ok(key.sign_hash(&permit.eip712_signing_hash(&domain).0).0)
            }
            Sender::Wallet(account) => {
                let typed = json!({
                    "types": {
                        "EIP712Domain": [
                            { "name": "name", "type": "string" },
                            { "name": "version", "type": "string" },
                            { "name": "chainId", "type": "uint256" },
                            { "name": "verifyingContract", "type": "address" },
                        ],
                        "Permit": [
                            { "name": "owner", "type": "address" },
                            { "name": "spender", "type": "address" },
                            { "name": "value", "type": "uint256" },
                            { "name": "nonce", "type": "uint256" },
                            { "name": "deadline", "type": "uint256" },
                        ],
                    },
                    "primaryType": "Permit",
                    "domain": {
                        "name": d.name,
                        "version": d.version,
                        "chainId": d.chainId.to_string(),
                        "verifyingContract": d.verifyingContract.to_string(),
                    },
                    "message": {
                        "owner": owner.to_string(),
                        "spender": spender.to_string(),
                        "value": value.to_string(),
                        "nonce": nonce.to_string(),
                        "deadline": deadline.to_string(),
                    },
                });
                // EIP-712's JSON goes as a string (MetaMask's convention for eth_signTypedData_v4).
                let signature = self
                    .rpc
                    .call(
                        "eth_signTypedData_v4",
                        json!([account.to_string(), typed.to_string()]),
                    )
                    .await?;
                decode_hex(&signature)?
                    .try_into()
                    .map_err(|_| LiteError::Decode("a signature is 65 bytes".into()))
            }
            Sender::None => Err(LiteError::Config(
                "signing a permit needs a key or a wallet".into(),
            )),
        }?;
        self.report(crate::TxStep::Signed {
            what: "permit".into(),
        });
        Ok(signature)
    }

    /// The marketplace's address (for granting it permission on a stream to be listed).
    pub fn marketplace(&self) -> Result<Address, LiteError> {
        self.market().map(|(m, _)| m)
    }

    /// Purchases from the marketplace's events, of `buyer`'s or of everyone's when `None`.
    pub async fn purchases(&self, buyer: Option<Address>) -> Result<Vec<Purchase>, LiteError> {
        let (marketplace, _) = self.market()?;
        let buyer_topic = buyer.map(|b| B256::left_padding_from(b.as_slice()).to_string());
        let logs = self
            .rpc
            .call(
                "eth_getLogs",
                json!([{
                    "address": marketplace.to_string(),
                    "fromBlock": tx::to_quantity(u128::from(self.from_block)),
                    "toBlock": "latest",
                    "topics": [Marketplace::Purchased::SIGNATURE_HASH.to_string(), Value::Null, buyer_topic],
                }]),
            )
            .await?;
        let mut out = Vec::new();
        for log in logs.as_array().map(Vec::as_slice).unwrap_or_default() {
            let topics: Vec<B256> = log["topics"]
                .as_array()
                .map(|t| t.iter().filter_map(|v| v.as_str()?.parse().ok()).collect())
                .unwrap_or_default();
            let e = Marketplace::Purchased::decode_raw_log(
                topics.iter().copied(),
                &decode_hex(&log["data"])?,
            )
            .map_err(|e| LiteError::Decode(e.to_string()))?;
            out.push(Purchase {
                product_id: u64::try_from(e.productId).unwrap_or(u64::MAX),
                buyer: e.buyer,
                beneficiary: e.beneficiary,
                seconds: e.seconds_,
                price: e.price,
                expiry: e.expiry,
                block: tx::quantity(&log["blockNumber"]).unwrap_or(0) as u64,
            });
        }
        Ok(out)
    }
}
