//! `relay-node`: the Rivulet broker node, and client commands for operators and scripts.

mod config;
mod http;
mod identity;
mod metrics;
mod node;
mod paths;
mod ws;

use anyhow::Result;
use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;

/// The Rivulet relay node.
#[derive(Debug, Parser)]
#[command(name = "relay-node", version, about)]
struct Cli {
    /// Log filter (tracing env-filter syntax), e.g. `info` or `relay_node=debug,info`.
    #[arg(
        long = "log.filter",
        env = "RIVULET_LOG",
        default_value = "info",
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
        Command::Run(args) => node::run(config::NodeConfig::load(&args)?).await,
    }
}
