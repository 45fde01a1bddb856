//! One WebSocket session's requests: the frames a client sends, and the answer to each. The loop that
//! reads frames and sends events is in the parent module.

use std::sync::Arc;

use axum::extract::ws::Message;
use futures::stream::FuturesOrdered;
use rivulet_network::{ReaderProof, reader::challenge_text};
use rivulet_protocol::{Address, Signature, StreamPartId, signing::recover_personal};
use serde::Deserialize;
use serde_json::{Value, json};

use super::outbox::Outbox;
use crate::api::error::error_frame;
use crate::{
    api::{
        Api, ApiError,
        history::{HistoryParams, answer},
        http::{decode_hex, stream_part},
        json::message_frame,
    },
    node::{Acks, Delivered, Published, Reader},
    turns::ReaderKey,
};

/// A client's frame.
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
        #[serde(default)]
        format: EventFormat,
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
        /// `quorum`: answer once a majority of the part's replicas have it on disk (signed messages).
        #[serde(default)]
        acks: Acks,
    },
    Resend {
        id: Option<Value>,
        stream: String,
        #[serde(default)]
        partition: u32,
        last: Option<u32>,
        from: Option<u64>,
        to: Option<u64>,
        /// The `next` of an earlier, truncated `resent`.
        cursor: Option<String>,
    },
}

/// How a subscription's events are sent.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(super) enum EventFormat {
    /// A `message` text frame: every field by name, the content decoded, the wire bytes as hex.
    #[default]
    Json,
    /// A binary frame holding exactly the event's signed wire bytes (`PROTOCOL.md`), which name the
    /// stream part: a quarter of the JSON frame's size for small events, and nothing for the node to
    /// render.
    Wire,
}

impl EventFormat {
    /// `delivered` as a frame of this format (the JSON rendered, or the wire frame made, once per
    /// event for all sessions).
    pub(super) fn frame(self, delivered: &Delivered) -> Message {
        match self {
            EventFormat::Wire => Message::Binary(delivered.wire_frame()),
            EventFormat::Json => Message::Text(message_frame(delivered)),
        }
    }
}

/// One connection's state.
pub(super) struct Session {
    pub(super) api: Arc<Api>,
    pub(super) address: Option<Address>,
    /// The signed-in reader and its proof, for history a peer answers on its behalf.
    pub(super) reader: Option<Reader>,
    /// The client's address, whose turns its resends take.
    pub(super) from: ReaderKey,
    /// The nonce of this session's challenge.
    pub(super) nonce: String,
    /// The parts subscribed to, each with the format its events go out in.
    /// (Looked up for every event the node accepts: a fast hash, each map seeded at random; a session
    /// holds at most `ws_max_subscriptions` parts.)
    pub(super) subscriptions: foldhash::HashMap<StreamPartId, EventFormat>,
    /// Publishes waiting for the node's answer, in the order they came.
    pub(super) pending: FuturesOrdered<futures::future::BoxFuture<'static, Value>>,
}

impl Session {
    pub(super) fn may_subscribe(&self, part: &StreamPartId) -> bool {
        self.api.node.may_subscribe(self.address, part)
    }

    /// Ends the subscriptions whose reader may no longer subscribe, each with an `unsubscribed` frame;
    /// false when the connection is gone.
    pub(super) async fn drop_lapsed(&mut self, outbox: &Outbox) -> bool {
        let lapsed: Vec<StreamPartId> = self
            .subscriptions
            .keys()
            .filter(|p| !self.may_subscribe(p))
            .cloned()
            .collect();
        for part in lapsed {
            self.subscriptions.remove(&part);
            let frame = json!({ "type": "unsubscribed", "part": part.to_string(), "reason": "subscribe permission ended" });
            self.api.node.leave(part).await;
            if !outbox.send_json(&frame) {
                return false;
            }
        }
        true
    }

    /// Handles one text frame; the answer (`Null` when it comes later, as for a publish).
    pub(super) async fn handle(&mut self, text: &str) -> Value {
        let frame: ClientFrame = match serde_json::from_str(text) {
            Ok(f) => f,
            Err(e) => {
                return error_frame(
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
                format,
            } => self.subscribe(id, &stream, partition, format).await,
            ClientFrame::Unsubscribe {
                id,
                stream,
                partition,
            } => {
                let part = match stream_part(&stream, partition) {
                    Ok(p) => p,
                    Err(e) => return error_frame(&id, "bad_stream", e),
                };
                if self.subscriptions.remove(&part).is_some() {
                    self.api.node.leave(part.clone()).await;
                }
                json!({ "type": "unsubscribed", "id": id, "part": part.to_string() })
            }
            ClientFrame::Publish {
                id,
                message,
                content,
                stream,
                partition,
                acks,
            } => {
                let publish: futures::future::BoxFuture<'static, Result<Published, ApiError>> =
                    match (message, content, stream) {
                        (Some(hex), None, None) => {
                            let wire = match decode_hex(&hex) {
                                Ok(w) => w,
                                Err(e) => return error_frame(&id, e.code, e.message),
                            };
                            self.publish_signed(wire, acks)
                        }
                        (None, Some(content), Some(stream)) => {
                            let part = match stream_part(&stream, partition) {
                                Ok(p) => p,
                                Err(e) => return error_frame(&id, "bad_stream", e),
                            };
                            let api = self.api.clone();
                            Box::pin(async move {
                                api.node
                                    .publish_json(&part, content.to_string().into_bytes())
                                    .await
                                    .map_err(ApiError::from)
                            })
                        }
                        _ => {
                            return error_frame(
                                &id,
                                "bad_frame",
                                "publish takes either \"message\" (signed, hex) or \"stream\" and \"content\" (for the node to publish as itself)",
                            );
                        }
                    };
                self.answer_later(id, publish);
                Value::Null
            }
            ClientFrame::Resend {
                id,
                stream,
                partition,
                last,
                from,
                to,
                cursor,
            } => {
                if let Ok(part) = stream_part(&stream, partition)
                    && !self.may_subscribe(&part)
                {
                    return error_frame(
                        &id,
                        "no_permission",
                        format!("no subscribe permission on {}", part.stream_id),
                    );
                }
                let params = HistoryParams {
                    stream,
                    partition,
                    last,
                    from,
                    to,
                    cursor,
                };
                match answer(&self.api, params, self.reader.as_ref(), self.from).await {
                    // (The frame is a tree of values like every answer here: the messages are parsed
                    // back from their text, a cost only resends pay.)
                    Ok(a) => {
                        json!({ "type": "resent", "id": id, "part": a.part, "messages": a.messages, "truncated": a.truncated, "next": a.next })
                    }
                    Err(e) => error_frame(&id, e.code, e.message),
                }
            }
        }
    }

    /// Handles a binary frame: the signed wire bytes of an event to publish, as a `publish` with a
    /// `message` and no `id` or `acks` would carry them (answered in order like it).
    pub(super) fn handle_wire(&mut self, wire: Vec<u8>) {
        let publish = self.publish_signed(wire, Acks::Local);
        self.answer_later(None, publish);
    }

    /// Publishes an event signed by its publisher (its wire bytes), acknowledged as `acks` asks.
    fn publish_signed(
        &self,
        wire: Vec<u8>,
        acks: Acks,
    ) -> futures::future::BoxFuture<'static, Result<Published, ApiError>> {
        let api = self.api.clone();
        Box::pin(async move { Ok(api.node.publish(wire, acks).await?) })
    }

    /// Queues a publish's answer: sent when the node has the event (stored, where it stores the
    /// part), while the connection goes on reading, so a publisher can keep many events in flight.
    fn answer_later(
        &mut self,
        id: Option<Value>,
        publish: futures::future::BoxFuture<'static, Result<Published, ApiError>>,
    ) {
        let api = self.api.clone();
        self.pending.push_back(Box::pin(async move {
            match publish.await {
                Ok(p) => {
                    json!({ "type": "published", "id": id, "part": p.part, "duplicate": p.duplicate, "stored": p.stored })
                }
                Err(e) => {
                    api.node.metrics().http_error(e.code);
                    error_frame(&id, e.code, e.message)
                }
            }
        }));
    }

    async fn subscribe(
        &mut self,
        id: Option<Value>,
        stream: &str,
        partition: u32,
        format: EventFormat,
    ) -> Value {
        let part = match stream_part(stream, partition) {
            Ok(p) => p,
            Err(e) => return error_frame(&id, "bad_stream", e),
        };
        let max = self.api.config.ws_max_subscriptions;
        if !self.subscriptions.contains_key(&part) && self.subscriptions.len() >= max {
            return error_frame(
                &id,
                "too_many_subscriptions",
                format!(
                    "a connection may subscribe to at most {max} stream parts; unsubscribe from one first"
                ),
            );
        }
        if !self.may_subscribe(&part) {
            let who = self
                .address
                .map_or("an unauthenticated client".to_owned(), |a| a.to_string());
            return error_frame(
                &id,
                "no_permission",
                format!("{who} may not subscribe to {}", part.stream_id),
            );
        }
        // Subscribing again changes only the format.
        if self.subscriptions.insert(part.clone(), format).is_none() {
            self.api.node.join(part.clone()).await;
        }
        json!({ "type": "subscribed", "id": id, "part": part.to_string() })
    }

    fn auth(&mut self, address: &str, signature: &str) -> Value {
        let claimed: Address = match address.parse() {
            Ok(a) => a,
            Err(e) => return error_frame(&None, "bad_address", format!("address: {e}")),
        };
        let Some(sig) = hex::decode(signature.trim_start_matches("0x"))
            .ok()
            .and_then(|b| <[u8; 65]>::try_from(b).ok())
        else {
            return error_frame(&None, "bad_signature", "signature must be 65 bytes of hex");
        };
        let challenge = challenge_text(&self.api.node.peer_id(), &self.nonce);
        match recover_personal(challenge.as_bytes(), &Signature(sig)) {
            Ok(recovered) if recovered == claimed => {
                self.address = Some(claimed);
                self.reader = Some(Reader {
                    address: claimed,
                    proof: ReaderProof::Challenge {
                        nonce: self.nonce.clone(),
                        address: claimed.to_checksum(),
                        signature: sig.to_vec().into(),
                    },
                });
                json!({ "type": "authenticated", "address": claimed.to_checksum() })
            }
            Ok(recovered) => error_frame(
                &None,
                "bad_signature",
                format!("the challenge was signed by {recovered}, not {claimed}"),
            ),
            Err(e) => error_frame(&None, "bad_signature", e.to_string()),
        }
    }
}
