//! How a client is set up, and what publishing takes and gives back.

use std::{sync::Arc, time::Duration};

use rivulet_network::{libp2p::Multiaddr, light::Authorisation};
use rivulet_protocol::{Limits, StreamMessage};

use crate::{access::StreamAccess, vault::KeyVault};

/// How a client is set up.
#[derive(Clone)]
pub struct ClientConfig {
    /// Entry nodes' multiaddrs, ending in `/p2p/<peer id>`; tried in order, round robin.
    pub nodes: Vec<Multiaddr>,
    /// The key events are signed with (a random one when `None`).
    pub private_key: Option<[u8; 32]>,
    /// How long a request may wait for a session and an answer.
    pub request_timeout: Duration,
    /// Largest content accepted when decoding.
    pub limits: Limits,
    /// An account's authorisation of `private_key` as a session key
    /// ([`rivulet_network::light::authorisation_text`], signed once by a wallet): relay nodes then let
    /// this client read what the account may read (its licences). Events are still signed by the key.
    pub authorisation: Option<Authorisation>,
    /// Where the client keeps its group keys across restarts (sealed under a key derived from
    /// `private_key`); `None` keeps them in memory only. Natively, [`FileVault`](crate::FileVault).
    pub key_vault: Option<Arc<dyn KeyVault>>,
    /// The chain, as publishing and the key service need it: whether a stream is public (events to a
    /// stream that is not are encrypted, always), whether a reader may read now, who may read. `None`:
    /// every event is encrypted unless the publish says otherwise, and the key service relies on the
    /// relay nodes' checks.
    pub access: Option<Arc<dyn StreamAccess>>,
}

impl std::fmt::Debug for ClientConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientConfig")
            .field("nodes", &self.nodes)
            .field("private_key", &self.private_key.map(|_| "…"))
            .field("request_timeout", &self.request_timeout)
            .field("limits", &self.limits)
            .field("authorisation", &self.authorisation)
            .field("key_vault", &self.key_vault.is_some())
            .field("access", &self.access.is_some())
            .finish()
    }
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            nodes: Vec::new(),
            private_key: None,
            request_timeout: Duration::from_secs(30),
            limits: Limits::default(),
            authorisation: None,
            key_vault: None,
            access: None,
        }
    }
}

/// Where an event goes and when it happened.
#[derive(Clone, Debug, Default)]
pub struct PublishOptions {
    /// The partition, explicitly.
    pub partition: Option<u32>,
    /// A key that picks the partition (the same key always picks the same partition); needs the
    /// stream's partition count, from the chain.
    pub partition_key: Option<String>,
    /// The event time, ms since the epoch (now when `None`).
    pub timestamp: Option<u64>,
    /// Whether to encrypt the content with this publisher's group key for the stream part (end to end:
    /// only readers the registry lets read can obtain the key). `None`, the default: encrypted unless
    /// the stream is publicly readable. `Some(false)` on a stream that is not is refused.
    pub encrypt: Option<bool>,
    /// What the node's answer waits for: its own store (the default), or a majority of the part's
    /// replicas having the event on disk (`Acks::Quorum`; a few milliseconds more on a local network).
    pub acks: rivulet_network::replica::Acks,
}

/// A published event.
#[derive(Clone, Debug)]
pub struct Published {
    /// The signed event as sent.
    pub message: StreamMessage,
    /// The node had it already.
    pub duplicate: bool,
    /// The node stored it durably before answering.
    pub stored: bool,
    /// With quorum acknowledgements: how many of the part's replicas have it on disk.
    pub replicas: Option<u32>,
}
