//! The router in-process, against a fake node: every endpoint's answers and refusals, without a
//! swarm, a chain or a port.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};

use axum::{
    body::Body,
    http::{Request, StatusCode, header},
};
use futures::future::BoxFuture;
use http_body_util::BodyExt;
use rivulet_network::{HistoryQuery, libp2p::PeerId};
use rivulet_protocol::{
    Address, ChainId, ChainSigner, ContentType, Limits, MessageType, PublishError, Signer,
    StreamId, StreamPartId,
};
use rivulet_validate::Rejection;
use serde_json::{Value, json};
use tokio::sync::{broadcast, watch};
use tower::ServiceExt;

use super::{ApiConfig, router};
use crate::{
    metrics::Metrics,
    node::{Delivered, HistoryError, HistoryPage, NodeApi, Published, Stopping, SubmitError},
};

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
}

impl FakeNode {
    fn new() -> FakeNode {
        FakeNode {
            peer_id: PeerId::random(),
            metrics: Metrics::new(),
            pages: Mutex::default(),
            asked: Mutex::default(),
            readers: vec![None],
            publish: |_| {
                Ok(Published {
                    part: "rivulet.eth/a#0".into(),
                    duplicate: false,
                    stored: true,
                })
            },
            events: broadcast::channel(16).0,
            stopping: watch::Sender::new(false),
        }
    }
}

impl NodeApi for FakeNode {
    fn peer_id(&self) -> PeerId {
        self.peer_id
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
    fn publish(&self, wire: Vec<u8>) -> BoxFuture<'_, Result<Published, SubmitError>> {
        Box::pin(async move { (self.publish)(&wire) })
    }
    fn sign_json(&self, _: &StreamPartId, _: Vec<u8>) -> Result<Vec<u8>, PublishError> {
        Ok(Vec::new())
    }
    fn history_page(
        &self,
        _: &StreamPartId,
        query: HistoryQuery,
    ) -> BoxFuture<'_, Result<HistoryPage, HistoryError>> {
        self.asked.lock().unwrap().push(query);
        let mut pages = self.pages.lock().unwrap();
        let page = if pages.is_empty() {
            Err(HistoryError::NotStored(
                "no connected node stores it".into(),
            ))
        } else {
            Ok(pages.remove(0))
        };
        Box::pin(async move { page })
    }
    fn may_subscribe(&self, reader: Option<Address>, _: &StreamPartId) -> bool {
        self.readers.contains(&reader)
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
    ws_max_subscriptions: 1,
};

async fn call(
    node: Arc<FakeNode>,
    request: Request<Body>,
) -> (StatusCode, axum::http::HeaderMap, Value) {
    let response = router(node, CONFIG).oneshot(request).await.unwrap();
    let (status, headers) = (response.status(), response.headers().clone());
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let body = serde_json::from_slice(&bytes)
        .unwrap_or(Value::String(String::from_utf8_lossy(&bytes).into_owned()));
    (status, headers, body)
}

async fn get(node: Arc<FakeNode>, uri: &str) -> (StatusCode, Value) {
    let (status, _, body) = call(node, Request::get(uri).body(Body::empty()).unwrap()).await;
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
    let (status, body) = get(node.clone(), "/health").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["peers"], 2);
    assert_eq!(body["peerId"], node.peer_id.to_string());
    let (status, body) = get(node.clone(), "/nope").await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::NOT_FOUND, Some("not_found"))
    );
    let (status, _, body) = call(
        node.clone(),
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
        node,
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
    let post = |body: Body, content_type: &str| {
        Request::post("/api/v1/publish")
            .header(header::CONTENT_TYPE, content_type)
            .body(body)
            .unwrap()
    };
    let wire = signed(1).remove(0);
    let (status, _, body) = call(
        node.clone(),
        post(Body::from(wire), "application/octet-stream"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body,
        json!({ "part": "rivulet.eth/a#0", "duplicate": false, "stored": true })
    );
    let (status, _, body) = call(
        node.clone(),
        post(Body::from(r#"{"message":"zz"}"#), "application/json"),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("bad_hex"))
    );
    let (status, _, body) = call(node.clone(), post(Body::from("{"), "application/json")).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("bad_json"))
    );
    // Over the limit: refused before reading, and the connection is not reused.
    let (status, headers, body) = call(
        node.clone(),
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
    let (status, _, body) = call(
        refusing.clone(),
        post(Body::from(vec![1]), "application/octet-stream"),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::FORBIDDEN, Some("no_permission"))
    );
    let (_, metrics) = get(refusing, "/metrics").await;
    assert!(
        metrics
            .as_str()
            .unwrap()
            .contains(r#"rivulet_http_errors_total{reason="no_permission"} 1"#),
        "{metrics}"
    );
}

#[tokio::test]
async fn history_follows_pages_verifies_events_and_names_bad_requests() {
    let node = Arc::new(FakeNode::new());
    let mut events = signed(3);
    // A peer's forgery among them: an event with another's content under the first's signature.
    let mut forged = events[1].clone();
    let at = forged.windows(5).position(|w| w == br#""n":1"#).unwrap();
    forged[at + 4] = b'7';
    events.push(forged);
    let rest = HistoryQuery::Range {
        from: (1_002, 0),
        to: (u64::MAX, u32::MAX),
    };
    *node.pages.lock().unwrap() = vec![
        (events[..2].to_vec(), Some(rest.clone())),
        (events[2..].to_vec(), None),
    ];
    let (status, body) = get(node.clone(), "/api/v1/history?stream=rivulet.eth/a&last=5").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["truncated"], false);
    let contents: Vec<&Value> = body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| &m["content"]["n"])
        .collect();
    assert_eq!(
        contents,
        [&json!(0), &json!(1), &json!(2)],
        "the forgery is left out"
    );
    assert_eq!(
        *node.asked.lock().unwrap(),
        vec![HistoryQuery::Last { n: 5 }, rest]
    );
    for (uri, code) in [
        (
            "/api/v1/history?stream=rivulet.eth/a&last=1&from=2",
            "bad_query",
        ),
        (
            "/api/v1/history?stream=rivulet.eth/a&partition=100",
            "bad_stream",
        ),
        ("/api/v1/history?stream=nope", "bad_stream"),
        ("/api/v1/history?stream=rivulet.eth/a&last=x", "bad_query"),
        ("/api/v1/history?stream=rivulet.eth/a&last=1000001", "bad_query"),
        ("/api/v1/history?stream=rivulet.eth/a", "not_stored"),
    ] {
        let (status, body) = get(node.clone(), uri).await;
        assert!(status.is_client_error(), "{uri}: {status}");
        assert_eq!(body["error"], code, "{uri}: {body}");
    }
}

#[tokio::test]
async fn streams_from_the_registry() {
    let node = Arc::new(FakeNode::new());
    let (status, body) = get(node.clone(), "/api/v1/streams?id=rivulet.eth/known").await;
    assert_eq!(
        (status, &body["id"]),
        (StatusCode::OK, &json!("rivulet.eth/known"))
    );
    let (status, body) = get(node.clone(), "/api/v1/streams?id=rivulet.eth/unknown").await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::NOT_FOUND, Some("unknown_stream"))
    );
    let (status, body) = get(node.clone(), "/api/v1/streams?id=rivulet.eth/broken").await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_GATEWAY, Some("chain"))
    );
    let (status, body) = get(node.clone(), "/api/v1/streams?search=known").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["streams"].as_array().unwrap().len(), 1);
    let (status, body) = get(node, "/api/v1/streams").await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("bad_query"))
    );
}
