//! Who may do what, now: the registry's permissions mirrored in a [`PermissionCache`], judged by the
//! chain's clock ([`ChainClock`]), and the task that keeps both up with the chain.
//!
//! Expiries are judged by the latest block's timestamp, carried forward by this machine's clock and never
//! behind it, because the contracts judge them by `block.timestamp`, which a development chain may move
//! ahead (`evm_increaseTime`).

use std::{
    sync::{Arc, Mutex, RwLock, RwLockReadGuard},
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use rivulet_contracts::{Contracts, PermissionCache, to_alloy};
use rivulet_protocol::{Address, StreamPartId};
use rivulet_validate::PublishPermission;
use tracing::{debug, warn};

use crate::sync::lock;

/// This machine's clock, Unix milliseconds.
pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// The chain's clock: the latest block's timestamp, carried forward by this machine's clock since it was
/// read, and never behind this machine's clock.
#[derive(Debug, Default)]
pub(crate) struct ChainClock {
    seen: Mutex<Option<(u64, Instant)>>,
}

impl ChainClock {
    /// Records the latest block's timestamp (Unix seconds), read just now.
    pub(crate) fn observe(&self, block_secs: u64) {
        *lock(&self.seen) = Some((block_secs, Instant::now()));
    }

    /// Unix seconds now, by the chain.
    pub(crate) fn now_secs(&self) -> u64 {
        self.now_ms() / 1000
    }

    /// Unix milliseconds now, by the chain: the latest block's time carried forward, never behind this
    /// machine's clock.
    pub(crate) fn now_ms(&self) -> u64 {
        let wall = now_ms();
        match *lock(&self.seen) {
            Some((block, at)) => wall.max(block * 1000 + at.elapsed().as_millis() as u64),
            None => wall,
        }
    }
}

/// The registry's permissions as the validator asks for them (`rivulet-validate` knows no chain crate).
pub(crate) struct CachedPermissions<'a>(pub(crate) &'a PermissionCache);

impl PublishPermission for CachedPermissions<'_> {
    fn may_publish(&self, stream_id: &str, publisher: Address, at_secs: u64) -> bool {
        self.0.may_publish(stream_id, to_alloy(publisher), at_secs)
    }

    fn may_subscribe(&self, stream_id: &str, user: Address, at_secs: u64) -> bool {
        self.0.may_subscribe(stream_id, to_alloy(user), at_secs)
    }

    fn partitions(&self, stream_id: &str) -> Option<u32> {
        self.0.partitions(stream_id)
    }
}

/// The registry's permissions and the chain's clock, shared by the node's parts. Cheap to clone.
#[derive(Clone, Debug)]
pub(crate) struct Access {
    cache: Arc<RwLock<PermissionCache>>,
    clock: Arc<ChainClock>,
}

impl Access {
    /// Permissions from `cache`, judged by `clock`.
    pub(crate) fn new(cache: PermissionCache) -> Access {
        Access {
            cache: Arc::new(RwLock::new(cache)),
            clock: Arc::default(),
        }
    }

    /// The registry's permissions as this node knows them (a panic elsewhere cannot lock them away).
    pub(crate) fn permissions(&self) -> RwLockReadGuard<'_, PermissionCache> {
        match self.cache.read() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// Unix seconds now, by the chain.
    pub(crate) fn now_secs(&self) -> u64 {
        self.clock.now_secs()
    }

    /// Whether `reader` (`None`: an anonymous client, public streams only) may subscribe to `part` now.
    pub(crate) fn may_subscribe(&self, reader: Option<Address>, part: &StreamPartId) -> bool {
        let who = to_alloy(reader.unwrap_or(Address::ZERO));
        self.permissions()
            .may_subscribe(part.stream_id.as_str(), who, self.now_secs())
    }

    /// Whether `publisher` may publish to `part` now.
    pub(crate) fn may_publish(&self, publisher: Address, part: &StreamPartId) -> bool {
        self.permissions().may_publish(
            part.stream_id.as_str(),
            to_alloy(publisher),
            self.now_secs(),
        )
    }

    /// Follows the registry (reads new events outside the lock, applies them inside) and the chain's
    /// clock, every `interval`, reading only blocks `confirmations` deep. Runs until the process ends.
    pub(crate) async fn follow(self, client: Contracts, interval: Duration, confirmations: u64) {
        let mut ticker = tokio::time::interval(interval);
        let mut last_head = u64::MAX;
        loop {
            ticker.tick().await;
            let from = self.permissions().next_block();
            let head = match client.block_number().await {
                Ok(h) => h,
                Err(e) => {
                    warn!("permission sync: {e}");
                    continue;
                }
            };
            if head != last_head {
                match client.chain_time().await {
                    Ok(t) => {
                        self.clock.observe(t);
                        last_head = head;
                    }
                    Err(e) => warn!("chain time: {e}"),
                }
            }
            let Some(to) = head.checked_sub(confirmations).filter(|to| *to >= from) else {
                continue;
            };
            match client.registry_events(from, Some(to)).await {
                Ok((events, last)) => {
                    let mut guard = match self.cache.write() {
                        Ok(g) => g,
                        Err(p) => p.into_inner(),
                    };
                    guard.advance(&events, last);
                    if !events.is_empty() {
                        debug!(count = events.len(), "permission events applied");
                    }
                }
                Err(e) => warn!("permission sync: {e}"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_chain_clock_follows_a_chain_ahead_and_never_falls_behind_this_machine() {
        let clock = ChainClock::default();
        let wall = now_ms() / 1000;
        assert!(clock.now_secs() >= wall, "unobserved: this machine's clock");
        // A development chain moved an hour ahead (evm_increaseTime).
        clock.observe(wall + 3600);
        assert!((wall + 3600..=wall + 3602).contains(&clock.now_secs()));
        // A chain whose last block is old: this machine's clock.
        clock.observe(wall - 600);
        assert!((wall..=wall + 2).contains(&clock.now_secs()));
    }
}
