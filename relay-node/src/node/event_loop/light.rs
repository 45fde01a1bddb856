//! Light clients' requests on the event loop: sign-in, publish, subscribe (as a reader or as a key
//! service), unsubscribe, resend; and pushing their subscriptions' events. The state is
//! [`LightSessions`](crate::node::light::LightSessions)'; this file does the checks and the I/O.

use rivulet_network::{
    AccountProof, HistoryQuery, ReaderProof,
    libp2p::{PeerId, request_response::ResponseChannel},
    light::{LightRequest, LightResponse, MAX_PUBLISH_BATCH, PublishResult},
    request_budget::Refusal,
};
use rivulet_protocol::StreamPartId;
use tokio::sync::oneshot;
use tracing::debug;

use super::EventLoop;
use crate::{
    metrics::RequestKind,
    node::{
        commands::Command,
        history::query_store,
        light::Mode,
        light_auth::{authorising_account, session_key},
        quorum::Acks,
        sign_ins::SIGN_INS_PER_SECOND,
    },
    turns::ReaderKey,
};

type Channel = ResponseChannel<LightResponse>;

impl EventLoop {
    /// Answers (or starts answering) one light request.
    pub(super) fn on_light_request(
        &mut self,
        peer: PeerId,
        from: ReaderKey,
        request: LightRequest,
        channel: Channel,
    ) {
        let node = *self.swarm.local_peer_id();
        let kind = match &request {
            LightRequest::Auth { .. } => "auth",
            LightRequest::AuthFor { .. } => "auth_for",
            LightRequest::Publish { .. } => "publish",
            LightRequest::PublishBatch { .. } => "publish_batch",
            LightRequest::Subscribe { .. } => "subscribe",
            LightRequest::ServeKeys { .. } => "serve_keys",
            LightRequest::Unsubscribe { .. } => "unsubscribe",
            LightRequest::Resend { .. } => "resend",
        };
        self.metrics
            .light_requests
            .get_or_create(&RequestKind { request: kind })
            .inc();
        if matches!(
            request,
            LightRequest::Auth { .. } | LightRequest::AuthFor { .. }
        ) && !self.sign_ins.allow(from)
        {
            let response = LightResponse::error(
                "rate_limited",
                format!(
                    "{from} signs in more than {SIGN_INS_PER_SECOND} times a second; a client signs in once per connection, wait a moment"
                ),
            );
            return self.light_respond(channel, response);
        }
        match request {
            LightRequest::Auth { address, signature } => {
                let response = match session_key(&node, &peer, &address, &signature) {
                    Ok(key) => {
                        let proof = ReaderProof::Session {
                            client: peer.to_string(),
                            address,
                            signature,
                            account: None,
                        };
                        self.light.sign_in(peer, key, None, proof);
                        LightResponse::Ok
                    }
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
                let now = self.access.now_secs();
                let response = session_key(&node, &peer, &address, &signature)
                    .and_then(|key| {
                        authorising_account(&account, &key, expires, &authorisation, now)
                    })
                    .map(|reader| {
                        let proof = ReaderProof::Session {
                            client: peer.to_string(),
                            address,
                            signature,
                            account: Some(AccountProof {
                                account,
                                expires,
                                signature: authorisation,
                            }),
                        };
                        self.light.sign_in(peer, reader, Some(expires), proof);
                        LightResponse::Ok
                    })
                    .unwrap_or_else(|refusal| refusal);
                self.light_respond(channel, response);
            }
            LightRequest::Publish { wire, acks } => {
                if let Err(busy) = self.publishing.take(from, 1) {
                    return self
                        .light_respond(channel, LightResponse::error("busy", busy.to_string()));
                }
                let (reply, rx) = oneshot::channel();
                let wire = wire.into_vec();
                let kept = (acks == Acks::Quorum).then(|| wire.clone());
                self.publish(wire, reply);
                let commands = self.commands.clone();
                let quorum = self.quorum.clone();
                tokio::spawn(async move {
                    let outcome = match (rx.await, kept) {
                        (Ok(Ok(published)), Some(wire)) => {
                            Ok(Ok(quorum.confirm_published(wire, published).await))
                        }
                        (Ok(Ok(published)), None) => Ok(Ok(Ok(published))),
                        (Ok(Err(rejection)), _) => Ok(Err(rejection)),
                        (Err(e), _) => Err(e),
                    };
                    let response = match outcome {
                        Ok(Ok(Ok(published))) => LightResponse::Published {
                            duplicate: published.duplicate,
                            stored: published.stored,
                            replicas: published.replicas.map(|n| n as u32),
                        },
                        Ok(Ok(Err(e))) => LightResponse::error(e.code(), e.to_string()),
                        Ok(Err(rejection)) => {
                            LightResponse::error(rejection.reason(), rejection.to_string())
                        }
                        Err(_) => LightResponse::error("unavailable", "the node is stopping"),
                    };
                    let _ = commands
                        .send(Command::LightRespond {
                            channel,
                            response,
                            published: Some((from, 1)),
                        })
                        .await;
                });
            }
            LightRequest::PublishBatch { wires } if wires.len() > MAX_PUBLISH_BATCH => {
                let response = LightResponse::error(
                    "bad_request",
                    format!(
                        "a batch holds at most {MAX_PUBLISH_BATCH} events, not {}",
                        wires.len()
                    ),
                );
                self.light_respond(channel, response);
            }
            LightRequest::PublishBatch { wires } => {
                let events = wires.len();
                if let Err(busy) = self.publishing.take(from, events) {
                    return self
                        .light_respond(channel, LightResponse::error("busy", busy.to_string()));
                }
                let answers: Vec<_> = wires
                    .into_iter()
                    .map(|wire| {
                        let (reply, rx) = oneshot::channel();
                        self.publish(wire.into_vec(), reply);
                        rx
                    })
                    .collect();
                let commands = self.commands.clone();
                tokio::spawn(async move {
                    let mut results = Vec::with_capacity(answers.len());
                    for rx in answers {
                        results.push(match rx.await {
                            Ok(Ok(published)) => PublishResult::Published {
                                duplicate: published.duplicate,
                                stored: published.stored,
                            },
                            Ok(Err(rejection)) => PublishResult::Error {
                                code: rejection.reason().into(),
                                message: rejection.to_string(),
                            },
                            Err(_) => PublishResult::Error {
                                code: "unavailable".into(),
                                message: "the node is stopping".into(),
                            },
                        });
                    }
                    let response = LightResponse::PublishedBatch { results };
                    let _ = commands
                        .send(Command::LightRespond {
                            channel,
                            response,
                            published: Some((from, events)),
                        })
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
                if let Ok(part) = part.parse::<StreamPartId>()
                    && self.light.unsubscribe(peer, &part)
                {
                    self.local_subscriber_left(&part);
                }
                self.light_respond(channel, LightResponse::Ok);
            }
            LightRequest::Resend { part, query } => {
                self.light_resend(peer, from, &part, query, channel)
            }
        }
    }

    /// Answers a light request the node refused before reading it whole (oversize, beyond its
    /// address's or the node's budget for requests being read, or not decoding).
    pub(super) fn light_refused(&mut self, from: ReaderKey, refusal: Refusal, channel: Channel) {
        self.count_refusal("light", from, &refusal);
        self.light_respond(channel, LightResponse::error(refusal.code, refusal.message));
    }

    pub(super) fn light_respond(&mut self, channel: Channel, response: LightResponse) {
        let _ = self
            .swarm
            .behaviour_mut()
            .light
            .send_response(channel, response);
    }

    fn local_subscriber_left(&mut self, part: &StreamPartId) {
        let change = self.topics.unsubscribe(part, std::time::Instant::now());
        self.apply(change);
    }

    /// Whether `peer`'s session may hold a subscription of `mode` on `part` now.
    fn light_allowed(&self, peer: &PeerId, part: &StreamPartId, mode: Mode) -> bool {
        let address = self.light.acting_as(peer, self.access.now_secs());
        match mode {
            Mode::Events => self.access.may_subscribe(address, part),
            Mode::KeyRequests => address.is_some_and(|a| self.access.may_publish(a, part)),
        }
    }

    fn light_subscribe(&mut self, peer: PeerId, part: &str, mode: Mode) -> LightResponse {
        let part = match part.parse::<StreamPartId>() {
            Ok(p) => p,
            Err(e) => return LightResponse::error("bad_stream", e.to_string()),
        };
        if let Err(max) = self.light.room_for(&peer, &part) {
            return LightResponse::error(
                "too_many_subscriptions",
                format!(
                    "a light client may subscribe to at most {max} stream parts; unsubscribe from one first"
                ),
            );
        }
        if !self.light_allowed(&peer, &part, mode) {
            let who = self
                .light
                .acting_as(&peer, self.access.now_secs())
                .map_or("an anonymous client".to_owned(), |a| a.to_string());
            let what = match mode {
                Mode::Events => "subscribe to",
                Mode::KeyRequests => "serve keys for (it may not publish to)",
            };
            return LightResponse::error(
                "no_permission",
                format!("{who} may not {what} {}", part.stream_id),
            );
        }
        if self.light.subscribe(peer, &part, mode) {
            let change = self.topics.subscribe(&part);
            self.apply(change);
        }
        LightResponse::Ok
    }

    /// Forgets a client whose last connection closed.
    pub(super) fn light_disconnected(&mut self, peer: PeerId) {
        for part in self.light.disconnected(peer) {
            self.local_subscriber_left(&part);
        }
    }

    fn light_resend(
        &mut self,
        peer: PeerId,
        from: ReaderKey,
        part: &str,
        query: HistoryQuery,
        channel: Channel,
    ) {
        let part = match part.parse::<StreamPartId>() {
            Ok(p) => p,
            Err(e) => {
                return self
                    .light_respond(channel, LightResponse::error("bad_stream", e.to_string()));
            }
        };
        if !self.light_allowed(&peer, &part, Mode::Events) {
            let response = LightResponse::error(
                "no_permission",
                format!("no subscribe permission on {}", part.stream_id),
            );
            return self.light_respond(channel, response);
        }
        let commands = self.commands.clone();
        if self.stored.serves(&part) {
            let reads = self.reads.clone();
            tokio::spawn(async move {
                let result = reads
                    .run(from, move |store| query_store(store, &part, &query))
                    .await;
                let response = match result {
                    Ok(Ok((wires, next))) => LightResponse::Messages {
                        messages: wires.into_iter().map(Into::into).collect(),
                        next,
                    },
                    Ok(Err(e)) => LightResponse::error("store", e),
                    Err(e) => LightResponse::error(e.code(), e.to_string()),
                };
                let _ = commands
                    .send(Command::LightRespond {
                        channel,
                        response,
                        published: None,
                    })
                    .await;
            });
        } else {
            let (reply, rx) = oneshot::channel();
            let reader = self.light.proof(&peer);
            self.remote_history(&part, query, reader, Vec::new(), reply);
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
                    .send(Command::LightRespond {
                        channel,
                        response,
                        published: None,
                    })
                    .await;
            });
        }
    }

    /// Sends queued events to a client while it has room in flight, checking its permission per batch.
    pub(super) fn light_flush(&mut self, peer: PeerId) {
        loop {
            let now = self.access.now_secs();
            let access = &self.access;
            let next = self
                .light
                .next_delivery(peer, now, |address, part, mode| match mode {
                    Mode::Events => access.may_subscribe(address, part),
                    Mode::KeyRequests => address.is_some_and(|a| access.may_publish(a, part)),
                });
            let Some(outgoing) = next else {
                return;
            };
            if let Some(part) = &outgoing.ended {
                debug!(%peer, %part, "light subscription ended: permission lapsed");
                self.local_subscriber_left(part);
            }
            self.metrics.events_out.inc_by(outgoing.events as u64);
            self.swarm
                .behaviour_mut()
                .delivery
                .send_request(&peer, outgoing.delivery);
        }
    }
}
