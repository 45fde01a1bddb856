//! The relay path: an event from a client (publish) or from a peer (gossip) is checked — the cheap
//! checks here, the signature here too while traffic is light, else on the verification pool —, then, in arrival order, handed to local
//! subscribers in chain order, relayed to the part's mesh and, where this node stores the part,
//! queued for the store — a client's publish is acknowledged once it is durable.

use std::{
    sync::{Arc, OnceLock},
    time::Instant,
};

use rivulet_network::{
    libp2p::{PeerId, gossipsub},
    part_of_topic,
};
use rivulet_protocol::StreamMessage;
use rivulet_validate::{Now, Precheck, Rejection, Verdict};
use tokio::sync::oneshot;
use tracing::{debug, warn};

use super::EventLoop;
use crate::{
    metrics::Source,
    node::{
        access::CachedPermissions,
        commands::{Delivered, Origin, Published},
        verification::Verified,
    },
};

impl EventLoop {
    fn precheck(&mut self, wire: &[u8]) -> Precheck {
        let now = Now {
            clock_ms: crate::node::access::now_ms(),
            chain_secs: self.access.now_secs(),
        };
        let cache = self.access.permissions();
        self.validator
            .precheck(wire, now, &CachedPermissions(&cache))
    }

    /// Checks an event from an API or light client and hands it to the verification pool; its
    /// answer comes when it is concluded.
    pub(super) fn publish(
        &mut self,
        wire: Vec<u8>,
        reply: oneshot::Sender<Result<Published, Rejection>>,
    ) {
        match self.precheck(&wire) {
            Precheck::Verify(candidate) if self.verification.verify_here(Instant::now()) => {
                let verdict = self.validator.verify_and_finish(candidate, &wire);
                self.conclude_publish(wire, verdict, reply);
            }
            Precheck::Verify(candidate) => {
                self.verification
                    .submit(candidate, wire, Origin::Publish(reply));
            }
            Precheck::Duplicate => self.conclude_publish(wire, Verdict::Duplicate, reply),
            Precheck::Reject(r) => self.conclude_publish(wire, Verdict::Reject(r), reply),
        }
    }

    /// A peer's gossip: checked, then verified on the pool (gossipsub forwards it only once it is
    /// reported accepted). Also gossipsub's report of a slow peer.
    pub(super) fn on_gossip(&mut self, event: gossipsub::Event) {
        let (propagation_source, message_id, message) = match event {
            gossipsub::Event::Message {
                propagation_source,
                message_id,
                message,
            } => (propagation_source, message_id, message),
            gossipsub::Event::SlowPeer {
                peer_id,
                failed_messages,
            } => return self.slow_peer(peer_id, &failed_messages),
            _ => return,
        };
        let verdict = match self.precheck(&message.data) {
            Precheck::Verify(candidate) if self.verification.verify_here(Instant::now()) => {
                self.validator.verify_and_finish(candidate, &message.data)
            }
            Precheck::Verify(candidate) => {
                let origin = Origin::Gossip {
                    source: propagation_source,
                    id: message_id,
                    topic: message.topic,
                };
                self.verification.submit(candidate, message.data, origin);
                return;
            }
            Precheck::Duplicate => Verdict::Duplicate,
            Precheck::Reject(r) => Verdict::Reject(r),
        };
        self.conclude_gossip(
            propagation_source,
            &message_id,
            &message.topic,
            message.data,
            verdict,
        );
    }

    /// Gossip that could not be sent to `peer` in the last heartbeat (its queue full, or expired in it):
    /// counted, and logged a line per 10 s at most. The peer can have those events from its other
    /// neighbours; gossipsub also scores it down.
    fn slow_peer(&mut self, peer: PeerId, failed: &gossipsub::FailedMessages) {
        let unsent = (failed.priority + failed.non_priority) as u64;
        self.metrics.gossip_unsent.inc_by(unsent);
        if let Some(before) = self
            .slow_peers_logged
            .line(Instant::now(), "slow-peer reports")
        {
            warn!(%peer, "{unsent} gossip messages could not be sent to this slow peer in the last heartbeat (its queue was full, or they expired in it){before}");
        }
    }

    /// An event back from the verification pool, in arrival order: concluded as its origin asks.
    pub(super) fn on_verified(&mut self, verified: Verified<Origin>) {
        let Verified {
            context,
            candidate,
            frame,
            verified,
        } = verified;
        let verdict = self.validator.finish(candidate, &frame, verified);
        match context {
            Origin::Publish(reply) => self.conclude_publish(frame, verdict, reply),
            Origin::Gossip { source, id, topic } => {
                self.conclude_gossip(source, &id, &topic, frame, verdict)
            }
        }
    }

    fn count_in(&self, source: &str) {
        self.metrics
            .events_in
            .get_or_create(&Source {
                source: source.into(),
            })
            .inc();
    }

    /// Relays and (where stored) stores a client's event by its verdict, and answers the client.
    fn conclude_publish(
        &mut self,
        wire: Vec<u8>,
        verdict: Verdict,
        reply: oneshot::Sender<Result<Published, Rejection>>,
    ) {
        let message = match verdict {
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
        let stored = self.stored.contains(&part);
        if stored {
            // Answered once the event is on disk.
            let (ack_tx, ack_rx) = oneshot::channel();
            self.store_queue.push(&message, wire.clone(), Some(ack_tx));
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
            // Answered now, before it is relayed and delivered: of the tasks woken here, the one
            // woken last runs first on this thread once the event loop yields (tokio's LIFO slot)
            // and the others wait or are taken by another thread — so local subscribers go first,
            // then the relay's connections, then the publisher's answer.
            let _ = reply.send(Ok(Published {
                part: part.to_string(),
                duplicate: false,
                stored: false,
                replicas: None,
            }));
        }
        match self.swarm.behaviour_mut().publish(&part, wire.clone()) {
            Ok(_) => {
                self.metrics.events_out.inc();
            }
            // Alone in the topic: nobody to relay to yet, which is fine.
            Err(gossipsub::PublishError::NoPeersSubscribedToTopic) => {}
            Err(e) => warn!(%part, "gossip publish failed: {e}"),
        }
        self.deliver(message, &wire);
    }

    fn validator_limits(&self) -> rivulet_protocol::Limits {
        self.validator.limits()
    }

    /// Relays, delivers and (where stored) stores a peer's event by its verdict, and reports the
    /// verdict to gossipsub (only accepted events are forwarded; refusals that only a forger causes
    /// cost the sender peer score).
    fn conclude_gossip(
        &mut self,
        source: PeerId,
        id: &gossipsub::MessageId,
        topic: &gossipsub::TopicHash,
        wire: Vec<u8>,
        verdict: Verdict,
    ) {
        let (acceptance, accepted) = match verdict {
            Verdict::Accept(accepted) => {
                self.count_in("gossip");
                if part_of_topic(topic).is_some_and(|p| self.stored.contains(&p)) {
                    self.store_queue.push(&accepted, wire.clone(), None);
                }
                (gossipsub::MessageAcceptance::Accept, Some(accepted))
            }
            Verdict::Duplicate => {
                self.metrics.duplicates.inc();
                (gossipsub::MessageAcceptance::Ignore, None)
            }
            Verdict::Reject(r) => {
                debug!(peer = %source, "rejected gossip: {r}");
                self.metrics.reject(r.reason());
                let acceptance = if r.penalises_sender() {
                    gossipsub::MessageAcceptance::Reject
                } else {
                    gossipsub::MessageAcceptance::Ignore
                };
                (acceptance, None)
            }
        };
        // Relayed first, then delivered here: a task woken last runs first on this thread once the
        // event loop yields (tokio's LIFO slot), while the one before it waits or is taken by another
        // thread — so local subscribers are not served after a forward.
        self.swarm.behaviour_mut().report(id, &source, acceptance);
        if let Some(accepted) = accepted {
            self.deliver(*accepted, &wire);
        }
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
                wire_frame: OnceLock::new(),
            }));
        }
    }
}
