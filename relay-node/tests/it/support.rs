//! Shared setup: a real anvil chain with the contracts, real relay-node processes, signed events.

use std::{
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use rivulet_contracts::{Contracts, Deployment, PermissionKind, Sender, StreamMetadata, to_alloy};
use rivulet_deploy::dev::{Anvil, DEV_KEYS, deployed_chain, dev_key};
use rivulet_protocol::{
    ChainId, ContentType, GroupKey, MessageRef, Partition, Signer, StreamId, StreamPartId,
    UnsignedMessage, encryption::encrypt_content,
};
use serde_json::Value;

pub(crate) struct Node {
    pub(crate) child: Child,
    pub(crate) dir: PathBuf,
    pub(crate) http: String,
    pub(crate) listen: Vec<String>,
}

impl Node {
    /// Its plain TCP address (what other nodes bootstrap from).
    pub(crate) fn tcp_address(&self) -> String {
        self.listen
            .iter()
            .find(|a| a.contains("/tcp/") && !a.contains("/ws"))
            .expect("the node listens on TCP")
            .clone()
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A node started with `config` (TOML) as its configuration file (`<dir>/node.toml`), then `extra`.
pub(crate) fn start_configured_node(
    dir: &Path,
    deployment: &Path,
    config: &str,
    extra: &[&str],
) -> Node {
    std::fs::create_dir_all(dir).unwrap();
    let file = dir.join("node.toml");
    std::fs::write(&file, config).unwrap();
    let args = [&["--config", file.to_str().unwrap()], extra].concat();
    start_node(dir, deployment, &args)
}

pub(crate) fn start_node(dir: &Path, deployment: &Path, extra: &[&str]) -> Node {
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

pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

pub(crate) fn frame(s: &Signer, stream: &StreamId, seq: u32, content: &str) -> Vec<u8> {
    let part = StreamPartId::new(stream.clone(), Partition::new(0).unwrap());
    let at = MessageRef::new(now_ms(), seq);
    let chain = ChainId::new("device").unwrap();
    let body = UnsignedMessage::data(
        &part,
        s.address(),
        chain,
        (at, None),
        ContentType::Json,
        content.as_bytes().to_vec(),
    );
    s.sign(body).unwrap().encode().unwrap()
}

/// An encrypted data event of `s` on `part` in publisher chain `chain`, at `at`, under a fresh group
/// key: what a publisher sends to a stream that is not public.
pub(crate) fn sealed_frame(
    s: &Signer,
    part: &StreamPartId,
    chain: &str,
    at: MessageRef,
    content: &str,
) -> Vec<u8> {
    let mut body = UnsignedMessage::data(
        part,
        s.address(),
        ChainId::new(chain).unwrap(),
        (at, None),
        ContentType::Json,
        content.as_bytes().to_vec(),
    );
    let key = GroupKey::generate(&mut rand::rng());
    encrypt_content(&mut body, &key, &mut rand::rng()).unwrap();
    s.sign(body).unwrap().encode().unwrap()
}

/// Events linked into one publisher chain (`chain_id`), as a real publisher sends them: subscribers'
/// nodes can put them back in order whatever path gossip takes.
pub(crate) fn chained_frames(
    s: &Signer,
    stream: &StreamId,
    chain_id: &str,
    contents: &[String],
) -> Vec<Vec<u8>> {
    let part = StreamPartId::new(stream.clone(), Partition::new(0).unwrap());
    let mut chain = rivulet_protocol::MessageChain::new();
    contents
        .iter()
        .map(|content| {
            let body = UnsignedMessage::data(
                &part,
                s.address(),
                ChainId::new(chain_id).unwrap(),
                chain.next(now_ms()),
                ContentType::Json,
                content.as_bytes().to_vec(),
            );
            s.sign(body).unwrap().encode().unwrap()
        })
        .collect()
}

pub(crate) async fn publish(http: &reqwest::Client, node: &Node, wire: &[u8]) -> (u16, Value) {
    let response = http
        .post(format!("{}/api/v1/publish", node.http))
        .header("content-type", "application/octet-stream")
        .body(wire.to_vec())
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

/// `node`'s /metrics, as text.
pub(crate) async fn metrics(http: &reqwest::Client, node: &Node) -> String {
    http.get(format!("{}/metrics", node.http))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// The value of the sample `name` (labels included, as the text has them) on `node`'s /metrics.
pub(crate) async fn metric(http: &reqwest::Client, node: &Node, name: &str) -> f64 {
    let text = metrics(http, node).await;
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {name} in the metrics:\n{text}"))
}

/// A bearer token from `node` for `reader`: its challenge, signed.
pub(crate) async fn token(http: &reqwest::Client, node: &Node, reader: &Signer) -> String {
    let address = reader.address().to_checksum();
    let challenge: Value = http
        .get(format!("{}/api/v1/auth/challenge", node.http))
        .query(&[("address", address.as_str())])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let text = challenge["text"].as_str().unwrap();
    let signature = hex::encode(reader.sign_personal(text.as_bytes()).0);
    let answer: Value = http
        .post(format!("{}/api/v1/auth", node.http))
        .json(&serde_json::json!({
            "address": address,
            "expires": challenge["expires"],
            "nonce": challenge["nonce"],
            "signature": signature,
        }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    answer["token"].as_str().unwrap().to_owned()
}

/// The last 1,000 events of `stream`'s partition 0, read over HTTP as `reader`.
pub(crate) async fn history(
    http: &reqwest::Client,
    node: &Node,
    stream: &StreamId,
    reader: &Signer,
) -> (u16, Value) {
    let token = token(http, node, reader).await;
    let response = http
        .get(format!("{}/api/v1/history", node.http))
        .query(&[
            ("stream", stream.as_str()),
            ("partition", "0"),
            ("last", "1000"),
        ])
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

/// A chain with the contracts, a stream owned by dev account 1, a device key that may publish to it, and a
/// reader key (dev account 2) that may subscribe. The stream is not public.
pub(crate) struct World {
    _anvil: Anvil,
    pub(crate) dir: tempfile::TempDir,
    pub(crate) deployment_file: PathBuf,
    pub(crate) stream: StreamId,
    pub(crate) part: String,
    pub(crate) device: Signer,
    pub(crate) reader: Signer,
}

impl World {
    /// A world whose stream is private: readable by the reader only, its events encrypted.
    pub(crate) async fn new() -> World {
        World::with(false).await
    }

    /// A world whose stream anyone may read (its events go in the clear).
    pub(crate) async fn public() -> World {
        World::with(true).await
    }

    /// The stream's owner (development account 1), connected to the world's chain.
    pub(crate) async fn owner(&self) -> Contracts {
        Contracts::connect_http(
            Deployment::load(&self.deployment_file).unwrap(),
            None,
            Sender::Key(dev_key(1)),
        )
        .await
        .unwrap()
    }

    async fn with(public: bool) -> World {
        let dir = tempfile::tempdir().unwrap();
        let (anvil, deployment) = deployed_chain(Path::new(env!("CARGO_MANIFEST_DIR")))
            .await
            .unwrap();
        let deployment_file = dir.path().join("deployment.json");
        deployment.save(&deployment_file).unwrap();
        let owner = Contracts::connect_http(deployment, None, Sender::Key(dev_key(1)))
            .await
            .unwrap();
        let stream = owner
            .create_stream("sensors", &StreamMetadata::named("Sensors", ""))
            .await
            .unwrap();
        let device = Signer::from_bytes(&[7; 32]).unwrap();
        let reader = Signer::from_hex(DEV_KEYS[2]).unwrap();
        owner
            .grant(&stream, to_alloy(device.address()), PermissionKind::Publish)
            .await
            .unwrap();
        owner
            .grant(
                &stream,
                to_alloy(reader.address()),
                PermissionKind::Subscribe,
            )
            .await
            .unwrap();
        if public {
            owner
                .grant(
                    &stream,
                    rivulet_contracts::Address::ZERO,
                    PermissionKind::Subscribe,
                )
                .await
                .unwrap();
        }
        let part = format!("{stream}#0");
        World {
            _anvil: anvil,
            dir,
            deployment_file,
            stream,
            part,
            device,
            reader,
        }
    }
}
