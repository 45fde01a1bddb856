//! Pushed deliveries to subscriptions, with back-pressure: a delivery is acknowledged to the node only
//! once every subscription of its part took it into its bounded queue.

use std::collections::VecDeque;

use futures::FutureExt;
use rivulet_network::{
    libp2p::request_response::ResponseChannel,
    light::{Delivery, DeliveryAck},
};
use rivulet_protocol::StreamPartId;

use super::{Driver, Routed};

impl Driver {
    /// Hands a pushed delivery to the subscriptions of its stream part; acknowledges it (`ack`) once
    /// they all have it.
    pub(super) fn route(&mut self, delivery: Delivery, ack: ResponseChannel<DeliveryAck>) {
        let part = match &delivery {
            Delivery::Events { part, .. }
            | Delivery::Lagged { part, .. }
            | Delivery::Ended { part, .. } => part.parse::<StreamPartId>(),
        };
        let Ok(part) = part else {
            return self.acknowledge(Some(ack));
        };
        if let Delivery::Ended { reason, .. } = delivery {
            self.end(&part, reason);
            return self.acknowledge(Some(ack));
        }
        self.hand_to_sinks(part, delivery, Some(ack));
    }

    /// Puts `delivery` in every queue of `part`: at once where there is room; where there is not, a
    /// task waits for room, and `ack` goes when the last queue took it.
    fn hand_to_sinks(
        &mut self,
        part: StreamPartId,
        delivery: Delivery,
        ack: Option<ResponseChannel<DeliveryAck>>,
    ) {
        // Behind a delivery still waiting for room: after it, so each queue keeps the node's order.
        if let Some(queue) = self.blocked.get_mut(&part) {
            queue.push_back((delivery, ack));
            return;
        }
        let Some(sinks) = self.subscriptions.get_mut(&part) else {
            return self.acknowledge(ack);
        };
        let mut waiting = Vec::new();
        sinks
            .sinks
            .retain(|(id, sink, _)| match sink.try_send(delivery.clone()) {
                Ok(()) => true,
                Err(async_channel::TrySendError::Full(_)) => {
                    waiting.push((*id, sink.clone()));
                    true
                }
                Err(async_channel::TrySendError::Closed(_)) => false,
            });
        if sinks.sinks.is_empty() {
            self.subscriptions.remove(&part);
        }
        if waiting.is_empty() {
            return self.acknowledge(ack);
        }
        self.blocked.insert(part.clone(), VecDeque::new());
        self.routing.push(
            async move {
                let mut closed = Vec::new();
                for (id, sink) in waiting {
                    if sink.send(delivery.clone()).await.is_err() {
                        closed.push(id);
                    }
                }
                Routed { ack, part, closed }
            }
            .boxed(),
        );
    }

    /// A delivery found room in every queue of its part.
    pub(super) fn routed(&mut self, routed: Routed) {
        if let Some(sinks) = self.subscriptions.get_mut(&routed.part) {
            sinks.sinks.retain(|(id, _, _)| !routed.closed.contains(id));
            if sinks.sinks.is_empty() {
                self.subscriptions.remove(&routed.part);
            }
        }
        self.acknowledge(routed.ack);
        // What came meanwhile goes on, in order, until a queue is full again.
        let mut queue = self.blocked.remove(&routed.part).unwrap_or_default();
        while let Some((delivery, ack)) = queue.pop_front() {
            self.hand_to_sinks(routed.part.clone(), delivery, ack);
            if let Some(blocked) = self.blocked.get_mut(&routed.part) {
                blocked.extend(queue.drain(..));
                break;
            }
        }
    }

    fn acknowledge(&mut self, ack: Option<ResponseChannel<DeliveryAck>>) {
        if let Some(ack) = ack {
            let _ = self
                .swarm
                .behaviour_mut()
                .delivery
                .send_response(ack, DeliveryAck);
        }
    }

    /// Ends every subscription of a part (the node will not deliver it any more): each is told, after
    /// what its queue holds.
    pub(super) fn end(&mut self, part: &StreamPartId, reason: String) {
        let ended = Delivery::Ended {
            part: part.to_string(),
            reason,
            seq: None,
        };
        self.hand_to_sinks(part.clone(), ended, None);
        self.subscriptions.remove(part);
    }
}
