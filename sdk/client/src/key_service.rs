//! A publisher's key service: the keys of its encrypted events go only to readers the chain lets read
//! the stream, now.
//!
//! - **Answers.** The entry node pushes the part's group-key requests to the service; it answers those
//!   for its own keys, encrypted (ECIES) to the key recovered from the request's signature — after
//!   checking the requester's subscribe permission itself, at the chain's current time (with a
//!   [`StreamAccess`](crate::StreamAccess); without one it trusts the nodes, which pass requests only
//!   from addresses that may subscribe).
//! - **Envelopes.** It seals its keys to every permitted reader that registered a public key on chain
//!   (a licence registers the buyer's) and publishes them into the part as group-key responses: a
//!   reader finds them in history and decrypts while the publisher is away. Checked when the service
//!   starts (so a restarted publisher serves buyers who bought while it was away), after every new key,
//!   and every [`ENVELOPE_CHECK`].
//! - **Rekey.** Every [`REKEY_CHECK`] it checks that everyone who holds the part's current key may
//!   still read; when one may not (revoked, or a licence that expired by the chain's clock), it starts
//!   a new key that nobody holds — the lapsed reader reads nothing published after it — and seals it to
//!   the readers who may.

use std::time::Duration;

use rivulet_network::light::Delivery;
use rivulet_protocol::{
    Address, ContentType, GroupKey, GroupKeyId, MessageType, PublicKey, StreamMessage,
    StreamPartId, ecies,
    signing::{decode_verified, signer_public_key},
};

use crate::{
    client::{Client, lock},
    error::ClientError,
    keys::{EncryptedKey, KeyRequest, KeyResponse},
    runtime,
};

/// How often a key service checks that the holders of its current key may still read.
pub const REKEY_CHECK: Duration = Duration::from_secs(1);

/// How often a key service looks for readers to seal its keys to.
pub const ENVELOPE_CHECK: Duration = Duration::from_secs(5);

/// The request id of a key response that answers no request: an envelope.
const ENVELOPE: &str = "envelope";

impl Client {
    /// Starts this client's key service on `part` (once): answers, envelopes, rekeys.
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
        if self.inner.access.is_some() {
            let client = self.clone();
            let part = part.clone();
            runtime::spawn(async move { client.watch_readers(part).await });
        }
        Ok(())
    }

    /// Rekeys when a holder of the current key lapses, and seals keys to new readers, while the client
    /// lives.
    async fn watch_readers(&self, part: StreamPartId) {
        let mut since_envelopes = ENVELOPE_CHECK;
        loop {
            if since_envelopes >= ENVELOPE_CHECK {
                let _ = self.seal_envelopes(&part).await;
                since_envelopes = Duration::ZERO;
            }
            runtime::sleep(REKEY_CHECK).await;
            since_envelopes += REKEY_CHECK;
            if self.inner.commands.is_closed() {
                return;
            }
            if let Ok(true) = self.rekey_if_lapsed(&part).await {
                let _ = self.seal_envelopes(&part).await;
                since_envelopes = Duration::ZERO;
            }
        }
    }

    /// Starts a new key for `part` when someone who holds the current one may no longer read; says
    /// whether it did.
    async fn rekey_if_lapsed(&self, part: &StreamPartId) -> Result<bool, ClientError> {
        let Some(access) = self.inner.access.clone() else {
            return Ok(false);
        };
        let holders = lock(&self.inner.keys).holders_of_current(part);
        for holder in holders {
            let may = access
                .may_subscribe(&part.stream_id, holder)
                .await
                .map_err(|e| ClientError::Chain(e.to_string()))?;
            if !may {
                self.rekey(part)?;
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Seals this client's keys of `part` to every permitted reader with a public key that was not
    /// given them yet, and publishes the envelopes into the part.
    pub(crate) async fn seal_envelopes(&self, part: &StreamPartId) -> Result<usize, ClientError> {
        let Some(access) = self.inner.access.clone() else {
            return Ok(0);
        };
        let readers = access
            .readers(&part.stream_id)
            .await
            .map_err(|e| ClientError::Chain(e.to_string()))?;
        let mut sealed = 0;
        for reader in readers {
            let Some(public_key) = reader.public_key else {
                continue;
            };
            if reader.address == self.address() {
                continue;
            }
            let keys = lock(&self.inner.keys).not_given(part, &reader.address);
            if keys.is_empty() {
                continue;
            }
            self.send_keys(
                part,
                ENVELOPE,
                reader.address,
                reader.address,
                &public_key,
                &keys,
            )
            .await?;
            sealed += 1;
        }
        Ok(sealed)
    }

    /// Publishes `keys` sealed to `recipient`'s `public_key`, as a group-key response to `request_id`,
    /// and records that `reader` (the recipient, or the account a session key reads for) has them.
    async fn send_keys(
        &self,
        part: &StreamPartId,
        request_id: &str,
        recipient: Address,
        reader: Address,
        public_key: &PublicKey,
        keys: &[GroupKey],
    ) -> Result<(), ClientError> {
        let mut rng = runtime::rng();
        let response = KeyResponse {
            request_id: request_id.to_owned(),
            recipient: recipient.to_checksum(),
            keys: keys
                .iter()
                .map(|key| EncryptedKey {
                    id: key.id().as_str().to_owned(),
                    data: hex::encode(ecies::encrypt(public_key, key.bytes(), &mut rng)),
                })
                .collect(),
        };
        let content = serde_json::to_vec(&response).map_err(ClientError::json("a key response"))?;
        let message = self.sign_as(
            part,
            MessageType::GroupKeyResponse,
            ContentType::Json,
            content,
            None,
            None,
        )?;
        self.send_in_chain(message, rivulet_network::replica::Acks::Local)
            .await?;
        lock(&self.inner.keys).gave(part, reader, keys.iter().map(|k| k.id().clone()));
        self.keys_changed();
        Ok(())
    }

    /// Answers a group-key request for this client's keys, encrypted to the requester's key — if the
    /// requester may read the stream now (asked of the chain when the client has access to it).
    async fn answer_key_request(&self, request: &StreamMessage) -> Result<(), ClientError> {
        let Ok(asked) = KeyRequest::parse(&request.body.content) else {
            return Ok(());
        };
        if !asked
            .publisher
            .eq_ignore_ascii_case(&self.address().to_checksum())
        {
            return Ok(());
        }
        let signer = request.id().publisher;
        // A session key asks for the account that authorised it; the keys go to the session key.
        let Ok(reader) = asked.reader(signer, runtime::now_ms() / 1000) else {
            return Ok(());
        };
        let part = request.id().stream_part();
        if let Some(access) = &self.inner.access {
            let may = access
                .may_subscribe(&part.stream_id, reader)
                .await
                .map_err(|e| ClientError::Chain(e.to_string()))?;
            if !may {
                return Ok(());
            }
        }
        let public_key = signer_public_key(request)
            .map_err(|e| ClientError::Verify(rivulet_protocol::VerifyError::Signature(e)))?;
        let keys: Vec<GroupKey> = {
            let store = lock(&self.inner.keys);
            asked
                .group_key_ids
                .iter()
                .filter_map(|id| store.own_of(&part, &GroupKeyId::new(id.clone()).ok()?))
                .collect()
        };
        if keys.is_empty() {
            return Ok(());
        }
        self.send_keys(&part, &asked.request_id, signer, reader, &public_key, &keys)
            .await
    }
}
