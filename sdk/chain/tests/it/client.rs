//! ChainClient and PermissionCache against a real chain; bad endpoints and reverts as typed errors.

use alloy::primitives::{Address, B256, U256};
use rivulet_chain::{
    ChainClient, ChainError, Deployment, NO_EXPIRATION, NewProduct, PermissionCache,
    PermissionKind, Permissions, StreamMetadata,
    bindings::{DataToken, Marketplace, StreamRegistry},
};
use rivulet_protocol::StreamId;

use crate::anvil::{Chain, Mined, signer};

async fn client(chain: &Chain, i: usize) -> ChainClient {
    ChainClient::connect(chain.deployment.clone(), None, Some(signer(i)))
        .await
        .unwrap()
}

fn revert_reason(e: ChainError) -> String {
    match e {
        ChainError::Revert { reason } => reason,
        other => panic!("expected a revert, got {other}"),
    }
}

#[tokio::test]
async fn streams_search_and_permissions_through_the_client() {
    let chain = Chain::start().await;
    let alice = client(&chain, 1).await;
    let bob = client(&chain, 2).await;
    let bob_addr = signer(2).address();

    let weather = alice
        .create_stream(
            "weather/helsinki",
            &StreamMetadata {
                partitions: 4,
                ..StreamMetadata::named("Helsinki weather", "Temperature and wind")
            },
        )
        .await
        .unwrap();
    let traffic = alice
        .create_stream(
            "traffic",
            &StreamMetadata::named("Traffic", "Cars per minute"),
        )
        .await
        .unwrap();
    assert_eq!(
        weather.as_str(),
        format!(
            "{}/weather/helsinki",
            format!("{:?}", signer(1).address()).to_lowercase()
        )
    );
    let info = alice.get_stream(&weather).await.unwrap().unwrap();
    assert_eq!(info.metadata.partitions, 4);
    assert_eq!(info.creator, signer(1).address());
    assert!(
        alice
            .get_stream(
                &"0x0000000000000000000000000000000000000001/none"
                    .parse()
                    .unwrap()
            )
            .await
            .unwrap()
            .is_none()
    );

    // Bad metadata is refused before any transaction.
    let bad = StreamMetadata {
        partitions: 0,
        ..StreamMetadata::default()
    };
    assert!(matches!(
        alice.create_stream("bad", &bad).await,
        Err(ChainError::Config(_))
    ));

    // List and search follow creations, updates and deletions.
    assert_eq!(alice.list_streams().await.unwrap().len(), 2);
    assert_eq!(
        bob.search_streams("WIND")
            .await
            .unwrap()
            .iter()
            .map(|s| s.id.clone())
            .collect::<Vec<_>>(),
        vec![weather.clone()]
    );
    alice
        .update_stream_metadata(&traffic, &StreamMetadata::named("Traffic", "Cars and wind"))
        .await
        .unwrap();
    assert_eq!(bob.search_streams("wind").await.unwrap().len(), 2);
    alice.delete_stream(&traffic).await.unwrap();
    assert_eq!(bob.search_streams("wind").await.unwrap().len(), 1);
    assert!(alice.get_stream(&traffic).await.unwrap().is_none());

    // Permissions, with expiry evaluated at a given time.
    let now = alice.chain_time().await.unwrap();
    assert!(
        !bob.has_permission(&weather, bob_addr, PermissionKind::Publish, None)
            .await
            .unwrap()
    );
    alice
        .grant_until(&weather, bob_addr, PermissionKind::Publish, now + 1000)
        .await
        .unwrap();
    assert!(
        bob.has_permission(&weather, bob_addr, PermissionKind::Publish, None)
            .await
            .unwrap()
    );
    assert!(
        bob.has_permission(&weather, bob_addr, PermissionKind::Publish, Some(now + 999))
            .await
            .unwrap()
    );
    assert!(
        !bob.has_permission(
            &weather,
            bob_addr,
            PermissionKind::Publish,
            Some(now + 1000)
        )
        .await
        .unwrap()
    );
    assert_eq!(
        bob.get_permissions(&weather, bob_addr)
            .await
            .unwrap()
            .publish_until,
        now + 1000
    );
    alice
        .grant(&weather, Address::ZERO, PermissionKind::Subscribe)
        .await
        .unwrap();
    assert!(
        bob.has_permission(
            &weather,
            Address::repeat_byte(7),
            PermissionKind::Subscribe,
            Some(now)
        )
        .await
        .unwrap()
    );
    alice
        .revoke(&weather, bob_addr, PermissionKind::Publish)
        .await
        .unwrap();
    assert!(
        !bob.has_permission(&weather, bob_addr, PermissionKind::Publish, None)
            .await
            .unwrap()
    );

    // All of an address's permissions at once, read back as set.
    let set = Permissions {
        edit: true,
        delete: false,
        publish_until: now + 77,
        subscribe_until: NO_EXPIRATION,
        grant: false,
    };
    alice
        .set_permissions(&weather, bob_addr, set)
        .await
        .unwrap();
    assert_eq!(bob.get_permissions(&weather, bob_addr).await.unwrap(), set);
    // Public edit is refused by the registry, by name.
    let public_edit = Permissions {
        edit: true,
        ..Permissions::default()
    };
    let reason = revert_reason(
        alice
            .set_permissions(&weather, Address::ZERO, public_edit)
            .await
            .unwrap_err(),
    );
    assert!(reason.starts_with("PublicPermissionNotAllowed"), "{reason}");

    // A stranger's grant is a decoded revert naming the missing permission.
    let reason = revert_reason(
        bob.grant(&weather, bob_addr, PermissionKind::Edit)
            .await
            .unwrap_err(),
    );
    assert!(reason.starts_with("NoPermission"), "{reason}");
    assert!(reason.contains("Grant") || reason.contains('4'), "{reason}");
    // A read-only client says so.
    let reader = ChainClient::connect(chain.deployment.clone(), None, None)
        .await
        .unwrap();
    assert!(matches!(
        reader.create_stream("x", &StreamMetadata::default()).await,
        Err(ChainError::Config(_))
    ));
}

#[tokio::test]
async fn permission_cache_agrees_with_the_registry_at_every_step() {
    let chain = Chain::start().await;
    let seller = client(&chain, 1).await;
    let buyer = client(&chain, 2).await;
    let buyer_addr = signer(2).address();
    let device = Address::repeat_byte(0xde);
    let mut cache = PermissionCache::new(chain.deployment.start_block);

    let stream = seller
        .create_stream("sensors", &StreamMetadata::named("Sensors", ""))
        .await
        .unwrap();
    let id = stream.as_str();
    cache.sync(&seller).await.unwrap();
    let now = seller.chain_time().await.unwrap();
    assert!(cache.may_publish(id, signer(1).address(), now));
    assert!(!cache.may_publish(id, device, now));

    // Grant with expiry: true until the second before it.
    seller
        .grant_until(&stream, device, PermissionKind::Publish, now + 60)
        .await
        .unwrap();
    assert!(!cache.may_publish(id, device, now), "not yet synced");
    assert!(cache.sync(&seller).await.unwrap() >= 1);
    assert!(cache.may_publish(id, device, now + 59));
    assert!(!cache.may_publish(id, device, now + 60));
    assert!(
        seller
            .has_permission(&stream, device, PermissionKind::Publish, None)
            .await
            .unwrap()
    );

    // Time passes: the cache and the contract agree that it expired.
    chain.advance(61).await;
    let later = seller.chain_time().await.unwrap();
    assert!(!cache.may_publish(id, device, later));
    assert!(
        !seller
            .has_permission(&stream, device, PermissionKind::Publish, None)
            .await
            .unwrap()
    );

    // Grant without expiry, then revoke.
    seller
        .grant(&stream, device, PermissionKind::Publish)
        .await
        .unwrap();
    cache.sync(&seller).await.unwrap();
    assert!(cache.may_publish(id, device, later + 10_000_000));
    seller
        .revoke(&stream, device, PermissionKind::Publish)
        .await
        .unwrap();
    cache.sync(&seller).await.unwrap();
    assert!(!cache.may_publish(id, device, later));

    // A purchase gives the buyer subscribe permission until the licence's expiry.
    seller
        .grant(&stream, chain.deployment.marketplace, PermissionKind::Grant)
        .await
        .unwrap();
    let product = seller
        .create_product(&NewProduct {
            streams: vec![stream.clone()],
            beneficiary: signer(1).address(),
            price_per_second: U256::from(5u64),
            minimum_seconds: 10,
            metadata: r#"{"name":"Sensors feed","category":"iot"}"#.into(),
            terms_uri: "https://example.invalid/terms".into(),
            terms_hash: B256::repeat_byte(1),
        })
        .await
        .unwrap();
    assert_eq!(product, 1);
    assert!(!cache.may_subscribe(id, buyer_addr, later));
    let expiry = buyer.buy(product, 100, U256::from(500u64)).await.unwrap();
    cache.sync(&seller).await.unwrap();
    assert!(cache.may_subscribe(id, buyer_addr, expiry - 1));
    assert!(!cache.may_subscribe(id, buyer_addr, expiry));
    let extended = buyer
        .buy_with_permit(product, 50, U256::from(250u64), &signer(2))
        .await
        .unwrap();
    assert_eq!(extended, expiry + 50);
    cache.sync(&seller).await.unwrap();
    assert!(cache.may_subscribe(id, buyer_addr, extended - 1));

    // The seller sees the sales; the listing reads back.
    let sales = seller.purchases(Some(signer(1).address())).await.unwrap();
    assert_eq!(sales.len(), 2);
    assert_eq!(sales[0].price, U256::from(500u64));
    assert!(
        seller
            .purchases(Some(signer(3).address()))
            .await
            .unwrap()
            .is_empty()
    );
    let listed = seller.list_products().await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].streams, vec![stream.to_string()]);
    seller
        .set_product_price(product, U256::from(7u64))
        .await
        .unwrap();
    assert_eq!(
        seller.price_of(product, 10).await.unwrap(),
        U256::from(70u64)
    );
    seller.set_product_active(product, false).await.unwrap();
    assert!(
        revert_reason(buyer.buy(product, 10, U256::MAX).await.unwrap_err())
            .starts_with("ProductIsPaused")
    );
    seller.set_product_active(product, true).await.unwrap();

    // Deleting the stream removes every permission from the cache.
    seller.delete_stream(&stream).await.unwrap();
    cache.sync(&seller).await.unwrap();
    assert!(!cache.stream_exists(id));
    assert!(!cache.may_subscribe(id, buyer_addr, later));
}

#[tokio::test]
async fn bad_endpoints_and_deployments_are_typed_errors() {
    let chain = Chain::start().await;
    // Nothing listens on this port.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let unreachable = ChainClient::connect(
        chain.deployment.clone(),
        Some(&format!("http://127.0.0.1:{closed}")),
        None,
    )
    .await;
    assert!(
        matches!(unreachable, Err(ChainError::Rpc(_))),
        "{unreachable:?}"
    );
    assert!(matches!(
        ChainClient::connect(chain.deployment.clone(), Some("not a url"), None).await,
        Err(ChainError::Config(_))
    ));
    let wrong_chain = Deployment {
        chain_id: 1,
        ..chain.deployment.clone()
    };
    assert!(matches!(
        ChainClient::connect(wrong_chain, None, None).await,
        Err(ChainError::WrongChain {
            expected: 1,
            actual: 31337
        })
    ));
    let no_code = Deployment {
        marketplace: Address::repeat_byte(0x42),
        ..chain.deployment.clone()
    };
    assert!(matches!(
        ChainClient::connect(no_code, None, None).await,
        Err(ChainError::NoCode {
            name: "Marketplace",
            ..
        })
    ));
    // Deployment files: missing and malformed.
    let dir = std::env::temp_dir().join(format!("rivulet-chain-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    assert!(matches!(
        Deployment::load(&dir.join("missing.json")),
        Err(ChainError::Config(_))
    ));
    std::fs::write(dir.join("bad.json"), "{").unwrap();
    assert!(matches!(
        Deployment::load(&dir.join("bad.json")),
        Err(ChainError::Config(_))
    ));
    chain.deployment.save(&dir.join("ok.json")).unwrap();
    assert_eq!(
        Deployment::load(&dir.join("ok.json")).unwrap(),
        chain.deployment
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn remaining_failure_paths_of_the_contracts() {
    let chain = Chain::start().await;
    let d = &chain.deployment;
    let alice = signer(1).address();
    let registry = StreamRegistry::new(d.stream_registry, chain.provider(1));
    let stranger_registry = StreamRegistry::new(d.stream_registry, chain.provider(2));
    let token_owner = DataToken::new(d.data_token, chain.provider(0));
    let token_stranger = DataToken::new(d.data_token, chain.provider(2));
    let market_owner = Marketplace::new(d.marketplace, chain.provider(0));
    let market_alice = Marketplace::new(d.marketplace, chain.provider(1));
    let market_stranger = Marketplace::new(d.marketplace, chain.provider(2));
    let c = client(&chain, 1).await;
    let err = |e: alloy::contract::Error| revert_reason(ChainError::contract(e));

    let id: StreamId = c
        .create_stream("s", &StreamMetadata::default())
        .await
        .unwrap();
    let s = id.to_string();
    let p = Permissions::default().into();
    assert!(
        err(registry
            .setPermissionsBatch(s.clone(), vec![alice], vec![])
            .send()
            .await
            .unwrap_err())
        .starts_with("LengthMismatch")
    );
    assert!(
        err(registry
            .setExpirationTime(s.clone(), alice, 0, 5)
            .send()
            .await
            .unwrap_err())
        .starts_with("NotAnExpiringPermission")
    );
    assert!(
        err(stranger_registry
            .revokeAllPermissionsForUser(s.clone(), alice)
            .send()
            .await
            .unwrap_err())
        .starts_with("NoPermission")
    );
    assert!(
        err(stranger_registry
            .setPermissions(s.clone(), alice, p)
            .send()
            .await
            .unwrap_err())
        .starts_with("NoPermission")
    );
    // A user may drop all their own permissions.
    stranger_registry
        .revokeAllPermissionsForUser(s.clone(), signer(2).address())
        .mined()
        .await;

    // Token: only the owner mints; the faucet works on the local chain.
    assert!(
        err(token_stranger
            .mint(alice, U256::from(1u64))
            .send()
            .await
            .unwrap_err())
        .starts_with("OwnableUnauthorizedAccount")
    );
    token_owner.mint(alice, U256::from(1u64)).mined().await;
    let before = c.balance(alice).await.unwrap();
    c.faucet(alice, U256::from(10u64)).await.unwrap();
    assert_eq!(c.balance(alice).await.unwrap() - before, U256::from(10u64));

    // Marketplace: fee rules, listing limits, owner-only updates, fee split on purchase.
    assert!(
        err(market_stranger.setFee(10, alice).send().await.unwrap_err())
            .starts_with("OwnableUnauthorizedAccount")
    );
    assert!(
        err(market_owner.setFee(1001, alice).send().await.unwrap_err()).starts_with("FeeTooHigh")
    );
    market_owner.setFee(500, signer(3).address()).mined().await;
    c.grant(&id, d.marketplace, PermissionKind::Grant)
        .await
        .unwrap();
    let many: Vec<String> = (0..21).map(|_| s.clone()).collect();
    let list = |streams: Vec<String>, beneficiary: Address| {
        market_alice.createProduct(
            streams,
            beneficiary,
            U256::from(100u64),
            1,
            String::new(),
            String::new(),
            B256::ZERO,
        )
    };
    assert!(err(list(many, alice).send().await.unwrap_err()).starts_with("TooManyStreams"));
    assert!(
        err(list(vec![s.clone()], Address::ZERO)
            .send()
            .await
            .unwrap_err())
        .starts_with("ZeroBeneficiary")
    );
    list(vec![s.clone()], alice).mined().await;
    let one = U256::from(1u64);
    assert!(
        err(market_stranger
            .updateProduct(one, alice, one, 1, String::new(), String::new(), B256::ZERO)
            .send()
            .await
            .unwrap_err())
        .starts_with("NotProductOwner")
    );
    assert!(
        err(market_stranger.setPrice(one, one).send().await.unwrap_err())
            .starts_with("NotProductOwner")
    );
    assert!(
        err(market_alice
            .setPrice(U256::from(99u64), one)
            .send()
            .await
            .unwrap_err())
        .starts_with("ProductNotFound")
    );
    market_alice
        .updateProduct(
            one,
            alice,
            U256::from(100u64),
            1,
            r#"{"name":"n"}"#.into(),
            "t".into(),
            B256::ZERO,
        )
        .mined()
        .await;
    let buyer = client(&chain, 2).await;
    let fee_before = c.balance(signer(3).address()).await.unwrap();
    let seller_before = c.balance(alice).await.unwrap();
    buyer.buy(1, 10, U256::from(1000u64)).await.unwrap();
    assert_eq!(
        c.balance(signer(3).address()).await.unwrap() - fee_before,
        U256::from(50u64)
    );
    assert_eq!(
        c.balance(alice).await.unwrap() - seller_before,
        U256::from(950u64)
    );
}

#[tokio::test]
async fn the_faucet_refuses_other_chains() {
    let chain = Chain::start_with_chain_id(1337).await;
    let c = client(&chain, 1).await;
    let reason = revert_reason(
        c.faucet(signer(1).address(), U256::from(1u64))
            .await
            .unwrap_err(),
    );
    assert!(reason.starts_with("FaucetDisabled"), "{reason}");
}
