//! The light-client protocols with the real client (`rivulet-client`) against real node processes: a
//! publisher on A, a subscriber on B gets every event once, in order, verified; strangers are refused;
//! history comes from the storing node; when the subscriber's entry node dies it moves to the next one
//! and what it missed is filled by resend.

use std::time::Duration;

use rivulet_client::{
    Client, ClientConfig, ClientError, FileVault, HistoryQuery, PublishOptions, Published,
    SubscriptionEvent,
};
use rivulet_protocol::{
    ContentType, StreamId, StreamPartId,
    codec::{Limits, MAX_CONTENT_LEN},
};

use crate::support::{Node, World, start_configured_node, start_node};

pub(crate) fn client(nodes: &[&str], key: [u8; 32]) -> Client {
    Client::new(ClientConfig {
        nodes: nodes.iter().map(|a| a.parse().unwrap()).collect(),
        private_key: Some(key),
        request_timeout: Duration::from_secs(20),
        ..ClientConfig::default()
    })
    .unwrap()
}

/// Publishes binary `content` on a public stream, in the clear (a client without the chain at hand
/// encrypts by default).
async fn publish_clear(publisher: &Client, stream: &StreamId, content: Vec<u8>) -> Published {
    publisher
        .publish(
            stream,
            ContentType::Binary,
            content,
            PublishOptions {
                encrypt: Some(false),
                ..PublishOptions::default()
            },
        )
        .await
        .unwrap()
}

/// Node A stores the world's stream part; node B joins through A.
fn storing_node_and_peer(world: &World) -> (Node, Node) {
    let dir = world.dir.path();
    let a = start_node(
        &dir.join("a"),
        &world.deployment_file,
        &["--storage.part", &world.part],
    );
    let b = start_node(
        &dir.join("b"),
        &world.deployment_file,
        &["--network.bootstrap", &a.listen[0]],
    );
    (a, b)
}

async fn next_message(sub: &mut rivulet_client::Subscription) -> rivulet_protocol::StreamMessage {
    match tokio::time::timeout(Duration::from_secs(20), sub.next()).await {
        Ok(Some(SubscriptionEvent::Message(m))) => m,
        other => panic!("expected a message, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn light_clients_publish_subscribe_resend_and_fail_over() {
    let world = World::new().await;
    let dir = world.dir.path();
    let part: StreamPartId = world.part.parse().unwrap();
    let (a, b) = storing_node_and_peer(&world);
    let c = start_node(
        &dir.join("c"),
        &world.deployment_file,
        &["--network.bootstrap", &a.listen[0]],
    );

    let publisher = client(&[&a.listen[0]], world.device.to_bytes());
    let reader = client(&[&b.listen[0], &c.listen[0]], world.reader.to_bytes());
    reader.wait_connected().await.unwrap();
    let mut sub = reader.subscribe(&part, None).await.unwrap();

    // Strangers may neither subscribe nor publish.
    let stranger = client(&[&b.listen[0]], [9; 32]);
    match stranger.subscribe(&part, None).await {
        Err(ClientError::Refused { code, .. }) => assert_eq!(code, "no_permission"),
        other => panic!("a stranger subscribed: {:?}", other.map(|_| ())),
    }
    let refused = stranger
        .publish(
            &world.stream,
            ContentType::Json,
            b"{}".to_vec(),
            PublishOptions::default(),
        )
        .await
        .unwrap_err();
    assert_eq!(refused.code(), "NO_PERMISSION", "{refused}");

    // Warm up until the mesh carries A's events to B.
    let publish = |n: u32| {
        let publisher = publisher.clone();
        let stream = world.stream.clone();
        async move {
            publisher
                .publish(
                    &stream,
                    ContentType::Json,
                    format!(r#"{{"n":{n}}}"#).into_bytes(),
                    // Not public: encrypted end to end (the nodes refuse its plaintext).
                    PublishOptions {
                        encrypt: Some(true),
                        ..PublishOptions::default()
                    },
                )
                .await
                .unwrap()
        }
    };
    let mut n = 0;
    loop {
        n += 1;
        assert!(n < 100, "events from A never reached B");
        let published = publish(n).await;
        assert!(published.stored, "A stores the part");
        if let Ok(Some(_)) = tokio::time::timeout(Duration::from_millis(300), sub.next()).await {
            break;
        }
    }
    // Drain what the warm-up still has in flight.
    while let Ok(Some(_)) = tokio::time::timeout(Duration::from_millis(500), sub.next()).await {}

    // 30 events arrive once each, in order, from the publisher.
    let first = n + 1;
    for i in first..first + 30 {
        publish(i).await;
    }
    let mut last_ref = None;
    for i in first..first + 30 {
        let m = next_message(&mut sub).await;
        assert_eq!(m.body.content, format!(r#"{{"n":{i}}}"#).into_bytes());
        assert_eq!(m.id().publisher, world.device.address());
        assert!(Some(m.message_ref()) > last_ref);
        last_ref = Some(m.message_ref());
    }

    // History from the storing node, through B: the same events, as the nodes hold them (ciphertext).
    let history = reader
        .resend(&part, HistoryQuery::Last { n: 10 })
        .await
        .unwrap();
    assert_eq!(history.len(), 10);
    assert_eq!(history[9].message_ref(), last_ref.unwrap());
    assert!(history[9].body.encryption.group_key_id().is_some());

    // B dies: the reader moves to C, subscribes again, and gets every later event (gaps resent).
    drop(b);
    let next = first + 30;
    for i in next..next + 20 {
        publish(i).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut got = Vec::new();
    while got.len() < 20 {
        match tokio::time::timeout(Duration::from_secs(30), sub.next()).await {
            Ok(Some(SubscriptionEvent::Message(m))) => {
                let text = String::from_utf8(m.body.content.clone()).unwrap();
                got.push(text);
            }
            other => panic!("after failover: {other:?} (got {got:?})"),
        }
    }
    let expected: Vec<String> = (next..next + 20)
        .map(|i| format!(r#"{{"n":{i}}}"#))
        .collect();
    assert_eq!(
        got, expected,
        "every event after the failover, once, in order"
    );
    drop(c);
}

/// End-to-end encryption: the reader gets plaintext through the key exchange, relay nodes and storage
/// see only ciphertext; rotation and rekey keep the reader reading; a stranger's key request is refused
/// by the nodes (no subscribe permission), so it never learns a key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn encrypted_events_reach_permitted_readers_only() {
    let world = World::new().await;
    let part: StreamPartId = world.part.parse().unwrap();
    let (a, b) = storing_node_and_peer(&world);
    let publisher = client(&[&a.listen[0]], world.device.to_bytes());
    let reader = client(&[&b.listen[0]], world.reader.to_bytes());
    let mut sub = reader.subscribe(&part, None).await.unwrap();
    let encrypted = PublishOptions {
        encrypt: Some(true),
        ..PublishOptions::default()
    };
    let publish = |n: u32| {
        let publisher = publisher.clone();
        let stream = world.stream.clone();
        let options = encrypted.clone();
        async move {
            publisher
                .publish(
                    &stream,
                    ContentType::Json,
                    format!(r#"{{"secret":{n}}}"#).into_bytes(),
                    options,
                )
                .await
                .unwrap()
        }
    };
    // Warm up the mesh between A and B.
    let mut n = 0;
    let first = loop {
        n += 1;
        assert!(n < 100, "events from A never reached B");
        let published = publish(n).await;
        assert_ne!(
            published.message.body.content,
            format!(r#"{{"secret":{n}}}"#).into_bytes()
        );
        if let Ok(Some(event)) = tokio::time::timeout(Duration::from_millis(300), sub.next()).await
        {
            break event;
        }
    };
    let SubscriptionEvent::Message(m) = first else {
        panic!("{first:?}")
    };
    assert!(
        String::from_utf8(m.body.content)
            .unwrap()
            .starts_with(r#"{"secret":"#),
        "decrypted"
    );
    while let Ok(Some(_)) = tokio::time::timeout(Duration::from_millis(500), sub.next()).await {}

    let start = n + 1;
    for i in start..start + 5 {
        publish(i).await;
    }
    publisher.rotate_group_key(&part).unwrap();
    for i in start + 5..start + 10 {
        publish(i).await;
    }
    publisher.rekey(&part).unwrap();
    for i in start + 10..start + 15 {
        publish(i).await;
    }
    for i in start..start + 15 {
        let m = next_message(&mut sub).await;
        assert_eq!(
            m.body.content,
            format!(r#"{{"secret":{i}}}"#).into_bytes(),
            "event {i}"
        );
    }

    // What the nodes store is ciphertext.
    // (The key exchange travels in the same stream part: the newest stored messages include the
    // reader's request and the publisher's response.)
    let stored: Vec<_> = reader
        .resend(&part, HistoryQuery::Last { n: 20 })
        .await
        .unwrap()
        .into_iter()
        .filter(|m| m.body.message_type == rivulet_protocol::MessageType::Data)
        .rev()
        .collect();
    assert!(stored[0].body.encryption.group_key_id().is_some());
    assert_ne!(
        stored[0].body.content,
        format!(r#"{{"secret":{}}}"#, start + 14).into_bytes()
    );

    // A stranger cannot even ask for the key.
    let stranger = client(&[&b.listen[0]], [9; 32]);
    let key_id = stored[0].body.encryption.group_key_id().unwrap().clone();
    let refused = stranger
        .request_group_keys(&part, world.device.address(), &[key_id])
        .await
        .unwrap_err();
    assert_eq!(refused.code(), "NO_PERMISSION", "{refused}");
    assert!(
        refused.to_string().contains("send key requests"),
        "{refused}"
    );
}

/// A wallet authorises a session key once; the key then reads what the wallet's account may read, and
/// when the account's permission expires on the chain's clock (moved with `evm_increaseTime`, as on a
/// development chain) the node ends the subscription. Forged and expired authorisations are refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authorised_session_keys_read_for_their_account_until_the_chain_says_it_lapsed() {
    use rivulet_client::{Authorisation, authorisation_text};
    use rivulet_contracts::{Contracts, Deployment, PermissionKind, Sender, to_alloy};
    use rivulet_deploy::dev::{DEV_KEYS, dev_key};
    use rivulet_protocol::Signer;

    let world = World::new().await;
    let part: StreamPartId = world.part.parse().unwrap();
    let node = start_node(
        &world.dir.path().join("a"),
        &world.deployment_file,
        &["--storage.part", &world.part],
    );
    let deployment = Deployment::load(&world.deployment_file).unwrap();
    let owner = Contracts::connect_http(deployment, None, Sender::Key(dev_key(1)))
        .await
        .unwrap();
    let account = Signer::from_hex(DEV_KEYS[3]).unwrap();
    let until = owner.chain_time().await.unwrap() + 600;
    owner
        .grant_until(
            &world.stream,
            to_alloy(account.address()),
            PermissionKind::Subscribe,
            until,
        )
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;

    let session = |key: [u8; 32], signed_by: &Signer, expires: u64| {
        let text = authorisation_text(
            &account.address().to_checksum(),
            &Signer::from_bytes(&key).unwrap().address().to_checksum(),
            expires,
        );
        Client::new(ClientConfig {
            nodes: vec![node.listen[0].parse().unwrap()],
            private_key: Some(key),
            request_timeout: Duration::from_secs(10),
            authorisation: Some(Authorisation {
                account: account.address().to_checksum(),
                expires,
                signature: signed_by.sign_personal(text.as_bytes()).0.to_vec(),
            }),
            ..ClientConfig::default()
        })
        .unwrap()
    };
    let in_an_hour = crate::support::now_ms() / 1000 + 3600;

    // Signed by someone else than the account, or expired: no session.
    let forged = session([21; 32], &world.reader, in_an_hour);
    let refused = forged.subscribe(&part, None).await.map(|_| ()).unwrap_err();
    assert!(
        refused.to_string().contains("authorisation was signed by"),
        "{refused}"
    );
    let stale = session([22; 32], &account, crate::support::now_ms() / 1000 - 10);
    let refused = stale.subscribe(&part, None).await.map(|_| ()).unwrap_err();
    assert!(refused.to_string().contains("expired"), "{refused}");

    // The authorised key reads the account's stream.
    let reader = session([23; 32], &account, in_an_hour);
    let mut sub = reader.subscribe(&part, None).await.unwrap();
    let publisher = client(&[&node.listen[0]], world.device.to_bytes());
    let publish = |n: u32| {
        let publisher = publisher.clone();
        let stream = world.stream.clone();
        async move {
            publisher
                .publish(
                    &stream,
                    ContentType::Json,
                    format!(r#"{{"n":{n}}}"#).into_bytes(),
                    // Not public: encrypted; the session key asks for keys for its account.
                    PublishOptions {
                        encrypt: Some(true),
                        ..PublishOptions::default()
                    },
                )
                .await
                .unwrap()
        }
    };
    publish(1).await;
    assert_eq!(next_message(&mut sub).await.body.content, br#"{"n":1}"#);

    // The chain moves past the permission's expiry; the node's next delivery is the end.
    let rpc = owner.rpc();
    rpc.call("evm_increaseTime", serde_json::json!([700]))
        .await
        .unwrap();
    rpc.call("evm_mine", serde_json::json!([])).await.unwrap();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    publish(2).await;
    match tokio::time::timeout(Duration::from_secs(20), sub.next()).await {
        Ok(Some(SubscriptionEvent::Ended(reason))) => {
            assert!(reason.contains("ended"), "{reason}")
        }
        other => panic!("expected the subscription to end, got {other:?}"),
    }
    let again = reader.subscribe(&part, None).await.map(|_| ()).unwrap_err();
    assert!(again.to_string().contains("may not subscribe"), "{again}");
}

/// Histories longer than a protocol frame: twelve events of nearly 1 MiB are resent to a light client in
/// pages through a node that does not store them (which pages its peer), served whole over HTTP, and
/// delivered live to a subscriber in batches that fit the delivery frame.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_histories_of_large_events_come_in_pages() {
    let world = World::public().await;
    let part: StreamPartId = world.part.parse().unwrap();
    let (a, b) = storing_node_and_peer(&world);
    let publisher = client(&[&a.listen[0]], world.device.to_bytes());
    let reader = client(&[&b.listen[0]], world.reader.to_bytes());
    reader.wait_connected().await.unwrap();
    let mut live = reader.subscribe(&part, None).await.unwrap();

    let big = |i: u8| {
        let mut content = vec![i; 1_048_000];
        content[0] = b'#';
        content
    };
    for i in 0..12u8 {
        assert!(
            publish_clear(&publisher, &world.stream, big(i))
                .await
                .stored
        );
    }

    // Resent through B, which asks A page by page (each page well under the 8 MiB frame).
    let history = reader
        .resend(&part, HistoryQuery::Last { n: 12 })
        .await
        .unwrap();
    let contents: Vec<u8> = history.iter().map(|m| m.body.content[1]).collect();
    assert_eq!(
        contents,
        (0..12).collect::<Vec<u8>>(),
        "all twelve, in order"
    );

    // The HTTP API gathers the pages into one answer.
    let client = reqwest::Client::new();
    let http: serde_json::Value = client
        .get(format!(
            "{}/api/v1/history?stream={}&partition=0&last=12",
            b.http, world.stream
        ))
        .bearer_auth(crate::support::token(&client, &b, &world.reader).await)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(http["messages"].as_array().unwrap().len(), 12);
    assert_eq!(http["truncated"], false);

    // The live subscriber got them all, in batches that fit the delivery frame.
    let mut got = Vec::new();
    while got.len() < 12 {
        match tokio::time::timeout(Duration::from_secs(30), live.next()).await {
            Ok(Some(SubscriptionEvent::Message(m))) if m.body.content.len() == 1_048_000 => {
                got.push(m.body.content[1])
            }
            Ok(Some(_)) => {}
            other => panic!("live delivery stopped: {other:?} after {got:?}"),
        }
    }
    assert_eq!(got, (0..12).collect::<Vec<u8>>());
}

/// A node configured for the largest events the protocol allows (16 MiB of content) takes and serves
/// them over the light protocols: a 12 MiB event — larger than the light frames were before — is
/// published by a light client, delivered live to another, and resent to it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_as_large_as_the_node_takes_go_through_the_light_protocols() {
    let world = World::public().await;
    let part: StreamPartId = world.part.parse().unwrap();
    let node = start_configured_node(
        &world.dir.path().join("a"),
        &world.deployment_file,
        "[limits]\nmax_content_bytes = 16777216\n",
        &["--storage.part", &world.part],
    );
    let large = |key: [u8; 32]| {
        Client::new(ClientConfig {
            nodes: vec![node.listen[0].parse().unwrap()],
            private_key: Some(key),
            request_timeout: Duration::from_secs(60),
            limits: Limits {
                max_content_len: MAX_CONTENT_LEN,
            },
            ..ClientConfig::default()
        })
        .unwrap()
    };
    let publisher = large(world.device.to_bytes());
    let reader = large(world.reader.to_bytes());
    reader.wait_connected().await.unwrap();
    let mut live = reader.subscribe(&part, None).await.unwrap();

    let content: Vec<u8> = (0..12 << 20).map(|i: u32| (i % 251) as u8).collect();
    let published = publish_clear(&publisher, &world.stream, content.clone()).await;
    assert!(published.stored);
    loop {
        match tokio::time::timeout(Duration::from_secs(60), live.next()).await {
            Ok(Some(SubscriptionEvent::Message(m))) => {
                assert!(m.body.content == content, "the live event differs");
                break;
            }
            Ok(Some(_)) => {}
            other => panic!("the large event was not delivered: {other:?}"),
        }
    }
    let history = reader
        .resend(&part, HistoryQuery::Last { n: 1 })
        .await
        .unwrap();
    assert_eq!(history.len(), 1);
    assert!(
        history[0].body.content == content,
        "the resent event differs"
    );
}

/// A publisher that restarts with the same key (and its key vault) serves the keys of what it published
/// before: a reader that comes later decrypts the earlier history without the publisher publishing again.
/// A publisher may put any number of events at one millisecond and sequence number (one per chain id of
/// its choosing). More of them than a page holds once ended every history answer there, unserved past
/// that point; now a page resumes just after its last event, so a reader gets them all and what follows,
/// through another node (which asks the storing node page by page) and over HTTP.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_full_of_one_millisecond_does_not_end_the_history() {
    use futures::StreamExt;
    use rivulet_protocol::{ChainId, MessageRef, UnsignedMessage};

    let world = World::public().await;
    let part: StreamPartId = world.part.parse().unwrap();
    let (a, b) = storing_node_and_peer(&world);
    let at = crate::support::now_ms();
    let event = |chain: &str, reference: MessageRef| {
        let body = UnsignedMessage::data(
            &part,
            world.device.address(),
            ChainId::new(chain).unwrap(),
            (reference, None),
            ContentType::Json,
            format!(r#"{{"chain":"{chain}"}}"#).into_bytes(),
        );
        world.device.sign(body).unwrap().encode().unwrap()
    };
    // A page holds 2,500: more than a page at one reference, then one later event.
    let crowd = 2_600;
    let mut wires: Vec<Vec<u8>> = (0..crowd)
        .map(|i| event(&format!("m{i}"), MessageRef::new(at, 0)))
        .collect();
    wires.push(event("later", MessageRef::new(at + 1, 0)));
    let http = reqwest::Client::new();
    // Several at a time, well inside the node's arrival window.
    let published: Vec<(u16, serde_json::Value)> = futures::stream::iter(&wires)
        .map(|wire| crate::support::publish(&http, &a, wire))
        .buffer_unordered(8)
        .collect()
        .await;
    for (status, body) in published {
        assert_eq!(status, 200, "{body}");
    }

    let reader = client(&[&b.listen[0]], world.reader.to_bytes());
    reader.wait_connected().await.unwrap();
    let history = reader
        .resend(
            &part,
            HistoryQuery::Range {
                from: (at, 0),
                to: (u64::MAX, u32::MAX),
                resume: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(history.len(), crowd + 1, "every event, through B");
    assert_eq!(history.last().unwrap().id().chain_id.as_str(), "later");
    let mut chains: Vec<&str> = history.iter().map(|m| m.id().chain_id.as_str()).collect();
    chains.sort_unstable();
    chains.dedup();
    assert_eq!(chains.len(), crowd + 1, "each once");

    let answer: serde_json::Value = http
        .get(format!("{}/api/v1/history", b.http))
        .query(&[("stream", world.stream.as_str()), ("from", &at.to_string())])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(answer["messages"].as_array().unwrap().len(), crowd + 1);
    assert_eq!(
        (&answer["truncated"], &answer["next"]),
        (&serde_json::json!(false), &serde_json::Value::Null)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_publisher_serves_keys_for_its_earlier_history() {
    let world = World::new().await;
    let part: StreamPartId = world.part.parse().unwrap();
    let (a, b) = storing_node_and_peer(&world);
    let vault = world.dir.path().join("publisher-keys");
    let with_vault = |nodes: &[&str]| {
        Client::new(ClientConfig {
            nodes: nodes.iter().map(|n| n.parse().unwrap()).collect(),
            private_key: Some(world.device.to_bytes()),
            request_timeout: Duration::from_secs(20),
            key_vault: Some(std::sync::Arc::new(FileVault::new(&vault))),
            ..ClientConfig::default()
        })
        .unwrap()
    };
    let encrypted = PublishOptions {
        encrypt: Some(true),
        ..PublishOptions::default()
    };
    let first = with_vault(&[&a.listen[0]]);
    for n in 0..3 {
        let published = first
            .publish(
                &world.stream,
                ContentType::Json,
                format!(r#"{{"before":{n}}}"#).into_bytes(),
                encrypted.clone(),
            )
            .await
            .unwrap();
        assert!(published.stored);
    }
    // The vault is written after the change; give it a moment, then the publisher goes away.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(first.key_vault_error(), None);
    assert!(vault.exists());
    first.destroy();
    tokio::time::sleep(Duration::from_millis(300)).await;

    // Restarted: it loads its keys and serves them, publishing nothing.
    let again = with_vault(&[&b.listen[0]]);
    again.wait_connected().await.unwrap();
    let reader = client(&[&b.listen[0]], world.reader.to_bytes());
    let mut sub = reader.subscribe(&part, Some(3)).await.unwrap();
    for n in 0..3 {
        let m = next_message(&mut sub).await;
        assert_eq!(m.body.content, format!(r#"{{"before":{n}}}"#).into_bytes());
    }
    assert_eq!(again.key_vault_error(), None);
    // The vault is sealed: it does not hold the keys in the clear.
    let sealed = std::fs::read(&vault).unwrap();
    assert!(!String::from_utf8_lossy(&sealed).contains("known"));
}

/// A publisher with many events in flight sends them in batches (one request for many events), and
/// every event is acknowledged, stored and in its chain.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_busy_publisher_batches_its_publishes() {
    let world = World::public().await;
    let part: StreamPartId = world.part.parse().unwrap();
    let (a, _b) = storing_node_and_peer(&world);
    let publisher = client(&[&a.listen[0]], world.device.to_bytes());
    publisher.wait_connected().await.unwrap();
    let total = 600;
    let sends = (0..total).map(|n| {
        let publisher = publisher.clone();
        let stream = world.stream.clone();
        async move {
            publisher
                .publish(
                    &stream,
                    ContentType::Json,
                    format!(r#"{{"n":{n}}}"#).into_bytes(),
                    PublishOptions::default(),
                )
                .await
        }
    });
    let results = futures::future::join_all(sends).await;
    for result in &results {
        let published = result.as_ref().unwrap();
        assert!(published.stored && !published.duplicate);
    }
    let (singles, batches) = publish_requests(&a).await;
    assert!(batches > 0);
    assert!(
        singles + batches < total as u64 / 4,
        "{singles} singles, {batches} batches"
    );
    // Then steady publishers, as an application's workers are: 64 of them, each publishing its next
    // event as soon as the last is acknowledged. Answers free request slots one at a time; a slot is not
    // spent on the one event that happens to be waiting then, so requests stay full.
    let (workers, each) = (64, 10);
    let steady = (0..workers).map(|w| {
        let publisher = publisher.clone();
        let stream = world.stream.clone();
        async move {
            for n in 0..each {
                let content = format!(r#"{{"w":{w},"n":{n}}}"#).into_bytes();
                let published = publisher
                    .publish(
                        &stream,
                        ContentType::Json,
                        content,
                        PublishOptions::default(),
                    )
                    .await
                    .unwrap();
                assert!(published.stored);
            }
        }
    });
    futures::future::join_all(steady).await;
    let (singles_after, batches_after) = publish_requests(&a).await;
    let requests = (singles_after - singles) + (batches_after - batches);
    assert!(
        requests <= (workers * each) as u64 / 16,
        "{requests} requests for {} events",
        workers * each
    );
    let total = total + workers * each;
    // Stored, one chain, nothing missing.
    let reader = client(&[&a.listen[0]], world.reader.to_bytes());
    let stored = reader
        .resend(&part, HistoryQuery::Last { n: total as u32 })
        .await
        .unwrap();
    assert_eq!(stored.len(), total);
    let mut previous = None;
    for m in &stored {
        assert_eq!(m.body.prev, previous, "chained");
        previous = Some(m.message_ref());
    }
}

/// The light publish requests `node` has answered: (single publishes, batches).
async fn publish_requests(node: &Node) -> (u64, u64) {
    let metrics = reqwest::get(format!("{}/metrics", node.http))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let count = |kind: &str| -> u64 {
        metrics
            .lines()
            .find(|l| {
                l.starts_with(&format!(
                    r#"rivulet_light_requests_total{{request="{kind}"}}"#
                ))
            })
            .and_then(|l| l.rsplit(' ').next()?.parse().ok())
            .unwrap_or(0)
    };
    (count("publish"), count("publish_batch"))
}
