//! # rivulet-client
//!
//! The high-level Rivulet client, written once for native programs (on tokio) and browsers (wasm):
//!
//! - it connects to one entry relay node at a time over libp2p — TCP or WebSocket natively, WebSocket or
//!   WebRTC-direct in browsers — signs in with its key, and moves to the next configured node (with
//!   backoff) when one goes away, re-subscribing as it goes;
//! - [`Client::publish`] builds the publisher's message chain, signs and sends, and resolves when the
//!   node accepted (and, for stored parts, stored) the event;
//! - [`Client::subscribe`] yields verified events in chain order, without duplicates, with gaps filled by
//!   resend ([`Subscription`]);
//! - [`Client::resend`] reads history.
//!
//! The client never joins the relay nodes' gossip meshes: it uses the light protocols of
//! `rivulet_network::light`. Chain access (streams, permissions) is the caller's, through
//! `rivulet-contracts` — so this crate stays small; [`Client::remember_partitions`] tells it a stream's
//! partition count for partition keys.

mod access;
mod chain_access;
mod client;
mod config;
mod driver;
mod error;
mod key_exchange;
mod key_service;
mod keys;
mod persistence;
mod publish;
mod resend;
pub mod runtime;
mod subscription;
mod vault;

pub use access::{AccessError, StreamAccess, StreamReader};
pub use chain_access::ContractsAccess;
pub use client::{Client, random_signer};
pub use config::{ClientConfig, PublishOptions, Published};
pub use error::ClientError;
pub use key_service::{ENVELOPE_CHECK, REKEY_CHECK};
pub use keys::{AccountAuthorisation, EncryptedKey, KeyRequest, KeyResponse};
pub use rivulet_network::{
    HistoryQuery,
    light::{Authorisation, authorisation_text},
    replica::Acks,
};
pub use subscription::{Subscription, SubscriptionEvent};
#[cfg(not(target_arch = "wasm32"))]
pub use vault::FileVault;
pub use vault::{KeyVault, VaultError};
