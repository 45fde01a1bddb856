//! Publishing: the client's events, each the next of its chain in the stream part (see
//! [`ChainSigner`](rivulet_protocol::ChainSigner)), optionally encrypted with the client's group key,
//! sent to the entry node and acknowledged once accepted (and stored, where the node stores the part).

use rivulet_network::{
    light::{LightRequest, LightResponse},
    replica::Acks,
};
use rivulet_protocol::{
    ContentType, EventKeys, GroupKey, MessageType, StreamId, StreamMessage, StreamPartId,
};

/// How long a stream's being public is taken as read (a stream that turns private meanwhile refuses
/// plaintext at the relay nodes, and the client asks again).
const PUBLIC_FOR_MS: u64 = 5_000;

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
        let (message, hash) = lock(&self.inner.publisher).sign_next_hashed(
            part,
            timestamp,
            message_type,
            content_type,
            content,
            keys,
            &mut runtime::rng(),
        )?;
        lock(&self.inner.own).remember(hash, message.signature);
        Ok(message)
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
        let result = self
            .publish_once(stream, content_type, content.clone(), options.clone())
            .await;
        // A stream just made public: the chain says so, but an entry node that follows the registry a
        // block behind still takes it for private and refuses plaintext. Unless told to publish in the
        // clear, the client then takes it for private a while and sends the event encrypted.
        match result {
            Err(ClientError::Refused { ref code, .. })
                if code == "not_encrypted" && options.encrypt.is_none() =>
            {
                let until = runtime::now_ms() + PUBLIC_FOR_MS;
                lock(&self.inner.public).insert(stream.clone(), (false, until));
                self.publish_once(stream, content_type, content, options)
                    .await
            }
            other => other,
        }
    }

    async fn publish_once(
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
        let encrypt = self.must_encrypt(stream, options.encrypt).await?;
        let message = if encrypt {
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
                // Readers with a registered key get the new key sealed to them before it is used.
                let _ = self.seal_envelopes(&part).await;
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
        self.send_in_chain(message, options.acks).await
    }

    /// Whether an event to `stream` is encrypted: always when the stream is not publicly readable (an
    /// explicit `encrypt: false` is then refused, saying why); otherwise as asked (in the clear by
    /// default). Without chain access the client cannot tell, and encrypts unless told otherwise.
    pub(crate) async fn must_encrypt(
        &self,
        stream: &StreamId,
        asked: Option<bool>,
    ) -> Result<bool, ClientError> {
        let Some(access) = self.inner.access.clone() else {
            return Ok(asked.unwrap_or(true));
        };
        let now = runtime::now_ms();
        let cached = lock(&self.inner.public)
            .get(stream)
            .filter(|(_, until)| *until > now)
            .map(|(public, _)| *public);
        let public = match cached {
            Some(public) => public,
            None => {
                let public = access
                    .is_public(stream)
                    .await
                    .map_err(|e| ClientError::Chain(e.to_string()))?;
                lock(&self.inner.public).insert(stream.clone(), (public, now + PUBLIC_FOR_MS));
                public
            }
        };
        match (public, asked) {
            (false, Some(false)) => Err(ClientError::InvalidArgument(format!(
                "{stream} is not publicly readable, so its events are encrypted end to end: publish without encrypt: false (or make the stream public)"
            ))),
            (false, _) => Ok(true),
            (true, asked) => Ok(asked.unwrap_or(false)),
        }
    }

    /// Sends a message this client's chain just handed a reference to. A refused message is not in
    /// the chain: its reference is taken back, so the next one links to the last that went out.
    pub(crate) async fn send_in_chain(
        &self,
        message: StreamMessage,
        acks: Acks,
    ) -> Result<Published, ClientError> {
        let (part, at, prev) = (
            message.id().stream_part(),
            message.message_ref(),
            message.body.prev,
        );
        let result = self.send_with(message, acks).await;
        if matches!(result, Err(ClientError::Refused { .. })) {
            lock(&self.inner.publisher).take_back(&part, at, prev);
        }
        result
    }

    /// Sends an event signed elsewhere (or by [`Client::sign`]).
    pub async fn send(&self, message: StreamMessage) -> Result<Published, ClientError> {
        self.send_with(message, Acks::Local).await
    }

    /// [`Client::send`], its answer waiting for `acks`.
    pub async fn send_with(
        &self,
        message: StreamMessage,
        acks: Acks,
    ) -> Result<Published, ClientError> {
        let wire = message
            .encode()
            .map_err(|e| ClientError::InvalidArgument(e.to_string()))?;
        match self
            .request(LightRequest::Publish {
                wire: wire.into(),
                acks,
            })
            .await?
        {
            LightResponse::Published {
                duplicate,
                stored,
                replicas,
            } => Ok(Published {
                message,
                duplicate,
                stored,
                replicas,
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
