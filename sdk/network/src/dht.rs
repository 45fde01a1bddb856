//! The relay nodes' DHT: kademlia in server mode from the start, with the provider records through
//! which a stream part's members find each other ([`crate::members`]) kept short-lived and bounded.

use std::time::Duration;

use libp2p::{PeerId, StreamProtocol, kad};

/// How long a query may run.
pub const QUERY_TIMEOUT: Duration = Duration::from_secs(30);

/// How long a provider record lives where it is stored, unless its provider announces it again.
pub const PROVIDER_TTL: Duration = Duration::from_secs(30 * 60);

/// How often a node announces the parts it is in again.
pub const PROVIDER_REPUBLISH: Duration = Duration::from_secs(10 * 60);

/// Keys (parts) a node's DHT store holds records for, its own announcements included.
pub const MAX_STORED_KEYS: usize = 4096;

/// The kademlia behaviour of node `peer_id`, speaking `protocol`.
pub fn kademlia(
    peer_id: PeerId,
    protocol: StreamProtocol,
) -> kad::Behaviour<kad::store::MemoryStore> {
    let mut config = kad::Config::new(protocol);
    config.set_query_timeout(QUERY_TIMEOUT);
    config.set_provider_record_ttl(Some(PROVIDER_TTL));
    config.set_provider_publication_interval(Some(PROVIDER_REPUBLISH));
    let store_config = kad::store::MemoryStoreConfig {
        max_provided_keys: MAX_STORED_KEYS,
        ..Default::default()
    };
    let store = kad::store::MemoryStore::with_config(peer_id, store_config);
    let mut kademlia = kad::Behaviour::with_config(peer_id, store, config);
    // Relay nodes answer DHT queries from the start: left to itself kademlia stays a client until an
    // external address is confirmed, which never happens on loopback or behind a private network.
    kademlia.set_mode(Some(kad::Mode::Server));
    kademlia
}
