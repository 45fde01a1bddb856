//! The session with the entry node: dialing (the next configured node, with backoff), signing in
//! (as the client's key, or for the account that authorised it), answers to requests, and the
//! connection going away.

use rivulet_network::{
    ClientBehaviourEvent,
    libp2p::{
        PeerId, request_response,
        swarm::{SwarmEvent, dial_opts::DialOpts},
    },
    light::{DeliveryAck, LightRequest, LightResponse, session_text},
    peer_of,
};
use rivulet_protocol::StreamPartId;

use super::{
    Dial, Driver, MAX_BACKOFF_MS, Pending, Reply, SESSION_SETUP_MS, answer, subscribe_request,
};
use crate::{error::ClientError, runtime::now_ms};

impl Driver {
    pub(super) fn on_swarm_event(&mut self, event: SwarmEvent<ClientBehaviourEvent>) {
        match event {
            SwarmEvent::ConnectionEstablished {
                peer_id,
                connection_id,
                ..
            } => {
                let ours = self.entry.is_none()
                    && self.dialing.as_ref().is_some_and(|dial| {
                        dial.connection == connection_id
                            && peer_of(&dial.addr).is_none_or(|p| p == peer_id)
                    });
                if ours {
                    self.entry = Some(peer_id);
                    self.dialing = None;
                    self.sign_in(peer_id);
                } else {
                    // A dial given up on that connected after all, or a connection nobody here asked
                    // for: the session has its own.
                    self.swarm.close_connection(connection_id);
                }
            }
            SwarmEvent::ConnectionClosed {
                peer_id,
                num_established: 0,
                cause,
                ..
            } if self.entry == Some(peer_id) => {
                // A refused sign-in says more than the disconnection that follows it.
                self.last_error = match (self.refusal.take(), cause) {
                    (Some(refusal), _) => refusal,
                    (None, Some(e)) => format!("entry node {peer_id} went away: {e}"),
                    (None, None) => format!("entry node {peer_id} closed the connection"),
                };
                self.entry = None;
                // What waited for a delivery that will not come now goes on; the next node numbers
                // from 0.
                for (delivery, ack) in self.in_order.restart() {
                    self.route(delivery, ack);
                }
                self.requeue_waiting_publishes();
                self.ready = false;
                self.auth = None;
                self.schedule_retry();
            }
            SwarmEvent::OutgoingConnectionError {
                connection_id,
                error,
                ..
            } if self
                .dialing
                .as_ref()
                .is_some_and(|dial| dial.connection == connection_id) =>
            {
                self.last_error = format!("cannot connect: {error}");
                self.schedule_retry();
            }
            SwarmEvent::Behaviour(ClientBehaviourEvent::Light(event)) => self.on_light(event),
            SwarmEvent::Behaviour(ClientBehaviourEvent::Delivery(
                request_response::Event::Message {
                    peer,
                    message:
                        request_response::Message::Request {
                            request, channel, ..
                        },
                    ..
                },
            )) => {
                if self.entry == Some(peer) {
                    let seq = request.seq();
                    for (delivery, ack) in self.in_order.arrived(seq, (request, channel)) {
                        self.route(delivery, ack);
                    }
                } else {
                    let _ = self
                        .swarm
                        .behaviour_mut()
                        .delivery
                        .send_response(channel, DeliveryAck);
                }
            }
            _ => {}
        }
    }

    /// Proves our address to the entry node: an EIP-191 signature over a text naming both peers (and
    /// the account's authorisation of our key, when we act for one).
    pub(super) fn sign_in(&mut self, node: PeerId) {
        let text = session_text(&node, self.swarm.local_peer_id());
        let signature = self.signer.sign_personal(text.as_bytes()).0.to_vec().into();
        let address = self.signer.address().to_checksum();
        let request = match &self.authorisation {
            Some(a) => LightRequest::AuthFor {
                address,
                signature,
                account: a.account.clone(),
                expires: a.expires,
                authorisation: a.signature.clone().into(),
            },
            None => LightRequest::Auth { address, signature },
        };
        self.auth = Some(
            self.swarm
                .behaviour_mut()
                .light
                .send_request(&node, request),
        );
    }

    pub(super) fn on_signed_in(&mut self, entry: PeerId) {
        self.ready = true;
        self.setup_deadline = None;
        self.failures = 0;
        for (waiter, _) in self.waiters.drain(..) {
            let _ = waiter.send(Ok(entry));
        }
        let parts: Vec<(StreamPartId, bool)> = self
            .subscriptions
            .iter()
            .map(|(part, sinks)| (part.clone(), sinks.has_reader()))
            .collect();
        for (part, reader) in parts {
            let request = subscribe_request(&part, reader);
            self.send(request, Reply::Resubscribe(part));
        }
        while let Some(pending) = self.queued.pop_front() {
            self.dispatch(pending);
        }
    }

    pub(super) fn on_light(&mut self, event: request_response::Event<LightRequest, LightResponse>) {
        match event {
            request_response::Event::Message {
                peer,
                message:
                    request_response::Message::Response {
                        request_id,
                        response,
                    },
                ..
            } => {
                if self.auth == Some(request_id) {
                    self.auth = None;
                    if std::mem::take(&mut self.stale_auth) {
                        self.sign_in(peer);
                        return;
                    }
                    match response {
                        LightResponse::Ok => {
                            for waiter in self.authorising.drain(..) {
                                let _ = waiter.send(Ok(()));
                            }
                            self.on_signed_in(peer);
                        }
                        other => {
                            self.last_error = format!("sign-in refused: {}", describe(&other));
                            self.refusal = Some(self.last_error.clone());
                            // An authorisation given by `authorise` and refused is dropped (its caller
                            // hears why), so the key signs in as itself again; one given in the
                            // configuration stays, and every sign-in reports its refusal.
                            if !self.authorising.is_empty() {
                                self.authorisation = None;
                                let (code, message) = match other {
                                    LightResponse::Error { code, message } => (code, message),
                                    other => ("bad_response".to_owned(), describe(&other)),
                                };
                                for waiter in self.authorising.drain(..) {
                                    let _ = waiter.send(Err(ClientError::Refused {
                                        code: code.clone(),
                                        message: message.clone(),
                                    }));
                                }
                            }
                            let _ = self.swarm.disconnect_peer_id(peer);
                        }
                    }
                    return;
                }
                if let Some(pending) = self.in_flight.remove(&request_id) {
                    let published = super::is_publish(&pending.request);
                    self.on_response(pending, response);
                    if published {
                        self.publish_finished();
                    }
                }
            }
            request_response::Event::OutboundFailure {
                request_id, error, ..
            } => {
                if self.auth == Some(request_id) {
                    self.auth = None;
                    self.last_error = format!("sign-in failed: {error}");
                    if let Some(entry) = self.entry {
                        let _ = self.swarm.disconnect_peer_id(entry);
                    }
                    return;
                }
                let Some(pending) = self.in_flight.remove(&request_id) else {
                    return;
                };
                if super::is_publish(&pending.request) {
                    self.publishes_in_flight = self.publishes_in_flight.saturating_sub(1);
                }
                // A dropped connection under a request: every request is idempotent (publishing the same
                // signed event twice is a duplicate), so try once more on the next session.
                let retry = pending.attempts < 2
                    && matches!(
                        error,
                        request_response::OutboundFailure::ConnectionClosed
                            | request_response::OutboundFailure::DialFailure
                    );
                if retry {
                    self.dispatch(pending);
                } else {
                    answer(
                        pending.reply,
                        Err(ClientError::NotConnected(format!(
                            "request to the entry node failed: {error}"
                        ))),
                    );
                }
                self.send_waiting_publishes();
            }
            _ => {}
        }
    }

    pub(super) fn on_response(&mut self, pending: Pending, response: LightResponse) {
        match pending.reply {
            Reply::Resubscribe(part) => {
                if let LightResponse::Error { message, .. } = response {
                    self.end(
                        &part,
                        format!("re-subscribing after a reconnect failed: {message}"),
                    );
                }
            }
            Reply::Subscribe(part, id, reply) => match response {
                LightResponse::Error { code, message } => {
                    if let Some(sinks) = self.subscriptions.get_mut(&part) {
                        sinks.sinks.retain(|(i, _, _)| *i != id);
                        if sinks.sinks.is_empty() {
                            self.subscriptions.remove(&part);
                        }
                    }
                    let _ = reply.send(Err(ClientError::Refused { code, message }));
                }
                _ => {
                    let _ = reply.send(Ok(()));
                }
            },
            reply => answer(reply, Ok(response)),
        }
    }

    pub(super) fn dial_next(&mut self) {
        if self.nodes.is_empty() {
            self.last_error = "no entry nodes configured".into();
            return;
        }
        let addr = self.nodes[self.next_node % self.nodes.len()].clone();
        self.next_node = self.next_node.wrapping_add(1);
        let opts = DialOpts::from(addr.clone());
        let connection = opts.connection_id();
        match self.swarm.dial(opts) {
            Ok(()) => {
                self.dialing = Some(Dial { addr, connection });
                self.setup_deadline = Some(now_ms() + SESSION_SETUP_MS);
            }
            Err(e) => {
                self.last_error = format!("cannot dial {addr}: {e}");
                self.schedule_retry();
            }
        }
    }

    /// Backs off exponentially (200 ms doubling, at most 5 s) before the next dial.
    pub(super) fn schedule_retry(&mut self) {
        self.dialing = None;
        self.setup_deadline = None;
        let backoff = (200u64 << self.failures.min(5)).min(MAX_BACKOFF_MS);
        self.failures += 1;
        self.retry_at = now_ms() + backoff;
    }

    /// The session being set up took longer than [`SESSION_SETUP_MS`]: gives that node up (the dial is
    /// aborted, or the connection closed) and goes on to the next.
    pub(super) fn give_up_setup(&mut self) {
        self.setup_deadline = None;
        let secs = SESSION_SETUP_MS / 1000;
        if let Some(dial) = self.dialing.take() {
            self.last_error = format!("{} did not connect within {secs} s", dial.addr);
            // Aborts the pending dial; should it connect all the same, the connection is closed.
            if let Some(peer) = peer_of(&dial.addr) {
                let _ = self.swarm.disconnect_peer_id(peer);
            }
            self.schedule_retry();
        } else if let Some(entry) = self.entry {
            self.refusal = Some(format!(
                "entry node {entry} did not answer the sign-in within {secs} s"
            ));
            let _ = self.swarm.disconnect_peer_id(entry);
        }
    }
}

fn describe(response: &LightResponse) -> String {
    match response {
        LightResponse::Error { code, message } => format!("{code}: {message}"),
        other => format!("unexpected answer {other:?}"),
    }
}
