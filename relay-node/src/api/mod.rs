//! The node's HTTP and WebSocket APIs (axum), for clients in any language. They know the node only
//! through [`NodeApi`]; the router is a `tower::Service`, tested in-process against a fake node.
//!
//! - `GET /health` → `{"status":"ok","peerId":…,"publisher":…,"peers":n}`
//! - `GET /metrics` → Prometheus text format
//! - `POST /api/v1/publish` — a signed message: raw wire bytes (`application/octet-stream`) or
//!   `{"message":"<hex>"}` (`application/json`) → `{"part":…,"duplicate":…,"stored":…}`
//! - `GET /api/v1/history?stream=<id>&partition=<n>&last=<n>` or `…&from=<ms>&to=<ms>` or
//!   `…&cursor=<next>` → `{"messages":[…],"truncated":…,"next":<cursor for the rest, or null>}`; a part that is not public needs `Authorization: Bearer <token>`
//!   of a reader that may subscribe (401 without, 403 for a reader without permission)
//! - `GET /api/v1/auth/challenge?address=0x…`, `POST /api/v1/auth` — a signed challenge earns a token
//!   ([`auth`])
//! - `GET /api/v1/ws` — the WebSocket API ([`ws`], API.md)
//! - `GET /api/v1/streams?id=<stream id>` → one stream's metadata; `GET /api/v1/streams?search=<text>` →
//!   `{"streams":[…]}` (from the registry)
//!
//! Errors are `{"error":"<code>","message":"<what and why>"}` with a 4xx/5xx status — also for bodies
//! over the limit, query strings that do not parse, unknown paths and methods. Any origin may call the
//! API (CORS): it has no cookies or sessions, and every event is signed by its publisher.

mod auth;
mod error;
mod history;
mod http;
mod json;
#[cfg(test)]
mod tests;
mod ws;

use std::sync::{Arc, atomic::AtomicUsize};

use axum::{
    Router,
    extract::DefaultBodyLimit,
    http::{Method, header},
    routing::{get, post},
};
use tower_http::cors::{Any, CorsLayer};

pub(crate) use self::error::ApiError;
use crate::{
    node::NodeApi,
    turns::{FairTurns, ReaderKey},
};

/// Most history answers one client address may have waiting for their turn (HTTP requests and
/// WebSocket resends together); more are refused with 429 `busy`.
const MAX_WAITING_ANSWERS: usize = 64;

/// The API's own settings.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ApiConfig {
    /// Frames a WebSocket connection may send per second (sustained; bursts up to twice that).
    pub(crate) ws_rate: u32,
    /// WebSocket connections served at once.
    pub(crate) ws_max_connections: usize,
    /// WebSocket connections one client address may hold at once.
    pub(crate) ws_max_connections_per_address: usize,
    /// Stream parts one WebSocket connection may subscribe to.
    pub(crate) ws_max_subscriptions: usize,
}

/// What every handler shares: the node and the API's settings and counters.
pub(crate) struct Api {
    node: Arc<dyn NodeApi>,
    config: ApiConfig,
    /// Open WebSocket connections.
    ws_connections: AtomicUsize,
    /// Open WebSocket connections by client address (only addresses with one or more).
    ws_by_address: std::sync::Mutex<std::collections::HashMap<ReaderKey, usize>>,
    /// The secret this node's access-token nonces are made with.
    token_secret: auth::TokenSecret,
    /// Turns to assemble a history answer (read, verify, encode: a core's work while it lasts), as
    /// many as the node's history reads: more requests wait, and live delivery keeps its cores. The
    /// turns go round the addresses that wait, so one client's flood does not hold up the others.
    history_answers: FairTurns,
}

impl Api {
    /// The largest request body or WebSocket message the node reads: an event's content limit as hex,
    /// plus room for the other fields and the JSON around them.
    fn request_limit(&self) -> usize {
        self.node.limits().max_content_len * 2 + 16 * 1024
    }
}

/// The API router over `node`.
pub(crate) fn router(node: Arc<dyn NodeApi>, config: ApiConfig) -> Router {
    let api = Arc::new(Api {
        node,
        config,
        ws_connections: AtomicUsize::new(0),
        ws_by_address: Default::default(),
        token_secret: rand::random(),
        history_answers: FairTurns::new(crate::node::history_concurrency(), MAX_WAITING_ANSWERS),
    });
    Router::new()
        .route("/health", get(http::health))
        .route("/metrics", get(http::metrics))
        .route("/api/v1/publish", post(http::publish))
        .route("/api/v1/history", get(history::history))
        .route("/api/v1/auth/challenge", get(auth::challenge))
        .route("/api/v1/auth", post(auth::token))
        .route("/api/v1/ws", get(ws::upgrade))
        .route("/api/v1/streams", get(http::streams))
        .fallback(error::not_found)
        .method_not_allowed_fallback(error::method_not_allowed)
        .layer(DefaultBodyLimit::max(api.request_limit()))
        .layer(
            CorsLayer::new()
                .allow_origin(Any)
                .allow_methods([Method::GET, Method::POST])
                .allow_headers([header::CONTENT_TYPE, header::AUTHORIZATION]),
        )
        .with_state(api)
}
