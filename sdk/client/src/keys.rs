//! End-to-end encryption: group keys and their exchange.
//!
//! A publisher encrypts content with its current group key for the stream part (AES-256-GCM, see the
//! protocol core) and serves the key to whoever asks: it keeps a key service on the part (the node pushes
//! it the part's group-key requests). A subscriber that meets a key it lacks publishes a group-key request
//! on the same part; relay nodes accept a request only from an address with subscribe permission, so
//! only readers the registry allows can ask. The publisher answers with the keys encrypted to the
//! requester's public key (ECIES; the key is recovered from the request's signature). Rotation announces
//! the next key inside a message encrypted with the current one; a rekey (after a revocation) starts a
//! key nobody has, which removed readers can no longer obtain.
//!
//! Content formats (JSON, in stream messages of the key-exchange types):
//! - request: `{"requestId": "<hex>", "publisher": "0x…", "groupKeyIds": ["…"]}`
//! - response: `{"requestId": "<hex>", "recipient": "0x…", "keys": [{"id": "…", "data": "<hex ECIES>"}]}`

use std::collections::{BTreeMap, HashMap, HashSet};

use rivulet_protocol::{Address, GroupKey, GroupKeyId, StreamPartId};
use serde::{Deserialize, Serialize};

pub use rivulet_protocol::key_exchange::{
    AccountAuthorisation, EncryptedKey, KeyRequest, KeyResponse,
};

use crate::error::ClientError;

/// The keys a client holds.
#[derive(Default)]
pub(crate) struct KeyStore {
    /// The key each stream part's events are encrypted with now.
    current: HashMap<StreamPartId, GroupKey>,
    /// The next key, announced with the next encrypted event (a rotation).
    next: HashMap<StreamPartId, GroupKey>,
    /// Every key this client has, its own and received ones.
    known: HashMap<GroupKeyId, GroupKey>,
    /// Stream parts with a running key service.
    pub(crate) serving: HashSet<StreamPartId>,
    /// The keys this client made for each part, oldest first (what a reader of the part may get).
    own: HashMap<StreamPartId, Vec<GroupKeyId>>,
    /// Who was given which of this client's keys, per part: by an answer or an envelope.
    given: HashMap<StreamPartId, HashMap<Address, HashSet<GroupKeyId>>>,
}

/// The key store as it is saved (JSON, then sealed): which key is current and next per part, and every
/// key known, as hex.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Saved {
    version: u8,
    current: BTreeMap<String, String>,
    next: BTreeMap<String, String>,
    known: BTreeMap<String, String>,
    #[serde(default)]
    own: BTreeMap<String, Vec<String>>,
    #[serde(default)]
    given: BTreeMap<String, BTreeMap<String, Vec<String>>>,
}

impl KeyStore {
    /// The key to encrypt the next event of `part` with, and the next key to announce in it, if a
    /// rotation is pending. Makes a key on first use.
    pub(crate) fn for_publish(
        &mut self,
        part: &StreamPartId,
    ) -> Result<(GroupKey, Option<GroupKey>), ClientError> {
        let current = match self.current.get(part) {
            Some(k) => k.clone(),
            None => {
                let key = new_key()?;
                self.current.insert(part.clone(), key.clone());
                self.known.insert(key.id().clone(), key.clone());
                self.own_key(part, &key);
                key
            }
        };
        Ok((current, self.next.get(part).cloned()))
    }

    fn own_key(&mut self, part: &StreamPartId, key: &GroupKey) {
        self.own
            .entry(part.clone())
            .or_default()
            .push(key.id().clone());
    }

    /// This client's keys for `part` that `reader` was not given yet.
    pub(crate) fn not_given(&self, part: &StreamPartId, reader: &Address) -> Vec<GroupKey> {
        let given = self.given.get(part).and_then(|g| g.get(reader));
        self.own
            .get(part)
            .into_iter()
            .flatten()
            .filter(|id| given.is_none_or(|g| !g.contains(*id)))
            .filter_map(|id| self.known.get(id).cloned())
            .collect()
    }

    /// This client's own key `id` of `part` (never a key it received from another publisher).
    pub(crate) fn own_of(&self, part: &StreamPartId, id: &GroupKeyId) -> Option<GroupKey> {
        self.own
            .get(part)?
            .contains(id)
            .then(|| self.known.get(id).cloned())?
    }

    /// `reader` was given `ids` of `part`.
    pub(crate) fn gave(
        &mut self,
        part: &StreamPartId,
        reader: Address,
        ids: impl IntoIterator<Item = GroupKeyId>,
    ) {
        self.given
            .entry(part.clone())
            .or_default()
            .entry(reader)
            .or_default()
            .extend(ids);
    }

    /// Who holds `part`'s current key (was given it).
    pub(crate) fn holders_of_current(&self, part: &StreamPartId) -> Vec<Address> {
        let Some(current) = self.current.get(part) else {
            return Vec::new();
        };
        self.given
            .get(part)
            .into_iter()
            .flatten()
            .filter(|(_, ids)| ids.contains(current.id()))
            .map(|(reader, _)| *reader)
            .collect()
    }

    /// The parts this client published encrypted events to (it has a key of its own there).
    pub(crate) fn published_parts(&self) -> Vec<StreamPartId> {
        self.current.keys().cloned().collect()
    }

    /// Whether `part` has a current key.
    pub(crate) fn has_current(&self, part: &StreamPartId) -> bool {
        self.current.contains_key(part)
    }

    /// After an event announced `next`: it becomes the current key.
    pub(crate) fn rotated(&mut self, part: &StreamPartId, next: &GroupKey) {
        if self.next.get(part).is_some_and(|k| k.id() == next.id()) {
            self.next.remove(part);
            self.current.insert(part.clone(), next.clone());
        }
    }

    /// Prepares a rotation: the next encrypted event announces a new key, sealed under the current one.
    pub(crate) fn rotate(&mut self, part: &StreamPartId) -> Result<(), ClientError> {
        let key = new_key()?;
        self.known.insert(key.id().clone(), key.clone());
        self.own_key(part, &key);
        self.next.insert(part.clone(), key);
        Ok(())
    }

    /// Starts a new key that is not announced: readers must ask for it, and only permitted readers can.
    pub(crate) fn rekey(&mut self, part: &StreamPartId) -> Result<(), ClientError> {
        let key = new_key()?;
        self.known.insert(key.id().clone(), key.clone());
        self.own_key(part, &key);
        self.next.remove(part);
        self.current.insert(part.clone(), key);
        Ok(())
    }

    pub(crate) fn get(&self, id: &GroupKeyId) -> Option<GroupKey> {
        self.known.get(id).cloned()
    }

    pub(crate) fn add(&mut self, key: GroupKey) {
        self.known.insert(key.id().clone(), key);
    }

    /// The store as saved bytes (JSON).
    pub(crate) fn to_saved(&self) -> Vec<u8> {
        let ids = |map: &HashMap<StreamPartId, GroupKey>| {
            map.iter()
                .map(|(part, key)| (part.to_string(), key.id().as_str().to_owned()))
                .collect()
        };
        let saved = Saved {
            version: 1,
            current: ids(&self.current),
            next: ids(&self.next),
            known: self
                .known
                .iter()
                .map(|(id, key)| (id.as_str().to_owned(), hex::encode(key.bytes())))
                .collect(),
            own: self
                .own
                .iter()
                .map(|(part, ids)| {
                    let ids = ids.iter().map(|id| id.as_str().to_owned()).collect();
                    (part.to_string(), ids)
                })
                .collect(),
            given: self
                .given
                .iter()
                .map(|(part, readers)| {
                    let readers = readers
                        .iter()
                        .map(|(reader, ids)| {
                            let mut ids: Vec<String> =
                                ids.iter().map(|id| id.as_str().to_owned()).collect();
                            ids.sort();
                            (reader.to_checksum(), ids)
                        })
                        .collect();
                    (part.to_string(), readers)
                })
                .collect(),
        };
        serde_json::to_vec(&saved).unwrap_or_default()
    }

    /// Takes in what was saved (by this process before, or by another with the same key): every key it
    /// knows; and its current and next keys for the parts this store has none for. Entries that do not
    /// parse are skipped.
    pub(crate) fn merge_saved(&mut self, bytes: &[u8]) -> Result<(), ClientError> {
        let saved: Saved =
            serde_json::from_slice(bytes).map_err(ClientError::json("saved keys"))?;
        for (id, key) in &saved.known {
            let (Ok(id), Some(bytes)) = (
                GroupKeyId::new(id.clone()),
                hex::decode(key)
                    .ok()
                    .and_then(|b| <[u8; 32]>::try_from(b).ok()),
            ) else {
                continue;
            };
            self.known
                .entry(id.clone())
                .or_insert_with(|| GroupKey::new(id, bytes));
        }
        for (which, map) in [(&saved.current, true), (&saved.next, false)] {
            for (part, id) in which {
                let (Ok(part), Ok(id)) =
                    (part.parse::<StreamPartId>(), GroupKeyId::new(id.clone()))
                else {
                    continue;
                };
                let Some(key) = self.known.get(&id).cloned() else {
                    continue;
                };
                let target = if map {
                    &mut self.current
                } else {
                    &mut self.next
                };
                target.entry(part).or_insert(key);
            }
        }
        for (part, ids) in &saved.own {
            let Ok(part) = part.parse::<StreamPartId>() else {
                continue;
            };
            let own = self.own.entry(part).or_default();
            for id in ids.iter().filter_map(|id| GroupKeyId::new(id.clone()).ok()) {
                if !own.contains(&id) {
                    own.push(id);
                }
            }
        }
        for (part, readers) in &saved.given {
            let Ok(part) = part.parse::<StreamPartId>() else {
                continue;
            };
            for (reader, ids) in readers {
                let Ok(reader) = reader.parse::<Address>() else {
                    continue;
                };
                let ids: Vec<GroupKeyId> = ids
                    .iter()
                    .filter_map(|id| GroupKeyId::new(id.clone()).ok())
                    .collect();
                self.gave(&part, reader, ids);
            }
        }
        Ok(())
    }
}

/// A fresh random key with a random id (24 hex digits).
fn new_key() -> Result<GroupKey, ClientError> {
    let id = GroupKeyId::new(hex::encode(crate::runtime::random_bytes::<12>()))?;
    Ok(GroupKey::new(id, crate::runtime::random_bytes::<32>()))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn rotation_and_rekey() {
        let part: StreamPartId = "rivulet.eth/a#0".parse().unwrap();
        let mut store = KeyStore::default();
        let (first, next) = store.for_publish(&part).unwrap();
        assert!(next.is_none());
        assert_eq!(
            store.for_publish(&part).unwrap().0.id(),
            first.id(),
            "stable until changed"
        );
        store.rotate(&part).unwrap();
        let (current, next) = store.for_publish(&part).unwrap();
        assert_eq!(current.id(), first.id());
        let next = next.unwrap();
        store.rotated(&part, &next);
        assert_eq!(store.for_publish(&part).unwrap().0.id(), next.id());
        store.rekey(&part).unwrap();
        let (rekeyed, pending) = store.for_publish(&part).unwrap();
        assert!(pending.is_none());
        assert_ne!(rekeyed.id(), next.id());
        for id in [first.id(), next.id(), rekeyed.id()] {
            assert!(store.get(id).is_some(), "every key stays known for history");
        }
    }

    #[test]
    fn a_saved_store_comes_back_and_merges_without_losing_keys() {
        let part: StreamPartId = "rivulet.eth/a#0".parse().unwrap();
        let other: StreamPartId = "rivulet.eth/b#0".parse().unwrap();
        let mut first = KeyStore::default();
        let (key, _) = first.for_publish(&part).unwrap();
        first.rotate(&part).unwrap();
        let saved = first.to_saved();
        // A restart: the same current and next keys, every known key.
        let mut again = KeyStore::default();
        again.merge_saved(&saved).unwrap();
        let (current, next) = again.for_publish(&part).unwrap();
        assert_eq!(current.id(), key.id());
        assert!(next.is_some());
        assert!(
            again.own_of(&part, key.id()).is_some(),
            "its own keys stay its own"
        );
        assert_eq!(again.published_parts(), vec![part.clone()]);
        // Another process with the same key kept other keys: merged, ours stay current.
        let mut second = KeyStore::default();
        let (theirs, _) = second.for_publish(&other).unwrap();
        second.rekey(&part).unwrap();
        second.merge_saved(&saved).unwrap();
        assert!(second.get(key.id()).is_some() && second.get(theirs.id()).is_some());
        assert_ne!(
            second.for_publish(&part).unwrap().0.id(),
            key.id(),
            "its own current wins"
        );
        assert!(again.merge_saved(b"not json").is_err());
    }

    #[test]
    fn content_formats() {
        let r: KeyRequest = serde_json::from_str(
            r#"{"requestId":"ab","publisher":"0x00000000000000000000000000000000000000aa","groupKeyIds":["k1"]}"#,
        )
        .unwrap();
        assert_eq!(r.group_key_ids, vec!["k1".to_owned()]);
        let json = serde_json::to_string(&KeyResponse {
            request_id: "ab".into(),
            recipient: "0x01".into(),
            keys: vec![EncryptedKey {
                id: "k1".into(),
                data: "00".into(),
            }],
        })
        .unwrap();
        assert_eq!(
            json,
            r#"{"requestId":"ab","recipient":"0x01","keys":[{"id":"k1","data":"00"}]}"#
        );
    }
}
