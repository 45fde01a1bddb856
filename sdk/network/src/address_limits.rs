//! How many libp2p connections one client address may hold on a node.
//!
//! A peer id costs nothing to make, so limits per peer do not stop one machine from opening thousands
//! of connections: [`Behaviour`] counts a node's established *incoming* connections by the address they
//! come from — an IPv4 address, or an IPv6 address by its /64 network, which one host is usually given
//! whole ([`host_ip`]) — and refuses one more beyond its limit, so no one address takes every place of
//! the node. It also bounds how often one host may open a connection (each costs the node a
//! handshake: a key exchange and a signature check) — a token bucket per host, refused before the
//! handshake. Connections the node dialled itself are not counted. A connection whose address has no
//! IP (a relayed or in-memory one) is not limited here; the node's overall limits still apply to it.

use std::{
    collections::HashMap,
    convert::Infallible,
    net::{IpAddr, Ipv6Addr},
    task::{Context, Poll},
    time::Instant,
};

use libp2p::{
    Multiaddr, PeerId,
    core::{Endpoint, multiaddr::Protocol, transport::PortUse},
    swarm::{
        ConnectionClosed, ConnectionDenied, ConnectionId, FromSwarm, NetworkBehaviour, THandler,
        THandlerInEvent, THandlerOutEvent, ToSwarm, dummy,
    },
};

use crate::bucket::KeyedBuckets;

/// The host an address stands for: an IPv4 address as it is (an IPv4-mapped IPv6 one as IPv4), an
/// IPv6 address as its /64 network.
pub fn host_ip(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.into(),
            None => Ipv6Addr::from(u128::from(v6) & !(u128::MAX >> 64)).into(),
        },
        v4 => v4,
    }
}

/// The host ([`host_ip`]) of the first IP address in `addr`, if it has one.
pub fn host_of(addr: &Multiaddr) -> Option<IpAddr> {
    addr.iter().find_map(|p| match p {
        Protocol::Ip4(ip) => Some(host_ip(ip.into())),
        Protocol::Ip6(ip) => Some(host_ip(ip.into())),
        _ => None,
    })
}

/// A connection refused because its address already holds the most connections one address may.
#[derive(Debug, thiserror::Error)]
#[error(
    "{host} already holds {held} libp2p connections to this node, the most one address may (network.max_connections_per_address)"
)]
pub struct TooManyFromAddress {
    /// The refused connection's host ([`host_ip`]).
    pub host: IpAddr,
    /// How many connections it holds.
    pub held: u32,
}

/// A connection refused because its address opens connections faster than one address may.
#[derive(Debug, thiserror::Error)]
#[error(
    "{host} opens more than {per_second} libp2p connections a second to this node (network.connections_per_second_per_address)"
)]
pub struct ConnectingTooOften {
    /// The refused connection's host ([`host_ip`]).
    pub host: IpAddr,
    /// The most a host may open a second (bursts of twice that).
    pub per_second: u32,
}

/// Counts established incoming connections per host and refuses those beyond the limit, and those
/// that come too often.
#[derive(Debug)]
pub struct Behaviour {
    max_per_host: u32,
    by_host: HashMap<IpAddr, u32>,
    hosts: HashMap<ConnectionId, IpAddr>,
    /// New connections per host.
    arrivals: KeyedBuckets<IpAddr>,
}

impl Behaviour {
    /// At most `max_per_host` established incoming connections from one host, and at most
    /// `new_per_second` new ones a second (bursts of twice that).
    pub fn new(max_per_host: u32, new_per_second: u32) -> Behaviour {
        Behaviour {
            max_per_host,
            by_host: HashMap::new(),
            hosts: HashMap::new(),
            arrivals: KeyedBuckets::new(new_per_second),
        }
    }

    /// Counts a new connection from `remote` at `now` against its host's rate.
    fn arrive(&mut self, remote: &Multiaddr, now: Instant) -> Result<(), ConnectionDenied> {
        let Some(host) = host_of(remote) else {
            return Ok(());
        };
        if self.arrivals.take_at(host, now) {
            Ok(())
        } else {
            Err(ConnectionDenied::new(ConnectingTooOften {
                host,
                per_second: self.arrivals.rate(),
            }))
        }
    }

    /// How many established incoming connections `host` holds.
    pub fn held(&self, host: IpAddr) -> u32 {
        self.by_host.get(&host_ip(host)).copied().unwrap_or(0)
    }

    fn check(&self, remote: &Multiaddr) -> Result<(), ConnectionDenied> {
        let Some(host) = host_of(remote) else {
            return Ok(());
        };
        let held = self.by_host.get(&host).copied().unwrap_or(0);
        if held >= self.max_per_host {
            return Err(ConnectionDenied::new(TooManyFromAddress { host, held }));
        }
        Ok(())
    }
}

impl NetworkBehaviour for Behaviour {
    type ConnectionHandler = dummy::ConnectionHandler;
    type ToSwarm = Infallible;

    fn handle_pending_inbound_connection(
        &mut self,
        _: ConnectionId,
        _: &Multiaddr,
        remote: &Multiaddr,
    ) -> Result<(), ConnectionDenied> {
        // Refused before the handshake when the address is already full or connects too often, so a
        // flood costs no crypto.
        self.check(remote)?;
        self.arrive(remote, Instant::now())
    }

    fn handle_established_inbound_connection(
        &mut self,
        _: ConnectionId,
        _: PeerId,
        _: &Multiaddr,
        remote: &Multiaddr,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        // Again once established: several may have been in their handshakes at once.
        self.check(remote)?;
        Ok(dummy::ConnectionHandler)
    }

    fn handle_established_outbound_connection(
        &mut self,
        _: ConnectionId,
        _: PeerId,
        _: &Multiaddr,
        _: Endpoint,
        _: PortUse,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        Ok(dummy::ConnectionHandler)
    }

    fn on_swarm_event(&mut self, event: FromSwarm) {
        match event {
            // Counted only once every behaviour accepted it (a later one may still refuse it).
            FromSwarm::ConnectionEstablished(established) if established.endpoint.is_listener() => {
                if let Some(host) = host_of(established.endpoint.get_remote_address()) {
                    *self.by_host.entry(host).or_default() += 1;
                    self.hosts.insert(established.connection_id, host);
                }
            }
            FromSwarm::ConnectionClosed(ConnectionClosed { connection_id, .. }) => {
                if let Some(host) = self.hosts.remove(&connection_id)
                    && let Some(held) = self.by_host.get_mut(&host)
                {
                    *held = held.saturating_sub(1);
                    if *held == 0 {
                        self.by_host.remove(&host);
                    }
                }
            }
            _ => {}
        }
    }

    fn on_connection_handler_event(
        &mut self,
        _: PeerId,
        _: ConnectionId,
        event: THandlerOutEvent<Self>,
    ) {
        match event {}
    }

    fn poll(&mut self, _: &mut Context<'_>) -> Poll<ToSwarm<Self::ToSwarm, THandlerInEvent<Self>>> {
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::net::Ipv4Addr;

    use super::*;

    #[test]
    fn a_host_is_an_ipv4_address_or_an_ipv6_network() {
        let v4: Multiaddr = "/ip4/192.0.2.7/tcp/1".parse().unwrap();
        assert_eq!(host_of(&v4), Some(Ipv4Addr::new(192, 0, 2, 7).into()));
        let v6: Multiaddr = "/ip6/2001:db8:1:2:aaaa::1/tcp/1/ws".parse().unwrap();
        assert_eq!(
            host_of(&v6),
            Some("2001:db8:1:2::".parse::<IpAddr>().unwrap())
        );
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().unwrap();
        assert_eq!(host_ip(mapped), IpAddr::from(Ipv4Addr::new(192, 0, 2, 7)));
        let relayed: Multiaddr = "/dns4/example.org/tcp/1".parse().unwrap();
        assert_eq!(host_of(&relayed), None);
    }

    #[test]
    fn an_address_opening_connections_too_often_is_refused_and_named() {
        let mut limits = Behaviour::new(1_000, 10);
        let now = Instant::now();
        let from: Multiaddr = "/ip4/192.0.2.7/tcp/5".parse().unwrap();
        assert_eq!(
            (0..25)
                .filter(|_| limits.arrive(&from, now).is_ok())
                .count(),
            20
        );
        let refused = limits.arrive(&from, now).unwrap_err();
        let reason = refused.downcast::<ConnectingTooOften>().unwrap();
        assert_eq!(
            reason.to_string(),
            "192.0.2.7 opens more than 10 libp2p connections a second to this node (network.connections_per_second_per_address)"
        );
        let elsewhere: Multiaddr = "/ip4/192.0.2.8/tcp/5".parse().unwrap();
        assert!(limits.arrive(&elsewhere, now).is_ok());
        let later = now + std::time::Duration::from_millis(200);
        assert!(
            limits.arrive(&from, later).is_ok(),
            "two more a fifth of a second on"
        );
    }

    #[test]
    fn an_address_at_its_limit_is_refused_and_named() {
        let mut limits = Behaviour::new(2, 100);
        let host = Ipv4Addr::new(192, 0, 2, 7);
        limits.by_host.insert(host.into(), 2);
        let from: Multiaddr = "/ip4/192.0.2.7/tcp/5".parse().unwrap();
        let refused = limits.check(&from).unwrap_err();
        let reason = refused.downcast::<TooManyFromAddress>().unwrap();
        assert_eq!(
            reason.to_string(),
            "192.0.2.7 already holds 2 libp2p connections to this node, the most one address may (network.max_connections_per_address)"
        );
        let elsewhere: Multiaddr = "/ip4/192.0.2.8/tcp/5".parse().unwrap();
        assert!(limits.check(&elsewhere).is_ok());
    }
}
