//! Which connections between relay nodes stay up once idle: those in a topic's mesh, not every node a
//! node ever met (`patches/libp2p-gossipsub`: gossip's own streams no longer keep a connection alive,
//! rust-libp2p#5190). Two nodes on loopback with a one-second idle timeout.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

mod common;

use std::time::Duration;

use futures::StreamExt;
use libp2p::{PeerId, Swarm, identity::Keypair, swarm::SwarmEvent};
use rivulet_network::{NetworkConfig, NodeBehaviour};
use rivulet_protocol::StreamPartId;

const IDLE: Duration = Duration::from_secs(1);

async fn node(part: Option<&str>) -> (Swarm<NodeBehaviour>, libp2p::Multiaddr) {
    let config = NetworkConfig {
        heartbeat: Duration::from_millis(100),
        idle_timeout: IDLE,
        ..NetworkConfig::default()
    };
    let (mut swarm, addr) =
        common::listening(Keypair::generate_ed25519(), config, "/ip4/127.0.0.1/tcp/0").await;
    if let Some(part) = part {
        let part: StreamPartId = part.parse().unwrap();
        swarm.behaviour_mut().subscribe(&part).unwrap();
    }
    (swarm, addr)
}

/// Connects `b` to `a`, drives both for `for_how_long`, and says whether they are still connected.
async fn connected_after(
    mut a: Swarm<NodeBehaviour>,
    a_addr: libp2p::Multiaddr,
    mut b: Swarm<NodeBehaviour>,
    for_how_long: Duration,
) -> bool {
    let a_peer: PeerId = *a.local_peer_id();
    b.dial(a_addr).unwrap();
    let mut established = false;
    let deadline = tokio::time::sleep(for_how_long);
    tokio::pin!(deadline);
    loop {
        tokio::select! {
            _ = &mut deadline => break,
            _ = a.select_next_some() => {}
            event = b.select_next_some() => {
                if let SwarmEvent::ConnectionEstablished { peer_id, .. } = event
                    && peer_id == a_peer
                {
                    established = true;
                }
            }
        }
    }
    assert!(established, "the nodes never connected");
    b.is_connected(&a_peer)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_sharing_no_mesh_part_once_idle() {
    // Both speak gossipsub and tell each other their subscriptions (long-lived gossip streams), but
    // share no topic, so neither is in the other's mesh.
    let (a, a_addr) = node(Some("rivulet.eth/keep#0")).await;
    let (b, _) = node(Some("rivulet.eth/keep#1")).await;
    assert!(
        !connected_after(a, a_addr, b, IDLE * 5).await,
        "the connection outlived the idle timeout with no mesh between the nodes"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mesh_neighbours_stay_connected() {
    let (a, a_addr) = node(Some("rivulet.eth/keep#0")).await;
    let (b, _) = node(Some("rivulet.eth/keep#0")).await;
    assert!(
        connected_after(a, a_addr, b, IDLE * 5).await,
        "mesh neighbours lost their connection when idle"
    );
}
