//! The permission cache relay nodes consult for every event: a local mirror of the registry's
//! permissions, fed by its events, answering `may_publish` / `may_subscribe` without a JSON-RPC call and
//! honouring expiries to the second.
//!
//! The mirror itself ([`PermissionCache::apply`], the queries) does no I/O; [`PermissionCache::sync`] pulls
//! new events through [`Contracts`]. Rule, as in the contract: publish and subscribe hold while
//! `at < expiry` (Unix seconds); the zero address's publish/subscribe apply to everyone.

use std::collections::HashMap;

use alloy_primitives::Address;

use crate::{Contracts, ContractsError, PermissionKind, Permissions, RegistryEvent};

/// The partition count a stream's metadata JSON names (`"partitions": n`, 1..=100), 1 otherwise.
fn partitions_of(metadata: &str) -> u32 {
    serde_json::from_slice::<serde_json::Value>(metadata.as_bytes())
        .ok()
        .and_then(|m| m.get("partitions")?.as_u64())
        .filter(|n| (1..=100).contains(n))
        .map_or(1, |n| n as u32)
}

/// A mirror of every stream's permissions.
#[derive(Clone, Debug, Default)]
pub struct PermissionCache {
    streams: HashMap<String, HashMap<Address, Permissions>>,
    /// Each stream's partition count, from its metadata (1 when the metadata names none).
    partitions: HashMap<String, u32>,
    /// Accounts' registered public keys (64 bytes, `x ‖ y`).
    public_keys: HashMap<Address, Vec<u8>>,
    next_block: u64,
}

impl PermissionCache {
    /// An empty cache that will read events from `from_block` on (the deployment's start block).
    pub fn new(from_block: u64) -> PermissionCache {
        PermissionCache {
            streams: HashMap::new(),
            partitions: HashMap::new(),
            public_keys: HashMap::new(),
            next_block: from_block,
        }
    }

    /// Applies one registry event.
    pub fn apply(&mut self, event: &RegistryEvent) {
        match event {
            RegistryEvent::Created { id, metadata, .. } => {
                self.streams.insert(id.clone(), HashMap::new());
                self.partitions.insert(id.clone(), partitions_of(metadata));
            }
            RegistryEvent::Deleted { id } => {
                self.streams.remove(id);
                self.partitions.remove(id);
            }
            RegistryEvent::PublicKey { account, key } => {
                self.public_keys.insert(*account, key.clone());
            }
            RegistryEvent::Updated { id, metadata } => {
                if self.streams.contains_key(id) {
                    self.partitions.insert(id.clone(), partitions_of(metadata));
                }
            }
            RegistryEvent::Permission {
                id,
                user,
                permissions,
            } => {
                if let Some(stream) = self.streams.get_mut(id) {
                    if permissions.is_empty() {
                        stream.remove(user);
                    } else {
                        stream.insert(*user, *permissions);
                    }
                }
            }
        }
    }

    /// Pulls and applies every registry event since the last sync; returns how many were applied.
    pub async fn sync(&mut self, contracts: &Contracts) -> Result<usize, ContractsError> {
        self.sync_confirmed(contracts, 0).await
    }

    /// Like [`PermissionCache::sync`], but reads only blocks at least `confirmations` deep, so that a
    /// chain reorganisation cannot leave a vanished grant or revocation in the cache.
    pub async fn sync_confirmed(
        &mut self,
        contracts: &Contracts,
        confirmations: u64,
    ) -> Result<usize, ContractsError> {
        let head = contracts.block_number().await?;
        let Some(to) = head
            .checked_sub(confirmations)
            .filter(|to| *to >= self.next_block)
        else {
            return Ok(0);
        };
        let (events, last) = contracts.registry_events(self.next_block, Some(to)).await?;
        for event in &events {
            self.apply(event);
        }
        self.next_block = last + 1;
        Ok(events.len())
    }

    /// Applies events read elsewhere (e.g. outside a lock) for blocks up to `last_block`, and moves the
    /// next sync past them.
    pub fn advance(&mut self, events: &[RegistryEvent], last_block: u64) {
        for event in events {
            self.apply(event);
        }
        self.next_block = self.next_block.max(last_block + 1);
    }

    /// The first block the next sync reads.
    pub fn next_block(&self) -> u64 {
        self.next_block
    }

    /// `account`'s registered public key (64 bytes, `x ‖ y`), if it registered one.
    pub fn public_key(&self, account: Address) -> Option<&[u8]> {
        self.public_keys.get(&account).map(Vec::as_slice)
    }

    /// Every address that may subscribe to `stream` at `at` directly (the zero address, standing for
    /// anyone, left out).
    pub fn subscribers(&self, stream: &str, at: u64) -> Vec<Address> {
        self.streams
            .get(stream)
            .into_iter()
            .flatten()
            .filter(|(user, p)| !user.is_zero() && p.allows(PermissionKind::Subscribe, at))
            .map(|(user, _)| *user)
            .collect()
    }

    /// How many partitions `stream` has (`None`: no such stream).
    pub fn partitions(&self, stream: &str) -> Option<u32> {
        self.partitions.get(stream).copied()
    }

    /// Whether the stream exists.
    pub fn stream_exists(&self, stream: &str) -> bool {
        self.streams.contains_key(stream)
    }

    /// What `user` holds directly.
    pub fn permissions(&self, stream: &str, user: Address) -> Permissions {
        self.streams
            .get(stream)
            .and_then(|s| s.get(&user))
            .copied()
            .unwrap_or_default()
    }

    /// Whether `user` holds `kind` on `stream` at Unix time `at` (seconds), directly or publicly.
    pub fn allows(&self, stream: &str, user: Address, kind: PermissionKind, at: u64) -> bool {
        let Some(perms) = self.streams.get(stream) else {
            return false;
        };
        let direct = perms.get(&user).is_some_and(|p| p.allows(kind, at));
        direct
            || (kind.may_be_public()
                && perms
                    .get(&Address::ZERO)
                    .is_some_and(|p| p.allows(kind, at)))
    }

    /// Whether `user` may publish to `stream` at `at`.
    pub fn may_publish(&self, stream: &str, user: Address, at: u64) -> bool {
        self.allows(stream, user, PermissionKind::Publish, at)
    }

    /// Whether `user` may subscribe to `stream` at `at`.
    pub fn may_subscribe(&self, stream: &str, user: Address, at: u64) -> bool {
        self.allows(stream, user, PermissionKind::Subscribe, at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn perm(id: &str, user: Address, p: Permissions) -> RegistryEvent {
        RegistryEvent::Permission {
            id: id.into(),
            user,
            permissions: p,
        }
    }

    #[test]
    fn expiry_public_and_deletion() {
        let alice = Address::repeat_byte(1);
        let mut cache = PermissionCache::new(0);
        cache.apply(&RegistryEvent::Created {
            id: "s".into(),
            metadata: "{}".into(),
            creator: alice,
        });
        cache.apply(&perm(
            "s",
            alice,
            Permissions {
                publish_until: 100,
                ..Permissions::default()
            },
        ));
        assert!(cache.may_publish("s", alice, 99));
        assert!(!cache.may_publish("s", alice, 100));
        assert!(!cache.may_subscribe("s", alice, 0));
        cache.apply(&perm(
            "s",
            Address::ZERO,
            Permissions {
                subscribe_until: u64::MAX,
                ..Permissions::default()
            },
        ));
        assert!(cache.may_subscribe("s", Address::repeat_byte(9), 5));
        // Events for unknown streams are ignored; deletion clears everything.
        cache.apply(&perm("t", alice, Permissions::ALL));
        assert!(!cache.may_publish("t", alice, 0));
        cache.apply(&RegistryEvent::Deleted { id: "s".into() });
        assert!(!cache.may_publish("s", alice, 0));
        assert!(!cache.may_subscribe("s", Address::repeat_byte(9), 5));
        cache.apply(&RegistryEvent::Created {
            id: "s".into(),
            metadata: "{}".into(),
            creator: alice,
        });
        assert!(!cache.may_subscribe("s", Address::repeat_byte(9), 5));
    }
}
