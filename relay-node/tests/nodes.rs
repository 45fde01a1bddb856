//! Real relay-node processes on loopback with a real chain: events published on one node reach the storage
//! node through the network; unauthorized, forged and malformed events are refused with a reason; a storage
//! node killed with `kill -9` keeps every event it acknowledged.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

use std::{
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use alloy::primitives::U256;
use rivulet_chain::{
    ChainClient, PermissionKind, StreamMetadata, deploy,
    dev::{Anvil, DEV_KEYS, LOCAL_CHAIN_ID, anvil_binary},
    http_provider, to_alloy,
};
use rivulet_protocol::{
    ChainId, ContentType, Encryption, Limits, MessageId, MessageType, Partition, SignatureType,
    Signer, StreamId, UnsignedMessage, decode_verified,
};
use serde_json::Value;

struct Node {
    child: Child,
    dir: PathBuf,
    http: String,
    listen: Vec<String>,
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_node(dir: &Path, deployment: &Path, extra: &[&str]) -> Node {
    std::fs::create_dir_all(dir).unwrap();
    let _ = std::fs::remove_file(dir.join("node.json"));
    let log = std::fs::File::create(dir.join("node.log")).unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_relay-node"))
        .args([
            "run",
            "--storage.data-dir",
            dir.to_str().unwrap(),
            "--chain.deployment",
            deployment.to_str().unwrap(),
        ])
        .args([
            "--http.listen",
            "127.0.0.1:0",
            "--network.listen",
            "/ip4/127.0.0.1/tcp/0",
        ])
        .args(extra)
        .env("RIVULET_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::from(log))
        .spawn()
        .unwrap();
    // Owned by `Node` from here on, so the process is killed and reaped however the test ends.
    let mut node = Node {
        child,
        dir: dir.to_owned(),
        http: String::new(),
        listen: Vec::new(),
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(text) = std::fs::read_to_string(dir.join("node.json")) {
            let state: Value = serde_json::from_str(&text).unwrap();
            node.listen = state["listen"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_str().unwrap().to_owned())
                .collect();
            if !node.listen.is_empty() {
                node.http = format!("http://{}", state["http"].as_str().unwrap());
                return node;
            }
        }
        assert!(
            Instant::now() < deadline,
            "node did not start: {}",
            std::fs::read_to_string(dir.join("node.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

fn frame(s: &Signer, stream: &StreamId, seq: u32, content: &str) -> Vec<u8> {
    let body = UnsignedMessage {
        id: MessageId {
            stream_id: stream.clone(),
            partition: Partition::new(0).unwrap(),
            timestamp: now_ms(),
            sequence_number: seq,
            publisher: s.address(),
            chain_id: ChainId::new("device").unwrap(),
        },
        prev: None,
        message_type: MessageType::Data,
        content_type: ContentType::Json,
        encryption: Encryption::None,
        new_group_key: None,
        content: content.as_bytes().to_vec(),
        signature_type: SignatureType::Eip191Secp256k1,
    };
    s.sign(body).unwrap().encode().unwrap()
}

async fn publish(http: &reqwest::Client, node: &Node, wire: &[u8]) -> (u16, Value) {
    let response = http
        .post(format!("{}/api/v1/publish", node.http))
        .header("content-type", "application/octet-stream")
        .body(wire.to_vec())
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

async fn history(http: &reqwest::Client, node: &Node, stream: &StreamId) -> (u16, Value) {
    let response = http
        .get(format!("{}/api/v1/history", node.http))
        .query(&[
            ("stream", stream.as_str()),
            ("partition", "0"),
            ("last", "1000"),
        ])
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_cross_nodes_bad_ones_are_refused_and_storage_survives_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let anvil = Anvil::spawn(
        &anvil_binary(Path::new(env!("CARGO_MANIFEST_DIR"))).unwrap(),
        None,
        LOCAL_CHAIN_ID,
        None,
    )
    .unwrap();
    let url = anvil.url();
    let owner_key: alloy::signers::local::PrivateKeySigner = DEV_KEYS[1].parse().unwrap();
    let deployment = deploy(
        http_provider(&url, Some(DEV_KEYS[0].parse().unwrap())).unwrap(),
        &url,
        &[],
        U256::from(1u64),
    )
    .await
    .unwrap();
    let deployment_file = dir.path().join("deployment.json");
    deployment.save(&deployment_file).unwrap();
    let owner = ChainClient::connect(deployment, None, Some(owner_key))
        .await
        .unwrap();
    let stream = owner
        .create_stream("sensors", &StreamMetadata::named("Sensors", ""))
        .await
        .unwrap();
    let device = Signer::from_bytes(&[7; 32]).unwrap();
    let mallory = Signer::from_bytes(&[8; 32]).unwrap();
    owner
        .grant(&stream, to_alloy(device.address()), PermissionKind::Publish)
        .await
        .unwrap();
    let part = format!("{stream}#0");

    let a = start_node(&dir.path().join("a"), &deployment_file, &[]);
    let b = start_node(
        &dir.path().join("b"),
        &deployment_file,
        &["--network.bootstrap", &a.listen[0], "--storage.part", &part],
    );
    let http = reqwest::Client::new();

    // Publish on A until the events reach B's history through the network (the mesh forms on heartbeats).
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut seq = 0;
    loop {
        seq += 1;
        let (status, body) = publish(
            &http,
            &a,
            &frame(&device, &stream, seq, &format!(r#"{{"seq":{seq}}}"#)),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        let (_, h) = history(&http, &b, &stream).await;
        if !h["messages"].as_array().unwrap().is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no event reached the storage node: {h}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // Bad input is refused with a reason, on the HTTP API, and counted.
    let (status, body) = publish(&http, &a, &frame(&mallory, &stream, 1, r#"{"evil":true}"#)).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (403, Some("no_permission")),
        "{body}"
    );
    let mut forged = frame(&device, &stream, 999, r#"{"n":1}"#);
    let at = forged.len() - 65 - 2;
    forged[at] ^= 1;
    let (status, body) = publish(&http, &a, &forged).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (403, Some("bad_signature")),
        "{body}"
    );
    let (status, body) = publish(&http, &a, b"not a message").await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("malformed")),
        "{body}"
    );
    let response = http
        .post(format!("{}/api/v1/publish", a.http))
        .json(&serde_json::json!({ "message": "zz" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 400);
    assert_eq!(response.json::<Value>().await.unwrap()["error"], "bad_hex");
    let (status, body) = history(&http, &a, &stream).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (404, Some("not_stored")),
        "{body}"
    );
    let metrics = http
        .get(format!("{}/metrics", a.http))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(r#"rivulet_validation_failures_total{reason="no_permission"} 1"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"rivulet_validation_failures_total{reason="bad_signature"} 1"#),
        "{metrics}"
    );
    let health: Value = http
        .get(format!("{}/health", b.http))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["status"], "ok");
    assert!(health["peers"].as_u64().unwrap() >= 1, "{health}");

    // The storage node holds only valid, verifiable events from the device.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (_, h) = history(&http, &b, &stream).await;
    let stored = h["messages"].as_array().unwrap();
    assert!(!stored.is_empty());
    for m in stored {
        let wire = hex::decode(m["wire"].as_str().unwrap()).unwrap();
        let msg = decode_verified(&wire, &Limits::default()).unwrap();
        assert_eq!(msg.id().publisher, device.address());
        assert_eq!(m["publisher"], device.address().to_checksum());
        assert!(m["content"]["seq"].is_u64(), "{m}");
    }

    // Publishing straight to the storage node acknowledges only once the event is on disk...
    let acked: Vec<Vec<u8>> = (0..20)
        .map(|i| frame(&device, &stream, 10_000 + i, r#"{"durable":true}"#))
        .collect();
    for wire in &acked {
        let (status, body) = publish(&http, &b, wire).await;
        assert_eq!(
            (status, body["stored"].as_bool()),
            (200, Some(true)),
            "{body}"
        );
    }
    // ...so kill -9 loses none of them.
    let b_dir = b.dir.clone();
    let mut b = b;
    b.child.kill().unwrap(); // SIGKILL
    b.child.wait().unwrap();
    drop(b);
    let b = start_node(
        &b_dir,
        &deployment_file,
        &["--network.bootstrap", &a.listen[0], "--storage.part", &part],
    );
    let (_, h) = history(&http, &b, &stream).await;
    let wires: Vec<String> = h["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["wire"].as_str().unwrap().to_owned())
        .collect();
    for wire in &acked {
        assert!(
            wires.contains(&hex::encode(wire)),
            "an acknowledged event is missing after kill -9"
        );
    }
}
