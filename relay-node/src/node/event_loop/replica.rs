//! The replica-store protocol on the event loop: handing events to other replicas for a publish that
//! waits for a quorum, and storing what other entry nodes hand this one.

use rivulet_network::{
    intake::Inbound,
    libp2p::{Multiaddr, PeerId, request_response},
    replica::{StoreRequest, StoreResponse},
};
use rivulet_protocol::StreamMessage;
use tokio::sync::oneshot;
use tracing::debug;

use super::EventLoop;
use crate::node::commands::Command;

impl EventLoop {
    /// Sends `wire` to replica `peer` (dialling `addresses` if need be); `reply` learns whether it is on
    /// the replica's disk.
    pub(super) fn replica_store(
        &mut self,
        peer: PeerId,
        addresses: Vec<Multiaddr>,
        wire: Vec<u8>,
        reply: oneshot::Sender<Result<(), String>>,
    ) {
        for address in addresses {
            self.swarm.add_peer_address(peer, address);
        }
        let id = self
            .swarm
            .behaviour_mut()
            .store
            .send_request(&peer, StoreRequest { wire });
        self.replica_requests.insert(id, reply);
    }

    pub(super) fn on_store_event(
        &mut self,
        event: request_response::Event<Inbound<StoreRequest>, StoreResponse>,
    ) {
        match event {
            request_response::Event::Message {
                peer,
                connection_id,
                message:
                    request_response::Message::Request {
                        request, channel, ..
                    },
            } => match request {
                Inbound::Request(request) => self.store_for(peer, request.wire, channel),
                Inbound::Refused(refusal) => {
                    self.count_refusal("store", self.reader_key(peer, connection_id), &refusal);
                    let response = StoreResponse::Error {
                        code: refusal.code.into(),
                        message: refusal.message,
                    };
                    let _ = self
                        .swarm
                        .behaviour_mut()
                        .store
                        .send_response(channel, response);
                }
            },
            request_response::Event::Message {
                message:
                    request_response::Message::Response {
                        request_id,
                        response,
                    },
                ..
            } => {
                if let Some(reply) = self.replica_requests.remove(&request_id) {
                    let _ = reply.send(match response {
                        StoreResponse::Stored => Ok(()),
                        StoreResponse::Error { code, message } => Err(format!("{code}: {message}")),
                    });
                }
            }
            request_response::Event::OutboundFailure {
                request_id, error, ..
            } => {
                if let Some(reply) = self.replica_requests.remove(&request_id) {
                    let _ = reply.send(Err(error.to_string()));
                }
            }
            request_response::Event::InboundFailure { peer, error, .. } => {
                debug!(%peer, "replica store request failed: {error}");
            }
            request_response::Event::ResponseSent { .. } => {}
        }
    }

    /// Another entry node hands this node an event of a part it stores: judged and stored as a
    /// publish, answered once it is on disk.
    fn store_for(
        &mut self,
        peer: PeerId,
        wire: Vec<u8>,
        channel: request_response::ResponseChannel<StoreResponse>,
    ) {
        let part = StreamMessage::decode(&wire, &self.validator.limits())
            .map(|m| m.id().stream_part())
            .ok();
        if !part.as_ref().is_some_and(|p| self.stored.contains(p)) {
            let response = StoreResponse::Error {
                code: "not_stored".into(),
                message: match part {
                    Some(part) => format!("this node does not store {part}"),
                    None => "the event does not decode".into(),
                },
            };
            let _ = self
                .swarm
                .behaviour_mut()
                .store
                .send_response(channel, response);
            return;
        }
        debug!(%peer, "storing an event for a quorum");
        let (reply, answer) = oneshot::channel();
        self.publish(wire, reply);
        let commands = self.commands.clone();
        tokio::spawn(async move {
            let response = match answer.await {
                Ok(Ok(published)) if published.stored => StoreResponse::Stored,
                Ok(Ok(_)) => StoreResponse::Error {
                    code: "store".into(),
                    message: "the event could not be stored".into(),
                },
                Ok(Err(rejection)) => StoreResponse::Error {
                    code: rejection.reason().into(),
                    message: rejection.to_string(),
                },
                Err(_) => StoreResponse::Error {
                    code: "unavailable".into(),
                    message: "the node is stopping".into(),
                },
            };
            let _ = commands
                .send(Command::StoreRespond { channel, response })
                .await;
        });
    }
}
