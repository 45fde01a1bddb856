//! Quorum acknowledgements against real processes: while a publisher publishes with `acks=quorum`,
//! one replica's whole data directory is deleted under it and another is killed with `kill -9`; both
//! come back (the wiped one empty, with its keys restored from the operator's backup) and every
//! acknowledged event, a full-size one among them, is then served by every replica, exactly once.

use std::{
    collections::BTreeSet,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use rivulet_protocol::{ChainId, ContentType, MessageChain, UnsignedMessage};
use serde_json::Value;

use crate::{
    coordinator::{Network, history_range, logs, settled},
    support::now_ms,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quorum_acknowledged_events_survive_a_wiped_replica_and_a_killed_one() {
    let net = Network::new(5).await;
    let first = net.start(0, None);
    let bootstrap = first.tcp_address();
    let mut nodes = vec![Some(first)];
    for i in 1..5 {
        nodes.push(Some(net.start(i, Some(&bootstrap))));
    }
    let assignment = settled(&net, &nodes, Duration::from_secs(90)).await;
    let part = net.part(0);
    let replicas: Vec<usize> = assignment[&part.to_string()].iter().copied().collect();
    let entry = (0..5).find(|i| !replicas.contains(i)).unwrap();
    let (wiped, killed) = (replicas[0], replicas[1]);
    let entry_http = nodes[entry].as_ref().unwrap().http.clone();

    // An event of the largest content a node takes (1 MiB by default) reaches a quorum too: the
    // replica-store request carrying it is larger than libp2p's CBOR codec reads by default.
    let full_size = {
        let pad = "x".repeat(rivulet_protocol::codec::DEFAULT_MAX_CONTENT_LEN - 10);
        let body = UnsignedMessage::data(
            &part,
            net.device.address(),
            ChainId::new("quorum-full-size").unwrap(),
            MessageChain::new().next(now_ms()),
            ContentType::Json,
            format!(r#"{{"pad":"{pad}"}}"#).into_bytes(),
        );
        net.device.sign(body).unwrap().encode().unwrap()
    };
    let answer = reqwest::Client::new()
        .post(format!("{entry_http}/api/v1/publish?acks=quorum"))
        .header("content-type", "application/octet-stream")
        .body(full_size.clone())
        .send()
        .await
        .unwrap();
    let status = answer.status();
    let v: Value = answer.json().await.unwrap();
    assert!(status.is_success(), "a full-size event was refused: {v}");
    assert!(v["replicas"].as_u64().unwrap() >= 2, "{v}");

    // A publisher that keeps publishing with quorum acknowledgements, remembering what was acknowledged.
    let acked: Arc<Mutex<Vec<Vec<u8>>>> = Arc::new(Mutex::new(vec![full_size]));
    let refused = Arc::new(Mutex::new(Vec::<String>::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let publisher = {
        let (acked, refused, stop) = (acked.clone(), refused.clone(), stop.clone());
        let (device, part) = (net.device.clone(), part.clone());
        tokio::spawn(async move {
            let http = reqwest::Client::new();
            let mut chain = MessageChain::new();
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) {
                n += 1;
                let body = UnsignedMessage::data(
                    &part,
                    device.address(),
                    ChainId::new("quorum").unwrap(),
                    chain.next(now_ms()),
                    ContentType::Json,
                    format!(r#"{{"n":{n}}}"#).into_bytes(),
                );
                let wire = device.sign(body).unwrap().encode().unwrap();
                let answer = http
                    .post(format!("{entry_http}/api/v1/publish?acks=quorum"))
                    .header("content-type", "application/octet-stream")
                    .body(wire.clone())
                    .send()
                    .await;
                match answer {
                    Ok(r) if r.status().is_success() => {
                        let v: Value = r.json().await.unwrap();
                        assert!(v["replicas"].as_u64().unwrap() >= 2, "{v}");
                        acked.lock().unwrap().push(wire);
                    }
                    Ok(r) => {
                        let text = r.text().await.unwrap_or_default();
                        refused.lock().unwrap().push(text);
                    }
                    Err(e) => refused.lock().unwrap().push(e.to_string()),
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
    };
    tokio::time::sleep(Duration::from_secs(2)).await;

    // Delete one replica's data directory while it runs (its keys are the operator's backup).
    let wiped_dir = net.node_dir(wiped);
    let node_key = std::fs::read(wiped_dir.join("node.key")).unwrap();
    std::fs::remove_dir_all(&wiped_dir).unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    // Kill -9 another.
    drop(nodes[killed].take());
    tokio::time::sleep(Duration::from_secs(3)).await;
    // Restart both: the wiped one with an empty directory and its keys back.
    drop(nodes[wiped].take());
    std::fs::create_dir_all(&wiped_dir).unwrap();
    std::fs::write(wiped_dir.join("node.key"), node_key).unwrap();
    nodes[wiped] = Some(net.start(wiped, Some(&bootstrap)));
    nodes[killed] = Some(net.start(killed, Some(&bootstrap)));
    tokio::time::sleep(Duration::from_secs(3)).await;
    stop.store(true, Ordering::Relaxed);
    publisher.await.unwrap();
    let acked: Vec<String> = acked.lock().unwrap().iter().map(hex::encode).collect();
    assert!(
        acked.len() > 20,
        "too few acknowledged: {} (refusals: {:?})",
        acked.len(),
        refused.lock().unwrap().iter().take(3).collect::<Vec<_>>()
    );

    // Every replica serves every acknowledged event, exactly once.
    let after = settled(&net, &nodes, Duration::from_secs(90)).await;
    for &i in &after[&part.to_string()] {
        let node = nodes[i].as_ref().unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let served: Vec<String> = history_range(node, &part, 0, now_ms())
                .await
                .iter()
                .map(|m| m["wire"].as_str().unwrap().to_owned())
                .collect();
            let unique: BTreeSet<&String> = served.iter().collect();
            assert_eq!(unique.len(), served.len(), "node {i} serves an event twice");
            let missing = acked.iter().filter(|w| !unique.contains(w)).count();
            if missing == 0 {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "node {i} misses {missing} of {} acknowledged events\n{}",
                acked.len(),
                logs(&net)
            );
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
}
