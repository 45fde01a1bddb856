//! What publishers and subscribers share: the log of sent events per part, the part as subscribers
//! see it, and the content format (a tag and the event's index).

use std::sync::{Arc, Mutex};

use rivulet_protocol::{Address, StreamPartId};

/// An event a publisher sent: when, its timestamp, and how long its node took to acknowledge it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Sent {
    pub(crate) at: tokio::time::Instant,
    pub(crate) timestamp_ms: u64,
    /// From sending it to its node's acknowledgement, ms; `None` while unacknowledged.
    pub(crate) acked_ms: Option<f64>,
}

/// Everything sent to one part, by event index.
pub(crate) type SentLog = Arc<Mutex<Vec<Sent>>>;

/// A part as the subscribers see it.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    pub(crate) part: StreamPartId,
    pub(crate) publisher: Address,
    pub(crate) storage_nodes: Vec<String>,
    pub(crate) sent: SentLog,
}

/// The content of event `index`: a tag, the index, padding.
pub(crate) fn content(index: u64, payload: usize) -> Vec<u8> {
    let mut c = b"RVSC".to_vec();
    c.extend_from_slice(&index.to_be_bytes());
    c.resize(payload.max(12), 0x5a);
    c
}

/// The index in a content made by [`content`].
pub(crate) fn index_of(content: &[u8]) -> Option<u64> {
    let rest = content.strip_prefix(b"RVSC")?;
    Some(u64::from_be_bytes(rest.get(..8)?.try_into().ok()?))
}

/// Wall-clock milliseconds (event timestamps).
pub(crate) fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}
