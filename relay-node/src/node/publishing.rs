//! How many light-protocol publishes one client address may have in progress on this node at once.
//!
//! Every published event waits for a place in the verification pool, which all publishers and peers
//! share; while it is full the node takes no more input from anyone. A client that sends publish
//! requests as fast as it can — on any number of connections and peer ids — could keep it full. So
//! the events an address has in progress (received, not yet answered) are counted, and a request
//! that would take it past its share is answered `busy` at once, before any verification. An honest
//! client has at most 4 requests of 256 events out (1,024), well inside the default share.

use std::collections::HashMap;

use crate::turns::ReaderKey;

/// Events in progress per client address, bounded.
#[derive(Debug)]
pub(crate) struct PublishShares {
    max: usize,
    by_address: HashMap<ReaderKey, usize>,
}

/// A publish refused because its address has its share in progress already.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "{from} already has {held} events being published on this node, and {asked} more would pass the {max} one address may have at once; wait for their answers"
)]
pub(crate) struct Busy {
    from: ReaderKey,
    held: usize,
    asked: usize,
    max: usize,
}

impl PublishShares {
    /// At most `max` events in progress per address.
    pub(crate) fn new(max: usize) -> PublishShares {
        PublishShares {
            max,
            by_address: HashMap::new(),
        }
    }

    /// Counts `events` more in progress for `from`, unless that passes its share. A single request
    /// larger than the share is let through while the address has nothing else in progress.
    pub(crate) fn take(&mut self, from: ReaderKey, events: usize) -> Result<(), Busy> {
        let held = self.by_address.get(&from).copied().unwrap_or(0);
        if held > 0 && held + events > self.max {
            return Err(Busy {
                from,
                held,
                asked: events,
                max: self.max,
            });
        }
        self.by_address.insert(from, held + events);
        Ok(())
    }

    /// `events` of `from`'s were answered.
    pub(crate) fn done(&mut self, from: ReaderKey, events: usize) {
        if let Some(held) = self.by_address.get_mut(&from) {
            *held = held.saturating_sub(events);
            if *held == 0 {
                self.by_address.remove(&from);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::turns::tests::ip;

    #[test]
    fn an_address_has_at_most_its_share_in_progress() {
        let mut shares = PublishShares::new(300);
        assert_eq!(shares.take(ip(1), 256), Ok(()));
        let busy = shares.take(ip(1), 256).unwrap_err();
        assert_eq!(
            busy.to_string(),
            "10.0.0.1 already has 256 events being published on this node, and 256 more would pass the 300 one address may have at once; wait for their answers"
        );
        assert_eq!(shares.take(ip(1), 44), Ok(()), "up to the share");
        assert_eq!(shares.take(ip(2), 256), Ok(()), "another address");
        shares.done(ip(1), 256);
        assert_eq!(shares.take(ip(1), 256), Ok(()), "room again once answered");
        shares.done(ip(1), 300);
        assert!(!shares.by_address.contains_key(&ip(1)), "forgotten at zero");
        // One request larger than the share goes when nothing else is in progress.
        assert_eq!(shares.take(ip(3), 500), Ok(()));
        assert!(shares.take(ip(3), 1).is_err());
    }
}
