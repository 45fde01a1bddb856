//! Giving freed memory back to the operating system. glibc's allocator keeps what a burst freed in its
//! arenas: a peer's backfill served page by page, the catch-up after this node's own restart. So a
//! node's resident memory stepped up with each such burst and stayed there — `cargo xtask soak` saw
//! +20–30 MiB on every node each time a peer restarted, and `malloc_trim` on one of them (by hand, from
//! a debugger) gave back 46 of its 166 MiB. A thread of its own asks glibc for that every
//! [`TRIM_EVERY`]. Other allocators and platforms return memory themselves; there it does nothing.

use std::time::Duration;

/// How often the node asks the allocator to return what it holds free.
pub(crate) const TRIM_EVERY: Duration = Duration::from_secs(10);

/// Starts the thread that returns freed memory every [`TRIM_EVERY`] (glibc only). A trim locks each
/// arena in turn for a moment, so it runs beside the runtime's threads, never on one of them.
pub(crate) fn spawn_trimmer() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        let spawned = std::thread::Builder::new()
            .name("memory-trim".into())
            .spawn(|| {
                loop {
                    std::thread::sleep(TRIM_EVERY);
                    let started = std::time::Instant::now();
                    let released = trim();
                    tracing::trace!(released, took = ?started.elapsed(), "allocator trimmed");
                }
            });
        if let Err(e) = spawned {
            tracing::warn!("cannot start the memory trimming thread: {e}");
        }
    }
}

/// Asks glibc to return the free pages of every arena; whether it returned any.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
fn trim() -> bool {
    // SAFETY: `malloc_trim` takes no pointers and touches only glibc's own free lists, under the
    // allocator's locks; it is safe to call from any thread at any time.
    unsafe { libc::malloc_trim(0) == 1 }
}

#[cfg(test)]
mod tests {
    /// Freed memory in the middle of the heap, which glibc keeps, comes back with a trim.
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    #[test]
    fn a_trim_returns_memory_freed_below_a_live_allocation() {
        fn resident_kib() -> u64 {
            let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
            status
                .lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
                .unwrap_or(0)
        }
        // 64 MiB in 64 KiB blocks (below the mmap threshold: they come from the heap), touched so
        // they are resident, then all freed but the last, which pins the heap's top.
        let mut blocks: Vec<Vec<u8>> = (0..1024).map(|_| vec![1u8; 64 * 1024]).collect();
        let pin = blocks.pop();
        drop(blocks);
        let before = resident_kib();
        assert!(super::trim(), "glibc had nothing to return");
        let after = resident_kib();
        drop(pin);
        assert!(
            before.saturating_sub(after) >= 32 * 1024,
            "resident memory {before} KiB -> {after} KiB: the freed 64 MiB stayed"
        );
    }
}
