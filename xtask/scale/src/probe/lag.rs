//! The probe's own lateness: how late its runtime wakes a task that asked to wake at a given time.
//! Every latency the probe reports is measured on its runtime, so a moment when the probe could not
//! run (its worker threads busy, or the machine's cores taken by the relays) shows in every
//! subscriber's latency at once; this says how much of a latency tail is the instrument's.

use std::time::Duration;

use tokio::time::Instant;

/// How often the probe checks its lateness.
pub(crate) const TICK: Duration = Duration::from_millis(5);

/// Sleeps [`TICK`] after [`TICK`] until `end`; returns how late each wake-up came, ms.
pub(crate) async fn watch(end: Instant) -> Vec<f64> {
    let mut late = Vec::new();
    loop {
        let due = Instant::now() + TICK;
        if due >= end {
            return late;
        }
        tokio::time::sleep_until(due).await;
        late.push(Instant::now().duration_since(due).as_secs_f64() * 1000.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "current_thread")]
    async fn a_blocked_runtime_shows_as_a_late_wake_up() {
        let end = Instant::now() + Duration::from_millis(200);
        let watcher = tokio::spawn(watch(end));
        tokio::time::sleep(Duration::from_millis(50)).await;
        // Hold the only thread for 60 ms: the watcher's next wake-up comes at least ~55 ms late.
        std::thread::sleep(Duration::from_millis(60));
        let late = watcher.await.expect("the watcher ran");
        assert!(!late.is_empty(), "the watcher never woke");
        let worst = late.iter().copied().fold(0.0, f64::max);
        assert!(worst >= 50.0, "the worst wake-up was {worst} ms late");
    }
}
