//! A client's session with its entry node must come up in bounded time: an entry node that connects
//! but never answers the sign-in is given up for the next configured node well before the request
//! timeout would say so.

use std::time::{Duration, Instant};

use futures::StreamExt;
use rivulet_client::{Client, ClientConfig, PublishOptions};
use rivulet_network::{
    DEFAULT_REQUEST_BYTES,
    intake::Inbound,
    libp2p::{request_response, swarm::SwarmEvent},
    light::{LightRequest, light_node_behaviour},
    request_budget::RequestBudget,
};
use rivulet_protocol::ContentType;

use crate::{
    raw_peer::{listen_on_loopback, tcp_swarm},
    support::{World, start_node},
};

/// A libp2p peer that speaks the light protocol's transport and takes its requests, and never answers
/// one. Returns its address and a receiver of the requests it took.
async fn mute_entry_node() -> (String, tokio::sync::mpsc::UnboundedReceiver<LightRequest>) {
    let (per_address, total) = DEFAULT_REQUEST_BYTES;
    let mut swarm = tcp_swarm(light_node_behaviour(
        8 << 20,
        RequestBudget::new(per_address, total),
    ));
    let listen = listen_on_loopback(&mut swarm).await;
    let address = format!("{listen}/p2p/{}", swarm.local_peer_id());
    let (taken, requests) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        // The response channels are kept, so the requests stay open and unanswered.
        let mut held = Vec::new();
        loop {
            if let SwarmEvent::Behaviour(request_response::Event::Message {
                message:
                    request_response::Message::Request {
                        request, channel, ..
                    },
                ..
            }) = swarm.select_next_some().await
            {
                if let Inbound::Request(request) = request {
                    let _ = taken.send(request);
                }
                held.push(channel);
            }
        }
    });
    (address, requests)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_entry_node_that_never_signs_in_is_given_up_for_the_next() {
    let world = World::public().await;
    let live = start_node(
        &world.dir.path().join("a"),
        &world.deployment_file,
        &["--storage.part", &world.part],
    );
    let (mute, mut requests) = mute_entry_node().await;
    // The request timeout is longer than the light protocol's own (30 s), so only the session's setup
    // deadline can make the client leave the mute node in time.
    let publisher = Client::new(ClientConfig {
        nodes: vec![mute.parse().unwrap(), live.listen[0].parse().unwrap()],
        private_key: Some(world.device.to_bytes()),
        request_timeout: Duration::from_secs(60),
        ..ClientConfig::default()
    })
    .unwrap();
    let started = Instant::now();
    let published = publisher
        .publish(
            &world.stream,
            ContentType::Json,
            br#"{"after":"a mute node"}"#.to_vec(),
            PublishOptions::default(),
        )
        .await
        .unwrap();
    let took = started.elapsed();
    assert!(published.stored);
    // The mute node was tried first: it took the sign-in.
    assert!(matches!(requests.try_recv(), Ok(LightRequest::Auth { .. })));
    assert!(
        took < Duration::from_secs(28),
        "published after {took:?}: the mute node was left by the request timeout, not the setup deadline"
    );
}
