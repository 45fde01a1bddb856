//! How often one client address may sign in over the light protocol. A sign-in costs the node a
//! signature recovery (two for a wallet-authorised session key) on its event loop, and a client signs
//! in once per connection; an address that signs in far more often than any page full of tabs would is
//! answered `rate_limited` before anything is recovered.

use std::time::Instant;

use rivulet_network::bucket::KeyedBuckets;

use crate::turns::ReaderKey;

/// Sign-ins one address may make per second (bursts of twice that).
pub(crate) const SIGN_INS_PER_SECOND: u32 = 50;

/// A sign-in budget per client address.
#[derive(Debug)]
pub(crate) struct SignIns {
    buckets: KeyedBuckets<ReaderKey>,
}

impl Default for SignIns {
    fn default() -> Self {
        SignIns {
            buckets: KeyedBuckets::new(SIGN_INS_PER_SECOND),
        }
    }
}

impl SignIns {
    /// Whether `from` may sign in now (and counts it if so).
    pub(crate) fn allow(&mut self, from: ReaderKey) -> bool {
        self.allow_at(from, Instant::now())
    }

    fn allow_at(&mut self, from: ReaderKey, now: Instant) -> bool {
        self.buckets.take_at(from, now)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::turns::tests::ip;

    #[test]
    fn an_address_signs_in_at_most_its_rate() {
        let mut sign_ins = SignIns::default();
        let now = Instant::now();
        let burst = 2 * SIGN_INS_PER_SECOND as usize;
        assert_eq!(
            (0..burst + 10)
                .filter(|_| sign_ins.allow_at(ip(1), now))
                .count(),
            burst
        );
        assert!(sign_ins.allow_at(ip(2), now), "another address");
        assert!(
            sign_ins.allow_at(ip(1), now + Duration::from_millis(100)),
            "refilled"
        );
    }
}
