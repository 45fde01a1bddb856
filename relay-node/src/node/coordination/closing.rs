//! Closing checksum intervals once their report window is over: `closeInterval` is what costs a node
//! that reported another value, or nothing, its weight (anyone may call it; a part's first replica
//! does, for the intervals it reported).

use std::collections::BTreeSet;

use rivulet_contracts::Contracts;
use rivulet_protocol::StreamPartId;
use tracing::{info, warn};

use super::{chain, snapshot::Timing};

/// Intervals this node will close, by when.
#[derive(Debug, Default)]
pub(super) struct Closing {
    due: BTreeSet<(u64, StreamPartId, u64)>,
}

impl Closing {
    /// Closes `interval` of `part` once its report window has passed.
    pub(super) fn schedule(&mut self, part: &StreamPartId, interval: u64, timing: &Timing) {
        let length = timing.checksum_interval.millis() / 1000;
        let at = (interval + 1) * length + timing.report_window_secs + 1;
        self.due.insert((at, part.clone(), interval));
    }

    /// Closes what is due by `now` (chain seconds); a refusal other than a passing one drops it.
    pub(super) async fn close_due(&mut self, contracts: &Contracts, now: u64) {
        while let Some((at, part, interval)) = self.due.first().cloned() {
            if at > now {
                return;
            }
            match chain::close_interval(contracts, &part, interval).await {
                Ok((dissenting, silent)) => {
                    if dissenting + silent > 0 {
                        info!(%part, interval, dissenting, silent, "interval closed; nodes lose weight");
                    }
                }
                Err(e) if chain::is_transient(&e) => {
                    warn!(%part, interval, "cannot close the interval yet: {e}");
                    return;
                }
                Err(e) => info!(%part, interval, "interval not closed: {e}"),
            }
            self.due.remove(&(at, part, interval));
        }
    }
}
