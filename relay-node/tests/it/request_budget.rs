//! Light requests that arrive in part and never finish (a request-response slowloris) hold at most
//! their address's share of a node's memory: requests beyond it are answered `busy`, naming the
//! address — on that connection and on another from the same address speaking the replica-store
//! protocol — while a client from another address publishes as before, and what the stalled requests
//! held is given back when their connection goes.

use std::{
    marker::PhantomData,
    net::{IpAddr, SocketAddr},
    time::Duration,
};

use futures::StreamExt;
use rivulet_client::PublishOptions;
use rivulet_network::{
    STORE_PROTOCOL,
    libp2p::PeerId,
    libp2p::{
        Multiaddr, StreamProtocol, Swarm,
        multiaddr::Protocol,
        request_response::{self, ProtocolSupport},
        swarm::SwarmEvent,
    },
    light::{LIGHT_PROTOCOL, LightResponse},
    peer_of,
    replica::StoreResponse,
};
use rivulet_protocol::ContentType;
use serde::de::DeserializeOwned;
use tokio::net::{TcpListener, TcpSocket};

use crate::{
    light_client::client,
    raw_peer::{Attacker, Partial, tcp_swarm},
    support::{Node, World, metric, start_configured_node},
};

/// One address may hold 8 MiB of requests being read, the node 16 MiB.
const CONFIG: &str = "[network]\nrequest_mb_per_address = 8\nrequest_mb = 16\n";
/// Requests of 1 MiB each that never finish: 48 MiB sent, six times the share.
const STALLED: usize = 48;

/// A TCP relay that connects to `to` from `source` for every connection it takes (libp2p's dials
/// cannot choose their source address): its address.
async fn relay_from(source: IpAddr, to: SocketAddr) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let at = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut inbound, _)) = listener.accept().await {
            let socket = TcpSocket::new_v4().unwrap();
            socket.bind(SocketAddr::new(source, 0)).unwrap();
            let mut outbound = socket.connect(to).await.unwrap();
            tokio::spawn(async move {
                let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
            });
        }
    });
    at
}

/// An attacker's swarm speaking `protocol`, connected to `node` from 127.0.0.2 (through
/// [`relay_from`]), so that the node tells it from the honest client on 127.0.0.1.
async fn attacker<Resp: DeserializeOwned + Send + 'static>(
    node: &str,
    protocol: StreamProtocol,
) -> (Swarm<request_response::Behaviour<Attacker<Resp>>>, PeerId) {
    let mut swarm = tcp_swarm(request_response::Behaviour::with_codec(
        Attacker(PhantomData),
        [(protocol, ProtocolSupport::Outbound)],
        request_response::Config::default()
            .with_request_timeout(Duration::from_secs(120))
            .with_max_concurrent_streams(1_000),
    ));
    let node: Multiaddr = node.parse().unwrap();
    let (Some(Protocol::Ip4(ip)), Some(Protocol::Tcp(port))) =
        (node.iter().next(), node.iter().nth(1))
    else {
        panic!("{node} is not a TCP address");
    };
    let relay = relay_from([127, 0, 0, 2].into(), (ip, port).into()).await;
    let peer = peer_of(&node).unwrap();
    let addr: Multiaddr = format!("/ip4/{}/tcp/{}/p2p/{peer}", relay.ip(), relay.port())
        .parse()
        .unwrap();
    swarm.dial(addr).unwrap();
    loop {
        if let SwarmEvent::ConnectionEstablished { .. } = swarm.select_next_some().await {
            return (swarm, peer);
        }
    }
}

/// The next answer `swarm` gets, within 20 s.
async fn answer<Resp: DeserializeOwned + Send + 'static>(
    swarm: &mut Swarm<request_response::Behaviour<Attacker<Resp>>>,
) -> Resp {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let event = tokio::time::timeout_at(deadline, swarm.select_next_some())
            .await
            .expect("an answer in time");
        if let SwarmEvent::Behaviour(request_response::Event::Message {
            message: request_response::Message::Response { response, .. },
            ..
        }) = event
        {
            return response;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_light_requests_hold_at_most_their_address_share() {
    let world = World::public().await;
    let node = start_configured_node(
        &world.dir.path().join("n"),
        &world.deployment_file,
        CONFIG,
        &[],
    );
    let http = reqwest::Client::new();
    let rss = "process_resident_memory_bytes";
    let before = metric(&http, &node, rss).await;

    let (mut swarm, peer) = attacker::<LightResponse>(&node.listen[0], LIGHT_PROTOCOL).await;
    for _ in 0..STALLED {
        swarm.behaviour_mut().send_request(
            &peer,
            Partial {
                bytes: 1 << 20,
                finish: false,
            },
        );
    }
    // Let the stalled requests arrive (the node reads what fits and drops the rest).
    let reading = reading_after(&mut swarm, Duration::from_secs(5), &http, &node).await;
    assert!(
        reading > 0.0 && reading <= f64::from(8u32 << 20),
        "the stalled requests hold {reading} bytes; the share is 8 MiB"
    );
    let grown = metric(&http, &node, rss).await - before;
    assert!(
        grown < f64::from(32u32 << 20),
        "{STALLED} MiB of stalled requests grew the node by {grown} bytes"
    );

    // One more, finished, from the same address: answered busy at once, naming the address.
    let finished = Partial {
        bytes: 1 << 20,
        finish: true,
    };
    swarm.behaviour_mut().send_request(&peer, finished);
    match answer(&mut swarm).await {
        LightResponse::Error { code, message } => assert_busy(&code, &message),
        other => panic!("a request past the share was not refused: {other:?}"),
    }
    let refused = metric(
        &http,
        &node,
        "rivulet_requests_refused_total{protocol=\"light\",reason=\"busy\"}",
    )
    .await;
    assert!(refused >= 1.0, "{refused} refusals counted");

    // Another connection from that address, speaking another protocol (a peer's replica-store
    // requests), draws on the same share: its stalled requests take at most what is left, and its
    // next one is answered busy.
    let (mut store, peer) = attacker::<StoreResponse>(&node.listen[0], STORE_PROTOCOL).await;
    for finish in [false; 16] {
        let bytes = 1 << 20;
        store
            .behaviour_mut()
            .send_request(&peer, Partial { bytes, finish });
    }
    let reading = reading_after(&mut store, Duration::from_secs(3), &http, &node).await;
    assert!(
        reading <= f64::from(8u32 << 20),
        "two connections' stalled requests hold {reading} bytes; the share is 8 MiB"
    );
    store.behaviour_mut().send_request(&peer, finished);
    match answer(&mut store).await {
        StoreResponse::Error { code, message } => assert_busy(&code, &message),
        other => panic!("a store request past the share was not refused: {other:?}"),
    }
    drop(store);

    // Another address is served as before, a full-size publish included.
    let publisher = client(&[&node.listen[0]], world.device.to_bytes());
    for content in [b"{\"n\":1}".to_vec(), big_json(900 * 1024)] {
        publisher
            .publish(
                &world.stream,
                ContentType::Json,
                content,
                PublishOptions::default(),
            )
            .await
            .unwrap();
    }

    // The attacker gone, what its requests held is given back.
    drop(swarm);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let reading = metric(&http, &node, "rivulet_request_reading_bytes").await;
        if reading == 0.0 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{reading} bytes still held"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// What `node`'s requests being read hold after `swarm` has run for `wait`.
async fn reading_after<Resp: DeserializeOwned + Send + 'static>(
    swarm: &mut Swarm<request_response::Behaviour<Attacker<Resp>>>,
    wait: Duration,
    http: &reqwest::Client,
    node: &Node,
) -> f64 {
    let until = tokio::time::Instant::now() + wait;
    while tokio::time::timeout_at(until, swarm.select_next_some())
        .await
        .is_ok()
    {}
    metric(http, node, "rivulet_request_reading_bytes").await
}

/// A refusal for the attacker's address being past its share.
fn assert_busy(code: &str, message: &str) {
    assert_eq!(code, "busy", "{message}");
    assert!(
        message.starts_with("127.0.0.2 already has")
            && message.contains("network.request_mb_per_address"),
        "{message}"
    );
}

/// A JSON object of about `len` bytes.
fn big_json(len: usize) -> Vec<u8> {
    format!("{{\"pad\":\"{}\"}}", "x".repeat(len)).into_bytes()
}
