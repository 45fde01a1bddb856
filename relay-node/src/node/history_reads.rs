//! Reads of the history store for readers and peers, off the event loop and at most a few at a time.
//! Any reader may ask for history, and a read can take a core for a while (a `Last` window's start is
//! walked back over up to a million keys): a flood of requests waits here for its turn instead of
//! taking every core from verification and live delivery.

use std::{sync::Arc, thread};

use rivulet_store::Store;
use tokio::sync::Semaphore;

/// The store, read on the blocking pool, a bounded number of reads at once.
#[derive(Clone, Debug)]
pub(crate) struct HistoryReads {
    store: Arc<Store>,
    permits: Arc<Semaphore>,
}

/// How many history reads run at once by default: half the cores (at least one), so that the other
/// half is left to verification and delivery whatever readers ask for.
pub(crate) fn default_concurrency() -> usize {
    thread::available_parallelism()
        .map_or(1, |n| n.get())
        .div_ceil(2)
}

impl HistoryReads {
    /// Reads of `store`, `concurrent` (at least one) at a time.
    pub(crate) fn new(store: Arc<Store>, concurrent: usize) -> HistoryReads {
        HistoryReads {
            store,
            permits: Arc::new(Semaphore::new(concurrent.max(1))),
        }
    }

    /// Runs `read` over the store on the blocking pool once it is its turn; `Err` when the read
    /// panicked or the node is stopping.
    pub(crate) async fn run<T: Send + 'static>(
        &self,
        read: impl FnOnce(&Store) -> T + Send + 'static,
    ) -> Result<T, String> {
        let _turn = self
            .permits
            .acquire()
            .await
            .map_err(|_| "the node is stopping".to_owned())?;
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || read(&store))
            .await
            .map_err(|e| format!("the history read failed: {e}"))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::{
        sync::atomic::{AtomicUsize, Ordering},
        time::Duration,
    };

    use super::*;

    /// However many reads are asked for at once, no more than the bound run at the same time, and all
    /// of them run.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn reads_beyond_the_bound_wait_their_turn() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(Store::open(&dir.path().join("h.redb")).unwrap());
        let reads = HistoryReads::new(store, 2);
        let running = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let tasks: Vec<_> = (0..12)
            .map(|_| {
                let (reads, running, most) = (reads.clone(), running.clone(), most.clone());
                tokio::spawn(async move {
                    reads
                        .run(move |store| {
                            let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                            most.fetch_max(now, Ordering::SeqCst);
                            thread::sleep(Duration::from_millis(20));
                            running.fetch_sub(1, Ordering::SeqCst);
                            store.len().unwrap()
                        })
                        .await
                })
            })
            .collect();
        for task in tasks {
            assert_eq!(task.await.unwrap(), Ok(0));
        }
        assert_eq!(most.load(Ordering::SeqCst), 2, "two at a time, never more");
        assert!(default_concurrency() >= 1);
        let at_least_one = HistoryReads::new(reads.store.clone(), 0);
        assert_eq!(at_least_one.permits.available_permits(), 1);
    }
}
