//! Issue 13's access tests: a licensed reader reads a private stream, and three others read nothing of it
//! on any path — `stranger` never had permission, `lapsed` had a licence that ended by the chain's clock
//! (`evm_increaseTime`), `revoked` had its permission taken away. One shared setup (`Access::new`) on a
//! real chain with a real storage node; each read path has its own test module:
//! - `client_paths` — HTTP history, WebSocket subscribe and resend, the light protocol;
//! - `peer_paths` — node-to-node history asked by a node the attacker controls, and gossip into a node
//!   the attacker runs;
//! - `backdated` — events and key requests stamped before a permission ended.

mod backdated;
mod client_paths;
mod peer_paths;

use std::time::{Duration, Instant};

use rivulet_client::{Client, ClientConfig, PublishOptions};
use rivulet_contracts::{Contracts, PermissionKind, to_alloy};
use rivulet_protocol::{
    ChainId, ContentType, MessageRef, MessageType, Partition, Signer, StreamPartId,
    UnsignedMessage, key_exchange::KeyRequest,
};
use serde_json::Value;

use crate::support::{Node, World, history, publish, sealed_frame, start_node};

/// How long after the setup begins the lapsing licence (and the lapsing publish permission) ends, by
/// the chain's clock; the chain is then moved `ADVANCE` seconds ahead, past it.
const LICENCE_SECS: u64 = 300;
const ADVANCE: u64 = 600;

/// A private stream with a storage node holding encrypted events, the licensed reader and three that
/// may not read.
pub(crate) struct Access {
    pub(crate) world: World,
    pub(crate) owner: Contracts,
    /// Stores the stream's part 0 (`--storage.part`).
    pub(crate) node: Node,
    /// The world's device, publishing through `node` (encrypted).
    pub(crate) publisher: Client,
    pub(crate) stranger: Signer,
    pub(crate) lapsed: Signer,
    pub(crate) revoked: Signer,
    /// Could publish until `expiry`, by the chain's clock.
    pub(crate) lapsed_publisher: Signer,
    /// When `lapsed`'s licence and `lapsed_publisher`'s permission ended, Unix seconds.
    pub(crate) expiry: u64,
    /// How many events the setup published (each `{"secret":n}`, n from 1).
    pub(crate) published: u32,
}

/// A light client of `nodes` signing with `key`.
pub(crate) fn client(nodes: &[&str], key: [u8; 32]) -> Client {
    Client::new(ClientConfig {
        nodes: nodes.iter().map(|a| a.parse().unwrap()).collect(),
        private_key: Some(key),
        request_timeout: Duration::from_secs(20),
        ..ClientConfig::default()
    })
    .unwrap()
}

/// An encrypted data event of `signer` on partition 0 of `access`'s stream, stamped `timestamp` (ms),
/// under a fresh group key: what a publisher sends to a private stream.
pub(crate) fn sealed(access: &Access, signer: &Signer, timestamp: u64, content: &str) -> Vec<u8> {
    sealed_frame(
        signer,
        &access.part(),
        "backdated",
        MessageRef::new(timestamp, 0),
        content,
    )
}

/// A group-key request of `reader` for one of the device's keys, stamped `timestamp` (ms).
pub(crate) fn key_request(access: &Access, reader: &Signer, timestamp: u64, id: &str) -> Vec<u8> {
    let request = KeyRequest {
        request_id: id.to_owned(),
        publisher: access.world.device.address().to_checksum(),
        group_key_ids: vec!["no-such-key".to_owned()],
        authorisation: None,
    };
    let body = UnsignedMessage {
        message_type: MessageType::GroupKeyRequest,
        ..UnsignedMessage::data(
            &access.part(),
            reader.address(),
            ChainId::new("keys").unwrap(),
            (MessageRef::new(timestamp, 0), None),
            ContentType::Json,
            serde_json::to_vec(&request).unwrap(),
        )
    };
    reader.sign(body).unwrap().encode().unwrap()
}

/// Publishes `{"secret":n}` through the device's client (which encrypts it, unasked); the storage node
/// has it on disk when this returns.
pub(crate) async fn publish_secret(access: &Access, n: u32) {
    let published = access
        .publisher
        .publish(
            &access.world.stream,
            ContentType::Json,
            secret(n).into_bytes(),
            // No option: a client encrypts events to a stream that is not public by default.
            PublishOptions::default(),
        )
        .await
        .unwrap();
    assert!(published.stored, "the storage node stores the part");
}

/// The plaintext of the setup's `n`th event.
pub(crate) fn secret(n: u32) -> String {
    format!(r#"{{"secret":{n}}}"#)
}

/// Polls HTTP history on `node` as `reader` until `done` holds for (status, body), or fails saying `what`.
async fn until(
    http: &reqwest::Client,
    node: &Node,
    world: &World,
    reader: &Signer,
    what: &str,
    done: impl Fn(u16, &Value) -> bool,
) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, body) = history(http, node, &world.stream, reader).await;
        if done(status, &body) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: still {status} {body} after 30 s"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

impl Access {
    pub(crate) async fn new() -> Access {
        let world = World::new().await;
        let owner = world.owner().await;
        let [stranger, lapsed, revoked, lapsed_publisher] =
            [0x41, 0x42, 0x43, 0x44].map(|b| Signer::from_bytes(&[b; 32]).unwrap());
        let expiry = owner.chain_time().await.unwrap() + LICENCE_SECS;
        let stream = &world.stream;
        owner
            .grant_until(
                stream,
                to_alloy(lapsed.address()),
                PermissionKind::Subscribe,
                expiry,
            )
            .await
            .unwrap();
        owner
            .grant(
                stream,
                to_alloy(revoked.address()),
                PermissionKind::Subscribe,
            )
            .await
            .unwrap();
        owner
            .grant_until(
                stream,
                to_alloy(lapsed_publisher.address()),
                PermissionKind::Publish,
                expiry,
            )
            .await
            .unwrap();
        let node = start_node(
            &world.dir.path().join("store"),
            &world.deployment_file,
            &["--storage.part", &world.part],
        );
        let publisher = client(&[&node.listen[0]], world.device.to_bytes());
        let mut access = Access {
            world,
            owner,
            node,
            publisher,
            stranger,
            lapsed,
            revoked,
            lapsed_publisher,
            expiry,
            published: 0,
        };
        for n in 1..=3 {
            publish_secret(&access, n).await;
        }
        access.published = 3;

        // Before the changes: `lapsed` and `revoked` read like the licensed reader (so what the tests
        // see afterwards is the lapse and the revocation, not a setup that never let them read), and
        // the lapsing publisher and reader may publish and ask for keys.
        let http = reqwest::Client::new();
        let (node, world) = (&access.node, &access.world);
        for reader in [&world.reader, &access.lapsed, &access.revoked] {
            until(&http, node, world, reader, "a permitted reader", |s, b| {
                s == 200 && b["messages"].as_array().unwrap().len() == 3
            })
            .await;
        }
        let (status, body) = history(&http, node, &world.stream, &access.stranger).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (403, Some("no_permission"))
        );
        let now = crate::support::now_ms();
        let event = sealed(
            &access,
            &access.lapsed_publisher,
            now,
            r#"{"before":"end"}"#,
        );
        let (status, body) = publish(&http, node, &event).await;
        assert_eq!(status, 200, "before its end the permission holds: {body}");
        let request = key_request(&access, &access.lapsed, now, "before-lapse");
        let (status, body) = publish(&http, node, &request).await;
        assert_eq!(status, 200, "before its lapse the licence holds: {body}");

        // The owner revokes one reader; the chain's clock moves past the other's licence.
        access
            .owner
            .revoke(
                &access.world.stream,
                to_alloy(access.revoked.address()),
                PermissionKind::Subscribe,
            )
            .await
            .unwrap();
        let rpc = access.owner.rpc();
        rpc.call("evm_increaseTime", serde_json::json!([ADVANCE]))
            .await
            .unwrap();
        rpc.call("evm_mine", serde_json::json!([])).await.unwrap();
        assert!(access.owner.chain_time().await.unwrap() > expiry);
        // The node follows the registry and the chain's clock within a few seconds.
        for reader in [&access.lapsed, &access.revoked] {
            until(
                &http,
                node,
                world,
                reader,
                "the node never saw the change",
                |s, _| s == 403,
            )
            .await;
        }
        access
    }

    pub(crate) fn part(&self) -> StreamPartId {
        StreamPartId::new(self.world.stream.clone(), Partition::new(0).unwrap())
    }

    /// The three that may not read, named for failure messages.
    pub(crate) fn outsiders(&self) -> [(&'static str, &Signer); 3] {
        [
            ("stranger", &self.stranger),
            ("lapsed", &self.lapsed),
            ("revoked", &self.revoked),
        ]
    }
}
