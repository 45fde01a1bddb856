//! `relay-node`: the Rivulet broker node, and client commands for operators and scripts.

mod api;
mod bench;
mod bench_node;
mod cli;
mod config;
mod identity;
mod memory;
mod metrics;
mod node;
mod paths;
mod run;
mod sync;
mod turns;

use anyhow::Result;
use clap::{Parser, Subcommand};
use rivulet_protocol::StreamId;
use tracing_subscriber::EnvFilter;

/// The Rivulet relay node.
#[derive(Debug, Parser)]
#[command(name = "relay-node", version, about)]
struct Cli {
    /// Log filter (tracing env-filter syntax), e.g. `info` or `relay_node=debug,info`.
    #[arg(
        long = "log.filter",
        env = "RIVULET_LOG",
        default_value = "info,libp2p_swarm=warn",
        global = true
    )]
    log_filter: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a node: join the network, validate and relay events, store the configured stream parts, serve
    /// the HTTP API.
    Run(config::RunArgs),
    /// Publish: each line of stdin is one event's JSON content, signed with --private-key.
    Publish {
        /// The stream.
        stream: StreamId,
        /// The partition.
        #[arg(long, default_value_t = 0)]
        partition: u32,
        #[command(flatten)]
        client: cli::ClientArgs,
    },
    /// Subscribe: prints each verified event as a JSON line.
    Subscribe {
        /// The stream.
        stream: StreamId,
        /// The partition.
        #[arg(long, default_value_t = 0)]
        partition: u32,
        /// Stop after this many events.
        #[arg(long)]
        count: Option<u64>,
        #[command(flatten)]
        client: cli::ClientArgs,
    },
    /// Print the last events a storage node keeps, as JSON lines.
    Resend {
        /// The stream.
        stream: StreamId,
        /// The partition.
        #[arg(long, default_value_t = 0)]
        partition: u32,
        /// How many.
        #[arg(long, default_value_t = 100)]
        last: u32,
        /// Check the answer against the network coordinator's final checksums (every checksum interval
        /// wholly inside it); a node that dropped, added or altered an event is named, with the interval.
        #[arg(long)]
        verify: bool,
        #[command(flatten)]
        client: cli::ClientArgs,
    },
    /// Create, show and search streams on chain.
    Stream {
        #[command(subcommand)]
        command: cli::StreamCommand,
        #[command(flatten)]
        client: cli::ClientArgs,
    },
    /// List products on the marketplace, and see them.
    Product {
        #[command(subcommand)]
        command: cli::ProductCommand,
        #[command(flatten)]
        client: cli::ClientArgs,
    },
    /// Grant a permission (edit, delete, publish, subscribe, grant) to an address, or to `public`.
    Grant {
        /// The stream.
        stream: StreamId,
        /// The address, or `public`.
        user: String,
        /// The permission.
        permission: String,
        #[command(flatten)]
        client: cli::ClientArgs,
    },
    /// This node's registration with the network coordinator: account, register, status, heartbeat,
    /// unstake, withdraw.
    Node {
        #[command(subcommand)]
        command: cli::network::NodeCommand,
        #[command(flatten)]
        node: cli::network::NodeArgs,
    },
    /// The network coordinator: nodes, assigned parts, rebalance, storage requests, checksums.
    Network {
        #[command(subcommand)]
        command: cli::network::NetworkCommand,
        #[command(flatten)]
        client: cli::ClientArgs,
    },
    /// Load generator: publish pre-signed events to one node, receive them on subscribers, print JSON.
    Bench(bench::BenchArgs),
    /// Load generator: one node's ingest from several publishers and fan-out to many WebSocket and
    /// light subscribers, per second of the node's own CPU; prints JSON.
    BenchNode(bench_node::NodeBenchArgs),
    /// Revoke a permission.
    Revoke {
        /// The stream.
        stream: StreamId,
        /// The address, or `public`.
        user: String,
        /// The permission.
        permission: String,
        #[command(flatten)]
        client: cli::ClientArgs,
    },
}

#[tokio::main]
async fn main() -> Result<()> {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_new(&cli.log_filter)
                .map_err(|e| anyhow::anyhow!("--log.filter: {e}"))?,
        )
        .with_writer(std::io::stderr)
        .init();
    match cli.command {
        Command::Run(args) => run::run(config::NodeConfig::load(&args)?).await,
        Command::Publish {
            stream,
            partition,
            client,
        } => cli::events::publish(&client, &stream, partition).await,
        Command::Subscribe {
            stream,
            partition,
            count,
            client,
        } => cli::events::subscribe(&client, &stream, partition, count).await,
        Command::Resend {
            stream,
            partition,
            last,
            verify,
            client,
        } => cli::events::resend(&client, &stream, partition, last, verify).await,
        Command::Stream { command, client } => cli::stream(&client, &command).await,
        Command::Product { command, client } => cli::product(&client, &command).await,
        Command::Node { command, node } => cli::network::node(&node, &command).await,
        Command::Network { command, client } => cli::network::network(&client, &command).await,
        Command::Bench(args) => bench::run(&args).await,
        Command::BenchNode(args) => bench_node::run(&args).await,
        Command::Grant {
            stream,
            user,
            permission,
            client,
        } => cli::permission(&client, &stream, &user, &permission, true).await,
        Command::Revoke {
            stream,
            user,
            permission,
            client,
        } => cli::permission(&client, &stream, &user, &permission, false).await,
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_well_formed() {
        super::Cli::command().debug_assert();
    }
}
