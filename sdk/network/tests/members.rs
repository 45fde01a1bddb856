//! A stream part's members find each other through the DHT: three nodes on loopback TCP, H (the
//! bootstrap peer, in no part) and M1, M2, which know only H. M1 joins a part and announces it; H
//! stores the record; M2 joins the same part, looks its members up, finds M1 and dials it, and the
//! two meet in the part's topic. When M1 leaves the part it stops announcing it. (M2 may also meet M1
//! through kademlia's own lookups; the test asks that M2's lookup of the part found M1.)
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

mod common;

use std::time::Duration;

use futures::StreamExt;
use libp2p::{
    Multiaddr, Swarm, identify,
    identity::Keypair,
    kad::{self, GetProvidersOk, QueryResult, store::RecordStore},
    multiaddr::Protocol,
    swarm::SwarmEvent,
};
use rivulet_network::{
    NetworkConfig, NodeBehaviour, NodeBehaviourEvent, discovery::Discovery, members::part_key,
    topic,
};
use rivulet_protocol::StreamPartId;

async fn node() -> (Swarm<NodeBehaviour>, Multiaddr) {
    let key = Keypair::generate_ed25519();
    let (swarm, addr) =
        common::listening(key, NetworkConfig::default(), "/ip4/127.0.0.1/tcp/0").await;
    let peer = *swarm.local_peer_id();
    (swarm, addr.with(Protocol::P2p(peer)))
}

/// What one step of the three swarms turned up that the test looks at.
#[derive(Debug, Default)]
struct Seen {
    m2_found_m1: bool,
}

/// Polls every swarm once (whichever has an event first), feeding identify and kademlia events to
/// discovery as a relay node does.
async fn step(nodes: &mut [(Swarm<NodeBehaviour>, Discovery); 3], seen: &mut Seen) {
    let m1 = *nodes[1].0.local_peer_id();
    let [(h, hd), (a, ad), (b, bd)] = nodes;
    let (which, event) = tokio::select! {
        e = h.select_next_some() => (0, e),
        e = a.select_next_some() => (1, e),
        e = b.select_next_some() => (2, e),
    };
    let (swarm, discovery) = match which {
        0 => (h, hd),
        1 => (a, ad),
        _ => (b, bd),
    };
    match event {
        SwarmEvent::Behaviour(NodeBehaviourEvent::Identify(identify::Event::Received {
            peer_id,
            info,
            ..
        })) => Discovery::identified(swarm, peer_id, info),
        SwarmEvent::Behaviour(NodeBehaviourEvent::Kademlia(event)) => {
            if which == 2
                && let kad::Event::OutboundQueryProgressed {
                    result:
                        QueryResult::GetProviders(Ok(GetProvidersOk::FoundProviders {
                            providers, ..
                        })),
                    ..
                } = &event
                && providers.contains(&m1)
            {
                seen.m2_found_m1 = true;
            }
            discovery.on_kademlia(swarm, &event);
        }
        _ => {}
    }
}

/// Whether `swarm`'s DHT store holds `provider`'s record for `key`.
fn provides(
    swarm: &mut Swarm<NodeBehaviour>,
    key: &kad::RecordKey,
    provider: libp2p::PeerId,
) -> bool {
    let store = swarm.behaviour_mut().kademlia.store_mut();
    store.providers(key).iter().any(|r| r.provider == provider)
}

async fn until(
    nodes: &mut [(Swarm<NodeBehaviour>, Discovery); 3],
    seen: &mut Seen,
    what: &str,
    mut done: impl FnMut(&mut [(Swarm<NodeBehaviour>, Discovery); 3], &Seen) -> bool,
) {
    tokio::time::timeout(Duration::from_secs(30), async {
        while !done(nodes, seen) {
            step(nodes, seen).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("timed out waiting until {what}"));
}

#[tokio::test]
async fn a_parts_members_find_each_other_through_provider_records() {
    let part: StreamPartId = "rivulet.eth/members#0".parse().unwrap();
    let key = part_key(&part);
    let (mut h, h_addr) = node().await;
    let (mut m1, _) = node().await;
    let (mut m2, _) = node().await;
    let h_discovery = Discovery::start(&mut h, Vec::new());
    let m1_discovery = Discovery::start(&mut m1, vec![h_addr.clone()]);
    let m2_discovery = Discovery::start(&mut m2, vec![h_addr]);
    let (h_peer, m1_peer) = (*h.local_peer_id(), *m1.local_peer_id());
    let mut nodes = [(h, h_discovery), (m1, m1_discovery), (m2, m2_discovery)];
    let mut seen = Seen::default();

    // Both know H, and H knows where both listen (identify): the DHT is up.
    until(
        &mut nodes,
        &mut seen,
        "H has both in its routing table",
        |n, _| {
            let kademlia = &mut n[0].0.behaviour_mut().kademlia;
            kademlia.kbuckets().map(|b| b.num_entries()).sum::<usize>() == 2
        },
    )
    .await;

    // M1 joins: H stores its announcement.
    let (m1, d1) = &mut nodes[1];
    m1.behaviour_mut().subscribe(&part).unwrap();
    d1.joined(m1, &part);
    until(&mut nodes, &mut seen, "H stores M1's record", |n, _| {
        provides(&mut n[0].0, &key, m1_peer)
    })
    .await;

    // M2 joins: it finds M1 through H, dials it, and the two share the part's topic.
    let (m2, d2) = &mut nodes[2];
    m2.behaviour_mut().subscribe(&part).unwrap();
    d2.joined(m2, &part);
    let hash = topic(&part).hash();
    until(
        &mut nodes,
        &mut seen,
        "M2 and M1 meet in the part's topic",
        |n, s| {
            s.m2_found_m1
                && n[2]
                    .0
                    .behaviour()
                    .gossipsub
                    .all_peers()
                    .any(|(p, topics)| *p == m1_peer && topics.contains(&&hash))
        },
    )
    .await;
    assert!(nodes[2].0.is_connected(&h_peer));

    // M1 leaves: it no longer announces the part.
    let (m1, d1) = &mut nodes[1];
    m1.behaviour_mut().unsubscribe(&part);
    d1.left(m1, &part);
    assert!(
        !provides(&mut nodes[1].0, &key, m1_peer),
        "M1 dropped its own record"
    );
    assert!(
        provides(&mut nodes[0].0, &key, m1_peer),
        "H keeps it until it lapses"
    );
}
