//! What a client asks of the chain about a stream, through [`StreamAccess`]: whether anyone may read it
//! (then its events go in the clear; otherwise they are encrypted end to end, always), whether a reader
//! may read it now by the chain's clock (a publisher's key service asks this itself, rather than trusting
//! its entry node), and who may read it, with their registered public keys (to seal group keys to them,
//! so they can decrypt while the publisher is away).
//!
//! The npm package and the command line implement it over the contracts; a relay node that publishes
//! plain content for WebSocket clients implements it over its permission cache.

use rivulet_protocol::{Address, PublicKey, StreamId};

use crate::runtime::{BoxFuture, MaybeSend};

/// Why the chain could not say.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct AccessError(pub String);

/// A reader of a stream: its address and, if it registered one, its public key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StreamReader {
    /// The reader's address.
    pub address: Address,
    /// Its public key, registered on chain (a licence registers the buyer's); keys are sealed to it.
    pub public_key: Option<PublicKey>,
}

/// The chain, as far as a client's publishing and key service need it.
pub trait StreamAccess: MaybeSend + 'static {
    /// Whether anyone may read `stream` now.
    fn is_public(&self, stream: &StreamId) -> BoxFuture<'_, Result<bool, AccessError>>;
    /// Whether `reader` may read `stream` now, by the chain's clock.
    fn may_subscribe(
        &self,
        stream: &StreamId,
        reader: Address,
    ) -> BoxFuture<'_, Result<bool, AccessError>>;
    /// Everyone who may read `stream` now (the public aside).
    fn readers(&self, stream: &StreamId) -> BoxFuture<'_, Result<Vec<StreamReader>, AccessError>>;
}
