//! The latency model of a scale run, after Streamr's 2,000-node test (nodes in 17 AWS regions, a mean
//! one-way delay of 75 ms between regions): [`REGIONS`] regions with one-way delays between them drawn
//! once from a fixed seed and scaled so their mean is exactly 75 ms, 2 ms within a region, and each
//! pair of nodes at its regions' delay times a factor in 1 ± 10 % drawn from the pair. Nodes go to
//! regions round-robin by slot. The relay nodes apply it through `--network.latency-model` (a
//! delaying TCP transport, `rivulet_network::latency`); the simulator reads the same file.

use std::{net::Ipv4Addr, path::Path};

use anyhow::Result;
use serde_json::{Value, json};

/// How many regions.
pub(crate) const REGIONS: usize = 8;
/// Mean one-way delay between regions, ms.
pub(crate) const MEAN_BETWEEN_MS: f64 = 75.0;
/// One-way delay within a region, ms.
pub(crate) const WITHIN_MS: f64 = 2.0;
/// Per-pair factor range, ±.
pub(crate) const JITTER: f64 = 0.1;

/// A small deterministic generator (splitmix64) for the harness's choices.
#[derive(Debug, Clone)]
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)`.
    pub(crate) fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in `0..n`.
    pub(crate) fn below(&mut self, n: usize) -> usize {
        (self.unit() * n as f64) as usize % n.max(1)
    }
}

/// The delay matrix between regions, ms.
pub(crate) fn region_delays() -> Vec<Vec<f64>> {
    let mut rng = Rng::new(75);
    let mut m = vec![vec![WITHIN_MS; REGIONS]; REGIONS];
    // 20-130 ms before scaling: a spread like the one between continents.
    let pairs: Vec<(usize, usize)> = (0..REGIONS)
        .flat_map(|a| (a + 1..REGIONS).map(move |b| (a, b)))
        .collect();
    let drawn: Vec<f64> = pairs.iter().map(|_| 20.0 + 110.0 * rng.unit()).collect();
    for (&(a, b), &d) in pairs.iter().zip(&drawn) {
        m[a][b] = d;
        m[b][a] = d;
    }
    let scale = MEAN_BETWEEN_MS / (drawn.iter().sum::<f64>() / drawn.len() as f64);
    for (a, row) in m.iter_mut().enumerate() {
        for (b, d) in row.iter_mut().enumerate() {
            if a != b {
                *d = (*d * scale * 10.0).round() / 10.0;
            }
        }
    }
    m
}

/// Slot `i`'s region.
pub(crate) fn region_of(i: usize) -> usize {
    i % REGIONS
}

/// Writes the model for the nodes at `addresses` (slot order) to `path`; returns a description for
/// the report.
pub(crate) fn write(path: &Path, addresses: &[Ipv4Addr]) -> Result<Value> {
    let delays = region_delays();
    let regions: serde_json::Map<String, Value> = addresses
        .iter()
        .enumerate()
        .map(|(i, a)| (a.to_string(), json!(region_of(i))))
        .collect();
    let model = json!({ "regions": regions, "delay_ms": delays, "jitter": JITTER });
    std::fs::write(path, serde_json::to_vec_pretty(&model)?)?;
    let between: Vec<f64> = (0..REGIONS)
        .flat_map(|a| (0..REGIONS).filter(move |b| *b != a).map(move |b| (a, b)))
        .map(|(a, b)| delays[a][b])
        .collect();
    let min = between.iter().copied().fold(f64::INFINITY, f64::min);
    let max = between.iter().copied().fold(0.0, f64::max);
    Ok(json!({
        "regions": REGIONS,
        "meanOneWayBetweenRegionsMs": MEAN_BETWEEN_MS,
        "oneWayBetweenRegionsMs": { "min": min, "max": max },
        "oneWayWithinRegionMs": WITHIN_MS,
        "perPairJitter": JITTER,
        "assignment": "slot i in region i mod regions",
        "applied": "relay nodes delay every received TCP byte by the one-way delay to the sender (rivulet_network::latency, --network.latency-model); WebSocket clients are not delayed",
        "file": path.display().to_string(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regions_average_75_ms_apart() {
        let m = region_delays();
        let mut between = Vec::new();
        for (a, row) in m.iter().enumerate() {
            assert_eq!(row[a], WITHIN_MS);
            for (b, d) in row.iter().enumerate() {
                assert_eq!(*d, m[b][a]);
                if a != b {
                    between.push(*d);
                }
            }
        }
        let mean = between.iter().sum::<f64>() / between.len() as f64;
        assert!((mean - MEAN_BETWEEN_MS).abs() < 0.1, "{mean}");
    }
}
