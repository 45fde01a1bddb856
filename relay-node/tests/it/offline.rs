//! Issue 13's key distribution without the publisher: a buyer who bought while the publisher was stopped
//! decrypts the earlier events from an envelope in the part's history once the publisher was online once
//! (and gone again), and a reader whose licence lapses by the chain's clock makes the publisher rekey on
//! its own, so the lapsed reader gets nothing published after while a licensed reader reads on. Real
//! chain, real storage node, the Rust client with chain access (so it encrypts by default and runs its
//! key service with envelopes and rekeys).

use std::{
    path::Path,
    sync::Arc,
    time::{Duration, Instant},
};

use k256::elliptic_curve::sec1::ToSec1Point;
use rivulet_client::{
    Client, ClientConfig, ContractsAccess, FileVault, HistoryQuery, KeyResponse, PublishOptions,
    Published, REKEY_CHECK, StreamAccess, Subscription, SubscriptionEvent,
};
use rivulet_contracts::{
    B256, Contracts, Deployment, NewProduct, PermissionKind, Sender, U256,
    bindings::{DataToken, Marketplace},
    to_alloy,
};
use rivulet_deploy::dev::{DEV_KEYS, dev_key};
use rivulet_protocol::{ContentType, GroupKeyId, MessageType, Signer, StreamPartId};

use crate::{
    access::client,
    support::{Node, World, history, start_node},
};

/// A client of `node` signing with `key`, with chain access (a read-only connection) and, when given,
/// a key vault: what a publisher runs.
async fn publisher(world: &World, node: &Node, key: [u8; 32], vault: Option<&Path>) -> Client {
    let contracts = Contracts::connect_http(
        Deployment::load(&world.deployment_file).unwrap(),
        None,
        Sender::None,
    )
    .await
    .unwrap();
    Client::new(ClientConfig {
        nodes: vec![node.listen[0].parse().unwrap()],
        private_key: Some(key),
        request_timeout: Duration::from_secs(20),
        key_vault: vault.map(|v| Arc::new(FileVault::new(v)) as Arc<dyn rivulet_client::KeyVault>),
        access: Some(Arc::new(ContractsAccess::new(contracts)) as Arc<dyn StreamAccess>),
        ..ClientConfig::default()
    })
    .unwrap()
}

/// A node that stores the world's stream part.
fn storing_node(world: &World) -> Node {
    start_node(
        &world.dir.path().join("store"),
        &world.deployment_file,
        &["--storage.part", &world.part],
    )
}

/// Publishes `content` with no option (the stream is private, so the client encrypts); stored.
async fn publish(publisher: &Client, world: &World, content: &str) -> Published {
    let published = publisher
        .publish(
            &world.stream,
            ContentType::Json,
            content.as_bytes().to_vec(),
            PublishOptions::default(),
        )
        .await
        .unwrap();
    assert!(published.stored, "the storage node stores the part");
    assert_ne!(published.message.body.content, content.as_bytes(), "sealed");
    published
}

fn key_id(published: &Published) -> GroupKeyId {
    published
        .message
        .body
        .encryption
        .group_key_id()
        .expect("encrypted")
        .clone()
}

/// Waits until `node` lets `reader` read the world's stream (it follows the registry).
async fn until_readable(node: &Node, world: &World, reader: &Signer) {
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, body) = history(&http, node, &world.stream, reader).await;
        if status == 200 {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the node never let the reader read: {status} {body}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// The next event of `sub` that is not a gap, within 30 s.
async fn next_event(sub: &mut Subscription) -> SubscriptionEvent {
    loop {
        match tokio::time::timeout(Duration::from_secs(30), sub.next()).await {
            Ok(Some(SubscriptionEvent::Gap { .. })) => {}
            Ok(Some(event)) => return event,
            other => panic!("expected an event, got {other:?}"),
        }
    }
}

/// Stops `client` and waits until it is gone (its connection task ended, its connections closed).
async fn stop(client: Client) {
    client.destroy();
    let deadline = Instant::now() + Duration::from_secs(10);
    while client.wait_connected().await.is_ok() {
        assert!(Instant::now() < deadline, "the client did not stop");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// `signer`'s secp256k1 public key as the registry takes it: 64 bytes, x ‖ y.
fn registry_public_key(signer: &Signer) -> Vec<u8> {
    signer.public_key().to_sec1_point(false).as_bytes()[1..].to_vec()
}

/// Makes the world's stream a product and buys an hour of it as `buyer` with `buyWithKey`, which also
/// registers the buyer's public key in the registry.
async fn buy_with_key(world: &World, buyer: &Signer) {
    let deployment = Deployment::load(&world.deployment_file).unwrap();
    let seller = Contracts::connect_http(deployment.clone(), None, Sender::Key(dev_key(1)))
        .await
        .unwrap();
    seller
        .grant(&world.stream, deployment.marketplace, PermissionKind::Grant)
        .await
        .unwrap();
    let product = seller
        .create_product(&NewProduct {
            streams: vec![world.stream.clone()],
            beneficiary: to_alloy(dev_key(1).address()),
            price_per_second: U256::from(1_000_000_000_000u64),
            minimum_seconds: 60,
            metadata: r#"{"name":"Sensors"}"#.into(),
            terms_uri: String::new(),
            terms_hash: B256::ZERO,
        })
        .await
        .unwrap();
    let buying = Contracts::connect_http(deployment.clone(), None, Sender::Key(buyer.clone()))
        .await
        .unwrap();
    let cost = buying.price_of(product, 3600).await.unwrap();
    buying
        .faucet(to_alloy(buyer.address()), cost)
        .await
        .unwrap();
    buying
        .chain()
        .send(
            deployment.data_token,
            DataToken::approveCall {
                spender: deployment.marketplace,
                value: cost,
            },
        )
        .await
        .unwrap();
    buying
        .chain()
        .send(
            deployment.marketplace,
            Marketplace::buyWithKeyCall {
                productId: U256::from(product),
                seconds_: 3600,
                maxPrice: cost,
                publicKey: registry_public_key(buyer).into(),
            },
        )
        .await
        .unwrap();
    assert!(
        buying
            .licence_expiry(product, to_alloy(buyer.address()))
            .await
            .unwrap()
            > buying.chain_time().await.unwrap(),
        "licensed"
    );
}

/// The envelopes addressed to `reader` in the part's history, opened as JSON.
async fn envelopes(reader: &Client, part: &StreamPartId) -> Vec<KeyResponse> {
    reader
        .resend(
            part,
            HistoryQuery::Envelopes {
                recipient: reader.address().to_checksum(),
                after: (0, 0),
                resume: None,
            },
        )
        .await
        .unwrap()
        .into_iter()
        .filter(|m| m.body.message_type == MessageType::GroupKeyResponse)
        .map(|m| serde_json::from_slice(&m.body.content).unwrap())
        .collect()
}

/// A buyer who bought while the publisher was stopped cannot decrypt then (no key holder is online);
/// the publisher, restarted with the same key and vault, seals its keys to the buyer's registered key
/// and goes away again; the buyer then decrypts the earlier events from the envelope in history, with
/// no key holder online to answer a request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_buyer_who_bought_while_the_publisher_was_away_decrypts_from_history() {
    let world = World::new().await;
    let part: StreamPartId = world.part.parse().unwrap();
    let node = storing_node(&world);
    let vault = world.dir.path().join("publisher-keys");
    let device = world.device.to_bytes();

    // The publisher publishes three events (encrypted: the stream is private) and stops.
    let first = publisher(&world, &node, device, Some(&vault)).await;
    let mut ids = Vec::new();
    for n in 0..3 {
        ids.push(key_id(
            &publish(&first, &world, &format!(r#"{{"early":{n}}}"#)).await,
        ));
    }
    let key = ids[0].clone();
    assert!(ids.iter().all(|id| *id == key), "one key: {ids:?}");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(first.key_vault_error(), None);
    assert!(vault.exists());
    stop(first).await;

    // Meanwhile a buyer buys, registering its public key on chain.
    let buyer = Signer::from_hex(DEV_KEYS[3]).unwrap();
    buy_with_key(&world, &buyer).await;
    until_readable(&node, &world, &buyer).await;

    // No key holder is online: the buyer reads the events but cannot decrypt them.
    let reader = client(&[&node.listen[0]], buyer.to_bytes());
    assert!(
        envelopes(&reader, &part).await.is_empty(),
        "no envelope yet"
    );
    let mut sub = reader.subscribe(&part, Some(50)).await.unwrap();
    match next_event(&mut sub).await {
        SubscriptionEvent::Undecryptable {
            group_key_id,
            reason,
            ..
        } => {
            assert_eq!(group_key_id, key.as_str());
            assert!(reason.contains("no key arrived"), "{reason}");
        }
        other => panic!("decrypted with no key holder online: {other:?}"),
    }
    drop(sub);
    stop(reader).await;

    // The publisher comes back with the same key and vault, publishes nothing, and seals its keys to
    // the buyer; once the envelope is in the part's history it goes away again.
    let again = publisher(&world, &node, device, Some(&vault)).await;
    let later = client(&[&node.listen[0]], buyer.to_bytes());
    let deadline = Instant::now() + Duration::from_secs(30);
    let envelope = loop {
        if let Some(envelope) = envelopes(&later, &part).await.pop() {
            break envelope;
        }
        assert!(
            Instant::now() < deadline,
            "the restarted publisher sealed no envelope to the buyer"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    assert_eq!(again.key_vault_error(), None);
    stop(again).await;
    assert_eq!(envelope.request_id, "envelope", "answers no request");
    assert!(
        envelope
            .recipient
            .eq_ignore_ascii_case(&buyer.address().to_checksum())
    );
    assert!(envelope.keys.iter().any(|k| k.id == key.as_str()));

    // Nobody holding the key is online; the buyer decrypts the earlier history.
    let mut sub = later.subscribe(&part, Some(50)).await.unwrap();
    for n in 0..3 {
        match next_event(&mut sub).await {
            SubscriptionEvent::Message(m) => {
                assert_eq!(m.body.content, format!(r#"{{"early":{n}}}"#).into_bytes())
            }
            other => panic!("event {n}: {other:?}"),
        }
    }
    // No key holder answered a request of the buyer's: the only key responses to it are envelopes.
    let responses: Vec<KeyResponse> = later
        .resend(&part, HistoryQuery::Last { n: 100 })
        .await
        .unwrap()
        .into_iter()
        .filter(|m| m.body.message_type == MessageType::GroupKeyResponse)
        .map(|m| serde_json::from_slice::<KeyResponse>(&m.body.content).unwrap())
        .filter(|r| {
            r.recipient
                .eq_ignore_ascii_case(&buyer.address().to_checksum())
        })
        .collect();
    assert!(!responses.is_empty());
    assert!(
        responses.iter().all(|r| r.request_id == "envelope"),
        "{responses:?}"
    );
}

/// A reader's licence expires by the chain's clock: the publisher, doing nothing of its own, rekeys
/// within a few seconds (a new key nobody holds, not a rotation announced under the old one); the lapsed
/// reader cannot obtain the new key, a licensed reader decrypts on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lapsed_licence_makes_the_publisher_rekey_and_the_lapsed_reader_reads_nothing_after() {
    let world = World::new().await;
    let part: StreamPartId = world.part.parse().unwrap();
    let owner = world.owner().await;
    let lapsing = Signer::from_bytes(&[0x52; 32]).unwrap();
    let expiry = owner.chain_time().await.unwrap() + 300;
    owner
        .grant_until(
            &world.stream,
            to_alloy(lapsing.address()),
            PermissionKind::Subscribe,
            expiry,
        )
        .await
        .unwrap();
    let node = storing_node(&world);
    until_readable(&node, &world, &lapsing).await;

    let device = publisher(&world, &node, world.device.to_bytes(), None).await;
    let licensed = client(&[&node.listen[0]], world.reader.to_bytes());
    let lapsed = client(&[&node.listen[0]], lapsing.to_bytes());
    let mut licensed_sub = licensed.subscribe(&part, None).await.unwrap();
    let mut lapsed_sub = lapsed.subscribe(&part, None).await.unwrap();

    // Event A: both readers get its key from the publisher and decrypt it.
    let a = publish(&device, &world, r#"{"event":"A"}"#).await;
    for (who, sub) in [
        ("licensed", &mut licensed_sub),
        ("lapsing", &mut lapsed_sub),
    ] {
        match next_event(sub).await {
            SubscriptionEvent::Message(m) => {
                assert_eq!(m.body.content, br#"{"event":"A"}"#, "{who}")
            }
            other => panic!("{who} did not decrypt A: {other:?}"),
        }
    }
    // Nothing changes while the licence holds.
    tokio::time::sleep(REKEY_CHECK * 3).await;
    let still = publish(&device, &world, r#"{"event":"still"}"#).await;
    assert_eq!(
        key_id(&still),
        key_id(&a),
        "no rekey while every holder may read"
    );

    // The chain moves past the licence's end; the publisher is left alone.
    let rpc = owner.rpc();
    rpc.call("evm_increaseTime", serde_json::json!([600]))
        .await
        .unwrap();
    rpc.call("evm_mine", serde_json::json!([])).await.unwrap();
    assert!(owner.chain_time().await.unwrap() > expiry);
    let lapsed_at = Instant::now();

    // It keeps publishing; within a few seconds its events are under a new key.
    let mut published = vec![still];
    let b = loop {
        let n = published.len();
        let next = publish(&device, &world, &format!(r#"{{"event":{n}}}"#)).await;
        published.push(next.clone());
        if key_id(&next) != key_id(&a) {
            break next;
        }
        assert!(
            lapsed_at.elapsed() < Duration::from_secs(10),
            "no rekey 10 s after the licence ended"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    // A rekey, not a rotation: the new key was never announced under the one the lapsed reader holds.
    assert!(
        published
            .iter()
            .chain([&a])
            .all(|p| p.message.body.new_group_key.is_none()),
        "the new key travelled sealed under the old one"
    );
    let b_plain = format!(r#"{{"event":{}}}"#, published.len() - 1);

    // The licensed reader asks for the new key and decrypts on, through B.
    loop {
        match next_event(&mut licensed_sub).await {
            SubscriptionEvent::Message(m) if m.body.content == b_plain.as_bytes() => break,
            SubscriptionEvent::Message(_) => {}
            other => panic!("the licensed reader: {other:?}"),
        }
    }

    // The lapsed reader: its subscription ends, nothing under the new key reaches it, and its request
    // for B's key is refused.
    loop {
        match tokio::time::timeout(Duration::from_secs(15), lapsed_sub.next()).await {
            Ok(Some(SubscriptionEvent::Message(m) | SubscriptionEvent::Late(m))) => {
                assert_ne!(
                    m.body.content,
                    b_plain.as_bytes(),
                    "the lapsed reader read B"
                );
            }
            Ok(Some(SubscriptionEvent::Ended(_)) | None) => break,
            Ok(Some(_)) => {}
            Err(_) => panic!("the lapsed reader's subscription did not end"),
        }
    }
    let refused = lapsed
        .request_group_keys(&part, world.device.address(), &[key_id(&b)])
        .await
        .unwrap_err();
    assert_eq!(refused.code(), "NO_PERMISSION", "{refused}");
}

/// A subscriber whose key did not come in time (its publisher was away) is told the events are
/// undecryptable, and gets them late — decrypted, without subscribing again — once the publisher is
/// back with its vault and publishes again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_whose_key_came_late_are_handed_out_late() {
    let world = World::new().await;
    let part: StreamPartId = world.part.parse().unwrap();
    let node = storing_node(&world);
    let vault = world.dir.path().join("publisher-keys");
    let device = world.device.to_bytes();
    let first = publisher(&world, &node, device, Some(&vault)).await;
    for n in 0..3 {
        publish(&first, &world, &format!(r#"{{"early":{n}}}"#)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop(first).await;

    // The reader may read, but nobody holding the key is online: three notices, at once for the two
    // behind the first (they wait for the same key).
    until_readable(&node, &world, &world.reader).await;
    let reader = client(&[&node.listen[0]], world.reader.to_bytes());
    let mut sub = reader.subscribe(&part, Some(50)).await.unwrap();
    let waited = Instant::now();
    let mut notices = Vec::new();
    while notices.len() < 3 {
        match next_event(&mut sub).await {
            SubscriptionEvent::Undecryptable {
                timestamp, reason, ..
            } => {
                assert!(reason.contains("no key arrived"), "{reason}");
                notices.push(timestamp);
            }
            other => panic!("decrypted with no key holder online: {other:?}"),
        }
    }
    assert!(
        waited.elapsed() < Duration::from_secs(20),
        "one wait for one key, not one per event: {:?}",
        waited.elapsed()
    );

    // The publisher comes back and publishes: the new event, and the three earlier ones late.
    let again = publisher(&world, &node, device, Some(&vault)).await;
    publish(&again, &world, r#"{"back":true}"#).await;
    let mut late = Vec::new();
    let mut back = false;
    while late.len() < 3 || !back {
        match next_event(&mut sub).await {
            SubscriptionEvent::Late(m) => {
                assert!(
                    notices.contains(&m.id().timestamp),
                    "late: one reported before"
                );
                late.push(String::from_utf8(m.body.content).unwrap());
            }
            SubscriptionEvent::Message(m) => {
                assert_eq!(m.body.content, br#"{"back":true}"#);
                back = true;
            }
            other => panic!("expected the new event and the late ones: {other:?}"),
        }
    }
    late.sort();
    assert_eq!(late, [r#"{"early":0}"#, r#"{"early":1}"#, r#"{"early":2}"#]);
    stop(again).await;
}
