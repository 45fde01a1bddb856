//! Relay nodes on loopback TCP, in a line A — B — C (and D beside A, also linked to B), on one stream
//! part's topic. A and D forward whatever they are given; B and C validate. Valid events reach C; forged
//! and unauthorized ones stop at B and cost their senders peer score.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

mod common;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures::StreamExt;
use libp2p::{Multiaddr, PeerId, gossipsub, identity::Keypair, swarm::SwarmEvent};
use rivulet_network::{NetworkConfig, NodeBehaviourEvent};
use rivulet_protocol::{
    Address, ChainId, ContentType, Encryption, MessageId, MessageType, Partition, SignatureType,
    Signer, StreamPartId, UnsignedMessage,
};
use rivulet_validate::{PublishPermission, Validator, ValidatorConfig, Verdict};
use tokio::sync::mpsc;

struct Only(Address);

impl PublishPermission for Only {
    fn may_publish(&self, _stream_id: &str, publisher: Address, _at_secs: u64) -> bool {
        publisher == self.0
    }

    /// The test's stream is public: anyone subscribes, so its events travel in the clear.
    fn may_subscribe(&self, _stream_id: &str, _user: Address, _at_secs: u64) -> bool {
        true
    }
}

enum Command {
    Publish(Vec<u8>),
    Dial(Multiaddr),
    Score(PeerId, tokio::sync::oneshot::Sender<Option<f64>>),
}

#[derive(Debug)]
enum Seen {
    Accepted(Vec<u8>),
    Rejected(&'static str),
}

struct Node {
    commands: mpsc::UnboundedSender<Command>,
    seen: mpsc::UnboundedReceiver<Seen>,
    addr: Multiaddr,
    peer: PeerId,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

fn part() -> StreamPartId {
    "rivulet.eth/gossip#0".parse().unwrap()
}

fn frame(s: &Signer, seq: u32, content: &str) -> Vec<u8> {
    let p = part();
    let body = UnsignedMessage {
        id: MessageId {
            stream_id: p.stream_id.clone(),
            partition: Partition::new(0).unwrap(),
            timestamp: now_ms(),
            sequence_number: seq,
            publisher: s.address(),
            chain_id: ChainId::new("c").unwrap(),
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

async fn spawn_node(allowed: Address) -> Node {
    spawn_node_on_topic(allowed, true).await
}

/// A node that joins the topic's mesh when `subscribed`, and otherwise only publishes to it (its
/// peers then score it by its messages alone, not by its time in their mesh).
async fn spawn_node_on_topic(allowed: Address, subscribed: bool) -> Node {
    let config = NetworkConfig {
        heartbeat: Duration::from_millis(100),
        ..NetworkConfig::default()
    };
    let key = Keypair::generate_ed25519();
    let peer = key.public().to_peer_id();
    let (mut swarm, addr) = common::listening(key, config, "/ip4/127.0.0.1/tcp/0").await;
    if subscribed {
        swarm.behaviour_mut().subscribe(&part()).unwrap();
    }
    let (cmd_tx, mut cmd_rx) = mpsc::unbounded_channel();
    let (seen_tx, seen_rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut validator = Validator::new(ValidatorConfig::default());
        let perms = Only(allowed);
        loop {
            tokio::select! {
                command = cmd_rx.recv() => match command {
                    Some(Command::Publish(wire)) => {
                        // Before the mesh forms there may be no peer yet; the test publishes again.
                        let _ = swarm.behaviour_mut().publish(&part(), wire);
                    }
                    Some(Command::Dial(addr)) => swarm.dial(addr).unwrap(),
                    Some(Command::Score(peer, reply)) => {
                        let _ = reply.send(swarm.behaviour().gossipsub.peer_score(&peer));
                    }
                    None => break,
                },
                event = swarm.select_next_some() => {
                    if let SwarmEvent::Behaviour(NodeBehaviourEvent::Gossipsub(gossipsub::Event::Message {
                        propagation_source,
                        message_id,
                        message,
                    })) = event
                    {
                        let (acceptance, seen) = match validator.validate(&message.data, now_ms(), &perms) {
                            Verdict::Accept(_) => (gossipsub::MessageAcceptance::Accept, Seen::Accepted(message.data.clone())),
                            Verdict::Duplicate => (gossipsub::MessageAcceptance::Ignore, Seen::Rejected("duplicate")),
                            Verdict::Reject(r) => (gossipsub::MessageAcceptance::Reject, Seen::Rejected(r.reason())),
                        };
                        swarm.behaviour_mut().report(&message_id, &propagation_source, acceptance);
                        let _ = seen_tx.send(seen);
                    }
                }
            }
        }
    });
    Node {
        commands: cmd_tx,
        seen: seen_rx,
        addr,
        peer,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_valid_events_cross_the_network() {
    let alice = Signer::from_bytes(&[1; 32]).unwrap();
    let mallory = Signer::from_bytes(&[2; 32]).unwrap();
    let a = spawn_node(alice.address()).await;
    let mut b = spawn_node(alice.address()).await;
    let mut c = spawn_node(alice.address()).await;
    // D, beside A, will pass on a copy of a forged event after B has rejected it.
    let d = spawn_node_on_topic(alice.address(), false).await;
    b.commands.send(Command::Dial(a.addr.clone())).unwrap();
    c.commands.send(Command::Dial(b.addr.clone())).unwrap();
    d.commands.send(Command::Dial(b.addr.clone())).unwrap();

    // Publish from A until the first event crosses A → B → C.
    let (seq, first) = warm_up(&a, &mut c, &alice, "the three nodes").await;
    assert!(!first.is_empty());

    // A good event crosses; the forged and unauthorized ones stop at B.
    let good = frame(&alice, seq + 1, r#"{"n":1}"#);
    a.commands.send(Command::Publish(good.clone())).unwrap();
    loop {
        match tokio::time::timeout(Duration::from_secs(10), c.seen.recv()).await {
            Ok(Some(Seen::Accepted(data))) if data == good => break,
            Ok(Some(Seen::Accepted(_))) => {} // a late warm-up event
            other => panic!("C did not get the valid event: {other:?}"),
        }
    }
    let mut forged = frame(&alice, seq + 2, r#"{"n":2}"#);
    let content_at = forged.len() - 65 - 2;
    forged[content_at] ^= 1;
    let unauthorized = frame(&mallory, 1, r#"{"n":3}"#);
    let score_before = score(&b, a.peer).await;
    a.commands.send(Command::Publish(forged.clone())).unwrap();
    a.commands.send(Command::Publish(unauthorized)).unwrap();
    let mut b_rejected = Vec::new();
    while b_rejected.len() < 2 {
        match tokio::time::timeout(Duration::from_secs(10), b.seen.recv()).await {
            Ok(Some(Seen::Rejected(reason))) => b_rejected.push(reason),
            Ok(Some(Seen::Accepted(_))) => {}
            other => panic!("B did not reject the invalid events: {other:?}"),
        }
    }
    b_rejected.sort();
    assert_eq!(b_rejected, vec!["bad_signature", "no_permission"]);
    // They count against A in B's peer score.
    let score_after = score(&b, a.peer).await;
    assert!(
        score_after < score_before && score_after < 0.0,
        "A's score at B: {score_before} -> {score_after}"
    );
    // A later copy of the forged event is not validated again, yet it costs its sender as much: B keeps
    // the rejected message's delivery record (for as long as it remembers the id).
    let d_penalised = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            d.commands.send(Command::Publish(forged.clone())).unwrap();
            tokio::time::sleep(Duration::from_millis(200)).await;
            let s = score(&b, d.peer).await;
            if s < 0.0 {
                return s;
            }
        }
    })
    .await;
    assert!(
        d_penalised.is_ok(),
        "D's copy of a rejected event cost it nothing at B"
    );
    while let Ok(seen) = b.seen.try_recv() {
        assert!(
            !matches!(seen, Seen::Rejected(_)),
            "B validated the forged event again: {seen:?}"
        );
    }
    // And nothing invalid reaches C.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    while let Ok(seen) = c.seen.try_recv() {
        assert!(
            matches!(seen, Seen::Accepted(_)),
            "C saw {seen:?}: B forwarded an invalid event"
        );
    }
}

/// Publishes warm-up events from `from` (sequence numbers from 1) until `to` accepts one — the meshes
/// form on heartbeats — and fails the test after 20 s (`path` names the way in the message). Returns
/// the last sequence number used and the event that arrived.
async fn warm_up(from: &Node, to: &mut Node, publisher: &Signer, path: &str) -> (u32, Vec<u8>) {
    let mut seq = 0;
    let first = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            seq += 1;
            from.commands
                .send(Command::Publish(frame(
                    publisher,
                    seq,
                    r#"{"warmup":true}"#,
                )))
                .unwrap();
            if let Ok(Some(Seen::Accepted(data))) =
                tokio::time::timeout(Duration::from_millis(300), to.seen.recv()).await
            {
                return data;
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("no event crossed {path} within 20 s"));
    (seq, first)
}

async fn score(node: &Node, peer: PeerId) -> f64 {
    let (tx, rx) = tokio::sync::oneshot::channel();
    node.commands.send(Command::Score(peer, tx)).unwrap();
    rx.await.unwrap().expect("peer scoring is on")
}

/// A burst published at once arrives whole and in order, its last events without waiting for more:
/// the patched gossipsub writes the messages queued for a peer together and flushes when its queue
/// is empty (or after a bounded number), instead of flushing after each.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_arrives_whole_and_in_order() {
    let alice = Signer::from_bytes(&[1; 32]).unwrap();
    let a = spawn_node(alice.address()).await;
    let mut b = spawn_node(alice.address()).await;
    b.commands.send(Command::Dial(a.addr.clone())).unwrap();
    let (seq, _) = warm_up(&a, &mut b, &alice, "A → B").await;

    // More than one flush's worth, and not a multiple of it: the last few can only arrive if the
    // handler flushes when its queue runs dry.
    let burst: Vec<Vec<u8>> = (1..=203)
        .map(|i| frame(&alice, seq + i, &format!(r#"{{"n":{i}}}"#)))
        .collect();
    for wire in &burst {
        a.commands.send(Command::Publish(wire.clone())).unwrap();
    }
    let mut arrived = Vec::new();
    let whole = tokio::time::timeout(Duration::from_secs(10), async {
        while arrived.len() < burst.len() {
            match b.seen.recv().await {
                Some(Seen::Accepted(data)) if burst.contains(&data) => arrived.push(data),
                Some(Seen::Accepted(_)) => {} // a late warm-up event
                other => panic!("B: {other:?}"),
            }
        }
    })
    .await;
    assert!(
        whole.is_ok(),
        "{} of the burst's {} events arrived within 10 s",
        arrived.len(),
        burst.len()
    );
    assert!(arrived == burst, "the burst arrived out of order");
}
