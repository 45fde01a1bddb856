//! Events as the APIs show them in JSON: every field, the content decoded when it is plain JSON, and
//! the wire bytes (so any client can verify the signature itself).

use axum::extract::ws::Utf8Bytes;
use rivulet_protocol::{ContentType, Encryption, MessageRef, MessageType, StreamMessage};
use serde::Serialize;
use serde_json::Value;

use crate::node::Delivered;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct MessageJson<'a> {
    stream_id: &'a str,
    partition: u8,
    timestamp: u64,
    sequence_number: u32,
    publisher: String,
    chain_id: &'a str,
    prev: Option<MessageRef>,
    message_type: MessageType,
    content_type: ContentType,
    group_key_id: Option<&'a str>,
    /// The content as JSON when it is unencrypted JSON; otherwise hex.
    content: Value,
    signature: String,
    wire: String,
}

/// A message as JSON.
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

/// A delivered event's WebSocket `message` frame, rendered once and shared by every session that
/// sends it.
pub(crate) fn message_frame(delivered: &Delivered) -> Utf8Bytes {
    let rendered = delivered.rendered.get_or_init(|| {
        format!(
            r#"{{"type":"message","part":{},"message":{}}}"#,
            Value::String(delivered.part.to_string()),
            message_json(&delivered.message, &delivered.wire)
        )
        .into()
    });
    // Rendered from a `String` just above, so always UTF-8 (checked again here; no copy).
    Utf8Bytes::try_from(rendered.clone()).unwrap_or_default()
}
