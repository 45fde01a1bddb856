//! The paths between nodes, with the attacker running a node of its own: node-to-node history
//! (`/rivulet/history/2.0.0`) asked by a libp2p node it controls, which forwards whatever proof it
//! likes, and gossip into a relay node it runs, which joins the topic and stores the part.

use std::time::{Duration, Instant};

use futures::StreamExt;
use rivulet_network::{
    HistoryQuery, HistoryRequest, HistoryResponse, NetworkConfig, NodeBehaviour,
    NodeBehaviourEvent, ReaderProof, build_swarm,
    libp2p::{Multiaddr, PeerId, Swarm, identity::Keypair, request_response, swarm::SwarmEvent},
    peer_of,
    reader::token_text,
};
use rivulet_protocol::{Encryption, Limits, MessageType, Signer, StreamMessage, decode_verified};

use super::{Access, client, publish_secret, secret};
use crate::support::{history, start_node};

/// Sends `request` to `peer` and waits for its answer.
async fn ask(
    swarm: &mut Swarm<NodeBehaviour>,
    peer: PeerId,
    request: HistoryRequest,
) -> HistoryResponse {
    let id = swarm.behaviour_mut().history.send_request(&peer, request);
    let deadline = tokio::time::sleep(Duration::from_secs(20));
    tokio::pin!(deadline);
    loop {
        tokio::select! {
            _ = &mut deadline => panic!("no answer to the history request within 20 s"),
            event = swarm.select_next_some() => match event {
                SwarmEvent::Behaviour(NodeBehaviourEvent::History(
                    request_response::Event::Message {
                        message: request_response::Message::Response { request_id, response },
                        ..
                    },
                )) if request_id == id => return response,
                SwarmEvent::Behaviour(NodeBehaviourEvent::History(
                    request_response::Event::OutboundFailure { request_id, error, .. },
                )) if request_id == id => panic!("the history request failed: {error}"),
                _ => {}
            },
        }
    }
}

/// An HTTP access token's proof, as `signer` would give it to the node `entry`, valid until `expires`.
fn token_proof(signer: &Signer, entry: &PeerId, expires: u64) -> ReaderProof {
    let address = signer.address().to_checksum();
    let nonce = "00112233445566778899aabbccddeeff";
    let text = token_text(entry, &address, expires, nonce);
    ReaderProof::Token {
        address,
        expires,
        nonce: nonce.to_owned(),
        signature: signer.sign_personal(text.as_bytes()).0.to_vec().into(),
    }
}

fn assert_refused(response: HistoryResponse, needle: &str, who: &str) {
    match response {
        HistoryResponse::Error(e) => {
            assert!(e.starts_with("no_permission"), "{who}: {e}");
            assert!(e.contains(needle), "{who}: {e} (expected {needle:?})");
        }
        HistoryResponse::Messages { messages, .. } => {
            panic!("{who} got {} events of a private part", messages.len())
        }
    }
}

/// The storage node answers a peer's history request only for a reader the peer proves, bound to that
/// peer: not for no reader, not for readers without permission now, not for a proof the licensed reader
/// gave another node, not for an expired or a forged one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_to_node_history_answers_only_a_reader_the_asking_node_proves() {
    let access = Access::new().await;
    let target: Multiaddr = access.node.listen[0].parse().unwrap();
    let target_peer = peer_of(&target).unwrap();
    let key = Keypair::generate_ed25519();
    let me = key.public().to_peer_id();
    let mut swarm = build_swarm(key, NetworkConfig::default()).await.unwrap();
    swarm.dial(target).unwrap();
    let expires = access.owner.chain_time().await.unwrap() + 600;
    let request = |query: HistoryQuery, reader: Option<ReaderProof>| HistoryRequest {
        part: access.world.part.clone(),
        query,
        reader,
    };
    let last = || HistoryQuery::Last { n: 100 };
    let reader = &access.world.reader;

    // The licensed reader signed in at the attacker's node: answered (so the refusals below are the
    // storage node's judgement of the reader, not a request it cannot answer).
    match ask(
        &mut swarm,
        target_peer,
        request(last(), Some(token_proof(reader, &me, expires))),
    )
    .await
    {
        HistoryResponse::Messages { messages, .. } => {
            let device = access.world.device.address();
            let data = messages
                .iter()
                .map(|w| decode_verified(w, &Limits::default()).unwrap())
                .filter(|m| m.id().publisher == device && m.body.message_type == MessageType::Data)
                .count();
            assert_eq!(data, 3);
        }
        HistoryResponse::Error(e) => panic!("the licensed reader was refused: {e}"),
    }

    assert_refused(
        ask(&mut swarm, target_peer, request(last(), None)).await,
        "names no reader",
        "no reader",
    );
    for (who, signer) in access.outsiders() {
        let proof = token_proof(signer, &me, expires);
        for query in [
            last(),
            HistoryQuery::Range {
                from: (0, 0),
                to: (u64::MAX, u32::MAX),
                resume: None,
            },
            HistoryQuery::Envelopes {
                recipient: signer.address().to_checksum(),
                after: (0, 0),
                resume: None,
            },
        ] {
            let answer = ask(&mut swarm, target_peer, request(query, Some(proof.clone()))).await;
            assert_refused(answer, "may not subscribe", who);
        }
    }
    // The licensed reader's proof for another node (here the storage node itself), replayed.
    let replayed = token_proof(reader, &target_peer, expires);
    assert_refused(
        ask(&mut swarm, target_peer, request(last(), Some(replayed))).await,
        "signed by",
        "a replayed proof",
    );
    // Expired by the chain's clock.
    let stale = token_proof(reader, &me, expires - 1200);
    assert_refused(
        ask(&mut swarm, target_peer, request(last(), Some(stale))).await,
        "expired",
        "an expired proof",
    );
    // The licensed reader's address, signed by the stranger.
    let ReaderProof::Token { signature, .. } = token_proof(&access.stranger, &me, expires) else {
        unreachable!()
    };
    let forged = ReaderProof::Token {
        address: reader.address().to_checksum(),
        expires,
        nonce: "00112233445566778899aabbccddeeff".to_owned(),
        signature,
    };
    assert_refused(
        ask(&mut swarm, target_peer, request(last(), Some(forged))).await,
        "signed by",
        "a forged proof",
    );
}

/// A relay node the attacker runs joins the part's topic (it stores the part) and gets every event by
/// gossip — as ciphertext. Signed in at it, the outsiders cannot get a key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_the_attacker_runs_on_the_topic_holds_only_ciphertext() {
    let access = Access::new().await;
    let world = &access.world;
    let dir = world.dir.path().join("attacker");
    let attacker = start_node(
        &dir,
        &world.deployment_file,
        &[
            "--storage.part",
            &world.part,
            "--network.bootstrap",
            &access.node.listen[0],
        ],
    );
    let http = reqwest::Client::new();
    let device = world.device.address().to_checksum();
    // What the attacker's node has of the device's events, read from it as the licensed reader.
    let held = || async {
        let (status, body) = history(&http, &attacker, &world.stream, &world.reader).await;
        assert_eq!(status, 200, "{body}");
        body["messages"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["publisher"] == device.as_str())
            .count()
    };
    // Publish until gossip carries the events to the attacker's node (the mesh forms on heartbeats),
    // then five more, all of which it gets.
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut n = access.published;
    while held().await == 0 {
        assert!(
            Instant::now() < deadline,
            "no event reached the attacker's node"
        );
        n += 1;
        publish_secret(&access, n).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let before = held().await;
    for _ in 0..5 {
        n += 1;
        publish_secret(&access, n).await;
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while held().await < before + 5 {
        assert!(Instant::now() < deadline, "gossip lost events");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }

    // A publisher that sends plaintext anyway is refused by the first node, before it reaches the
    // topic (so a plaintext copy never reaches the attacker's store either).
    let plain = crate::support::frame(&world.device, &world.stream, 1, &secret(0));
    let (status, body) = crate::support::publish(&http, &access.node, &plain).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("not_encrypted")),
        "{body}"
    );

    // Signed in at the attacker's node, the outsiders are refused a key for what it holds.
    let part = access.part();
    let stored = client(&[&attacker.listen[0]], world.reader.to_bytes())
        .resend(&part, rivulet_client::HistoryQuery::Last { n: 100 })
        .await
        .unwrap();
    let key_id = stored
        .iter()
        .rev()
        .find(|m| m.id().publisher == world.device.address())
        .and_then(|m| m.body.encryption.group_key_id())
        .expect("an encrypted event of the device")
        .clone();
    for (who, signer) in access.outsiders() {
        let refused = client(&[&attacker.listen[0]], signer.to_bytes())
            .request_group_keys(&part, world.device.address(), std::slice::from_ref(&key_id))
            .await
            .unwrap_err();
        assert_eq!(refused.code(), "NO_PERMISSION", "{who}: {refused}");
    }

    // What the attacker has on disk: the device's events, every one encrypted, no plaintext.
    drop(attacker);
    let store = rivulet_store::Store::open(&dir.join("history.redb")).unwrap();
    let events: Vec<StreamMessage> = store
        .last(&part, 10_000)
        .unwrap()
        .iter()
        .map(|w| decode_verified(w, &Limits::default()).unwrap())
        .filter(|m| {
            m.body.message_type == MessageType::Data && m.id().publisher == world.device.address()
        })
        .collect();
    assert!(
        events.len() >= 6,
        "the attacker's node stored {} events",
        events.len()
    );
    for event in &events {
        assert_ne!(event.body.encryption, Encryption::None, "{event:?}");
        for k in 0..=n {
            let plain = secret(k);
            assert!(
                !event
                    .body
                    .content
                    .windows(plain.len())
                    .any(|w| w == plain.as_bytes()),
                "the attacker's store holds {plain} in the clear"
            );
        }
    }
}
