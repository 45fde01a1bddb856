//! `rivulet-scale`: the programs `cargo xtask scale` runs against many relay nodes. Test tooling, not
//! part of a deployment.
//!
//! - `probe` — the measuring client: publishers and verifying subscribers over the nodes' WebSocket
//!   APIs, from a plan; prints one JSON report (time to data, latency, delivery before and after gap
//!   fill, anything forged or unpermitted that reached a subscriber).
//! - `throughput` — publishes pre-signed events to several nodes at once, each as fast as its node
//!   acknowledges, and reports acknowledged events per second per node.
//! - `adversary` — a misbehaving node on `rivulet-network`'s `NodeBehaviour`: it joins the DHT and the
//!   given topics and either forwards nothing (`drop`) or injects forged, altered and unpermitted events
//!   (`forge`).
//! - `sim` — the gossip network simulated: nodes, discovery, gossipsub's mesh rules and the latency
//!   model on simulated time, for sizes real processes cannot reach on one machine.

mod adversary;
mod probe;
mod sim;
mod stats;
mod throughput;
mod ws;

use anyhow::Result;
use clap::{Parser, Subcommand};

/// Programs for `cargo xtask scale`.
#[derive(Debug, Parser)]
#[command(name = "rivulet-scale", about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Publish and subscribe as a plan says; print the measurements as JSON.
    Probe(probe::ProbeArgs),
    /// Publish pre-signed events to several nodes at once as fast as each acknowledges.
    Throughput(throughput::ThroughputArgs),
    /// Run a misbehaving node.
    Adversary(adversary::AdversaryArgs),
    /// Simulate the gossip network at a given size; print the figures as JSON.
    Sim(sim::SimArgs),
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    if let Command::Sim(args) = &cli.command {
        return sim::run(args);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        match cli.command {
            Command::Probe(args) => probe::run(&args).await,
            Command::Throughput(args) => throughput::run(&args).await,
            Command::Adversary(args) => adversary::run(args).await,
            Command::Sim(_) => Ok(()),
        }
    })
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_well_formed() {
        super::Cli::command().debug_assert();
    }
}
