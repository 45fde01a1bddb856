//! Stopping a run early: Ctrl-C (or SIGTERM) sets a flag, and every wait of the run checks it, so
//! the run returns an error and its guards tear everything down.

use std::{
    sync::atomic::{AtomicBool, Ordering},
    time::Duration,
};

use anyhow::{Result, bail};

/// Set by Ctrl-C (or SIGTERM): every wait checks it, so the guards tear down.
pub(crate) static STOP: AtomicBool = AtomicBool::new(false);

/// Fails once a stop was requested.
pub(crate) fn stop_requested() -> Result<()> {
    if STOP.load(Ordering::Relaxed) {
        bail!("interrupted");
    }
    Ok(())
}

/// Sleeps, checking for a stop every 100 ms.
pub(crate) fn sleep(d: Duration) -> Result<()> {
    let end = std::time::Instant::now() + d;
    loop {
        stop_requested()?;
        let left = end.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            return Ok(());
        }
        std::thread::sleep(left.min(Duration::from_millis(100)));
    }
}

/// With `RIVULET_SCALE_HOLD_SECS` set, keeps the lab up that long after a failure to start it, or
/// after the last phase, for a look inside (`ip netns exec rv<pid>n<slot> …`, each node's HTTP API at
/// `10.<lab>.x.y:7170`).
pub(crate) fn hold() {
    if let Some(secs) = std::env::var("RIVULET_SCALE_HOLD_SECS")
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
    {
        eprintln!("holding the lab for {secs} s (RIVULET_SCALE_HOLD_SECS; Ctrl-C ends it)");
        let _ = sleep(Duration::from_secs(secs));
    }
}
