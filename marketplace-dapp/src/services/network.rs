//! The network, through the light client (`rivulet-client`): a [`Network`] handle (anonymous, or with
//! an account's key or authorised session key) and [`Network::follow`], which subscribes to one stream
//! partition — its last stored events first — and tells what arrives, every event verified in the page.
//! Just after a purchase the relay nodes may not have seen the licence yet (they follow the chain), so a
//! patient follow asks again for a while before calling a stream restricted.

use std::time::Duration;

use futures::{
    channel::oneshot,
    future::{Either, select},
};
use rivulet_client::{Authorisation, Client, ClientConfig, ClientError, SubscriptionEvent};
use rivulet_protocol::StreamPartId;

use crate::{error::DappError, services::config::Config};

/// A network client handed to components; two are equal when they are the same client.
#[derive(Clone)]
pub(crate) struct Network(Client);

impl PartialEq for Network {
    fn eq(&self, other: &Network) -> bool {
        self.0.peer_id() == other.0.peer_id()
    }
}

/// What to follow.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Follow {
    /// The stream id.
    pub(crate) stream: String,
    /// The partition.
    pub(crate) partition: u32,
    /// Stored events replayed first.
    pub(crate) history: u32,
    /// Subscriptions tried before a refusal for want of permission counts (1: at once).
    pub(crate) attempts: u32,
}

/// What a followed stream partition does.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Live {
    /// No relay node stores the stream: new events only, no history.
    Unstored,
    /// Subscribed: events follow.
    Started,
    /// A verified event: when it was published (Unix ms), by whom (checksummed), its content as text.
    Event {
        /// Its timestamp, Unix milliseconds.
        timestamp: u64,
        /// The publisher, checksummed.
        publisher: String,
        /// The content, as text.
        content: String,
        /// It was shown undecryptable before its key came.
        late: bool,
    },
    /// An encrypted event whose key could not be had (yet: it may come late).
    Undecryptable {
        /// Its timestamp, Unix milliseconds.
        timestamp: u64,
        /// The publisher.
        publisher: String,
        /// Why.
        reason: String,
    },
    /// Events of `publisher` are missing (no node stores them); delivery goes on.
    Gap {
        /// The publisher.
        publisher: String,
    },
    /// The account may not read the stream.
    Restricted,
    /// The relay nodes ended the subscription (why: a licence lapsed).
    Ended(String),
    /// The subscription failed.
    Failed(DappError),
}

impl Network {
    /// A client of the deployment's entry nodes: with `key` (a random one when `None`) and, when
    /// given, an account's authorisation of that key as its session key.
    pub(crate) fn new(
        config: &Config,
        key: Option<[u8; 32]>,
        authorisation: Option<Authorisation>,
    ) -> Result<Network, DappError> {
        let client = Client::new(ClientConfig {
            nodes: config.nodes.iter().filter_map(|a| a.parse().ok()).collect(),
            private_key: key,
            authorisation,
            ..ClientConfig::default()
        })
        .map_err(|e| DappError::Network(e.to_string()))?;
        Ok(Network(client))
    }

    /// Stops the client (its subscriptions end).
    pub(crate) fn destroy(&self) {
        self.0.destroy();
    }

    /// Follows one stream partition until `stop` fires (or is dropped) or the relay nodes end the
    /// subscription; `on` hears what happens. Leaving unsubscribes.
    pub(crate) async fn follow(
        &self,
        what: Follow,
        mut stop: oneshot::Receiver<()>,
        on: impl Fn(Live),
    ) {
        let Ok(part) = format!("{}#{}", what.stream, what.partition).parse::<StreamPartId>() else {
            return;
        };
        let mut attempt = 0;
        let mut last = Some(what.history);
        let mut sub = loop {
            attempt += 1;
            match self.0.subscribe(&part, last).await {
                Ok(sub) => break sub,
                // Nobody stores the stream: live events only.
                Err(ClientError::Refused { code, .. })
                    if code == "not_stored" && last.is_some() =>
                {
                    last = None;
                    on(Live::Unstored);
                }
                Err(ClientError::Refused { code, .. })
                    if code == "no_permission" && attempt < what.attempts =>
                {
                    rivulet_client::runtime::sleep(Duration::from_millis(500)).await;
                }
                Err(ClientError::Refused { code, .. }) if code == "no_permission" => {
                    on(Live::Restricted);
                    return;
                }
                Err(e) => {
                    on(Live::Failed(DappError::Network(e.to_string())));
                    return;
                }
            }
        };
        if !matches!(stop.try_recv(), Ok(None)) {
            return;
        }
        on(Live::Started);
        loop {
            // Dropping the subscription (on leaving) unsubscribes.
            let next = sub.next();
            futures::pin_mut!(next);
            let event = match select(next, &mut stop).await {
                Either::Left((Some(event), _)) => event,
                _ => break,
            };
            let late = matches!(event, SubscriptionEvent::Late(_));
            match event {
                SubscriptionEvent::Message(m) | SubscriptionEvent::Late(m) => on(Live::Event {
                    timestamp: m.id().timestamp,
                    publisher: m.id().publisher.to_checksum(),
                    content: String::from_utf8_lossy(&m.body.content).into_owned(),
                    late,
                }),
                SubscriptionEvent::Undecryptable {
                    publisher,
                    timestamp,
                    reason,
                    ..
                } => on(Live::Undecryptable {
                    timestamp,
                    publisher,
                    reason,
                }),
                SubscriptionEvent::Gap { publisher } => on(Live::Gap { publisher }),
                SubscriptionEvent::Ended(reason) => {
                    on(Live::Ended(reason));
                    break;
                }
            }
        }
    }
}
