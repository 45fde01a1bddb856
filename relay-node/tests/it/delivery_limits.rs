//! What a node can make a light client hold: a node that pushes many deliveries at once, each sending
//! most of a large frame and then nothing, gets at most eight of them taken by the client (a node
//! keeps four outstanding); the rest are refused at once, so no entry node can fill a client's memory.

use std::{marker::PhantomData, time::Duration};

use futures::StreamExt;
use rivulet_client::{Client, ClientConfig};
use rivulet_network::{
    DEFAULT_REQUEST_BYTES,
    intake::Inbound,
    libp2p::{
        request_response::{self, ProtocolSupport},
        swarm::{NetworkBehaviour, SwarmEvent},
    },
    light::{
        DELIVERY_PROTOCOL, LightNodeBehaviour, LightRequest, LightResponse,
        MAX_DELIVERIES_IN_FLIGHT, light_node_behaviour,
    },
    request_budget::RequestBudget,
};

use crate::{
    raw_peer::{Attacker, Partial, listen_on_loopback, tcp_swarm},
    support::World,
};

/// Deliveries the node pushes at once, each 1 MiB of a frame that never ends.
const PUSHED: usize = 64;

/// A node that signs clients in and pushes stalling deliveries.
#[derive(NetworkBehaviour)]
#[behaviour(prelude = "rivulet_network::libp2p::swarm::derive_prelude")]
struct Pushing {
    light: LightNodeBehaviour,
    delivery: request_response::Behaviour<Attacker<()>>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_gets_at_most_eight_deliveries_held_by_a_client() {
    let world = World::public().await;
    let (per_address, total) = DEFAULT_REQUEST_BYTES;
    let mut swarm = tcp_swarm(Pushing {
        light: light_node_behaviour(8 << 20, RequestBudget::new(per_address, total)),
        delivery: request_response::Behaviour::with_codec(
            Attacker(PhantomData),
            [(DELIVERY_PROTOCOL, ProtocolSupport::Outbound)],
            request_response::Config::default()
                .with_request_timeout(Duration::from_secs(120))
                .with_max_concurrent_streams(1_000),
        ),
    });
    let listen = listen_on_loopback(&mut swarm).await;
    let client = Client::new(ClientConfig {
        nodes: vec![
            format!("{listen}/p2p/{}", swarm.local_peer_id())
                .parse()
                .unwrap(),
        ],
        private_key: Some(world.reader.to_bytes()),
        request_timeout: Duration::from_secs(30),
        ..ClientConfig::default()
    })
    .unwrap();

    // Sign the client in, then push.
    let mut failed = 0;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let client_peer = loop {
        let event = tokio::time::timeout_at(deadline, swarm.select_next_some())
            .await
            .expect("the client signs in");
        if let SwarmEvent::Behaviour(PushingEvent::Light(request_response::Event::Message {
            peer,
            message:
                request_response::Message::Request {
                    request, channel, ..
                },
            ..
        })) = event
        {
            assert!(matches!(
                request,
                Inbound::Request(LightRequest::Auth { .. })
            ));
            let _ = swarm
                .behaviour_mut()
                .light
                .send_response(channel, LightResponse::Ok);
            break peer;
        }
    };
    client.wait_connected().await.unwrap();
    for _ in 0..PUSHED {
        swarm.behaviour_mut().delivery.send_request(
            &client_peer,
            Partial {
                bytes: 1 << 20,
                finish: false,
            },
        );
    }
    let until = tokio::time::Instant::now() + Duration::from_secs(5);
    while let Ok(event) = tokio::time::timeout_at(until, swarm.select_next_some()).await {
        if let SwarmEvent::Behaviour(PushingEvent::Delivery(
            request_response::Event::OutboundFailure { .. },
        )) = event
        {
            failed += 1;
        }
    }
    let held = PUSHED - failed;
    assert!(
        (1..=2 * MAX_DELIVERIES_IN_FLIGHT).contains(&held),
        "the client took {held} of {PUSHED} stalled deliveries"
    );
    drop(client);
}
