//! A stream part's members find each other through the DHT, on loopback TCP with H (the bootstrap
//! peer, in no part) and members that know only H.
//!
//! With two members: M1 joins a part and announces it; H stores the record; M2 joins the same part,
//! looks its members up, finds M1 and dials it, and the two meet in the part's topic. When M1 leaves
//! the part it stops announcing it. (M2 may also meet M1 through kademlia's own lookups; the test asks
//! that M2's lookup of the part found M1.)
//!
//! With seven: six join and announce (each is short of members); the seventh joins connected to all
//! six and does not announce, until its lookup a while later finds that the record has room. And a
//! node that joins more parts at once than it looks up announces every one of them.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

mod common;

use std::{future::poll_fn, task::Poll, time::Duration};

use futures::StreamExt;
use libp2p::{
    Multiaddr, PeerId, Swarm, identify,
    identity::Keypair,
    kad::{self, GetProvidersOk, QueryResult, store::RecordStore},
    multiaddr::Protocol,
    swarm::SwarmEvent,
};
use rivulet_network::{
    NetworkConfig, NodeBehaviour, NodeBehaviourEvent,
    discovery::Discovery,
    members::{MAX_LOOKUPS, MAX_WAIT_ROUNDS, PART_PEERS, part_key, part_peers},
    topic,
};
use rivulet_protocol::StreamPartId;

type Node = (Swarm<NodeBehaviour>, Discovery);

async fn node() -> (Swarm<NodeBehaviour>, Multiaddr) {
    let key = Keypair::generate_ed25519();
    let (swarm, addr) =
        common::listening(key, NetworkConfig::default(), "/ip4/127.0.0.1/tcp/0").await;
    let peer = *swarm.local_peer_id();
    (swarm, addr.with(Protocol::P2p(peer)))
}

/// H and `members` nodes that know only H, once H has them all in its routing table, with each
/// node's address.
async fn network(members: usize, seen: &mut Seen) -> (Vec<Node>, Vec<Multiaddr>) {
    let (mut h, h_addr) = node().await;
    let h_discovery = Discovery::start(&mut h, Vec::new());
    let mut nodes = vec![(h, h_discovery)];
    let mut addrs = vec![h_addr.clone()];
    for _ in 0..members {
        let (mut m, addr) = node().await;
        let discovery = Discovery::start(&mut m, vec![h_addr.clone()]);
        nodes.push((m, discovery));
        addrs.push(addr);
    }
    until(
        &mut nodes,
        seen,
        "H has every member in its routing table",
        |n, _| {
            let kademlia = &mut n[0].0.behaviour_mut().kademlia;
            kademlia.kbuckets().map(|b| b.num_entries()).sum::<usize>() == members
        },
    )
    .await;
    (nodes, addrs)
}

/// What the swarms turned up that the tests look at.
#[derive(Debug, Default)]
struct Seen {
    /// (the node whose lookup found it, a provider).
    found: Vec<(usize, PeerId)>,
}

/// Polls every swarm once (whichever has an event first), feeding identify and kademlia events to
/// discovery as a relay node does.
async fn step(nodes: &mut [Node], seen: &mut Seen) {
    let (which, event) = poll_fn(|cx| {
        for (i, (swarm, _)) in nodes.iter_mut().enumerate() {
            if let Poll::Ready(Some(event)) = swarm.poll_next_unpin(cx) {
                return Poll::Ready((i, event));
            }
        }
        Poll::Pending
    })
    .await;
    let (swarm, discovery) = &mut nodes[which];
    match event {
        SwarmEvent::Behaviour(NodeBehaviourEvent::Identify(identify::Event::Received {
            peer_id,
            info,
            ..
        })) => Discovery::identified(swarm, peer_id, info),
        SwarmEvent::Behaviour(NodeBehaviourEvent::Kademlia(event)) => {
            if let kad::Event::OutboundQueryProgressed {
                result:
                    QueryResult::GetProviders(Ok(GetProvidersOk::FoundProviders { providers, .. })),
                ..
            } = &event
            {
                seen.found.extend(providers.iter().map(|p| (which, *p)));
            }
            discovery.on_kademlia(swarm, &event);
        }
        _ => {}
    }
}

/// Whether `swarm`'s DHT store holds `provider`'s record for `key`.
fn provides(swarm: &mut Swarm<NodeBehaviour>, key: &kad::RecordKey, provider: PeerId) -> bool {
    let store = swarm.behaviour_mut().kademlia.store_mut();
    store.providers(key).iter().any(|r| r.provider == provider)
}

/// Whether `swarm` announces `key` itself.
fn announces(swarm: &mut Swarm<NodeBehaviour>, key: &kad::RecordKey) -> bool {
    let store = swarm.behaviour_mut().kademlia.store_mut();
    store.provided().any(|r| &r.key == key)
}

async fn until(
    nodes: &mut [Node],
    seen: &mut Seen,
    what: &str,
    mut done: impl FnMut(&mut [Node], &Seen) -> bool,
) {
    tokio::time::timeout(Duration::from_secs(30), async {
        while !done(nodes, seen) {
            step(nodes, seen).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("timed out waiting until {what}"));
}

/// Node `i` subscribes to `part` and tells discovery.
fn join(nodes: &mut [Node], i: usize, part: &StreamPartId) {
    let (swarm, discovery) = &mut nodes[i];
    swarm.behaviour_mut().subscribe(part).unwrap();
    discovery.joined(swarm, part);
}

#[tokio::test]
async fn a_parts_members_find_each_other_through_provider_records() {
    let part: StreamPartId = "rivulet.eth/members#0".parse().unwrap();
    let key = part_key(&part);
    let mut seen = Seen::default();
    let (mut nodes, _) = network(2, &mut seen).await;
    let h_peer = *nodes[0].0.local_peer_id();
    let m1_peer = *nodes[1].0.local_peer_id();

    // M1 joins: H stores its announcement.
    join(&mut nodes, 1, &part);
    until(&mut nodes, &mut seen, "H stores M1's record", |n, _| {
        provides(&mut n[0].0, &key, m1_peer)
    })
    .await;

    // M2 joins: it finds M1 through H, dials it, and the two share the part's topic.
    join(&mut nodes, 2, &part);
    let hash = topic(&part).hash();
    until(
        &mut nodes,
        &mut seen,
        "M2 and M1 meet in the part's topic",
        |n, s| {
            s.found.contains(&(2, m1_peer))
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

#[tokio::test]
async fn a_node_among_enough_members_announces_only_when_the_record_has_room() {
    let part: StreamPartId = "rivulet.eth/members#1".parse().unwrap();
    let key = part_key(&part);
    let mut seen = Seen::default();
    let (mut nodes, addrs) = network(PART_PEERS + 1, &mut seen).await;
    let late = PART_PEERS + 1;
    let early: Vec<usize> = (1..late).collect();

    // The first six join, each short of members: each announces, and H stores every record.
    for &i in &early {
        join(&mut nodes, i, &part);
        assert!(announces(&mut nodes[i].0, &key), "member {i} announces");
    }
    let early_peers: Vec<PeerId> = early.iter().map(|&i| *nodes[i].0.local_peer_id()).collect();
    until(&mut nodes, &mut seen, "H stores the six records", |n, _| {
        early_peers.iter().all(|p| provides(&mut n[0].0, &key, *p))
    })
    .await;

    // The seventh connects to all six and sees them in the part's topic, then joins: no announcement.
    for &i in &early {
        nodes[late].0.dial(addrs[i].clone()).unwrap();
    }
    until(
        &mut nodes,
        &mut seen,
        "the seventh sees the six in the topic",
        |n, _| part_peers(&n[late].0, &topic(&part).hash()) == PART_PEERS,
    )
    .await;
    join(&mut nodes, late, &part);
    assert!(
        !announces(&mut nodes[late].0, &key),
        "a node that joins among {PART_PEERS} members does not announce"
    );

    // MAX_WAIT_ROUNDS later it looks the record up, finds six providers (fewer than kademlia keeps),
    // and announces.
    for _ in 0..MAX_WAIT_ROUNDS {
        let (swarm, discovery) = &mut nodes[late];
        discovery.round(swarm);
    }
    let late_peer = *nodes[late].0.local_peer_id();
    until(
        &mut nodes,
        &mut seen,
        "the seventh's lookup finds the six and it announces",
        |n, s| {
            early_peers.iter().all(|p| s.found.contains(&(late, *p)))
                && announces(&mut n[late].0, &key)
                && provides(&mut n[0].0, &key, late_peer)
        },
    )
    .await;
}

#[tokio::test]
async fn a_node_joining_more_parts_than_it_looks_up_at_once_announces_them_all() {
    let mut seen = Seen::default();
    let (mut nodes, _) = network(1, &mut seen).await;
    let parts: Vec<StreamPartId> = (0..MAX_LOOKUPS + 2)
        .map(|i| format!("rivulet.eth/many#{i}").parse().unwrap())
        .collect();
    for part in &parts {
        join(&mut nodes, 1, part);
    }
    for part in &parts {
        assert!(
            announces(&mut nodes[1].0, &part_key(part)),
            "{part} announced at once"
        );
    }
}
