//! `Contracts` and `PermissionCache` against a real chain; bad endpoints, files and reverts as typed
//! errors.

use rivulet_contracts::{
    Address, B256, Contracts, ContractsError, Deployment, NO_EXPIRATION, NewProduct,
    PermissionCache, PermissionKind, Permissions, PurchaseFilter, Revert, Sender, StreamMetadata,
    U256,
    bindings::{DataToken, Marketplace, StreamRegistry, StreamRegistry::StreamRegistryErrors},
};
use rivulet_protocol::StreamId;

use crate::anvil::{TestChain, address, revert};

fn revert_reason(e: ContractsError) -> String {
    match e {
        ContractsError::Reverted(revert) => revert.to_string(),
        other => panic!("expected a revert, got {other}"),
    }
}

#[tokio::test]
async fn streams_search_and_permissions_through_the_client() {
    let chain = TestChain::start().await;
    let alice = chain.contracts(1).await;
    let bob = chain.contracts(2).await;
    let bob_addr = address(2);

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
            format!("{:?}", address(1)).to_lowercase()
        )
    );
    let info = alice.get_stream(&weather).await.unwrap().unwrap();
    assert_eq!(info.metadata.partitions, 4);
    assert_eq!(info.creator, address(1));
    assert!(info.created_at > 0);
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
        Err(ContractsError::Partitions(0))
    ));

    // List and search follow creations, updates and deletions.
    let listed = alice.list_streams().await.unwrap();
    assert_eq!(
        listed.iter().map(|s| s.id.clone()).collect::<Vec<_>>(),
        [weather.clone(), traffic.clone()]
    );
    assert_eq!(
        listed[0], info,
        "read from the registry, creation time included"
    );
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
        !bob.has_permission(&weather, bob_addr, PermissionKind::Publish)
            .await
            .unwrap()
    );
    alice
        .grant_until(&weather, bob_addr, PermissionKind::Publish, now + 1000)
        .await
        .unwrap();
    assert!(
        bob.has_permission(&weather, bob_addr, PermissionKind::Publish)
            .await
            .unwrap()
    );
    assert!(
        bob.has_permission_at(&weather, bob_addr, PermissionKind::Publish, now + 999)
            .await
            .unwrap()
    );
    assert!(
        !bob.has_permission_at(&weather, bob_addr, PermissionKind::Publish, now + 1000)
            .await
            .unwrap()
    );
    assert!(
        !bob.has_permission_at(&traffic, bob_addr, PermissionKind::Publish, now)
            .await
            .unwrap(),
        "a deleted stream grants nothing"
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
        bob.has_permission_at(
            &weather,
            Address::repeat_byte(7),
            PermissionKind::Subscribe,
            now
        )
        .await
        .unwrap()
    );
    assert!(
        !bob.has_direct_permission(&weather, Address::repeat_byte(7), PermissionKind::Subscribe)
            .await
            .unwrap(),
        "public, not direct"
    );
    alice
        .revoke(&weather, bob_addr, PermissionKind::Publish)
        .await
        .unwrap();
    assert!(
        !bob.has_permission(&weather, bob_addr, PermissionKind::Publish)
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
    match revert(bob.grant(&weather, bob_addr, PermissionKind::Edit).await) {
        Revert::StreamRegistry(StreamRegistryErrors::NoPermission(e)) => {
            assert_eq!(
                (e.user, e.required),
                (bob_addr, PermissionKind::Grant.as_u8())
            );
        }
        other => panic!("expected NoPermission, got {other}"),
    }
    // A read-only client says so.
    let reader = Contracts::connect_http(chain.deployment.clone(), None, Sender::None)
        .await
        .unwrap();
    assert!(matches!(
        reader.create_stream("x", &StreamMetadata::default()).await,
        Err(ContractsError::NoSender)
    ));
}

#[tokio::test]
async fn permission_cache_agrees_with_the_registry_at_every_step() {
    let chain = TestChain::start().await;
    let seller = chain.contracts(1).await;
    let buyer = chain.contracts(2).await;
    let buyer_addr = address(2);
    let device = Address::repeat_byte(0xde);
    let mut cache = PermissionCache::new(chain.deployment.start_block);

    let stream = seller
        .create_stream("sensors", &StreamMetadata::named("Sensors", ""))
        .await
        .unwrap();
    let id = stream.as_str();
    cache.sync(&seller).await.unwrap();
    let now = seller.chain_time().await.unwrap();
    assert!(cache.may_publish(id, address(1), now));
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
            .has_permission(&stream, device, PermissionKind::Publish)
            .await
            .unwrap()
    );

    // Time passes: the cache and the contract agree that it expired.
    chain.advance(61).await;
    let later = seller.chain_time().await.unwrap();
    assert!(!cache.may_publish(id, device, later));
    assert!(
        !seller
            .has_permission(&stream, device, PermissionKind::Publish)
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
            beneficiary: address(1),
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
    let deadline = buyer.chain_time().await.unwrap() + 3600;
    let extended = buyer
        .buy_with_permit(product, 50, U256::from(250u64), deadline)
        .await
        .unwrap();
    assert_eq!(extended, expiry + 50);
    cache.sync(&seller).await.unwrap();
    assert!(cache.may_subscribe(id, buyer_addr, extended - 1));

    // The seller sees the sales, the buyer their purchases; the listing reads back.
    let sales = seller
        .purchases(PurchaseFilter::by_seller(address(1)))
        .await
        .unwrap();
    assert_eq!(sales.len(), 2);
    assert_eq!(
        (sales[0].price, sales[0].buyer, sales[0].expiry),
        (U256::from(500u64), buyer_addr, expiry)
    );
    assert!(sales[0].block > 0 && sales[0].block < sales[1].block);
    assert!(
        seller
            .purchases(PurchaseFilter::by_seller(address(3)))
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        seller
            .purchases(PurchaseFilter::by_buyer(buyer_addr))
            .await
            .unwrap(),
        sales
    );
    assert!(
        seller
            .purchases(PurchaseFilter {
                buyer: Some(buyer_addr),
                seller: Some(address(3)),
            })
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        seller.purchases(PurchaseFilter::all()).await.unwrap(),
        sales
    );
    let listed = seller.list_products().await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].streams, vec![stream.to_string()]);
    assert_eq!(listed[0].terms_hash, B256::repeat_byte(1));
    assert_eq!(listed[0], seller.get_product(product).await.unwrap());
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
    let chain = TestChain::start().await;
    // Nothing listens on this port.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let unreachable = Contracts::connect_http(
        chain.deployment.clone(),
        Some(&format!("http://127.0.0.1:{closed}")),
        Sender::None,
    )
    .await;
    match unreachable {
        Err(e @ ContractsError::Unreachable { .. }) => {
            assert!(std::error::Error::source(&e).is_some(), "keeps its cause")
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        Contracts::connect_http(chain.deployment.clone(), Some("not a url"), Sender::None).await,
        Err(ContractsError::InvalidUrl(_))
    ));
    let wrong_chain = Deployment {
        chain_id: 1,
        ..chain.deployment.clone()
    };
    assert!(matches!(
        Contracts::connect_http(wrong_chain, None, Sender::None).await,
        Err(ContractsError::WrongChain {
            expected: 1,
            actual: 31337
        })
    ));
    let no_code = Deployment {
        marketplace: Address::repeat_byte(0x42),
        ..chain.deployment.clone()
    };
    assert!(matches!(
        Contracts::connect_http(no_code, None, Sender::None).await,
        Err(ContractsError::NoCode {
            name: "Marketplace",
            ..
        })
    ));
    // Deployment files: missing and malformed.
    let dir = std::env::temp_dir().join(format!("rivulet-contracts-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    assert!(matches!(
        Deployment::load(&dir.join("missing.json")),
        Err(ContractsError::DeploymentFile { action: "read", .. })
    ));
    std::fs::write(dir.join("bad.json"), "{").unwrap();
    assert!(matches!(
        Deployment::load(&dir.join("bad.json")),
        Err(ContractsError::DeploymentFormat { .. })
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
    let chain = TestChain::start().await;
    let d = &chain.deployment;
    let (registry, token, market) = (d.stream_registry, d.data_token, d.marketplace);
    let alice = address(1);
    let (owner, alice_chain, stranger) = (
        chain.chain(0).await,
        chain.chain(1).await,
        chain.chain(2).await,
    );
    let c = chain.contracts(1).await;
    let err = |e: ContractsError| revert_reason(e);

    let id: StreamId = c
        .create_stream("s", &StreamMetadata::default())
        .await
        .unwrap();
    let s = id.to_string();
    let batch = StreamRegistry::setPermissionsBatchCall {
        streamId: s.clone(),
        users: vec![alice],
        perms: vec![],
    };
    assert!(
        err(alice_chain.send(registry, batch).await.unwrap_err()).starts_with("LengthMismatch")
    );
    let expiring_edit = StreamRegistry::setExpirationTimeCall {
        streamId: s.clone(),
        user: alice,
        kind: 0,
        expiration: 5,
    };
    assert!(
        err(alice_chain.send(registry, expiring_edit).await.unwrap_err())
            .starts_with("NotAnExpiringPermission")
    );
    let revoke_all = |user| StreamRegistry::revokeAllPermissionsForUserCall {
        streamId: s.clone(),
        user,
    };
    assert!(
        err(stranger
            .send(registry, revoke_all(alice))
            .await
            .unwrap_err())
        .starts_with("NoPermission")
    );
    let set = StreamRegistry::setPermissionsCall {
        streamId: s.clone(),
        user: alice,
        permission: Permissions::default().into(),
    };
    assert!(err(stranger.send(registry, set).await.unwrap_err()).starts_with("NoPermission"));
    // A user may drop all their own permissions.
    stranger
        .send(registry, revoke_all(address(2)))
        .await
        .unwrap();

    // Token: only the owner mints; the faucet works on the local chain.
    let mint = DataToken::mintCall {
        to: alice,
        amount: U256::from(1u64),
    };
    assert!(
        err(stranger.send(token, mint.clone()).await.unwrap_err())
            .starts_with("OwnableUnauthorizedAccount")
    );
    owner.send(token, mint).await.unwrap();
    let before = c.balance(alice).await.unwrap();
    c.faucet(alice, U256::from(10u64)).await.unwrap();
    assert_eq!(c.balance(alice).await.unwrap() - before, U256::from(10u64));

    // Marketplace: fee rules, listing limits, owner-only updates, fee split on purchase.
    let fee = |basis_points, recipient| Marketplace::setFeeCall {
        basisPoints: basis_points,
        recipient,
    };
    assert!(
        err(stranger.send(market, fee(10, alice)).await.unwrap_err())
            .starts_with("OwnableUnauthorizedAccount")
    );
    assert!(err(owner.send(market, fee(1001, alice)).await.unwrap_err()).starts_with("FeeTooHigh"));
    owner.send(market, fee(500, address(3))).await.unwrap();
    c.grant(&id, market, PermissionKind::Grant).await.unwrap();
    let many: Vec<String> = (0..21).map(|_| s.clone()).collect();
    let list = |streams: Vec<String>, beneficiary: Address| Marketplace::createProductCall {
        streams,
        beneficiary,
        pricePerSecond: U256::from(100u64),
        minimumSeconds: 1,
        metadata: String::new(),
        termsUri: String::new(),
        termsHash: B256::ZERO,
    };
    assert!(
        err(alice_chain
            .send(market, list(many, alice))
            .await
            .unwrap_err())
        .starts_with("TooManyStreams")
    );
    assert!(
        err(alice_chain
            .send(market, list(vec![s.clone()], Address::ZERO))
            .await
            .unwrap_err())
        .starts_with("ZeroBeneficiary")
    );
    alice_chain
        .send(market, list(vec![s.clone()], alice))
        .await
        .unwrap();
    let one = U256::from(1u64);
    let update = |metadata: &str| Marketplace::updateProductCall {
        productId: one,
        beneficiary: alice,
        pricePerSecond: U256::from(100u64),
        minimumSeconds: 1,
        metadata: metadata.into(),
        termsUri: "t".into(),
        termsHash: B256::ZERO,
    };
    assert!(
        err(stranger.send(market, update("")).await.unwrap_err()).starts_with("NotProductOwner")
    );
    let price = |product_id| Marketplace::setPriceCall {
        productId: product_id,
        pricePerSecond: one,
    };
    assert!(
        err(stranger.send(market, price(one)).await.unwrap_err()).starts_with("NotProductOwner")
    );
    assert!(
        err(alice_chain
            .send(market, price(U256::from(99u64)))
            .await
            .unwrap_err())
        .starts_with("ProductNotFound")
    );
    alice_chain
        .send(market, update(r#"{"name":"n"}"#))
        .await
        .unwrap();
    let buyer = chain.contracts(2).await;
    let fee_before = c.balance(address(3)).await.unwrap();
    let seller_before = c.balance(alice).await.unwrap();
    buyer.buy(1, 10, U256::from(1000u64)).await.unwrap();
    assert_eq!(
        c.balance(address(3)).await.unwrap() - fee_before,
        U256::from(50u64)
    );
    assert_eq!(
        c.balance(alice).await.unwrap() - seller_before,
        U256::from(950u64)
    );
    let sale = &buyer.purchases(PurchaseFilter::all()).await.unwrap()[0];
    assert_eq!(
        (sale.price, sale.fee),
        (U256::from(1000u64), U256::from(50u64))
    );
}

#[tokio::test]
async fn the_faucet_refuses_other_chains() {
    let chain = TestChain::start_with_chain_id(1337).await;
    let c = chain.contracts(1).await;
    let reason = revert_reason(c.faucet(address(1), U256::from(1u64)).await.unwrap_err());
    assert!(reason.starts_with("FaucetDisabled"), "{reason}");
}
