//! What the network crate's integration tests share: a node swarm listening on loopback.

use futures::StreamExt;
use libp2p::{Multiaddr, Swarm, identity::Keypair, swarm::SwarmEvent};
use rivulet_network::{NetworkConfig, NodeBehaviour, build_swarm};

/// A node with `key` and `config` listening on `on`, and the address it got.
pub(crate) async fn listening(
    key: Keypair,
    config: NetworkConfig,
    on: &str,
) -> (Swarm<NodeBehaviour>, Multiaddr) {
    let mut swarm = build_swarm(key, config).await.unwrap();
    swarm.listen_on(on.parse().unwrap()).unwrap();
    loop {
        if let SwarmEvent::NewListenAddr { address, .. } = swarm.select_next_some().await {
            return (swarm, address);
        }
    }
}
