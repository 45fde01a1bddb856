//! The WebSocket API: JSON text frames, one connection per client, for clients in any language.
//!
//! On connect the node sends `{"type":"challenge","nonce":…,"node":<peer id>,"text":…}`. A client that
//! wants its address recognised (for streams that are not public) answers `{"type":"auth","address":…,
//! "signature":…}`, an EIP-191 `personal_sign` of `text` — what any wallet or ethers' `signMessage` makes.
//! Then, with an optional `id` echoed in the answer:
//!
//! - `{"type":"subscribe","stream":…,"partition":0}` → `subscribed`; events arrive as
//!   `{"type":"message","part":…,"message":{…}}` while the subscriber may subscribe (checked per event, so
//!   a lapsed licence stops delivery with an `unsubscribed` frame);
//! - `{"type":"unsubscribe","stream":…,"partition":0}` → `unsubscribed`;
//! - `{"type":"publish","message":"<hex wire>"}` → `published` (publishes are pipelined: the node reads
//!   on while earlier ones are validated and stored, up to 256 in flight, and answers them in order);
//! - `{"type":"resend","stream":…,"partition":0,"last":n}` (or `from`/`to` in ms) → `resent` with messages,
//!   from this node's store.
//!
//! Every failure is `{"type":"error","id":…,"error":<code>,"message":<what and why>}` and the connection
//! stays open. Frames beyond the rate limit are refused (`rate_limited`); a subscriber that reads too slowly
//! loses events beyond [`WS_QUEUE_BYTES`] waiting and is told how many (`lagged`).

use std::{
    collections::HashSet,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use axum::{
    extract::{
        State, WebSocketUpgrade,
        ws::{CloseFrame, Message, WebSocket},
    },
    response::{IntoResponse, Response},
};
use futures::{
    SinkExt, StreamExt,
    stream::{FuturesOrdered, SplitSink},
};
use rand::RngExt;
use rivulet_protocol::{
    Address, ChainId, ContentType, Signature, StreamPartId, UnsignedMessage,
    signing::recover_personal,
};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::{broadcast::error::RecvError, mpsc};

use crate::{
    http::{HistoryParams, decode_hex, history_inner, stream_part, submit_error},
    node::{Command, Shared, now_ms, submit},
};

/// Upgrades `GET /api/v1/ws` to a WebSocket session, unless the node already serves as many as it may
/// (503 `too_many_connections`).
pub(crate) async fn upgrade(ws: WebSocketUpgrade, State(shared): State<Arc<Shared>>) -> Response {
    let Some(slot) = ConnectionSlot::take(&shared) else {
        shared.metrics.http_error("too_many_connections");
        return crate::http::ApiError::new(
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            "too_many_connections",
            format!(
                "this node serves at most {} WebSocket connections; try another node, or later",
                shared.ws_max_connections
            ),
        )
        .into_response();
    };
    ws.max_message_size(crate::http::request_limit(&shared))
        .on_upgrade(move |socket| async move {
            session(socket, shared).await;
            drop(slot);
        })
}

/// One of the node's `ws_max_connections` places, held for a connection's lifetime.
struct ConnectionSlot(Arc<Shared>);

impl ConnectionSlot {
    fn take(shared: &Arc<Shared>) -> Option<ConnectionSlot> {
        shared
            .ws_connections
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < shared.ws_max_connections).then_some(n + 1)
            })
            .ok()?;
        shared.metrics.ws_connections.inc();
        Some(ConnectionSlot(shared.clone()))
    }
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        self.0.ws_connections.fetch_sub(1, Ordering::AcqRel);
        self.0.metrics.ws_connections.dec();
    }
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
enum ClientFrame {
    Auth {
        address: String,
        signature: String,
    },
    Subscribe {
        id: Option<Value>,
        stream: String,
        #[serde(default)]
        partition: u32,
    },
    Unsubscribe {
        id: Option<Value>,
        stream: String,
        #[serde(default)]
        partition: u32,
    },
    Publish {
        id: Option<Value>,
        /// A signed message (hex wire bytes)...
        message: Option<String>,
        /// ...or plain JSON content for the node to sign with its own key.
        content: Option<Value>,
        stream: Option<String>,
        #[serde(default)]
        partition: u32,
    },
    Resend {
        id: Option<Value>,
        stream: String,
        #[serde(default)]
        partition: u32,
        last: Option<u32>,
        from: Option<u64>,
        to: Option<u64>,
    },
}

/// A token bucket: `rate` frames per second, bursts up to twice that.
struct Bucket {
    tokens: f64,
    rate: f64,
    last: Instant,
}

impl Bucket {
    fn new(rate: u32) -> Bucket {
        Bucket {
            tokens: f64::from(rate) * 2.0,
            rate: f64::from(rate),
            last: Instant::now(),
        }
    }

    fn take(&mut self) -> bool {
        let now = Instant::now();
        self.tokens = (self.tokens + now.duration_since(self.last).as_secs_f64() * self.rate)
            .min(self.rate * 2.0);
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

fn error(id: &Option<Value>, code: &str, message: impl Into<String>) -> Value {
    json!({ "type": "error", "id": id, "error": code, "message": message.into() })
}

struct Session {
    shared: Arc<Shared>,
    address: Option<Address>,
    challenge: String,
    subscriptions: HashSet<StreamPartId>,
    /// Publishes waiting for the node's answer, in the order they came.
    pending: FuturesOrdered<futures::future::BoxFuture<'static, Value>>,
}

/// Publishes one connection may have in flight before the node stops reading from it.
const MAX_PENDING: usize = 256;

impl Session {
    fn may_subscribe(&self, part: &StreamPartId) -> bool {
        self.shared.may_subscribe(self.address, part)
    }

    async fn handle(&mut self, text: &str) -> Value {
        let frame: ClientFrame = match serde_json::from_str(text) {
            Ok(f) => f,
            Err(e) => {
                return error(
                    &None,
                    "bad_frame",
                    format!(
                        "not a frame this node understands ({e}); types: auth, subscribe, unsubscribe, publish, resend"
                    ),
                );
            }
        };
        match frame {
            ClientFrame::Auth { address, signature } => self.auth(&address, &signature),
            ClientFrame::Subscribe {
                id,
                stream,
                partition,
            } => {
                let part = match stream_part(&stream, partition) {
                    Ok(p) => p,
                    Err(e) => return error(&id, "bad_stream", e),
                };
                if !self.subscriptions.contains(&part)
                    && self.subscriptions.len() >= self.shared.ws_max_subscriptions
                {
                    return error(
                        &id,
                        "too_many_subscriptions",
                        format!(
                            "a connection may subscribe to at most {} stream parts; unsubscribe from one first",
                            self.shared.ws_max_subscriptions
                        ),
                    );
                }
                if !self.may_subscribe(&part) {
                    let who = self
                        .address
                        .map_or("an unauthenticated client".to_owned(), |a| a.to_string());
                    return error(
                        &id,
                        "no_permission",
                        format!("{who} may not subscribe to {}", part.stream_id),
                    );
                }
                if self.subscriptions.insert(part.clone()) {
                    let _ = self
                        .shared
                        .commands
                        .send(Command::Join { part: part.clone() })
                        .await;
                }
                json!({ "type": "subscribed", "id": id, "part": part.to_string() })
            }
            ClientFrame::Unsubscribe {
                id,
                stream,
                partition,
            } => {
                let part = match stream_part(&stream, partition) {
                    Ok(p) => p,
                    Err(e) => return error(&id, "bad_stream", e),
                };
                if self.subscriptions.remove(&part) {
                    let _ = self
                        .shared
                        .commands
                        .send(Command::Leave { part: part.clone() })
                        .await;
                }
                json!({ "type": "unsubscribed", "id": id, "part": part.to_string() })
            }
            ClientFrame::Publish {
                id,
                message,
                content,
                stream,
                partition,
            } => {
                let wire = match (message, content, stream) {
                    (Some(hex), None, None) => match decode_hex(&hex) {
                        Ok(w) => w,
                        Err(e) => return error(&id, e.code, e.message),
                    },
                    (None, Some(content), Some(stream)) => {
                        match self.node_signed(&stream, partition, &content) {
                            Ok(w) => w,
                            Err((code, message)) => return error(&id, code, message),
                        }
                    }
                    _ => {
                        return error(
                            &id,
                            "bad_frame",
                            "publish takes either \"message\" (signed, hex) or \"stream\" and \"content\" (for the node to sign)",
                        );
                    }
                };
                // Answered when the node has it (stored, where it stores the part); meanwhile the
                // connection goes on reading, so a publisher can keep many events in flight.
                let shared = self.shared.clone();
                self.pending.push_back(Box::pin(async move {
                    match submit(&shared, wire).await {
                        Ok(p) => {
                            json!({ "type": "published", "id": id, "part": p.part, "duplicate": p.duplicate, "stored": p.stored })
                        }
                        Err(e) => {
                            let e = submit_error(e);
                            shared.metrics.http_error(e.code);
                            error(&id, e.code, e.message)
                        }
                    }
                }));
                Value::Null
            }
            ClientFrame::Resend {
                id,
                stream,
                partition,
                last,
                from,
                to,
            } => {
                if let Ok(part) = stream_part(&stream, partition)
                    && !self.may_subscribe(&part)
                {
                    return error(
                        &id,
                        "no_permission",
                        format!("no subscribe permission on {}", part.stream_id),
                    );
                }
                match history_inner(
                    &self.shared,
                    HistoryParams {
                        stream,
                        partition,
                        last,
                        from,
                        to,
                    },
                )
                .await
                {
                    Ok(v) => {
                        json!({ "type": "resent", "id": id, "part": v["part"], "messages": v["messages"], "truncated": v["truncated"] })
                    }
                    Err(e) => error(&id, e.code, e.message),
                }
            }
        }
    }

    /// An event with `content`, signed by the node's own publisher key (which needs publish permission).
    fn node_signed(
        &self,
        stream: &str,
        partition: u32,
        content: &Value,
    ) -> Result<Vec<u8>, (&'static str, String)> {
        let part = stream_part(stream, partition).map_err(|e| ("bad_stream", e))?;
        let signer = &self.shared.publisher;
        let (at, prev) = {
            let mut chains = match self.shared.chains.lock() {
                Ok(c) => c,
                Err(p) => p.into_inner(),
            };
            chains.entry(part.clone()).or_default().next(now_ms())
        };
        let chain_id = ChainId::new(format!("node-{}", &self.shared.peer_id.to_base58()[..16]))
            .map_err(|e| ("internal", e.to_string()))?;
        let body = UnsignedMessage::data(
            &part,
            signer.address(),
            chain_id,
            (at, prev),
            ContentType::Json,
            content.to_string().into_bytes(),
        );
        signer
            .sign(body)
            .and_then(|m| m.encode().map_err(Into::into))
            .map_err(|e| ("internal", e.to_string()))
    }

    fn auth(&mut self, address: &str, signature: &str) -> Value {
        let claimed: Address = match address.parse() {
            Ok(a) => a,
            Err(e) => return error(&None, "bad_address", format!("address: {e}")),
        };
        let Some(sig) = hex::decode(signature.trim_start_matches("0x"))
            .ok()
            .and_then(|b| <[u8; 65]>::try_from(b).ok())
        else {
            return error(&None, "bad_signature", "signature must be 65 bytes of hex");
        };
        match recover_personal(self.challenge.as_bytes(), &Signature(sig)) {
            Ok(recovered) if recovered == claimed => {
                self.address = Some(claimed);
                json!({ "type": "authenticated", "address": claimed.to_checksum() })
            }
            Ok(recovered) => error(
                &None,
                "bad_signature",
                format!("the challenge was signed by {recovered}, not {claimed}"),
            ),
            Err(e) => error(&None, "bad_signature", e.to_string()),
        }
    }
}

/// The close frame for a connection whose next frame could not be read: 1009 for a message over the
/// limit, 1007 for text that is not UTF-8, 1002 for other protocol violations; none when the connection
/// is already gone.
fn read_error_close(error: axum::Error, max_content: usize) -> Option<CloseFrame> {
    use tokio_tungstenite::tungstenite::Error;
    let inner = error.into_inner();
    let (code, mut reason) = match inner.downcast_ref::<Error>()? {
        Error::Capacity(e) => (
            1009,
            format!("{e}; an event carries at most {max_content} bytes of content"),
        ),
        Error::Utf8(_) => (1007, "a text frame that is not UTF-8".to_owned()),
        Error::Protocol(e) => (1002, e.to_string()),
        _ => return None,
    };
    // A close frame's reason has room for 123 bytes.
    while reason.len() > 123 {
        reason.pop();
    }
    Some(CloseFrame {
        code,
        reason: reason.into(),
    })
}

/// Bytes of frames a session lets wait for a slow reader before it drops events.
const WS_QUEUE_BYTES: usize = 16 * 1024 * 1024;

/// The frames a session sends. A task of their own writes them to the socket, so the session never waits
/// on a slow reader: events beyond [`WS_QUEUE_BYTES`] waiting are dropped and counted, and the client is
/// told how many (`lagged`) once it has caught up; answers, notices and close frames always go.
struct Outbox {
    frames: mpsc::UnboundedSender<Message>,
    /// Bytes sent to the writer and not yet written.
    queued: Arc<AtomicUsize>,
    /// Events dropped since the last `lagged` notice.
    dropped: u64,
}

impl Outbox {
    fn new() -> (Outbox, mpsc::UnboundedReceiver<Message>) {
        let (frames, receiver) = mpsc::unbounded_channel();
        let outbox = Outbox {
            frames,
            queued: Arc::default(),
            dropped: 0,
        };
        (outbox, receiver)
    }

    /// Writes the frames to `sink` until the outbox is dropped or a close frame went; then closes (which
    /// also answers a client's close).
    fn writer(
        &self,
        mut sink: SplitSink<WebSocket, Message>,
        mut frames: mpsc::UnboundedReceiver<Message>,
    ) -> tokio::task::JoinHandle<()> {
        let queued = self.queued.clone();
        tokio::spawn(async move {
            while let Some(frame) = frames.recv().await {
                let (len, closing) = (text_len(&frame), matches!(frame, Message::Close(_)));
                let sent = sink.send(frame).await.is_ok();
                queued.fetch_sub(len, Ordering::AcqRel);
                if !sent || closing {
                    break;
                }
            }
            let _ = sink.close().await;
        })
    }

    /// Sends a frame that must go; false when the connection is gone.
    fn send(&self, frame: Message) -> bool {
        self.queued.fetch_add(text_len(&frame), Ordering::AcqRel);
        self.frames.send(frame).is_ok()
    }

    /// Sends a JSON frame that must go.
    fn send_json(&self, frame: &Value) -> bool {
        self.send(Message::Text(frame.to_string().into()))
    }

    /// Sends an event frame, unless [`WS_QUEUE_BYTES`] are already waiting: then it is dropped and
    /// counted. False when the connection is gone.
    fn send_event(&mut self, frame: String) -> bool {
        let queued = self.queued.load(Ordering::Acquire);
        if self.dropped > 0 && queued <= WS_QUEUE_BYTES / 2 {
            let notice = error(
                &None,
                "lagged",
                format!(
                    "{} events dropped: this connection reads too slowly",
                    self.dropped
                ),
            );
            self.dropped = 0;
            if !self.send_json(&notice) {
                return false;
            }
        }
        if queued > 0 && queued + frame.len() > WS_QUEUE_BYTES {
            self.dropped += 1;
            return true;
        }
        self.send(Message::Text(frame.into()))
    }
}

fn text_len(frame: &Message) -> usize {
    match frame {
        Message::Text(text) => text.as_str().len(),
        _ => 0,
    }
}

async fn session(socket: WebSocket, shared: Arc<Shared>) {
    let (mut sink, mut frames) = socket.split();
    let nonce: [u8; 16] = rand::rng().random();
    let challenge = format!(
        "Sign in to Rivulet node {}\nnonce: {}",
        shared.peer_id,
        hex::encode(nonce)
    );
    let hello = json!({ "type": "challenge", "node": shared.peer_id.to_string(), "nonce": hex::encode(nonce), "text": challenge });
    if sink
        .send(Message::Text(hello.to_string().into()))
        .await
        .is_err()
    {
        return;
    }
    let mut events = shared.events.subscribe();
    let mut stopping = shared.stopping.subscribe();
    let mut session = Session {
        shared: shared.clone(),
        address: None,
        challenge,
        subscriptions: HashSet::new(),
        pending: FuturesOrdered::new(),
    };
    let mut bucket = Bucket::new(shared.ws_rate);
    let mut permission_checked = Instant::now();
    let (mut outbox, frames_out) = Outbox::new();
    let writer = outbox.writer(sink, frames_out);
    'session: loop {
        let out = tokio::select! {
            // Publishes answered in the order they came.
            Some(answer) = session.pending.next(), if !session.pending.is_empty() => Some(answer),
            // At most MAX_PENDING publishes in flight per connection: beyond that, reading waits.
            frame = frames.next(), if session.pending.len() < MAX_PENDING => match frame {
                Some(Ok(Message::Text(text))) => {
                    if bucket.take() {
                        Some(session.handle(&text).await)
                    } else {
                        shared.metrics.http_error("rate_limited");
                        Some(error(&None, "rate_limited", format!("more than {} frames per second; frame dropped", shared.ws_rate)))
                    }
                }
                Some(Ok(Message::Binary(_))) => Some(error(&None, "bad_frame", "send JSON text frames")),
                // The client's close: the writer answers it as it closes, as RFC 6455 (5.5.1) asks.
                Some(Ok(Message::Close(_))) => break,
                // A frame the node cannot read ends the connection (the stream cannot resume after
                // it), with the close code that says why.
                Some(Err(e)) => {
                    if let Some(frame) = read_error_close(e, shared.limits.max_content_len) {
                        outbox.send(Message::Close(Some(frame)));
                    }
                    break;
                }
                None => break,
                Some(Ok(_)) => None, // ping/pong: answered by the server
            },
            event = events.recv() => match event {
                Ok(delivered) if session.subscriptions.contains(&delivered.part) => {
                    // Permissions can lapse (licences expire): re-check at most once a second.
                    if permission_checked.elapsed() > Duration::from_secs(1) {
                        permission_checked = Instant::now();
                        let lapsed: Vec<StreamPartId> =
                            session.subscriptions.iter().filter(|p| !session.may_subscribe(p)).cloned().collect();
                        for part in &lapsed {
                            session.subscriptions.remove(part);
                            let _ = shared.commands.send(Command::Leave { part: part.clone() }).await;
                            let frame = json!({ "type": "unsubscribed", "part": part.to_string(), "reason": "subscribe permission ended" });
                            if !outbox.send_json(&frame) {
                                break 'session;
                            }
                        }
                        if lapsed.contains(&delivered.part) {
                            continue;
                        }
                    }
                    let frame = format!(r#"{{"type":"message","part":{},"message":{}}}"#, json!(delivered.part.to_string()), delivered.json);
                    if !outbox.send_event(frame) {
                        break;
                    }
                    None
                }
                Ok(_) => None,
                Err(RecvError::Lagged(n)) => Some(error(&None, "lagged", format!("{n} events dropped: this connection reads too slowly"))),
                Err(RecvError::Closed) => break,
            },
            // The node is shutting down: say so with "going away" (1001).
            // (The value only ever changes to true.)
            Ok(()) = stopping.changed() => {
                outbox.send(Message::Close(Some(CloseFrame { code: 1001, reason: "node stopping".into() })));
                break;
            }
        };
        if let Some(frame) = out.filter(|f| !f.is_null())
            && !outbox.send_json(&frame)
        {
            break;
        }
    }
    for part in session.subscriptions {
        let _ = shared.commands.send(Command::Leave { part }).await;
    }
    // The writer sends what is left and closes; a client that no longer reads gets a second.
    drop(outbox);
    let _ = tokio::time::timeout(Duration::from_secs(1), writer).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(frame: Message) -> String {
        match frame {
            Message::Text(t) => t.as_str().to_owned(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_slow_reader_loses_events_beyond_the_bound_and_is_told_how_many() {
        let (mut outbox, mut written) = Outbox::new();
        let event = "x".repeat(1 << 20);
        let fit = WS_QUEUE_BYTES >> 20;
        // Nothing is written meanwhile: events beyond the bound are dropped, answers still go.
        for _ in 0..fit + 5 {
            assert!(outbox.send_event(event.clone()));
        }
        assert!(outbox.send_json(&json!({ "type": "published" })));
        assert_eq!(outbox.dropped, 5);
        let mut queued = Vec::new();
        while let Ok(frame) = written.try_recv() {
            queued.push(text(frame));
        }
        assert_eq!(queued.len(), fit + 1);
        assert!(queued[fit].contains("published"));
        // The writer catches up: the next event is preceded by the count of what was lost.
        outbox.queued.store(0, Ordering::Release);
        assert!(outbox.send_event("{}".into()));
        let notice: Value = serde_json::from_str(&text(written.try_recv().unwrap())).unwrap();
        assert_eq!(notice["error"], "lagged");
        assert!(
            notice["message"]
                .as_str()
                .unwrap()
                .starts_with("5 events dropped"),
            "{notice}"
        );
        assert_eq!(text(written.try_recv().unwrap()), "{}");
        assert_eq!(outbox.dropped, 0);
        // A connection that is gone says so.
        drop(written);
        assert!(!outbox.send_event("{}".into()));
    }
}
