//! The coordinator follower: the node's side of the NetworkCoordinator contract (whitepaper 2.4.5-2.4.7).
//!
//! - [`snapshot`] — the contract's state as last read, and the pure answers derived from it (which nodes
//!   store a part, which parts this node stores, whether a peer is one of a part's replicas);
//! - [`chain`] — reading that state and sending the node's transactions;
//! - [`follow`] — the task: registers the node if asked, keeps its addresses current, sends heartbeats,
//!   calls `rebalance()` when it would change something, stores exactly the parts assigned to this node
//!   (joining their topics, backfilling them, pruning what retention drops and what is no longer
//!   assigned) and reports rolling checksums;
//! - [`backfill`] — copying a part's history from the other replicas;
//! - [`reports`] — which checksum intervals are due, and their checksums over the store; [`closing`] —
//!   closing them once their window is over (what costs dissenters their weight);
//! - [`ledger`] — what the follower remembers across restarts.
//!
//! [`Coordination`] is what the rest of the node sees: the latest snapshot.

mod backfill;
mod chain;
mod closing;
mod follow;
mod ledger;
mod reports;
mod snapshot;

use std::sync::{Arc, RwLock};

use rivulet_network::libp2p::{Multiaddr, PeerId};
use rivulet_protocol::StreamPartId;

pub(crate) use self::{
    backfill::BackfillContext,
    follow::{Follower, FollowerConfig},
    ledger::Ledger,
    snapshot::{NodeRecord, Snapshot},
};

/// The coordinator's state as the follower last read it (none until it has, or when the deployment
/// has no coordinator). Cheap to clone; every clone sees the same.
#[derive(Clone, Debug, Default)]
pub(crate) struct Coordination(Arc<RwLock<Option<Arc<Snapshot>>>>);

impl Coordination {
    /// The latest snapshot.
    pub(crate) fn snapshot(&self) -> Option<Arc<Snapshot>> {
        match self.0.read() {
            Ok(s) => s.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    fn publish(&self, snapshot: Snapshot) {
        let snapshot = Some(Arc::new(snapshot));
        match self.0.write() {
            Ok(mut s) => *s = snapshot,
            Err(poisoned) => *poisoned.into_inner() = snapshot,
        }
    }

    /// Whether `peer` is one of the nodes assigned to store `part` now.
    pub(crate) fn is_replica(&self, peer: &PeerId, part: &StreamPartId) -> bool {
        self.snapshot().is_some_and(|s| s.is_replica(peer, part))
    }

    /// `part`'s replicas but `except`, lowest score first, with their registered addresses.
    pub(crate) fn replica_peers(
        &self,
        part: &StreamPartId,
        except: &PeerId,
    ) -> Vec<(PeerId, Vec<Multiaddr>)> {
        self.snapshot()
            .map(|s| s.replica_peers(part, except))
            .unwrap_or_default()
    }
}
