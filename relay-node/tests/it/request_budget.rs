//! Light requests that arrive in part and never finish (a request-response slowloris) hold at most
//! their address's share of a node's memory: requests beyond it are answered `busy`, naming the
//! address, while a client from another address publishes as before, and what the stalled requests
//! held is given back when their connection goes.

use std::{
    io,
    net::{IpAddr, SocketAddr},
    time::Duration,
};

use futures::{AsyncRead, AsyncWrite, AsyncWriteExt, StreamExt};
use rivulet_client::PublishOptions;
use rivulet_network::{
    libp2p::{
        Multiaddr, StreamProtocol, Swarm, SwarmBuilder,
        multiaddr::Protocol,
        noise,
        request_response::{self, Codec, ProtocolSupport},
        swarm::SwarmEvent,
        tcp, yamux,
    },
    light::{LIGHT_PROTOCOL, LightRequest, LightResponse},
    light_codec::Asking,
    peer_of,
};
use rivulet_protocol::ContentType;
use tokio::net::{TcpListener, TcpSocket};

use crate::{
    light_client::client,
    support::{World, metric, start_configured_node},
};

/// One address may hold 8 MiB of requests being read, the node 16 MiB.
const CONFIG: &str = "[network]\nlight_request_mb_per_address = 8\nlight_request_mb = 16\n";
/// Requests of 1 MiB each that never finish: 48 MiB sent, six times the share.
const STALLED: usize = 48;

/// A request as the attacker sends it: `bytes` of junk, then its end (`finish`) or nothing more.
#[derive(Clone, Copy, Debug)]
struct Partial {
    bytes: usize,
    finish: bool,
}

/// The attacker's side of the light protocol: writes [`Partial`] requests, reads real answers.
#[derive(Clone)]
struct Attacker;

impl Codec for Attacker {
    type Protocol = StreamProtocol;
    type Request = Partial;
    type Response = LightResponse;

    async fn read_request<T: AsyncRead + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        _: &mut T,
    ) -> io::Result<Partial> {
        Err(io::Error::other("the attacker answers nothing"))
    }

    async fn read_response<T: AsyncRead + Unpin + Send>(
        &mut self,
        protocol: &StreamProtocol,
        io: &mut T,
    ) -> io::Result<LightResponse> {
        Asking::<LightRequest, LightResponse>::new(1 << 20)
            .read_response(protocol, io)
            .await
    }

    async fn write_request<T: AsyncWrite + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        request: Partial,
    ) -> io::Result<()> {
        let chunk = vec![0xff; 64 * 1024];
        for _ in 0..request.bytes / chunk.len() {
            io.write_all(&chunk).await?;
        }
        io.flush().await?;
        if !request.finish {
            futures::future::pending::<()>().await;
        }
        Ok(())
    }

    async fn write_response<T: AsyncWrite + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        _: &mut T,
        _: LightResponse,
    ) -> io::Result<()> {
        Err(io::Error::other("the attacker answers nothing"))
    }
}

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

/// The attacker's swarm, connected to `node` from 127.0.0.2 (through [`relay_from`]), so that the
/// node tells it from the honest client on 127.0.0.1.
async fn attacker(node: &str) -> (Swarm<request_response::Behaviour<Attacker>>, Multiaddr) {
    let mut swarm = SwarmBuilder::with_new_identity()
        .with_tokio()
        .with_tcp(
            tcp::Config::default(),
            noise::Config::new,
            yamux::Config::default,
        )
        .unwrap()
        .with_behaviour(|_| {
            request_response::Behaviour::with_codec(
                Attacker,
                [(LIGHT_PROTOCOL, ProtocolSupport::Outbound)],
                request_response::Config::default()
                    .with_request_timeout(Duration::from_secs(120))
                    .with_max_concurrent_streams(1_000),
            )
        })
        .unwrap()
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(120)))
        .build();
    let node: Multiaddr = node.parse().unwrap();
    let (Some(Protocol::Ip4(ip)), Some(Protocol::Tcp(port))) =
        (node.iter().next(), node.iter().nth(1))
    else {
        panic!("{node} is not a TCP address");
    };
    let relay = relay_from([127, 0, 0, 2].into(), (ip, port).into()).await;
    let addr: Multiaddr = format!(
        "/ip4/{}/tcp/{}/p2p/{}",
        relay.ip(),
        relay.port(),
        peer_of(&node).unwrap()
    )
    .parse()
    .unwrap();
    swarm.dial(addr.clone()).unwrap();
    loop {
        if let SwarmEvent::ConnectionEstablished { .. } = swarm.select_next_some().await {
            return (swarm, addr);
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

    let (mut swarm, addr) = attacker(&node.listen[0]).await;
    let peer = peer_of(&addr).unwrap();
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
    let sent = tokio::time::Instant::now() + Duration::from_secs(5);
    while tokio::time::timeout_at(sent, swarm.select_next_some())
        .await
        .is_ok()
    {}
    let reading = metric(&http, &node, "rivulet_light_reading_bytes").await;
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
    swarm.behaviour_mut().send_request(
        &peer,
        Partial {
            bytes: 1 << 20,
            finish: true,
        },
    );
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let answer = loop {
        let event = tokio::time::timeout_at(deadline, swarm.select_next_some())
            .await
            .expect("an answer in time");
        if let SwarmEvent::Behaviour(request_response::Event::Message {
            message: request_response::Message::Response { response, .. },
            ..
        }) = event
        {
            break response;
        }
    };
    match answer {
        LightResponse::Error { code, message } => {
            assert_eq!(code, "busy", "{message}");
            assert!(
                message.starts_with("127.0.0.2 already has")
                    && message.contains("network.light_request_mb_per_address"),
                "{message}"
            );
        }
        other => panic!("a request past the share was not refused: {other:?}"),
    }
    let refused = metric(&http, &node, "rivulet_light_refused_total{reason=\"busy\"}").await;
    assert!(refused >= 1.0, "{refused} refusals counted");

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
        let reading = metric(&http, &node, "rivulet_light_reading_bytes").await;
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

/// A JSON object of about `len` bytes.
fn big_json(len: usize) -> Vec<u8> {
    format!("{{\"pad\":\"{}\"}}", "x".repeat(len)).into_bytes()
}
