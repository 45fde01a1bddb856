//! Deliveries handed on in the order their entry node numbered them. A node keeps a few deliveries
//! in flight at once, each on its own stream, and streams may be read in any order: a later batch of
//! a chain handed to a subscription before an earlier one would look like a gap (and, were the
//! earlier one late enough, be resent or given up). So deliveries wait here for the ones numbered
//! before them — but never for one that is lost: holding as many deliveries as a node keeps in
//! flight ([`MAX_DELIVERIES_IN_FLIGHT`]) proves the missing one is not on its way any more.

use rivulet_network::light::MAX_DELIVERIES_IN_FLIGHT;

/// Puts numbered deliveries (`T`) back in their node's order.
#[derive(Debug)]
pub(super) struct InOrder<T> {
    /// The number handed on next.
    next: u64,
    /// Deliveries numbered after a missing one (fewer than [`MAX_DELIVERIES_IN_FLIGHT`]; a `Vec`,
    /// which costs the browser package less than an ordered map).
    held: Vec<(u64, T)>,
}

impl<T> Default for InOrder<T> {
    fn default() -> Self {
        InOrder {
            next: 0,
            held: Vec::new(),
        }
    }
}

impl<T> InOrder<T> {
    /// A delivery numbered `seq` came: what may be handed on now, in order. An unnumbered one, or
    /// one numbered before what was handed on already, goes at once.
    pub(super) fn arrived(&mut self, seq: Option<u64>, delivery: T) -> Vec<T> {
        let mut out = Vec::new();
        let seq = match seq {
            Some(seq) if seq >= self.next => seq,
            _ => {
                out.push(delivery);
                return out;
            }
        };
        match self.held.iter_mut().find(|(held, _)| *held == seq) {
            // A number given twice (no honest node does): the earlier one goes on, not lost.
            Some((_, earlier)) => out.push(std::mem::replace(earlier, delivery)),
            None => self.held.push((seq, delivery)),
        }
        if self.held.len() >= MAX_DELIVERIES_IN_FLIGHT
            && let Some(first) = self.held.iter().map(|(seq, _)| *seq).min()
        {
            // Everything the node has out is here: the missing ones are lost.
            self.next = first;
        }
        while let Some(at) = self.held.iter().position(|(seq, _)| *seq == self.next) {
            out.push(self.held.swap_remove(at).1);
            self.next += 1;
        }
        out
    }

    /// The connection ended (a new one numbers from 0 again): whatever was held, in order.
    pub(super) fn restart(&mut self) -> Vec<T> {
        self.next = 0;
        // At most a few: the lowest number each time (a sort would cost the browser package more).
        let mut out = Vec::with_capacity(self.held.len());
        while let Some(at) = (0..self.held.len()).min_by_key(|&at| self.held[at].0) {
            out.push(self.held.swap_remove(at).1);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deliveries_go_on_in_their_nodes_order() {
        let mut order = InOrder::default();
        assert_eq!(order.arrived(Some(0), 'a'), vec!['a']);
        assert_eq!(
            order.arrived(Some(2), 'c'),
            Vec::<char>::new(),
            "waits for 1"
        );
        assert_eq!(order.arrived(Some(3), 'd'), Vec::<char>::new());
        assert_eq!(order.arrived(Some(1), 'b'), vec!['b', 'c', 'd']);
        assert_eq!(order.arrived(Some(4), 'e'), vec!['e']);
        // Unnumbered (an older node), or numbered before what went on: at once.
        assert_eq!(order.arrived(None, 'x'), vec!['x']);
        assert_eq!(order.arrived(Some(2), 'y'), vec!['y']);
    }

    #[test]
    fn a_lost_delivery_is_not_waited_for() {
        let mut order = InOrder::default();
        // 0 never comes: once as many as a node keeps in flight wait behind it, it cannot be coming.
        for seq in 1..MAX_DELIVERIES_IN_FLIGHT as u64 {
            assert!(order.arrived(Some(seq), seq).is_empty());
        }
        let last = MAX_DELIVERIES_IN_FLIGHT as u64;
        assert_eq!(
            order.arrived(Some(last), last),
            (1..=last).collect::<Vec<_>>()
        );
        assert_eq!(order.arrived(Some(last + 1), last + 1), vec![last + 1]);
    }

    #[test]
    fn a_new_connection_numbers_from_zero_and_nothing_held_is_lost() {
        let mut order = InOrder::default();
        assert_eq!(order.arrived(Some(0), 0), vec![0]);
        assert!(order.arrived(Some(2), 2).is_empty());
        assert_eq!(order.restart(), vec![2]);
        assert_eq!(order.arrived(Some(0), 10), vec![10]);
        // A number given twice: neither is lost.
        assert!(order.arrived(Some(2), 12).is_empty());
        assert_eq!(order.arrived(Some(2), 22), vec![12]);
        assert_eq!(order.arrived(Some(1), 11), vec![11, 22]);
    }
}
