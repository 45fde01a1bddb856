//! `rivulet-deploy`: puts Rivulet's contracts on a chain and writes the deployment file that relay nodes,
//! the SDK and the dapp read.
//!
//! On the local chain (the default, `http://127.0.0.1:8545`) it can start anvil itself (`--start-anvil`),
//! deploys from anvil's first development account and funds the development accounts with DATA. Run again,
//! it reuses a deployment that is still on the chain instead of deploying twice.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::Parser;
use rivulet_contracts::{Address, Chain, Contracts, Deployment, Rpc, Sender, U256, to_alloy};
use rivulet_deploy::{
    CoordinatorSetup, deploy_with,
    dev::{Anvil, DEV_KEYS, LOCAL_CHAIN_ID, anvil_binary, dev_key, is_listening},
};
use rivulet_protocol::Signer;

/// Deploy Rivulet's contracts and write the deployment file.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// JSON-RPC endpoint of the chain.
    #[arg(long, env = "RIVULET_RPC_URL", default_value = "http://127.0.0.1:8545")]
    rpc_url: String,
    /// Where to write the deployment file.
    #[arg(
        long,
        env = "RIVULET_DEPLOYMENT",
        default_value = ".rivulet/deployment.json"
    )]
    out: PathBuf,
    /// Deployer private key (hex). Defaults to anvil's first development key on the local chain only.
    #[arg(long, env = "RIVULET_DEPLOYER_KEY", hide_env_values = true)]
    private_key: Option<String>,
    /// Accounts to mint DATA to (repeatable). On the local chain these come on top of anvil's ten
    /// development accounts, and each that holds less than 1 ETH is given 100 ETH for gas (e.g. relay
    /// nodes' accounts, from `relay-node node account`).
    #[arg(long = "fund", value_name = "ADDRESS")]
    fund: Vec<Address>,
    /// DATA (whole tokens) minted to each funded account.
    #[arg(long, default_value_t = 1_000_000)]
    fund_amount: u64,
    /// Start anvil (detached, logging next to the deployment file) when nothing answers at a loopback
    /// `--rpc-url`.
    #[arg(long)]
    start_anvil: bool,
    /// The network coordinator's timing and rewards: `development` (seconds; the default on the local
    /// chain) or `production` (hours; the default elsewhere). See `CoordinatorSetup`.
    #[arg(long, value_enum)]
    coordinator_timing: Option<Timing>,
    /// Deploy anew even if the deployment file names contracts that are on the chain.
    #[arg(long)]
    force: bool,
}

/// A [`CoordinatorSetup`] by name.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
enum Timing {
    Development,
    Production,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<()> {
    let args = Args::parse();
    if args.fund_amount == 0 {
        bail!("--fund-amount must be at least 1 DATA");
    }
    if let Some(dir) = args.out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    if args.start_anvil {
        start_anvil_if_needed(&args.rpc_url, &args.out)?;
    }
    let existing = if args.force {
        None
    } else {
        Deployment::load(&args.out).ok()
    };
    if let Some(existing) = existing {
        match Contracts::connect_http(existing.clone(), Some(&args.rpc_url), Sender::None).await {
            Ok(_) => {
                println!(
                    "already deployed on chain {} (see {}); --force deploys anew",
                    existing.chain_id,
                    args.out.display()
                );
                if !args.fund.is_empty() {
                    fund_existing(&args, existing).await?;
                }
                return Ok(());
            }
            Err(e) => eprintln!(
                "the deployment in {} is not usable here ({e}); deploying anew",
                args.out.display()
            ),
        }
    }
    let rpc = Rpc::http(&args.rpc_url).context("--rpc-url")?;
    let chain_id = Chain::connect(rpc.clone(), Sender::None)
        .await
        .with_context(|| format!("cannot reach the chain at {}", args.rpc_url))?
        .chain_id();
    let local = chain_id == LOCAL_CHAIN_ID;
    let key = match (&args.private_key, local) {
        (Some(k), _) => k.clone(),
        (None, true) => DEV_KEYS[0].to_owned(),
        (None, false) => bail!(
            "chain {chain_id} is not the local chain: give --private-key (or RIVULET_DEPLOYER_KEY)"
        ),
    };
    let signer =
        Signer::from_hex(key.trim()).context("--private-key is not a hex secp256k1 key")?;
    let mut fund: Vec<Address> = Vec::new();
    if local {
        fund.extend((0..DEV_KEYS.len()).map(|i| to_alloy(dev_key(i).address())));
        for account in &args.fund {
            give_gas(&rpc, *account).await?;
        }
    }
    fund.extend(
        args.fund
            .iter()
            .filter(|a| !fund.contains(a))
            .copied()
            .collect::<Vec<_>>(),
    );
    let amount = U256::from(args.fund_amount) * U256::from(10u64).pow(U256::from(18u64));
    let deployer = to_alloy(signer.address());
    let chain = Chain::connect(rpc, Sender::Key(signer)).await?;
    let setup = match args.coordinator_timing {
        Some(Timing::Development) => CoordinatorSetup::development(),
        Some(Timing::Production) => CoordinatorSetup::production(),
        None if local => CoordinatorSetup::development(),
        None => CoordinatorSetup::production(),
    };
    let deployment = deploy_with(&chain, &args.rpc_url, &fund, amount, &setup)
        .await
        .context("deployment failed")?;
    deployment.save(&args.out)?;
    println!(
        "deployed on chain {} by {deployer}:\n  DataToken      {}\n  StreamRegistry {}\n  Marketplace    {}\n  Coordinator    {} ({} s intervals)\nfunded {} accounts with {} DATA each; wrote {}",
        deployment.chain_id,
        deployment.data_token,
        deployment.stream_registry,
        deployment.marketplace,
        deployment
            .coordinator
            .map_or_else(|| "none".to_owned(), |a| a.to_string()),
        setup.checksum_interval,
        fund.len(),
        args.fund_amount,
        args.out.display()
    );
    Ok(())
}

/// Funds `--fund` accounts on a deployment that is already there (the local chain only: DATA minted
/// by the deployer, who owns DATA, and ETH for gas).
async fn fund_existing(args: &Args, deployment: Deployment) -> Result<()> {
    if deployment.chain_id != LOCAL_CHAIN_ID {
        bail!("--fund on an existing deployment works on the local chain only");
    }
    let rpc = Rpc::http(&args.rpc_url).context("--rpc-url")?;
    let key = args
        .private_key
        .clone()
        .unwrap_or_else(|| DEV_KEYS[0].to_owned());
    let signer =
        Signer::from_hex(key.trim()).context("--private-key is not a hex secp256k1 key")?;
    let amount = U256::from(args.fund_amount) * U256::from(10u64).pow(U256::from(18u64));
    let contracts = Contracts::connect(rpc.clone(), deployment, Sender::Key(signer)).await?;
    for account in &args.fund {
        give_gas(&rpc, *account).await?;
        contracts
            .faucet(*account, amount)
            .await
            .with_context(|| format!("minting DATA to {account}"))?;
    }
    println!(
        "funded {} accounts with {} DATA each (and ETH for gas)",
        args.fund.len(),
        args.fund_amount
    );
    Ok(())
}

/// Gives `account` 100 ETH (anvil's `anvil_setBalance`, the local chain only) when it holds less than 1.
async fn give_gas(rpc: &Rpc, account: Address) -> Result<()> {
    const ONE_ETH: u128 = 1_000_000_000_000_000_000;
    let balance = rpc
        .call(
            "eth_getBalance",
            serde_json::json!([account.to_string(), "latest"]),
        )
        .await
        .with_context(|| format!("balance of {account}"))?;
    let balance = balance
        .as_str()
        .and_then(|h| u128::from_str_radix(h.trim_start_matches("0x"), 16).ok())
        .unwrap_or(0);
    if balance < ONE_ETH {
        rpc.call(
            "anvil_setBalance",
            serde_json::json!([account.to_string(), format!("{:#x}", 100 * ONE_ETH)]),
        )
        .await
        .with_context(|| format!("giving {account} ETH"))?;
    }
    Ok(())
}

/// Starts anvil detached when nothing listens on the loopback port of `rpc_url`.
fn start_anvil_if_needed(rpc_url: &str, out: &Path) -> Result<()> {
    let url: reqwest::Url = rpc_url.parse().context("--rpc-url is not a URL")?;
    let host = url.host_str().unwrap_or_default();
    if !matches!(host, "127.0.0.1" | "localhost") {
        bail!("--start-anvil needs a loopback --rpc-url, not {host}");
    }
    let port = url
        .port_or_known_default()
        .context("--rpc-url has no port")?;
    if is_listening(port) {
        println!("a chain already answers on 127.0.0.1:{port}");
        return Ok(());
    }
    let dir = out
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let cwd = std::env::current_dir()?;
    let binary = anvil_binary(&cwd)?;
    let log = dir.join("anvil.log");
    let anvil = Anvil::spawn(&binary, Some(port), LOCAL_CHAIN_ID, Some(&log))?;
    let pid = anvil.detach().context("anvil has no process id")?;
    std::fs::write(dir.join("anvil.pid"), format!("{pid}\n"))?;
    println!(
        "started anvil on 127.0.0.1:{port} (pid {pid}, log {}); stop it with: kill {pid}",
        log.display()
    );
    Ok(())
}
