//! Client subcommands for operators and scripts: publish JSON lines from stdin, subscribe to JSON lines on
//! stdout, resend history, manage streams and permissions on chain. They talk to a node's HTTP and
//! WebSocket APIs (API.md) and to the chain, like any other client.

use std::{
    io::{BufRead, Write},
    path::PathBuf,
};

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use futures::{SinkExt, StreamExt};
use rivulet_contracts::{
    Contracts, Deployment, NewProduct, PermissionKind, Sender, StreamMetadata, to_alloy,
};
use rivulet_protocol::{
    Address, ChainId, ChainSigner, ContentType, Limits, MessageType, Partition, Signer, StreamId,
    StreamPartId, decode_verified,
};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use crate::node::now_ms;

/// Where the node and the chain are, and who the client is.
#[derive(Debug, Clone, Args)]
pub(crate) struct ClientArgs {
    /// The node's HTTP API.
    #[arg(
        long,
        env = "RIVULET_NODE",
        default_value = "http://127.0.0.1:7170",
        global = true
    )]
    node: String,
    /// Private key (hex) that signs events and transactions.
    #[arg(
        long,
        env = "RIVULET_PRIVATE_KEY",
        hide_env_values = true,
        global = true
    )]
    private_key: Option<String>,
    /// The deployment file (for stream and permission commands).
    #[arg(
        long = "chain.deployment",
        env = "RIVULET_DEPLOYMENT",
        default_value = ".rivulet/deployment.json",
        global = true
    )]
    deployment: PathBuf,
}

/// Stream commands.
#[derive(Debug, Subcommand)]
pub(crate) enum StreamCommand {
    /// Create `<your address>/<path>`; prints the stream id.
    Create {
        /// The path after your address.
        path: String,
        /// A human name.
        #[arg(long, default_value = "")]
        name: String,
        /// A description.
        #[arg(long, default_value = "")]
        description: String,
        /// Partitions, 1..=100.
        #[arg(long, default_value_t = 1)]
        partitions: u32,
    },
    /// Show a stream as JSON.
    Show {
        /// The stream id.
        stream: StreamId,
    },
    /// Streams whose id, name or description contains the text.
    Search {
        /// Text to look for.
        text: String,
    },
}

/// Marketplace commands.
#[derive(Debug, Subcommand)]
pub(crate) enum ProductCommand {
    /// List a product over streams you hold grant on (the marketplace is given grant on them first when
    /// it lacks it); prints the product id. You receive the payments.
    Create {
        /// The streams a licence covers (repeatable).
        #[arg(long = "stream", required = true)]
        streams: Vec<StreamId>,
        /// Price in DATA wei per second of licence.
        #[arg(long)]
        price_per_second: String,
        /// The shortest licence sold, seconds.
        #[arg(long, default_value_t = 60)]
        minimum_seconds: u64,
        /// A human name.
        #[arg(long)]
        name: String,
        /// A description.
        #[arg(long, default_value = "")]
        description: String,
        /// A category (e.g. environment, mobility).
        #[arg(long, default_value = "")]
        category: String,
    },
    /// Every product, as JSON lines.
    List,
}

fn signer(args: &ClientArgs) -> Result<Signer> {
    let key = args
        .private_key
        .as_deref()
        .context("give --private-key (or RIVULET_PRIVATE_KEY)")?;
    Signer::from_hex(key).map_err(|e| anyhow::anyhow!("--private-key: {e}"))
}

async fn chain(args: &ClientArgs, sign: bool) -> Result<Contracts> {
    let deployment = Deployment::load(&args.deployment)?;
    let sender = if sign {
        let key = args
            .private_key
            .as_deref()
            .context("give --private-key (or RIVULET_PRIVATE_KEY)")?;
        Sender::Key(Signer::from_hex(key.trim()).context("--private-key is not a hex key")?)
    } else {
        Sender::None
    };
    Ok(Contracts::connect_http(deployment, None, sender).await?)
}

fn print(value: &Value) -> Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{value}")?;
    out.flush()?;
    Ok(())
}

/// `publish`: each stdin line is one event's JSON content; prints one result line per event.
pub(crate) async fn publish(args: &ClientArgs, stream: &StreamId, partition: u32) -> Result<()> {
    let signer = signer(args)?;
    let part = StreamPartId::new(stream.clone(), Partition::new(partition)?);
    let http = reqwest::Client::new();
    let chain_id = ChainId::new(format!("cli-{:x}", now_ms()))?;
    let mut chains = ChainSigner::new(signer, chain_id);
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
        let wire = chains
            .sign_next(
                &part,
                now_ms(),
                MessageType::Data,
                ContentType::Json,
                line.into_bytes(),
                None,
                &mut rand::rng(),
            )?
            .encode()?;
        let response = http
            .post(format!("{}/api/v1/publish", args.node))
            .header("content-type", "application/octet-stream")
            .body(wire)
            .send()
            .await
            .with_context(|| format!("cannot reach the node at {}", args.node))?;
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        if !status.is_success() {
            bail!(
                "line {}: refused ({status}): {}",
                n + 1,
                body["message"].as_str().unwrap_or("no reason given")
            );
        }
        print(&body)?;
    }
    Ok(())
}

/// `subscribe`: prints each verified event as a JSON line; stops after `count` events when given.
pub(crate) async fn subscribe(
    args: &ClientArgs,
    stream: &StreamId,
    partition: u32,
    count: Option<u64>,
) -> Result<()> {
    let url = format!("{}/api/v1/ws", args.node.replacen("http", "ws", 1));
    let (mut ws, _) = tokio_tungstenite::connect_async_with_config(&url, None, true)
        .await
        .with_context(|| format!("cannot connect to {url}"))?;
    let mut authed = args.private_key.is_none();
    let signer = args
        .private_key
        .as_ref()
        .map(|_| signer(args))
        .transpose()?;
    let mut seen = 0u64;
    while let Some(frame) = ws.next().await {
        let Message::Text(text) = frame? else {
            continue;
        };
        let f: Value = serde_json::from_str(&text)?;
        match f["type"].as_str() {
            Some("challenge") => {
                if let Some(s) = &signer {
                    let sig = s.sign_personal(f["text"].as_str().unwrap_or_default().as_bytes());
                    let auth = json!({ "type": "auth", "address": s.address().to_string(), "signature": hex::encode(sig.0) });
                    ws.send(Message::Text(auth.to_string().into())).await?;
                } else {
                    let sub = json!({ "type": "subscribe", "stream": stream.as_str(), "partition": partition });
                    ws.send(Message::Text(sub.to_string().into())).await?;
                }
            }
            Some("authenticated") if !authed => {
                authed = true;
                let sub = json!({ "type": "subscribe", "stream": stream.as_str(), "partition": partition });
                ws.send(Message::Text(sub.to_string().into())).await?;
            }
            Some("subscribed") => eprintln!("subscribed to {}", f["part"]),
            Some("message") => {
                let m = &f["message"];
                let wire = hex::decode(m["wire"].as_str().unwrap_or_default()).unwrap_or_default();
                match decode_verified(&wire, &Limits::default()) {
                    Ok(_) => {
                        print(m)?;
                        seen += 1;
                        if count.is_some_and(|c| seen >= c) {
                            return Ok(());
                        }
                    }
                    Err(e) => eprintln!("dropped an event that does not verify: {e}"),
                }
            }
            Some("unsubscribed") => bail!(
                "unsubscribed: {}",
                f["reason"].as_str().unwrap_or("by request")
            ),
            Some("error") => bail!(
                "{}: {}",
                f["error"].as_str().unwrap_or("error"),
                f["message"].as_str().unwrap_or("")
            ),
            _ => {}
        }
    }
    Ok(())
}

/// `resend`: prints a stored history as JSON lines.
pub(crate) async fn resend(
    args: &ClientArgs,
    stream: &StreamId,
    partition: u32,
    last: u32,
) -> Result<()> {
    let response = reqwest::Client::new()
        .get(format!("{}/api/v1/history", args.node))
        .query(&[
            ("stream", stream.as_str().to_owned()),
            ("partition", partition.to_string()),
            ("last", last.to_string()),
        ])
        .send()
        .await
        .with_context(|| format!("cannot reach the node at {}", args.node))?;
    let status = response.status();
    let body: Value = response.json().await?;
    if !status.is_success() {
        bail!("{}", body["message"].as_str().unwrap_or("the node refused"));
    }
    for m in body["messages"].as_array().into_iter().flatten() {
        print(m)?;
    }
    Ok(())
}

/// `stream …`.
pub(crate) async fn stream(args: &ClientArgs, command: &StreamCommand) -> Result<()> {
    match command {
        StreamCommand::Create {
            path,
            name,
            description,
            partitions,
        } => {
            let client = chain(args, true).await?;
            let metadata = StreamMetadata {
                partitions: *partitions,
                ..StreamMetadata::named(name, description)
            };
            let id = client.create_stream(path, &metadata).await?;
            print(&json!({ "streamId": id.as_str() }))
        }
        StreamCommand::Show { stream } => {
            let client = chain(args, false).await?;
            match client.get_stream(stream).await? {
                Some(info) => print(&serde_json::to_value(info)?),
                None => bail!("no stream {stream}"),
            }
        }
        StreamCommand::Search { text } => {
            let client = chain(args, false).await?;
            for info in client.search_streams(text).await? {
                print(&serde_json::to_value(info)?)?;
            }
            Ok(())
        }
    }
}

/// `product …`.
pub(crate) async fn product(args: &ClientArgs, command: &ProductCommand) -> Result<()> {
    match command {
        ProductCommand::Create {
            streams,
            price_per_second,
            minimum_seconds,
            name,
            description,
            category,
        } => {
            let price = price_per_second.parse().map_err(|e| {
                anyhow::anyhow!(
                    "--price-per-second {price_per_second:?} is not a whole number of wei: {e}"
                )
            })?;
            let client = chain(args, true).await?;
            let seller = client.sender().context("listing needs a key")?;
            let marketplace = client.deployment().marketplace;
            for stream in streams {
                if !client
                    .get_permissions(stream, marketplace)
                    .await?
                    .allows(PermissionKind::Grant, u64::MAX)
                {
                    client
                        .grant(stream, marketplace, PermissionKind::Grant)
                        .await
                        .with_context(|| format!("letting the marketplace grant on {stream}"))?;
                }
            }
            let id = client
                .create_product(&NewProduct {
                    streams: streams.clone(),
                    beneficiary: seller,
                    price_per_second: price,
                    minimum_seconds: *minimum_seconds,
                    metadata:
                        json!({ "name": name, "description": description, "category": category })
                            .to_string(),
                    terms_uri: String::new(),
                    terms_hash: Default::default(),
                })
                .await?;
            print(&json!({ "productId": id }))
        }
        ProductCommand::List => {
            let client = chain(args, false).await?;
            for p in client.list_products().await? {
                print(&json!({
                    "id": p.id,
                    "owner": p.owner.to_checksum(None),
                    "pricePerSecond": p.price_per_second.to_string(),
                    "minimumSeconds": p.minimum_seconds,
                    "active": p.active,
                    "metadata": serde_json::from_str::<Value>(&p.metadata).unwrap_or(Value::String(p.metadata.clone())),
                    "streams": p.streams,
                }))?;
            }
            Ok(())
        }
    }
}

/// `grant` / `revoke`.
pub(crate) async fn permission(
    args: &ClientArgs,
    stream: &StreamId,
    user: &str,
    kind: &str,
    grant: bool,
) -> Result<()> {
    let kind: PermissionKind = kind.parse()?;
    let user: Address = match user {
        "public" | "anyone" => Address::ZERO,
        other => other
            .parse()
            .map_err(|e| anyhow::anyhow!("user {other:?}: {e}"))?,
    };
    let client = chain(args, true).await?;
    if grant {
        client.grant(stream, to_alloy(user), kind).await?;
    } else {
        client.revoke(stream, to_alloy(user), kind).await?;
    }
    print(
        &json!({ "streamId": stream.as_str(), "user": user.to_checksum(), "permission": kind, "granted": grant }),
    )
}
