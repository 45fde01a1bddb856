//! A node's limits on what one light client, or one address, may ask of it — with the real client and
//! with a raw libp2p connection sending what no honest client would: subscriptions past a client's
//! share, publishes past an address's share in progress, sign-ins past an address's rate.

use std::time::Duration;

use futures::StreamExt;
use rivulet_client::ClientError;
use rivulet_network::{
    ClientBehaviour, ClientBehaviourEvent, build_client_swarm,
    libp2p::{
        Multiaddr, PeerId, Swarm,
        identity::Keypair,
        request_response::{self, OutboundRequestId},
        swarm::SwarmEvent,
    },
    light::{LightRequest, LightResponse, PublishResult},
    peer_of,
};
use rivulet_protocol::StreamPartId;

use crate::{
    light_client::client,
    support::{Node, World, start_configured_node, start_node},
};

/// A light connection of a fresh peer id to `node`, with nothing signed in: what an attacker starts from.
async fn raw_client(node: &Node) -> (Swarm<ClientBehaviour>, PeerId) {
    let mut swarm = build_client_swarm(Keypair::generate_ed25519())
        .await
        .unwrap();
    let addr: Multiaddr = node.listen[0].parse().unwrap();
    let peer = peer_of(&addr).unwrap();
    swarm.dial(addr).unwrap();
    loop {
        if let SwarmEvent::ConnectionEstablished { .. } = swarm.select_next_some().await {
            return (swarm, peer);
        }
    }
}

/// A light client subscribes to at most `network.light_max_subscriptions` stream parts: one more is
/// refused with `too_many_subscriptions`, while another client still subscribes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_light_client_subscribes_to_at_most_its_share_of_parts() {
    let world = World::public().await;
    let node = start_configured_node(
        &world.dir.path().join("n"),
        &world.deployment_file,
        "[network]\nlight_max_subscriptions = 2\n",
        &[],
    );
    let part = |n: u32| -> StreamPartId { format!("{}#{n}", world.stream).parse().unwrap() };
    let reader = client(&[&node.listen[0]], world.reader.to_bytes());
    let _first = reader.subscribe(&part(0), None).await.unwrap();
    let _second = reader.subscribe(&part(1), None).await.unwrap();
    match reader.subscribe(&part(2), None).await {
        Err(ClientError::Refused { code, message }) => {
            assert_eq!(code, "too_many_subscriptions");
            assert!(message.contains("at most 2 stream parts"), "{message}");
        }
        other => panic!("a third part was subscribed: {:?}", other.map(|_| ())),
    }
    let other = client(&[&node.listen[0]], [5; 32]);
    other.subscribe(&part(2), None).await.unwrap();
}

/// One address has at most `network.light_max_publishing_per_address` events being published at
/// once: of ten 100-event batches sent at once on a raw light connection (allowed 100), those that
/// arrive while another is in progress are answered `busy` at once, naming the address, the others
/// are published; once all are answered the address publishes again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_publishing_flood_from_one_address_is_answered_busy_beyond_its_share() {
    let world = World::public().await;
    let node = start_configured_node(
        &world.dir.path().join("n"),
        &world.deployment_file,
        "[network]\nlight_max_publishing_per_address = 100\n",
        &[],
    );
    let (mut swarm, peer) = raw_client(&node).await;
    let contents: Vec<String> = (0..1_100).map(|n| format!("{{\"n\":{n}}}")).collect();
    let frames = crate::support::chained_frames(&world.device, &world.stream, "flood", &contents);
    let batch = |at: usize| LightRequest::PublishBatch {
        wires: frames[at * 100..(at + 1) * 100]
            .iter()
            .cloned()
            .map(Into::into)
            .collect(),
    };
    for at in 0..10 {
        swarm.behaviour_mut().light.send_request(&peer, batch(at));
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let (mut published, mut busy) = (0, 0);
    for _ in 0..10 {
        match light_answer(&mut swarm, deadline).await.1 {
            LightResponse::PublishedBatch { results } => {
                assert_eq!(results.len(), 100);
                assert!(
                    results
                        .iter()
                        .all(|r| matches!(r, PublishResult::Published { .. })),
                    "{results:?}"
                );
                published += 1;
            }
            LightResponse::Error { code, message } => {
                assert_eq!(code, "busy", "{message}");
                assert!(
                    message.starts_with("127.0.0.1 already has 100 events being published")
                        && message.contains("the 100 one address may have at once"),
                    "{message}"
                );
                busy += 1;
            }
            other => panic!("neither published nor refused: {other:?}"),
        }
    }
    assert!(published >= 1, "nothing was published");
    assert!(busy >= 1, "no batch past the share was refused");
    // All answered, the address has room again.
    let again = swarm.behaviour_mut().light.send_request(&peer, batch(10));
    let (id, response) = light_answer(&mut swarm, deadline).await;
    assert_eq!(id, again);
    assert!(
        matches!(response, LightResponse::PublishedBatch { ref results } if results.len() == 100),
        "{response:?}"
    );
}

/// An address signs in at most 50 times a second (bursts of 100): of 150 sign-ins sent at once the
/// ones past the burst (up to 50) are answered `rate_limited` before any signature is recovered (the
/// rest, with junk signatures, are refused as such); a second later a real client from the same
/// address signs in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_ins_from_one_address_are_rate_limited() {
    let world = World::public().await;
    let node = start_node(&world.dir.path().join("n"), &world.deployment_file, &[]);
    let (mut swarm, peer) = raw_client(&node).await;
    for _ in 0..150 {
        swarm.behaviour_mut().light.send_request(
            &peer,
            LightRequest::Auth {
                address: world.reader.address().to_checksum(),
                signature: vec![0; 65].into(),
            },
        );
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let mut limited = 0;
    for _ in 0..150 {
        match light_answer(&mut swarm, deadline).await.1 {
            LightResponse::Error { code, message } if code == "rate_limited" => {
                assert!(
                    message.starts_with("127.0.0.1 signs in more than 50 times a second"),
                    "{message}"
                );
                limited += 1;
            }
            LightResponse::Error { .. } => {}
            other => panic!("a junk sign-in was accepted: {other:?}"),
        }
    }
    // 50 past the burst of 100; fewer if the node took long enough over them for the bucket to refill.
    assert!((1..=50).contains(&limited), "{limited} rate-limited of 150");
    tokio::time::sleep(Duration::from_secs(1)).await;
    let reader = client(&[&node.listen[0]], world.reader.to_bytes());
    reader.wait_connected().await.unwrap();
}

/// The next answer a raw light client's swarm gets, with the request it answers.
async fn light_answer(
    swarm: &mut Swarm<ClientBehaviour>,
    deadline: tokio::time::Instant,
) -> (OutboundRequestId, LightResponse) {
    loop {
        let event = tokio::time::timeout_at(deadline, swarm.select_next_some())
            .await
            .expect("an answer in time");
        if let SwarmEvent::Behaviour(ClientBehaviourEvent::Light(
            request_response::Event::Message {
                message:
                    request_response::Message::Response {
                        request_id,
                        response,
                    },
                ..
            },
        )) = event
        {
            return (request_id, response);
        }
    }
}
