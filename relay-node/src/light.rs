//! The node's side of the light-client protocols: sessions of clients that use this node as their entry
//! node (sign-in, publish, subscribe, resend) and the queues that push subscribed events to them.
//!
//! Each client has one bounded queue; at most [`MAX_IN_FLIGHT`] delivery batches are outstanding per
//! client, so a slow client only slows itself, and one that falls more than [`MAX_QUEUED`] events (or
//! [`MAX_QUEUED_BYTES`]) behind loses the oldest and is told how many (`Lagged`; its chains show the gap
//! and it resends). The subscribe permission is checked again before every batch, so a lapsed licence
//! stops delivery (`Ended`).
//!
//! A subscription is either a reader's (every event; needs subscribe permission) or a publisher's key
//! service (`ServeKeys`: only group-key requests; needs publish permission).

use std::{
    collections::{HashMap, HashSet, VecDeque},
    sync::Arc,
};

use rivulet_protocol::MessageType;

use rivulet_network::{
    HistoryQuery,
    libp2p::{PeerId, request_response},
    light::{
        Delivery, LightRequest, LightResponse, MAX_DELIVERY_BATCH, MAX_DELIVERY_BATCH_BYTES,
        authorisation_text, session_text,
    },
};
use rivulet_protocol::{Address, Signature, StreamPartId, signing::recover_personal};
use tokio::sync::oneshot;
use tracing::debug;

use super::{Command, SwarmTask};

/// Delivery batches outstanding per client.
const MAX_IN_FLIGHT: usize = 4;
/// Events queued per client before the oldest are dropped.
const MAX_QUEUED: usize = 8_192;
/// Bytes of events queued per client before the oldest are dropped (the newest event always stays).
const MAX_QUEUED_BYTES: usize = 32 * 1024 * 1024;

/// One light client connected to this node.
#[derive(Default)]
pub(super) struct LightClient {
    /// The address it signed in as (anonymous until then: public streams only).
    address: Option<Address>,
    /// When a session key's authorisation ends (Unix seconds, by the chain's clock); anonymous after.
    authorised_until: Option<u64>,
    parts: HashMap<StreamPartId, Mode>,
    /// Events waiting for delivery; shared with the other clients' queues.
    queue: VecDeque<(StreamPartId, Arc<[u8]>)>,
    /// The bytes of events in `queue`.
    queued_bytes: usize,
    in_flight: usize,
    dropped: HashMap<StreamPartId, u64>,
}

impl LightClient {
    /// Queues an event for delivery; beyond [`MAX_QUEUED`] events or [`MAX_QUEUED_BYTES`] the oldest
    /// are dropped and counted per part (the newest always stays).
    fn enqueue(&mut self, part: &StreamPartId, wire: Arc<[u8]>) {
        self.queued_bytes += wire.len();
        self.queue.push_back((part.clone(), wire));
        while self.queue.len() > 1
            && (self.queue.len() > MAX_QUEUED || self.queued_bytes > MAX_QUEUED_BYTES)
            && let Some((oldest, dropped)) = self.queue.pop_front()
        {
            self.queued_bytes -= dropped.len();
            *self.dropped.entry(oldest).or_default() += 1;
        }
    }
}

/// What a light subscription receives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Mode {
    /// Every event (a reader).
    Events,
    /// Only group-key requests (a publisher serving its keys).
    KeyRequests,
}

/// Every light client of this node.
#[derive(Default)]
pub(super) struct LightClients {
    clients: HashMap<PeerId, LightClient>,
    by_part: HashMap<StreamPartId, HashSet<PeerId>>,
}

impl LightClients {
    /// Whether any light client subscribes to `part`.
    pub(super) fn wants(&self, part: &StreamPartId) -> bool {
        self.by_part.get(part).is_some_and(|s| !s.is_empty())
    }
}

type Channel = request_response::ResponseChannel<LightResponse>;

impl SwarmTask {
    /// Answers (or starts answering) one light request.
    pub(super) fn on_light_request(
        &mut self,
        peer: PeerId,
        request: LightRequest,
        channel: Channel,
    ) {
        match request {
            LightRequest::Auth { address, signature } => {
                let response = match self.session_key(peer, &address, &signature) {
                    Ok(address) => self.signed_in(peer, address, None),
                    Err(refusal) => refusal,
                };
                self.light_respond(channel, response);
            }
            LightRequest::AuthFor {
                address,
                signature,
                account,
                expires,
                authorisation,
            } => {
                let response = match self.session_key(peer, &address, &signature) {
                    Ok(key) => match authorising_account(&account, &key, expires, &authorisation) {
                        Ok(_) if expires <= self.shared.clock.now_secs() => LightResponse::error(
                            "bad_signature",
                            format!("the authorisation of {key} expired at {expires}"),
                        ),
                        Ok(account) => self.signed_in(peer, account, Some(expires)),
                        Err(refusal) => refusal,
                    },
                    Err(refusal) => refusal,
                };
                self.light_respond(channel, response);
            }
            LightRequest::Publish { wire } => {
                let (reply, rx) = oneshot::channel();
                self.on_command(Command::Publish {
                    wire: wire.into_vec(),
                    reply,
                });
                let commands = self.shared.commands.clone();
                tokio::spawn(async move {
                    let response = match rx.await {
                        Ok(Ok(published)) => LightResponse::Published {
                            duplicate: published.duplicate,
                            stored: published.stored,
                        },
                        Ok(Err(rejection)) => {
                            LightResponse::error(rejection.reason(), rejection.to_string())
                        }
                        Err(_) => LightResponse::error("unavailable", "the node is stopping"),
                    };
                    let _ = commands
                        .send(Command::LightRespond { channel, response })
                        .await;
                });
            }
            LightRequest::Subscribe { part } => {
                let response = self.light_subscribe(peer, &part, Mode::Events);
                self.light_respond(channel, response);
            }
            LightRequest::ServeKeys { part } => {
                let response = self.light_subscribe(peer, &part, Mode::KeyRequests);
                self.light_respond(channel, response);
            }
            LightRequest::Unsubscribe { part } => {
                if let Ok(part) = part.parse::<StreamPartId>() {
                    self.light_unsubscribe(peer, &part);
                }
                self.light_respond(channel, LightResponse::Ok);
            }
            LightRequest::Resend { part, query } => self.light_resend(peer, &part, query, channel),
        }
    }

    pub(super) fn light_respond(&mut self, channel: Channel, response: LightResponse) {
        let _ = self
            .swarm
            .behaviour_mut()
            .light
            .send_response(channel, response);
    }

    /// The address that signed this session's text, if it is the one claimed.
    fn session_key(
        &self,
        peer: PeerId,
        address: &str,
        signature: &[u8],
    ) -> Result<Address, LightResponse> {
        let text = session_text(self.swarm.local_peer_id(), &peer);
        recovered_as(claimed(address)?, &text, signature, "the session text")
    }

    /// Starts a session as `address` (until `until`, for an authorised session key).
    fn signed_in(&mut self, peer: PeerId, address: Address, until: Option<u64>) -> LightResponse {
        let client = self.light.clients.entry(peer).or_default();
        client.address = Some(address);
        client.authorised_until = until;
        LightResponse::Ok
    }

    /// The address a client acts as now: its sign-in, while any authorisation of its key holds.
    fn acting_as(&self, peer: &PeerId) -> Option<Address> {
        let client = self.light.clients.get(peer)?;
        match client.authorised_until {
            Some(until) if until <= self.shared.clock.now_secs() => None,
            _ => client.address,
        }
    }

    fn may_subscribe(&self, address: Option<Address>, part: &StreamPartId) -> bool {
        self.allowed(address, part, Mode::Events)
    }

    /// Whether `address` may hold a subscription of `mode` on `part` now.
    fn allowed(&self, address: Option<Address>, part: &StreamPartId, mode: Mode) -> bool {
        match mode {
            Mode::Events => self.shared.may_subscribe(address, part),
            Mode::KeyRequests => address.is_some_and(|a| self.shared.may_publish(a, part)),
        }
    }

    fn light_subscribe(&mut self, peer: PeerId, part: &str, mode: Mode) -> LightResponse {
        let part = match part.parse::<StreamPartId>() {
            Ok(p) => p,
            Err(e) => return LightResponse::error("bad_stream", e.to_string()),
        };
        let address = self.acting_as(&peer);
        if !self.allowed(address, &part, mode) {
            let who = address.map_or("an anonymous client".to_owned(), |a| a.to_string());
            let what = match mode {
                Mode::Events => "subscribe to",
                Mode::KeyRequests => "serve keys for (it may not publish to)",
            };
            return LightResponse::error(
                "no_permission",
                format!("{who} may not {what} {}", part.stream_id),
            );
        }
        let client = self.light.clients.entry(peer).or_default();
        // A reader's subscription covers key requests too; a key service never narrows a reader's.
        let previous = client.parts.get(&part).copied();
        let mode = if previous == Some(Mode::Events) {
            Mode::Events
        } else {
            mode
        };
        if client.parts.insert(part.clone(), mode).is_none() {
            self.light
                .by_part
                .entry(part.clone())
                .or_default()
                .insert(peer);
            self.join(part);
        }
        LightResponse::Ok
    }

    pub(super) fn light_unsubscribe(&mut self, peer: PeerId, part: &StreamPartId) {
        let Some(client) = self.light.clients.get_mut(&peer) else {
            return;
        };
        if client.parts.remove(part).is_some() {
            client.queue.retain(|(p, _)| p != part);
            client.queued_bytes = client.queue.iter().map(|(_, wire)| wire.len()).sum();
            if let Some(peers) = self.light.by_part.get_mut(part) {
                peers.remove(&peer);
                if peers.is_empty() {
                    self.light.by_part.remove(part);
                }
            }
            self.leave(part.clone());
        }
    }

    /// Forgets a client whose last connection closed.
    pub(super) fn light_disconnected(&mut self, peer: PeerId) {
        let parts: Vec<StreamPartId> = self
            .light
            .clients
            .get(&peer)
            .map(|c| c.parts.keys().cloned().collect())
            .unwrap_or_default();
        for part in parts {
            self.light_unsubscribe(peer, &part);
        }
        self.light.clients.remove(&peer);
    }

    fn light_resend(&mut self, peer: PeerId, part: &str, query: HistoryQuery, channel: Channel) {
        let part = match part.parse::<StreamPartId>() {
            Ok(p) => p,
            Err(e) => {
                return self
                    .light_respond(channel, LightResponse::error("bad_stream", e.to_string()));
            }
        };
        let address = self.acting_as(&peer);
        if !self.may_subscribe(address, &part) {
            let response = LightResponse::error(
                "no_permission",
                format!("no subscribe permission on {}", part.stream_id),
            );
            return self.light_respond(channel, response);
        }
        let commands = self.shared.commands.clone();
        if self.shared.parts.contains(&part) {
            let store = self.shared.store.clone();
            tokio::spawn(async move {
                let result =
                    tokio::task::spawn_blocking(move || super::query_store(&store, &part, &query))
                        .await;
                let response = match result {
                    Ok(Ok((wires, next))) => LightResponse::Messages {
                        messages: wires.into_iter().map(Into::into).collect(),
                        next,
                    },
                    Ok(Err(e)) => LightResponse::error("store", e),
                    Err(e) => LightResponse::error("store", e.to_string()),
                };
                let _ = commands
                    .send(Command::LightRespond { channel, response })
                    .await;
            });
        } else {
            let (reply, rx) = oneshot::channel();
            self.on_command(Command::RemoteHistory { part, query, reply });
            tokio::spawn(async move {
                let response = match rx.await {
                    Ok(Ok((wires, next))) => LightResponse::Messages {
                        messages: wires.into_iter().map(Into::into).collect(),
                        next,
                    },
                    Ok(Err(e)) => LightResponse::error("not_stored", e),
                    Err(_) => LightResponse::error("unavailable", "the node is stopping"),
                };
                let _ = commands
                    .send(Command::LightRespond { channel, response })
                    .await;
            });
        }
    }

    /// Queues an accepted event for the light clients subscribed to its part (key services get only
    /// group-key requests).
    pub(super) fn light_deliver(&mut self, part: &StreamPartId, kind: MessageType, wire: &[u8]) {
        let Some(peers) = self.light.by_part.get(part) else {
            return;
        };
        let peers: Vec<PeerId> = peers.iter().copied().collect();
        let wire: Arc<[u8]> = Arc::from(wire);
        for peer in peers {
            let Some(client) = self.light.clients.get_mut(&peer) else {
                continue;
            };
            if client.parts.get(part) == Some(&Mode::KeyRequests)
                && kind != MessageType::GroupKeyRequest
            {
                continue;
            }
            client.enqueue(part, wire.clone());
            self.light_flush(peer);
        }
    }

    /// Sends queued events to a client while it has room in flight, checking its permission per batch.
    pub(super) fn light_flush(&mut self, peer: PeerId) {
        loop {
            let Some(client) = self.light.clients.get_mut(&peer) else {
                return;
            };
            if client.in_flight >= MAX_IN_FLIGHT {
                return;
            }
            let delivery = if let Some(part) = client.dropped.keys().next().cloned() {
                let dropped = client.dropped.remove(&part).unwrap_or(0);
                Delivery::Lagged {
                    part: part.to_string(),
                    dropped,
                }
            } else if let Some((part, _)) = client.queue.front() {
                let part = part.clone();
                let mut messages = Vec::new();
                let mut bytes = 0;
                while messages.len() < MAX_DELIVERY_BATCH
                    && client.queue.front().is_some_and(|(p, wire)| {
                        *p == part
                            && (messages.is_empty()
                                || bytes + wire.len() <= MAX_DELIVERY_BATCH_BYTES)
                    })
                {
                    if let Some((_, wire)) = client.queue.pop_front() {
                        bytes += wire.len();
                        client.queued_bytes -= wire.len();
                        messages.push(wire.to_vec().into());
                    }
                }
                let mode = client.parts.get(&part).copied().unwrap_or(Mode::Events);
                let address = self.acting_as(&peer);
                if !self.allowed(address, &part, mode) {
                    debug!(%peer, %part, "light subscription ended: permission lapsed");
                    self.light_unsubscribe(peer, &part);
                    Delivery::Ended {
                        part: part.to_string(),
                        reason: format!("subscribe permission on {} ended", part.stream_id),
                    }
                } else {
                    self.shared.metrics.events_out.inc_by(messages.len() as u64);
                    Delivery::Events {
                        part: part.to_string(),
                        messages,
                    }
                }
            } else {
                return;
            };
            if let Some(client) = self.light.clients.get_mut(&peer) {
                client.in_flight += 1;
            }
            self.swarm
                .behaviour_mut()
                .delivery
                .send_request(&peer, delivery);
        }
    }

    /// A delivery was acknowledged or failed: room for the next batch.
    pub(super) fn light_delivery_done(&mut self, peer: PeerId) {
        if let Some(client) = self.light.clients.get_mut(&peer) {
            client.in_flight = client.in_flight.saturating_sub(1);
            self.light_flush(peer);
        }
    }
}

/// A claimed address, or the refusal of a request that names something else.
fn claimed(address: &str) -> Result<Address, LightResponse> {
    address
        .parse()
        .map_err(|_| LightResponse::error("bad_request", format!("{address:?} is not an address")))
}

/// The address that signed `text`, if it is `claimed` (`what` names the text in the refusal).
fn recovered_as(
    claimed: Address,
    text: &str,
    signature: &[u8],
    what: &str,
) -> Result<Address, LightResponse> {
    let Ok(signature) = <[u8; 65]>::try_from(signature) else {
        return Err(LightResponse::error(
            "bad_signature",
            "a signature is 65 bytes",
        ));
    };
    match recover_personal(text.as_bytes(), &Signature(signature)) {
        Ok(signer) if signer == claimed => Ok(claimed),
        Ok(signer) => Err(LightResponse::error(
            "bad_signature",
            format!("{what} was signed by {signer}, not {claimed}"),
        )),
        Err(e) => Err(LightResponse::error("bad_signature", e.to_string())),
    }
}

/// The account that authorised session key `key` until `expires`, if its signature says so.
fn authorising_account(
    account: &str,
    key: &Address,
    expires: u64,
    signature: &[u8],
) -> Result<Address, LightResponse> {
    let account = claimed(account)?;
    let text = authorisation_text(&account.to_checksum(), &key.to_checksum(), expires);
    recovered_as(account, &text, signature, "the session key's authorisation")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_slow_clients_queue_is_bounded_by_count_and_bytes() {
        let a: StreamPartId = "rivulet.eth/a#0".parse().unwrap();
        let b: StreamPartId = "rivulet.eth/b#0".parse().unwrap();
        let mut client = LightClient::default();
        // Large events: the byte bound drops the oldest, counted per part; the newest stays.
        let mib: Arc<[u8]> = Arc::from(vec![0u8; 1 << 20]);
        let fit = MAX_QUEUED_BYTES >> 20;
        for i in 0..fit + 18 {
            client.enqueue(if i < 10 { &a } else { &b }, mib.clone());
        }
        assert_eq!(client.queue.len(), fit);
        assert_eq!(client.queued_bytes, MAX_QUEUED_BYTES);
        assert_eq!(client.dropped.get(&a), Some(&10));
        assert_eq!(client.dropped.get(&b), Some(&8));
        // One event larger than the bound still goes through, alone.
        client.enqueue(&a, Arc::from(vec![0u8; MAX_QUEUED_BYTES + 1]));
        assert_eq!(client.queue.len(), 1);
        // Small events: the count bound.
        let mut client = LightClient::default();
        for _ in 0..MAX_QUEUED + 5 {
            client.enqueue(&a, Arc::from(&b"{}"[..]));
        }
        assert_eq!(client.queue.len(), MAX_QUEUED);
        assert_eq!(client.dropped.get(&a), Some(&5));
    }
}
