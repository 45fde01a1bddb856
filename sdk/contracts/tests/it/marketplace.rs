//! Marketplace: listing rules, approve-then-buy and permit-then-buy, extension, pause, fees and failures
//! — each contract function called as generated from its ABI.

use rivulet_contracts::{
    Address, B256, Chain, ContractsError, Receipt, U256,
    alloy_sol_types::{SolCall, SolStruct, eip712_domain},
    bindings::{DataToken, Marketplace, Permit, StreamRegistry},
};
use rivulet_deploy::dev::dev_key;

use crate::anvil::{TestChain, address, revert};

const SUBSCRIBE: u8 = 3;
const GRANT: u8 = 4;

/// Sends `call` to `to` as `chain`'s account.
async fn send<C: SolCall>(chain: &Chain, to: Address, call: C) -> Result<Receipt, ContractsError> {
    chain.send(to, call).await
}

/// What `call` reverts with, by name.
async fn refused<C: SolCall>(chain: &Chain, to: Address, call: C) -> &'static str {
    revert(chain.send(to, call).await).name()
}

fn listing(streams: Vec<String>, min: u64, beneficiary: Address) -> Marketplace::createProductCall {
    Marketplace::createProductCall {
        streams,
        beneficiary,
        pricePerSecond: U256::from(10u64),
        minimumSeconds: min,
        metadata: r#"{"name":"Weather"}"#.into(),
        termsUri: "ipfs://terms".into(),
        termsHash: B256::ZERO,
    }
}

fn buy(seconds: u64, max: U256) -> Marketplace::buyCall {
    Marketplace::buyCall {
        productId: U256::from(1u64),
        seconds_: seconds,
        maxPrice: max,
    }
}

#[tokio::test]
async fn licences_are_sold_extended_and_expire() {
    let chain = TestChain::start().await;
    let d = &chain.deployment;
    let (registry, market, token) = (d.stream_registry, d.marketplace, d.data_token);
    let (seller, buyer) = (address(1), address(2));
    let (seller_chain, buyer_chain, stranger_chain) = (
        chain.chain(1).await,
        chain.chain(2).await,
        chain.chain(3).await,
    );
    let has_subscribe = async |id: &str| {
        seller_chain
            .call(
                registry,
                StreamRegistry::hasPermissionCall {
                    streamId: id.into(),
                    user: buyer,
                    kind: SUBSCRIBE,
                },
            )
            .await
            .unwrap()
    };
    let id = format!("{}/weather", format!("{seller:?}").to_lowercase());
    send(
        &seller_chain,
        registry,
        StreamRegistry::createStreamCall {
            path: "weather".into(),
            metadata: "{}".into(),
        },
    )
    .await
    .unwrap();

    // Listing needs the marketplace to hold grant, the seller to hold grant, existing streams, sane terms.
    assert_eq!(
        refused(&seller_chain, market, listing(vec![id.clone()], 60, seller)).await,
        "MarketplaceCannotGrant"
    );
    send(
        &seller_chain,
        registry,
        StreamRegistry::grantPermissionCall {
            streamId: id.clone(),
            user: market,
            kind: GRANT,
        },
    )
    .await
    .unwrap();
    assert_eq!(
        refused(
            &stranger_chain,
            market,
            listing(vec![id.clone()], 60, seller)
        )
        .await,
        "SellerCannotGrant"
    );
    assert_eq!(
        refused(
            &seller_chain,
            market,
            listing(vec!["0xab/none".into()], 60, seller)
        )
        .await,
        "StreamNotFound"
    );
    assert_eq!(
        refused(&seller_chain, market, listing(vec![], 60, seller)).await,
        "NoStreams"
    );
    assert_eq!(
        refused(&seller_chain, market, listing(vec![id.clone()], 0, seller)).await,
        "ZeroMinimumPeriod"
    );
    send(&seller_chain, market, listing(vec![id.clone()], 60, seller))
        .await
        .unwrap();
    let product = U256::from(1u64);

    // Buying needs allowance, a long enough period, an active product.
    assert_eq!(
        refused(&buyer_chain, market, buy(59, U256::MAX)).await,
        "PeriodTooShort"
    );
    assert_eq!(
        refused(&buyer_chain, market, buy(100, U256::MAX)).await,
        "ERC20InsufficientAllowance"
    );
    let unknown = Marketplace::buyCall {
        productId: U256::from(9u64),
        seconds_: 100,
        maxPrice: U256::MAX,
    };
    assert_eq!(
        refused(&buyer_chain, market, unknown).await,
        "ProductNotFound"
    );
    let approve = |value| DataToken::approveCall {
        spender: market,
        value,
    };
    send(&buyer_chain, token, approve(U256::from(1000u64)))
        .await
        .unwrap();
    let balance = async |account| {
        buyer_chain
            .call(token, DataToken::balanceOfCall { account })
            .await
            .unwrap()
    };
    let before = balance(seller).await;
    send(&buyer_chain, market, buy(100, U256::MAX))
        .await
        .unwrap();
    assert_eq!(balance(seller).await - before, U256::from(1000u64));
    assert!(has_subscribe(&id).await);
    let expiry = async || {
        buyer_chain
            .call(
                market,
                Marketplace::licenceExpiryCall {
                    productId: product,
                    buyer,
                },
            )
            .await
            .unwrap()
    };
    let first_expiry = expiry().await;
    assert_eq!(
        refused(&buyer_chain, market, buy(0, U256::MAX)).await,
        "PeriodTooShort"
    );

    // Buying again while the licence runs extends it from its expiry (permit path: one transaction),
    // with a permit over the domain the token was deployed with.
    let deadline = U256::from(u64::MAX);
    let value = U256::from(600u64);
    let domain = eip712_domain! {
        name: "Rivulet DATA",
        version: "1",
        chain_id: d.chain_id,
        verifying_contract: token,
    };
    let nonces = async || {
        buyer_chain
            .call(token, DataToken::noncesCall { owner: buyer })
            .await
            .unwrap()
    };
    let with_permit = |deadline: U256, nonce: U256| {
        let permit = Permit {
            owner: buyer,
            spender: market,
            value,
            nonce,
            deadline,
        };
        let sig = dev_key(2)
            .sign_hash(&permit.eip712_signing_hash(&domain).0)
            .0;
        Marketplace::buyWithPermitCall {
            productId: product,
            seconds_: 60,
            maxPrice: value,
            deadline,
            v: sig[64],
            r: B256::from_slice(&sig[..32]),
            s: B256::from_slice(&sig[32..64]),
        }
    };
    send(&buyer_chain, market, with_permit(deadline, nonces().await))
        .await
        .unwrap();
    assert_eq!(expiry().await, first_expiry + 60);

    // A permit past its deadline does not pay: the purchase fails on the missing allowance.
    let stale = with_permit(U256::from(1u64), nonces().await);
    assert_eq!(
        refused(&buyer_chain, market, stale).await,
        "ERC20InsufficientAllowance"
    );

    // The buyer never pays more than they agreed to, whatever the seller does in between.
    send(&buyer_chain, token, approve(U256::MAX)).await.unwrap();
    let price = |per_second: u64| Marketplace::setPriceCall {
        productId: product,
        pricePerSecond: U256::from(per_second),
    };
    send(&seller_chain, market, price(11)).await.unwrap();
    assert_eq!(
        refused(&buyer_chain, market, buy(60, U256::from(600u64))).await,
        "PriceAboveMaximum"
    );
    send(&seller_chain, market, price(10)).await.unwrap();
    // Periods that would overflow the expiry are refused by name.
    let overflow = revert(buyer_chain.send(market, buy(u64::MAX, U256::MAX)).await);
    assert!(
        overflow.name() == "PeriodTooLong" || overflow.to_string().contains("overflow"),
        "{overflow}"
    );

    // Insufficient balance: a fresh account with allowance but no DATA.
    let all = balance(address(3)).await;
    send(
        &stranger_chain,
        token,
        DataToken::transferCall {
            to: Address::repeat_byte(1),
            value: all,
        },
    )
    .await
    .unwrap();
    send(&stranger_chain, token, approve(U256::from(1000u64)))
        .await
        .unwrap();
    assert_eq!(
        refused(&stranger_chain, market, buy(60, U256::MAX)).await,
        "ERC20InsufficientBalance"
    );

    // Paused products do not sell; strangers cannot pause.
    let pause = Marketplace::pauseProductCall { productId: product };
    assert_eq!(
        refused(&stranger_chain, market, pause.clone()).await,
        "NotProductOwner"
    );
    send(&seller_chain, market, pause).await.unwrap();
    assert_eq!(
        refused(&buyer_chain, market, buy(60, U256::MAX)).await,
        "ProductIsPaused"
    );
    send(
        &seller_chain,
        market,
        Marketplace::resumeProductCall { productId: product },
    )
    .await
    .unwrap();

    // The licence lapses with time, and with it the subscribe permission.
    chain.advance(200).await;
    assert!(!has_subscribe(&id).await);

    // A seller who no longer holds grant on a stream cannot sell it any more.
    send(
        &seller_chain,
        registry,
        StreamRegistry::revokePermissionCall {
            streamId: id.clone(),
            user: seller,
            kind: GRANT,
        },
    )
    .await
    .unwrap();
    assert_eq!(
        refused(&buyer_chain, market, buy(60, U256::MAX)).await,
        "SellerCannotGrant"
    );

    // A deleted stream cannot be bought.
    send(
        &seller_chain,
        registry,
        StreamRegistry::deleteStreamCall {
            streamId: id.clone(),
        },
    )
    .await
    .unwrap();
    assert_eq!(
        refused(&buyer_chain, market, buy(60, U256::MAX)).await,
        "StreamNotFound"
    );
}
