//! The node as its APIs see it: [`NodeApi`], a narrow interface, and [`NodeHandle`], the running node's
//! implementation of it. The HTTP and WebSocket APIs know the node only through this trait, so their
//! router is tested in-process against a fake.

use std::sync::Arc;

use futures::future::BoxFuture;
use rivulet_client::ClientError;
use rivulet_contracts::Contracts;
use rivulet_network::{HistoryQuery, ReaderProof, libp2p::PeerId};
use rivulet_protocol::{Address, Limits, StreamId, StreamPartId};
use rivulet_validate::Rejection;

use serde_json::Value;
use tokio::sync::{broadcast, mpsc, oneshot, watch};

use super::{
    access::Access,
    announce::Listening,
    commands::{Command, Delivered, HistoryPage, Published},
    history::query_store,
    history_reads::{HistoryReads, ReadError},
    publisher::NodePublisher,
    quorum::{Acks, Quorum, QuorumError},
    stored::StoredParts,
};
use crate::{
    metrics::Metrics,
    turns::{NoTurn, ReaderKey},
};

/// A page of history and whether its events were verified here.
#[derive(Debug)]
pub(crate) struct SourcedPage {
    /// The events and the query for the rest.
    pub(crate) page: HistoryPage,
    /// From this node's own store, whose events were all verified before they were stored (published
    /// here, relayed, or copied from a replica): no need to verify them again. A peer's page is not,
    /// and its events must be verified before they are passed on.
    pub(crate) verified: bool,
}

/// Why a publish through the API failed.
#[derive(Debug)]
pub(crate) enum SubmitError {
    /// The event was refused.
    Rejected(Rejection),
    /// Accepted here, but a quorum of the part's replicas did not confirm it in time.
    Quorum(QuorumError),
    /// The node is stopping.
    Stopping,
}

/// A reader of history, as an API established it: its address and the proof it gave (signed for this
/// node), which a peer answering on its behalf checks itself.
#[derive(Clone, Debug)]
pub(crate) struct Reader {
    /// The reader's address.
    pub(crate) address: Address,
    /// Its proof.
    pub(crate) proof: ReaderProof,
}

/// Why a page of history could not be had.
#[derive(Debug)]
pub(crate) enum HistoryError {
    /// The reader may not subscribe to the part (or, anonymous, the part is not public).
    NoPermission(String),
    /// This node's store failed.
    Store(String),
    /// No connected node stores the part (or none answered).
    NotStored(String),
    /// The reader has as many history reads waiting as it may.
    Busy(String),
    /// The node is stopping.
    Stopping,
}

impl From<NoTurn> for HistoryError {
    fn from(e: NoTurn) -> HistoryError {
        match e {
            NoTurn::TooMany { .. } => HistoryError::Busy(e.to_string()),
            NoTurn::Stopping => HistoryError::Stopping,
        }
    }
}

impl From<ReadError> for HistoryError {
    fn from(e: ReadError) -> HistoryError {
        match e {
            ReadError::NoTurn(e) => e.into(),
            ReadError::Failed(_) => HistoryError::Store(e.to_string()),
        }
    }
}

/// The node is stopping.
#[derive(Debug)]
pub(crate) struct Stopping;

/// What the HTTP and WebSocket APIs need of the node.
pub(crate) trait NodeApi: Send + Sync + 'static {
    /// The node's libp2p peer id.
    fn peer_id(&self) -> PeerId;
    /// The node's libp2p addresses, `…/p2p/<peer id>` (for clients of the light protocols).
    fn listen_addresses(&self) -> Vec<String>;
    /// The stream parts this node stores, each with whether it serves it yet (`"serving"`) or is still
    /// copying its history (`"backfilling"`).
    fn storage(&self) -> Vec<(String, &'static str)>;
    /// The address the node signs plain-content events as.
    fn publisher(&self) -> Address;
    /// The node's metrics.
    fn metrics(&self) -> &Metrics;
    /// The decoder limits (content size).
    fn limits(&self) -> Limits;
    /// How many peers the node is connected to.
    fn peers(&self) -> BoxFuture<'_, Result<usize, Stopping>>;
    /// Validates, relays and (where the node stores the part) durably stores one signed event.
    fn publish(&self, wire: Vec<u8>, acks: Acks) -> BoxFuture<'_, Result<Published, SubmitError>>;
    /// Publishes JSON `content` to `part` as the node, with its own key (encrypted end to end when the
    /// stream is not public).
    fn publish_json(
        &self,
        part: &StreamPartId,
        content: Vec<u8>,
    ) -> BoxFuture<'_, Result<Published, ClientError>>;
    /// One page of `part`'s history for `reader` (`None`: anonymous, public parts only), connected
    /// from `from`: from the store (in `from`'s turn), or from a peer that stores the part (which is
    /// shown the reader's proof).
    fn history_page(
        &self,
        part: &StreamPartId,
        query: HistoryQuery,
        reader: Option<&Reader>,
        from: ReaderKey,
    ) -> BoxFuture<'_, Result<SourcedPage, HistoryError>>;
    /// Unix seconds now, by the chain's clock.
    fn now_secs(&self) -> u64;
    /// Whether `reader` (`None`: anonymous) may subscribe to `part` now, by the chain's clock.
    fn may_subscribe(&self, reader: Option<Address>, part: &StreamPartId) -> bool;
    /// Every event the node accepts, from now on (bounded: a receiver that falls behind is told how
    /// many it lost).
    fn events(&self) -> broadcast::Receiver<Arc<Delivered>>;
    /// A local subscriber wants `part`: the node joins its topic (counted).
    fn join(&self, part: StreamPartId) -> BoxFuture<'_, ()>;
    /// A local subscriber left `part`.
    fn leave(&self, part: StreamPartId) -> BoxFuture<'_, ()>;
    /// A stream's registry record, as JSON (`None`: no such stream); `Err` says why the chain could
    /// not be read.
    fn stream(&self, id: &StreamId) -> BoxFuture<'_, Result<Option<Value>, String>>;
    /// Streams whose id or metadata contain `text`, as JSON.
    fn search_streams(&self, text: &str) -> BoxFuture<'_, Result<Vec<Value>, String>>;
    /// Turns true when the node begins to stop.
    fn stopping(&self) -> watch::Receiver<bool>;
}

/// The running node's [`NodeApi`].
#[derive(Debug)]
pub(crate) struct NodeHandle {
    pub(super) peer_id: PeerId,
    pub(super) metrics: Arc<Metrics>,
    pub(super) limits: Limits,
    pub(super) commands: mpsc::Sender<Command>,
    pub(super) reads: HistoryReads,
    pub(super) stored: StoredParts,
    pub(super) access: Access,
    pub(super) events: broadcast::Sender<Arc<Delivered>>,
    pub(super) publisher: NodePublisher,
    pub(super) chain: Contracts,
    pub(super) stopping: watch::Sender<bool>,
    pub(super) listening: Listening,
    pub(super) quorum: Quorum,
}

impl NodeHandle {
    async fn ask<T>(&self, command: impl FnOnce(oneshot::Sender<T>) -> Command) -> Option<T> {
        let (reply, rx) = oneshot::channel();
        self.commands.send(command(reply)).await.ok()?;
        rx.await.ok()
    }

    /// Tells the API's sessions the node is going away and gives them a moment to say goodbye.
    pub(crate) async fn stop(&self) {
        self.stopping.send_replace(true);
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(1);
        while self.stopping.receiver_count() > 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    }
}

impl NodeApi for NodeHandle {
    fn peer_id(&self) -> PeerId {
        self.peer_id
    }

    fn listen_addresses(&self) -> Vec<String> {
        self.listening.all()
    }

    fn storage(&self) -> Vec<(String, &'static str)> {
        self.stored
            .states()
            .into_iter()
            .map(|(part, state)| (part.to_string(), state.name()))
            .collect()
    }

    fn publisher(&self) -> Address {
        self.publisher.address()
    }

    fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    fn limits(&self) -> Limits {
        self.limits
    }

    fn peers(&self) -> BoxFuture<'_, Result<usize, Stopping>> {
        Box::pin(async move {
            self.ask(|reply| Command::Peers { reply })
                .await
                .ok_or(Stopping)
        })
    }

    fn publish(&self, wire: Vec<u8>, acks: Acks) -> BoxFuture<'_, Result<Published, SubmitError>> {
        Box::pin(async move {
            let kept = (acks == Acks::Quorum).then(|| wire.clone());
            match self.ask(|reply| Command::Publish { wire, reply }).await {
                Some(Ok(published)) => match kept {
                    Some(wire) => self
                        .quorum
                        .confirm_published(wire, published)
                        .await
                        .map_err(SubmitError::Quorum),
                    None => Ok(published),
                },
                Some(Err(rejection)) => Err(SubmitError::Rejected(rejection)),
                None => Err(SubmitError::Stopping),
            }
        })
    }

    fn publish_json(
        &self,
        part: &StreamPartId,
        content: Vec<u8>,
    ) -> BoxFuture<'_, Result<Published, ClientError>> {
        let part = part.clone();
        Box::pin(async move { self.publisher.publish_json(&part, content).await })
    }

    fn history_page(
        &self,
        part: &StreamPartId,
        query: HistoryQuery,
        reader: Option<&Reader>,
        from: ReaderKey,
    ) -> BoxFuture<'_, Result<SourcedPage, HistoryError>> {
        let part = part.clone();
        let address = reader.map(|r| r.address);
        let proof = reader.map(|r| r.proof.clone());
        Box::pin(async move {
            if !self.access.may_subscribe(address, &part) {
                let who = address.map_or("an anonymous reader".to_owned(), |a| a.to_string());
                return Err(HistoryError::NoPermission(format!(
                    "{who} may not subscribe to {}",
                    part.stream_id
                )));
            }
            if self.stored.serves(&part) {
                return self
                    .reads
                    .run(from, move |store| query_store(store, &part, &query))
                    .await
                    .map_err(HistoryError::from)?
                    .map(|page| SourcedPage {
                        page,
                        verified: true,
                    })
                    .map_err(HistoryError::Store);
            }
            self.ask(|reply| Command::RemoteHistory {
                part,
                query,
                reader: proof,
                peers: Vec::new(),
                reply,
            })
            .await
            .ok_or(HistoryError::Stopping)?
            .map(|page| SourcedPage {
                page,
                verified: false,
            })
            .map_err(HistoryError::NotStored)
        })
    }

    fn may_subscribe(&self, reader: Option<Address>, part: &StreamPartId) -> bool {
        self.access.may_subscribe(reader, part)
    }

    fn now_secs(&self) -> u64 {
        self.access.now_secs()
    }

    fn events(&self) -> broadcast::Receiver<Arc<Delivered>> {
        self.events.subscribe()
    }

    fn join(&self, part: StreamPartId) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            let _ = self.commands.send(Command::Join { part }).await;
        })
    }

    fn leave(&self, part: StreamPartId) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            let _ = self.commands.send(Command::Leave { part }).await;
        })
    }

    fn stream(&self, id: &StreamId) -> BoxFuture<'_, Result<Option<Value>, String>> {
        let id = id.clone();
        Box::pin(async move {
            match self.chain.get_stream(&id).await {
                Ok(found) => {
                    Ok(found.map(|info| serde_json::to_value(info).unwrap_or(Value::Null)))
                }
                Err(e) => Err(e.to_string()),
            }
        })
    }

    fn search_streams(&self, text: &str) -> BoxFuture<'_, Result<Vec<Value>, String>> {
        let text = text.to_owned();
        Box::pin(async move {
            match self.chain.search_streams(&text).await {
                Ok(found) => Ok(found
                    .into_iter()
                    .map(|info| serde_json::to_value(info).unwrap_or(Value::Null))
                    .collect()),
                Err(e) => Err(e.to_string()),
            }
        })
    }

    fn stopping(&self) -> watch::Receiver<bool> {
        self.stopping.subscribe()
    }
}
