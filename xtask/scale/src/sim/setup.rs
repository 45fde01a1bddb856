//! What one simulated run is given: its size, workload, scenario and latency model.

use super::topology;

/// A scenario: which nodes misbehave or fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scenario {
    Steady,
    Churn,
    Malicious,
}

/// The settings the engine runs with.
#[derive(Debug, Clone)]
pub(crate) struct Setup {
    pub(crate) nodes: usize,
    pub(crate) parts: usize,
    pub(crate) rate: f64,
    pub(crate) publish_s: f64,
    pub(crate) hop_ms: f64,
    pub(crate) scenario: Scenario,
    pub(crate) latency: topology::Latency,
    pub(crate) lookup_factor: f64,
    /// Members of its part each node's member lookups connect it to (0: no lookups).
    pub(crate) part_peers: usize,
    pub(crate) seed: u64,
}
