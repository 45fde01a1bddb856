//! The client's side of the group-key exchange: asking publishers for keys (a group-key request
//! published on the part), opening the answers addressed to it, and — as a publisher of encrypted
//! events — serving its own keys to the requests the node pushes to its key service.

use rivulet_network::light::Delivery;
use rivulet_protocol::{
    Address, ContentType, GroupKey, GroupKeyId, MessageType, StreamMessage, StreamPartId, ecies,
    signing::{decode_verified, signer_public_key},
};

use crate::{
    client::{Client, lock},
    error::ClientError,
    keys::{EncryptedKey, KeyRequest, KeyResponse},
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
            self.keys_changed();
        }
    }

    /// Asks `publisher` for group keys on `part`: publishes a group-key request there. Nodes refuse it
    /// (`no_permission`) unless this client's address may subscribe to the stream.
    pub async fn request_group_keys(
        &self,
        part: &StreamPartId,
        publisher: Address,
        ids: &[GroupKeyId],
    ) -> Result<(), ClientError> {
        let request = KeyRequest {
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
        self.send_in_chain(message).await.map(drop)
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

    /// Starts this client's key service on `part` (once): the node pushes it the part's group-key
    /// requests, and it answers those for its own keys.
    pub(crate) async fn serve_keys(&self, part: &StreamPartId) -> Result<(), ClientError> {
        if !lock(&self.inner.keys).serving.insert(part.clone()) {
            return Ok(());
        }
        let (_, requests) = match self.open_subscription(part, false).await {
            Ok(opened) => opened,
            Err(e) => {
                lock(&self.inner.keys).serving.remove(part);
                return Err(e);
            }
        };
        let client = self.clone();
        runtime::spawn(async move {
            while let Ok(delivery) = requests.recv().await {
                let Delivery::Events { messages, .. } = delivery else {
                    continue;
                };
                for wire in messages {
                    if let Ok(message) = decode_verified(&wire, &client.inner.limits)
                        && message.body.message_type == MessageType::GroupKeyRequest
                    {
                        let _ = client.answer_key_request(&message).await;
                    }
                }
            }
        });
        Ok(())
    }

    /// Answers a group-key request for this client's keys, encrypted to the requester's key. The relay
    /// nodes passed the request only because its signer may subscribe.
    async fn answer_key_request(&self, request: &StreamMessage) -> Result<(), ClientError> {
        let Ok(asked) = serde_json::from_slice::<KeyRequest>(&request.body.content) else {
            return Ok(());
        };
        if !asked
            .publisher
            .eq_ignore_ascii_case(&self.address().to_checksum())
        {
            return Ok(());
        }
        let requester = signer_public_key(request)
            .map_err(|e| ClientError::Verify(rivulet_protocol::VerifyError::Signature(e)))?;
        let mut rng = runtime::rng();
        let keys: Vec<EncryptedKey> = asked
            .group_key_ids
            .iter()
            .filter_map(|id| {
                let key = self.group_key(&GroupKeyId::new(id.clone()).ok()?)?;
                Some(EncryptedKey {
                    id: id.clone(),
                    data: hex::encode(ecies::encrypt(&requester, key.bytes(), &mut rng)),
                })
            })
            .collect();
        if keys.is_empty() {
            return Ok(());
        }
        let response = KeyResponse {
            request_id: asked.request_id,
            recipient: request.id().publisher.to_checksum(),
            keys,
        };
        let content = serde_json::to_vec(&response).map_err(ClientError::json("a key response"))?;
        let part = request.id().stream_part();
        let message = self.sign_as(
            &part,
            MessageType::GroupKeyResponse,
            ContentType::Json,
            content,
            None,
            None,
        )?;
        self.send_in_chain(message).await.map(drop)
    }
}
