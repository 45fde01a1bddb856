//! History on the event loop: peers' requests answered from the store (off the loop), and this node's
//! requests for parts it does not store, sent peer after peer.

use rivulet_network::{
    HistoryQuery, HistoryRequest, HistoryResponse, ReaderProof,
    intake::Inbound,
    libp2p::{
        Multiaddr, PeerId,
        request_response::{Event, Message},
    },
};
use rivulet_protocol::StreamPartId;
use tokio::sync::oneshot;

use super::EventLoop;
use crate::node::{
    commands::{Command, HistoryPage},
    history::{PendingHistory, answer},
};

impl EventLoop {
    /// Starts asking peers for one page of `part`'s history: `peers` in order if given (dialled at
    /// their addresses when not connected); otherwise the part's replicas as the coordinator assigns
    /// them, then every other connected peer.
    pub(super) fn remote_history(
        &mut self,
        part: &StreamPartId,
        query: HistoryQuery,
        reader: Option<ReaderProof>,
        peers: Vec<(PeerId, Vec<Multiaddr>)>,
        reply: oneshot::Sender<Result<HistoryPage, String>>,
    ) {
        let me = *self.swarm.local_peer_id();
        let peers = if peers.is_empty() {
            self.coordination.replica_peers(part, &me)
        } else {
            peers
        };
        let mut order: Vec<PeerId> = Vec::new();
        for (peer, addresses) in peers {
            for address in addresses {
                self.swarm.add_peer_address(peer, address);
            }
            if peer != me && !order.contains(&peer) {
                order.push(peer);
            }
        }
        if order.is_empty() {
            // No coordinator assignment: whoever is connected may store it (`storage.parts`).
            order.extend(self.swarm.connected_peers().copied());
        }
        self.ask_next_peer(PendingHistory::new(part, query, reader, order, reply));
    }

    fn ask_next_peer(&mut self, pending: PendingHistory) {
        if let Some((peer, request, pending)) = pending.next_peer() {
            let id = self
                .swarm
                .behaviour_mut()
                .history
                .send_request(&peer, request);
            self.history.sent(id, pending);
        }
    }

    pub(super) fn on_history(&mut self, event: Event<Inbound<HistoryRequest>, HistoryResponse>) {
        match event {
            Event::Message {
                peer,
                connection_id,
                message:
                    Message::Request {
                        request, channel, ..
                    },
            } => {
                let from = self.reader_key(peer, connection_id);
                let request = match request {
                    Inbound::Request(request) => request,
                    Inbound::Refused(refusal) => {
                        self.count_refusal("history", from, &refusal);
                        let response = HistoryResponse::Error(format!(
                            "{}: {}",
                            refusal.code, refusal.message
                        ));
                        let _ = self
                            .swarm
                            .behaviour_mut()
                            .history
                            .send_response(channel, response);
                        return;
                    }
                };
                let (reads, stored, access, commands, coordination) = (
                    self.reads.clone(),
                    self.stored.clone(),
                    self.access.clone(),
                    self.commands.clone(),
                    self.coordination.clone(),
                );
                tokio::spawn(async move {
                    let response = reads
                        .run(from, move |store| {
                            answer(
                                store,
                                |p| stored.serves(p),
                                |peer, p| coordination.is_replica(peer, p),
                                &access,
                                &peer,
                                &request,
                            )
                        })
                        .await
                        .unwrap_or_else(|e| HistoryResponse::Error(e.to_string()));
                    let _ = commands
                        .send(Command::HistoryRespond { channel, response })
                        .await;
                });
            }
            Event::Message {
                message:
                    Message::Response {
                        request_id,
                        response,
                    },
                ..
            } => {
                if let Some(retry) = self.history.answered(request_id, response) {
                    self.ask_next_peer(retry);
                }
            }
            Event::OutboundFailure {
                request_id, error, ..
            } => {
                if let Some(retry) = self.history.failed(request_id, error.to_string()) {
                    self.ask_next_peer(retry);
                }
            }
            _ => {}
        }
    }
}
