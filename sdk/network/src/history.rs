//! History queries between clients and nodes and between nodes: what a query asks for, and how a long
//! answer is cut into pages that fit the protocols' frames, each naming the query for the rest.

use rivulet_protocol::{Limits, MessageRef, StreamMessage, codec::MAX_CONTENT_LEN};
use serde::{Deserialize, Serialize};

use crate::reader::ReaderProof;

/// What a history request asks for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum HistoryQuery {
    /// The newest `n` messages.
    Last {
        /// How many.
        n: u32,
    },
    /// Messages with references in `from..=to` (timestamp ms, sequence number), in reference order.
    Range {
        /// First reference.
        from: (u64, u32),
        /// Last reference.
        to: (u64, u32),
    },
    /// One publisher chain's messages after `after` up to `to`: a gap fill.
    Chain {
        /// Publisher address, `0x…`.
        publisher: String,
        /// Chain id.
        chain_id: String,
        /// Last reference the requester has (exclusive).
        after: (u64, u32),
        /// Last missing reference (inclusive).
        to: (u64, u32),
    },
    /// The group-key envelopes addressed to `recipient` (group-key responses its publishers sealed to
    /// its public key), after reference `after`: how a reader finds keys while their publisher is away.
    Envelopes {
        /// The reader, `0x…`.
        recipient: String,
        /// The last reference the requester has (exclusive); `(0, 0)` for all.
        after: (u64, u32),
    },
}

/// A history request for one stream part.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryRequest {
    /// The stream part, `<stream id>#<partition>`.
    pub part: String,
    /// What to return.
    pub query: HistoryQuery,
    /// The reader the requesting node asks for, with the proof the reader gave it: a part that is not
    /// public is answered only for a reader that may subscribe to it.
    #[serde(default)]
    pub reader: Option<ReaderProof>,
}

/// How many bytes of events one history answer carries at most (at least one event, whatever its size):
/// well inside the protocols' frame limits. Longer answers come in pages.
pub const HISTORY_PAGE_BYTES: usize = 4 * 1024 * 1024;

/// The answer to a history request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum HistoryResponse {
    /// Wire-encoded messages, oldest first: a page of at most [`HISTORY_PAGE_BYTES`].
    Messages {
        /// The messages.
        messages: Vec<serde_bytes::ByteBuf>,
        /// The query for the rest of the answer, when it did not fit in this page.
        next: Option<HistoryQuery>,
    },
    /// Why there is no answer (unknown part, not stored here, bad request).
    Error(String),
}

impl HistoryQuery {
    /// Cuts `messages` — this query's answer, oldest first — into the first page of at most `budget`
    /// bytes and `max_messages` messages (at least one message) and the query for the rest, if any. Pages end between messages with
    /// different references, so that the rest can be asked for by reference without losing a message
    /// that shares its reference with the last one of the page (other publishers may use the same
    /// millisecond and sequence number).
    pub fn page(
        &self,
        mut messages: Vec<Vec<u8>>,
        budget: usize,
        max_messages: usize,
    ) -> (Vec<Vec<u8>>, Option<HistoryQuery>) {
        let mut fit = 0;
        let mut bytes = 0;
        for message in &messages {
            if fit > 0 && (bytes + message.len() > budget || fit >= max_messages) {
                break;
            }
            bytes += message.len();
            fit += 1;
        }
        if fit == messages.len() {
            return (messages, None);
        }
        // Only the references around the cut are read. A message that does not decode (never so for
        // what a node stored) ends paging: the whole answer goes, as before pages.
        let limits = Limits {
            max_content_len: MAX_CONTENT_LEN,
        };
        let reference = |i: usize| -> Option<MessageRef> {
            StreamMessage::decode(&messages[i], &limits)
                .ok()
                .map(|m| m.id().message_ref())
        };
        let Some(cut) = self.cut(fit, messages.len(), reference) else {
            return (messages, None);
        };
        let Some(last) = reference(cut - 1) else {
            return (messages, None);
        };
        let pair = |r: MessageRef| (r.timestamp, r.sequence_number);
        let next = match self {
            HistoryQuery::Chain {
                publisher,
                chain_id,
                to,
                ..
            } => HistoryQuery::Chain {
                publisher: publisher.clone(),
                chain_id: chain_id.clone(),
                after: pair(last),
                to: *to,
            },
            HistoryQuery::Envelopes { recipient, .. } => HistoryQuery::Envelopes {
                recipient: recipient.clone(),
                after: pair(last),
            },
            HistoryQuery::Last { .. } | HistoryQuery::Range { .. } => {
                let from = if last.sequence_number == u32::MAX {
                    (last.timestamp.saturating_add(1), 0)
                } else {
                    (last.timestamp, last.sequence_number + 1)
                };
                // The rest of a `Last` window is everything after the page (the store may not have
                // read the window to its end).
                let to = match self {
                    HistoryQuery::Range { to, .. } => *to,
                    _ => (u64::MAX, u32::MAX),
                };
                HistoryQuery::Range { from, to }
            }
        };
        messages.truncate(cut);
        (messages, Some(next))
    }

    /// Where a page of `len` messages, `fit` of which fit the budget, ends: after `fit` for a chain
    /// (one chain's references are distinct), else at the last change of reference at or before `fit`
    /// — or, when every message that fits shares the first reference, after the last message with it.
    /// `None` when the page takes everything (or a reference cannot be read).
    fn cut(
        &self,
        fit: usize,
        len: usize,
        reference: impl Fn(usize) -> Option<MessageRef>,
    ) -> Option<usize> {
        if matches!(self, HistoryQuery::Chain { .. }) {
            return Some(fit);
        }
        let mut cut = fit;
        while cut > 0 && reference(cut - 1)? == reference(cut)? {
            cut -= 1;
        }
        if cut > 0 {
            return Some(cut);
        }
        let first = reference(0)?;
        cut = fit;
        while cut < len && reference(cut)? == first {
            cut += 1;
        }
        (cut < len).then_some(cut)
    }
}

#[cfg(test)]
mod tests {
    use rivulet_protocol::{
        ChainId, ContentType, Encryption, MessageId, MessageType, Partition, SignatureType, Signer,
        StreamId, UnsignedMessage,
    };

    use super::*;

    fn message(signer: &Signer, timestamp: u64, seq: u32, size: usize) -> Vec<u8> {
        let stream: StreamId = "rivulet.eth/history".parse().unwrap();
        let body = UnsignedMessage {
            id: MessageId {
                stream_id: stream,
                partition: Partition::new(0).unwrap(),
                timestamp,
                sequence_number: seq,
                publisher: signer.address(),
                chain_id: ChainId::new("c").unwrap(),
            },
            prev: None,
            message_type: MessageType::Data,
            content_type: ContentType::Binary,
            encryption: Encryption::None,
            new_group_key: None,
            content: vec![7; size],
            signature_type: SignatureType::Eip191Secp256k1,
        };
        signer.sign(body).unwrap().encode().unwrap()
    }

    /// Pages until the query is exhausted, as a client does; every page within the budget unless one
    /// message is larger.
    fn all_pages(
        query: HistoryQuery,
        answer: impl Fn(&HistoryQuery) -> Vec<Vec<u8>>,
        budget: usize,
    ) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        let mut next = Some(query);
        let mut pages = 0;
        while let Some(query) = next {
            let (page, rest) = query.page(answer(&query), budget, 7);
            assert!(!page.is_empty());
            out.extend(page);
            next = rest;
            pages += 1;
            assert!(pages < 1000, "pages never end");
        }
        out
    }

    #[test]
    fn long_answers_come_in_pages_that_lose_nothing() {
        let (a, b) = (
            Signer::from_bytes(&[1; 32]).unwrap(),
            Signer::from_bytes(&[2; 32]).unwrap(),
        );
        // Two publishers with the same references, interleaved as the store orders them.
        let mut store = Vec::new();
        for t in 0..20u64 {
            store.push(((t, 0u32), message(&a, 1000 + t, 0, 300)));
            store.push(((t, 0u32), message(&b, 1000 + t, 0, 300)));
        }
        let refs: Vec<(u64, u32)> = store.iter().map(|((t, s), _)| (1000 + t, *s)).collect();
        let answer = |query: &HistoryQuery| -> Vec<Vec<u8>> {
            match query {
                HistoryQuery::Last { n } => store[store.len() - *n as usize..]
                    .iter()
                    .map(|(_, m)| m.clone())
                    .collect(),
                HistoryQuery::Range { from, to } => store
                    .iter()
                    .zip(&refs)
                    .filter(|(_, r)| *r >= from && *r <= to)
                    .map(|((_, m), _)| m.clone())
                    .collect(),
                HistoryQuery::Chain { .. } | HistoryQuery::Envelopes { .. } => unreachable!(),
            }
        };
        let everything: Vec<Vec<u8>> = store.iter().map(|(_, m)| m.clone()).collect();
        let size = everything[0].len();
        // Budgets that split pairs sharing a reference, and budgets smaller than one message.
        for budget in [size * 3, size * 4 + 1, size / 2, size * 100] {
            assert_eq!(
                all_pages(HistoryQuery::Last { n: 40 }, answer, budget),
                everything,
                "budget {budget}"
            );
            assert_eq!(
                all_pages(
                    HistoryQuery::Range {
                        from: (1005, 0),
                        to: (1014, 0)
                    },
                    answer,
                    budget
                ),
                everything[10..30].to_vec(),
                "budget {budget}"
            );
        }
        let (one, rest) = HistoryQuery::Last { n: 40 }.page(everything.clone(), size * 100, 40);
        assert_eq!((one.len(), rest), (40, None));
        // A count bound cuts too, between different references.
        let (some, rest) = HistoryQuery::Last { n: 40 }.page(everything.clone(), size * 100, 5);
        assert_eq!(some.len(), 4, "not between two messages of one reference");
        assert_eq!(
            rest,
            Some(HistoryQuery::Range {
                from: (1001, 1),
                to: (u64::MAX, u32::MAX)
            })
        );
    }

    #[test]
    fn a_chain_pages_after_its_last_reference() {
        let a = Signer::from_bytes(&[1; 32]).unwrap();
        let chain: Vec<Vec<u8>> = (0..10).map(|s| message(&a, 5000, s, 1000)).collect();
        let query = HistoryQuery::Chain {
            publisher: a.address().to_string(),
            chain_id: "c".into(),
            after: (4000, 0),
            to: (5000, 9),
        };
        let (page, rest) = query.page(chain.clone(), 3 * chain[0].len(), 100);
        assert_eq!(page, chain[..3].to_vec());
        assert_eq!(
            rest,
            Some(HistoryQuery::Chain {
                publisher: a.address().to_string(),
                chain_id: "c".into(),
                after: (5000, 2),
                to: (5000, 9),
            })
        );
    }
}
