//! Selling and buying through `Contracts` against a real anvil chain: a seller lists a stream; buyers
//! license it with a permit signed by a key, with a permit signed by a wallet through
//! `eth_signTypedData_v4` (anvil's unlocked accounts play the wallet, as a browser wallet would), and by
//! approve-then-buy; each step is reported; the contracts' refusals come back by name.

use std::path::Path;

use rivulet_contracts::{
    Address, B256, Contracts, ContractsError, NewProduct, PermissionKind, PurchaseFilter, Rpc,
    Sender, StreamMetadata, TxStep, U256,
};
use rivulet_deploy::dev::{deployed_chain, dev_key};
use rivulet_protocol::Signer;

fn key(i: usize) -> Signer {
    dev_key(i)
}

fn addr(s: &Signer) -> Address {
    Address::from(s.address().0)
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_and_license_with_key_wallet_and_approve() {
    let (anvil, d) = deployed_chain(Path::new(env!("CARGO_MANIFEST_DIR")))
        .await
        .unwrap();
    let url = anvil.url();
    let connect = |sender: Sender| {
        let (url, d) = (url.clone(), d.clone());
        async move {
            Contracts::connect(Rpc::http(&url).unwrap(), d, sender)
                .await
                .unwrap()
        }
    };

    // The seller makes a stream, lets the marketplace grant on it, and lists it.
    let seller = connect(Sender::Key(key(1))).await;
    let stream = seller
        .create_stream("market/feed", &StreamMetadata::named("Feed", ""))
        .await
        .unwrap();
    seller
        .grant(&stream, d.marketplace, PermissionKind::Grant)
        .await
        .unwrap();
    let price = U256::from(1_000_000_000_000_000u64); // 0.001 DATA a second
    let id = seller
        .create_product(&NewProduct {
            streams: vec![stream.clone()],
            beneficiary: addr(&key(1)),
            price_per_second: price,
            minimum_seconds: 60,
            metadata: r#"{"name":"Feed"}"#.into(),
            terms_uri: String::new(),
            terms_hash: B256::ZERO,
        })
        .await
        .unwrap();
    let listed = seller.list_products().await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(
        (listed[0].id, listed[0].price_per_second, listed[0].active),
        (id, price, true)
    );
    let cost = seller.price_of(id, 3600).await.unwrap();
    assert_eq!(cost, price * U256::from(3600u64));

    // A buyer with a key: one transaction, the permit signed here.
    let a = connect(Sender::Key(key(2))).await;
    a.faucet(addr(&key(2)), cost * U256::from(10u64))
        .await
        .unwrap();
    let expiry = a
        .buy_with_permit(id, 3600, cost, now() + 600)
        .await
        .unwrap();
    assert!(expiry >= now() + 3500, "licensed for an hour");
    assert!(
        a.has_direct_permission(&stream, addr(&key(2)), PermissionKind::Subscribe)
            .await
            .unwrap()
    );

    // A buyer with a wallet: the permit is EIP-712 JSON to eth_signTypedData_v4, the transaction goes
    // through eth_sendTransaction — and the token accepts the wallet's signature.
    // Each step is reported as it happens.
    let wallet_account = addr(&key(3));
    let (progress, mut steps) = futures_channel::mpsc::unbounded();
    let b = connect(Sender::Wallet(wallet_account))
        .await
        .with_progress(progress);
    b.faucet(wallet_account, cost).await.unwrap();
    let expiry = b
        .buy_with_permit(id, 3600, cost, now() + 600)
        .await
        .unwrap();
    assert!(expiry >= now() + 3500);
    let mut seen = Vec::new();
    while let Ok(step) = steps.try_recv() {
        seen.push(match step {
            TxStep::SignatureRequested { what } => format!("sign {what}"),
            TxStep::Signed { what } => format!("signed {what}"),
            TxStep::TransactionRequested { what } => format!("send {what}"),
            TxStep::Sent { what, hash } => {
                assert_eq!(hash.len(), 66);
                format!("sent {what}")
            }
            TxStep::Confirmed { what, block, .. } => {
                assert!(block > 0);
                format!("confirmed {what}")
            }
        });
    }
    assert_eq!(
        seen,
        [
            "send faucet",
            "sent faucet",
            "confirmed faucet",
            "sign permit",
            "signed permit",
            "send buyWithPermit",
            "sent buyWithPermit",
            "confirmed buyWithPermit"
        ]
    );
    assert!(b.chain_time().await.unwrap() >= now() - 60);
    assert_eq!(
        b.balance(wallet_account).await.unwrap(),
        U256::ZERO,
        "paid exactly the price"
    );

    // A buyer without permit: approve, then buy; a second purchase extends the licence.
    let c = connect(Sender::Key(key(4))).await;
    c.faucet(addr(&key(4)), cost * U256::from(2u64))
        .await
        .unwrap();
    let first = c.buy(id, 3600, cost).await.unwrap();
    let second = c.buy(id, 3600, cost).await.unwrap();
    assert_eq!(second, first + 3600, "extended from its end");

    // Refusals come back by name.
    let refusal = |r: Result<u64, ContractsError>| match r {
        Err(ContractsError::Reverted(why)) => why.to_string(),
        other => panic!("expected a revert, got {other:?}"),
    };
    assert!(refusal(a.buy(id, 10, cost).await).contains("PeriodTooShort"));
    assert!(refusal(a.buy(id, 3600, U256::from(1u64)).await).contains("PriceAboveMaximum"));
    let poor = connect(Sender::Key(key(5))).await;
    assert!(refusal(poor.buy(id, 3600, cost).await).contains("ERC20InsufficientBalance"));
    seller.set_product_active(id, false).await.unwrap();
    assert!(refusal(a.buy(id, 3600, cost).await).contains("ProductIsPaused"));
    match b.set_product_price(id, U256::from(5u64)).await {
        Err(ContractsError::Reverted(why)) => assert_eq!(why.name(), "NotProductOwner", "{why}"),
        other => panic!("{other:?}"),
    }

    // The sales, from the marketplace's events.
    let all = seller.purchases(PurchaseFilter::all()).await.unwrap();
    assert_eq!(all.len(), 4);
    assert!(
        all.iter()
            .all(|p| p.product_id == id && p.price == cost && p.beneficiary == addr(&key(1)))
    );
    let of_wallet = seller
        .purchases(PurchaseFilter::by_buyer(wallet_account))
        .await
        .unwrap();
    assert_eq!(of_wallet.len(), 1);
    assert_eq!(of_wallet[0].buyer, wallet_account);
    assert_eq!(
        seller
            .purchases(PurchaseFilter::by_seller(addr(&key(1))))
            .await
            .unwrap(),
        all
    );
    assert!(
        seller
            .purchases(PurchaseFilter::by_seller(wallet_account))
            .await
            .unwrap()
            .is_empty(),
        "the wallet bought, it sold nothing"
    );
}
