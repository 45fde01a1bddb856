//! `GET /api/v1/history` and the WebSocket API's `resend`: a stream part's stored events, page after
//! page from the node (its store, or a peer that stores the part), up to one answer's limits.

use std::{net::SocketAddr, sync::Arc};

use axum::{
    Json,
    extract::{ConnectInfo, Query, State, rejection::QueryRejection},
    http::HeaderMap,
    response::{IntoResponse, Response},
};
use rivulet_network::{HistoryQuery, ResumeAfter};
use rivulet_protocol::{Address, ChainId, StreamMessage};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use super::{Api, ApiError, auth, http::stream_part, json::message_json};
use crate::{
    node::{HistoryError, Reader, SourcedPage},
    turns::ReaderKey,
};

/// The most a `last` may ask for.
const MAX_LAST: u32 = 1_000_000;

/// Most events in one HTTP or WebSocket history answer.
const MAX_HISTORY_ANSWER: usize = 10_000;
/// Most bytes of events in one HTTP or WebSocket history answer (the JSON is about twice that).
const MAX_HISTORY_ANSWER_BYTES: usize = 16 * 1024 * 1024;

/// Which history a request asks for.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct HistoryParams {
    pub(crate) stream: String,
    #[serde(default)]
    pub(crate) partition: u32,
    pub(crate) last: Option<u32>,
    pub(crate) from: Option<u64>,
    pub(crate) to: Option<u64>,
    /// The `next` of an earlier, truncated answer: where its rest starts.
    pub(crate) cursor: Option<String>,
}

pub(super) async fn history(
    State(api): State<Arc<Api>>,
    ConnectInfo(client): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    params: Result<Query<HistoryParams>, QueryRejection>,
) -> Response {
    let from = ReaderKey::ip(client.ip());
    let result = match (params, auth::reader(&api, &headers)) {
        (Ok(Query(params)), Ok(reader)) => answer(&api, params, reader.as_ref(), from).await,
        (Err(rejection), _) => Err(ApiError::query(rejection)),
        (_, Err(e)) => Err(e),
    };
    match result {
        Ok(v) => Json(v).into_response(),
        Err(e) => {
            api.node.metrics().http_error(e.code);
            e.into_response()
        }
    }
}

/// A history answer as JSON: `{"part","messages","truncated","next"}`.
#[derive(Serialize)]
pub(crate) struct Answer {
    pub(crate) part: String,
    /// Each message rendered once, as the WebSocket API shows events.
    pub(crate) messages: Vec<Box<RawValue>>,
    /// Whether there is more: ask again with `next`.
    pub(crate) truncated: bool,
    pub(crate) next: Option<String>,
}

/// The answer to `reader`'s history request, made from `from`.
pub(crate) async fn answer(
    api: &Api,
    p: HistoryParams,
    reader: Option<&Reader>,
    from: ReaderKey,
) -> Result<Answer, ApiError> {
    let part = stream_part(&p.stream, p.partition).map_err(ApiError::bad_stream)?;
    if reader.is_none() && !api.node.may_subscribe(None, &part) {
        return Err(ApiError::unauthenticated(format!(
            "{} is not public: sign a challenge for a token (GET /api/v1/auth/challenge, POST /api/v1/auth) and send Authorization: Bearer <token>",
            part.stream_id
        )));
    }
    if p.last.is_some_and(|n| n > MAX_LAST) {
        return Err(ApiError::new(
            axum::http::StatusCode::BAD_REQUEST,
            "bad_query",
            format!("last is at most {MAX_LAST}; ask by time (from, to) for more"),
        ));
    }
    let bad_query =
        |message: String| ApiError::new(axum::http::StatusCode::BAD_REQUEST, "bad_query", message);
    let query = match (p.last, p.from, p.to, &p.cursor) {
        (None, None, None, Some(cursor)) => parse_cursor(cursor).map_err(|e| {
            bad_query(format!(
                "cursor {cursor:?}: {e}; send back an answer's `next` as it came"
            ))
        })?,
        (_, _, _, Some(_)) => {
            return Err(bad_query(
                "a cursor names the rest of an earlier answer whole: give it without last, from or to"
                    .into(),
            ));
        }
        (Some(n), None, None, None) => HistoryQuery::Last { n },
        (None, Some(from), to, None) => HistoryQuery::Range {
            from: (from, 0),
            to: (to.unwrap_or(u64::MAX), u32::MAX),
            resume: None,
        },
        (None, None, None, None) => HistoryQuery::Last { n: 100 },
        _ => {
            return Err(bad_query(
                "give either last=<n> or from=<ms>[&to=<ms>], or cursor=<next>".into(),
            ));
        }
    };
    // One answer at a time per turn: a flood of history requests (anyone may send them) waits here,
    // behind its own requests; a client with too many waiting is refused.
    let _turn = api
        .history_answers
        .take(from)
        .await
        .map_err(HistoryError::from)?;
    // Page after page up to the answer's limits; `truncated` says there is more.
    let mut wires = Vec::new();
    let mut bytes = 0;
    let mut next = Some(query);
    while let Some(query) = next.take() {
        if wires.len() >= MAX_HISTORY_ANSWER || bytes >= MAX_HISTORY_ANSWER_BYTES {
            next = Some(query);
            break;
        }
        let SourcedPage {
            page: (page, rest),
            verified,
        } = api.node.history_page(&part, query, reader, from).await?;
        bytes += page.iter().map(Vec::len).sum::<usize>();
        wires.extend(page.into_iter().map(|w| (w, verified)));
        next = rest;
    }
    // Peers are not trusted: of their pages only events whose signatures hold are passed on. The
    // node's own store holds only events it verified before storing them. Decoding (and verifying)
    // thousands of events is a core's work for a while: off the runtime's workers, in this turn.
    let limits = api.node.limits();
    let messages: Vec<Box<RawValue>> = tokio::task::spawn_blocking(move || {
        wires
            .iter()
            .filter_map(|(w, verified)| {
                let message = if *verified {
                    StreamMessage::decode(w, &limits).ok()
                } else {
                    rivulet_protocol::decode_verified(w, &limits).ok()
                };
                message.map(|m| message_json(&m, w))
            })
            .collect()
    })
    .await
    .map_err(|e| {
        ApiError::new(
            axum::http::StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            format!("encoding the answer failed: {e}"),
        )
    })?;
    Ok(Answer {
        part: part.to_string(),
        messages,
        truncated: next.is_some(),
        next: next.as_ref().and_then(cursor),
    })
}

/// The cursor for the rest of an answer (a `Range`, as every page's rest of a `Last` or a `Range` is):
/// `<from ms>.<from seq>.<to ms>.<to seq>`, then `.<publisher>.<chain id>` when the rest starts after
/// that chain's message at `from` — a page may end among many messages that share one reference.
fn cursor(query: &HistoryQuery) -> Option<String> {
    let HistoryQuery::Range { from, to, resume } = query else {
        return None;
    };
    let mut cursor = format!("{}.{}.{}.{}", from.0, from.1, to.0, to.1);
    if let Some(resume) = resume {
        cursor.push_str(&format!(".{}.{}", resume.publisher, resume.chain_id));
    }
    Some(cursor)
}

/// The query a [`cursor`] names; why not, for anything else.
fn parse_cursor(cursor: &str) -> Result<HistoryQuery, String> {
    let parts: Vec<&str> = cursor.split('.').collect();
    let number = |i: usize| -> Result<u64, String> {
        parts[i]
            .parse()
            .map_err(|_| format!("part {} is not a number", i + 1))
    };
    let seq = |i: usize| -> Result<u32, String> {
        parts[i]
            .parse()
            .map_err(|_| format!("part {} is not a sequence number", i + 1))
    };
    let resume = match parts.len() {
        4 => None,
        6 => {
            let publisher: Address = parts[4].parse().map_err(|e| format!("publisher: {e}"))?;
            let chain_id: ChainId = parts[5].parse().map_err(|e| format!("chain id: {e}"))?;
            Some(ResumeAfter {
                publisher: publisher.to_string(),
                chain_id: chain_id.as_str().to_owned(),
            })
        }
        n => return Err(format!("{n} dot-separated parts, not 4 or 6")),
    };
    Ok(HistoryQuery::Range {
        from: (number(0)?, seq(1)?),
        to: (number(2)?, seq(3)?),
        resume,
    })
}
