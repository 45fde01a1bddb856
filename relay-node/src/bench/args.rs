//! The load generator's flags.

use clap::Args;
use rivulet_protocol::StreamId;

/// Settings of one run.
#[derive(Debug, Clone, Args)]
pub(crate) struct BenchArgs {
    /// The stream (the key must may publish; subscribers must may subscribe, e.g. public).
    #[arg(long)]
    pub(crate) stream: StreamId,
    /// The node to publish to (HTTP base URL).
    #[arg(long)]
    pub(crate) publish_node: String,
    /// Nodes to subscribe on (repeatable); subscribers are spread over them.
    #[arg(long = "subscribe-node", required = true)]
    pub(crate) subscribe_nodes: Vec<String>,
    /// How many subscriber connections in all.
    #[arg(long, default_value_t = 1)]
    pub(crate) subscribers: usize,
    /// Content bytes per event.
    #[arg(long, default_value_t = 200)]
    pub(crate) payload: usize,
    /// Events to publish.
    #[arg(long, default_value_t = 5_000)]
    pub(crate) count: u32,
    /// Publish at most this many events per second (0: as fast as the node acknowledges). With
    /// `--duration-secs`, exactly this many (required).
    #[arg(long, default_value_t = 0)]
    pub(crate) rate: u32,
    /// A steady load for this many seconds instead of `--count` events: each event signed when due at
    /// `--rate`; a client whose node goes away moves to another of the nodes named (a publisher sends
    /// again what was not answered) and back home once its node is back; afterwards each subscriber
    /// asks for what it missed (resend from its node, then from the others). Progress lines on
    /// stderr, one JSON report on stdout.
    #[arg(long, conflicts_with = "count")]
    pub(crate) duration_secs: Option<u64>,
    /// With `--duration-secs`: publishers, each with a chain of its own and at home on the nodes in
    /// turn (`--publish-node`, then the `--subscribe-node`s); they share `--rate`.
    #[arg(long, default_value_t = 1)]
    pub(crate) publishers: usize,
    /// With `--duration-secs`: how long subscribers listen for the last events before the gap fill.
    #[arg(long, default_value_t = 10)]
    pub(crate) settle_secs: u64,
    /// With `--duration-secs`: seconds between progress lines on stderr.
    #[arg(long, default_value_t = 10)]
    pub(crate) progress_secs: u64,
    /// Subscribers do not verify signatures (the nodes still do): measures forwarding alone.
    #[arg(long)]
    pub(crate) no_verify: bool,
    /// Events go both ways as binary frames of their wire bytes (publishes, and subscriptions with
    /// `"format":"wire"`) instead of JSON with hex. Not with `--duration-secs`, nor `--acks quorum`.
    #[arg(long)]
    pub(crate) wire: bool,
    /// Sign each event when it is due instead of before the clock starts (latency then includes
    /// signing, as an SDK publish's does).
    #[arg(long)]
    pub(crate) sign_inline: bool,
    /// The stream partition to publish to and subscribe on.
    #[arg(long, default_value_t = 0)]
    pub(crate) partition: u32,
    /// What each publish's acknowledgement waits for: `local` (the entry node) or `quorum` (a majority of
    /// the part's replicas have it on disk; needs a network coordinator).
    #[arg(long, default_value = "local")]
    pub(crate) acks: crate::node::Acks,
    /// Readers that pull `--history-last` events of history from the publish node over HTTP, one
    /// request after another, while the events go out (live delivery under a flood of history reads).
    #[arg(long, default_value_t = 0)]
    pub(crate) history_readers: usize,
    /// How many of the newest events each `--history-readers` request asks for.
    #[arg(long, default_value_t = 50_000)]
    pub(crate) history_last: u32,
    /// Give up after this many seconds.
    #[arg(long, default_value_t = 60)]
    pub(crate) timeout_secs: u64,
    /// Publisher key (hex).
    #[arg(long, env = "RIVULET_PRIVATE_KEY", hide_env_values = true)]
    pub(crate) private_key: String,
}
