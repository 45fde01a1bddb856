//! A relay node's connection limits with real swarms on loopback TCP: one address holds at most
//! `max_connections_per_address` incoming connections — each from a new peer id, as an attacker would
//! make them — one more is closed naming the address, and a connection that ends gives its place back.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

mod common;

use std::time::Duration;

use futures::StreamExt;
use libp2p::{
    Multiaddr,
    identity::Keypair,
    swarm::{ListenError, SwarmEvent},
};
use rivulet_network::{
    ClientBehaviour, NetworkConfig,
    address_limits::{ConnectingTooOften, TooManyFromAddress},
    build_client_swarm,
};
use tokio::{sync::mpsc, task::JoinHandle};

/// What a client's dial came to.
#[derive(Debug, PartialEq)]
enum Dialled {
    Connected,
    Failed,
    Closed,
}

/// A node allowing `per_address` connections from one address, `per_second` new ones a second;
/// reports each refusal's reason.
async fn spawn_node(
    per_address: u32,
    per_second: u32,
) -> (Multiaddr, mpsc::UnboundedReceiver<String>) {
    let config = NetworkConfig {
        max_connections_per_address: per_address,
        connections_per_second_per_address: per_second,
        ..NetworkConfig::default()
    };
    let (mut swarm, addr) =
        common::listening(Keypair::generate_ed25519(), config, "/ip4/127.0.0.1/tcp/0").await;
    let (refused_tx, refused_rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        loop {
            if let SwarmEvent::IncomingConnectionError {
                error: ListenError::Denied { cause },
                ..
            } = swarm.select_next_some().await
            {
                let reason = match cause.downcast::<TooManyFromAddress>() {
                    Ok(too_many) => too_many.to_string(),
                    Err(other) => match other.downcast::<ConnectingTooOften>() {
                        Ok(too_often) => too_often.to_string(),
                        Err(other) => format!("another limit: {other:?}"),
                    },
                };
                let _ = refused_tx.send(reason);
            }
        }
    });
    (addr, refused_rx)
}

/// A client with a fresh peer id dialling `addr`; its task runs (holding the connection) until
/// aborted, and reports what became of the dial.
async fn dial(addr: &Multiaddr) -> (JoinHandle<()>, mpsc::UnboundedReceiver<Dialled>) {
    let swarm = build_client_swarm(Keypair::generate_ed25519())
        .await
        .unwrap();
    start_dial(swarm, addr)
}

/// Starts `swarm` dialling `addr`, as [`dial`] does.
fn start_dial(
    mut swarm: libp2p::Swarm<ClientBehaviour>,
    addr: &Multiaddr,
) -> (JoinHandle<()>, mpsc::UnboundedReceiver<Dialled>) {
    swarm.dial(addr.clone()).unwrap();
    let (tx, rx) = mpsc::unbounded_channel();
    let task = tokio::spawn(async move {
        loop {
            let seen = match swarm.select_next_some().await {
                SwarmEvent::ConnectionEstablished { .. } => Dialled::Connected,
                SwarmEvent::OutgoingConnectionError { .. } => Dialled::Failed,
                SwarmEvent::ConnectionClosed { .. } => Dialled::Closed,
                _ => continue,
            };
            let _ = tx.send(seen);
        }
    });
    (task, rx)
}

async fn next<T>(rx: &mut mpsc::UnboundedReceiver<T>) -> T {
    tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .expect("nothing within 10 s")
        .expect("the task ended")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_address_holds_only_its_share_of_a_nodes_connections() {
    let (node, mut refused) = spawn_node(2, 100).await;
    let (first, mut first_seen) = dial(&node).await;
    assert_eq!(next(&mut first_seen).await, Dialled::Connected);
    let (_second, mut second_seen) = dial(&node).await;
    assert_eq!(next(&mut second_seen).await, Dialled::Connected);

    // A third peer id from the same address gets no connection that lasts.
    let (_third, mut third_seen) = dial(&node).await;
    let outcome = next(&mut third_seen).await;
    if outcome == Dialled::Connected {
        assert_eq!(next(&mut third_seen).await, Dialled::Closed);
    } else {
        assert_eq!(outcome, Dialled::Failed);
    }
    assert_eq!(
        next(&mut refused).await,
        "127.0.0.1 already holds 2 libp2p connections to this node, the most one address may (network.max_connections_per_address)"
    );
    // The first two stay connected.
    assert!(first_seen.try_recv().is_err());
    assert!(second_seen.try_recv().is_err());

    // A connection that ends gives its address's place back.
    first.abort();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (fourth, mut fourth_seen) = dial(&node).await;
        if next(&mut fourth_seen).await == Dialled::Connected
            && tokio::time::timeout(Duration::from_millis(500), fourth_seen.recv())
                .await
                .is_err()
        {
            break;
        }
        fourth.abort();
        assert!(
            tokio::time::Instant::now() < deadline,
            "no place came free for the address"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// One address opens at most `connections_per_second_per_address` new connections a second (bursts
/// of twice that): of five dials at once, allowed two a second, one is refused naming the address.
/// The five clients are made first and dial together, so the node sees the five connections within
/// milliseconds, far inside the half second in which the limit gives a place back, however slow the
/// machine is (dialled one after the other, four handshakes of a debug build on a busy machine took
/// longer than that).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_address_opens_connections_at_most_at_its_rate() {
    let (node, mut refused) = spawn_node(1_000, 2).await;
    let mut swarms = Vec::new();
    for _ in 0..5 {
        swarms.push(
            build_client_swarm(Keypair::generate_ed25519())
                .await
                .unwrap(),
        );
    }
    let mut dials: Vec<_> = swarms
        .into_iter()
        .map(|swarm| start_dial(swarm, &node))
        .collect();
    let mut outcomes = Vec::new();
    for (_task, seen) in &mut dials {
        outcomes.push(next(seen).await);
    }
    let connected = outcomes
        .iter()
        .filter(|o| **o == Dialled::Connected)
        .count();
    let failed = outcomes.iter().filter(|o| **o == Dialled::Failed).count();
    assert_eq!((connected, failed), (4, 1), "outcomes: {outcomes:?}");
    assert_eq!(
        next(&mut refused).await,
        "127.0.0.1 opens more than 2 libp2p connections a second to this node (network.connections_per_second_per_address)"
    );
}
