//! A token bucket: how often something may happen, with bursts. A node limits how often one address
//! opens connections with one per address ([`crate::address_limits`]); the relay node's WebSocket API
//! limits each connection's frames, and its light sessions each address's sign-ins, with them too.

use std::{collections::HashMap, hash::Hash, time::Instant};

/// Keys a [`KeyedBuckets`] remembers before the idle ones (whose buckets refilled) are forgotten.
const REMEMBERED: usize = 4_096;

/// `rate` tokens a second, holding at most twice that (the burst).
#[derive(Debug, Clone)]
pub struct Bucket {
    tokens: f64,
    rate: f64,
    last: Instant,
}

impl Bucket {
    /// A full bucket of `rate` a second.
    pub fn new(rate: u32) -> Bucket {
        Bucket::new_at(rate, Instant::now())
    }

    /// A full bucket of `rate` a second, as of `now`.
    pub fn new_at(rate: u32, now: Instant) -> Bucket {
        Bucket {
            tokens: f64::from(rate) * 2.0,
            rate: f64::from(rate),
            last: now,
        }
    }

    /// Takes a token; false when none is left.
    pub fn take(&mut self) -> bool {
        self.take_at(Instant::now())
    }

    /// [`Bucket::take`] at `now`.
    pub fn take_at(&mut self, now: Instant) -> bool {
        self.refill(now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// Whether it has refilled completely by `now` (nothing taken lately: it may be forgotten).
    pub fn full_at(&mut self, now: Instant) -> bool {
        self.refill(now);
        self.tokens >= self.rate * 2.0
    }

    fn refill(&mut self, now: Instant) {
        self.tokens = (self.tokens
            + now.saturating_duration_since(self.last).as_secs_f64() * self.rate)
            .min(self.rate * 2.0);
        self.last = now;
    }
}

/// A bucket per key (a client's address, say), each of `rate` a second; keys whose buckets refilled
/// are forgotten once many are remembered — at most once a second, each time being a pass over all.
#[derive(Debug)]
pub struct KeyedBuckets<K> {
    rate: u32,
    buckets: HashMap<K, Bucket>,
    pruned_at: Option<Instant>,
}

impl<K: Hash + Eq> KeyedBuckets<K> {
    /// No keys yet; each gets `rate` a second, bursts of twice that.
    pub fn new(rate: u32) -> KeyedBuckets<K> {
        KeyedBuckets {
            rate,
            buckets: HashMap::new(),
            pruned_at: None,
        }
    }

    /// The rate each key gets.
    pub fn rate(&self) -> u32 {
        self.rate
    }

    /// Takes a token of `key`'s at `now`; false when it has none left.
    pub fn take_at(&mut self, key: K, now: Instant) -> bool {
        if self.buckets.len() >= REMEMBERED
            && self
                .pruned_at
                .is_none_or(|at| now.saturating_duration_since(at).as_secs() >= 1)
        {
            self.buckets.retain(|_, bucket| !bucket.full_at(now));
            self.pruned_at = Some(now);
        }
        let rate = self.rate;
        self.buckets
            .entry(key)
            .or_insert_with(|| Bucket::new_at(rate, now))
            .take_at(now)
    }

    /// How many keys are remembered.
    pub fn remembered(&self) -> usize {
        self.buckets.len()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn bursts_of_twice_the_rate_then_the_rate() {
        let start = Instant::now();
        let mut bucket = Bucket::new_at(10, start);
        assert_eq!((0..25).filter(|_| bucket.take_at(start)).count(), 20);
        assert!(!bucket.full_at(start));
        let later = start + Duration::from_millis(500);
        assert_eq!((0..25).filter(|_| bucket.take_at(later)).count(), 5);
        assert!(bucket.full_at(later + Duration::from_secs(2)));
    }

    #[test]
    fn keys_have_their_own_buckets_and_idle_ones_are_forgotten() {
        let mut keyed = KeyedBuckets::new(10);
        let now = Instant::now();
        assert_eq!((0..25).filter(|_| keyed.take_at(1_u32, now)).count(), 20);
        assert!(keyed.take_at(2, now), "another key");
        for key in 3..REMEMBERED as u32 + 3 {
            keyed.take_at(key, now);
        }
        let later = now + Duration::from_secs(10);
        assert!(keyed.take_at(1, later));
        assert!(keyed.remembered() < 10, "{}", keyed.remembered());
        // A pass over every key at most once a second, however many arrive.
        for key in 0..REMEMBERED as u32 * 2 {
            keyed.take_at(key, later);
        }
        assert!(keyed.remembered() > REMEMBERED);
    }
}
