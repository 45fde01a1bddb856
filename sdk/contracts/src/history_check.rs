//! Checking a stream part's history, as a storage node answered it, against the rolling checksums the
//! network finalised ([`Coordinator::verify_history`]): a node that drops, adds or alters an event of a
//! final interval is caught by the reader, whoever its entry node was.

use std::collections::HashMap;

use alloy_primitives::B256;
use futures_util::{StreamExt, stream};
use rivulet_protocol::{
    StreamPartId,
    checksum::{ChecksumError, ChecksumInterval, EMPTY_CHECKSUM, interval_checksums},
};

use crate::{ContractsError, Coordinator};

/// Most intervals one call checks (each is one `eth_call`).
pub const MAX_VERIFIED_INTERVALS: u64 = 2_000;

/// Final checksums read from the chain at once while checking a history.
const CONCURRENT_READS: usize = 16;

/// What [`Coordinator::verify_history`] found, by interval index.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HistoryVerification {
    /// Intervals wholly inside the range whose events match the network's final checksum and count.
    pub verified: Vec<u64>,
    /// Intervals wholly inside the range that are not final (yet, or ever: an interval without events
    /// is never reported): nothing to check them against.
    pub pending: Vec<u64>,
}

/// Why a history did not verify.
#[derive(Debug, thiserror::Error)]
pub enum HistoryCheckError {
    /// The chain could not be read.
    #[error(transparent)]
    Contracts(#[from] ContractsError),
    /// The answer holds something that is not an event of the part.
    #[error("the answer is not history of the part: {0}")]
    NotHistory(#[from] ChecksumError),
    /// An interval's events differ from what the network finalised: events were dropped, added or
    /// altered.
    #[error(
        "interval {interval} of {part} ({from_ms}..{to_ms} ms) does not match the network's final checksum: \
         the answer holds {found_count} events hashing to {found}, the network finalised {expected_count} \
         hashing to {expected}"
    )]
    Mismatch {
        /// The stream part.
        part: StreamPartId,
        /// The interval's index.
        interval: u64,
        /// Its first millisecond.
        from_ms: u64,
        /// Its end (exclusive), ms.
        to_ms: u64,
        /// Events in the answer.
        found_count: u64,
        /// Their rolling checksum.
        found: B256,
        /// Events the network finalised.
        expected_count: u64,
        /// The final checksum.
        expected: B256,
    },
    /// The range spans more intervals than one call checks.
    #[error(
        "{intervals} checksum intervals lie in {from_ms}..={to_ms} ms: verify at most {MAX_VERIFIED_INTERVALS} at once"
    )]
    TooLong {
        /// Intervals in the range.
        intervals: u64,
        /// The range's start, ms.
        from_ms: u64,
        /// Its end (inclusive), ms.
        to_ms: u64,
    },
}

impl Coordinator {
    /// Checks `wires`, a storage node's whole answer for `part` between `from_ms` and `to_ms`
    /// (inclusive, event timestamps), against the final checksums: every interval wholly inside the
    /// range must hold exactly the events the network finalised for it (intervals cut by the range's
    /// ends cannot be judged and are left out). Signatures are not checked here: clients verify every
    /// event anyway.
    pub async fn verify_history<W: AsRef<[u8]>>(
        &self,
        part: &StreamPartId,
        from_ms: u64,
        to_ms: u64,
        wires: &[W],
    ) -> Result<HistoryVerification, HistoryCheckError> {
        let length = ChecksumInterval::from_secs(self.checksum_interval().await?.max(1))
            .unwrap_or_else(|| unreachable!("a non-zero number of seconds is an interval"));
        let millis = length.millis();
        let first = from_ms.div_ceil(millis);
        let end = to_ms.saturating_add(1) / millis; // first interval not wholly inside
        if end <= first {
            return Ok(HistoryVerification::default());
        }
        if end - first > MAX_VERIFIED_INTERVALS {
            return Err(HistoryCheckError::TooLong {
                intervals: end - first,
                from_ms,
                to_ms,
            });
        }
        let local: HashMap<u64, (u64, [u8; 32])> = interval_checksums(part, length, wires)?
            .into_iter()
            .map(|c| (c.interval, (c.count, c.hash)))
            .collect();
        // The final checksums, a few reads at a time, in interval order: the first interval that
        // differs is the one reported.
        let mut finals = stream::iter(first..end)
            .map(|interval| async move { (interval, self.final_checksum(part, interval).await) })
            .buffered(CONCURRENT_READS);
        let mut out = HistoryVerification::default();
        while let Some((interval, read)) = finals.next().await {
            let (found_count, found) = local.get(&interval).copied().unwrap_or((0, EMPTY_CHECKSUM));
            let found = B256::from(found);
            match read? {
                None => out.pending.push(interval),
                Some(f) if f.count == found_count && f.checksum == found => {
                    out.verified.push(interval)
                }
                Some(f) => {
                    return Err(HistoryCheckError::Mismatch {
                        part: part.clone(),
                        interval,
                        from_ms: interval * millis,
                        to_ms: (interval + 1) * millis,
                        found_count,
                        found,
                        expected_count: f.count,
                        expected: f.checksum,
                    });
                }
            }
        }
        Ok(out)
    }
}
