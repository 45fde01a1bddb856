//! Rolling-checksum reports: which intervals of a stream part are due for a report at a moment, and the
//! checksum of one interval computed over this node's store (`PROTOCOL.md`, "Rolling checksums").

use std::ops::RangeInclusive;

use rivulet_protocol::{
    StreamPartId,
    checksum::{IntervalChecksum, RollingChecksum},
};
use rivulet_store::{Store, StoreError};

use super::snapshot::Timing;

/// Seconds before a report window closes in which the node no longer starts a report: the transaction
/// must be mined before the window ends.
pub(crate) const CLOSING_MARGIN_SECS: u64 = 3;

/// The intervals whose report window is open at `now_secs` (chain seconds) with at least
/// [`CLOSING_MARGIN_SECS`] to spare, and that start no earlier than `from_secs` — `None` when there are
/// none. Interval `k` is reported from `(k + 1) * L + settle` until before `(k + 1) * L + window`.
pub(crate) fn due_intervals(
    timing: &Timing,
    now_secs: u64,
    from_secs: u64,
) -> Option<RangeInclusive<u64>> {
    let length = timing.checksum_interval.millis() / 1000;
    if length == 0 {
        return None;
    }
    // Last k with (k + 1) * L + settle <= now.
    let last = now_secs
        .checked_sub(timing.settle_secs)?
        .checked_div(length)?;
    let last = last.checked_sub(1)?;
    // First k with (k + 1) * L + window > now + margin, i.e. k >= (now + margin - window) / L.
    let first_open = (now_secs + CLOSING_MARGIN_SECS)
        .saturating_sub(timing.report_window_secs)
        .checked_div(length)?;
    let first_started = from_secs.div_ceil(length);
    let first = first_open.max(first_started);
    (first <= last).then_some(first..=last)
}

/// The checksum and count of interval `interval` of `part` over the events in `store`.
pub(crate) fn interval_checksum(
    store: &Store,
    part: &StreamPartId,
    timing: &Timing,
    interval: u64,
) -> Result<IntervalChecksum, StoreError> {
    let length = timing.checksum_interval;
    let (Some(start), Some(end)) = (length.start_ms(interval), length.end_ms(interval)) else {
        return Ok(RollingChecksum::new(interval).finish());
    };
    let mut rolling = RollingChecksum::new(interval);
    // Every event of the interval, in key order (the order the checksum is defined on), one at a time:
    // an interval holds as many bytes as its stream part sends in it (gigabytes in an hour of a busy
    // part), more than any answer collects.
    store.each_in_time_range(part, start, end - 1, |wire| rolling.add(wire))?;
    Ok(rolling.finish())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use rivulet_protocol::{
        ChainId, ChainSigner, ContentType, MessageType, Signer,
        checksum::{ChecksumInterval, interval_checksums},
    };

    use super::*;

    /// Signs the next event of `publisher`'s chain at `ts` and stores it; its wire bytes.
    fn store_signed(
        store: &Store,
        publisher: &mut ChainSigner,
        part: &StreamPartId,
        ts: u64,
        content: Vec<u8>,
    ) -> Vec<u8> {
        let m = publisher
            .sign_next(
                part,
                ts,
                MessageType::Data,
                ContentType::Json,
                content,
                None,
                &mut rand::rng(),
            )
            .unwrap();
        let wire = m.encode().unwrap();
        store.append([(m.id(), wire.as_slice())]).unwrap();
        wire
    }

    /// The protocol's reference checksum of interval 100 over `wires`.
    fn reference_for_interval_100(part: &StreamPartId, wires: &[Vec<u8>]) -> IntervalChecksum {
        interval_checksums(part, timing().checksum_interval, wires)
            .unwrap()
            .into_iter()
            .find(|c| c.interval == 100)
            .unwrap()
    }

    fn timing() -> Timing {
        Timing {
            checksum_interval: ChecksumInterval::from_secs(10).unwrap(),
            heartbeat_secs: 5,
            liveness_secs: 20,
            settle_secs: 5,
            report_window_secs: 60,
        }
    }

    #[test]
    fn intervals_are_due_from_their_settle_time_until_shortly_before_their_window_closes() {
        let t = timing();
        // Interval 100 is [1000, 1010): due from 1015 until before 1070 - margin.
        assert_eq!(due_intervals(&t, 1014, 0).map(|r| *r.end()), Some(99));
        assert_eq!(due_intervals(&t, 1015, 0).map(|r| *r.end()), Some(100));
        let at_1066 = due_intervals(&t, 1066, 0).unwrap();
        assert_eq!(*at_1066.start(), 100, "4 s before 1070 it is still due");
        let at_1067 = due_intervals(&t, 1067, 0).unwrap();
        assert_eq!(
            *at_1067.start(),
            101,
            "within the margin it is no longer started"
        );
        // Nothing before the part was stored.
        assert_eq!(*due_intervals(&t, 1066, 1003).unwrap().start(), 101);
        assert_eq!(due_intervals(&t, 1066, 1070), None);
        assert_eq!(due_intervals(&t, 3, 0), None, "the chain's first seconds");
    }

    #[test]
    fn an_interval_checksum_over_the_store_matches_the_protocol_reference() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("h.redb")).unwrap();
        let part: StreamPartId = "rivulet.eth/sums#0".parse().unwrap();
        let mut publishers: Vec<ChainSigner> = (1..=3u8)
            .map(|i| {
                ChainSigner::new(
                    Signer::from_bytes(&[i; 32]).unwrap(),
                    ChainId::new("c").unwrap(),
                )
            })
            .collect();
        // Events around interval 100 ([1_000_000, 1_010_000) ms), stored in an order of their own.
        let mut wires = Vec::new();
        for (i, ts) in [
            1_009_999u64,
            999_999,
            1_000_000,
            1_005_000,
            1_010_000,
            1_005_000,
        ]
        .into_iter()
        .enumerate()
        {
            let content = format!("{{\"i\":{i}}}").into_bytes();
            wires.push(store_signed(
                &store,
                &mut publishers[i % 3],
                &part,
                ts,
                content,
            ));
        }
        let ours = interval_checksum(&store, &part, &timing(), 100).unwrap();
        assert_eq!(ours, reference_for_interval_100(&part, &wires));
        assert_eq!(ours.count, 4);
        assert_eq!(
            interval_checksum(&store, &part, &timing(), 7)
                .unwrap()
                .count,
            0
        );
    }

    /// An interval holding more bytes than a store answer collects is checksummed whole: every event
    /// counts, as in the protocol's reference over the same events.
    #[test]
    fn an_interval_larger_than_an_answer_is_checksummed_whole() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("h.redb")).unwrap();
        let part: StreamPartId = "rivulet.eth/big-sums#0".parse().unwrap();
        let mut publisher = ChainSigner::new(
            Signer::from_bytes(&[4; 32]).unwrap(),
            ChainId::new("c").unwrap(),
        );
        // 160 events of 60 KiB in interval 100: 9.4 MiB, past the 8 MiB an answer stops at.
        let content = format!("\"{}\"", "x".repeat(60 * 1024)).into_bytes();
        let wires: Vec<Vec<u8>> = (0..160u64)
            .map(|i| {
                store_signed(
                    &store,
                    &mut publisher,
                    &part,
                    1_000_000 + i * 50,
                    content.clone(),
                )
            })
            .collect();
        assert!(wires.iter().map(Vec::len).sum::<usize>() > rivulet_store::MAX_ANSWER_BYTES);
        let ours = interval_checksum(&store, &part, &timing(), 100).unwrap();
        assert_eq!(ours.count, 160);
        assert_eq!(ours, reference_for_interval_100(&part, &wires));
    }
}
