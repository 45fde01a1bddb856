//! The router in-process, against a fake node: every endpoint's answers and refusals, without a
//! swarm, a chain or a port. The history endpoint's tests are in [`history`].

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{
    net::SocketAddr,
    sync::{Arc, Mutex},
};

use axum::{
    Router,
    body::Body,
    extract::connect_info::MockConnectInfo,
    http::{Request, StatusCode, header},
};
use futures::future::BoxFuture;
use http_body_util::BodyExt;
use rivulet_network::{HistoryQuery, libp2p::PeerId};
use rivulet_protocol::{
    Address, ChainId, ChainSigner, ContentType, Limits, MessageType, Signer, StreamId, StreamPartId,
};
use rivulet_validate::Rejection;
use serde_json::{Value, json};
use tokio::sync::{broadcast, watch};
use tower::ServiceExt;

use super::{ApiConfig, router};
use crate::{
    metrics::Metrics,
    node::{
        Acks, Delivered, HistoryError, HistoryPage, NodeApi, Published, QuorumError, Reader,
        SourcedPage, Stopping, SubmitError,
    },
    turns::ReaderKey,
};

mod history;

/// A node that answers from what the test put in it.
struct FakeNode {
    peer_id: PeerId,
    metrics: Metrics,
    /// Pages of history, served one per request, in order.
    pages: Mutex<Vec<HistoryPage>>,
    /// Queries asked, in order.
    asked: Mutex<Vec<HistoryQuery>>,
    /// Readers that may subscribe (`None`: anonymous).
    readers: Vec<Option<Address>>,
    publish: fn(&[u8]) -> Result<Published, SubmitError>,
    events: broadcast::Sender<Arc<Delivered>>,
    stopping: watch::Sender<bool>,
    /// The chain's clock, Unix seconds.
    now: Mutex<u64>,
    /// When set, each history page waits for a permit of it first.
    gate: Option<Arc<tokio::sync::Semaphore>>,
}

impl FakeNode {
    fn new() -> FakeNode {
        FakeNode {
            peer_id: PeerId::random(),
            metrics: Metrics::new(None),
            pages: Mutex::default(),
            asked: Mutex::default(),
            readers: vec![None],
            publish: |_| {
                Ok(Published {
                    part: "rivulet.eth/a#0".into(),
                    duplicate: false,
                    stored: true,
                    replicas: None,
                })
            },
            events: broadcast::channel(16).0,
            stopping: watch::Sender::new(false),
            now: Mutex::new(1_800_000_000),
            gate: None,
        }
    }
}

impl NodeApi for FakeNode {
    fn peer_id(&self) -> PeerId {
        self.peer_id
    }
    fn listen_addresses(&self) -> Vec<String> {
        vec![format!("/ip4/127.0.0.1/tcp/1/p2p/{}", self.peer_id)]
    }
    fn storage(&self) -> Vec<(String, &'static str)> {
        vec![("rivulet.eth/stored#0".to_owned(), "serving")]
    }
    fn publisher(&self) -> Address {
        Address([1; 20])
    }
    fn metrics(&self) -> &Metrics {
        &self.metrics
    }
    fn limits(&self) -> Limits {
        Limits {
            max_content_len: 1024,
        }
    }
    fn peers(&self) -> BoxFuture<'_, Result<usize, Stopping>> {
        Box::pin(async { Ok(2) })
    }
    fn publish(&self, wire: Vec<u8>, acks: Acks) -> BoxFuture<'_, Result<Published, SubmitError>> {
        Box::pin(async move {
            // A fake with no replicas: a quorum is never reached.
            match acks {
                Acks::Local => (self.publish)(&wire),
                Acks::Quorum => Err(SubmitError::Quorum(QuorumError::NotStored(
                    "rivulet.eth/a#0".into(),
                ))),
            }
        })
    }
    fn publish_json(
        &self,
        part: &StreamPartId,
        _: Vec<u8>,
    ) -> BoxFuture<'_, Result<Published, rivulet_client::ClientError>> {
        let part = part.to_string();
        Box::pin(async move {
            Ok(Published {
                part,
                duplicate: false,
                stored: false,
                replicas: None,
            })
        })
    }
    fn history_page(
        &self,
        part: &StreamPartId,
        query: HistoryQuery,
        reader: Option<&Reader>,
        _: ReaderKey,
    ) -> BoxFuture<'_, Result<SourcedPage, HistoryError>> {
        self.asked.lock().unwrap().push(query);
        if let Some(gate) = self.gate.clone() {
            return Box::pin(async move {
                let _permit = gate.acquire().await;
                Err(HistoryError::NotStored("gated".into()))
            });
        }
        if !self.may_subscribe(reader.map(|r| r.address), part) {
            return Box::pin(async { Err(HistoryError::NoPermission("not allowed".into())) });
        }
        let mut pages = self.pages.lock().unwrap();
        let page = if pages.is_empty() {
            Err(HistoryError::NotStored(
                "no connected node stores it".into(),
            ))
        } else {
            // As a peer's pages: their events are verified before they are passed on.
            Ok(SourcedPage {
                page: pages.remove(0),
                verified: false,
            })
        };
        Box::pin(async move { page })
    }
    fn may_subscribe(&self, reader: Option<Address>, _: &StreamPartId) -> bool {
        self.readers.contains(&reader)
    }
    fn now_secs(&self) -> u64 {
        *self.now.lock().unwrap()
    }
    fn events(&self) -> broadcast::Receiver<Arc<Delivered>> {
        self.events.subscribe()
    }
    fn join(&self, _: StreamPartId) -> BoxFuture<'_, ()> {
        Box::pin(async {})
    }
    fn leave(&self, _: StreamPartId) -> BoxFuture<'_, ()> {
        Box::pin(async {})
    }
    fn stream(&self, id: &StreamId) -> BoxFuture<'_, Result<Option<Value>, String>> {
        let answer = match id.as_str() {
            "rivulet.eth/known" => Ok(Some(json!({ "id": id.as_str() }))),
            "rivulet.eth/broken" => Err("the chain is down".into()),
            _ => Ok(None),
        };
        Box::pin(async move { answer })
    }
    fn search_streams(&self, _: &str) -> BoxFuture<'_, Result<Vec<Value>, String>> {
        Box::pin(async { Ok(vec![json!({ "id": "rivulet.eth/known" })]) })
    }
    fn stopping(&self) -> watch::Receiver<bool> {
        self.stopping.subscribe()
    }
}

const CONFIG: ApiConfig = ApiConfig {
    ws_rate: 10,
    ws_max_connections: 1,
    ws_max_connections_per_address: 1,
    ws_max_subscriptions: 1,
};

/// The API over `node` (one router: its token secret lives as long as it), its clients calling from
/// one address as over a real connection.
fn app(node: &Arc<FakeNode>) -> Router {
    router(node.clone(), CONFIG).layer(MockConnectInfo(SocketAddr::from(([192, 0, 2, 1], 40000))))
}

async fn call(app: &Router, request: Request<Body>) -> (StatusCode, axum::http::HeaderMap, Value) {
    let response = app.clone().oneshot(request).await.unwrap();
    let (status, headers) = (response.status(), response.headers().clone());
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let body = serde_json::from_slice(&bytes)
        .unwrap_or(Value::String(String::from_utf8_lossy(&bytes).into_owned()));
    (status, headers, body)
}

async fn get(app: &Router, uri: &str) -> (StatusCode, Value) {
    let (status, _, body) = call(app, Request::get(uri).body(Body::empty()).unwrap()).await;
    (status, body)
}

fn signed(n: usize) -> Vec<Vec<u8>> {
    let mut publisher = ChainSigner::new(
        Signer::from_bytes(&[4; 32]).unwrap(),
        ChainId::new("c").unwrap(),
    );
    let part: StreamPartId = "rivulet.eth/a#0".parse().unwrap();
    (0..n)
        .map(|i| {
            publisher
                .sign_next(
                    &part,
                    1_000 + i as u64,
                    MessageType::Data,
                    ContentType::Json,
                    format!("{{\"n\":{i}}}").into_bytes(),
                    None,
                    &mut rand::rng(),
                )
                .unwrap()
                .encode()
                .unwrap()
        })
        .collect()
}

#[tokio::test]
async fn health_unknown_paths_and_methods() {
    let node = Arc::new(FakeNode::new());
    let app = app(&node);
    let (status, body) = get(&app, "/health").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["peers"], 2);
    assert_eq!(body["peerId"], node.peer_id.to_string());
    assert_eq!(
        body["storage"],
        serde_json::json!([{ "part": "rivulet.eth/stored#0", "state": "serving" }])
    );
    let (status, body) = get(&app, "/nope").await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::NOT_FOUND, Some("not_found"))
    );
    let (status, _, body) = call(
        &app,
        Request::delete("/api/v1/publish")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert!(
        body["message"].as_str().unwrap().contains("takes POST"),
        "{body}"
    );
    // A CORS preflight from any origin.
    let (status, headers, _) = call(
        &app,
        Request::options("/api/v1/publish")
            .header(header::ORIGIN, "https://example.org")
            .header(header::ACCESS_CONTROL_REQUEST_METHOD, "POST")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert!(status.is_success());
    assert_eq!(headers[header::ACCESS_CONTROL_ALLOW_ORIGIN], "*");
}

#[tokio::test]
async fn publish_answers_and_refusals() {
    let node = Arc::new(FakeNode::new());
    let app = app(&node);
    let post = |body: Body, content_type: &str| {
        Request::post("/api/v1/publish")
            .header(header::CONTENT_TYPE, content_type)
            .body(body)
            .unwrap()
    };
    let wire = signed(1).remove(0);
    let (status, _, body) = call(&app, post(Body::from(wire), "application/octet-stream")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body,
        json!({ "part": "rivulet.eth/a#0", "duplicate": false, "stored": true })
    );
    let (status, _, body) = call(
        &app,
        post(Body::from(r#"{"message":"zz"}"#), "application/json"),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("bad_hex"))
    );
    let (status, _, body) = call(&app, post(Body::from("{"), "application/json")).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("bad_json"))
    );
    // Over the limit: refused before reading, and the connection is not reused.
    let (status, headers, body) = call(
        &app,
        post(Body::from(vec![0u8; 64 * 1024]), "application/octet-stream"),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::PAYLOAD_TOO_LARGE, Some("oversize"))
    );
    assert_eq!(headers[header::CONNECTION], "close");
    // The node's refusals keep their reason, with the status that fits it.
    let refusing = Arc::new(FakeNode {
        publish: |_| {
            Err(SubmitError::Rejected(Rejection::NoPermission {
                stream_id: "rivulet.eth/a".into(),
                publisher: Address([2; 20]),
                at_secs: 1,
                action: "publish",
            }))
        },
        ..FakeNode::new()
    });
    let refusing_app = super::tests::app(&refusing);
    let (status, _, body) = call(
        &refusing_app,
        post(Body::from(vec![1]), "application/octet-stream"),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::FORBIDDEN, Some("no_permission"))
    );
    let (_, metrics) = get(&refusing_app, "/metrics").await;
    assert!(
        metrics
            .as_str()
            .unwrap()
            .contains(r#"rivulet_http_errors_total{reason="no_permission"} 1"#),
        "{metrics}"
    );
}

#[tokio::test]
async fn streams_from_the_registry() {
    let node = Arc::new(FakeNode::new());
    let app = app(&node);
    let (status, body) = get(&app, "/api/v1/streams?id=rivulet.eth/known").await;
    assert_eq!(
        (status, &body["id"]),
        (StatusCode::OK, &json!("rivulet.eth/known"))
    );
    let (status, body) = get(&app, "/api/v1/streams?id=rivulet.eth/unknown").await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::NOT_FOUND, Some("unknown_stream"))
    );
    let (status, body) = get(&app, "/api/v1/streams?id=rivulet.eth/broken").await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_GATEWAY, Some("chain"))
    );
    let (status, body) = get(&app, "/api/v1/streams?search=known").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["streams"].as_array().unwrap().len(), 1);
    let (status, body) = get(&app, "/api/v1/streams").await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("bad_query"))
    );
}
