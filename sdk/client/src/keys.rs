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

use std::collections::{HashMap, HashSet};

use rivulet_protocol::{GroupKey, GroupKeyId, StreamPartId};
use serde::{Deserialize, Serialize};

use crate::error::ClientError;

/// A group-key request's content.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyRequest {
    /// Matches the response to the request.
    pub request_id: String,
    /// Whose keys (the publisher that encrypted with them).
    pub publisher: String,
    /// Which keys.
    pub group_key_ids: Vec<String>,
}

/// One key in a response: its id and the 32 key bytes encrypted to the requester (ECIES), hex.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EncryptedKey {
    /// The key id.
    pub id: String,
    /// ECIES ciphertext of the key bytes, hex.
    pub data: String,
}

/// A group-key response's content.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyResponse {
    /// The request answered.
    pub request_id: String,
    /// Who may open the keys.
    pub recipient: String,
    /// The keys.
    pub keys: Vec<EncryptedKey>,
}

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
                key
            }
        };
        Ok((current, self.next.get(part).cloned()))
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
        self.next.insert(part.clone(), key);
        Ok(())
    }

    /// Starts a new key that is not announced: readers must ask for it, and only permitted readers can.
    pub(crate) fn rekey(&mut self, part: &StreamPartId) -> Result<(), ClientError> {
        let key = new_key()?;
        self.known.insert(key.id().clone(), key.clone());
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
