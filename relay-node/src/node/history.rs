//! History: answers from this node's store, and requests for parts it does not store, sent to its peers
//! one after another until one that stores the part answers.

use std::collections::HashMap;

use rivulet_network::{
    HISTORY_PAGE_BYTES, HistoryQuery, HistoryRequest, HistoryResponse, ReaderProof, ResumeAfter,
    libp2p::{PeerId, request_response::OutboundRequestId},
};
use rivulet_protocol::{Address, ChainId, MessageRef, StreamPartId};
use rivulet_store::{Limit, Position, Store};
use tokio::sync::oneshot;

use super::{access::Access, commands::HistoryPage};

/// Most messages in one page of history: ~200 KiB of typical events. A node holds a page it serves several
/// times over while it answers (read, encoded, in the connection's buffers, in freed memory its allocator
/// keeps until the next trim); while a restarted peer copied its history from them, the soak's nodes
/// peaked 30-45 MiB higher with pages of 10,000, 10-15 MiB with 2,500, 3-6 MiB with 500 (BENCHMARKS.md,
/// "Soak"). PROTOCOL.md promises pages of at most 2,500; a client follows up to 5,000 pages of a resend.
pub(crate) const HISTORY_PAGE_MESSAGES: usize = 500;

/// The largest window a `Last` query may ask for: finding its start walks back over that many keys.
pub(crate) const MAX_LAST_WINDOW: u32 = 1_000_000;

/// The first page (at most [`HISTORY_PAGE_BYTES`] and [`HISTORY_PAGE_MESSAGES`]) of a query's answer
/// from this node's store, and the query for the rest when there is more.
pub(crate) fn query_store(
    store: &Store,
    part: &StreamPartId,
    query: &HistoryQuery,
) -> Result<HistoryPage, String> {
    // One message beyond the page says whether there is more.
    let limit = Limit(HISTORY_PAGE_MESSAGES + 1);
    let r = |(t, s): (u64, u32)| MessageRef::new(t, s);
    let result = match query {
        HistoryQuery::Last { n } if *n > MAX_LAST_WINDOW => {
            return Err(format!(
                "last {n} is more than the {MAX_LAST_WINDOW} a query may ask for; ask by time range (from) for more"
            ));
        }
        // Only the page is read: a window of up to a million messages is walked back over by key alone.
        HistoryQuery::Last { n } => store.last_from_start(part, *n as usize, limit),
        HistoryQuery::Range {
            from,
            to,
            resume: None,
        } => store.range(part, r(*from), r(*to), limit),
        HistoryQuery::Range {
            from,
            to,
            resume: Some(resume),
        } => {
            let (publisher, chain_id) = parse_resume(resume)?;
            let after = Position {
                reference: r(*from),
                publisher: &publisher,
                chain_id: &chain_id,
            };
            store.range_after(part, after, r(*to), limit)
        }
        HistoryQuery::Chain {
            publisher,
            chain_id,
            after,
            to,
        } => {
            let publisher = publisher.parse().map_err(|e| format!("publisher: {e}"))?;
            let chain_id = chain_id.parse().map_err(|e| format!("chain id: {e}"))?;
            store.chain_range(part, publisher, &chain_id, r(*after), r(*to), limit)
        }
        HistoryQuery::Envelopes {
            recipient,
            after,
            resume,
        } => {
            let recipient = recipient.parse().map_err(|e| format!("recipient: {e}"))?;
            match resume {
                None => store.envelopes(part, &recipient, r(*after), limit),
                Some(resume) => {
                    let (publisher, chain_id) = parse_resume(resume)?;
                    let after = Position {
                        reference: r(*after),
                        publisher: &publisher,
                        chain_id: &chain_id,
                    };
                    store.envelopes_after(part, &recipient, after, limit)
                }
            }
        }
    };
    let messages = result.map_err(|e| e.to_string())?;
    Ok(query.page(messages, HISTORY_PAGE_BYTES, HISTORY_PAGE_MESSAGES))
}

/// The publisher and chain id a paged answer resumes after.
fn parse_resume(resume: &ResumeAfter) -> Result<(Address, ChainId), String> {
    let publisher = resume
        .publisher
        .parse()
        .map_err(|e| format!("resume publisher: {e}"))?;
    let chain_id = resume
        .chain_id
        .parse()
        .map_err(|e| format!("resume chain id: {e}"))?;
    Ok((publisher, chain_id))
}

/// A peer's history request, answered from this node's store (`serves`: whether its history of the part
/// is complete here) — for a part that is not public, only to a reader that may subscribe to it, proven
/// by the proof the `requester` (the reader's entry node) forwards, or to another node assigned to store
/// the part (`replica`), copying its history.
pub(crate) fn answer(
    store: &Store,
    serves: impl Fn(&StreamPartId) -> bool,
    replica: impl Fn(&PeerId, &StreamPartId) -> bool,
    access: &Access,
    requester: &PeerId,
    request: &HistoryRequest,
) -> HistoryResponse {
    let Ok(part) = request.part.parse::<StreamPartId>() else {
        return HistoryResponse::Error(format!("{:?} is not a stream part", request.part));
    };
    if !serves(&part) {
        return HistoryResponse::Error(format!(
            "this node does not serve {part} (it does not store it, or is still copying its history)"
        ));
    }
    // A replica copying the part's history stores the same bytes (ciphertext unless the part is public).
    let copying = request.reader.is_none() && replica(requester, &part);
    if !copying
        && let Err(refusal) = check_reader(access, requester, &part, request.reader.as_ref())
    {
        return HistoryResponse::Error(refusal);
    }
    match query_store(store, &part, &request.query) {
        Ok((messages, next)) => HistoryResponse::Messages {
            messages: messages.into_iter().map(Into::into).collect(),
            next,
        },
        Err(e) => HistoryResponse::Error(e),
    }
}

/// Whether the reader a peer asks for may read `part` now: anyone, for a public part; otherwise the
/// reader its proof shows (signed for `requester`, the reader's entry node) must may subscribe.
pub(crate) fn check_reader(
    access: &Access,
    requester: &PeerId,
    part: &StreamPartId,
    proof: Option<&ReaderProof>,
) -> Result<(), String> {
    if access.may_subscribe(None, part) {
        return Ok(());
    }
    let Some(proof) = proof else {
        return Err(format!(
            "no_permission: {} is not public, and the request names no reader",
            part.stream_id
        ));
    };
    let reader = proof
        .reader(requester, access.now_secs())
        .map_err(|e| format!("no_permission: {e}"))?;
    if access.may_subscribe(Some(reader), part) {
        Ok(())
    } else {
        Err(format!(
            "no_permission: {reader} may not subscribe to {}",
            part.stream_id
        ))
    }
}

/// A history request travelling from peer to peer until one stores the part.
#[derive(Debug)]
pub(crate) struct PendingHistory {
    request: HistoryRequest,
    untried: Vec<PeerId>,
    last_error: String,
    reply: oneshot::Sender<Result<HistoryPage, String>>,
}

impl PendingHistory {
    /// A request for one page of `part`'s history, to be tried on `peers` in order.
    pub(crate) fn new(
        part: &StreamPartId,
        query: HistoryQuery,
        reader: Option<ReaderProof>,
        peers: Vec<PeerId>,
        reply: oneshot::Sender<Result<HistoryPage, String>>,
    ) -> PendingHistory {
        PendingHistory {
            request: HistoryRequest {
                part: part.to_string(),
                query,
                reader,
            },
            untried: peers.into_iter().rev().collect(),
            last_error: "no peers".into(),
            reply,
        }
    }

    /// The next peer to ask and the request, or — when every peer was tried — the requester is told the
    /// last error and `None` comes back.
    pub(crate) fn next_peer(mut self) -> Option<(PeerId, HistoryRequest, PendingHistory)> {
        match self.untried.pop() {
            Some(peer) => {
                let request = self.request.clone();
                Some((peer, request, self))
            }
            None => {
                let _ = self.reply.send(Err(format!(
                    "no connected node stores {} ({})",
                    self.request.part, self.last_error
                )));
                None
            }
        }
    }
}

/// History requests sent to peers, waiting for answers.
#[derive(Debug, Default)]
pub(crate) struct RemoteHistory {
    pending: HashMap<OutboundRequestId, PendingHistory>,
}

impl RemoteHistory {
    /// Remembers a request sent as `id`.
    pub(crate) fn sent(&mut self, id: OutboundRequestId, pending: PendingHistory) {
        self.pending.insert(id, pending);
    }

    /// A peer answered request `id`: a page goes to the requester; an error makes it a request for the
    /// next peer, returned.
    pub(crate) fn answered(
        &mut self,
        id: OutboundRequestId,
        response: HistoryResponse,
    ) -> Option<PendingHistory> {
        let pending = self.pending.remove(&id)?;
        match response {
            HistoryResponse::Messages { messages, next } => {
                let messages = messages.into_iter().map(|b| b.into_vec()).collect();
                let _ = pending.reply.send(Ok((messages, next)));
                None
            }
            HistoryResponse::Error(e) => Some(PendingHistory {
                last_error: e,
                ..pending
            }),
        }
    }

    /// Request `id` failed in transport: it becomes a request for the next peer, returned.
    pub(crate) fn failed(
        &mut self,
        id: OutboundRequestId,
        error: String,
    ) -> Option<PendingHistory> {
        let pending = self.pending.remove(&id)?;
        Some(PendingHistory {
            last_error: error,
            ..pending
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use rivulet_protocol::{ChainId, ChainSigner, ContentType, MessageType, Signer, StreamMessage};

    use super::*;

    /// Stores `events`; their wire bytes.
    fn store_all(store: &Store, events: &[StreamMessage]) -> Vec<Vec<u8>> {
        let wires: Vec<Vec<u8>> = events.iter().map(|m| m.encode().unwrap()).collect();
        store
            .append(
                events
                    .iter()
                    .zip(&wires)
                    .map(|(m, w)| (m.id(), w.as_slice())),
            )
            .unwrap();
        wires
    }

    /// More events than a page holds: the page says where the rest begins, and following it loses none.
    #[test]
    fn a_page_of_a_long_history_names_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("h.redb")).unwrap();
        let part: StreamPartId = "rivulet.eth/long#0".parse().unwrap();
        let mut publisher = ChainSigner::new(
            Signer::from_bytes(&[8; 32]).unwrap(),
            ChainId::new("c").unwrap(),
        );
        let total = HISTORY_PAGE_MESSAGES + 50;
        let events: Vec<StreamMessage> = (0..total)
            .map(|i| {
                publisher
                    .sign_next(
                        &part,
                        1_000 + i as u64 / 3,
                        MessageType::Data,
                        ContentType::Json,
                        b"{}".to_vec(),
                        None,
                        &mut rand::rng(),
                    )
                    .unwrap()
            })
            .collect();
        let wires = store_all(&store, &events);
        for first in [
            HistoryQuery::Range {
                from: (0, 0),
                to: (u64::MAX, u32::MAX),
                resume: None,
            },
            HistoryQuery::Last { n: total as u32 },
        ] {
            let (page, next) = query_store(&store, &part, &first).unwrap();
            assert_eq!(page.len(), HISTORY_PAGE_MESSAGES, "{first:?}");
            let next = next.expect("the rest is named");
            let (rest, none) = query_store(&store, &part, &next).unwrap();
            assert_eq!(none, None);
            assert_eq!([page, rest].concat(), wires, "{first:?}");
        }
        let too_many = HistoryQuery::Last {
            n: MAX_LAST_WINDOW + 1,
        };
        assert!(
            query_store(&store, &part, &too_many)
                .unwrap_err()
                .contains("time range")
        );
    }

    /// The defect this once had: a page could end only where the reference changed, so when a page's
    /// worth of messages shared one reference (one publisher can make that: chain ids are its choice)
    /// the answer stopped there and what came after was never served. Every page now names its rest.
    #[test]
    fn a_page_full_of_one_reference_still_names_the_rest() {
        use rivulet_protocol::UnsignedMessage;
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("h.redb")).unwrap();
        let part: StreamPartId = "rivulet.eth/same#0".parse().unwrap();
        let signer = Signer::from_bytes(&[9; 32]).unwrap();
        let event = |timestamp: u64, chain: &str| {
            let body = UnsignedMessage::data(
                &part,
                signer.address(),
                ChainId::new(chain).unwrap(),
                (MessageRef::new(timestamp, 0), None),
                ContentType::Json,
                b"{}".to_vec(),
            );
            signer.sign(body).unwrap()
        };
        let mut events: Vec<StreamMessage> = (0..HISTORY_PAGE_MESSAGES + 10)
            .map(|i| event(1_000, &format!("c{i}")))
            .collect();
        events.push(event(2_000, "c0"));
        let wires = store_all(&store, &events);
        let everything = store.last(&part, wires.len()).unwrap();
        assert_eq!(everything.len(), wires.len());
        for first in [
            HistoryQuery::Range {
                from: (0, 0),
                to: (u64::MAX, u32::MAX),
                resume: None,
            },
            HistoryQuery::Last {
                n: wires.len() as u32,
            },
        ] {
            let mut answered = Vec::new();
            let mut next = Some(first.clone());
            let mut pages = 0;
            while let Some(query) = next {
                let (page, rest) = query_store(&store, &part, &query).unwrap();
                assert!(page.len() <= HISTORY_PAGE_MESSAGES);
                answered.extend(page);
                next = rest;
                pages += 1;
            }
            assert_eq!(pages, 2, "{first:?}");
            assert_eq!(
                answered, everything,
                "{first:?}: every event, in order, once"
            );
        }
        let bad = HistoryQuery::Range {
            from: (1_000, 0),
            to: (u64::MAX, u32::MAX),
            resume: Some(ResumeAfter {
                publisher: "0x12".into(),
                chain_id: "c0".into(),
            }),
        };
        assert!(
            query_store(&store, &part, &bad)
                .unwrap_err()
                .contains("resume publisher")
        );
    }
}
