//! The WebSocket API: JSON text frames (binary ones for events as wire bytes), one connection per
//! client, for clients in any language.
//!
//! On connect the node sends `{"type":"challenge","nonce":…,"node":<peer id>,"text":…}`. A client that
//! wants its address recognised (for streams that are not public) answers `{"type":"auth","address":…,
//! "signature":…}`, an EIP-191 `personal_sign` of `text` — what any wallet or ethers' `signMessage` makes.
//! Then, with an optional `id` echoed in the answer:
//!
//! - `{"type":"subscribe","stream":…,"partition":0}` → `subscribed`; events arrive as
//!   `{"type":"message","part":…,"message":{…}}` — or, with `"format":"wire"`, as binary frames of the
//!   signed wire bytes — while the subscriber may subscribe (re-checked at most once a second while
//!   the part's events flow, so a lapsed licence stops delivery with an `unsubscribed` frame);
//! - `{"type":"unsubscribe","stream":…,"partition":0}` → `unsubscribed`;
//! - `{"type":"publish","message":"<hex wire>"}` → `published` (publishes are pipelined: the node reads
//!   on while earlier ones are validated and stored, up to 256 in flight, and answers them in order);
//!   a binary frame is a publish too: the event's signed wire bytes, answered in the same order;
//! - `{"type":"resend","stream":…,"partition":0,"last":n}` (or `from`/`to` in ms, or `cursor`: an earlier
//!   answer's `next`) → `resent` with messages and `next`.
//!
//! Every failure is `{"type":"error","id":…,"error":<code>,"message":<what and why>}` and the connection
//! stays open. Frames beyond the rate limit are refused (`rate_limited`); a subscriber that reads too slowly
//! loses events beyond [`outbox::WS_QUEUE_BYTES`] waiting and is told how many (`lagged`). RFC 6455
//! closing: a client's close is answered, 1001 when the node stops, 1009/1007/1002 for unreadable
//! messages.

mod outbox;
mod session;

use std::{
    net::SocketAddr,
    sync::{Arc, atomic::Ordering},
    time::{Duration, Instant},
};

use axum::{
    extract::{
        ConnectInfo, State, WebSocketUpgrade,
        ws::{CloseFrame, Message, WebSocket},
    },
    http::StatusCode,
    response::{IntoResponse, Response},
};
use futures::{SinkExt, StreamExt, stream::FuturesOrdered};
use rand::RngExt;
use rivulet_network::{bucket::Bucket, reader::challenge_text};
use serde_json::json;
use tokio::sync::broadcast::error::{RecvError, TryRecvError};

use self::{
    outbox::{Outbox, lagged, read_error_close},
    session::Session,
};
use super::{Api, ApiError, error::error_frame};
use crate::{sync::lock, turns::ReaderKey};

/// Publishes one connection may have in flight before the node stops reading from it.
const MAX_PENDING: usize = 256;

/// Events a session takes from the node's channel in one wake-up, before it waits on everything again
/// (its client's frames and the answers to its publishes get their turn).
const DRAIN_EVENTS: usize = 256;

/// A session's read buffer. tungstenite zero-fills the free part of it on every read attempt, and a
/// session's read half is polled whenever an event wakes the session: with the default 128 KiB that
/// was the largest cost of fanning events out to many sessions (and 128 KiB of memory per
/// connection). Larger frames still arrive whole; they take more reads.
const READ_BUFFER_BYTES: usize = 8 * 1024;

/// Upgrades `GET /api/v1/ws` to a WebSocket session, unless the node already serves as many as it may
/// (503 `too_many_connections`) or the client's address holds as many as one address may (429
/// `too_many_connections`).
pub(super) async fn upgrade(
    ws: WebSocketUpgrade,
    State(api): State<Arc<Api>>,
    ConnectInfo(client): ConnectInfo<SocketAddr>,
) -> Response {
    let from = ReaderKey::ip(client.ip());
    let slot = match ConnectionSlot::take(&api, from) {
        Ok(slot) => slot,
        Err(refused) => {
            api.node.metrics().http_error("too_many_connections");
            return refused.into_response();
        }
    };
    ws.max_message_size(api.request_limit())
        .read_buffer_size(READ_BUFFER_BYTES)
        .on_upgrade(move |socket| async move {
            session(socket, api, from).await;
            drop(slot);
        })
}

/// One of the node's `ws_max_connections` places, and one of its address's
/// `ws_max_connections_per_address`, held for a connection's lifetime.
struct ConnectionSlot {
    api: Arc<Api>,
    from: ReaderKey,
}

impl ConnectionSlot {
    fn take(api: &Arc<Api>, from: ReaderKey) -> Result<ConnectionSlot, ApiError> {
        if api
            .ws_connections
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < api.config.ws_max_connections).then_some(n + 1)
            })
            .is_err()
        {
            return Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "too_many_connections",
                format!(
                    "this node serves at most {} WebSocket connections; try another node, or later",
                    api.config.ws_max_connections
                ),
            ));
        }
        {
            let mut by_address = lock(&api.ws_by_address);
            let held = by_address.entry(from).or_insert(0);
            if *held >= api.config.ws_max_connections_per_address {
                let held = *held;
                drop(by_address);
                api.ws_connections.fetch_sub(1, Ordering::AcqRel);
                return Err(ApiError::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "too_many_connections",
                    format!(
                        "{from} already holds {held} WebSocket connections to this node, the most one address may; close one first"
                    ),
                ));
            }
            *held += 1;
        }
        api.node.metrics().ws_connections.inc();
        Ok(ConnectionSlot {
            api: api.clone(),
            from,
        })
    }
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        {
            let mut by_address = lock(&self.api.ws_by_address);
            if let Some(held) = by_address.get_mut(&self.from) {
                *held = held.saturating_sub(1);
                if *held == 0 {
                    by_address.remove(&self.from);
                }
            }
        }
        self.api.ws_connections.fetch_sub(1, Ordering::AcqRel);
        self.api.node.metrics().ws_connections.dec();
    }
}

/// The answer to a frame beyond the connection's `ws_frames_per_second`, counted in the metrics.
fn rate_limited(api: &Api) -> serde_json::Value {
    api.node.metrics().http_error("rate_limited");
    error_frame(
        &None,
        "rate_limited",
        format!(
            "more than {} frames per second; frame dropped",
            api.config.ws_rate
        ),
    )
}

async fn session(socket: WebSocket, api: Arc<Api>, from: ReaderKey) {
    let (mut sink, mut frames) = socket.split();
    let node = api.node.peer_id();
    let nonce = hex::encode(rand::rng().random::<[u8; 16]>());
    let challenge = challenge_text(&node, &nonce);
    let hello =
        json!({ "type": "challenge", "node": node.to_string(), "nonce": nonce, "text": challenge });
    if sink
        .send(Message::Text(hello.to_string().into()))
        .await
        .is_err()
    {
        return;
    }
    let mut events = api.node.events();
    let mut stopping = api.node.stopping();
    let mut session = Session {
        api: api.clone(),
        address: None,
        reader: None,
        from,
        nonce,
        subscriptions: Default::default(),
        pending: FuturesOrdered::new(),
    };
    let mut bucket = Bucket::new(api.config.ws_rate);
    let mut permission_checked = Instant::now();
    let (outbox, frames_out) = Outbox::new();
    let writer = outbox.writer(sink, frames_out);
    let max_content = api.node.limits().max_content_len;
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
                        Some(rate_limited(&api))
                    }
                }
                // A binary frame is an event's signed wire bytes, to publish.
                Some(Ok(Message::Binary(wire))) => {
                    if bucket.take() {
                        session.handle_wire(wire.to_vec());
                        None
                    } else {
                        Some(rate_limited(&api))
                    }
                }
                // The client's close: the writer answers it as it closes, as RFC 6455 (5.5.1) asks.
                Some(Ok(Message::Close(_))) => break,
                // A frame the node cannot read ends the connection (the stream cannot resume after
                // it), with the close code that says why.
                Some(Err(e)) => {
                    if let Some(frame) = read_error_close(e, max_content) {
                        outbox.send(Message::Close(Some(frame)));
                    }
                    break;
                }
                None => break,
                Some(Ok(_)) => None, // ping/pong: answered by the server
            },
            event = events.recv() => match event {
                Ok(first) => {
                    // This event and those already waiting behind it, in one wake-up.
                    let (mut delivered, mut taken, mut clock_read) = (first, 0, false);
                    loop {
                        let mut format = session.subscriptions.get(&delivered.part).copied();
                        // Permissions can lapse (licences expire): re-checked at most once a second,
                        // before an event of a subscribed part goes out; the clock read at most once
                        // a wake-up.
                        if format.is_some() && !clock_read {
                            clock_read = true;
                            if permission_checked.elapsed() > Duration::from_secs(1) {
                                permission_checked = Instant::now();
                                if !session.drop_lapsed(&outbox).await {
                                    break 'session;
                                }
                                format = session.subscriptions.get(&delivered.part).copied();
                            }
                        }
                        if let Some(format) = format
                            && !outbox.send_event(format.frame(&delivered))
                        {
                            break 'session;
                        }
                        taken += 1;
                        if taken == DRAIN_EVENTS {
                            break;
                        }
                        delivered = match events.try_recv() {
                            Ok(next) => next,
                            Err(TryRecvError::Lagged(n)) => {
                                if !outbox.send_json(&lagged(n)) {
                                    break 'session;
                                }
                                break;
                            }
                            Err(TryRecvError::Empty) => break,
                            Err(TryRecvError::Closed) => break 'session,
                        };
                    }
                    None
                }
                Err(RecvError::Lagged(n)) => Some(lagged(n)),
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
    for part in session.subscriptions.into_keys() {
        api.node.leave(part).await;
    }
    // The writer sends what is left and closes; a client that no longer reads gets a second.
    drop(outbox);
    let _ = tokio::time::timeout(Duration::from_secs(1), writer).await;
}
