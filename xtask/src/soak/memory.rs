//! The soak's memory figures: each node's resident memory (`VmRSS`) sampled every 10 s, and whether it
//! stayed bounded — within ±10 % of the node's warm level once warm.
//!
//! A sample is *warm* when the run is past its warm-up (the first sixth, at most 10 minutes) and the
//! node's process has been up for the restart warm-up (a process restarted after a kill starts cold:
//! its caches fill again). A node's *warm level* is the median of its warm samples in the minute from
//! its first (whatever the sampling period); every later warm sample must lie within the tolerance of it.

use serde_json::{Value, json};

/// One sample of one node.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Sample {
    /// Seconds since the load started.
    pub(crate) t_secs: u64,
    /// Resident memory, KiB; `None` while the node is down.
    pub(crate) rss_kib: Option<u64>,
    /// Seconds since the node's current process started.
    pub(crate) up_secs: u64,
    /// The size of its history file, bytes.
    pub(crate) store_bytes: u64,
    /// Anonymous resident memory (`RssAnon`), KiB; `None` while down.
    pub(crate) anon_kib: Option<u64>,
    /// Bytes in its history store's page cache (`/metrics`); `None` while down.
    pub(crate) store_cache_bytes: Option<u64>,
    /// CPU time its current process has used, seconds (0 while down).
    pub(crate) cpu_secs: f64,
}

/// When samples count as warm.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Warmth {
    /// The run's warm-up, seconds from the start.
    pub(crate) run_secs: u64,
    /// How long a (re)started process warms up, seconds.
    pub(crate) process_secs: u64,
    /// The tolerance around the warm level (0.10: ±10 %).
    pub(crate) tolerance: f64,
}

/// Seconds from a node's first warm sample over which its samples set the warm level.
const LEVEL_SECS: u64 = 60;

impl Warmth {
    /// The soak's rule for a run of `duration_secs`: warm after a sixth of the run (at most 10
    /// minutes); a restarted process after `process_secs`; ±10 %.
    pub(crate) fn for_run(duration_secs: u64, process_secs: u64) -> Warmth {
        Warmth {
            run_secs: (duration_secs / 6).min(600),
            process_secs,
            tolerance: 0.10,
        }
    }

    /// Whether sample `s` is judged: past the run's warm-up, its process past its own.
    pub(crate) fn is_warm(&self, s: &Sample) -> bool {
        s.rss_kib.is_some() && s.t_secs >= self.run_secs && s.up_secs >= self.process_secs
    }
}

/// Whether one node's memory stayed bounded.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Verdict {
    /// The warm level, KiB (`None`: no warm sample — a run too short to tell).
    pub(crate) level_kib: Option<u64>,
    /// Smallest and largest warm sample, KiB.
    pub(crate) min_kib: u64,
    pub(crate) max_kib: u64,
    /// The largest distance of a warm sample from the level, percent.
    pub(crate) max_deviation_pct: f64,
    /// Warm samples judged.
    pub(crate) warm_samples: usize,
    /// Every warm sample within the tolerance (`None` when nothing could be judged).
    pub(crate) within: Option<bool>,
}

/// Judges one node's samples (in time order).
pub(crate) fn verdict(samples: &[Sample], warmth: &Warmth) -> Verdict {
    let warm_at: Vec<(u64, u64)> = samples
        .iter()
        .filter(|s| warmth.is_warm(s))
        .filter_map(|s| Some((s.t_secs, s.rss_kib?)))
        .collect();
    let warm: Vec<u64> = warm_at.iter().map(|&(_, kib)| kib).collect();
    let level_until = warm_at.first().map_or(0, |&(t, _)| t + LEVEL_SECS);
    let mut first: Vec<u64> = warm_at
        .iter()
        .take_while(|&&(t, _)| t < level_until)
        .map(|&(_, kib)| kib)
        .collect();
    first.sort_unstable();
    let Some(level) = first.get(first.len() / 2).copied() else {
        return Verdict {
            level_kib: None,
            min_kib: 0,
            max_kib: 0,
            max_deviation_pct: 0.0,
            warm_samples: 0,
            within: None,
        };
    };
    let deviation = |kib: u64| (kib as f64 - level as f64).abs() / level.max(1) as f64;
    let max_deviation = warm.iter().map(|&k| deviation(k)).fold(0.0, f64::max);
    Verdict {
        level_kib: Some(level),
        min_kib: warm.iter().copied().min().unwrap_or(level),
        max_kib: warm.iter().copied().max().unwrap_or(level),
        max_deviation_pct: (max_deviation * 1000.0).round() / 10.0,
        warm_samples: warm.len(),
        within: Some(max_deviation <= warmth.tolerance),
    }
}

/// KiB as MiB with one decimal.
pub(crate) fn mib(kib: u64) -> f64 {
    (kib as f64 / 102.4).round() / 10.0
}

impl Verdict {
    /// As JSON (MiB).
    pub(crate) fn json(&self) -> Value {
        json!({
            "warmLevelMiB": self.level_kib.map(mib),
            "warmMinMiB": mib(self.min_kib),
            "warmMaxMiB": mib(self.max_kib),
            "maxDeviationPct": self.max_deviation_pct,
            "warmSamples": self.warm_samples,
            "withinTolerance": self.within,
        })
    }
}

/// Samples as JSON: `[t, rss MiB or null, up secs, store MiB, cpu secs]` each.
pub(crate) fn samples_json(samples: &[Sample]) -> Value {
    samples
        .iter()
        .map(|s| {
            json!([
                s.t_secs,
                s.rss_kib.map(mib),
                s.up_secs,
                mib(s.store_bytes / 1024),
                s.cpu_secs,
                s.anon_kib.map(mib),
                s.store_cache_bytes.map(|b| mib(b / 1024))
            ])
        })
        .collect()
}

/// The CPU a node used over the samples, in cores (its processes' CPU time over the time covered).
pub(crate) fn cores_used(samples: &[Sample]) -> f64 {
    let mut used = 0.0;
    for pair in samples.windows(2) {
        let (before, after) = (&pair[0], &pair[1]);
        // A new process (restarted, or down before) counts from zero.
        let same = before.rss_kib.is_some() && after.up_secs >= before.up_secs;
        used += if same {
            (after.cpu_secs - before.cpu_secs).max(0.0)
        } else {
            after.cpu_secs
        };
    }
    let span = match (samples.first(), samples.last()) {
        (Some(a), Some(b)) if b.t_secs > a.t_secs => (b.t_secs - a.t_secs) as f64,
        _ => return 0.0,
    };
    (used / span * 100.0).round() / 100.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series(points: &[(u64, Option<u64>, u64)]) -> Vec<Sample> {
        points
            .iter()
            .map(|&(t_secs, rss_kib, up_secs)| Sample {
                t_secs,
                rss_kib,
                up_secs,
                store_bytes: 0,
                anon_kib: rss_kib,
                store_cache_bytes: None,
                cpu_secs: up_secs as f64 / 2.0,
            })
            .collect()
    }

    #[test]
    fn the_warm_up_and_a_restarted_process_warming_up_are_not_judged() {
        let warmth = Warmth {
            run_secs: 60,
            process_secs: 30,
            tolerance: 0.10,
        };
        // Rising during the warm-up, flat at 100 MiB after; killed at 130 s, cold again at 140 s.
        let mut points = vec![(0, Some(10_000), 0), (30, Some(50_000), 30)];
        for t in (60..=120).step_by(10) {
            points.push((t, Some(102_400), t));
        }
        points.extend([
            (130, None, 0),
            (140, Some(20_000), 0),
            (150, Some(60_000), 10),
            (170, Some(104_000), 30),
            (180, Some(100_000), 40),
        ]);
        let v = verdict(&series(&points), &warmth);
        assert_eq!(v.level_kib, Some(102_400));
        assert_eq!(v.warm_samples, 9);
        assert_eq!((v.min_kib, v.max_kib), (100_000, 104_000));
        assert_eq!(v.within, Some(true));
        assert_eq!(v.json()["warmLevelMiB"], 100.0);
    }

    /// Sampled every second, the level is still the median of the first warm minute, not of its first
    /// six seconds (here a burst).
    #[test]
    fn the_level_is_the_first_warm_minute_whatever_the_sampling_period() {
        let warmth = Warmth {
            run_secs: 60,
            process_secs: 30,
            tolerance: 0.10,
        };
        let points: Vec<(u64, Option<u64>, u64)> = (60..300)
            .map(|t| (t, Some(if t < 66 { 120_000 } else { 100_000 }), t))
            .collect();
        let v = verdict(&series(&points), &warmth);
        assert_eq!(v.level_kib, Some(100_000));
        assert_eq!(v.warm_samples, 240);
        assert_eq!(v.within, Some(false), "the burst is 20 % off the level");
    }

    #[test]
    fn growth_beyond_the_tolerance_is_caught() {
        let warmth = Warmth::for_run(600, 30);
        assert_eq!(warmth.run_secs, 100);
        let points: Vec<(u64, Option<u64>, u64)> = (0..60)
            .map(|i| (i * 10, Some(100_000 + i * 500), i * 10))
            .collect();
        let v = verdict(&series(&points), &warmth);
        assert_eq!(v.within, Some(false));
        assert!(v.max_deviation_pct > 10.0, "{v:?}");
    }

    #[test]
    fn cpu_is_counted_across_restarts() {
        // Half a core while up (see `series`); down from 20 to 30 s, then a new process.
        let samples = series(&[
            (0, Some(1), 0),
            (10, Some(1), 10),
            (20, None, 0),
            (30, Some(1), 0),
            (40, Some(1), 10),
        ]);
        assert_eq!(cores_used(&samples), 0.25);
    }

    #[test]
    fn too_short_a_run_is_not_judged() {
        let v = verdict(&series(&[(0, Some(1), 0)]), &Warmth::for_run(60, 30));
        assert_eq!(v.within, None);
        assert_eq!(Warmth::for_run(7_200, 180).run_secs, 600);
    }
}
