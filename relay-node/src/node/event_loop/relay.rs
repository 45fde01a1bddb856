//! The relay path: an event from a client (publish) or from a peer (gossip) is validated, handed to
//! local subscribers in chain order, relayed to the part's mesh and, where this node stores the part,
//! queued for the store — a client's publish is acknowledged once it is durable.

use std::sync::{Arc, OnceLock};

use rivulet_network::{libp2p::gossipsub, part_of_topic};
use rivulet_protocol::StreamMessage;
use rivulet_validate::{Now, Rejection, Verdict};
use tokio::sync::oneshot;
use tracing::{debug, warn};

use super::EventLoop;
use crate::{
    metrics::Source,
    node::{
        access::CachedPermissions,
        commands::{Delivered, Published},
    },
};

impl EventLoop {
    fn validate(&mut self, wire: &[u8]) -> Verdict {
        let now = Now {
            clock_ms: crate::node::access::now_ms(),
            chain_secs: self.access.now_secs(),
        };
        let cache = self.access.permissions();
        self.validator
            .validate(wire, now, &CachedPermissions(&cache))
    }

    fn count_in(&self, source: &str) {
        self.metrics
            .events_in
            .get_or_create(&Source {
                source: source.into(),
            })
            .inc();
    }

    /// Validates, relays and (where stored) stores an event from an API or light client.
    pub(super) fn publish(
        &mut self,
        wire: Vec<u8>,
        reply: oneshot::Sender<Result<Published, Rejection>>,
    ) {
        let message = match self.validate(&wire) {
            Verdict::Accept(message) => *message,
            Verdict::Duplicate => {
                self.metrics.duplicates.inc();
                // Decodes: it was accepted before. Where this node stores the part, the answer waits
                // until the event is on disk (it may still be in the store queue, or a replica may be
                // asked again for a quorum): storing the same bytes again is harmless.
                let message = StreamMessage::decode(&wire, &self.validator_limits()).ok();
                let part = message
                    .as_ref()
                    .map(|m| m.id().stream_part().to_string())
                    .unwrap_or_default();
                match message {
                    Some(message) if self.stored.contains(&message.id().stream_part()) => {
                        let (ack_tx, ack_rx) = oneshot::channel();
                        self.store_queue.push(&message, wire, Some(ack_tx));
                        tokio::spawn(async move {
                            let stored = ack_rx.await.unwrap_or(false);
                            let _ = reply.send(Ok(Published {
                                part,
                                duplicate: true,
                                stored,
                                replicas: None,
                            }));
                        });
                    }
                    _ => {
                        let _ = reply.send(Ok(Published {
                            part,
                            duplicate: true,
                            stored: false,
                            replicas: None,
                        }));
                    }
                }
                return;
            }
            Verdict::Reject(r) => {
                self.metrics.reject(r.reason());
                let _ = reply.send(Err(r));
                return;
            }
        };
        let part = message.id().stream_part();
        self.count_in("api");
        let change = self.topics.published(&part);
        self.apply(change);
        match self.swarm.behaviour_mut().publish(&part, wire.clone()) {
            Ok(_) => {
                self.metrics.events_out.inc();
            }
            // Alone in the topic: nobody to relay to yet, which is fine.
            Err(gossipsub::PublishError::NoPeersSubscribedToTopic) => {}
            Err(e) => warn!(%part, "gossip publish failed: {e}"),
        }
        let stored = self.stored.contains(&part);
        if stored {
            let (ack_tx, ack_rx) = oneshot::channel();
            self.store_queue.push(&message, wire.clone(), Some(ack_tx));
            self.deliver(message, &wire);
            let part = part.to_string();
            tokio::spawn(async move {
                let stored = ack_rx.await.unwrap_or(false);
                let _ = reply.send(Ok(Published {
                    part,
                    duplicate: false,
                    stored,
                    replicas: None,
                }));
            });
        } else {
            self.deliver(message, &wire);
            let _ = reply.send(Ok(Published {
                part: part.to_string(),
                duplicate: false,
                stored: false,
                replicas: None,
            }));
        }
    }

    fn validator_limits(&self) -> rivulet_protocol::Limits {
        self.validator.limits()
    }

    /// A message from a peer's gossip: validated, reported (only accepted ones are forwarded), then
    /// delivered and stored like a client's.
    pub(super) fn on_gossip(&mut self, event: gossipsub::Event) {
        let gossipsub::Event::Message {
            propagation_source,
            message_id,
            message,
        } = event
        else {
            return;
        };
        let acceptance = match self.validate(&message.data) {
            Verdict::Accept(accepted) => {
                self.count_in("gossip");
                if part_of_topic(&message.topic).is_some_and(|p| self.stored.contains(&p)) {
                    self.store_queue.push(&accepted, message.data.clone(), None);
                }
                self.deliver(*accepted, &message.data);
                gossipsub::MessageAcceptance::Accept
            }
            Verdict::Duplicate => {
                self.metrics.duplicates.inc();
                gossipsub::MessageAcceptance::Ignore
            }
            Verdict::Reject(r) => {
                debug!(peer = %propagation_source, "rejected gossip: {r}");
                self.metrics.reject(r.reason());
                if r.penalises_sender() {
                    gossipsub::MessageAcceptance::Reject
                } else {
                    gossipsub::MessageAcceptance::Ignore
                }
            }
        };
        self.swarm
            .behaviour_mut()
            .report(&message_id, &propagation_source, acceptance);
    }

    /// Hands an accepted event to local subscribers, in publisher-chain order.
    fn deliver(&mut self, message: StreamMessage, wire: &[u8]) {
        let part = message.id().stream_part();
        if !self.topics.has_local_subscribers(&part) {
            return;
        }
        let ready = self.order.ingest(
            (Arc::new(message), Arc::from(wire)),
            std::time::Instant::now(),
        );
        for (message, wire) in ready {
            self.fan_out(&message, &wire);
        }
    }

    /// Hands an event to local subscribers: light clients' queues, and WebSocket sessions (only if any
    /// listens).
    pub(super) fn fan_out(&mut self, message: &Arc<StreamMessage>, wire: &Arc<[u8]>) {
        let part = message.id().stream_part();
        if self.light.wants(&part) {
            for peer in self.light.enqueue(&part, message.body.message_type, wire) {
                self.light_flush(peer);
            }
        }
        if self.events.receiver_count() > 0 {
            let _ = self.events.send(Arc::new(Delivered {
                part,
                message: message.clone(),
                wire: wire.clone(),
                rendered: OnceLock::new(),
            }));
        }
    }
}
