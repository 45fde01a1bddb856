//! The HTTP JSON API, for clients in any language: health, Prometheus metrics, publish, history.
//!
//! - `GET /health` → `{"status":"ok","peerId":…,"peers":n}`
//! - `GET /metrics` → Prometheus text format
//! - `POST /api/v1/publish` — a signed message: raw wire bytes (`application/octet-stream`) or
//!   `{"message":"<hex>"}` (`application/json`) → `{"part":…,"duplicate":…,"stored":…}`
//! - `GET /api/v1/history?stream=<id>&partition=<n>&last=<n>` or `…&from=<ms>&to=<ms>` → `{"messages":[…]}`
//! - `GET /api/v1/ws` — the WebSocket API (see `ws.rs` and API.md)
//! - `GET /api/v1/streams?id=<stream id>` → one stream's metadata; `GET /api/v1/streams?search=<text>` →
//!   `{"streams":[…]}` (from the registry)
//!
//! Errors are `{"error":"<code>","message":"<what and why>"}` with a 4xx status — also for bodies over
//! the limit, query strings that do not parse, unknown paths and methods. Any origin may call the API
//! (CORS): it has no cookies or sessions, and every event is signed by its publisher.

use std::sync::Arc;

use axum::{
    Json, Router,
    body::Bytes,
    extract::{
        DefaultBodyLimit, FromRequest, Query, Request, State,
        rejection::{BytesRejection, QueryRejection},
    },
    http::{Method, StatusCode, Uri, header},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use rivulet_network::HistoryQuery;
use rivulet_protocol::{ContentType, Encryption, Partition, StreamId, StreamMessage, StreamPartId};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::sync::oneshot;
use tower_http::cors::{Any, CorsLayer};

use crate::node::{Command, Shared, SubmitError, query_store, submit};

/// An API error: a status, a stable code and a sentence.
#[derive(Debug)]
pub(crate) struct ApiError {
    pub(crate) status: StatusCode,
    pub(crate) code: &'static str,
    pub(crate) message: String,
}

impl ApiError {
    pub(crate) fn new(
        status: StatusCode,
        code: &'static str,
        message: impl Into<String>,
    ) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (
            self.status,
            Json(json!({ "error": self.code, "message": self.message })),
        )
            .into_response()
    }
}

pub(crate) type ApiResult<T> = Result<T, ApiError>;

/// The node's swarm task has ended: it is shutting down.
fn stopping() -> ApiError {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "stopping",
        "the node is shutting down",
    )
}

/// The largest request body or WebSocket message the node reads: an event's content limit as hex, plus
/// room for the other fields and the JSON around them.
pub(crate) fn request_limit(shared: &Shared) -> usize {
    shared.limits.max_content_len * 2 + 16 * 1024
}

/// The API router.
pub(crate) fn router(shared: Arc<Shared>) -> Router {
    let body_limit = request_limit(&shared);
    Router::new()
        .route("/health", get(health))
        .route("/metrics", get(metrics))
        .route("/api/v1/publish", post(publish))
        .route("/api/v1/history", get(history))
        .route("/api/v1/ws", get(crate::ws::upgrade))
        .route("/api/v1/streams", get(streams))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(
            CorsLayer::new()
                .allow_origin(Any)
                .allow_methods([Method::GET, Method::POST])
                .allow_headers([header::CONTENT_TYPE]),
        )
        .with_state(shared)
}

async fn not_found(method: Method, uri: Uri) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        format!(
            "no {method} {} here; the endpoints are /health, /metrics, /api/v1/publish, /api/v1/history, /api/v1/streams and /api/v1/ws",
            uri.path()
        ),
    )
}

async fn method_not_allowed(method: Method, uri: Uri) -> ApiError {
    let allowed = match uri.path() {
        "/api/v1/publish" => "POST",
        _ => "GET",
    };
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!("{} takes {allowed}, not {method}", uri.path()),
    )
}

/// A request body the extractor refused: over the size limit, or unreadable.
fn body_error(rejection: BytesRejection, limit: usize) -> ApiError {
    if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
        body_over_limit(limit)
    } else {
        ApiError::new(rejection.status(), "bad_body", rejection.body_text())
    }
}

fn body_over_limit(limit: usize) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "oversize",
        format!("request body over {limit} bytes, more than any event this node accepts"),
    )
}

/// A query string that does not parse into the endpoint's parameters.
fn query_error(rejection: QueryRejection) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, "bad_query", rejection.body_text())
}

async fn health(State(shared): State<Arc<Shared>>) -> ApiResult<Json<Value>> {
    let (reply, rx) = oneshot::channel();
    shared
        .commands
        .send(Command::Peers { reply })
        .await
        .map_err(|_| stopping())?;
    let peers = rx.await.unwrap_or(0);
    Ok(Json(json!({
        "status": "ok",
        "peerId": shared.peer_id.to_string(),
        "publisher": shared.publisher.address().to_checksum(),
        "peers": peers,
    })))
}

async fn metrics(State(shared): State<Arc<Shared>>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        shared.metrics.render(),
    )
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PublishJson {
    message: String,
}

async fn publish(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let limit = request_limit(&shared);
    let is_json = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    // A body declared over the limit is refused before any of it is read.
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let body = if declared.is_some_and(|n| n > limit as u64) {
        Err(body_over_limit(limit))
    } else {
        Bytes::from_request(request, &())
            .await
            .map_err(|rejection| body_error(rejection, limit))
    };
    let body = match body {
        Ok(body) => body,
        Err(e) => {
            shared.metrics.http_error(e.code);
            // The rest of the body was not read, so this connection cannot carry another request: say
            // so, or a client that pools connections sends its next request into the closing one.
            let mut response = e.into_response();
            response.headers_mut().insert(
                header::CONNECTION,
                header::HeaderValue::from_static("close"),
            );
            return response;
        }
    };
    match publish_inner(&shared, is_json, &body).await {
        Ok(v) => Json(v).into_response(),
        Err(e) => {
            shared.metrics.http_error(e.code);
            e.into_response()
        }
    }
}

/// Publishes a body that is the wire bytes, or (`is_json`) `{"message":"<hex>"}`.
async fn publish_inner(shared: &Shared, is_json: bool, body: &[u8]) -> ApiResult<Value> {
    let wire = if is_json {
        let parsed: PublishJson = serde_json::from_slice(body).map_err(|e| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "bad_json",
                format!("expected {{\"message\":\"<hex>\"}}: {e}"),
            )
        })?;
        decode_hex(&parsed.message)?
    } else {
        body.to_vec()
    };
    match submit(shared, wire).await {
        Ok(published) => Ok(serde_json::to_value(published).unwrap_or(Value::Null)),
        Err(e) => Err(submit_error(e)),
    }
}

/// Decodes a hex message (with or without 0x).
pub(crate) fn decode_hex(s: &str) -> ApiResult<Vec<u8>> {
    hex::decode(s.trim_start_matches("0x")).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_hex",
            format!("message is not hex: {e}"),
        )
    })
}

/// The API error for a failed submit.
pub(crate) fn submit_error(e: SubmitError) -> ApiError {
    match e {
        SubmitError::Rejected(rejection) => {
            let status = match rejection.reason() {
                "no_permission" | "bad_signature" => StatusCode::FORBIDDEN,
                "oversize" => StatusCode::PAYLOAD_TOO_LARGE,
                _ => StatusCode::BAD_REQUEST,
            };
            ApiError::new(status, rejection.reason(), rejection.to_string())
        }
        SubmitError::Stopping => stopping(),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct HistoryParams {
    pub(crate) stream: String,
    #[serde(default)]
    pub(crate) partition: u32,
    pub(crate) last: Option<u32>,
    pub(crate) from: Option<u64>,
    pub(crate) to: Option<u64>,
}

async fn history(
    State(shared): State<Arc<Shared>>,
    params: Result<Query<HistoryParams>, QueryRejection>,
) -> Response {
    let result = match params {
        Ok(Query(params)) => history_inner(&shared, params).await,
        Err(rejection) => Err(query_error(rejection)),
    };
    match result {
        Ok(v) => Json(v).into_response(),
        Err(e) => {
            shared.metrics.http_error(e.code);
            e.into_response()
        }
    }
}

/// The stream part a request names by its `stream` and `partition` fields.
pub(crate) fn stream_part(stream: &str, partition: u32) -> Result<StreamPartId, String> {
    let stream_id: StreamId = stream
        .parse()
        .map_err(|e| format!("stream {stream:?}: {e}"))?;
    let partition = Partition::new(partition).map_err(|e| e.to_string())?;
    Ok(StreamPartId::new(stream_id, partition))
}

pub(crate) async fn history_inner(shared: &Shared, p: HistoryParams) -> ApiResult<Value> {
    let part = stream_part(&p.stream, p.partition)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "bad_stream", e))?;
    let query = match (p.last, p.from, p.to) {
        (Some(n), None, None) => HistoryQuery::Last { n },
        (None, Some(from), to) => HistoryQuery::Range {
            from: (from, 0),
            to: (to.unwrap_or(u64::MAX), u32::MAX),
        },
        (None, None, None) => HistoryQuery::Last { n: 100 },
        _ => {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "bad_query",
                "give either last=<n> or from=<ms>[&to=<ms>]",
            ));
        }
    };
    // Page after page (from this node's store, or from a peer that stores the part) up to the answer's
    // limits; `truncated` says there is more.
    let mut wires = Vec::new();
    let mut bytes = 0;
    let mut next = Some(query);
    while let Some(query) = next.take() {
        if wires.len() >= MAX_HISTORY_ANSWER || bytes >= MAX_HISTORY_ANSWER_BYTES {
            next = Some(query);
            break;
        }
        let (page, rest) = history_page(shared, &part, query).await?;
        bytes += page.iter().map(Vec::len).sum::<usize>();
        wires.extend(page);
        next = rest;
    }
    // Peers are not trusted: only events whose signatures hold are passed on.
    let messages: Vec<Value> = wires
        .iter()
        .filter_map(|w| {
            rivulet_protocol::decode_verified(w, &shared.limits)
                .ok()
                .map(|m| message_json(&m, w))
        })
        .collect();
    Ok(json!({ "part": part.to_string(), "messages": messages, "truncated": next.is_some() }))
}

/// Most events in one HTTP or WebSocket history answer.
const MAX_HISTORY_ANSWER: usize = 10_000;
/// Most bytes of events in one HTTP or WebSocket history answer (the JSON is about twice that).
const MAX_HISTORY_ANSWER_BYTES: usize = 16 * 1024 * 1024;

/// One page of a history query: from the store when this node keeps the part, else from a peer.
async fn history_page(
    shared: &Shared,
    part: &StreamPartId,
    query: HistoryQuery,
) -> ApiResult<crate::node::HistoryPage> {
    if shared.parts.contains(part) {
        return query_store(&shared.store, part, &query)
            .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "store", e));
    }
    // Not stored here: ask the peers (storage nodes answer; the others say they do not store it).
    let (reply, rx) = oneshot::channel();
    shared
        .commands
        .send(Command::RemoteHistory {
            part: part.clone(),
            query,
            reply,
        })
        .await
        .map_err(|_| stopping())?;
    rx.await
        .map_err(|_| stopping())?
        .map_err(|e| ApiError::new(StatusCode::NOT_FOUND, "not_stored", e))
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct MessageJson<'a> {
    stream_id: &'a str,
    partition: u8,
    timestamp: u64,
    sequence_number: u32,
    publisher: String,
    chain_id: &'a str,
    prev: Option<rivulet_protocol::MessageRef>,
    message_type: rivulet_protocol::MessageType,
    content_type: ContentType,
    group_key_id: Option<&'a str>,
    /// The content as JSON when it is unencrypted JSON; otherwise hex.
    content: Value,
    signature: String,
    wire: String,
}

/// A message as JSON: every field, the content decoded when it is plain JSON, and the wire bytes.
pub(crate) fn message_json(m: &StreamMessage, wire: &[u8]) -> Value {
    let id = m.id();
    let body = &m.body;
    let content = match (&body.encryption, body.content_type) {
        (Encryption::None, ContentType::Json) => serde_json::from_slice(&body.content)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body.content).into())),
        _ => Value::String(hex::encode(&body.content)),
    };
    serde_json::to_value(MessageJson {
        stream_id: id.stream_id.as_str(),
        partition: id.partition.get(),
        timestamp: id.timestamp,
        sequence_number: id.sequence_number,
        publisher: id.publisher.to_checksum(),
        chain_id: id.chain_id.as_str(),
        prev: body.prev,
        message_type: body.message_type,
        content_type: body.content_type,
        group_key_id: body.encryption.group_key_id().map(|k| k.as_str()),
        content,
        signature: hex::encode(m.signature.0),
        wire: hex::encode(wire),
    })
    .unwrap_or(Value::Null)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StreamsParams {
    id: Option<String>,
    search: Option<String>,
}

async fn streams(
    State(shared): State<Arc<Shared>>,
    params: Result<Query<StreamsParams>, QueryRejection>,
) -> Response {
    let p = match params {
        Ok(Query(p)) => p,
        Err(rejection) => {
            let e = query_error(rejection);
            shared.metrics.http_error(e.code);
            return e.into_response();
        }
    };
    let result = match (p.id, p.search) {
        (Some(id), None) => match id.parse::<rivulet_protocol::StreamId>() {
            Err(e) => Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "bad_stream",
                e.to_string(),
            )),
            Ok(id) => match shared.chain.get_stream(&id).await {
                Ok(Some(info)) => Ok(serde_json::to_value(info).unwrap_or(Value::Null)),
                Ok(None) => Err(ApiError::new(
                    StatusCode::NOT_FOUND,
                    "unknown_stream",
                    format!("no stream {id} in the registry"),
                )),
                Err(e) => Err(ApiError::new(
                    StatusCode::BAD_GATEWAY,
                    "chain",
                    e.to_string(),
                )),
            },
        },
        (None, Some(text)) => match shared.chain.search_streams(&text).await {
            Ok(found) => Ok(json!({ "streams": found })),
            Err(e) => Err(ApiError::new(
                StatusCode::BAD_GATEWAY,
                "chain",
                e.to_string(),
            )),
        },
        _ => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_query",
            "give either id=<stream id> or search=<text>",
        )),
    };
    match result {
        Ok(v) => Json(v).into_response(),
        Err(e) => {
            shared.metrics.http_error(e.code);
            e.into_response()
        }
    }
}
