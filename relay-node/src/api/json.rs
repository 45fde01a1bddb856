//! Events as the APIs show them in JSON: every field, the content decoded when it is plain JSON, and
//! the wire bytes (so any client can verify the signature itself).

use std::cell::RefCell;

use axum::extract::ws::Utf8Bytes;
use rivulet_protocol::{Address, ContentType, Encryption, MessageRef, MessageType, StreamMessage};
use serde::Serialize;
use serde_json::value::RawValue;

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
    content: Content<'a>,
    signature: String,
    wire: String,
}

/// The content as JSON when it is unencrypted JSON — as published, byte for byte (its keys in their
/// order, its numbers at full precision) —, else as text (JSON content that does not parse) or hex.
#[derive(Serialize)]
#[serde(untagged)]
enum Content<'a> {
    Json(&'a RawValue),
    Text(String),
}

/// Lowercase hex of `bytes`. (`hex::encode` goes through a character iterator several times slower;
/// rendering events for the WebSocket API was a visible share of a node's time.)
pub(crate) fn to_hex(bytes: &[u8]) -> String {
    let mut out = vec![0u8; bytes.len() * 2];
    // The buffer is exactly twice as long as the input: this cannot fail.
    let _ = hex::encode_to_slice(bytes, &mut out);
    String::from_utf8(out).unwrap_or_default()
}

/// `address.to_checksum()`, remembered for the last publisher rendered on this thread: the EIP-55
/// spelling costs a keccak, and a stream part's events mostly come from one publisher.
fn checksummed(address: Address) -> String {
    thread_local! {
        static LAST: RefCell<Option<(Address, String)>> = const { RefCell::new(None) };
    }
    LAST.with_borrow_mut(|last| match last {
        Some((seen, text)) if *seen == address => text.clone(),
        _ => {
            let text = address.to_checksum();
            *last = Some((address, text.clone()));
            text
        }
    })
}

/// Writes a message as JSON to `out`.
fn write_message_json(out: &mut Vec<u8>, m: &StreamMessage, wire: &[u8]) {
    let id = m.id();
    let body = &m.body;
    let content = match (&body.encryption, body.content_type) {
        (Encryption::None, ContentType::Json) => serde_json::from_slice(&body.content).map_or_else(
            |_| Content::Text(String::from_utf8_lossy(&body.content).into()),
            Content::Json,
        ),
        _ => Content::Text(to_hex(&body.content)),
    };
    let json = MessageJson {
        stream_id: id.stream_id.as_str(),
        partition: id.partition.get(),
        timestamp: id.timestamp,
        sequence_number: id.sequence_number,
        publisher: checksummed(id.publisher),
        chain_id: id.chain_id.as_str(),
        prev: body.prev,
        message_type: body.message_type,
        content_type: body.content_type,
        group_key_id: body.encryption.group_key_id().map(|k| k.as_str()),
        content,
        signature: to_hex(&m.signature.0),
        wire: to_hex(wire),
    };
    // Serialising plain fields into a Vec cannot fail.
    let _ = serde_json::to_writer(out, &json);
}

/// A message as JSON text (for answers that hold many: no tree of values per message).
pub(crate) fn message_json(m: &StreamMessage, wire: &[u8]) -> Box<RawValue> {
    let mut out = Vec::with_capacity(wire.len() * 3 + 256);
    write_message_json(&mut out, m, wire);
    String::from_utf8(out)
        .ok()
        .and_then(|json| RawValue::from_string(json).ok())
        .unwrap_or_else(|| RawValue::NULL.to_owned())
}

/// A delivered event's WebSocket `message` frame, rendered once and shared by every session that
/// sends it.
pub(crate) fn message_frame(delivered: &Delivered) -> Utf8Bytes {
    let rendered = delivered.rendered.get_or_init(|| {
        let mut out = Vec::with_capacity(delivered.wire.len() * 3 + 320);
        out.extend_from_slice(br#"{"type":"message","part":"#);
        let _ = serde_json::to_writer(&mut out, &delivered.part.to_string());
        out.extend_from_slice(br#","message":"#);
        write_message_json(&mut out, &delivered.message, &delivered.wire);
        out.push(b'}');
        out.into()
    });
    // Written by serde_json just above, so always UTF-8 (checked again here; no copy).
    Utf8Bytes::try_from(rendered.clone()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, OnceLock};

    use rivulet_protocol::{
        Address, ChainId, ChainSigner, ContentType, MessageType, Signer, StreamPartId,
    };
    use serde_json::{Value, json};

    use super::{checksummed, message_frame, message_json, to_hex};
    use crate::node::Delivered;

    fn event(content_type: ContentType, content: &[u8]) -> Delivered {
        let mut publisher = ChainSigner::new(
            Signer::from_bytes(&[4; 32]).unwrap(),
            ChainId::new("c").unwrap(),
        );
        let part: StreamPartId = "rivulet.eth/a#0".parse().unwrap();
        let message = publisher
            .sign_next(
                &part,
                1_000,
                MessageType::Data,
                content_type,
                content.to_vec(),
                None,
                &mut rand::rng(),
            )
            .unwrap();
        let wire = message.encode().unwrap();
        Delivered {
            part,
            message: Arc::new(message),
            wire: wire.into(),
            rendered: OnceLock::new(),
            wire_frame: OnceLock::new(),
        }
    }

    #[test]
    fn the_remembered_checksum_is_the_publishers() {
        let (a, b) = (Address([0x11; 20]), Address([0xab; 20]));
        for address in [a, a, b, a, b, b] {
            assert_eq!(checksummed(address), address.to_checksum());
        }
    }

    #[test]
    fn hex_is_lowercase_and_complete() {
        let bytes: Vec<u8> = (0..=255).collect();
        assert_eq!(to_hex(&bytes), hex::encode(&bytes));
        assert_eq!(to_hex(&[]), "");
    }

    #[test]
    fn a_frame_carries_every_field_and_json_content_as_published() {
        // Keys out of order and a number beyond f64's precision: both kept as published.
        let content = br#"{"z": 1, "a": 12345678901234567890123}"#;
        let delivered = event(ContentType::Json, content);
        let frame = message_frame(&delivered);
        let text = frame.as_str();
        assert!(
            text.contains(r#""content":{"z": 1, "a": 12345678901234567890123}"#),
            "{text}"
        );
        let v: Value = serde_json::from_str(text).unwrap();
        let m = &delivered.message;
        assert_eq!(v["type"], "message");
        assert_eq!(v["part"], "rivulet.eth/a#0");
        let id = m.id();
        let expected = json!({
            "streamId": id.stream_id.as_str(),
            "partition": 0,
            "timestamp": 1_000,
            "sequenceNumber": id.sequence_number,
            "publisher": id.publisher.to_checksum(),
            "chainId": "c",
            "prev": null,
            "messageType": serde_json::to_value(m.body.message_type).unwrap(),
            "contentType": serde_json::to_value(m.body.content_type).unwrap(),
            "groupKeyId": null,
            "content": { "z": 1, "a": 12345678901234567890123u128 as f64 },
            "signature": hex::encode(m.signature.0),
            "wire": hex::encode(&delivered.wire),
        });
        let mut got = v["message"].clone();
        // (Compared apart: a JSON number this large has no exact `Value`.)
        got["content"]["a"] = json!(12345678901234567890123u128 as f64);
        assert_eq!(got, expected);
        // Rendered once: the second frame is the same bytes.
        assert_eq!(message_frame(&delivered).as_str().as_ptr(), text.as_ptr());
    }

    #[test]
    fn other_content_is_hex_and_broken_json_is_text() {
        let binary = event(ContentType::Binary, &[0, 1, 0xfe]);
        let v: Value =
            serde_json::from_str(message_json(&binary.message, &binary.wire).get()).unwrap();
        assert_eq!(v["content"], "0001fe");
        let broken = event(ContentType::Json, b"{\"unterminated\": ");
        let v: Value =
            serde_json::from_str(message_json(&broken.message, &broken.wire).get()).unwrap();
        assert_eq!(v["content"], "{\"unterminated\": ");
    }
}
