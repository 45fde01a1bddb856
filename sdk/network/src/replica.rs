//! `/rivulet/store/1.0.0`: an entry node hands a just-published event to one of its stream part's
//! replicas and waits until the replica has it on disk — what a publish that asks for quorum
//! acknowledgements waits on (`PROTOCOL.md`, "Quorum acknowledgements").

use serde::{Deserialize, Serialize};

/// What a publish's acknowledgement waits for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Acks {
    /// The entry node's own answer (durable there when it stores the part): the default.
    #[default]
    Local,
    /// A majority of the part's assigned replicas have the event on disk.
    Quorum,
}

impl Acks {
    /// Whether this is the default (so that it is left out of encodings).
    pub fn is_local(&self) -> bool {
        *self == Acks::Local
    }
}

impl core::str::FromStr for Acks {
    type Err = String;

    fn from_str(s: &str) -> Result<Acks, String> {
        match s {
            "local" => Ok(Acks::Local),
            "quorum" => Ok(Acks::Quorum),
            other => Err(format!(
                "acks must be \"local\" or \"quorum\", not {other:?}"
            )),
        }
    }
}

/// Store this event durably (the replica judges it as a live event, as if published to it).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoreRequest {
    /// The event's wire bytes.
    #[serde(with = "serde_bytes")]
    pub wire: Vec<u8>,
}

/// The replica's answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum StoreResponse {
    /// The event is on the replica's disk (it was new, or it had it already).
    Stored,
    /// Not stored: `code` as the light protocol's (`no_permission`, `bad_signature`, `not_stored` for a
    /// node that does not store the part, `store`, …) and a sentence saying why.
    Error {
        /// A stable code.
        code: String,
        /// Why.
        message: String,
    },
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    /// The CBOR a node sends and expects, pinned.
    #[test]
    fn cbor_vectors() {
        let request = cbor4ii::serde::to_vec(
            Vec::new(),
            &StoreRequest {
                wire: vec![1, 2, 3],
            },
        )
        .unwrap();
        // {"wire": h'010203'}
        assert_eq!(request, [0xa1, 0x64, b'w', b'i', b'r', b'e', 0x43, 1, 2, 3]);
        let stored = cbor4ii::serde::to_vec(Vec::new(), &StoreResponse::Stored).unwrap();
        // "Stored"
        assert_eq!(stored, [0x66, b'S', b't', b'o', b'r', b'e', b'd']);
        let back: StoreRequest = cbor4ii::serde::from_slice(&request).unwrap();
        assert_eq!(back.wire, vec![1, 2, 3]);
    }
}
