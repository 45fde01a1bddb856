//! A node's request-response protocols, with the requests it reads read within a [`RequestBudget`]:
//! every request a connection sends is read against its address's share, and one refused (larger than
//! the protocol allows, beyond the share or the node's total, or not decoding) still reaches the node,
//! as [`Inbound::Refused`], so it is answered with the reason instead of the stream being dropped. The
//! light protocol's requests, and the history and replica-store requests of other nodes, share one
//! budget. Answers to the node's own requests are read whole within the protocol's response limit.
//!
//! libp2p's request-response behaviour gives each connection a clone of the behaviour's codec, and
//! each stream a clone of its connection's. [`Behaviour`] places every new connection (its address's
//! share) just before the inner behaviour clones the codec for it; a connection's clones keep that
//! share, so all the streams of all the connections of one address draw from one share.

use std::{
    io,
    marker::PhantomData,
    sync::{Arc, Mutex, atomic::AtomicUsize},
    task::{Context, Poll},
};

use futures::prelude::*;
use libp2p::{
    Multiaddr, PeerId, StreamProtocol,
    core::{Endpoint, transport::PortUse},
    request_response::{self, Codec, OutboundRequestId, ProtocolSupport, ResponseChannel},
    swarm::{
        ConnectionDenied, ConnectionId, FromSwarm, NetworkBehaviour, THandler, THandlerInEvent,
        THandlerOutEvent, ToSwarm,
    },
};
use serde::{Serialize, de::DeserializeOwned};

use crate::{
    address_limits::host_of,
    light_codec::{decode, other_side, read, write},
    request_budget::{Holder, Refusal, RequestBudget, Share, read_frame},
};

/// A request as the node reads it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Inbound<Req> {
    /// Read whole and decoded.
    Request(Req),
    /// Not read: why, to answer with.
    Refused(Refusal),
}

/// The codec: reads `Req` within the connection's share, at most `limits.0` bytes, and `Resp` of at
/// most `limits.1`; writes both.
pub struct Reading<Req, Resp> {
    limits: (usize, usize),
    scope: Scope,
    types: PhantomData<fn() -> (Req, Resp)>,
}

/// Whose share a codec reads with.
enum Scope {
    /// The behaviour's codec: its clones (one per connection) take the share placed here.
    Behaviour(Arc<Mutex<Arc<Share>>>),
    /// A connection's codec and its streams' clones.
    Connection(Arc<Share>),
}

impl<Req, Resp> Clone for Reading<Req, Resp> {
    fn clone(&self) -> Self {
        Reading {
            limits: self.limits,
            scope: Scope::Connection(self.share()),
            types: PhantomData,
        }
    }
}

impl<Req, Resp> Reading<Req, Resp> {
    /// The share this codec reads with: its connection's, or (the behaviour's own) the one placed last.
    fn share(&self) -> Arc<Share> {
        match &self.scope {
            Scope::Behaviour(next) => next.lock().unwrap_or_else(|e| e.into_inner()).clone(),
            Scope::Connection(share) => share.clone(),
        }
    }
}

impl<Req, Resp> Codec for Reading<Req, Resp>
where
    Req: Send + Serialize + DeserializeOwned,
    Resp: Send + Serialize + DeserializeOwned,
{
    type Protocol = StreamProtocol;
    type Request = Inbound<Req>;
    type Response = Resp;

    async fn read_request<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<Inbound<Req>>
    where
        T: AsyncRead + Unpin + Send,
    {
        let share = self.share();
        Ok(match read_frame(io, self.limits.0, &share).await? {
            Ok(frame) => match decode(&frame) {
                Ok(request) => Inbound::Request(request),
                Err(e) => Inbound::Refused(Refusal {
                    code: "bad_request",
                    message: format!("the request does not decode: {e}"),
                }),
            },
            Err(refusal) => Inbound::Refused(refusal),
        })
    }

    async fn read_response<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<Resp>
    where
        T: AsyncRead + Unpin + Send,
    {
        read(io, self.limits.1 as u64).await
    }

    async fn write_request<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        req: Inbound<Req>,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        let Inbound::Request(req) = req else {
            return Err(other_side());
        };
        write(io, req).await
    }

    async fn write_response<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        res: Resp,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        write(io, res).await
    }
}

/// A request-response behaviour for one protocol, reading the requests it answers within a budget.
pub struct Behaviour<Req, Resp>
where
    Req: Send + Serialize + DeserializeOwned + 'static,
    Resp: Send + Serialize + DeserializeOwned + 'static,
{
    inner: request_response::Behaviour<Reading<Req, Resp>>,
    budget: Arc<RequestBudget>,
    next: Arc<Mutex<Arc<Share>>>,
}

impl<Req, Resp> Behaviour<Req, Resp>
where
    Req: Send + Serialize + DeserializeOwned + 'static,
    Resp: Send + Serialize + DeserializeOwned + 'static,
{
    /// Speaks `protocol` as `support` says, reading requests of at most `limits.0` bytes from
    /// `budget`, and answers of at most `limits.1`.
    pub fn new(
        (protocol, support): (StreamProtocol, ProtocolSupport),
        limits: (usize, usize),
        budget: Arc<RequestBudget>,
        config: request_response::Config,
    ) -> Self {
        let next = Arc::new(Mutex::new(budget.share(Holder::Unplaced)));
        let codec = Reading {
            limits,
            scope: Scope::Behaviour(next.clone()),
            types: PhantomData,
        };
        let inner = request_response::Behaviour::with_codec(codec, [(protocol, support)], config);
        Behaviour {
            inner,
            budget,
            next,
        }
    }

    /// Sends `request` to `peer` (dialling it if need be).
    pub fn send_request(&mut self, peer: &PeerId, request: Req) -> OutboundRequestId {
        self.inner.send_request(peer, Inbound::Request(request))
    }

    /// Answers a request (`Err` gives the response back when the stream is gone).
    pub fn send_response(
        &mut self,
        channel: ResponseChannel<Resp>,
        response: Resp,
    ) -> Result<(), Resp> {
        self.inner.send_response(channel, response)
    }

    /// Bytes held now by requests being read, all addresses together.
    pub fn reading_bytes(&self) -> Arc<AtomicUsize> {
        self.budget.used()
    }

    /// Makes the next connection's codec read from the share of `peer` at `remote`.
    fn place(&mut self, peer: PeerId, remote: &Multiaddr) {
        let holder = host_of(remote).map_or(Holder::Peer(peer), Holder::Host);
        *self.next.lock().unwrap_or_else(|e| e.into_inner()) = self.budget.share(holder);
    }
}

type Inner<Req, Resp> = request_response::Behaviour<Reading<Req, Resp>>;

impl<Req, Resp> NetworkBehaviour for Behaviour<Req, Resp>
where
    Req: Send + Serialize + DeserializeOwned + 'static,
    Resp: Send + Serialize + DeserializeOwned + 'static,
{
    type ConnectionHandler = <Inner<Req, Resp> as NetworkBehaviour>::ConnectionHandler;
    type ToSwarm = <Inner<Req, Resp> as NetworkBehaviour>::ToSwarm;

    fn handle_pending_inbound_connection(
        &mut self,
        connection: ConnectionId,
        local: &Multiaddr,
        remote: &Multiaddr,
    ) -> Result<(), ConnectionDenied> {
        self.inner
            .handle_pending_inbound_connection(connection, local, remote)
    }

    fn handle_established_inbound_connection(
        &mut self,
        connection: ConnectionId,
        peer: PeerId,
        local: &Multiaddr,
        remote: &Multiaddr,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        self.place(peer, remote);
        self.inner
            .handle_established_inbound_connection(connection, peer, local, remote)
    }

    fn handle_pending_outbound_connection(
        &mut self,
        connection: ConnectionId,
        peer: Option<PeerId>,
        addresses: &[Multiaddr],
        role: Endpoint,
    ) -> Result<Vec<Multiaddr>, ConnectionDenied> {
        self.inner
            .handle_pending_outbound_connection(connection, peer, addresses, role)
    }

    fn handle_established_outbound_connection(
        &mut self,
        connection: ConnectionId,
        peer: PeerId,
        remote: &Multiaddr,
        role: Endpoint,
        port_use: PortUse,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        self.place(peer, remote);
        self.inner
            .handle_established_outbound_connection(connection, peer, remote, role, port_use)
    }

    fn on_swarm_event(&mut self, event: FromSwarm) {
        self.inner.on_swarm_event(event)
    }

    fn on_connection_handler_event(
        &mut self,
        peer: PeerId,
        connection: ConnectionId,
        event: THandlerOutEvent<Self>,
    ) {
        self.inner
            .on_connection_handler_event(peer, connection, event)
    }

    fn poll(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<ToSwarm<Self::ToSwarm, THandlerInEvent<Self>>> {
        self.inner.poll(cx)
    }
}
