//! `relay-node run`: the node and its APIs put together — the only module that knows both. It binds
//! the HTTP listener, starts the node, serves the API router over the node's handle, and runs until
//! SIGINT or SIGTERM.

use anyhow::{Context, Result};
use axum::serve::ListenerExt;
use tracing::warn;

use crate::{
    api::{self, ApiConfig},
    config::NodeConfig,
    node::Node,
};

/// Runs a node with `config` until it is told to stop.
pub(crate) async fn run(config: NodeConfig) -> Result<()> {
    crate::memory::return_freed_pages_on_time();
    let listener = tokio::net::TcpListener::bind(config.http_listen)
        .await
        .with_context(|| format!("cannot listen for HTTP on {}", config.http_listen))?;
    let http = listener.local_addr()?;
    let node = Node::start(&config, http).await?;
    let router = api::router(
        node.handle(),
        ApiConfig {
            ws_rate: config.ws_rate,
            ws_max_connections: config.ws_max_connections,
            ws_max_connections_per_address: config.ws_max_connections_per_address,
            ws_max_subscriptions: config.ws_max_subscriptions,
        },
    );
    // Small frames go out at once: without TCP_NODELAY, Nagle's algorithm held each event up to the
    // next ACK (9-12 ms at the median on loopback).
    let listener = listener.tap_io(|tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            warn!("cannot set TCP_NODELAY: {e}");
        }
    });
    tokio::spawn(async move {
        // Handlers see each client's address: history turns go round the addresses waiting.
        let service = router.into_make_service_with_connect_info::<std::net::SocketAddr>();
        if let Err(e) = axum::serve(listener, service).await {
            warn!("HTTP server stopped: {e}");
        }
    });
    // The event loop runs on the runtime's workers, beside the connection and session tasks it
    // trades every event with, rather than on the main thread: a task it wakes can then run on the
    // same thread without waking another.
    tokio::spawn(node.run())
        .await
        .context("the node's event loop panicked")?
}
