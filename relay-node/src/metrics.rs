//! The node's Prometheus metrics (text format at `/metrics`).

use prometheus_client::{
    encoding::{EncodeLabelSet, text::encode},
    metrics::{counter::Counter, family::Family, gauge::Gauge},
    registry::Registry,
};

/// A validation failure's reason label.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct Reason {
    pub(crate) reason: String,
}

/// A light-protocol request's kind.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct RequestKind {
    pub(crate) request: &'static str,
}

/// Where an event came from.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct Source {
    pub(crate) source: String,
}

/// Every metric the node exports.
#[derive(Debug)]
pub(crate) struct Metrics {
    registry: Registry,
    pub(crate) events_in: Family<Source, Counter>,
    pub(crate) events_out: Counter,
    pub(crate) validation_failures: Family<Reason, Counter>,
    pub(crate) duplicates: Counter,
    pub(crate) stored: Counter,
    pub(crate) peers: Gauge,
    pub(crate) topics: Gauge,
    pub(crate) ws_connections: Gauge,
    pub(crate) store_messages: Gauge,
    pub(crate) http_errors: Family<Reason, Counter>,
    pub(crate) light_requests: Family<RequestKind, Counter>,
}

impl Metrics {
    pub(crate) fn new() -> Metrics {
        let mut registry = Registry::with_prefix("rivulet");
        let events_in = Family::<Source, Counter>::default();
        let events_out = Counter::default();
        let validation_failures = Family::<Reason, Counter>::default();
        let duplicates = Counter::default();
        let stored = Counter::default();
        let peers = Gauge::default();
        let topics = Gauge::default();
        let ws_connections = Gauge::default();
        let store_messages = Gauge::default();
        let http_errors = Family::<Reason, Counter>::default();
        let light_requests = Family::<RequestKind, Counter>::default();
        registry.register(
            "events_in",
            "Valid events received, by source (gossip: from other nodes; api: from clients over HTTP, WebSocket or the light protocol)",
            events_in.clone(),
        );
        registry.register(
            "events_out",
            "Events this node sent on: its clients' events published to the gossip network, and events delivered to light clients",
            events_out.clone(),
        );
        registry.register(
            "validation_failures",
            "Events refused, by reason",
            validation_failures.clone(),
        );
        registry.register("duplicates", "Duplicate events dropped", duplicates.clone());
        registry.register(
            "stored",
            "Events written to the history store",
            stored.clone(),
        );
        registry.register("peers", "Connected peers", peers.clone());
        registry.register(
            "topics",
            "Stream parts (gossipsub topics) this node is in",
            topics.clone(),
        );
        registry.register(
            "ws_connections",
            "Open WebSocket API connections",
            ws_connections.clone(),
        );
        registry.register(
            "store_messages",
            "Events held in the history store",
            store_messages.clone(),
        );
        registry.register(
            "http_errors",
            "HTTP API requests refused, by reason",
            http_errors.clone(),
        );
        registry.register(
            "light_requests",
            "Light-protocol requests from clients, by kind (publish_batch: several events in one)",
            light_requests.clone(),
        );
        Metrics {
            registry,
            events_in,
            events_out,
            validation_failures,
            duplicates,
            stored,
            peers,
            topics,
            ws_connections,
            store_messages,
            http_errors,
            light_requests,
        }
    }

    pub(crate) fn reject(&self, reason: &str) {
        self.validation_failures
            .get_or_create(&Reason {
                reason: reason.to_owned(),
            })
            .inc();
    }

    pub(crate) fn http_error(&self, reason: &str) {
        self.http_errors
            .get_or_create(&Reason {
                reason: reason.to_owned(),
            })
            .inc();
    }

    pub(crate) fn render(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        out
    }
}
