//! Locks that stay usable after a panic elsewhere: the node's shared state is left consistent at
//! every step, so a poisoned mutex is taken as it is rather than taking the node down with it.

use std::sync::{Mutex, MutexGuard, PoisonError};

/// `mutex`'s guard, poisoned or not.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
