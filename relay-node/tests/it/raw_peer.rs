//! Raw libp2p peers for tests that play a client or a node no honest one would be: a swarm over TCP,
//! and a codec whose requests are junk that may never end.

use std::{io, marker::PhantomData, time::Duration};

use futures::{AsyncRead, AsyncWrite, AsyncWriteExt, StreamExt};
use rivulet_network::{
    libp2p::{
        Multiaddr, StreamProtocol, Swarm, SwarmBuilder, noise,
        request_response::Codec,
        swarm::{NetworkBehaviour, SwarmEvent},
        tcp, yamux,
    },
    light_codec::Asking,
};
use serde::de::DeserializeOwned;

/// A swarm with a new identity over TCP (noise, yamux) running `behaviour`; idle connections stay up
/// for two minutes.
pub(crate) fn tcp_swarm<B: NetworkBehaviour>(behaviour: B) -> Swarm<B> {
    SwarmBuilder::with_new_identity()
        .with_tokio()
        .with_tcp(
            tcp::Config::default(),
            noise::Config::new,
            yamux::Config::default,
        )
        .unwrap()
        .with_behaviour(|_| behaviour)
        .unwrap()
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(120)))
        .build()
}

/// Makes `swarm` listen on a new TCP port of 127.0.0.1: the address.
pub(crate) async fn listen_on_loopback<B: NetworkBehaviour>(swarm: &mut Swarm<B>) -> Multiaddr {
    swarm
        .listen_on("/ip4/127.0.0.1/tcp/0".parse().unwrap())
        .unwrap();
    loop {
        if let SwarmEvent::NewListenAddr { address, .. } = swarm.select_next_some().await {
            return address;
        }
    }
}

/// A request as the attacker sends it: `bytes` of junk, then its end (`finish`) or nothing more.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Partial {
    /// Bytes of junk.
    pub(crate) bytes: usize,
    /// Whether the request then ends.
    pub(crate) finish: bool,
}

/// An attacker's side of a request-response protocol: writes [`Partial`] requests, reads the answers,
/// `Resp`.
pub(crate) struct Attacker<Resp>(pub(crate) PhantomData<fn() -> Resp>);

impl<Resp> Clone for Attacker<Resp> {
    fn clone(&self) -> Self {
        Attacker(PhantomData)
    }
}

impl<Resp: DeserializeOwned + Send> Codec for Attacker<Resp> {
    type Protocol = StreamProtocol;
    type Request = Partial;
    type Response = Resp;

    async fn read_request<T: AsyncRead + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        _: &mut T,
    ) -> io::Result<Partial> {
        Err(io::Error::other("the attacker answers nothing"))
    }

    async fn read_response<T: AsyncRead + Unpin + Send>(
        &mut self,
        protocol: &StreamProtocol,
        io: &mut T,
    ) -> io::Result<Resp> {
        Asking::<(), Resp>::new(1 << 20)
            .read_response(protocol, io)
            .await
    }

    async fn write_request<T: AsyncWrite + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        request: Partial,
    ) -> io::Result<()> {
        let chunk = vec![0xff; 64 * 1024];
        for _ in 0..request.bytes / chunk.len() {
            io.write_all(&chunk).await?;
        }
        io.flush().await?;
        if !request.finish {
            futures::future::pending::<()>().await;
        }
        Ok(())
    }

    async fn write_response<T: AsyncWrite + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        _: &mut T,
        _: Resp,
    ) -> io::Result<()> {
        Err(io::Error::other("the attacker answers nothing"))
    }
}
