//! `rivulet-scale adversary`: a misbehaving node for scale runs, on the relay's own `NodeBehaviour`
//! (so to its peers it looks like any relay: identify, kademlia, gossipsub). It finds peers as relays
//! do (`rivulet_network::discovery`), joins the given stream parts' topics (taking mesh places), and:
//!
//! - `drop`: forwards nothing — every message it receives is reported `Ignore`, so gossipsub never
//!   passes it on — and never answers history requests (it holds them until they time out);
//! - `forge`: the same, and injects events into each topic: a real event with its content altered
//!   (the signature no longer holds), a real event's id and body under another signature, an event
//!   claiming the real publisher with a made-up signature, and a well-signed event from a key without
//!   publish permission. Honest nodes must refuse all of them.
//!
//! Its counts go to `--stats` (JSON, rewritten every second).

use std::{
    collections::{HashMap, VecDeque},
    path::PathBuf,
    sync::Arc,
    time::{Duration, Instant},
};

use anyhow::{Context, Result};
use clap::{Args, ValueEnum};
use futures::StreamExt;
use rivulet_network::{
    NetworkConfig, NodeBehaviour, NodeBehaviourEvent, build_swarm,
    discovery::Discovery,
    latency::LatencyModel,
    libp2p::{
        Multiaddr, Swarm, gossipsub, identify, identity::Keypair, request_response,
        swarm::SwarmEvent,
    },
    part_of_topic,
};
use rivulet_protocol::{
    ChainId, ChainSigner, ContentType, Limits, MessageType, Signature, Signer, StreamMessage,
    StreamPartId,
};
use serde_json::json;

use crate::probe::now_ms;

/// How it misbehaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Mode {
    /// Forward nothing.
    Drop,
    /// Forward nothing, and inject forged and unpermitted events.
    Forge,
}

/// `rivulet-scale adversary` flags.
#[derive(Debug, Clone, Args)]
pub(crate) struct AdversaryArgs {
    /// How it misbehaves.
    #[arg(long, value_enum)]
    mode: Mode,
    /// libp2p listen address, e.g. /ip4/10.200.0.9/tcp/7171.
    #[arg(long)]
    listen: Multiaddr,
    /// Bootstrap peer (repeatable), ending in /p2p/<peer id>.
    #[arg(long = "bootstrap")]
    bootstrap: Vec<Multiaddr>,
    /// A stream part to join (repeatable), `<stream id>#<partition>`.
    #[arg(long = "part")]
    parts: Vec<StreamPartId>,
    /// The latency model file (as the relay nodes' `--network.latency-model`).
    #[arg(long)]
    latency_model: Option<PathBuf>,
    /// Forged events per part per second (`forge`).
    #[arg(long, default_value_t = 5.0)]
    forge_rate: f64,
    /// Where to write its counts (JSON).
    #[arg(long)]
    stats: Option<PathBuf>,
}

/// What it did.
#[derive(Debug, Default)]
struct Counts {
    received: u64,
    altered: u64,
    shadow: u64,
    bad_signature: u64,
    unpermitted: u64,
    publish_errors: u64,
    history_held: u64,
}

/// Runs until killed.
pub(crate) async fn run(args: AdversaryArgs) -> Result<()> {
    let latency_model = match &args.latency_model {
        Some(path) => {
            let model: LatencyModel = serde_json::from_str(&std::fs::read_to_string(path)?)
                .with_context(|| format!("latency model {}", path.display()))?;
            model.check()?;
            Some(Arc::new(model))
        }
        None => None,
    };
    let config = NetworkConfig {
        latency_model,
        ..NetworkConfig::default()
    };
    let mut swarm = build_swarm(Keypair::generate_ed25519(), config).await?;
    swarm.listen_on(args.listen.clone())?;
    let mut discovery = Discovery::start(&mut swarm, args.bootstrap.clone());
    for part in &args.parts {
        swarm.behaviour_mut().subscribe(part)?;
        discovery.joined(&mut swarm, part);
    }
    let mut counts = Counts::default();
    // The last real event seen per part, to alter.
    let mut captured: HashMap<StreamPartId, StreamMessage> = HashMap::new();
    let mut held = VecDeque::new();
    let outsider = Signer::random(&mut rand::rng());
    let mut outsider_chain = ChainSigner::new(outsider, ChainId::new("adversary")?);
    let mut rounds = tokio::time::interval(Duration::from_secs(5));
    let mut forge_tick =
        tokio::time::interval(Duration::from_secs_f64(1.0 / args.forge_rate.max(0.01)));
    let mut stats_tick = tokio::time::interval(Duration::from_secs(1));
    let mut kind = 0usize;
    loop {
        tokio::select! {
            event = swarm.select_next_some() => match event {
                SwarmEvent::Behaviour(NodeBehaviourEvent::Gossipsub(gossipsub::Event::Message {
                    propagation_source, message_id, message,
                })) => {
                    counts.received += 1;
                    if let (Some(part), Ok(m)) = (
                        part_of_topic(&message.topic),
                        StreamMessage::decode(&message.data, &Limits::default()),
                    ) {
                        captured.insert(part, m);
                    }
                    swarm.behaviour_mut().report(
                        &message_id,
                        &propagation_source,
                        gossipsub::MessageAcceptance::Ignore,
                    );
                }
                SwarmEvent::Behaviour(NodeBehaviourEvent::Identify(identify::Event::Received {
                    peer_id, info, ..
                })) => Discovery::identified(&mut swarm, peer_id, info),
                SwarmEvent::Behaviour(NodeBehaviourEvent::Kademlia(event)) => {
                    discovery.on_kademlia(&mut swarm, &event)
                }
                SwarmEvent::Behaviour(NodeBehaviourEvent::History(request_response::Event::Message {
                    message: request_response::Message::Request { channel, .. }, ..
                })) => {
                    // Never answered: held until the asker gives up.
                    counts.history_held += 1;
                    held.push_back((Instant::now(), channel));
                }
                _ => {}
            },
            _ = rounds.tick() => {
                discovery.round(&mut swarm);
                while held.front().is_some_and(|(at, _)| at.elapsed() > Duration::from_secs(40)) {
                    held.pop_front();
                }
            }
            _ = forge_tick.tick(), if args.mode == Mode::Forge => {
                for part in &args.parts {
                    kind += 1;
                    let wire = forge(kind, part, captured.get(part), &mut outsider_chain, &mut counts);
                    if let Some(wire) = wire
                        && swarm.behaviour_mut().publish(part, wire).is_err()
                    {
                        counts.publish_errors += 1;
                    }
                }
            }
            _ = stats_tick.tick() => {
                if let Some(path) = &args.stats {
                    write_stats(path, args.mode, &swarm, &counts);
                }
            }
        }
    }
}

/// The `kind`-th forgery for `part`: rotating through altered content, a shadow of a real id, a
/// made-up signature for the real publisher, and an unpermitted signer. The first three need a real
/// event of the part (`real`); without one, the unpermitted kind is used.
fn forge(
    kind: usize,
    part: &StreamPartId,
    real: Option<&StreamMessage>,
    outsider: &mut ChainSigner,
    counts: &mut Counts,
) -> Option<Vec<u8>> {
    let mut rng = rand::rng();
    match (kind % 4, real) {
        (0, Some(real)) => {
            // Altered content under the original signature.
            let mut m = real.clone();
            m.body.content.push(b'!');
            counts.altered += 1;
            m.encode().ok()
        }
        (1, Some(real)) => {
            // The real id and body under another signature.
            let mut m = real.clone();
            m.signature.0[10] ^= 0x55;
            counts.shadow += 1;
            m.encode().ok()
        }
        (2, Some(real)) => {
            // A new event claiming the real publisher, with a made-up signature.
            let mut m = real.clone();
            m.body.id.timestamp = now_ms();
            m.body.id.sequence_number = m.body.id.sequence_number.wrapping_add(1);
            m.body.prev = Some(real.message_ref());
            let mut sig = [0u8; 65];
            rand::Rng::fill_bytes(&mut rng, &mut sig[..64]);
            sig[64] = 27;
            m.signature = Signature(sig);
            counts.bad_signature += 1;
            m.encode().ok()
        }
        _ => {
            // Well signed, by a key without publish permission.
            counts.unpermitted += 1;
            let content = crate::probe::content(u64::MAX - kind as u64, 200);
            outsider
                .sign_next(
                    part,
                    now_ms(),
                    MessageType::Data,
                    ContentType::Binary,
                    content,
                    None,
                    &mut rng,
                )
                .ok()?
                .encode()
                .ok()
        }
    }
}

fn write_stats(path: &PathBuf, mode: Mode, swarm: &Swarm<NodeBehaviour>, c: &Counts) {
    let stats = json!({
        "mode": format!("{mode:?}").to_lowercase(),
        "peers": swarm.connected_peers().count(),
        "received": c.received,
        "injected": {
            "alteredContent": c.altered,
            "shadowedId": c.shadow,
            "madeUpSignature": c.bad_signature,
            "unpermittedSigner": c.unpermitted,
        },
        "publishErrors": c.publish_errors,
        "historyRequestsHeld": c.history_held,
    });
    let tmp = path.with_extension("tmp");
    if std::fs::write(&tmp, stats.to_string()).is_ok() {
        let _ = std::fs::rename(&tmp, path);
    }
}
