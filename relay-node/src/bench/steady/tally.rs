//! What a steady run remembers about its events, compactly enough for hours at thousands a second:
//! sets of event indices (a bit each), the time range of each block of indices (for asking a node for
//! what a subscriber missed), and latency histograms with millisecond buckets.

/// Event indices per block whose time range is kept.
pub(super) const BLOCK: u64 = 1024;

/// A set of event indices, one bit each.
#[derive(Debug, Default, Clone)]
pub(super) struct Indices {
    words: Vec<u64>,
    len: u64,
}

impl Indices {
    /// Adds `i`; whether it was new.
    pub(super) fn insert(&mut self, i: u64) -> bool {
        let (word, bit) = ((i / 64) as usize, i % 64);
        if word >= self.words.len() {
            self.words.resize(word + 1, 0);
        }
        let new = self.words[word] & (1 << bit) == 0;
        if new {
            self.words[word] |= 1 << bit;
            self.len += 1;
        }
        new
    }

    /// Whether `i` is in the set.
    pub(super) fn contains(&self, i: u64) -> bool {
        self.words
            .get((i / 64) as usize)
            .is_some_and(|w| w & (1 << (i % 64)) != 0)
    }

    /// How many indices.
    pub(super) fn len(&self) -> u64 {
        self.len
    }

    /// The indices of `self` that `other` lacks, in order.
    pub(super) fn without(&self, other: &Indices) -> Vec<u64> {
        self.words
            .iter()
            .enumerate()
            .flat_map(|(w, &bits)| {
                let theirs = other.words.get(w).copied().unwrap_or(0);
                set_bits(bits & !theirs).map(move |b| w as u64 * 64 + b)
            })
            .collect()
    }

    /// How many indices of `self` `other` holds too.
    pub(super) fn common(&self, other: &Indices) -> u64 {
        self.words
            .iter()
            .zip(&other.words)
            .map(|(a, b)| u64::from((a & b).count_ones()))
            .sum()
    }
}

/// The positions of the bits set in `bits`, lowest first.
fn set_bits(bits: u64) -> impl Iterator<Item = u64> {
    std::iter::successors(Some(bits), |b| Some(b & b.wrapping_sub(1)))
        .take_while(|b| *b != 0)
        .map(|b| u64::from(b.trailing_zeros()))
}

/// The publishers' timestamps, per block of [`BLOCK`] indices: the earliest and the latest. Events are
/// due in index order, so a block's events lie between its earliest timestamp and its latest.
#[derive(Debug, Default, Clone)]
pub(super) struct BlockTimes {
    blocks: Vec<(u64, u64)>,
}

impl BlockTimes {
    /// Event `index` was signed with `timestamp`.
    pub(super) fn record(&mut self, index: u64, timestamp: u64) {
        let block = (index / BLOCK) as usize;
        if block >= self.blocks.len() {
            self.blocks.resize(block + 1, (u64::MAX, 0));
        }
        let (first, last) = &mut self.blocks[block];
        *first = (*first).min(timestamp);
        *last = (*last).max(timestamp);
    }

    /// Time ranges (ms, inclusive) that hold every index of `sorted`: one per run of consecutive
    /// blocks that hold any of them.
    pub(super) fn ranges(&self, sorted: &[u64]) -> Vec<(u64, u64)> {
        let mut runs: Vec<(u64, u64)> = Vec::new();
        for block in sorted.iter().map(|i| i / BLOCK) {
            match runs.last_mut() {
                Some((_, end)) if block <= *end + 1 => *end = block,
                _ => runs.push((block, block)),
            }
        }
        runs.into_iter()
            .filter_map(|(a, b)| {
                let blocks = self.blocks.get(a as usize..=b as usize)?;
                let from = blocks.iter().map(|(first, _)| *first).min()?;
                let to = blocks.iter().map(|(_, last)| *last).max()?;
                (from <= to).then_some((from, to))
            })
            .collect()
    }
}

/// Latencies in whole milliseconds, up to a minute (beyond: counted in the last bucket).
#[derive(Debug, Clone)]
pub(super) struct Histogram {
    counts: Vec<u64>,
    total: u64,
    max: u64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            counts: vec![0; 60_001],
            total: 0,
            max: 0,
        }
    }
}

impl Histogram {
    /// Counts one latency.
    pub(super) fn add(&mut self, ms: u64) {
        let bucket = (ms as usize).min(self.counts.len() - 1);
        self.counts[bucket] += 1;
        self.total += 1;
        self.max = self.max.max(ms);
    }

    /// The latency below which a share `p` (0..=1) of the counted ones lie, ms (0 when empty).
    pub(super) fn percentile(&self, p: f64) -> u64 {
        if self.total == 0 {
            return 0;
        }
        let rank = ((self.total as f64 * p).ceil() as u64).clamp(1, self.total);
        let mut seen = 0;
        for (ms, count) in self.counts.iter().enumerate() {
            seen += count;
            if seen >= rank {
                return ms as u64;
            }
        }
        self.max
    }

    /// The largest latency counted, ms.
    pub(super) fn max(&self) -> u64 {
        self.max
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indices_count_once_and_subtract() {
        let mut a = Indices::default();
        assert!(a.insert(3));
        assert!(!a.insert(3));
        assert!(a.insert(200));
        assert!(a.insert(64));
        assert_eq!(a.len(), 3);
        assert_eq!(a.without(&Indices::default()), [3, 64, 200]);
        let mut b = Indices::default();
        b.insert(64);
        b.insert(5);
        assert_eq!(a.without(&b), [3, 200]);
        assert_eq!(a.common(&b), 1);
        assert!(b.contains(5) && !b.contains(6) && !b.contains(10_000));
    }

    #[test]
    fn ranges_cover_the_blocks_that_hold_missing_events() {
        let mut times = BlockTimes::default();
        for i in 0..4 * BLOCK + 10 {
            times.record(i, 1_000 + i);
        }
        // Blocks 0 and 1 run together; blocks 3 and 4 too (the last one partial).
        let missing = [5, BLOCK + 1, 3 * BLOCK + 7, 4 * BLOCK + 2];
        assert_eq!(
            times.ranges(&missing),
            [
                (1_000, 1_000 + 2 * BLOCK - 1),
                (1_000 + 3 * BLOCK, 1_000 + 4 * BLOCK + 9)
            ]
        );
        assert!(times.ranges(&[]).is_empty());
        // A late event (a publisher behind schedule) widens its block's range.
        times.record(7, 5_000);
        assert_eq!(times.ranges(&[3]), [(1_000, 5_000)]);
    }

    #[test]
    fn percentiles_come_from_the_buckets() {
        let mut h = Histogram::default();
        assert_eq!(h.percentile(0.5), 0);
        for ms in 1..=100 {
            h.add(ms);
        }
        assert_eq!(h.percentile(0.5), 50);
        assert_eq!(h.percentile(0.99), 99);
        h.add(120_000);
        assert_eq!(h.max(), 120_000);
        assert_eq!(h.percentile(1.0), 60_000);
    }
}
