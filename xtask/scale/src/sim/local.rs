//! The relay's local order on a simulated node, and what its subscriber receives: events go out in
//! publisher-chain order, or after waiting [`ORDER_WAIT`] for a missing predecessor.

use super::engine::{Ev, ORDER_WAIT, Sim, Time};

impl Sim<'_> {
    /// The relay's local order: in chain order, or after waiting [`ORDER_WAIT`] for a predecessor.
    pub(super) fn order(&mut self, i: u32, idx: u32, at: Time) {
        let order = &mut self.nodes[i as usize].order;
        match order.last {
            Some(last) if idx > last + 1 => {
                order.waiting.insert(idx);
                self.at(at + ORDER_WAIT, Ev::OrderTimeout { node: i, idx });
            }
            Some(last) if idx <= last => self.deliver(i, idx, at),
            _ => {
                order.last = Some(idx);
                self.deliver(i, idx, at);
                self.drain(i, at);
            }
        }
    }

    pub(super) fn drain(&mut self, i: u32, at: Time) {
        loop {
            let order = &mut self.nodes[i as usize].order;
            let Some(next) = order.last.map(|l| l + 1) else {
                return;
            };
            if !order.waiting.remove(&next) {
                return;
            }
            order.last = Some(next);
            self.deliver(i, next, at);
        }
    }

    pub(super) fn order_timeout(&mut self, i: u32, idx: u32) {
        let now = self.now;
        let order = &mut self.nodes[i as usize].order;
        if !order.waiting.contains(&idx) {
            return;
        }
        let due: Vec<u32> = order.waiting.range(..=idx).copied().collect();
        for d in &due {
            order.waiting.remove(d);
        }
        order.last = due.last().copied().max(order.last);
        for d in due {
            self.deliver(i, d, now);
        }
        self.drain(i, now);
    }

    pub(super) fn deliver(&mut self, i: u32, idx: u32, at: Time) {
        let node = &mut self.nodes[i as usize];
        let Some(sub) = node.sub.as_mut() else {
            return;
        };
        if sub.received[idx as usize] || !node.alive || !sub.active {
            return;
        }
        sub.received[idx as usize] = true;
        let published = &self.published_at[sub.part as usize];
        // Latency of events published while subscribed (older ones can come by gossip later).
        if let Some(t) = published.get(idx as usize)
            && *t >= sub.subscribed_at
        {
            self.latency_ms.push((at - t) as f64 / 1000.0);
        }
        if sub.first_at.is_none() {
            sub.first_at = Some(at);
            sub.joined_idx = published.len() as u32;
            self.ttd_ms.push((at - sub.subscribed_at) as f64 / 1000.0);
        }
    }
}
