//! Publishing: the client's events, each the next of its chain in the stream part (see
//! [`ChainSigner`](rivulet_protocol::ChainSigner)), optionally encrypted with the client's group key,
//! sent to the entry node and acknowledged once accepted (and stored, where the node stores the part).

use rivulet_network::light::{LightRequest, LightResponse};
use rivulet_protocol::{
    ContentType, EventKeys, GroupKey, MessageType, StreamId, StreamMessage, StreamPartId,
};

use crate::{
    client::{Client, lock, unexpected},
    config::{PublishOptions, Published},
    error::ClientError,
    runtime,
};

impl Client {
    /// Signs `content` as the next event of this client's chain in the stream part, without sending it.
    pub fn sign(
        &self,
        part: &StreamPartId,
        content_type: ContentType,
        content: Vec<u8>,
        timestamp: Option<u64>,
    ) -> Result<StreamMessage, ClientError> {
        self.sign_as(
            part,
            MessageType::Data,
            content_type,
            content,
            timestamp,
            None,
        )
    }

    /// Signs the next message of this client's chain in `part`; with `keys`, encrypts the content under
    /// the first and announces the second (a rotation).
    pub(crate) fn sign_as(
        &self,
        part: &StreamPartId,
        message_type: MessageType,
        content_type: ContentType,
        content: Vec<u8>,
        timestamp: Option<u64>,
        keys: Option<(&GroupKey, Option<&GroupKey>)>,
    ) -> Result<StreamMessage, ClientError> {
        let timestamp = timestamp.unwrap_or_else(runtime::now_ms);
        let keys = keys.map(|(current, next)| EventKeys { current, next });
        Ok(lock(&self.inner.publisher).sign_next(
            part,
            timestamp,
            message_type,
            content_type,
            content,
            keys,
            &mut runtime::rng(),
        )?)
    }

    /// Publishes one event; resolves when the entry node accepted it (and stored it, where it stores the
    /// part). Fails with the node's reason when it refuses (no publish permission, oversize, ...).
    pub async fn publish(
        &self,
        stream: &StreamId,
        content_type: ContentType,
        content: Vec<u8>,
        options: PublishOptions,
    ) -> Result<Published, ClientError> {
        if content.len() > self.inner.limits.max_content_len {
            return Err(ClientError::InvalidArgument(format!(
                "content is {} bytes; the limit is {}",
                content.len(),
                self.inner.limits.max_content_len
            )));
        }
        let part = self.part_for(stream, &options)?;
        let message = if options.encrypt {
            // The key service runs before the first encrypted event leaves, so no reader waits for it.
            self.keys_ready().await;
            self.serve_keys(&part).await?;
            let (key, next, created) = {
                let mut keys = lock(&self.inner.keys);
                let had = keys.has_current(&part);
                let (key, next) = keys.for_publish(&part)?;
                (key, next, !had)
            };
            if created {
                self.keys_changed();
            }
            let message = self.sign_as(
                &part,
                MessageType::Data,
                content_type,
                content,
                options.timestamp,
                Some((&key, next.as_ref())),
            )?;
            if let Some(next) = next {
                lock(&self.inner.keys).rotated(&part, &next);
                self.keys_changed();
            }
            message
        } else {
            self.sign(&part, content_type, content, options.timestamp)?
        };
        self.send_in_chain(message).await
    }

    /// Sends a message this client's chain just handed a reference to. A refused message is not in
    /// the chain: its reference is taken back, so the next one links to the last that went out.
    pub(crate) async fn send_in_chain(
        &self,
        message: StreamMessage,
    ) -> Result<Published, ClientError> {
        let (part, at, prev) = (
            message.id().stream_part(),
            message.message_ref(),
            message.body.prev,
        );
        let result = self.send(message).await;
        if matches!(result, Err(ClientError::Refused { .. })) {
            lock(&self.inner.publisher).take_back(&part, at, prev);
        }
        result
    }

    /// Sends an event signed elsewhere (or by [`Client::sign`]).
    pub async fn send(&self, message: StreamMessage) -> Result<Published, ClientError> {
        let wire = message
            .encode()
            .map_err(|e| ClientError::InvalidArgument(e.to_string()))?;
        match self
            .request(LightRequest::Publish { wire: wire.into() })
            .await?
        {
            LightResponse::Published { duplicate, stored } => Ok(Published {
                message,
                duplicate,
                stored,
            }),
            other => Err(unexpected(other)),
        }
    }

    /// Rotates `part`'s group key: the next encrypted event announces a new key, sealed under the current
    /// one, and uses it from then on. Readers follow without asking.
    pub fn rotate_group_key(&self, part: &StreamPartId) -> Result<(), ClientError> {
        lock(&self.inner.keys).rotate(part)?;
        self.keys_changed();
        Ok(())
    }

    /// Starts a new group key for `part` without announcing it: readers must request it, and relay
    /// nodes pass requests only from addresses that may subscribe — so after a revocation, the removed
    /// reader cannot read what comes next.
    pub fn rekey(&self, part: &StreamPartId) -> Result<(), ClientError> {
        lock(&self.inner.keys).rekey(part)?;
        self.keys_changed();
        Ok(())
    }

    /// The last reference this client published in a stream part.
    pub fn last_published(&self, part: &StreamPartId) -> Option<rivulet_protocol::MessageRef> {
        lock(&self.inner.publisher).last(part)
    }
}
