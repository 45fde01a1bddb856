//! The connection driver: one task owns the libp2p swarm. It keeps one signed-in session with an entry
//! node (dialing the next configured node, with backoff, when the current one goes away), sends the
//! client's requests on it (queued while there is no session, retried once on another node when a
//! connection drops under them), re-subscribes after a reconnect, and routes pushed events to
//! subscriptions.
//!
//! Back-pressure: every subscription reads from a bounded queue ([`DELIVERY_QUEUE`] deliveries). A
//! delivery is acknowledged to the node only once every subscription of its part took it, and the node
//! keeps only a few deliveries in flight per client — so a reader that falls behind holds back its
//! entry node, which then drops the oldest events for this client and says so (`Lagged`), and the
//! subscription fills the gap by resend. The command queue is bounded too: callers wait for room.

use std::{
    collections::{HashMap, VecDeque},
    time::Duration,
};

mod in_order;
mod publishing;
mod reply;
mod routing;
mod session;

use futures::{FutureExt, StreamExt, channel::oneshot, stream::FuturesUnordered};
use rivulet_network::{
    ClientBehaviour,
    libp2p::{
        Multiaddr, PeerId, Swarm,
        request_response::{OutboundRequestId, ResponseChannel},
        swarm::ConnectionId,
    },
    light::{Authorisation, Delivery, DeliveryAck, LightRequest, LightResponse},
};
use rivulet_protocol::{Signer, StreamPartId};

use self::reply::{Reply, answer};
use crate::{error::ClientError, runtime::now_ms};

/// Deliveries a subscription's queue holds before the driver stops acknowledging its part's
/// deliveries to the node.
pub(crate) const DELIVERY_QUEUE: usize = 16;

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
        sink: async_channel::Sender<Delivery>,
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
    sinks: Vec<(u64, async_channel::Sender<Delivery>, bool)>,
}

impl Sinks {
    fn has_reader(&self) -> bool {
        self.sinks.iter().any(|(_, _, reader)| *reader)
    }
}

/// Deliveries that wait behind one that waits for room, per part, with their acknowledgements.
type Blocked = VecDeque<(Delivery, Option<ResponseChannel<DeliveryAck>>)>;

/// A delivery that every queue of its part has taken (or whose queues closed).
struct Routed {
    /// Where to acknowledge it, if the node waits for that.
    ack: Option<ResponseChannel<DeliveryAck>>,
    part: StreamPartId,
    /// Subscriptions whose queue is gone (dropped by their reader).
    closed: Vec<u64>,
}

/// Publish requests (single or batch) out at once before further publishes wait for a batch.
const MAX_PUBLISHES_IN_FLIGHT: usize = 4;

/// While publish requests are out, fewer waiting publishes than this wait for more (or for an answer)
/// rather than taking a request of their own — Nagle's rule for batches: a busy publisher's requests
/// carry full batches instead of one event each, and a lone publish still goes at once.
const MIN_BATCH_WHILE_BUSY: usize = 32;

/// Whether `request` publishes.
fn is_publish(request: &LightRequest) -> bool {
    matches!(
        request,
        LightRequest::Publish { .. } | LightRequest::PublishBatch { .. }
    )
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

/// How long a session may take to set up — dial, handshakes and sign-in — before the client gives
/// that node up and dials the next. A dial can stall without failing (a WebRTC connection whose
/// handshake channel never opens, a peer that accepts and then says nothing); Chromium fails a WebRTC
/// dial to a silent port after about 10 s, so this leaves that failure room to arrive first.
const SESSION_SETUP_MS: u64 = 15_000;

/// A dial under way.
struct Dial {
    addr: Multiaddr,
    connection: ConnectionId,
}

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
    dialing: Option<Dial>,
    /// When the session being set up (dialing or signing in) is given up if not signed in yet.
    setup_deadline: Option<u64>,
    failures: u32,
    retry_at: u64,
    auth: Option<OutboundRequestId>,
    queued: VecDeque<Pending>,
    in_flight: HashMap<OutboundRequestId, Pending>,
    subscriptions: HashMap<StreamPartId, Sinks>,
    waiters: Vec<(oneshot::Sender<Result<PeerId, ClientError>>, u64)>,
    last_error: String,
    /// Why the session is being ended (a sign-in refused, or not answered in time), until the
    /// disconnection that follows.
    refusal: Option<String>,
    /// Who waits for a sign-in with a new authorisation.
    authorising: Vec<oneshot::Sender<Result<(), ClientError>>>,
    /// The sign-in in flight predates the newest authorisation: sign in again when it answers.
    stale_auth: bool,
    /// Deliveries waiting for room in subscription queues, acknowledged to the node when they have it.
    routing: FuturesUnordered<futures::future::BoxFuture<'static, Routed>>,
    /// Parts with a delivery waiting for room, and what came after it.
    blocked: HashMap<StreamPartId, Blocked>,
    /// Deliveries from the entry node waiting for the ones it numbered before them.
    in_order: in_order::InOrder<(Delivery, ResponseChannel<DeliveryAck>)>,
    /// Publish requests out now, and the publishes waiting to go as the next batch.
    publishes_in_flight: usize,
    waiting_publishes: VecDeque<Pending>,
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
            setup_deadline: None,
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
            routing: FuturesUnordered::new(),
            blocked: HashMap::new(),
            in_order: Default::default(),
            publishes_in_flight: 0,
            waiting_publishes: VecDeque::new(),
        }
    }

    /// Runs until the client shuts down (or every handle to it is gone).
    pub(crate) async fn run(mut self, commands: async_channel::Receiver<Command>) {
        self.dial_next();
        let mut tick = futures_timer::Delay::new(TICK).fuse();
        loop {
            futures::select! {
                event = self.swarm.select_next_some() => self.on_swarm_event(event),
                routed = self.routing.select_next_some() => self.routed(routed),
                command = commands.recv().fuse() => match command {
                    Ok(Command::Shutdown) | Err(_) => break,
                    Ok(command) => self.on_command(command),
                },
                _ = tick => {
                    tick = futures_timer::Delay::new(TICK).fuse();
                    self.on_tick();
                }
            }
        }
        self.fail_all(|| ClientError::Destroyed);
        // Commands sent before the shutdown was read stay in the channel, which the client's handles
        // keep open: dropping them (and their reply senders) fails their callers with `Destroyed`
        // instead of leaving them waiting forever.
        commands.close();
        while commands.try_recv().is_ok() {}
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

    fn on_tick(&mut self) {
        let now = now_ms();
        if self.entry.is_none() && self.dialing.is_none() && now >= self.retry_at {
            self.dial_next();
        }
        if !self.ready && self.setup_deadline.is_some_and(|deadline| now >= deadline) {
            self.give_up_setup();
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

    /// Sends now if a session is up, else queues. A user's publish joins the publishes waiting for a
    /// batch (see `publishing`), which go out as the rules there allow.
    fn dispatch(&mut self, pending: Pending) {
        match (self.ready, self.entry) {
            (true, Some(entry)) => {
                if matches!(pending.reply, Reply::User(_))
                    && matches!(pending.request, LightRequest::Publish { .. })
                {
                    self.waiting_publishes.push_back(pending);
                    self.send_waiting_publishes();
                } else {
                    self.send_to(entry, pending);
                }
            }
            _ => self.queued.push_back(pending),
        }
    }

    /// Sends a request to the entry node.
    fn send_to(&mut self, entry: PeerId, mut pending: Pending) {
        if is_publish(&pending.request) {
            self.publishes_in_flight += 1;
        }
        pending.attempts += 1;
        let id = self
            .swarm
            .behaviour_mut()
            .light
            .send_request(&entry, pending.request.clone());
        self.in_flight.insert(id, pending);
    }
}
