//! How often one client address may sign in over the light protocol. A sign-in costs the node a
//! signature recovery (two for a wallet-authorised session key) on its event loop, and a client signs
//! in once per connection; an address that signs in far more often than any page full of tabs would is
//! answered `rate_limited` before anything is recovered.

use std::{collections::HashMap, time::Instant};

use crate::{bucket::Bucket, turns::ReaderKey};

/// Sign-ins one address may make per second (bursts of twice that).
pub(crate) const SIGN_INS_PER_SECOND: u32 = 50;

/// Addresses remembered before the idle ones (whose buckets refilled) are forgotten.
const REMEMBERED: usize = 4_096;

/// A sign-in budget per client address.
#[derive(Debug, Default)]
pub(crate) struct SignIns {
    buckets: HashMap<ReaderKey, Bucket>,
}

impl SignIns {
    /// Whether `from` may sign in now (and counts it if so).
    pub(crate) fn allow(&mut self, from: ReaderKey) -> bool {
        self.allow_at(from, Instant::now())
    }

    fn allow_at(&mut self, from: ReaderKey, now: Instant) -> bool {
        if self.buckets.len() >= REMEMBERED && !self.buckets.contains_key(&from) {
            self.buckets.retain(|_, bucket| !bucket.full_at(now));
        }
        self.buckets
            .entry(from)
            .or_insert_with(|| Bucket::new(SIGN_INS_PER_SECOND))
            .take_at(now)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::turns::tests::ip;

    #[test]
    fn an_address_signs_in_at_most_its_rate_and_idle_ones_are_forgotten() {
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
        // Many addresses: the idle ones go when the map is full.
        let later = now + Duration::from_secs(10);
        for n in 0..REMEMBERED {
            let key = ReaderKey::ip(std::net::Ipv4Addr::from(0x0a01_0000 + n as u32).into());
            sign_ins.allow_at(key, now);
        }
        assert!(sign_ins.allow_at(ip(3), later));
        assert!(sign_ins.buckets.len() < 10, "{}", sign_ins.buckets.len());
    }
}
