//! # rivulet-client
//!
//! The high-level Rivulet client, written once for native programs (on tokio) and browsers (wasm):
//!
//! - it connects to one entry relay node at a time over libp2p — TCP or WebSocket natively, WebSocket or
//!   WebRTC-direct in browsers — signs in with its key, and moves to the next configured node (with
//!   backoff) when one goes away, re-subscribing as it goes;
//! - [`Client::publish`] builds the publisher's message chain, signs and sends, and resolves when the
//!   node accepted (and, for stored parts, stored) the event;
//! - [`Client::subscribe`] yields verified events in chain order, without duplicates, with gaps filled by
//!   resend ([`Subscription`]);
//! - [`Client::resend`] reads history.
//!
//! The client never joins the relay nodes' gossip meshes: it uses the light protocols of
//! `rivulet_network::light`. Chain access (streams, permissions) is the caller's, through
//! `rivulet-contracts` — so this crate stays small; [`Client::remember_partitions`] tells it a stream's
//! partition count for partition keys.

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use futures::channel::{mpsc, oneshot};
pub use rivulet_network::HistoryQuery;
pub use rivulet_network::light::{Authorisation, authorisation_text};
use rivulet_network::{
    build_client_swarm,
    libp2p::{Multiaddr, PeerId, identity::Keypair},
    light::{Delivery, LightRequest, LightResponse},
};
use rivulet_protocol::{
    Address, ChainId, ContentType, GroupKey, GroupKeyId, Limits, MessageChain, MessageRef,
    MessageType, Partition, Signer, StreamId, StreamMessage, StreamPartId, UnsignedMessage, ecies,
    encryption::{encrypt_content, seal_next_key},
    partition_for_key,
    signing::{decode_verified, signer_public_key},
};

mod driver;
mod error;
mod keys;
pub mod runtime;
mod subscription;

pub use error::ClientError;
pub use keys::{EncryptedKey, KeyRequest, KeyResponse};
pub use subscription::{Subscription, SubscriptionEvent};

use driver::{Command, Driver};

/// Most pages one resend follows before it gives up on a node whose answer does not end.
const MAX_RESEND_PAGES: usize = 1_000;

/// How a client is set up.
#[derive(Clone, Debug)]
pub struct ClientConfig {
    /// Entry nodes' multiaddrs, ending in `/p2p/<peer id>`; tried in order, round robin.
    pub nodes: Vec<Multiaddr>,
    /// The key events are signed with (a random one when `None`).
    pub private_key: Option<[u8; 32]>,
    /// How long a request may wait for a session and an answer.
    pub request_timeout: Duration,
    /// Largest content accepted when decoding.
    pub limits: Limits,
    /// An account's authorisation of `private_key` as a session key
    /// ([`rivulet_network::light::authorisation_text`], signed once by a wallet): relay nodes then let
    /// this client read what the account may read (its licences). Events are still signed by the key.
    pub authorisation: Option<Authorisation>,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            nodes: Vec::new(),
            private_key: None,
            request_timeout: Duration::from_secs(30),
            limits: Limits::default(),
            authorisation: None,
        }
    }
}

/// Where an event goes and when it happened.
#[derive(Clone, Debug, Default)]
pub struct PublishOptions {
    /// The partition, explicitly.
    pub partition: Option<u32>,
    /// A key that picks the partition (the same key always picks the same partition); needs the
    /// stream's partition count, from the chain.
    pub partition_key: Option<String>,
    /// The event time, ms since the epoch (now when `None`).
    pub timestamp: Option<u64>,
    /// Encrypt the content with this publisher's group key for the stream part (end to end: only
    /// readers the registry lets subscribe can obtain the key).
    pub encrypt: bool,
}

/// A published event.
#[derive(Clone, Debug)]
pub struct Published {
    /// The signed event as sent.
    pub message: StreamMessage,
    /// The node had it already.
    pub duplicate: bool,
    /// The node stored it durably before answering.
    pub stored: bool,
}

struct Inner {
    commands: mpsc::UnboundedSender<Command>,
    signer: Signer,
    peer_id: PeerId,
    chain_id: ChainId,
    chains: Mutex<HashMap<StreamPartId, MessageChain>>,
    partitions: Mutex<HashMap<StreamId, u32>>,
    keys: Mutex<keys::KeyStore>,
    limits: Limits,
    next_subscription: AtomicU64,
    request_timeout: Duration,
}

/// A connection to the Rivulet network. Cheap to clone; every clone is the same client.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("address", &self.inner.signer.address())
            .field("peer_id", &self.inner.peer_id)
            .finish()
    }
}

impl Client {
    /// Starts a client: its connection task begins dialing the entry nodes at once. Natively this needs
    /// a running tokio runtime.
    pub fn new(config: ClientConfig) -> Result<Client, ClientError> {
        if config.nodes.is_empty() {
            return Err(ClientError::InvalidArgument(
                "no entry nodes: give at least one multiaddr".into(),
            ));
        }
        let signer = match config.private_key {
            Some(key) => Signer::from_bytes(&key)
                .map_err(|e| ClientError::InvalidArgument(format!("private key: {e}")))?,
            None => random_signer(),
        };
        let keypair = Keypair::ed25519_from_bytes(runtime::random_bytes::<32>())
            .map_err(|e| ClientError::InvalidArgument(format!("libp2p key: {e}")))?;
        let peer_id = keypair.public().to_peer_id();
        let chain_id = ChainId::new(hex::encode(runtime::random_bytes::<8>()))
            .map_err(|e| ClientError::InvalidArgument(e.to_string()))?;
        let (commands, receiver) = mpsc::unbounded();
        let driver_signer = signer.clone();
        let nodes = config.nodes.clone();
        let timeout = config.request_timeout;
        let authorisation = config.authorisation.clone();
        runtime::spawn(async move {
            match build_client_swarm(keypair).await {
                Ok(swarm) => {
                    Driver::new(swarm, driver_signer, authorisation, nodes, timeout)
                        .run(receiver)
                        .await
                }
                Err(e) => fail_commands(receiver, e.to_string()).await,
            }
        });
        Ok(Client {
            inner: Arc::new(Inner {
                commands,
                signer,
                peer_id,
                chain_id,
                chains: Mutex::default(),
                partitions: Mutex::default(),
                keys: Mutex::default(),
                limits: config.limits,
                next_subscription: AtomicU64::new(1),
                request_timeout: config.request_timeout,
            }),
        })
    }

    /// The private key events are signed with (for chain access with the same identity).
    pub fn private_key(&self) -> [u8; 32] {
        self.inner.signer.to_bytes()
    }

    /// Records `stream`'s partition count (read from the registry), for partition keys.
    pub fn remember_partitions(&self, stream: &StreamId, partitions: u32) {
        lock(&self.inner.partitions).insert(stream.clone(), partitions);
    }

    /// The address events are signed with.
    pub fn address(&self) -> Address {
        self.inner.signer.address()
    }

    /// This client's libp2p peer id.
    pub fn peer_id(&self) -> PeerId {
        self.inner.peer_id
    }

    pub(crate) fn limits(&self) -> Limits {
        self.inner.limits
    }

    pub(crate) fn command(&self, command: Command) {
        let _ = self.inner.commands.unbounded_send(command);
    }

    /// From now on acts for the account that signed `authorisation` (of this client's key, see
    /// [`authorisation_text`]): signs in again with it, so relay nodes deliver what the account may read.
    /// Resolves once the entry node accepted it; a refused authorisation is dropped.
    pub async fn authorise(&self, authorisation: Authorisation) -> Result<(), ClientError> {
        self.wait_connected().await?;
        let (reply, rx) = oneshot::channel();
        self.command(Command::Authorise {
            authorisation,
            reply,
        });
        rx.await.map_err(|_| ClientError::Destroyed)?
    }

    /// Waits until a session with an entry node is up; returns that node.
    pub async fn wait_connected(&self) -> Result<PeerId, ClientError> {
        let (reply, rx) = oneshot::channel();
        let deadline = runtime::now_ms() + self.inner.request_timeout.as_millis() as u64;
        self.command(Command::WaitConnected { reply, deadline });
        rx.await.map_err(|_| ClientError::Destroyed)?
    }

    async fn request(&self, request: LightRequest) -> Result<LightResponse, ClientError> {
        let (reply, rx) = oneshot::channel();
        self.command(Command::Request { request, reply });
        match rx.await.map_err(|_| ClientError::Destroyed)?? {
            LightResponse::Error { code, message } => Err(ClientError::Refused { code, message }),
            response => Ok(response),
        }
    }

    /// The stream part an event goes to.
    pub fn part_for(
        &self,
        stream: &StreamId,
        options: &PublishOptions,
    ) -> Result<StreamPartId, ClientError> {
        let partition = match (&options.partition, &options.partition_key) {
            (Some(p), _) => Partition::new(*p),
            (None, Some(key)) => {
                let count = lock(&self.inner.partitions).get(stream).copied().ok_or(
                    ClientError::NoChain(
                        "choosing a partition by key (the stream's partition count)",
                    ),
                )?;
                partition_for_key(key.as_bytes(), count)
            }
            (None, None) => Partition::new(0),
        }
        .map_err(|e| ClientError::InvalidArgument(e.to_string()))?;
        Ok(StreamPartId::new(stream.clone(), partition))
    }

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
    fn sign_as(
        &self,
        part: &StreamPartId,
        message_type: MessageType,
        content_type: ContentType,
        content: Vec<u8>,
        timestamp: Option<u64>,
        keys: Option<(&GroupKey, Option<&GroupKey>)>,
    ) -> Result<StreamMessage, ClientError> {
        let timestamp = timestamp.unwrap_or_else(runtime::now_ms);
        let mut chains = lock(&self.inner.chains);
        let link = chains.entry(part.clone()).or_default().next(timestamp);
        let mut body = UnsignedMessage::data(
            part,
            self.inner.signer.address(),
            self.inner.chain_id.clone(),
            link,
            content_type,
            content,
        );
        body.message_type = message_type;
        if let Some((key, next)) = keys {
            let mut rng = runtime::rng();
            encrypt_content(&mut body, key, &mut rng)
                .map_err(|e| ClientError::InvalidArgument(e.to_string()))?;
            body.new_group_key = next.map(|next| seal_next_key(key, next, &mut rng));
        }
        self.inner
            .signer
            .sign(body)
            .map_err(|e| ClientError::InvalidArgument(e.to_string()))
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
            self.serve_keys(&part).await?;
            let (key, next) = lock(&self.inner.keys).for_publish(&part)?;
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
            }
            message
        } else {
            self.sign(&part, content_type, content, options.timestamp)?
        };
        self.send_in_chain(message).await
    }

    /// Sends a message this client's chain just handed a reference to. A refused message is not in
    /// the chain: its reference is taken back, so the next one links to the last that went out.
    async fn send_in_chain(&self, message: StreamMessage) -> Result<Published, ClientError> {
        let (part, at, prev) = (
            message.id().stream_part(),
            message.message_ref(),
            message.body.prev,
        );
        let result = self.send(message).await;
        if matches!(result, Err(ClientError::Refused { .. }))
            && let Some(chain) = lock(&self.inner.chains).get_mut(&part)
        {
            chain.take_back(at, prev);
        }
        result
    }

    /// Rotates `part`'s group key: the next encrypted event announces a new key, sealed under the current
    /// one, and uses it from then on. Readers follow without asking.
    pub fn rotate_group_key(&self, part: &StreamPartId) -> Result<(), ClientError> {
        lock(&self.inner.keys).rotate(part)
    }

    /// Starts a new group key for `part` without announcing it: readers must request it, and relay
    /// nodes pass requests only from addresses that may subscribe — so after a revocation, the removed
    /// reader cannot read what comes next.
    pub fn rekey(&self, part: &StreamPartId) -> Result<(), ClientError> {
        lock(&self.inner.keys).rekey(part)
    }

    /// A group key this client holds (its own or received).
    pub(crate) fn group_key(&self, id: &GroupKeyId) -> Option<GroupKey> {
        lock(&self.inner.keys).get(id)
    }

    pub(crate) fn add_group_key(&self, key: GroupKey) {
        lock(&self.inner.keys).add(key);
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
        let content = serde_json::to_vec(&request)
            .map_err(|e| ClientError::InvalidArgument(e.to_string()))?;
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
    async fn serve_keys(&self, part: &StreamPartId) -> Result<(), ClientError> {
        if !lock(&self.inner.keys).serving.insert(part.clone()) {
            return Ok(());
        }
        let (_, mut requests) = match self.open_subscription(part, false).await {
            Ok(opened) => opened,
            Err(e) => {
                lock(&self.inner.keys).serving.remove(part);
                return Err(e);
            }
        };
        let client = self.clone();
        runtime::spawn(async move {
            use futures::StreamExt;
            while let Some(delivery) = requests.next().await {
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
        let requester =
            signer_public_key(request).map_err(|e| ClientError::Unverifiable(e.to_string()))?;
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
        let content = serde_json::to_vec(&response)
            .map_err(|e| ClientError::InvalidArgument(e.to_string()))?;
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

    /// Registers a subscription sink with the driver (a reader's, or a key service's) and waits for the
    /// node to accept it; returns its id and what the node pushes.
    async fn open_subscription(
        &self,
        part: &StreamPartId,
        reader: bool,
    ) -> Result<(u64, mpsc::UnboundedReceiver<Delivery>), ClientError> {
        let id = self.inner.next_subscription.fetch_add(1, Ordering::Relaxed);
        let (sink, deliveries) = mpsc::unbounded();
        let (reply, rx) = oneshot::channel();
        self.command(Command::Subscribe {
            part: part.clone(),
            id,
            sink,
            reply,
            reader,
        });
        rx.await.map_err(|_| ClientError::Destroyed)??;
        Ok((id, deliveries))
    }

    /// Subscribes to a stream part; with `last`, the newest `last` stored events come first.
    pub async fn subscribe(
        &self,
        part: &StreamPartId,
        last: Option<u32>,
    ) -> Result<Subscription, ClientError> {
        let (id, deliveries) = self.open_subscription(part, true).await?;
        let mut subscription = Subscription::new(part.clone(), id, self.clone(), deliveries);
        if let Some(n) = last.filter(|n| *n > 0) {
            let history = self.resend(part, HistoryQuery::Last { n }).await?;
            subscription.preload(history);
        }
        Ok(subscription)
    }

    /// Stored events of a stream part, verified, oldest first. Long answers come in pages (of at most
    /// [`HISTORY_PAGE_BYTES`](rivulet_network::HISTORY_PAGE_BYTES)), asked for one after another.
    pub async fn resend(
        &self,
        part: &StreamPartId,
        query: HistoryQuery,
    ) -> Result<Vec<StreamMessage>, ClientError> {
        let mut events = Vec::new();
        let mut next = Some(query);
        let mut pages = 0;
        while let Some(query) = next.take() {
            // A node's pages must end: 10,000 events (a node's most per query) fit in far fewer.
            pages += 1;
            if pages > MAX_RESEND_PAGES {
                return Err(ClientError::Unverifiable(format!(
                    "the node's answer did not end after {MAX_RESEND_PAGES} pages"
                )));
            }
            let response = self
                .request(LightRequest::Resend {
                    part: part.to_string(),
                    query,
                })
                .await?;
            let LightResponse::Messages {
                messages,
                next: rest,
            } = response
            else {
                return Err(unexpected(response));
            };
            // A node must make progress: an empty page that asks for more is a broken answer.
            if messages.is_empty() && rest.is_some() {
                return Err(ClientError::Unverifiable(
                    "the node answered an empty page with more to come".into(),
                ));
            }
            events.extend(self.verified_page(part, &messages)?);
            next = rest;
        }
        Ok(events)
    }

    /// A page of resent wire messages, each verified and checked to belong to `part`.
    fn verified_page(
        &self,
        part: &StreamPartId,
        messages: &[impl AsRef<[u8]>],
    ) -> Result<Vec<StreamMessage>, ClientError> {
        messages
            .iter()
            .map(|wire| {
                decode_verified(wire.as_ref(), &self.inner.limits)
                    .map_err(|e| ClientError::Unverifiable(e.to_string()))
                    .and_then(|m| {
                        if m.id().stream_part() == *part {
                            Ok(m)
                        } else {
                            Err(ClientError::Unverifiable(format!(
                                "the node answered with an event of {}",
                                m.id().stream_part()
                            )))
                        }
                    })
            })
            .collect()
    }

    /// The last reference this client published in a stream part.
    pub fn last_published(&self, part: &StreamPartId) -> Option<MessageRef> {
        lock(&self.inner.chains).get(part).and_then(|c| c.last())
    }

    /// Closes the connections; every pending request fails with [`ClientError::Destroyed`].
    pub fn destroy(&self) {
        self.command(Command::Shutdown);
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    match mutex.lock() {
        Ok(guard) => guard,
        Err(poisoned) => poisoned.into_inner(),
    }
}

fn unexpected(response: LightResponse) -> ClientError {
    ClientError::Refused {
        code: "protocol".into(),
        message: format!("unexpected answer from the node: {response:?}"),
    }
}

/// A new random signing key.
pub fn random_signer() -> Signer {
    loop {
        if let Ok(signer) = Signer::from_bytes(&runtime::random_bytes::<32>()) {
            return signer;
        }
    }
}

/// Answers every command with the reason the network could not start.
async fn fail_commands(mut commands: mpsc::UnboundedReceiver<Command>, error: String) {
    use futures::StreamExt;
    while let Some(command) = commands.next().await {
        let err = || ClientError::NotConnected(format!("the network could not start: {error}"));
        match command {
            Command::Request { reply, .. } => {
                let _ = reply.send(Err(err()));
            }
            Command::Subscribe { reply, .. } => {
                let _ = reply.send(Err(err()));
            }
            Command::WaitConnected { reply, .. } => {
                let _ = reply.send(Err(err()));
            }
            Command::Authorise { reply, .. } => {
                let _ = reply.send(Err(err()));
            }
            Command::Unsubscribe { .. } => {}
            Command::Shutdown => break,
        }
    }
}
