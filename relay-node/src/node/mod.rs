//! The relay node: a thin event loop over small parts that each own their state.
//!
//! - [`event_loop`] owns the libp2p swarm and the validator and drives the parts below;
//! - [`topics`] — which gossip topics the node is in, and why;
//! - [`ordering`] — publisher-chain order for local subscribers;
//! - [`light`] and [`light_auth`] — light clients' sessions, queues and sign-ins; [`publishing`] — the
//!   light publishes each client address may have in progress; [`sign_ins`] — how often an address
//!   may sign in;
//! - [`history`] — answers from the store and requests to peers; [`history_reads`] — the store read
//!   for them off the event loop, a bounded number at once;
//! - [`store_writer`] — group commit, acknowledging publishes once durable;
//! - [`access`] — permissions by the chain's clock, and the task that follows the registry;
//! - [`coordination`] — the network coordinator as last read, and the task that follows it (storing
//!   the assigned parts, backfilling, heartbeats, rebalancing, checksum reports);
//! - [`verification`] — signatures verified on a pool of threads, verdicts back in arrival order;
//! - [`quorum`] — publishes acknowledged once a majority of the part's replicas have them on disk;
//! - [`announce`], [`publisher`], [`stored`]; finding other nodes is `rivulet_network::discovery`;
//! - [`handle`] — what the APIs see of the node ([`NodeApi`]); [`commands`] — what the handle asks of
//!   the event loop.
//!
//! Nothing here knows the HTTP or WebSocket APIs: they depend on [`NodeApi`], never the reverse.

mod access;
mod announce;
mod commands;
pub(crate) mod coordination;
mod event_loop;
mod handle;
mod history;
mod history_reads;
mod light;
mod light_auth;
mod ordering;
mod publisher;
mod publishing;
mod quorum;
mod sign_ins;
mod store_writer;
mod stored;
mod topics;
mod verification;

use std::{net::SocketAddr, sync::Arc, time::Duration};

use anyhow::{Context, Result};
use rivulet_contracts::{Contracts, Deployment, PermissionCache, Sender};
use rivulet_network::{NetworkConfig, build_swarm, discovery::Discovery};
use rivulet_protocol::Limits;
use rivulet_store::Store;
use rivulet_validate::{Validator, ValidatorConfig};
use tokio::sync::{broadcast, mpsc, watch};
use tracing::info;

pub(crate) use access::now_ms;
#[cfg(test)]
pub(crate) use commands::HistoryPage;
pub(crate) use commands::{Delivered, Published};
#[cfg(test)]
pub(crate) use handle::Stopping;
pub(crate) use handle::{HistoryError, NodeApi, NodeHandle, Reader, SourcedPage, SubmitError};
pub(crate) use quorum::Acks;
#[cfg(test)]
pub(crate) use quorum::QuorumError;

pub(crate) use self::history_reads::default_concurrency as history_concurrency;
use self::{
    access::Access,
    announce::{Announce, Listening},
    coordination::{BackfillContext, Coordination, Follower, FollowerConfig},
    event_loop::EventLoop,
    history_reads::HistoryReads,
    publisher::NodePublisher,
    store_writer::StoreQueue,
    stored::StoredParts,
};
use crate::{config::NodeConfig, identity, metrics::Metrics, paths::DataDir};

/// Accepted events buffered for the WebSocket API's sessions; a session further behind is told how
/// many it lost.
const EVENTS_BUFFER: usize = 4096;

/// A started node: its handle for the APIs, and the event loop to run.
pub(crate) struct Node {
    handle: Arc<NodeHandle>,
    event_loop: EventLoop,
    commands: mpsc::Receiver<Command>,
}

use self::commands::Command;

impl Node {
    /// Opens the data directory, reads the chain, builds the swarm and starts the background tasks
    /// (store writer, permission sync); `http` is the API's address, announced in `node.json`.
    pub(crate) async fn start(config: &NodeConfig, http: SocketAddr) -> Result<Node> {
        let dir = DataDir::new(&config.data_dir);
        std::fs::create_dir_all(dir.root())
            .with_context(|| format!("cannot create data dir {}", dir.root().display()))?;
        let key = identity::load_or_create(&dir.node_key())?;
        let publisher_key = identity::load_or_create_publisher(&dir.publisher_key())?;
        let peer_id = key.public().to_peer_id();
        let store = Arc::new(Store::open_with_cache(
            &dir.history(),
            config.store_cache_bytes,
        )?);
        let deployment = Deployment::load(&config.deployment).with_context(
            || "run rivulet-deploy (or cargo xtask chain) first, or set chain.deployment",
        )?;
        let chain = Contracts::connect_http(deployment, config.rpc_url.as_deref(), Sender::None)
            .await
            .context("cannot use the chain the deployment names")?;
        let mut cache = PermissionCache::new(chain.deployment().start_block);
        cache
            .sync_confirmed(&chain, config.confirmations)
            .await
            .context("cannot read the stream registry")?;
        let access = Access::new(cache);
        tokio::spawn(access.clone().follow(
            chain.clone(),
            Duration::from_millis(config.sync_interval_ms),
            config.confirmations,
        ));

        let limits = Limits {
            max_content_len: config.max_content_bytes,
        };
        let network = NetworkConfig {
            max_message_len: config.max_content_bytes + rivulet_network::MESSAGE_HEADROOM,
            gossip_queue_bytes: config.gossip_queue_bytes,
            request_bytes: config.request_bytes,
            webrtc_certificate_pem: Some(identity::load_or_create_webrtc_certificate(
                &dir.webrtc_certificate(),
            )?),
            latency_model: config.latency_model.clone(),
            max_incoming_connections: config.max_connections,
            max_connections_per_address: config.max_connections_per_address,
            connections_per_second_per_address: config.connections_per_second_per_address,
            ..NetworkConfig::default()
        };
        let mut swarm = build_swarm(key, network).await?;
        for addr in &config.listen {
            swarm
                .listen_on(addr.clone())
                .with_context(|| format!("cannot listen on {addr}"))?;
        }
        let discovery = Discovery::start(&mut swarm, config.bootstrap.clone());

        let metrics = Arc::new(
            Metrics::new(Some(store.clone()))
                .with_gossip_queue(swarm.behaviour().gossipsub.queued_bytes())
                .with_request_reading(swarm.behaviour().light.reading_bytes()),
        );
        metrics.store_messages.set(store.len().unwrap_or(0) as i64);
        let stored = StoredParts::new(config.parts.iter().cloned());
        let store_queue = StoreQueue::start(
            store.clone(),
            metrics.clone(),
            config.testing_drop_stored.clone(),
        );
        let (commands_tx, commands) = mpsc::channel(1024);
        let events = broadcast::channel(EVENTS_BUFFER).0;
        let listening = Listening::default();
        let publisher = NodePublisher::new(
            &publisher_key,
            access.clone(),
            listening.clone(),
            dir.publisher_keys(),
        );
        let announce = Announce::new(
            dir.state(),
            peer_id,
            publisher.address(),
            http,
            listening.clone(),
        );
        let coordination = Coordination::default();
        if config.parts.is_empty() && chain.deployment().coordinator.is_some() {
            // The node's account is its publisher key: one key for what it signs and what it sends.
            let sender = Contracts::connect_http(
                chain.deployment().clone(),
                config.rpc_url.as_deref(),
                Sender::Key(publisher_key.clone()),
            )
            .await
            .context("cannot use the chain the deployment names")?;
            let follower = Follower {
                chain: sender,
                account: publisher_key.address(),
                peer_id,
                config: FollowerConfig {
                    stake: config.coordinator_stake,
                    poll: Duration::from_millis(config.coordinator_poll_ms),
                },
                coordination: coordination.clone(),
                stored: stored.clone(),
                ledger: coordination::Ledger::open(dir.coordination())?,
                backfill: BackfillContext {
                    commands: commands_tx.clone(),
                    store_queue: store_queue.clone(),
                    store: store.clone(),
                    access: access.clone(),
                    limits,
                    max_future_skew_ms: config.max_future_skew_ms,
                    metrics: metrics.clone(),
                },
                listening: listening.clone(),
                commands: commands_tx.clone(),
                metrics: metrics.clone(),
            };
            info!(account = %publisher_key.address(), "following the network coordinator");
            tokio::spawn(follower.run());
        }
        let quorum = quorum::Quorum {
            coordination: coordination.clone(),
            commands: commands_tx.clone(),
            account: publisher_key.address(),
            peer: peer_id,
        };
        let reads = HistoryReads::new(store.clone(), history_reads::default_concurrency());
        let handle = Arc::new(NodeHandle {
            peer_id,
            metrics: metrics.clone(),
            limits,
            commands: commands_tx.clone(),
            reads: reads.clone(),
            stored: stored.clone(),
            access: access.clone(),
            events: events.clone(),
            publisher,
            chain,
            stopping: watch::Sender::new(false),
            listening,
            quorum: quorum.clone(),
        });
        let event_loop = EventLoop {
            swarm,
            validator: Validator::new(ValidatorConfig {
                limits,
                max_future_skew_ms: config.max_future_skew_ms,
                max_past_skew_ms: config.max_past_skew_ms,
                ..ValidatorConfig::default()
            }),
            verification: verification::Verification::start(config.verify_threads)
                .context("cannot start the signature verification threads")?,
            access,
            metrics,
            topics: Default::default(),
            stored,
            order: Default::default(),
            light: light::LightSessions::new(config.light_max_subscriptions),
            publishing: publishing::PublishShares::new(config.light_max_publishing_per_address),
            sign_ins: Default::default(),
            history: Default::default(),
            reads,
            store_queue,
            events,
            commands: commands_tx,
            discovery,
            announce,
            coordination,
            quorum,
            replica_requests: Default::default(),
            connections: Default::default(),
            refusals_logged: Default::default(),
            slow_peers_logged: Default::default(),
        };
        info!(%peer_id, %http, "relay node started");
        Ok(Node {
            handle,
            event_loop,
            commands,
        })
    }

    /// What the APIs use.
    pub(crate) fn handle(&self) -> Arc<NodeHandle> {
        self.handle.clone()
    }

    /// Runs the node until SIGINT or SIGTERM, then lets the API's sessions close.
    pub(crate) async fn run(self) -> Result<()> {
        let result = self.event_loop.run(self.commands).await;
        self.handle.stop().await;
        result
    }
}
