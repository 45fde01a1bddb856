//! The HTTP endpoints other than history: health, metrics, publish, and stream records from the
//! registry.

use std::sync::Arc;

use axum::{
    Json,
    body::Bytes,
    extract::{FromRequest, Query, Request, State, rejection::QueryRejection},
    http::{StatusCode, header},
    response::{IntoResponse, Response},
};
use rivulet_protocol::{Partition, StreamId, StreamPartId};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Api, ApiError};
use crate::node::Acks;

pub(super) async fn health(State(api): State<Arc<Api>>) -> Result<Json<Value>, ApiError> {
    let peers = api.node.peers().await.map_err(|_| ApiError::stopping())?;
    Ok(Json(json!({
        "status": "ok",
        "peerId": api.node.peer_id().to_string(),
        "publisher": api.node.publisher().to_checksum(),
        "peers": peers,
        "listen": api.node.listen_addresses(),
        "storage": api
            .node
            .storage()
            .into_iter()
            .map(|(part, state)| json!({ "part": part, "state": state }))
            .collect::<Vec<_>>(),
    })))
}

pub(super) async fn metrics(State(api): State<Arc<Api>>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        api.node.metrics().render(),
    )
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PublishJson {
    message: String,
}

/// `POST /api/v1/publish`'s query: `acks=quorum` waits for a majority of the part's replicas.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct PublishQuery {
    #[serde(default)]
    acks: Option<String>,
}

pub(super) async fn publish(
    State(api): State<Arc<Api>>,
    query: Result<Query<PublishQuery>, QueryRejection>,
    request: Request,
) -> Response {
    let acks = match query {
        Ok(Query(q)) => q.acks.as_deref().unwrap_or("local").parse::<Acks>(),
        Err(e) => Err(e.body_text()),
    };
    let acks = match acks {
        Ok(acks) => acks,
        Err(message) => {
            let e = ApiError::new(StatusCode::BAD_REQUEST, "bad_request", message);
            api.node.metrics().http_error(e.code);
            return e.into_response();
        }
    };
    let limit = api.request_limit();
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
        Err(ApiError::body_over_limit(limit))
    } else {
        Bytes::from_request(request, &())
            .await
            .map_err(|rejection| ApiError::body(rejection, limit))
    };
    let body = match body {
        Ok(body) => body,
        Err(e) => {
            api.node.metrics().http_error(e.code);
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
    match publish_body(&api, is_json, &body, acks).await {
        Ok(v) => Json(v).into_response(),
        Err(e) => {
            api.node.metrics().http_error(e.code);
            e.into_response()
        }
    }
}

/// Publishes a body that is the wire bytes, or (`is_json`) `{"message":"<hex>"}`.
async fn publish_body(
    api: &Api,
    is_json: bool,
    body: &[u8],
    acks: Acks,
) -> Result<Value, ApiError> {
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
    let published = api.node.publish(wire, acks).await?;
    Ok(serde_json::to_value(published).unwrap_or(Value::Null))
}

/// Decodes a hex message (with or without 0x).
pub(super) fn decode_hex(s: &str) -> Result<Vec<u8>, ApiError> {
    let s = s.trim_start_matches("0x");
    // Into a buffer of the right size at once: `hex::decode` collects through an iterator that
    // cannot size it and grows it several times (a visible share of a node's time at full ingest).
    let mut out = vec![0; s.len() / 2];
    hex::decode_to_slice(s, &mut out)
        .map(|()| out)
        .map_err(|e| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "bad_hex",
                format!("message is not hex: {e}"),
            )
        })
}

/// The stream part a request names by its `stream` and `partition` fields.
pub(super) fn stream_part(stream: &str, partition: u32) -> Result<StreamPartId, String> {
    let stream_id: StreamId = stream
        .parse()
        .map_err(|e| format!("stream {stream:?}: {e}"))?;
    let partition = Partition::new(partition).map_err(|e| e.to_string())?;
    Ok(StreamPartId::new(stream_id, partition))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct StreamsParams {
    id: Option<String>,
    search: Option<String>,
}

pub(super) async fn streams(
    State(api): State<Arc<Api>>,
    params: Result<Query<StreamsParams>, QueryRejection>,
) -> Response {
    let result = match params {
        Ok(Query(p)) => streams_answer(&api, p).await,
        Err(rejection) => Err(ApiError::query(rejection)),
    };
    match result {
        Ok(v) => Json(v).into_response(),
        Err(e) => {
            api.node.metrics().http_error(e.code);
            e.into_response()
        }
    }
}

async fn streams_answer(api: &Api, p: StreamsParams) -> Result<Value, ApiError> {
    let chain = |e: String| ApiError::new(StatusCode::BAD_GATEWAY, "chain", e);
    match (p.id, p.search) {
        (Some(id), None) => {
            let id: StreamId = id.parse().map_err(|e: rivulet_protocol::StreamIdError| {
                ApiError::bad_stream(e.to_string())
            })?;
            api.node.stream(&id).await.map_err(chain)?.ok_or_else(|| {
                ApiError::new(
                    StatusCode::NOT_FOUND,
                    "unknown_stream",
                    format!("no stream {id} in the registry"),
                )
            })
        }
        (None, Some(text)) => {
            let found = api.node.search_streams(&text).await.map_err(chain)?;
            Ok(json!({ "streams": found }))
        }
        _ => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_query",
            "give either id=<stream id> or search=<text>",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::decode_hex;

    #[test]
    fn hex_decodes_with_or_without_0x_and_says_what_is_wrong() {
        assert_eq!(decode_hex("0x00ff10").unwrap(), [0, 255, 16]);
        assert_eq!(decode_hex("ABcd").unwrap(), [0xab, 0xcd]);
        assert_eq!(decode_hex("").unwrap(), [0u8; 0]);
        let odd = decode_hex("abc").unwrap_err();
        assert_eq!(
            (odd.code, odd.message.as_str()),
            ("bad_hex", "message is not hex: Odd number of digits")
        );
        let bad = decode_hex("0xzz").unwrap_err();
        assert_eq!(
            bad.message,
            "message is not hex: Invalid character 'z' at position 0"
        );
    }
}
