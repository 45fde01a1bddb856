//! Reads of the history store for readers and peers, off the event loop and at most a few at a time.
//! Any reader may ask for history, and a read can take a core for a while (a `Last` window's start is
//! walked back over up to a million keys): a flood of requests waits here for its turn instead of
//! taking every core from verification and live delivery, and waits behind its own requests, the
//! turns going round the readers that wait ([`FairTurns`]).

use std::{sync::Arc, thread};

use rivulet_store::Store;

use crate::turns::{FairTurns, NoTurn, ReaderKey};

/// Most reads one reader (one address) may have waiting for their turn; more are refused. A client
/// or a peer copying history asks for one page after another, so a reader with this many waiting is
/// flooding.
pub(crate) const MAX_WAITING_READS: usize = 64;

/// Why a history read did not run or did not finish.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ReadError {
    /// The reader had too many reads waiting, or the node is stopping.
    #[error(transparent)]
    NoTurn(#[from] NoTurn),
    /// The read panicked.
    #[error("the history read failed: {0}")]
    Failed(String),
}

impl ReadError {
    /// The error code a light client or the API is given: `busy` for a reader refused a turn.
    pub(crate) fn code(&self) -> &'static str {
        match self {
            ReadError::NoTurn(NoTurn::TooMany { .. }) => "busy",
            ReadError::NoTurn(NoTurn::Stopping) => "stopping",
            ReadError::Failed(_) => "store",
        }
    }
}

/// The store, read on the blocking pool, a bounded number of reads at once.
#[derive(Clone, Debug)]
pub(crate) struct HistoryReads {
    store: Arc<Store>,
    turns: FairTurns,
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
            turns: FairTurns::new(concurrent, MAX_WAITING_READS),
        }
    }

    /// Runs `read` over the store on the blocking pool once it is `reader`'s turn; `Err` when the
    /// reader has too many reads waiting, the read panicked or the node is stopping.
    pub(crate) async fn run<T: Send + 'static>(
        &self,
        reader: ReaderKey,
        read: impl FnOnce(&Store) -> T + Send + 'static,
    ) -> Result<T, ReadError> {
        let _turn = self.turns.take(reader).await?;
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || read(&store))
            .await
            .map_err(|e| ReadError::Failed(e.to_string()))
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
    use crate::turns::tests::ip as reader;

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
            .map(|i| {
                let (reads, running, most) = (reads.clone(), running.clone(), most.clone());
                tokio::spawn(async move {
                    reads
                        .run(reader(i % 3), move |store| {
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
            assert_eq!(task.await.unwrap().unwrap(), 0);
        }
        assert_eq!(most.load(Ordering::SeqCst), 2, "two at a time, never more");
        assert!(default_concurrency() >= 1);
        let at_least_one = HistoryReads::new(reads.store.clone(), 0);
        assert_eq!(
            at_least_one
                .run(reader(1), |s| s.len().unwrap())
                .await
                .unwrap(),
            0
        );
    }

    /// A reader flooding the node with reads is refused beyond its most waiting, and another
    /// reader's read, asked for after the flood, runs next, not after it.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_flooding_reader_does_not_hold_up_another() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(Store::open(&dir.path().join("h.redb")).unwrap());
        let reads = HistoryReads::new(store, 1);
        let order = Arc::new(std::sync::Mutex::new(Vec::new()));
        let (release, held) = std::sync::mpsc::channel::<()>();
        let holding = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let blocker = tokio::spawn({
            let (reads, holding) = (reads.clone(), holding.clone());
            async move {
                reads
                    .run(reader(9), move |_| {
                        holding.store(true, std::sync::atomic::Ordering::SeqCst);
                        held.recv().unwrap()
                    })
                    .await
            }
        });
        // The one turn is the blocker's before the flood comes (else the flood's first read could take
        // it, and nothing would ever wait).
        while !holding.load(std::sync::atomic::Ordering::SeqCst) {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let queue = |who: u8| {
            let (reads, order) = (reads.clone(), order.clone());
            tokio::spawn(async move {
                reads
                    .run(reader(who), move |_| order.lock().unwrap().push(who))
                    .await
            })
        };
        let mut flood = Vec::new();
        for n in 0..MAX_WAITING_READS {
            flood.push(queue(1));
            while reads.turns.waiting() < n + 1 {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }
        let refused = reads.run(reader(1), |_| ()).await.unwrap_err();
        assert_eq!(refused.code(), "busy");
        let refused = refused.to_string();
        assert!(
            refused.contains("10.0.0.1 already has 64 history requests waiting"),
            "{refused}"
        );
        let other = queue(2);
        while reads.turns.waiting() < MAX_WAITING_READS + 1 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        release.send(()).unwrap();
        blocker.await.unwrap().unwrap();
        other.await.unwrap().unwrap();
        for read in flood {
            read.await.unwrap().unwrap();
        }
        let order = order.lock().unwrap().clone();
        assert_eq!(order.len(), MAX_WAITING_READS + 1);
        assert_eq!(
            &order[..3],
            &[1, 2, 1],
            "the other reader waited behind the flood"
        );
    }
}
