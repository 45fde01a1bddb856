//! The connection driver: one task owns the libp2p swarm. It keeps one signed-in session with an entry
//! node (dialing the next configured node, with backoff, when the current one goes away), sends the
//! client's requests on it (queued while there is no session, retried once on another node when a
//! connection drops under them), re-subscribes after a reconnect, and routes pushed events to
//! subscriptions.

use std::{
    collections::{HashMap, VecDeque},
    time::Duration,
};

use futures::{
    FutureExt, StreamExt,
    channel::{mpsc, oneshot},
};
use rivulet_network::{
    ClientBehaviour, ClientBehaviourEvent,
    libp2p::{
        Multiaddr, PeerId, Swarm,
        request_response::{self, OutboundRequestId},
        swarm::SwarmEvent,
    },
    light::{Authorisation, Delivery, DeliveryAck, LightRequest, LightResponse, session_text},
    peer_of,
};
use rivulet_protocol::{Signer, StreamPartId};

use crate::{ClientError, runtime::now_ms};

/// What the client asks of the driver.
pub(crate) enum Command {
    /// Send a request to the entry node.
    Request {
        request: LightRequest,
        reply: oneshot::Sender<Result<LightResponse, ClientError>>,
    },
    /// Add a subscription sink for `part` (subscribing at the node if it is the first): a reader's,
    /// or (`reader: false`) a key service's, which needs only the part's group-key requests.
    Subscribe {
        part: StreamPartId,
        id: u64,
        sink: mpsc::UnboundedSender<Delivery>,
        reply: oneshot::Sender<Result<(), ClientError>>,
        reader: bool,
    },
    /// Remove a subscription sink (unsubscribing at the node if it was the last).
    Unsubscribe { part: StreamPartId, id: u64 },
    /// Act for an account from now on: sign in again with its authorisation of our key.
    Authorise {
        authorisation: Authorisation,
        reply: oneshot::Sender<Result<(), ClientError>>,
    },
    /// Answer once a session is up (or with the last error after `timeout`).
    WaitConnected {
        reply: oneshot::Sender<Result<PeerId, ClientError>>,
        deadline: u64,
    },
    /// Close every connection and stop.
    Shutdown,
}

/// Who waits for a request's answer.
enum Reply {
    User(oneshot::Sender<Result<LightResponse, ClientError>>),
    /// A (key service's or reader's) subscription: on refusal only that sink goes.
    Subscribe(StreamPartId, u64, oneshot::Sender<Result<(), ClientError>>),
    /// A re-subscription after a reconnect.
    Resubscribe(StreamPartId),
    /// An unsubscribe nobody waits for.
    Nobody,
}

struct Pending {
    request: LightRequest,
    reply: Reply,
    attempts: u8,
    queued_at: u64,
}

/// A stream part's subscription sinks.
#[derive(Default)]
struct Sinks {
    /// (id, sink, whether it is a reader's).
    sinks: Vec<(u64, mpsc::UnboundedSender<Delivery>, bool)>,
}

impl Sinks {
    fn has_reader(&self) -> bool {
        self.sinks.iter().any(|(_, _, reader)| *reader)
    }
}

/// The request that subscribes a part at the node: every event for readers, key requests otherwise.
fn subscribe_request(part: &StreamPartId, reader: bool) -> LightRequest {
    if reader {
        LightRequest::Subscribe {
            part: part.to_string(),
        }
    } else {
        LightRequest::ServeKeys {
            part: part.to_string(),
        }
    }
}

const TICK: Duration = Duration::from_millis(250);
const MAX_BACKOFF_MS: u64 = 5_000;

pub(crate) struct Driver {
    swarm: Swarm<ClientBehaviour>,
    signer: Signer,
    authorisation: Option<Authorisation>,
    nodes: Vec<Multiaddr>,
    next_node: usize,
    request_timeout_ms: u64,
    /// The entry node we are connected to, and whether the session is signed in.
    entry: Option<PeerId>,
    ready: bool,
    dialing: Option<Multiaddr>,
    failures: u32,
    retry_at: u64,
    auth: Option<OutboundRequestId>,
    queued: VecDeque<Pending>,
    in_flight: HashMap<OutboundRequestId, Pending>,
    subscriptions: HashMap<StreamPartId, Sinks>,
    waiters: Vec<(oneshot::Sender<Result<PeerId, ClientError>>, u64)>,
    last_error: String,
    /// Why the entry node refused our sign-in, until the disconnection that follows.
    refusal: Option<String>,
    /// Who waits for a sign-in with a new authorisation.
    authorising: Vec<oneshot::Sender<Result<(), ClientError>>>,
    /// The sign-in in flight predates the newest authorisation: sign in again when it answers.
    stale_auth: bool,
}

impl Driver {
    pub(crate) fn new(
        swarm: Swarm<ClientBehaviour>,
        signer: Signer,
        authorisation: Option<Authorisation>,
        nodes: Vec<Multiaddr>,
        request_timeout: Duration,
    ) -> Driver {
        Driver {
            swarm,
            signer,
            authorisation,
            nodes,
            next_node: 0,
            request_timeout_ms: request_timeout.as_millis() as u64,
            entry: None,
            ready: false,
            dialing: None,
            failures: 0,
            retry_at: 0,
            auth: None,
            queued: VecDeque::new(),
            in_flight: HashMap::new(),
            subscriptions: HashMap::new(),
            waiters: Vec::new(),
            last_error: "not connected yet".into(),
            refusal: None,
            authorising: Vec::new(),
            stale_auth: false,
        }
    }

    /// Runs until the client shuts down (or every handle to it is gone).
    pub(crate) async fn run(mut self, mut commands: mpsc::UnboundedReceiver<Command>) {
        self.dial_next();
        let mut tick = futures_timer::Delay::new(TICK).fuse();
        loop {
            futures::select! {
                event = self.swarm.select_next_some() => self.on_swarm_event(event),
                command = commands.next() => match command {
                    Some(Command::Shutdown) | None => break,
                    Some(command) => self.on_command(command),
                },
                _ = tick => {
                    tick = futures_timer::Delay::new(TICK).fuse();
                    self.on_tick();
                }
            }
        }
        self.fail_all(|| ClientError::Destroyed);
        if let Some(entry) = self.entry.take() {
            let _ = self.swarm.disconnect_peer_id(entry);
        }
    }

    /// Answers every waiting caller with an error.
    fn fail_all(&mut self, error: impl Fn() -> ClientError) {
        for pending in self
            .queued
            .drain(..)
            .chain(self.in_flight.drain().map(|(_, p)| p))
        {
            answer(pending.reply, Err(error()));
        }
        for (waiter, _) in self.waiters.drain(..) {
            let _ = waiter.send(Err(error()));
        }
    }

    fn dial_next(&mut self) {
        if self.nodes.is_empty() {
            self.last_error = "no entry nodes configured".into();
            return;
        }
        let addr = self.nodes[self.next_node % self.nodes.len()].clone();
        self.next_node = self.next_node.wrapping_add(1);
        match self.swarm.dial(addr.clone()) {
            Ok(()) => self.dialing = Some(addr),
            Err(e) => {
                self.last_error = format!("cannot dial {addr}: {e}");
                self.schedule_retry();
            }
        }
    }

    /// Backs off exponentially (200 ms doubling, at most 5 s) before the next dial.
    fn schedule_retry(&mut self) {
        self.dialing = None;
        let backoff = (200u64 << self.failures.min(5)).min(MAX_BACKOFF_MS);
        self.failures += 1;
        self.retry_at = now_ms() + backoff;
    }

    fn on_tick(&mut self) {
        let now = now_ms();
        if self.entry.is_none() && self.dialing.is_none() && now >= self.retry_at {
            self.dial_next();
        }
        // Requests that waited too long for a session fail with the reason there is none.
        while self
            .queued
            .front()
            .is_some_and(|p| now.saturating_sub(p.queued_at) > self.request_timeout_ms)
        {
            if let Some(pending) = self.queued.pop_front() {
                answer(
                    pending.reply,
                    Err(ClientError::NotConnected(self.last_error.clone())),
                );
            }
        }
        let last_error = self.last_error.clone();
        self.waiters.retain_mut(|(waiter, deadline)| {
            if now < *deadline {
                return true;
            }
            let (dead, _) = oneshot::channel();
            let waiter = std::mem::replace(waiter, dead);
            let _ = waiter.send(Err(ClientError::NotConnected(last_error.clone())));
            false
        });
    }

    fn on_command(&mut self, command: Command) {
        match command {
            Command::Request { request, reply } => self.send(request, Reply::User(reply)),
            Command::Subscribe {
                part,
                id,
                sink,
                reply,
                reader,
            } => {
                let sinks = self.subscriptions.entry(part.clone()).or_default();
                let first = sinks.sinks.is_empty();
                // A reader joining a part served only for keys widens the node's subscription.
                let widen = reader && !sinks.has_reader();
                sinks.sinks.push((id, sink, reader));
                if first || widen {
                    let request = subscribe_request(&part, reader);
                    self.send(request, Reply::Subscribe(part, id, reply));
                } else {
                    let _ = reply.send(Ok(()));
                }
            }
            Command::Unsubscribe { part, id } => {
                let Some(sinks) = self.subscriptions.get_mut(&part) else {
                    return;
                };
                sinks.sinks.retain(|(i, _, _)| *i != id);
                if sinks.sinks.is_empty() {
                    self.subscriptions.remove(&part);
                    let request = LightRequest::Unsubscribe {
                        part: part.to_string(),
                    };
                    self.send(request, Reply::Nobody);
                }
            }
            Command::Authorise {
                authorisation,
                reply,
            } => {
                self.authorisation = Some(authorisation);
                self.authorising.push(reply);
                match (self.entry, self.auth.is_some()) {
                    (Some(_), true) => self.stale_auth = true,
                    (Some(entry), false) => self.sign_in(entry),
                    // Used at the next sign-in.
                    (None, _) => {}
                }
            }
            Command::WaitConnected { reply, deadline } => match (self.ready, self.entry) {
                (true, Some(entry)) => {
                    let _ = reply.send(Ok(entry));
                }
                _ => self.waiters.push((reply, deadline)),
            },
            Command::Shutdown => {}
        }
    }

    fn send(&mut self, request: LightRequest, reply: Reply) {
        let pending = Pending {
            request,
            reply,
            attempts: 0,
            queued_at: now_ms(),
        };
        self.dispatch(pending);
    }

    /// Sends now if a session is up, else queues.
    fn dispatch(&mut self, mut pending: Pending) {
        match (self.ready, self.entry) {
            (true, Some(entry)) => {
                pending.attempts += 1;
                let id = self
                    .swarm
                    .behaviour_mut()
                    .light
                    .send_request(&entry, pending.request.clone());
                self.in_flight.insert(id, pending);
            }
            _ => self.queued.push_back(pending),
        }
    }

    fn on_swarm_event(&mut self, event: SwarmEvent<ClientBehaviourEvent>) {
        match event {
            SwarmEvent::ConnectionEstablished {
                peer_id, endpoint, ..
            } if self.entry.is_none() && endpoint.is_dialer() => {
                let expected = self.dialing.as_ref().and_then(peer_of);
                if expected.is_some_and(|p| p != peer_id) {
                    return;
                }
                self.entry = Some(peer_id);
                self.dialing = None;
                self.sign_in(peer_id);
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
                self.ready = false;
                self.auth = None;
                self.schedule_retry();
            }
            SwarmEvent::OutgoingConnectionError { error, .. } if self.entry.is_none() => {
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
                    self.route(request);
                }
                let _ = self
                    .swarm
                    .behaviour_mut()
                    .delivery
                    .send_response(channel, DeliveryAck);
            }
            _ => {}
        }
    }

    /// Proves our address to the entry node: an EIP-191 signature over a text naming both peers (and
    /// the account's authorisation of our key, when we act for one).
    fn sign_in(&mut self, node: PeerId) {
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

    fn on_signed_in(&mut self, entry: PeerId) {
        self.ready = true;
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

    fn on_light(&mut self, event: request_response::Event<LightRequest, LightResponse>) {
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
                    self.on_response(pending, response);
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
            }
            _ => {}
        }
    }

    fn on_response(&mut self, pending: Pending, response: LightResponse) {
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

    /// Hands a pushed delivery to the subscriptions of its stream part.
    fn route(&mut self, delivery: Delivery) {
        let part = match &delivery {
            Delivery::Events { part, .. }
            | Delivery::Lagged { part, .. }
            | Delivery::Ended { part, .. } => part,
        };
        let Ok(part) = part.parse::<StreamPartId>() else {
            return;
        };
        if let Delivery::Ended { reason, .. } = delivery {
            self.end(&part, reason);
            return;
        }
        if let Some(sinks) = self.subscriptions.get_mut(&part) {
            sinks
                .sinks
                .retain(|(_, sink, _)| sink.unbounded_send(delivery.clone()).is_ok());
        }
    }

    /// Ends every subscription of a part (the node will not deliver it any more).
    fn end(&mut self, part: &StreamPartId, reason: String) {
        if let Some(sinks) = self.subscriptions.remove(part) {
            for (_, sink, _) in sinks.sinks {
                let _ = sink.unbounded_send(Delivery::Ended {
                    part: part.to_string(),
                    reason: reason.clone(),
                });
            }
        }
    }
}

fn answer(reply: Reply, result: Result<LightResponse, ClientError>) {
    match reply {
        Reply::User(tx) => {
            let _ = tx.send(result);
        }
        Reply::Subscribe(_, _, tx) => {
            let _ = tx.send(result.and_then(|r| match r {
                LightResponse::Error { code, message } => {
                    Err(ClientError::Refused { code, message })
                }
                _ => Ok(()),
            }));
        }
        Reply::Resubscribe(_) | Reply::Nobody => {}
    }
}

fn describe(response: &LightResponse) -> String {
    match response {
        LightResponse::Error { code, message } => format!("{code}: {message}"),
        other => format!("unexpected answer {other:?}"),
    }
}
