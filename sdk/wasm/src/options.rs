//! What the JavaScript API takes and gives, as plain Rust: client options, stream-part arguments,
//! resend queries and event metadata. Kept free of `wasm-bindgen` so it is tested natively.

use std::time::Duration;

use rivulet_client::{ClientConfig, ClientError, HistoryQuery};
use rivulet_contracts::Deployment;
use rivulet_protocol::{ContentType, Partition, StreamId, StreamMessage, StreamPartId};
use serde::{Deserialize, Serialize};

/// `new Client(options)` (its `ethereum` provider object is read apart).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ClientOptions {
    /// Entry nodes' multiaddrs.
    pub nodes: Vec<String>,
    /// Hex private key (`0x…`); random when absent.
    #[serde(default)]
    pub private_key: Option<String>,
    /// JSON-RPC URL for chain access (the deployment's own when absent).
    #[serde(default)]
    pub rpc_url: Option<String>,
    /// Contract addresses (the `deployment.json` the deploy step writes).
    #[serde(default)]
    pub deployment: Option<Deployment>,
    /// Request timeout, ms.
    #[serde(default)]
    pub timeout: Option<u64>,
}

impl ClientOptions {
    /// The client configuration these options describe.
    pub fn to_config(&self) -> Result<ClientConfig, ClientError> {
        let nodes = self
            .nodes
            .iter()
            .map(|a| {
                a.parse()
                    .map_err(|e| ClientError::InvalidArgument(format!("node address {a:?}: {e}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let private_key = self.private_key.as_deref().map(parse_key).transpose()?;
        Ok(ClientConfig {
            nodes,
            private_key,
            request_timeout: Duration::from_millis(self.timeout.unwrap_or(30_000)),
            ..ClientConfig::default()
        })
    }
}

/// A 32-byte hex private key, with or without `0x`.
pub fn parse_key(hex_key: &str) -> Result<[u8; 32], ClientError> {
    let bytes = hex::decode(hex_key.trim_start_matches("0x"))
        .map_err(|e| ClientError::InvalidArgument(format!("private key is not hex: {e}")))?;
    <[u8; 32]>::try_from(bytes.as_slice())
        .map_err(|_| ClientError::InvalidArgument("a private key is 32 bytes".into()))
}

/// A stream id.
pub fn parse_stream(id: &str) -> Result<StreamId, ClientError> {
    id.parse()
        .map_err(|e| ClientError::InvalidArgument(format!("stream id {id:?}: {e}")))
}

/// `streamId` or `{ id, partition }` (other keys ignored).
#[derive(Debug)]
pub enum PartArg {
    /// Partition 0 of a stream.
    Stream(String),
    /// A given partition.
    Part {
        /// The stream id.
        id: String,
        /// The partition (0 when absent).
        partition: u32,
    },
}

/// `{ id, partition }`.
#[derive(Deserialize)]
struct PartObject {
    id: String,
    #[serde(default)]
    partition: u32,
}

/// Read by hand rather than as an untagged enum, whose buffering deserializer weighed more in the
/// browser build than this, and whose error named no shape.
impl<'de> Deserialize<'de> for PartArg {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Shapes;
        impl<'de> serde::de::Visitor<'de> for Shapes {
            type Value = PartArg;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a stream id or { id, partition }")
            }

            fn visit_str<E: serde::de::Error>(self, id: &str) -> Result<PartArg, E> {
                Ok(PartArg::Stream(id.to_owned()))
            }

            fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<PartArg, A::Error> {
                let part =
                    PartObject::deserialize(serde::de::value::MapAccessDeserializer::new(map))?;
                Ok(PartArg::Part {
                    id: part.id,
                    partition: part.partition,
                })
            }
        }
        d.deserialize_any(Shapes)
    }
}

impl PartArg {
    /// The stream part.
    pub fn to_part(&self) -> Result<StreamPartId, ClientError> {
        let (id, partition) = match self {
            PartArg::Stream(id) => (id, 0),
            PartArg::Part { id, partition } => (id, *partition),
        };
        let partition =
            Partition::new(partition).map_err(|e| ClientError::InvalidArgument(e.to_string()))?;
        Ok(StreamPartId::new(parse_stream(id)?, partition))
    }
}

/// A message reference in the API: `{ timestamp, sequenceNumber }`.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RefArg {
    /// Ms since the epoch.
    pub timestamp: u64,
    /// Sequence number in that ms (0 when absent).
    #[serde(default)]
    pub sequence_number: u32,
}

/// `resend(part, { last } | { from, to })`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ResendArg {
    /// The newest `last` events.
    #[serde(default)]
    pub last: Option<u32>,
    /// From this reference (inclusive).
    #[serde(default)]
    pub from: Option<RefArg>,
    /// To this reference (inclusive; the newest when absent).
    #[serde(default)]
    pub to: Option<RefArg>,
}

impl ResendArg {
    /// The history query.
    pub fn to_query(&self) -> Result<HistoryQuery, ClientError> {
        match (self.last, self.from, self.to) {
            (Some(n), None, None) => Ok(HistoryQuery::Last { n }),
            (None, Some(from), to) => Ok(HistoryQuery::Range {
                from: (from.timestamp, from.sequence_number),
                to: to.map_or((u64::MAX, u32::MAX), |t| (t.timestamp, t.sequence_number)),
                resume: None,
            }),
            _ => Err(ClientError::InvalidArgument(
                "resend takes { last: n } or { from: { timestamp }, to?: { timestamp } }".into(),
            )),
        }
    }
}

/// `publish(stream, content, options)`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PublishArg {
    /// Explicit partition.
    #[serde(default)]
    pub partition: Option<u32>,
    /// Key that picks the partition.
    #[serde(default)]
    pub partition_key: Option<String>,
    /// Event time, ms.
    #[serde(default)]
    pub timestamp: Option<u64>,
    /// Encrypt end to end with this publisher's group key: by default, whenever the stream is not
    /// publicly readable; `false` on such a stream is refused.
    #[serde(default)]
    pub encrypt: Option<bool>,
    /// `"quorum"`: resolve once a majority of the part's storage replicas have the event on disk.
    #[serde(default)]
    pub acks: rivulet_client::Acks,
}

/// `subscribe(part, handler, options)` (its callbacks, `onEnd` and `onError`, are read apart).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SubscribeArg {
    /// Deliver the newest `last` stored events first.
    #[serde(default)]
    pub last: Option<u32>,
}

/// What handlers get besides the content.
#[derive(Debug, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Metadata {
    /// The stream.
    pub stream_id: String,
    /// The partition.
    pub partition: u32,
    /// Event time, ms.
    pub timestamp: u64,
    /// Sequence number in that ms.
    pub sequence_number: u32,
    /// The publisher's address (checksummed).
    pub publisher_id: String,
    /// The publisher's chain id.
    pub msg_chain_id: String,
    /// `json` or `binary`.
    pub content_type: &'static str,
    /// The signature, hex.
    pub signature: String,
    /// Whether the event travelled encrypted (the content handed out is decrypted).
    pub encrypted: bool,
    /// Always true: unverifiable events are never handed out.
    pub verified: bool,
}

impl Metadata {
    /// The metadata of a verified message.
    pub fn of(message: &StreamMessage) -> Metadata {
        let id = message.id();
        Metadata {
            stream_id: id.stream_id.to_string(),
            partition: u32::from(id.partition.get()),
            timestamp: id.timestamp,
            sequence_number: id.sequence_number,
            publisher_id: id.publisher.to_checksum(),
            msg_chain_id: id.chain_id.as_str().to_owned(),
            content_type: match message.body.content_type {
                ContentType::Json => "json",
                _ => "binary",
            },
            signature: format!("0x{}", hex::encode(message.signature.0)),
            encrypted: message.body.encryption.group_key_id().is_some(),
            verified: true,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn options_parse_and_reject_what_they_do_not_know() {
        let o: ClientOptions = serde_json::from_str(
            r#"{"nodes":["/ip4/127.0.0.1/tcp/1/ws"],"privateKey":"0x0101010101010101010101010101010101010101010101010101010101010101"}"#,
        )
        .unwrap();
        let config = o.to_config().unwrap();
        assert_eq!(config.private_key, Some([1; 32]));
        assert!(serde_json::from_str::<ClientOptions>(r#"{"nodes":[],"nodez":1}"#).is_err());
        let bad = ClientOptions {
            nodes: vec!["not an address".into()],
            ..ClientOptions::default()
        };
        assert_eq!(bad.to_config().unwrap_err().code(), "INVALID_ARGUMENT");
        assert!(parse_key("0x12").is_err());
    }

    #[test]
    fn parts_and_queries() {
        let p: PartArg = serde_json::from_str(r#""rivulet.eth/a""#).unwrap();
        assert_eq!(p.to_part().unwrap().to_string(), "rivulet.eth/a#0");
        let p: PartArg = serde_json::from_str(r#"{"id":"rivulet.eth/a","partition":3}"#).unwrap();
        assert_eq!(p.to_part().unwrap().to_string(), "rivulet.eth/a#3");
        let p: PartArg = serde_json::from_str(r#"{"id":"rivulet.eth/a","partition":100}"#).unwrap();
        assert!(p.to_part().is_err());
        let p: PartArg =
            serde_json::from_str(r#"{"partition":2,"id":"rivulet.eth/a","x":1}"#).unwrap();
        assert_eq!(p.to_part().unwrap().to_string(), "rivulet.eth/a#2");
        for (bad, says) in [
            ("7", "expected a stream id or { id, partition }"),
            (
                r#"["rivulet.eth/a"]"#,
                "expected a stream id or { id, partition }",
            ),
            (r#"{"partition":2}"#, "missing field `id`"),
            (r#"{"id":5}"#, "expected a string"),
        ] {
            let e = serde_json::from_str::<PartArg>(bad)
                .unwrap_err()
                .to_string();
            assert!(e.contains(says), "{bad}: {e}");
        }
        let q: ResendArg = serde_json::from_str(r#"{"last":5}"#).unwrap();
        assert_eq!(q.to_query().unwrap(), HistoryQuery::Last { n: 5 });
        let q: ResendArg = serde_json::from_str(r#"{"from":{"timestamp":7}}"#).unwrap();
        assert_eq!(
            q.to_query().unwrap(),
            HistoryQuery::Range {
                from: (7, 0),
                to: (u64::MAX, u32::MAX),
                resume: None,
            }
        );
        let q: ResendArg = serde_json::from_str(r#"{"last":5,"from":{"timestamp":7}}"#).unwrap();
        assert!(q.to_query().is_err());
    }
}
