//! The node's Prometheus metrics (text format at `/metrics`).

use std::sync::{
    Arc,
    atomic::{AtomicU64, AtomicUsize, Ordering},
};

use prometheus_client::{
    encoding::{
        EncodeLabelSet,
        text::{encode_eof, encode_registry},
    },
    metrics::{
        counter::{ConstCounter, Counter},
        family::Family,
        gauge::{ConstGauge, Gauge},
    },
    registry::Registry,
};

use rivulet_store::Store;

use crate::node::coordination::{NodeRecord, Snapshot};

/// A validation failure's reason label.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct Reason {
    pub(crate) reason: String,
}

/// A request refused before it was read whole: its protocol and the code it was answered with.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct Refused {
    pub(crate) protocol: &'static str,
    pub(crate) reason: &'static str,
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
    /// Requests (light, history, store) refused before they were read whole, by protocol and code
    /// (`oversize`, `busy`, `unavailable`, `bad_request`).
    pub(crate) requests_refused: Family<Refused, Counter>,
    /// libp2p connections closed by the node's limits, by which (`per_address`, `per_address_rate`,
    /// `limits`).
    pub(crate) connections_refused: Family<Reason, Counter>,
    /// Gossip messages that could not be queued for a slow peer, or expired in its queue.
    pub(crate) gossip_unsent: Counter,
    pub(crate) assigned_parts: Gauge,
    pub(crate) backfilled: Counter,
    pub(crate) pruned: Counter,
    coordinator: CoordinatorMetrics,
    /// The history store, whose page cache is read when scraped.
    store: Option<Arc<Store>>,
    /// What gossip's queues for peers hold now (bytes), read when scraped.
    gossip_queued: Option<Arc<AtomicUsize>>,
    /// What light requests being read hold now (bytes), read when scraped.
    request_reading: Option<Arc<AtomicUsize>>,
}

/// The coordinator follower's metrics.
#[derive(Debug, Default)]
struct CoordinatorMetrics {
    registered: Gauge,
    epoch: Gauge,
    active_nodes: Gauge,
    weight: Gauge,
    stake: Gauge<f64, AtomicU64>,
    balance: Gauge<f64, AtomicU64>,
    reward_pool: Gauge<f64, AtomicU64>,
    reports: Family<Outcome, Counter>,
    rebalances: Family<Outcome, Counter>,
    backfill_refused: Family<Reason, Counter>,
}

/// How a coordinator transaction ended.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct Outcome {
    pub(crate) result: &'static str,
}

/// DATA wei as whole DATA (18 decimals), for gauges.
fn data(wei: u128) -> f64 {
    wei as f64 / 1e18
}

impl Metrics {
    /// The node's metrics; with its store, also the store's page cache.
    pub(crate) fn new(store: Option<Arc<Store>>) -> Metrics {
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
        let requests_refused = Family::<Refused, Counter>::default();
        let connections_refused = Family::<Reason, Counter>::default();
        let gossip_unsent = Counter::default();
        registry.register(
            "gossip_unsent",
            "Gossip messages this node could not send to a slow peer (its queue full, or expired in it); the peer can have them from its other neighbours",
            gossip_unsent.clone(),
        );
        registry.register(
            "connections_refused",
            "Incoming libp2p connections closed by the node's limits (per_address: network.max_connections_per_address; per_address_rate: network.connections_per_second_per_address; limits: network.max_connections, per peer, or in handshakes)",
            connections_refused.clone(),
        );
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
        registry.register(
            "requests_refused",
            "Requests (light clients', other nodes' history and store) answered with an error before they were read whole, by protocol and code (oversize; busy: network.request_mb_per_address; unavailable: network.request_mb; bad_request: does not decode)",
            requests_refused.clone(),
        );
        let coordinator = CoordinatorMetrics::default();
        let assigned_parts = Gauge::default();
        let backfilled = Counter::default();
        let pruned = Counter::default();
        let c = &coordinator;
        for (name, help, metric) in [
            (
                "coordinator_registered",
                "1 when this node is registered with the NetworkCoordinator",
                &c.registered,
            ),
            (
                "coordinator_epoch",
                "The coordinator's active-set epoch",
                &c.epoch,
            ),
            (
                "coordinator_active_nodes",
                "Nodes in the coordinator's active set",
                &c.active_nodes,
            ),
            (
                "coordinator_weight",
                "This node's weight in assignments (1..100)",
                &c.weight,
            ),
            (
                "coordinator_assigned_parts",
                "Stream parts the coordinator assigns to this node",
                &assigned_parts,
            ),
        ] {
            registry.register(name, help, metric.clone());
        }
        for (name, help, metric) in [
            (
                "coordinator_stake_data",
                "This node's stake (DATA)",
                &c.stake,
            ),
            (
                "coordinator_balance_data",
                "DATA held by this node's account (where rewards are paid)",
                &c.balance,
            ),
            (
                "coordinator_reward_pool_data",
                "DATA left in the coordinator's reward pool",
                &c.reward_pool,
            ),
        ] {
            registry.register(name, help, metric.clone());
        }
        registry.register(
            "coordinator_reports",
            "Checksum reports, by result (sent; refused by the contract; failed, to be retried)",
            c.reports.clone(),
        );
        registry.register(
            "coordinator_rebalances",
            "rebalance() calls, by result (changed: paid; unchanged: someone was first)",
            c.rebalances.clone(),
        );
        registry.register(
            "backfilled",
            "Events copied from other replicas into this node's store",
            backfilled.clone(),
        );
        registry.register(
            "backfill_refused",
            "Copied events refused by the copied-history rule, by reason",
            c.backfill_refused.clone(),
        );
        registry.register(
            "pruned",
            "Events deleted by retention or because their part is no longer assigned",
            pruned.clone(),
        );
        Metrics {
            assigned_parts,
            backfilled,
            pruned,
            coordinator,
            store,
            gossip_queued: None,
            request_reading: None,
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
            requests_refused,
            connections_refused,
            gossip_unsent,
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

    /// A checksum report's result.
    pub(crate) fn report(&self, result: &'static str) {
        self.coordinator
            .reports
            .get_or_create(&Outcome { result })
            .inc();
    }

    /// A rebalance call's result.
    pub(crate) fn rebalance(&self, result: &'static str) {
        self.coordinator
            .rebalances
            .get_or_create(&Outcome { result })
            .inc();
    }

    /// A copied event refused, by reason.
    pub(crate) fn backfill_refused(&self, reason: &str) {
        self.coordinator
            .backfill_refused
            .get_or_create(&Reason {
                reason: reason.to_owned(),
            })
            .inc();
    }

    /// The coordinator's state as last read, and this node's record in it.
    pub(crate) fn coordinator_gauges(&self, snapshot: &Snapshot, me: Option<&NodeRecord>) {
        let c = &self.coordinator;
        c.registered.set(i64::from(me.is_some()));
        c.epoch.set(snapshot.epoch as i64);
        c.active_nodes.set(snapshot.active.len() as i64);
        c.weight.set(me.map_or(0, |m| i64::from(m.weight)));
        c.stake.set(data(me.map_or(0, |m| m.stake)));
        c.balance.set(data(snapshot.balance));
        c.reward_pool.set(data(snapshot.reward_pool));
    }

    /// Also reports what gossip's queues for peers hold (`rivulet_gossip_queued_bytes`), from `queued`.
    pub(crate) fn with_gossip_queue(mut self, queued: Option<Arc<AtomicUsize>>) -> Metrics {
        self.gossip_queued = queued;
        self
    }

    /// Also reports what requests being read hold (`rivulet_request_reading_bytes`), from `reading`.
    pub(crate) fn with_request_reading(mut self, reading: Arc<AtomicUsize>) -> Metrics {
        self.request_reading = Some(reading);
        self
    }

    pub(crate) fn render(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = encode_registry(&mut out, &self.registry);
        if let Some(process) = process_registry() {
            let _ = encode_registry(&mut out, &process);
        }
        if let Some(store) = &self.store {
            let _ = encode_registry(&mut out, &store_cache_registry(store));
        }
        if let Some(queued) = &self.gossip_queued {
            let help =
                "Bytes of events queued for peers, not yet sent (at most network.gossip_queue_mb)";
            encode_bytes(&mut out, ("rivulet_gossip", "queued_bytes", help), queued);
        }
        if let Some(reading) = &self.request_reading {
            let help = "Bytes held by requests being read (light clients', other nodes'), not yet whole (at most network.request_mb)";
            encode_bytes(
                &mut out,
                ("rivulet_request", "reading_bytes", help),
                reading,
            );
        }
        let _ = encode_eof(&mut out);
        out
    }
}

/// Writes a gauge of `bytes` as of now, named `prefix_name`, to `out`.
fn encode_bytes(out: &mut String, (prefix, name, help): (&str, &str, &str), bytes: &AtomicUsize) {
    let mut registry = Registry::with_prefix(prefix);
    let now = i64::try_from(bytes.load(Ordering::Relaxed)).unwrap_or(i64::MAX);
    registry.register(name, help, ConstGauge::new(now));
    // Writing to a String cannot fail.
    let _ = encode_registry(out, &registry);
}

/// The history store's page cache as of now (`rivulet_store_cache_*`): how full it is (bounded by
/// `storage.cache_mb`) and how its page reads went.
fn store_cache_registry(store: &Store) -> Registry {
    let stats = store.cache_stats();
    let mut registry = Registry::with_prefix("rivulet_store_cache");
    registry.register(
        "bytes",
        "Bytes of history pages held in the store's page cache (at most storage.cache_mb)",
        ConstGauge::new(i64::try_from(stats.used_bytes).unwrap_or(i64::MAX)),
    );
    registry.register(
        "read_hits",
        "History page reads served from the store's page cache",
        ConstCounter::new(stats.read_hits),
    );
    registry.register(
        "read_misses",
        "History page reads that went to the file",
        ConstCounter::new(stats.read_misses),
    );
    registry.register(
        "evictions",
        "History pages dropped from the store's page cache to make room",
        ConstCounter::new(stats.evictions),
    );
    registry
}

/// The process's CPU time and resident memory under Prometheus' standard names
/// (`process_cpu_seconds_total`, `process_resident_memory_bytes`), read from `/proc` when scraped;
/// `None` where there is no `/proc`.
fn process_registry() -> Option<Registry> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The fields after the command name (which may hold spaces and ends at the last ')'): the state
    // first, utime and stime 12th and 13th, in clock ticks of USER_HZ (100 on Linux).
    let fields: Vec<&str> = stat
        .get(stat.rfind(')')? + 1..)?
        .split_whitespace()
        .collect();
    let ticks = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    let rss_kib = i64::try_from(crate::memory::resident_kib()?).ok()?;
    let mut registry = Registry::default();
    registry.register(
        "process_cpu_seconds",
        "Total user and system CPU time spent in seconds",
        ConstCounter::new(ticks as f64 / 100.0),
    );
    registry.register(
        "process_resident_memory_bytes",
        "Resident memory size in bytes",
        ConstGauge::new(rss_kib * 1024),
    );
    Some(registry)
}

#[cfg(test)]
mod tests {
    use rivulet_protocol::{Address, ChainId, MessageId, Partition, StreamPartId};

    use super::*;

    /// The value of the sample named `name` in `text`.
    fn sample(text: &str, name: &str) -> f64 {
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no {name} in {text}"))
    }

    #[test]
    fn the_store_page_cache_is_read_when_scraped() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let store = Arc::new(
            Store::open_with_cache(&dir.path().join("history.redb"), 1 << 20).expect("a store"),
        );
        let metrics = Metrics::new(Some(store.clone()));
        let before = sample(&metrics.render(), "rivulet_store_cache_bytes");
        let part = StreamPartId::new(
            "rivulet.eth/metrics".parse().expect("a stream id"),
            Partition::new(0).expect("a partition"),
        );
        let ids: Vec<MessageId> = (0..64)
            .map(|ts| MessageId {
                stream_id: part.stream_id.clone(),
                partition: part.partition,
                timestamp: ts,
                sequence_number: 0,
                publisher: Address([1; 20]),
                chain_id: ChainId::new("c").expect("a chain id"),
            })
            .collect();
        let value = vec![0u8; 4096];
        store
            .append(ids.iter().map(|id| (id, value.as_slice())))
            .expect("stored");
        store
            .each_in_time_range(&part, 0, 64, |_| {})
            .expect("read back");
        let text = metrics.render();
        let after = sample(&text, "rivulet_store_cache_bytes");
        assert!(after > before && after <= f64::from(1 << 20), "{text}");
        assert!(
            sample(&text, "rivulet_store_cache_read_hits_total") > 0.0,
            "{text}"
        );
        // Without a store (the API's tests) there is nothing of it.
        assert!(!Metrics::new(None).render().contains("rivulet_store_cache"));
    }
}
