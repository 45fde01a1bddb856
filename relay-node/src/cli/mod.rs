//! Client subcommands for operators and scripts: publish JSON lines from stdin, subscribe to JSON lines on
//! stdout, resend history ([`events`]: a light client of the node, encrypting end to end what is not
//! public), manage streams, permissions and products on chain, and the network coordinator ([`network`]:
//! an operator's node and the network as a whole).

pub(crate) mod events;
pub(crate) mod network;

use std::{io::Write, path::PathBuf};

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use rivulet_contracts::{
    Contracts, Deployment, NewProduct, PermissionKind, Sender, StreamMetadata, to_alloy,
};
use rivulet_protocol::{Address, Signer, StreamId};
use serde_json::{Value, json};

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
    /// The directory where the client keeps its group keys, one file per address (sealed under its
    /// private key), so what it published stays readable across runs.
    #[arg(
        long = "key-vault",
        env = "RIVULET_KEY_VAULT",
        default_value = ".rivulet/keys",
        global = true
    )]
    key_vault: PathBuf,
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

pub(super) fn signer(args: &ClientArgs) -> Result<Signer> {
    let key = args
        .private_key
        .as_deref()
        .context("give --private-key (or RIVULET_PRIVATE_KEY)")?;
    Signer::from_hex(key).map_err(|e| anyhow::anyhow!("--private-key: {e}"))
}

pub(super) async fn chain(args: &ClientArgs, sign: bool) -> Result<Contracts> {
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

pub(super) fn print(value: &Value) -> Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{value}")?;
    out.flush()?;
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
