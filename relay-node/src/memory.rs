//! The node's memory allocator: jemalloc on Linux. With glibc's allocator a node's resident memory
//! crept up over its life while what it held stayed flat (heaptrack: 57.5 → 59 MiB in use while
//! anonymous memory went 70.5 → 78–80 MiB over 15 minutes): glibc keeps partly used pages of its arenas
//! after the node frees — the store's cache turning over 4 KiB pages, a peer's backfill served page by
//! page — and `malloc_trim` every 10 s could not return them. jemalloc keeps each size class in pages of
//! its own and gives pages it no longer uses back to the system, ten seconds after they were freed
//! (its decay), from a background thread — without it jemalloc purges only while the thread that freed
//! them goes on allocating through its arena, and a test saw 63 freed MiB stay for a minute. With it
//! `cargo xtask soak` kept every node within ±10 % of its warm level (BENCHMARKS.md, "Soak").
//! Elsewhere the platform's allocator serves.

/// jemalloc, for every allocation of the process.
#[cfg(target_os = "linux")]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// Starts jemalloc's background thread, which returns freed pages to the system on time, whatever the
/// node's threads are doing. A failure is logged: the node runs on, keeping what it freed longer.
pub(crate) fn return_freed_pages_on_time() {
    #[cfg(target_os = "linux")]
    if let Err(e) = tikv_jemalloc_ctl::background_thread::write(true) {
        tracing::warn!(
            "cannot start jemalloc's background thread: {e}; freed memory is returned later"
        );
    }
}

/// The process's resident memory (`VmRSS`), KiB; `None` where there is no `/proc`.
pub(crate) fn resident_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use std::time::{Duration, Instant};

    fn resident_kib() -> u64 {
        super::resident_kib().unwrap_or(0)
    }

    /// Memory freed below a live allocation goes back to the system by itself, within seconds, once
    /// the background thread runs — glibc's allocator kept it (its heap's top pinned by the live
    /// block) until asked with `malloc_trim`, and jemalloc without the thread kept it for over a minute.
    #[test]
    fn memory_freed_below_a_live_allocation_goes_back_by_itself() {
        super::return_freed_pages_on_time();
        assert!(tikv_jemalloc_ctl::background_thread::read().unwrap_or(false));
        // 64 MiB in 64 KiB blocks, touched so they are resident, then all freed but the last.
        let mut blocks: Vec<Vec<u8>> = (0..1024).map(|_| vec![1u8; 64 * 1024]).collect();
        let pin = blocks.pop();
        let before = resident_kib();
        drop(blocks);
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut after = resident_kib();
        while before.saturating_sub(after) < 32 * 1024 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(100));
            after = resident_kib();
        }
        drop(pin);
        assert!(
            before.saturating_sub(after) >= 32 * 1024,
            "resident memory {before} KiB -> {after} KiB a minute after 63 MiB were freed: they stayed"
        );
    }
}
