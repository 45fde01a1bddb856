//! A node listens on WebRTC-direct (what browsers dial, no certificate authority involved); another dials
//! the address it reports, with the certificate hash in it. The connection carries streams (identify), and
//! a node built from the same certificate again reports the same address.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

mod common;

use std::time::Duration;

use futures::StreamExt;
use libp2p::{Multiaddr, identify, identity::Keypair, multiaddr::Protocol, swarm::SwarmEvent};
use rivulet_network::{NetworkConfig, NodeBehaviourEvent, new_webrtc_certificate};

async fn listen_webrtc(
    key: Keypair,
    pem: &str,
) -> (libp2p::Swarm<rivulet_network::NodeBehaviour>, Multiaddr) {
    let config = NetworkConfig {
        webrtc_certificate_pem: Some(pem.to_owned()),
        ..NetworkConfig::default()
    };
    common::listening(key, config, "/ip4/127.0.0.1/udp/0/webrtc-direct").await
}

fn certhash(addr: &Multiaddr) -> Option<Vec<u8>> {
    addr.iter().find_map(|p| match p {
        Protocol::Certhash(h) => Some(h.to_bytes()),
        _ => None,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_connect_over_webrtc_direct() {
    let pem = new_webrtc_certificate().unwrap();
    let (mut a, addr) = listen_webrtc(Keypair::generate_ed25519(), &pem).await;
    assert!(
        certhash(&addr).is_some(),
        "the address carries the certificate hash: {addr}"
    );
    let a_peer = *a.local_peer_id();
    // A native dialer sends from its own WebRTC listener's socket, so it listens too.
    let (mut b, _) = listen_webrtc(
        Keypair::generate_ed25519(),
        &new_webrtc_certificate().unwrap(),
    )
    .await;
    b.dial(addr.clone().with(Protocol::P2p(a_peer))).unwrap();
    let identified = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            tokio::select! {
                _ = a.select_next_some() => {}
                event = b.select_next_some() => {
                    if let SwarmEvent::Behaviour(NodeBehaviourEvent::Identify(identify::Event::Received { peer_id, info, .. })) = event {
                        break (peer_id, info);
                    }
                }
            }
        }
    })
    .await
    .expect("no identify exchange over webrtc-direct within 30 s");
    assert_eq!(identified.0, a_peer);
    assert_eq!(
        identified.1.protocol_version,
        rivulet_network::IDENTIFY_PROTOCOL
    );

    // The same certificate gives the same hash (addresses survive restarts).
    let (_again, addr2) = listen_webrtc(Keypair::generate_ed25519(), &pem).await;
    assert_eq!(certhash(&addr2), certhash(&addr));
}
