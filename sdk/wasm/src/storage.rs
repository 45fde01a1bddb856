//! The network coordinator, read by the client: which nodes store a stream part (`storageNodes`), and
//! a resend checked against the rolling checksums the network finalised (`verifyHistory`), so a storage
//! node that drops, adds or alters events is caught by the reader. Part of the exported `RivuletClient`
//! class, like [`chain`](crate::chain).

use js_sys::Promise;
use rivulet_contracts::HistoryCheckError;
use rivulet_protocol::StreamPartId;
use serde::Serialize;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::future_to_promise;

use crate::{
    bindings::{
        PartArgOpt, RivuletClient, chain_error, from_js, invalid, js_error, to_js, to_value,
    },
    options::ResendArg,
};

/// A node that stores a part, as `storageNodes` resolves it.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct StorageNodeView {
    account: String,
    peer_id: String,
    /// Its dial addresses, each with `/p2p/<peer id>`: usable as `nodes` of a client.
    addresses: Vec<String>,
    live: bool,
}

/// What `verifyHistory` resolves with.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct VerificationView {
    /// Events in the answer.
    events: usize,
    /// The range checked, event timestamps (ms, inclusive).
    from: u64,
    to: u64,
    /// Intervals whose events match the network's final checksum.
    verified: Vec<u64>,
    /// Intervals not final (yet): nothing to check them against.
    pending: Vec<u64>,
}

fn history_error(e: HistoryCheckError) -> JsValue {
    match e {
        HistoryCheckError::Contracts(e) => chain_error(e),
        HistoryCheckError::Mismatch { .. } => js_error("HISTORY_MISMATCH", &e.to_string()),
        e => js_error("UNVERIFIABLE", &e.to_string()),
    }
}

/// `address` with `/p2p/<peer>` unless it names a peer already.
fn with_peer(address: &str, peer: &str) -> String {
    if address.contains("/p2p/") {
        address.to_owned()
    } else {
        format!("{address}/p2p/{peer}")
    }
}

fn part_of(part: JsValue) -> Result<StreamPartId, JsValue> {
    from_js::<PartArgOpt>(part)?
        .0
        .ok_or_else(|| invalid("which stream?"))?
        .to_part()
        .map_err(to_js)
}

#[wasm_bindgen]
impl RivuletClient {
    /// The nodes the network coordinator assigns to store a stream part, from the chain.
    #[wasm_bindgen(js_name = storageNodes)]
    pub fn storage_nodes(&self, part: JsValue) -> Promise {
        let chain = self.chain_access();
        future_to_promise(async move {
            let part = part_of(part)?;
            let coordinator = chain.await?.coordinator().map_err(chain_error)?;
            let mut nodes = Vec::new();
            for account in coordinator
                .assigned_nodes(&part)
                .await
                .map_err(chain_error)?
            {
                if let Some(info) = coordinator.node_info(account).await.map_err(chain_error)? {
                    nodes.push(StorageNodeView {
                        account: info.account.to_checksum(None),
                        addresses: info
                            .addresses
                            .iter()
                            .map(|a| with_peer(a, &info.peer_id))
                            .collect(),
                        peer_id: info.peer_id,
                        live: info.live,
                    });
                }
            }
            to_value(&nodes)
        })
    }

    /// Resends (`{ last }` or `{ from, to? }`, as `resend`) and checks the answer against the network's
    /// final checksums: every checksum interval wholly inside the answer's span — or, when the answer
    /// is the part's whole history (fewer than `last` events), from when the network began storing the
    /// stream until now — must hold exactly the events the network finalised. Rejects with
    /// `HISTORY_MISMATCH` naming the interval when it does not.
    #[wasm_bindgen(js_name = verifyHistory)]
    pub fn verify_history(&self, part: JsValue, query: JsValue) -> Promise {
        let client = self.client.clone();
        let chain = self.chain_access();
        future_to_promise(async move {
            let part = part_of(part)?;
            let query: ResendArg = from_js(query)?;
            let asked_at = rivulet_client::runtime::now_ms();
            let events = client
                .resend(&part, query.to_query().map_err(to_js)?)
                .await
                .map_err(to_js)?;
            let coordinator = chain.await?.coordinator().map_err(chain_error)?;
            let whole = query.last.is_some_and(|n| events.len() < n as usize);
            let (from, to) = if whole {
                let storage = coordinator
                    .storage_of(&part.stream_id)
                    .await
                    .map_err(chain_error)?
                    .ok_or_else(|| {
                        js_error(
                            "NOT_STORED",
                            &format!(
                                "the network does not store {}: no checksums to verify against",
                                part.stream_id
                            ),
                        )
                    })?;
                (storage.since * 1000, asked_at)
            } else {
                match (events.first(), events.last()) {
                    (Some(first), Some(last)) => (first.id().timestamp, last.id().timestamp),
                    _ => (0, 0),
                }
            };
            let wires = events
                .iter()
                .map(|e| e.encode())
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| js_error("INTERNAL", &e.to_string()))?;
            let checked = if to > from {
                coordinator
                    .verify_history(&part, from, to, &wires)
                    .await
                    .map_err(history_error)?
            } else {
                Default::default()
            };
            to_value(&VerificationView {
                events: events.len(),
                from,
                to,
                verified: checked.verified,
                pending: checked.pending,
            })
        })
    }
}
