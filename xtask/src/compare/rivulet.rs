//! Rivulet in the same shapes: release builds of three relay nodes on loopback with a chain, and
//! `relay-node bench` (pre-signed events over one WebSocket, subscribers over WebSockets) on one node
//! (1→1, 1→10, as the brokers) and across three (publisher on A, two subscribers on B and C, as
//! Streamr's bench), with subscribers that verify every signature and with subscribers that trust their
//! node; plus how long a node takes to start and reach a peer, and a stream part to carry its first event.

use std::{
    path::Path,
    time::{Duration, Instant},
};

use anyhow::{Context, Result, bail};
use serde_json::{Map, Value, json};

use super::machine::measured;
use crate::{
    bench::{BENCH_KEY, BenchChain},
    cmd::capture,
    health::http_get,
    network::{self, RelayNode},
};

/// Where the subscribers are.
#[derive(Clone, Copy)]
enum On {
    /// On node A, which the publisher publishes to.
    A,
    /// Spread over nodes B and C, which reach A through gossipsub.
    BC,
}

/// One load-generator run.
pub(super) struct Spec {
    /// Its key in the results (and for `--runs`).
    pub(super) name: &'static str,
    on: On,
    subscribers: usize,
    count: u32,
    /// Events per second; 0: as fast as node A takes them.
    rate: u32,
    verify: bool,
    /// Signed when due, so that latency includes signing (as in Streamr's paced phases).
    sign_inline: bool,
    partition: u32,
    /// Events as binary frames of their wire bytes both ways (`relay-node bench --wire`), as a
    /// broker's clients send bytes; else JSON frames with hex.
    wire: bool,
}

const fn spec(
    name: &'static str,
    on: On,
    subscribers: usize,
    (count, rate): (u32, u32),
    (verify, sign_inline): (bool, bool),
) -> Spec {
    Spec {
        name,
        on,
        subscribers,
        count,
        rate,
        verify,
        sign_inline,
        partition: 0,
        wire: false,
    }
}

/// The runs, in order. "trust": subscribers do not verify (the nodes always do); "wire": events go
/// as binary frames of their wire bytes instead of JSON. The last eight are
/// #15's latency goals across three nodes (p50 ≤ 0.5 ms, p99 ≤ 2 ms with a subscriber on each of B and
/// C, ≤ 5 ms with ten): at 1,000 events/s signed when due, as B; at 10,000/s pre-signed (signing
/// 10,000 a second would take a third of a core from the nodes on this machine); and the rates between,
/// to show how latency grows with the load.
pub(super) const RUNS: [Spec; 21] = [
    // A stream part no node is in yet: subscribe on B and C, then A's publisher's first event.
    Spec {
        partition: 1,
        ..spec("join", On::BC, 2, (200, 1_000), (true, true))
    },
    spec(
        "1node_1to1_max_verify",
        On::A,
        1,
        (20_000, 0),
        (true, false),
    ),
    spec(
        "1node_1to1_max_trust",
        On::A,
        1,
        (20_000, 0),
        (false, false),
    ),
    spec(
        "1node_1to10_max_verify",
        On::A,
        10,
        (10_000, 0),
        (true, false),
    ),
    spec(
        "1node_1to10_max_trust",
        On::A,
        10,
        (10_000, 0),
        (false, false),
    ),
    Spec {
        wire: true,
        ..spec(
            "1node_1to1_max_trust_wire",
            On::A,
            1,
            (20_000, 0),
            (false, false),
        )
    },
    Spec {
        wire: true,
        ..spec(
            "1node_1to10_max_trust_wire",
            On::A,
            10,
            (10_000, 0),
            (false, false),
        )
    },
    Spec {
        wire: true,
        ..spec(
            "1node_1to100_max_trust_wire",
            On::A,
            100,
            (20_000, 0),
            (false, false),
        )
    },
    spec(
        "1node_1to1_paced_trust",
        On::A,
        1,
        (5_000, 1_000),
        (false, false),
    ),
    spec(
        "1node_1to10_paced_trust",
        On::A,
        10,
        (5_000, 1_000),
        (false, false),
    ),
    spec("3nodes_max_trust", On::BC, 2, (20_000, 0), (false, false)),
    spec("3nodes_max_verify", On::BC, 2, (20_000, 0), (true, false)),
    spec(
        "3nodes_paced_trust",
        On::BC,
        2,
        (5_000, 1_000),
        (false, true),
    ),
    spec(
        "3nodes_paced_verify",
        On::BC,
        2,
        (5_000, 1_000),
        (true, true),
    ),
    spec(
        "3nodes_paced_trust_10",
        On::BC,
        10,
        (5_000, 1_000),
        (false, true),
    ),
    spec(
        "3nodes_10k_trust",
        On::BC,
        2,
        (30_000, 10_000),
        (false, false),
    ),
    spec(
        "3nodes_10k_trust_10",
        On::BC,
        10,
        (30_000, 10_000),
        (false, false),
    ),
    spec(
        "3nodes_2k_trust",
        On::BC,
        2,
        (10_000, 2_000),
        (false, false),
    ),
    spec(
        "3nodes_4k_trust",
        On::BC,
        2,
        (20_000, 4_000),
        (false, false),
    ),
    spec(
        "3nodes_6k_trust",
        On::BC,
        2,
        (30_000, 6_000),
        (false, false),
    ),
    spec(
        "3nodes_8k_trust",
        On::BC,
        2,
        (30_000, 8_000),
        (false, false),
    ),
];

/// Starts a node; returns it with the milliseconds from spawning it to its listeners being up and,
/// when it has a bootstrap peer, to its first connected peer (polled every 5 ms on `/health`).
fn start_timed(
    relay: &Path,
    dir: &Path,
    deployment: &Path,
    extra: &[&str],
) -> Result<(RelayNode, Value)> {
    let spawned = Instant::now();
    let node = network::start_node(relay, dir, deployment, extra)?;
    let ready_ms = spawned.elapsed().as_secs_f64() * 1000.0;
    let mut times = json!({ "readyMs": ready_ms });
    if extra.contains(&"--network.bootstrap") {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let peers = http_get(&node.http, "/health")
                .ok()
                .and_then(|body| serde_json::from_str::<Value>(&body).ok())
                .and_then(|health| health["peers"].as_u64())
                .unwrap_or(0);
            if peers > 0 {
                times["firstPeerMs"] = json!(spawned.elapsed().as_secs_f64() * 1000.0);
                break;
            }
            if Instant::now() > deadline {
                bail!("the node in {} found no peer in 30 s", dir.display());
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    Ok((node, times))
}

/// Starts the chain and three nodes and runs every measurement; the results as JSON. `wait`: see
/// [`measured`].
pub(super) fn measure(
    root: &Path,
    dir: &Path,
    (relay, deployer): (&Path, &Path),
    (wait, only): (bool, Option<&[String]>),
) -> Result<Value> {
    std::fs::create_dir_all(dir)?;
    // Partition 0 for the load, 1..=3 for the join's attempts (each needs a part no node is in).
    let chain = BenchChain::start(root, dir, (relay, deployer), 4)?;
    let config = chain.config.as_str();
    let (a, a_times) = start_timed(
        relay,
        &dir.join("a"),
        &chain.deployment,
        &["--config", config],
    )?;
    let a_tcp = a.tcp()?.to_owned();
    let with_a = ["--config", config, "--network.bootstrap", &a_tcp];
    let (b, b_times) = start_timed(relay, &dir.join("b"), &chain.deployment, &with_a)?;
    let (c, c_times) = start_timed(relay, &dir.join("c"), &chain.deployment, &with_a)?;
    eprintln!("node start: a {a_times}, b {b_times}, c {c_times}");
    let mut runs = Map::new();
    let chosen = |spec: &&Spec| only.is_none_or(|names| names.iter().any(|n| n == spec.name));
    for spec in RUNS.iter().filter(chosen) {
        let subscribe_on: Vec<&str> = match spec.on {
            On::A => vec![&a.http],
            On::BC => vec![&b.http, &c.http],
        };
        let (subscribers, count, rate) = (
            spec.subscribers.to_string(),
            spec.count.to_string(),
            spec.rate.to_string(),
        );
        let result = measured(&format!("rivulet {}", spec.name), wait, |attempt| {
            let partition =
                (spec.partition + if spec.partition > 0 { attempt } else { 0 }).to_string();
            let mut args = vec![
                "bench",
                "--stream",
                &chain.stream,
                "--publish-node",
                &a.http,
                "--private-key",
                BENCH_KEY,
                "--subscribers",
                &subscribers,
                "--payload",
                "200",
                "--count",
                &count,
                "--rate",
                &rate,
                "--partition",
                &partition,
                "--timeout-secs",
                "60",
            ];
            for node in &subscribe_on {
                args.extend(["--subscribe-node", node]);
            }
            if !spec.verify {
                args.push("--no-verify");
            }
            if spec.sign_inline {
                args.push("--sign-inline");
            }
            if spec.wire {
                args.push("--wire");
            }
            let out = capture(relay, &args)?;
            let mut result: Value = serde_json::from_str(out.trim())
                .with_context(|| format!("relay-node bench printed {out:?}"))?;
            result["nodes"] = json!(match spec.on {
                On::A => 1,
                On::BC => 3,
            });
            Ok(result)
        })?;
        runs.insert(spec.name.to_owned(), result);
    }
    Ok(json!({
        "nodeStart": { "a": a_times, "b": b_times, "c": c_times },
        "runs": runs,
    }))
}
