//! A reader's side of the group-key exchange: the keys it holds, its requests for keys (a group-key
//! request published on the part), the answers and envelopes addressed to it. The publisher's side is
//! [`key_service`](crate::key_service).

use rivulet_network::HistoryQuery;
use rivulet_protocol::{
    Address, ContentType, GroupKey, GroupKeyId, MessageType, StreamMessage, StreamPartId, ecies,
};

use crate::{
    client::{Client, lock},
    error::ClientError,
    keys::{AccountAuthorisation, KeyRequest, KeyResponse},
    runtime,
};

impl Client {
    /// A group key this client holds (its own or received).
    pub(crate) fn group_key(&self, id: &GroupKeyId) -> Option<GroupKey> {
        lock(&self.inner.keys).get(id)
    }

    pub(crate) fn add_group_key(&self, key: GroupKey) {
        let new = {
            let mut keys = lock(&self.inner.keys);
            let new = keys.get(key.id()).is_none();
            keys.add(key);
            new
        };
        if new {
            self.inner
                .key_generation
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            self.keys_changed();
        }
    }

    /// How many new group keys this client has taken in so far: a subscription that sees it change
    /// looks again at the events it gave up for want of a key.
    pub(crate) fn key_generation(&self) -> u64 {
        self.inner
            .key_generation
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Asks `publisher` for group keys on `part`: publishes a group-key request there. Nodes refuse it
    /// (`no_permission`) unless this client's address may subscribe to the stream.
    pub async fn request_group_keys(
        &self,
        part: &StreamPartId,
        publisher: Address,
        ids: &[GroupKeyId],
    ) -> Result<(), ClientError> {
        // A session key asks for the account it reads for.
        let authorisation =
            lock(&self.inner.authorisation)
                .as_ref()
                .map(|a| AccountAuthorisation {
                    account: a.account.clone(),
                    expires: a.expires,
                    signature: hex::encode(&a.signature),
                });
        let request = KeyRequest {
            authorisation,
            request_id: hex::encode(runtime::random_bytes::<8>()),
            publisher: publisher.to_checksum(),
            group_key_ids: ids.iter().map(|id| id.as_str().to_owned()).collect(),
        };
        let content = serde_json::to_vec(&request).map_err(ClientError::json("a key request"))?;
        let message = self.sign_as(
            part,
            MessageType::GroupKeyRequest,
            ContentType::Json,
            content,
            None,
            None,
        )?;
        self.send_in_chain(message, rivulet_network::replica::Acks::Local)
            .await
            .map(drop)
    }

    /// The keys in a group-key response addressed to this client.
    pub(crate) fn open_key_response(&self, message: &StreamMessage) -> Vec<GroupKey> {
        let Ok(response) = serde_json::from_slice::<KeyResponse>(&message.body.content) else {
            return Vec::new();
        };
        if !response
            .recipient
            .eq_ignore_ascii_case(&self.address().to_checksum())
        {
            return Vec::new();
        }
        let secret = self.inner.signer.secret_key();
        response
            .keys
            .iter()
            .filter_map(|k| {
                let bytes = ecies::decrypt(&secret, &hex::decode(&k.data).ok()?).ok()?;
                Some(GroupKey::new(
                    GroupKeyId::new(k.id.clone()).ok()?,
                    bytes.try_into().ok()?,
                ))
            })
            .collect()
    }

    /// Opens the envelopes addressed to this client in `part` (group keys its publishers sealed to its
    /// registered public key, found in the part's history); returns how many new keys they held.
    pub(crate) async fn keys_from_envelopes(
        &self,
        part: &StreamPartId,
    ) -> Result<usize, ClientError> {
        let query = HistoryQuery::Envelopes {
            recipient: self.address().to_checksum(),
            after: (0, 0),
            resume: None,
        };
        let mut found = 0;
        for envelope in self.resend(part, query).await? {
            if envelope.body.message_type != MessageType::GroupKeyResponse {
                continue;
            }
            for key in self.open_key_response(&envelope) {
                if self.group_key(key.id()).is_none() {
                    found += 1;
                }
                self.add_group_key(key);
            }
        }
        Ok(found)
    }
}
