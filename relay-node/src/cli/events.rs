//! `publish`, `subscribe` and `resend`: the command line as a light client of a node (over libp2p, the
//! node's address read from its `/health`), with the chain at hand — so events to a stream that is not
//! public are encrypted end to end, and readers decrypt what they may read. Group keys are kept in a
//! vault across runs.

use std::{io::BufRead, sync::Arc, time::Duration};

use anyhow::{Context, Result, bail};
use rivulet_client::{
    Client, ClientConfig, ContractsAccess, FileVault, HistoryQuery, PublishOptions, StreamAccess,
    SubscriptionEvent,
};
use rivulet_protocol::{
    ContentType, Encryption, Partition, Signer, StreamId, StreamMessage, StreamPartId,
};
use serde_json::{Value, json};

use super::{ClientArgs, chain, print, signer};

/// A light client of `args.node` (its TCP address from `/health`), signing with `signer` (a random
/// key when `None`: it reads public streams only), with the chain and a key vault.
async fn client(args: &ClientArgs, signer: Option<&Signer>) -> Result<Client> {
    let health: Value = reqwest::get(format!("{}/health", args.node))
        .await
        .with_context(|| format!("cannot reach the node at {}", args.node))?
        .json()
        .await
        .with_context(|| {
            format!(
                "{} answered /health with something else than JSON",
                args.node
            )
        })?;
    let addresses: Vec<String> = health["listen"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|a| a.as_str().map(str::to_owned))
        .collect();
    let address = addresses
        .iter()
        .find(|a| a.contains("/tcp/") && !a.contains("/ws"))
        .or_else(|| addresses.first())
        .with_context(|| format!("{} names no libp2p address in /health", args.node))?;
    // Without the chain (no deployment file) a reader still reads; a publisher then encrypts
    // everything, since it cannot tell which streams are public.
    let access = match chain(args, false).await {
        Ok(contracts) => Some(Arc::new(ContractsAccess::new(contracts)) as Arc<dyn StreamAccess>),
        Err(e) if signer.is_none() => {
            tracing::debug!("no chain access: {e:#}");
            None
        }
        Err(e) => return Err(e),
    };
    let key_vault = signer.map(|s| {
        let path = args
            .key_vault
            .join(format!("{}.keys", s.address().to_checksum()));
        Arc::new(FileVault::new(path)) as Arc<dyn rivulet_client::KeyVault>
    });
    Ok(Client::new(ClientConfig {
        nodes: vec![address.parse().with_context(|| format!("{address:?}"))?],
        private_key: signer.map(Signer::to_bytes),
        request_timeout: Duration::from_secs(30),
        key_vault,
        access,
        ..ClientConfig::default()
    })?)
}

/// An event as a JSON line: its fields, and its content (decrypted, when the reader could).
fn event_json(m: &StreamMessage, encrypted: bool) -> Value {
    let id = m.id();
    let content = match m.body.content_type {
        ContentType::Json => serde_json::from_slice(&m.body.content)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&m.body.content).into())),
        _ => Value::String(hex::encode(&m.body.content)),
    };
    json!({
        "streamId": id.stream_id.as_str(),
        "partition": id.partition.get(),
        "timestamp": id.timestamp,
        "sequenceNumber": id.sequence_number,
        "publisher": id.publisher.to_checksum(),
        "chainId": id.chain_id.as_str(),
        "encrypted": encrypted,
        "content": content,
    })
}

/// `publish`: each stdin line is one event's JSON content; prints one result line per event.
pub(crate) async fn publish(args: &ClientArgs, stream: &StreamId, partition: u32) -> Result<()> {
    let signer = signer(args)?;
    let client = client(args, Some(&signer)).await?;
    let stdin = std::io::stdin();
    for (n, line) in stdin.lock().lines().enumerate() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        if let Err(e) = serde_json::from_str::<Value>(&line) {
            eprintln!("line {}: not JSON ({e}); skipped", n + 1);
            continue;
        }
        let options = PublishOptions {
            partition: Some(partition),
            ..PublishOptions::default()
        };
        let published = client
            .publish(stream, ContentType::Json, line.into_bytes(), options)
            .await
            .map_err(|e| anyhow::anyhow!("line {}: refused ({}): {e}", n + 1, e.code()))?;
        print(&json!({
            "part": published.message.id().stream_part().to_string(),
            "duplicate": published.duplicate,
            "stored": published.stored,
            "encrypted": published.message.body.encryption != Encryption::None,
        }))?;
    }
    // Readers may still ask for the keys of what went out.
    if client.key_vault_error().is_none() {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    client.destroy();
    Ok(())
}

/// `subscribe`: prints each verified (and, where the reader may, decrypted) event as a JSON line; stops
/// after `count` events when given.
pub(crate) async fn subscribe(
    args: &ClientArgs,
    stream: &StreamId,
    partition: u32,
    count: Option<u64>,
) -> Result<()> {
    let signer = args
        .private_key
        .as_ref()
        .map(|_| signer(args))
        .transpose()?;
    let client = client(args, signer.as_ref()).await?;
    let part = StreamPartId::new(stream.clone(), Partition::new(partition)?);
    let mut sub = client
        .subscribe(&part, None)
        .await
        .map_err(|e| anyhow::anyhow!("{}: {e}", e.code()))?;
    eprintln!("subscribed to {part}");
    let mut seen = 0u64;
    while let Some(event) = sub.next().await {
        match event {
            // A late one was reported undecryptable before its key came: printed when it can be read.
            SubscriptionEvent::Message(m) | SubscriptionEvent::Late(m) => {
                print(&event_json(&m, sub_encrypted(&m)))?;
                seen += 1;
                if count.is_some_and(|c| seen >= c) {
                    break;
                }
            }
            SubscriptionEvent::Ended(reason) => bail!("unsubscribed: {reason}"),
            SubscriptionEvent::Gap { publisher } => {
                eprintln!("events of {publisher} could not be recovered; going on")
            }
            SubscriptionEvent::Undecryptable {
                publisher, reason, ..
            } => eprintln!("an event of {publisher} could not be decrypted: {reason}"),
        }
    }
    client.destroy();
    Ok(())
}

/// Whether an event handed out by a subscription travelled encrypted (it names the key it had).
fn sub_encrypted(m: &StreamMessage) -> bool {
    m.body.encryption != Encryption::None
}

/// Checks a resend's answer against the coordinator's final checksums — from its first event to its last,
/// or, when it is the part's whole history as of `whole_at` (ms), from when the network began storing the
/// stream to then; says on stderr what it could check, and fails on a mismatch.
async fn verify_history(
    args: &ClientArgs,
    part: &StreamPartId,
    events: &[rivulet_protocol::StreamMessage],
    whole_at: Option<u64>,
) -> Result<()> {
    let span = events
        .first()
        .zip(events.last())
        .map(|(first, last)| (first.id().timestamp, last.id().timestamp));
    if span.is_none() && whole_at.is_none() {
        eprintln!("nothing to verify: the answer is empty");
        return Ok(());
    }
    let wires = events
        .iter()
        .map(|e| e.encode())
        .collect::<Result<Vec<_>, _>>()?;
    let coordinator = super::chain(args, false).await?.coordinator()?;
    let range = if let Some(at) = whole_at {
        let storage = coordinator
            .storage_of(&part.stream_id)
            .await?
            .with_context(|| {
                format!(
                    "the network does not store {}: no checksums to verify against",
                    part.stream_id
                )
            })?;
        (storage.since * 1000, at)
    } else {
        span.unwrap_or_default()
    };
    let checked = coordinator
        .verify_history(part, range.0, range.1, &wires)
        .await
        .context("the storage node's answer does not verify")?;
    eprintln!(
        "verified against the final checksums: {} intervals; not final (nothing to check against): {}",
        checked.verified.len(),
        checked.pending.len()
    );
    Ok(())
}

/// `resend`: prints the last `last` stored events as JSON lines, decrypted where the reader may.
pub(crate) async fn resend(
    args: &ClientArgs,
    stream: &StreamId,
    partition: u32,
    last: u32,
    verify: bool,
) -> Result<()> {
    let signer = args
        .private_key
        .as_ref()
        .map(|_| signer(args))
        .transpose()?;
    let client = client(args, signer.as_ref()).await?;
    let part = StreamPartId::new(stream.clone(), Partition::new(partition)?);
    // How many there are, then the same window through a subscription, which decrypts.
    let asked_at = rivulet_client::runtime::now_ms();
    let stored = client
        .resend(&part, HistoryQuery::Last { n: last })
        .await
        .map_err(|e| anyhow::anyhow!("{}: {e}", e.code()))?;
    if verify {
        // Fewer than asked for: the answer is the part's whole history, from when the network began
        // storing the stream.
        let whole_at = (stored.len() < last as usize).then_some(asked_at);
        verify_history(args, &part, &stored, whole_at).await?;
    }
    let mut sub = client
        .subscribe(&part, Some(last))
        .await
        .map_err(|e| anyhow::anyhow!("{}: {e}", e.code()))?;
    let mut printed = 0;
    while printed < stored.len() {
        match tokio::time::timeout(Duration::from_secs(15), sub.next()).await {
            Ok(Some(SubscriptionEvent::Message(m))) => {
                print(&event_json(&m, sub_encrypted(&m)))?;
                printed += 1;
            }
            Ok(Some(SubscriptionEvent::Undecryptable {
                publisher, reason, ..
            })) => {
                eprintln!("an event of {publisher} could not be decrypted: {reason}");
                printed += 1;
            }
            Ok(Some(_)) => {}
            Ok(None) | Err(_) => break,
        }
    }
    client.destroy();
    Ok(())
}
