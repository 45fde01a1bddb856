//! The [`Client`] handle: its shared state, and how its calls reach the connection driver — through a
//! bounded command queue, so a caller that floods it waits instead of growing it without end.

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use futures::{FutureExt, channel::oneshot, future::Shared};
use rivulet_network::{
    build_client_swarm,
    libp2p::{PeerId, identity::Keypair},
    light::{Authorisation, Delivery, LightRequest, LightResponse},
};
use rivulet_protocol::{
    Address, ChainId, ChainSigner, Limits, OwnSignatures, Partition, Signer, StreamId,
    StreamPartId, partition_for_key,
};

use crate::{
    access::StreamAccess,
    config::{ClientConfig, PublishOptions},
    driver::{Command, DELIVERY_QUEUE, Driver},
    error::ClientError,
    keys::KeyStore,
    runtime,
    vault::{KeyVault, SaveState},
};

/// Commands waiting for the driver before callers wait too.
const COMMAND_QUEUE: usize = 1024;

/// The client's own latest signatures remembered, so its events that come back on its subscriptions
/// need no verifying (more than a busy publisher has in flight and on the way back).
const OWN_SIGNATURES: usize = 8_192;

pub(crate) struct Inner {
    pub(crate) commands: async_channel::Sender<Command>,
    pub(crate) signer: Signer,
    pub(crate) peer_id: PeerId,
    /// This client's message chains, one per stream part.
    pub(crate) publisher: Mutex<ChainSigner>,
    /// What this client signed lately: its own events coming back are authentic as they are.
    pub(crate) own: Mutex<OwnSignatures>,
    pub(crate) partitions: Mutex<HashMap<StreamId, u32>>,
    pub(crate) keys: Mutex<KeyStore>,
    /// Bumped whenever a group key this client did not hold arrives (subscriptions look again at the
    /// events they gave up for want of a key).
    pub(crate) key_generation: AtomicU64,
    pub(crate) limits: Limits,
    pub(crate) next_subscription: AtomicU64,
    pub(crate) request_timeout: Duration,
    /// The account this client's key reads for, when one authorised it.
    pub(crate) authorisation: Mutex<Option<Authorisation>>,
    /// Where the group keys are kept across restarts.
    pub(crate) vault: Option<Arc<dyn KeyVault>>,
    /// The chain, for publishing and the key service.
    pub(crate) access: Option<Arc<dyn StreamAccess>>,
    /// Whether streams are public, as last read (and until when, ms), so publishing does not ask the
    /// chain every time.
    pub(crate) public: Mutex<HashMap<StreamId, (bool, u64)>>,
    /// Resolves once the vault's keys are loaded.
    pub(crate) keys_loaded: Shared<oneshot::Receiver<()>>,
    pub(crate) saving: Mutex<SaveState>,
    pub(crate) vault_error: Mutex<Option<String>>,
}

/// A connection to the Rivulet network. Cheap to clone; every clone is the same client.
#[derive(Clone)]
pub struct Client {
    pub(crate) inner: Arc<Inner>,
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
    // In the browser the key vault holds JavaScript values, which are not `Send`; there is one thread.
    #[cfg_attr(target_arch = "wasm32", allow(clippy::arc_with_non_send_sync))]
    pub fn new(config: ClientConfig) -> Result<Client, ClientError> {
        if config.nodes.is_empty() {
            return Err(ClientError::InvalidArgument(
                "no entry nodes: give at least one multiaddr".into(),
            ));
        }
        let signer = match config.private_key {
            Some(key) => Signer::from_bytes(&key).map_err(ClientError::PrivateKey)?,
            None => random_signer(),
        };
        let keypair = Keypair::ed25519_from_bytes(runtime::random_bytes::<32>())
            .map_err(|e| ClientError::InvalidArgument(format!("libp2p key: {e}")))?;
        let peer_id = keypair.public().to_peer_id();
        let chain_id = ChainId::new(hex::encode(runtime::random_bytes::<8>()))?;
        let (commands, receiver) = async_channel::bounded(COMMAND_QUEUE);
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
        let (loaded, keys_loaded) = oneshot::channel();
        let client = Client {
            inner: Arc::new(Inner {
                commands,
                publisher: Mutex::new(ChainSigner::new(signer.clone(), chain_id)),
                own: Mutex::new(OwnSignatures::new(OWN_SIGNATURES)),
                signer,
                peer_id,
                partitions: Mutex::default(),
                keys: Mutex::default(),
                key_generation: AtomicU64::new(0),
                limits: config.limits,
                next_subscription: AtomicU64::new(1),
                request_timeout: config.request_timeout,
                authorisation: Mutex::new(config.authorisation.clone()),
                vault: config.key_vault,
                access: config.access,
                public: Mutex::default(),
                keys_loaded: keys_loaded.shared(),
                saving: Mutex::default(),
                vault_error: Mutex::default(),
            }),
        };
        let loading = client.clone();
        runtime::spawn(async move {
            if let Err(e) = loading.load_keys().await {
                *lock(&loading.inner.vault_error) = Some(e.to_string());
            }
            let _ = loaded.send(());
        });
        Ok(client)
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

    /// Hands `command` to the driver, waiting while its queue is full.
    pub(crate) async fn command(&self, command: Command) -> Result<(), ClientError> {
        self.inner
            .commands
            .send(command)
            .await
            .map_err(|_| ClientError::Destroyed)
    }

    /// Hands `command` to the driver without waiting (from `Drop`): when the queue is full, a task
    /// waits for room.
    pub(crate) fn command_later(&self, command: Command) {
        if let Err(async_channel::TrySendError::Full(command)) =
            self.inner.commands.try_send(command)
        {
            let commands = self.inner.commands.clone();
            runtime::spawn(async move {
                let _ = commands.send(command).await;
            });
        }
    }

    /// From now on acts for the account that signed `authorisation` (of this client's key, see
    /// [`authorisation_text`](rivulet_network::light::authorisation_text)): signs in again with it,
    /// so relay nodes deliver what the account may read. Resolves once the entry node accepted it; a
    /// refused authorisation is dropped.
    pub async fn authorise(&self, authorisation: Authorisation) -> Result<(), ClientError> {
        self.wait_connected().await?;
        let (reply, rx) = oneshot::channel();
        self.command(Command::Authorise {
            authorisation: authorisation.clone(),
            reply,
        })
        .await?;
        rx.await.map_err(|_| ClientError::Destroyed)??;
        *lock(&self.inner.authorisation) = Some(authorisation);
        Ok(())
    }

    /// Waits until a session with an entry node is up; returns that node.
    pub async fn wait_connected(&self) -> Result<PeerId, ClientError> {
        let (reply, rx) = oneshot::channel();
        let deadline = runtime::now_ms() + self.inner.request_timeout.as_millis() as u64;
        self.command(Command::WaitConnected { reply, deadline })
            .await?;
        rx.await.map_err(|_| ClientError::Destroyed)?
    }

    /// Sends `request` to the entry node; a refusal is an error with the node's code.
    pub(crate) async fn request(
        &self,
        request: LightRequest,
    ) -> Result<LightResponse, ClientError> {
        let (reply, rx) = oneshot::channel();
        self.command(Command::Request { request, reply }).await?;
        match rx.await.map_err(|_| ClientError::Destroyed)?? {
            LightResponse::Error { code, message } => Err(ClientError::Refused { code, message }),
            response => Ok(response),
        }
    }

    /// Registers a subscription sink with the driver (a reader's, or a key service's) and waits for the
    /// node to accept it; returns its id and what the node pushes (a bounded queue: a reader that falls
    /// behind holds back the node's deliveries to this client).
    pub(crate) async fn open_subscription(
        &self,
        part: &StreamPartId,
        reader: bool,
    ) -> Result<(u64, async_channel::Receiver<Delivery>), ClientError> {
        let id = self.inner.next_subscription.fetch_add(1, Ordering::Relaxed);
        let (sink, deliveries) = async_channel::bounded(DELIVERY_QUEUE);
        let (reply, rx) = oneshot::channel();
        self.command(Command::Subscribe {
            part: part.clone(),
            id,
            sink,
            reply,
            reader,
        })
        .await?;
        rx.await.map_err(|_| ClientError::Destroyed)??;
        Ok((id, deliveries))
    }

    /// The stream part an event goes to.
    pub fn part_for(
        &self,
        stream: &StreamId,
        options: &PublishOptions,
    ) -> Result<StreamPartId, ClientError> {
        let partition = match (&options.partition, &options.partition_key) {
            (Some(p), _) => Partition::new(*p)?,
            (None, Some(key)) => {
                let count = lock(&self.inner.partitions).get(stream).copied().ok_or(
                    ClientError::NoChain(
                        "choosing a partition by key (the stream's partition count)",
                    ),
                )?;
                partition_for_key(key.as_bytes(), count)?
            }
            (None, None) => Partition::new(0)?,
        };
        Ok(StreamPartId::new(stream.clone(), partition))
    }

    /// Closes the connections; every pending request fails with [`ClientError::Destroyed`].
    pub fn destroy(&self) {
        self.command_later(Command::Shutdown);
    }
}

/// Locks `mutex`, whatever a panic elsewhere left in it.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    match mutex.lock() {
        Ok(guard) => guard,
        Err(poisoned) => poisoned.into_inner(),
    }
}

/// The error for an answer of the wrong kind.
pub(crate) fn unexpected(response: LightResponse) -> ClientError {
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
async fn fail_commands(commands: async_channel::Receiver<Command>, error: String) {
    while let Ok(command) = commands.recv().await {
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    /// What is asked right after `destroy` (queued before the connection task read the shutdown) fails
    /// with `Destroyed` instead of waiting forever.
    #[tokio::test]
    async fn calls_right_after_destroy_fail() {
        let peer = Keypair::generate_ed25519().public().to_peer_id();
        let client = Client::new(ClientConfig {
            nodes: vec![format!("/ip4/127.0.0.1/tcp/9/p2p/{peer}").parse().unwrap()],
            ..ClientConfig::default()
        })
        .unwrap();
        client.destroy();
        let asked = tokio::time::timeout(Duration::from_secs(5), client.wait_connected()).await;
        assert!(
            matches!(asked, Ok(Err(ClientError::Destroyed))),
            "{asked:?}"
        );
    }
}
