//! A token bucket: how often something may happen, with bursts. The WebSocket API limits each
//! connection's frames with one; the node limits each address's light sign-ins with one per address.

use std::time::Instant;

/// `rate` tokens a second, holding at most twice that (the burst).
#[derive(Debug)]
pub(crate) struct Bucket {
    tokens: f64,
    rate: f64,
    last: Instant,
}

impl Bucket {
    /// A full bucket of `rate` a second.
    pub(crate) fn new(rate: u32) -> Bucket {
        Bucket::new_at(rate, Instant::now())
    }

    fn new_at(rate: u32, now: Instant) -> Bucket {
        Bucket {
            tokens: f64::from(rate) * 2.0,
            rate: f64::from(rate),
            last: now,
        }
    }

    /// Takes a token; false when none is left.
    pub(crate) fn take(&mut self) -> bool {
        self.take_at(Instant::now())
    }

    /// [`Bucket::take`] at `now`.
    pub(crate) fn take_at(&mut self, now: Instant) -> bool {
        self.refill(now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// Whether it has refilled completely by `now` (nothing taken lately: it may be forgotten).
    pub(crate) fn full_at(&mut self, now: Instant) -> bool {
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
}
