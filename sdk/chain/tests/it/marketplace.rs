//! Marketplace: listing rules, approve-then-buy and permit-then-buy, extension, pause, fees and failures.

use alloy::{
    primitives::{Address, B256, U256},
    signers::Signer,
    sol,
    sol_types::{SolStruct, eip712_domain},
};
use rivulet_chain::{
    ChainError,
    bindings::{DataToken, Marketplace, StreamRegistry},
};

use crate::anvil::{Chain, Mined, signer};

const SUBSCRIBE: u8 = 3;
const GRANT: u8 = 4;

sol! {
    struct Permit { address owner; address spender; uint256 value; uint256 nonce; uint256 deadline; }
}

async fn reverts<T>(
    f: impl std::future::IntoFuture<Output = Result<T, alloy::contract::Error>>,
) -> String {
    match f.await {
        Ok(_) => panic!("expected a revert"),
        Err(e) => match ChainError::contract(e) {
            ChainError::Revert { reason } => reason,
            other => panic!("expected a revert, got {other}"),
        },
    }
}

type Market = Marketplace::MarketplaceInstance<alloy::providers::DynProvider>;

async fn list(
    m: &Market,
    streams: Vec<String>,
    min: u64,
    beneficiary: Address,
) -> Result<
    alloy::providers::PendingTransactionBuilder<alloy::network::Ethereum>,
    alloy::contract::Error,
> {
    m.createProduct(
        streams,
        beneficiary,
        U256::from(10u64),
        min,
        r#"{"name":"Weather"}"#.into(),
        "ipfs://terms".into(),
        B256::ZERO,
    )
    .send()
    .await
}

#[tokio::test]
async fn licences_are_sold_extended_and_expire() {
    let chain = Chain::start().await;
    let d = &chain.deployment;
    let seller = signer(1).address();
    let buyer = signer(2).address();
    let registry = StreamRegistry::new(d.stream_registry, chain.provider(1));
    let market_seller = Marketplace::new(d.marketplace, chain.provider(1));
    let market_buyer = Marketplace::new(d.marketplace, chain.provider(2));
    let market_stranger = Marketplace::new(d.marketplace, chain.provider(3));
    let token_buyer = DataToken::new(d.data_token, chain.provider(2));
    let id = format!("{}/weather", format!("{seller:?}").to_lowercase());
    registry
        .createStream("weather".into(), "{}".into())
        .mined()
        .await;

    // Listing needs the marketplace to hold grant, the seller to hold grant, existing streams, sane terms.
    assert!(
        reverts(list(&market_seller, vec![id.clone()], 60, seller))
            .await
            .starts_with("MarketplaceCannotGrant")
    );
    registry
        .grantPermission(id.clone(), d.marketplace, GRANT)
        .mined()
        .await;
    assert!(
        reverts(list(&market_stranger, vec![id.clone()], 60, seller))
            .await
            .starts_with("SellerCannotGrant")
    );
    assert!(
        reverts(list(&market_seller, vec!["0xab/none".into()], 60, seller))
            .await
            .starts_with("StreamNotFound")
    );
    assert!(
        reverts(list(&market_seller, vec![], 60, seller))
            .await
            .starts_with("NoStreams")
    );
    assert!(
        reverts(list(&market_seller, vec![id.clone()], 0, seller))
            .await
            .starts_with("ZeroMinimumPeriod")
    );
    let receipt = list(&market_seller, vec![id.clone()], 60, seller)
        .await
        .unwrap()
        .get_receipt()
        .await
        .unwrap();
    assert!(receipt.status());
    let product = U256::from(1u64);

    // Buying needs allowance, a long enough period, an active product.
    assert!(
        reverts(market_buyer.buy(product, 59, U256::MAX).send())
            .await
            .starts_with("PeriodTooShort")
    );
    assert!(
        reverts(market_buyer.buy(product, 100, U256::MAX).send())
            .await
            .starts_with("ERC20InsufficientAllowance")
    );
    assert!(
        reverts(market_buyer.buy(U256::from(9u64), 100, U256::MAX).send())
            .await
            .starts_with("ProductNotFound")
    );
    token_buyer
        .approve(d.marketplace, U256::from(1000u64))
        .mined()
        .await;
    let before = token_buyer.balanceOf(seller).call().await.unwrap();
    market_buyer.buy(product, 100, U256::MAX).mined().await;
    assert_eq!(
        token_buyer.balanceOf(seller).call().await.unwrap() - before,
        U256::from(1000u64)
    );
    assert!(
        registry
            .hasPermission(id.clone(), buyer, SUBSCRIBE)
            .call()
            .await
            .unwrap()
    );
    let first_expiry = market_buyer
        .licenceExpiry(product, buyer)
        .call()
        .await
        .unwrap();

    assert!(
        reverts(market_buyer.buy(product, 0, U256::MAX).send())
            .await
            .starts_with("PeriodTooShort")
    );

    // Buying again while the licence runs extends it from its expiry (permit path: one transaction).
    let chain_id = d.chain_id;
    let deadline = U256::from(u64::MAX);
    let value = U256::from(600u64);
    let nonce = token_buyer.nonces(buyer).call().await.unwrap();
    let domain = eip712_domain! { name: "Rivulet DATA", version: "1", chain_id: chain_id, verifying_contract: d.data_token, };
    let permit = Permit {
        owner: buyer,
        spender: d.marketplace,
        value,
        nonce,
        deadline,
    };
    let sig = signer(2)
        .sign_hash(&permit.eip712_signing_hash(&domain))
        .await
        .unwrap();
    market_buyer
        .buyWithPermit(
            product,
            60,
            value,
            deadline,
            27 + sig.v() as u8,
            sig.r().into(),
            sig.s().into(),
        )
        .mined()
        .await;
    assert_eq!(
        market_buyer
            .licenceExpiry(product, buyer)
            .call()
            .await
            .unwrap(),
        first_expiry + 60
    );

    // A permit past its deadline does not pay: the purchase fails on the missing allowance.
    let nonce = token_buyer.nonces(buyer).call().await.unwrap();
    let stale = U256::from(1u64);
    let permit = Permit {
        owner: buyer,
        spender: d.marketplace,
        value,
        nonce,
        deadline: stale,
    };
    let sig = signer(2)
        .sign_hash(&permit.eip712_signing_hash(&domain))
        .await
        .unwrap();
    let reason = reverts(
        market_buyer
            .buyWithPermit(
                product,
                60,
                value,
                stale,
                27 + sig.v() as u8,
                sig.r().into(),
                sig.s().into(),
            )
            .send(),
    )
    .await;
    assert!(reason.starts_with("ERC20InsufficientAllowance"), "{reason}");

    // The buyer never pays more than they agreed to, whatever the seller does in between.
    token_buyer.approve(d.marketplace, U256::MAX).mined().await;
    market_seller
        .setPrice(product, U256::from(11u64))
        .mined()
        .await;
    let reason = reverts(market_buyer.buy(product, 60, U256::from(600u64)).send()).await;
    assert!(reason.starts_with("PriceAboveMaximum"), "{reason}");
    market_seller
        .setPrice(product, U256::from(10u64))
        .mined()
        .await;
    // Periods that would overflow the expiry are refused by name.
    let reason = reverts(market_buyer.buy(product, u64::MAX, U256::MAX).send()).await;
    assert!(
        reason.starts_with("PeriodTooLong") || reason.contains("overflow"),
        "{reason}"
    );

    // Insufficient balance: a fresh account with allowance but no DATA.
    let poor = Marketplace::new(d.marketplace, crate::anvil::provider(&chain.url, 3));
    let poor_token = DataToken::new(d.data_token, crate::anvil::provider(&chain.url, 3));
    let all = poor_token
        .balanceOf(signer(3).address())
        .call()
        .await
        .unwrap();
    poor_token
        .transfer(Address::repeat_byte(1), all)
        .mined()
        .await;
    poor_token
        .approve(d.marketplace, U256::from(1000u64))
        .mined()
        .await;
    assert!(
        reverts(poor.buy(product, 60, U256::MAX).send())
            .await
            .starts_with("ERC20InsufficientBalance")
    );

    // Paused products do not sell; strangers cannot pause.
    assert!(
        reverts(market_stranger.pauseProduct(product).send())
            .await
            .starts_with("NotProductOwner")
    );
    market_seller.pauseProduct(product).mined().await;
    assert!(
        reverts(market_buyer.buy(product, 60, U256::MAX).send())
            .await
            .starts_with("ProductIsPaused")
    );
    market_seller.resumeProduct(product).mined().await;

    // The licence lapses with time, and with it the subscribe permission.
    chain.advance(200).await;
    assert!(
        !registry
            .hasPermission(id.clone(), buyer, SUBSCRIBE)
            .call()
            .await
            .unwrap()
    );

    // A seller who no longer holds grant on a stream cannot sell it any more.
    registry
        .revokePermission(id.clone(), seller, GRANT)
        .mined()
        .await;
    let reason = reverts(market_buyer.buy(product, 60, U256::MAX).send()).await;
    assert!(reason.starts_with("SellerCannotGrant"), "{reason}");

    // A deleted stream cannot be bought.
    registry.deleteStream(id.clone()).mined().await;
    assert!(
        reverts(market_buyer.buy(product, 60, U256::MAX).send())
            .await
            .starts_with("StreamNotFound")
    );
}
