//! Percentiles and the JSON shape of a distribution, the same in every report.

use serde_json::{Value, json};

/// The `p`-th quantile (0..=1) of `sorted`, nearest rank; 0 for none.
pub(crate) fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// `{"n","p50","p90","p99","max","mean"}` of `values` (sorted here), in the values' unit, rounded to
/// 0.1.
pub(crate) fn summary(values: &mut [f64]) -> Value {
    values.sort_by(f64::total_cmp);
    let round = |v: f64| (v * 10.0).round() / 10.0;
    let mean = if values.is_empty() {
        0.0
    } else {
        values.iter().sum::<f64>() / values.len() as f64
    };
    json!({
        "n": values.len(),
        "p50": round(percentile(values, 0.5)),
        "p90": round(percentile(values, 0.9)),
        "p99": round(percentile(values, 0.99)),
        "max": round(values.last().copied().unwrap_or(0.0)),
        "mean": round(mean),
    })
}

/// `part / whole`, 1 when there is nothing to count.
pub(crate) fn ratio(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        1.0
    } else {
        part as f64 / whole as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_by_nearest_rank() {
        let mut v: Vec<f64> = (1..=100).map(f64::from).collect();
        let s = summary(&mut v);
        assert_eq!(s["p50"], 51.0);
        assert_eq!(s["p99"], 99.0);
        assert_eq!(s["max"], 100.0);
        assert_eq!(summary(&mut [])["n"], 0);
        assert_eq!(ratio(0, 0), 1.0);
    }
}
