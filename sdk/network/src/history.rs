//! History queries between clients and nodes and between nodes: what a query asks for, and how a long
//! answer is cut into pages that fit the protocols' frames, each naming the query for the rest.

use rivulet_protocol::{Limits, StreamMessage, codec::MAX_CONTENT_LEN};
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
    /// Messages with references in `from..=to` (timestamp ms, sequence number), in the store's order:
    /// by reference, then publisher, then chain id.
    Range {
        /// First reference.
        from: (u64, u32),
        /// Last reference.
        to: (u64, u32),
        /// Set in the rest of a paged answer: the answer starts after this chain's message at `from`
        /// (the last message of the previous page), not at `from`'s first message.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        resume: Option<ResumeAfter>,
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
        /// Set in the rest of a paged answer: the answer starts after this chain's message at `after`
        /// (the last message of the previous page), so it also holds the later ones at `after`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        resume: Option<ResumeAfter>,
    },
}

/// Where inside one reference the rest of a paged answer starts: after the message that this publisher
/// chain has there. Messages of different publishers and chains may share a reference (a millisecond
/// and a sequence number), as many as a publisher likes, so a page may have to end among them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResumeAfter {
    /// The publisher, `0x…`.
    pub publisher: String,
    /// The chain id.
    pub chain_id: String,
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
    /// Cuts `messages` — this query's answer, oldest first, in the store's order — into the first page
    /// of at most `budget` bytes and `max_messages` messages (at least one message) and the query for
    /// the rest, if any: the rest starts just after the page's last message, even among messages that
    /// share its reference.
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
        messages.truncate(fit);
        // Only the page's last message is read. One that does not decode (never so for what a node
        // stored) ends the answer with this page.
        let limits = Limits {
            max_content_len: MAX_CONTENT_LEN,
        };
        let Some(last) = messages
            .last()
            .and_then(|m| StreamMessage::decode(m, &limits).ok())
        else {
            return (messages, None);
        };
        let id = last.id();
        let at = (id.timestamp, id.sequence_number);
        let resume = Some(ResumeAfter {
            publisher: id.publisher.to_string(),
            chain_id: id.chain_id.as_str().to_owned(),
        });
        let next = match self {
            // One chain's references are distinct: the rest is after the last one.
            HistoryQuery::Chain {
                publisher,
                chain_id,
                to,
                ..
            } => HistoryQuery::Chain {
                publisher: publisher.clone(),
                chain_id: chain_id.clone(),
                after: at,
                to: *to,
            },
            HistoryQuery::Envelopes { recipient, .. } => HistoryQuery::Envelopes {
                recipient: recipient.clone(),
                after: at,
                resume,
            },
            // The rest of a `Last` window is everything after the page (the store may not have read
            // the window to its end).
            HistoryQuery::Last { .. } => HistoryQuery::Range {
                from: at,
                to: (u64::MAX, u32::MAX),
                resume,
            },
            HistoryQuery::Range { to, .. } => HistoryQuery::Range {
                from: at,
                to: *to,
                resume,
            },
        };
        (messages, Some(next))
    }
}

#[cfg(test)]
mod tests {
    use rivulet_protocol::{ChainId, ContentType, MessageRef, Signer, UnsignedMessage};

    use super::*;

    fn message(signer: &Signer, timestamp: u64, seq: u32, chain: &str, size: usize) -> Vec<u8> {
        let body = UnsignedMessage::data(
            &"rivulet.eth/history#0".parse().unwrap(),
            signer.address(),
            ChainId::new(chain).unwrap(),
            (MessageRef::new(timestamp, seq), None),
            ContentType::Binary,
            vec![7; size],
        );
        signer.sign(body).unwrap().encode().unwrap()
    }

    /// A message's place in the store's order: reference, publisher bytes, chain id bytes.
    type Key = (u64, u32, Vec<u8>, Vec<u8>);

    fn key(wire: &[u8]) -> Key {
        let limits = Limits {
            max_content_len: MAX_CONTENT_LEN,
        };
        let id = StreamMessage::decode(wire, &limits).unwrap().id().clone();
        (
            id.timestamp,
            id.sequence_number,
            id.publisher.as_bytes().to_vec(),
            id.chain_id.as_str().as_bytes().to_vec(),
        )
    }

    fn resume_key(at: (u64, u32), resume: &ResumeAfter) -> Key {
        let publisher: rivulet_protocol::Address = resume.publisher.parse().unwrap();
        (
            at.0,
            at.1,
            publisher.as_bytes().to_vec(),
            resume.chain_id.as_bytes().to_vec(),
        )
    }

    /// What a store answers to `query`, from `stored` (any order), as the node's store does.
    fn answer(stored: &[Vec<u8>], query: &HistoryQuery) -> Vec<Vec<u8>> {
        let mut sorted: Vec<(Key, Vec<u8>)> = stored.iter().map(|w| (key(w), w.clone())).collect();
        sorted.sort();
        let kept: Vec<Vec<u8>> = match query {
            HistoryQuery::Last { n } => sorted[sorted.len() - *n as usize..]
                .iter()
                .map(|(_, w)| w.clone())
                .collect(),
            HistoryQuery::Range { from, to, resume } => sorted
                .into_iter()
                .filter(|(k, _)| match resume {
                    Some(r) => *k > resume_key(*from, r),
                    None => (k.0, k.1) >= *from,
                })
                .filter(|(k, _)| (k.0, k.1) <= *to)
                .map(|(_, w)| w)
                .collect(),
            HistoryQuery::Envelopes { after, resume, .. } => sorted
                .into_iter()
                .filter(|(k, _)| match resume {
                    Some(r) => *k > resume_key(*after, r),
                    None => (k.0, k.1) > *after,
                })
                .map(|(_, w)| w)
                .collect(),
            HistoryQuery::Chain { .. } => unreachable!(),
        };
        kept
    }

    /// Pages until the query is exhausted, as a client does; every page within the budget unless one
    /// message is larger.
    fn all_pages(
        query: HistoryQuery,
        stored: &[Vec<u8>],
        budget: usize,
        max_messages: usize,
    ) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        let mut next = Some(query);
        let mut pages = 0;
        while let Some(query) = next {
            let (page, rest) = query.page(answer(stored, &query), budget, max_messages);
            assert!(!page.is_empty());
            assert!(page.len() <= max_messages);
            out.extend(page);
            next = rest;
            pages += 1;
            assert!(pages < 1000, "pages never end");
        }
        out
    }

    fn sorted(stored: &[Vec<u8>]) -> Vec<Vec<u8>> {
        let mut all = stored.to_vec();
        all.sort_by_key(|w| key(w));
        all
    }

    #[test]
    fn long_answers_come_in_pages_that_lose_nothing() {
        let (a, b) = (
            Signer::from_bytes(&[1; 32]).unwrap(),
            Signer::from_bytes(&[2; 32]).unwrap(),
        );
        // Two publishers with the same references.
        let mut stored = Vec::new();
        for t in 0..20u64 {
            stored.push(message(&a, 1000 + t, 0, "c", 300));
            stored.push(message(&b, 1000 + t, 0, "c", 300));
        }
        let everything = sorted(&stored);
        let size = everything[0].len();
        // Budgets that split pairs sharing a reference, and budgets smaller than one message.
        for budget in [size * 3, size * 4 + 1, size / 2, size * 100] {
            for max_messages in [1, 3, 7, 100] {
                assert_eq!(
                    all_pages(HistoryQuery::Last { n: 40 }, &stored, budget, max_messages),
                    everything,
                    "budget {budget}, {max_messages}"
                );
                let range = HistoryQuery::Range {
                    from: (1005, 0),
                    to: (1014, 0),
                    resume: None,
                };
                assert_eq!(
                    all_pages(range, &stored, budget, max_messages),
                    everything[10..30].to_vec(),
                    "budget {budget}, {max_messages}"
                );
            }
        }
        let (one, rest) = HistoryQuery::Last { n: 40 }.page(everything.clone(), size * 100, 40);
        assert_eq!((one.len(), rest), (40, None));
        // A page ends where the bound is, even between two messages of one reference.
        let (some, rest) = HistoryQuery::Last { n: 40 }.page(everything.clone(), size * 100, 5);
        assert_eq!(some, everything[..5].to_vec());
        let last = &everything[4];
        let limits = Limits {
            max_content_len: MAX_CONTENT_LEN,
        };
        let id = StreamMessage::decode(last, &limits).unwrap().id().clone();
        assert_eq!(
            rest,
            Some(HistoryQuery::Range {
                from: (1002, 0),
                to: (u64::MAX, u32::MAX),
                resume: Some(ResumeAfter {
                    publisher: id.publisher.to_string(),
                    chain_id: "c".into(),
                }),
            })
        );
    }

    /// Any number of messages may share one reference (a publisher picks its chain ids): an answer pages
    /// through them all and on to what comes after, however small the pages.
    #[test]
    fn pages_go_through_any_number_of_messages_at_one_reference() {
        let a = Signer::from_bytes(&[1; 32]).unwrap();
        let b = Signer::from_bytes(&[2; 32]).unwrap();
        let mut stored: Vec<Vec<u8>> = (0..30)
            .map(|i| message(&a, 1000, 0, &format!("chain{i}"), 50))
            .collect();
        stored.extend((0..5).map(|i| message(&b, 1000, 0, &format!("x{i}"), 50)));
        stored.push(message(&a, 2000, 0, "chain0", 50));
        let everything = sorted(&stored);
        for max_messages in [1, 2, 7, 35, 36] {
            for query in [
                HistoryQuery::Last { n: 36 },
                HistoryQuery::Range {
                    from: (0, 0),
                    to: (u64::MAX, u32::MAX),
                    resume: None,
                },
                HistoryQuery::Envelopes {
                    recipient: "0x".into(),
                    after: (0, 0),
                    resume: None,
                },
            ] {
                assert_eq!(
                    all_pages(query.clone(), &stored, 1 << 20, max_messages),
                    everything,
                    "{query:?}, pages of {max_messages}"
                );
            }
        }
    }

    #[test]
    fn a_chain_pages_after_its_last_reference() {
        let a = Signer::from_bytes(&[1; 32]).unwrap();
        let chain: Vec<Vec<u8>> = (0..10).map(|s| message(&a, 5000, s, "c", 1000)).collect();
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

    /// The CBOR of queries, pinned: a `Range` without `resume` is the same bytes as before `resume`
    /// existed; with it, one more map entry.
    #[test]
    fn cbor_vectors() {
        let cbor = |q: &HistoryQuery| cbor4ii::serde::to_vec(Vec::new(), q).unwrap();
        let plain = HistoryQuery::Range {
            from: (1, 2),
            to: (3, 4),
            resume: None,
        };
        // {"Range": {"from": [1, 2], "to": [3, 4]}}
        let plain_bytes = [
            &[0xa1, 0x65][..],
            b"Range",
            &[0xa2, 0x64],
            b"from",
            &[0x82, 0x01, 0x02, 0x62],
            b"to",
            &[0x82, 0x03, 0x04],
        ]
        .concat();
        assert_eq!(cbor(&plain), plain_bytes);
        let resumed = HistoryQuery::Range {
            from: (1, 2),
            to: (3, 4),
            resume: Some(ResumeAfter {
                publisher: "0xab".into(),
                chain_id: "c".into(),
            }),
        };
        // {"Range": {"from": [1, 2], "to": [3, 4], "resume": {"publisher": "0xab", "chain_id": "c"}}}
        let resumed_bytes = [
            &[0xa1, 0x65][..],
            b"Range",
            &[0xa3, 0x64],
            b"from",
            &[0x82, 0x01, 0x02, 0x62],
            b"to",
            &[0x82, 0x03, 0x04, 0x66],
            b"resume",
            &[0xa2, 0x69],
            b"publisher",
            &[0x64],
            b"0xab",
            &[0x68],
            b"chain_id",
            &[0x61],
            b"c",
        ]
        .concat();
        assert_eq!(cbor(&resumed), resumed_bytes);
        for (query, bytes) in [(plain, plain_bytes), (resumed, resumed_bytes)] {
            let back: HistoryQuery = cbor4ii::serde::from_slice(&bytes).unwrap();
            assert_eq!(back, query);
        }
    }
}
