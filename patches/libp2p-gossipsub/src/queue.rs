// Copyright 2020 Sigma Prime Pty Ltd.
//
// Permission is hereby granted, free of charge, to any person obtaining a
// copy of this software and associated documentation files (the "Software"),
// to deal in the Software without restriction, including without limitation
// the rights to use, copy, modify, merge, publish, distribute, sublicense,
// and/or sell copies of the Software, and to permit persons to whom the
// Software is furnished to do so, subject to the following conditions:
//
// The above copyright notice and this permission notice shall be included in
// all copies or substantial portions of the Software.
//
// THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS
// OR IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
// FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
// AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
// LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING
// FROM, OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER
// DEALINGS IN THE SOFTWARE.

use std::{
    collections::{HashMap, VecDeque},
    pin::Pin,
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    task::{Context, Poll, Waker},
};

use crate::{MessageId, types::RpcOut};

const CONTROL_MSGS_LIMIT: usize = 20_000;

/// Patched for Rivulet: the message data (`Publish` messages' data and topic) peers' queues may hold,
/// one peer's and all peers' together. A count of messages alone let one peer that stops reading make
/// the node hold `connection_handler_queue_len` copies of the largest message. A message that does not
/// fit is refused as when the queue is full: counted in the peer's failed messages (`Event::SlowPeer`).
#[derive(Clone, Debug)]
pub(crate) struct ByteBudget {
    /// The most bytes one peer's queue holds.
    pub(crate) per_peer: usize,
    /// The most bytes all peers' queues hold together.
    pub(crate) total: usize,
    /// What all peers' queues hold now.
    pub(crate) used: Arc<AtomicUsize>,
}

impl ByteBudget {
    /// A budget of `per_peer` bytes per queue and `total` for all, nothing held yet.
    pub(crate) fn new(per_peer: usize, total: usize) -> Self {
        ByteBudget {
            per_peer,
            total,
            used: Arc::new(AtomicUsize::new(0)),
        }
    }
}

/// The bytes a queued message counts against a [`ByteBudget`]: a `Publish` message's data and topic.
fn budgeted_bytes(message: &RpcOut) -> usize {
    match message {
        RpcOut::Publish { message, .. } => message.data.len() + message.topic.as_str().len(),
        _ => 0,
    }
}

/// An async priority queue used to dispatch messages from the `NetworkBehaviour`
/// Provides a clean abstraction over high-priority (unbounded), control (bounded),
/// and non priority (bounded) message queues.
#[derive(Debug)]
pub(crate) struct Queue {
    /// High-priority unbounded queue (Subscribe, Unsubscribe)
    pub(crate) priority: Shared,
    /// Control messages bounded queue (Graft, Prune, IDontWant)
    pub(crate) control: Shared,
    /// Low-priority bounded queue (Publish, Forward, IHave, IWant)
    pub(crate) non_priority: Shared,
    /// The id of the current reference of the counter.
    pub(crate) id: usize,
    /// The total number of references for the queue.
    pub(crate) count: Arc<AtomicUsize>,
}

impl Queue {
    /// Create a new `Queue` with `capacity`.
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            priority: Shared::new(),
            control: Shared::with_capacity(CONTROL_MSGS_LIMIT),
            non_priority: Shared::with_capacity(capacity),
            id: 1,
            count: Arc::new(AtomicUsize::new(1)),
        }
    }

    /// Patched for Rivulet: the queue's low-priority messages also kept within `budget`.
    pub(crate) fn with_budget(self, budget: Option<ByteBudget>) -> Self {
        self.non_priority
            .inner
            .lock()
            .expect("lock to not be poisoned")
            .budget = budget;
        self
    }

    /// Try to push a message to the Queue, return Err if the queue is full,
    /// which will only happen for control and non priority messages.
    pub(crate) fn try_push(&mut self, message: RpcOut) -> Result<(), Box<RpcOut>> {
        match message {
            RpcOut::Extensions(_)
            | RpcOut::Subscribe { .. }
            | RpcOut::SubscribeMany(_)
            | RpcOut::Unsubscribe(_) => {
                self.priority
                    .try_push(message)
                    .expect("Shared is unbounded");
                Ok(())
            }
            RpcOut::Graft(_) | RpcOut::Prune(_) | RpcOut::IDontWant(_) => {
                self.control.try_push(message)
            }
            RpcOut::Publish { .. }
            | RpcOut::IHave(_)
            | RpcOut::TestExtension
            | RpcOut::IWant(_) => self.non_priority.try_push(message),
            #[cfg(feature = "partial-messages")]
            RpcOut::PartialMessage(_) => self.non_priority.try_push(message),
        }
    }

    /// Remove pending low priority Publish and Forward messages.
    /// Returns the number of messages removed.
    pub(crate) fn remove_data_messages(&mut self, message_ids: &[MessageId]) -> usize {
        if message_ids.is_empty() {
            return 0;
        }

        let mut count = 0;
        self.non_priority.retain(|message| match message {
            RpcOut::Publish { message_id, .. } if message_ids.contains(message_id) => {
                count += 1;
                false
            }
            _ => true,
        });
        count
    }

    /// Pop an element from the queue.
    pub(crate) fn poll_pop(&mut self, cx: &mut Context) -> Poll<RpcOut> {
        // First we try the priority messages.
        if let Poll::Ready(rpc) = Pin::new(&mut self.priority).poll_pop(cx) {
            return Poll::Ready(rpc);
        }

        // Then we try the control messages.
        if let Poll::Ready(rpc) = Pin::new(&mut self.control).poll_pop(cx) {
            return Poll::Ready(rpc);
        }

        // Finally we try the non priority messages
        if let Poll::Ready(rpc) = Pin::new(&mut self.non_priority).poll_pop(cx) {
            return Poll::Ready(rpc);
        }

        Poll::Pending
    }

    /// Check if the queue is empty.
    pub(crate) fn is_empty(&self) -> bool {
        if !self.priority.is_empty() {
            return false;
        }

        if !self.control.is_empty() {
            return false;
        }

        if !self.non_priority.is_empty() {
            return false;
        }

        true
    }

    /// Returns the length of the priority queue.
    #[cfg(feature = "metrics")]
    pub(crate) fn priority_len(&self) -> usize {
        self.priority.len() + self.control.len()
    }

    /// Returns the length of the non priority queue.
    #[cfg(feature = "metrics")]
    pub(crate) fn non_priority_len(&self) -> usize {
        self.non_priority.len()
    }

    /// Attempts to pop a message from the queue.
    /// returns None if the queue is empty.
    #[cfg(test)]
    pub(crate) fn try_pop(&mut self) -> Option<RpcOut> {
        // Try priority first
        self.priority
            .try_pop()
            // Then control messages
            .or_else(|| self.control.try_pop())
            // Finally non priority
            .or_else(|| self.non_priority.try_pop())
    }
}

impl Clone for Queue {
    fn clone(&self) -> Self {
        let new_id = self.count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Self {
            priority: Shared {
                inner: self.priority.inner.clone(),
                capacity: self.priority.capacity,
                id: new_id,
            },
            control: Shared {
                inner: self.control.inner.clone(),
                capacity: self.control.capacity,
                id: new_id,
            },
            non_priority: Shared {
                inner: self.non_priority.inner.clone(),
                capacity: self.non_priority.capacity,
                id: new_id,
            },
            id: self.id,
            count: self.count.clone(),
        }
    }
}

/// The internal shared part of the queue,
/// that allows for shallow copies of the queue among each connection of the remote.
#[derive(Debug)]
pub(crate) struct Shared {
    inner: Arc<Mutex<SharedInner>>,
    capacity: Option<usize>,
    id: usize,
}

impl Shared {
    pub(crate) fn with_capacity(capacity: usize) -> Self {
        Self {
            inner: Arc::new(Mutex::new(SharedInner {
                queue: VecDeque::new(),
                pending_pops: Default::default(),
                bytes: 0,
                budget: None,
            })),
            capacity: Some(capacity),
            id: 1,
        }
    }

    pub(crate) fn new() -> Self {
        Self {
            inner: Arc::new(Mutex::new(SharedInner {
                queue: VecDeque::new(),
                pending_pops: Default::default(),
                bytes: 0,
                budget: None,
            })),
            capacity: None,
            id: 1,
        }
    }

    /// Pop an element from the queue.
    pub(crate) fn poll_pop(self: std::pin::Pin<&mut Self>, cx: &mut Context) -> Poll<RpcOut> {
        let mut guard = self.inner.lock().expect("lock to not be poisoned");
        match guard.pop_front() {
            Some(t) => Poll::Ready(t),
            None => {
                guard
                    .pending_pops
                    .entry(self.id)
                    .or_insert(cx.waker().clone());
                Poll::Pending
            }
        }
    }

    pub(crate) fn try_push(&mut self, message: RpcOut) -> Result<(), Box<RpcOut>> {
        let mut guard = self.inner.lock().expect("lock to not be poisoned");
        if self
            .capacity
            .is_some_and(|capacity| guard.queue.len() >= capacity)
        {
            return Err(Box::new(message));
        }
        if let Some(budget) = &guard.budget {
            let size = budgeted_bytes(&message);
            let fits = guard.bytes + size <= budget.per_peer
                && budget
                    .used
                    .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |used| {
                        (used + size <= budget.total).then_some(used + size)
                    })
                    .is_ok();
            if !fits {
                return Err(Box::new(message));
            }
            guard.bytes += size;
        }

        guard.queue.push_back(message);
        // Wake pending registered pops.
        for (_, s) in guard.pending_pops.drain() {
            s.wake();
        }

        Ok(())
    }

    /// Retain only the elements specified by the predicate.
    /// In other words, remove all elements e for which f(&e) returns false. The elements are
    /// visited in unsorted (and unspecified) order. Returns the cleared messages.
    pub(crate) fn retain<F: FnMut(&RpcOut) -> bool>(&mut self, mut f: F) {
        let mut shared = self.inner.lock().expect("lock to not be poisoned");
        let mut removed = 0;
        shared.queue.retain(|message| {
            let keep = f(message);
            if !keep {
                removed += budgeted_bytes(message);
            }
            keep
        });
        shared.release(removed);
    }

    /// Check if the queue is empty.
    pub(crate) fn is_empty(&self) -> bool {
        let guard = self.inner.lock().expect("lock to not be poisoned");
        guard.queue.len() == 0
    }

    /// Returns the length of the queue.
    #[cfg(feature = "metrics")]
    pub(crate) fn len(&self) -> usize {
        let guard = self.inner.lock().expect("lock to not be poisoned");
        guard.queue.len()
    }

    /// Attempts to pop an message from the queue.
    /// returns None if the queue is empty.
    #[cfg(test)]
    pub(crate) fn try_pop(&mut self) -> Option<RpcOut> {
        let mut guard = self.inner.lock().expect("lock to not be poisoned");
        guard.pop_front()
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        let mut guard = self.inner.lock().expect("lock to not be poisoned");
        guard.pending_pops.remove(&self.id);
    }
}

/// The shared stated by the `NetworkBehaviour`s and the `ConnectionHandler`s.
#[derive(Debug)]
struct SharedInner {
    queue: VecDeque<RpcOut>,
    pending_pops: HashMap<usize, Waker>,
    /// Patched for Rivulet: what the queue holds of `budget` (`ByteBudget`).
    bytes: usize,
    budget: Option<ByteBudget>,
}

impl SharedInner {
    fn pop_front(&mut self) -> Option<RpcOut> {
        let message = self.queue.pop_front()?;
        self.release(budgeted_bytes(&message));
        Some(message)
    }

    /// Gives back `bytes` of the budget (messages taken or removed).
    fn release(&mut self, bytes: usize) {
        if let Some(budget) = &self.budget {
            self.bytes -= bytes;
            budget.used.fetch_sub(bytes, Ordering::Relaxed);
        }
    }
}

impl Drop for SharedInner {
    /// A peer's queue dropped with messages in it (the peer is gone) gives their bytes back.
    fn drop(&mut self) {
        let held = self.bytes;
        self.release(held);
    }
}

/// Patched for Rivulet: the byte budget.
#[cfg(test)]
mod budget_tests {
    use web_time::Instant;

    use super::*;
    use crate::{TopicHash, types::RawMessage};

    fn publish(len: usize) -> RpcOut {
        RpcOut::Publish {
            message_id: MessageId::new(&[len as u8]),
            message: RawMessage {
                source: None,
                data: vec![0; len],
                sequence_number: None,
                topic: TopicHash::from_raw("t"),
                signature: None,
                key: None,
                validated: true,
            },
            timeout: Instant::now(),
        }
    }

    fn used(budget: &ByteBudget) -> usize {
        budget.used.load(Ordering::Relaxed)
    }

    #[test]
    fn a_peer_holds_its_share_and_all_peers_the_total() {
        let budget = ByteBudget::new(100, 150);
        let mut a = Queue::new(10).with_budget(Some(budget.clone()));
        let mut b = Queue::new(10).with_budget(Some(budget.clone()));
        // 59 + 1 byte of topic each: one peer's share holds one, not two.
        assert!(a.try_push(publish(59)).is_ok());
        assert!(a.try_push(publish(59)).is_err());
        assert_eq!(used(&budget), 60);
        assert!(b.try_push(publish(59)).is_ok());
        // 120 held; 40 more would pass b's share (100) but not the total (150).
        assert!(b.try_push(publish(39)).is_err());
        assert!(b.try_push(publish(29)).is_ok());
        assert_eq!(used(&budget), 150);
        // Control messages are not counted.
        assert!(
            b.try_push(RpcOut::Unsubscribe(TopicHash::from_raw("t")))
                .is_ok()
        );
        assert_eq!(used(&budget), 150);

        // Taking a message gives its bytes back; so does removing one, and dropping a queue.
        assert!(matches!(a.try_pop(), Some(RpcOut::Publish { .. })));
        assert_eq!(used(&budget), 90);
        assert!(a.try_push(publish(59)).is_ok());
        let removed = a.remove_data_messages(&[MessageId::new(&[59])]);
        assert_eq!((removed, used(&budget)), (1, 90));
        let clone = b.clone();
        drop(b);
        assert_eq!(used(&budget), 90, "a clone still holds the queue");
        drop(clone);
        assert_eq!(used(&budget), 0);
    }

    #[test]
    fn without_a_budget_only_the_count_bounds() {
        let mut q = Queue::new(2);
        assert!(q.try_push(publish(1 << 20)).is_ok());
        assert!(q.try_push(publish(1 << 20)).is_ok());
        assert!(q.try_push(publish(1)).is_err());
    }
}
