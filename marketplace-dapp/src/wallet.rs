//! Accounts: a wallet found by EIP-6963 discovery (or `window.ethereum`), connected over EIP-1193 and on
//! the deployment's chain; or, on the local chain, the labelled development account. Either way an
//! account has chain access (its transactions' steps reported as they happen) and a network client whose
//! session key the wallet authorised once, so relay nodes deliver what the account has licensed.

use std::{cell::RefCell, rc::Rc};

use alloy_primitives::Address;
use futures::StreamExt;
use js_sys::{Function, Reflect};
use rivulet_chain_lite::{LiteError, Registry, Rpc, Sender};
use rivulet_client::{Authorisation, Client, ClientConfig, authorisation_text};
use rivulet_protocol::Signer;
use serde_json::json;
use wasm_bindgen::{JsCast, JsValue, closure::Closure};
use wasm_bindgen_futures::spawn_local;
use yew::Callback;

use crate::{
    app::Config,
    model::{describe_step, plain_error},
};

/// anvil's development account 8 (its key is public; the local chain only): lets a newcomer try
/// everything without a wallet. The page labels it as such.
const DEV_ACCOUNT_KEY: &str = "0xdbda1821b80551c9d65939329250298aa3472ba22feea921c0cf5d620ea67b97";
/// The local development chain's id.
pub(crate) const LOCAL_CHAIN_ID: u64 = 31337;
/// How long a session key's authorisation lasts.
const SESSION_SECONDS: u64 = 24 * 3600;

/// A wallet the page found.
#[derive(Clone, Debug)]
pub(crate) struct Wallet {
    /// What it calls itself.
    pub(crate) name: String,
    /// Its EIP-6963 id (`rdns`), or `window.ethereum`.
    pub(crate) id: String,
    /// The EIP-1193 provider.
    pub(crate) provider: JsValue,
}

impl PartialEq for Wallet {
    fn eq(&self, other: &Wallet) -> bool {
        self.id == other.id
    }
}

/// Listens for wallets announcing themselves (EIP-6963) and asks them to; `window.ethereum` is offered
/// too when no wallet announces itself. `found` gets each one once.
pub(crate) fn discover(found: Callback<Wallet>) {
    let Some(window) = web_sys::window() else {
        return;
    };
    let announced = Rc::new(RefCell::new(false));
    let on_announce = {
        let announced = announced.clone();
        let found = found.clone();
        Closure::<dyn Fn(web_sys::Event)>::new(move |event: web_sys::Event| {
            let detail = Reflect::get(&event, &"detail".into()).unwrap_or(JsValue::UNDEFINED);
            let info = Reflect::get(&detail, &"info".into()).unwrap_or(JsValue::UNDEFINED);
            let text = |k: &str| {
                Reflect::get(&info, &k.into())
                    .ok()
                    .and_then(|v| v.as_string())
                    .unwrap_or_default()
            };
            let provider = Reflect::get(&detail, &"provider".into()).unwrap_or(JsValue::UNDEFINED);
            if provider.is_object() {
                *announced.borrow_mut() = true;
                let id = if text("rdns").is_empty() {
                    text("uuid")
                } else {
                    text("rdns")
                };
                found.emit(Wallet {
                    name: text("name"),
                    id,
                    provider,
                });
            }
        })
    };
    let _ = window.add_event_listener_with_callback(
        "eip6963:announceProvider",
        on_announce.as_ref().unchecked_ref(),
    );
    // Wallets answer for the page's lifetime.
    on_announce.forget();
    if let Ok(request) = web_sys::Event::new("eip6963:requestProvider") {
        let _ = window.dispatch_event(&request);
    }
    // Announcements arrive synchronously; a wallet that only injects `window.ethereum` is the fallback.
    if !*announced.borrow()
        && let Ok(provider) = Reflect::get(&window, &"ethereum".into())
        && provider.is_object()
    {
        found.emit(Wallet {
            name: "Browser wallet".into(),
            id: "window.ethereum".into(),
            provider,
        });
    }
}

/// Who is acting: an address with chain access and a network client that reads as it.
pub(crate) struct Account {
    /// The account.
    pub(crate) address: Address,
    /// The wallet's name, or the development account's label.
    pub(crate) label: String,
    /// Chain access, sending as the account.
    pub(crate) registry: Registry,
    /// The network client (its session key authorised by the account, or the account's own key).
    pub(crate) client: Client,
    /// Why the client reads anonymously, when the wallet did not authorise its session key.
    pub(crate) session_note: Option<String>,
    /// Who hears the transaction steps now (the component running the transaction).
    pub(crate) steps: Rc<RefCell<Option<StepLog>>>,
}

impl Account {
    /// The checksummed address.
    pub(crate) fn checksum(&self) -> String {
        self.address.to_checksum(None)
    }

    /// From now on tells `listener` every step so far, as sentences, each time one happens (the
    /// component that starts a transaction listens).
    pub(crate) fn listen(&self, listener: Callback<Vec<String>>) {
        *self.steps.borrow_mut() = Some(StepLog {
            steps: Vec::new(),
            listener,
        });
    }
}

/// The steps one listener has been told of.
pub(crate) struct StepLog {
    steps: Vec<String>,
    listener: Callback<Vec<String>>,
}

/// An account handed to components (compared by address and label).
#[derive(Clone)]
pub(crate) struct Buyer(pub(crate) Rc<Account>);

impl PartialEq for Buyer {
    fn eq(&self, other: &Buyer) -> bool {
        self.0.address == other.0.address && self.0.label == other.0.label
    }
}

/// A client configuration with the deployment's entry nodes.
pub(crate) fn client_config(config: &Config) -> ClientConfig {
    ClientConfig {
        nodes: config.nodes.iter().filter_map(|a| a.parse().ok()).collect(),
        ..ClientConfig::default()
    }
}

fn deployment_address(s: &str) -> Result<Address, String> {
    s.parse()
        .map_err(|e| format!("deployment address {s}: {e}"))
}

/// The deployment's registry and marketplace over `rpc`, sending as `sender`.
pub(crate) async fn connect_registry(
    config: &Config,
    rpc: Rpc,
    sender: Sender,
) -> Result<Registry, String> {
    let d = &config.deployment;
    Ok(Registry::connect(
        rpc,
        d.chain_id,
        deployment_address(&d.stream_registry)?,
        d.start_block,
        sender,
    )
    .await
    .map_err(|e| plain_error(&e))?
    .with_market(
        deployment_address(&d.marketplace)?,
        deployment_address(&d.data_token)?,
    ))
}

/// Chain access for `sender` over `rpc`, with steps reported to the returned slot.
async fn registry(
    config: &Config,
    rpc: Rpc,
    sender: Sender,
) -> Result<(Registry, Rc<RefCell<Option<StepLog>>>), String> {
    let (progress, mut steps) = futures::channel::mpsc::unbounded();
    let registry = connect_registry(config, rpc, sender)
        .await?
        .with_progress(progress);
    let listener: Rc<RefCell<Option<StepLog>>> = Rc::default();
    let slot = listener.clone();
    spawn_local(async move {
        while let Some(step) = steps.next().await {
            let told = slot.borrow_mut().as_mut().map(|log| {
                log.steps.push(describe_step(&step));
                (log.listener.clone(), log.steps.clone())
            });
            if let Some((listener, steps)) = told {
                listener.emit(steps);
            }
        }
    });
    Ok((registry, listener))
}

/// The labelled local development account.
pub(crate) async fn dev_account(config: &Config) -> Result<Buyer, String> {
    let key = Signer::from_hex(DEV_ACCOUNT_KEY).map_err(|e| e.to_string())?;
    let address = Address::from(key.address().0);
    let client = Client::new(ClientConfig {
        private_key: Some(key.to_bytes()),
        ..client_config(config)
    })
    .map_err(|e| e.to_string())?;
    let rpc = Rpc::http(&config.rpc_url).map_err(|e| e.to_string())?;
    let (registry, steps) = registry(config, rpc, Sender::Key(key)).await?;
    Ok(Buyer(Rc::new(Account {
        address,
        label: "local development account".into(),
        registry,
        client,
        session_note: None,
        steps,
    })))
}

/// Why a wallet could not be used.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum WalletProblem {
    /// It is on another chain (its id); the page offers to switch.
    WrongChain(u64),
    /// Anything else, as a sentence.
    Failed(String),
}

fn rpc_failure(e: &LiteError) -> WalletProblem {
    WalletProblem::Failed(plain_error(e))
}

async fn request(
    wallet: &Wallet,
    method: &str,
    params: serde_json::Value,
) -> Result<serde_json::Value, LiteError> {
    Rpc::eip1193(wallet.provider.clone())
        .call(method, params)
        .await
}

/// Connects `wallet`: asks for its account, checks its chain, has it authorise a session key for the
/// network, and calls `changed` when the wallet switches account or chain later.
pub(crate) async fn connect(
    config: &Config,
    wallet: &Wallet,
    changed: Callback<()>,
) -> Result<Buyer, WalletProblem> {
    let accounts = request(wallet, "eth_requestAccounts", json!([]))
        .await
        .map_err(|e| rpc_failure(&e))?;
    let account: Address = accounts
        .get(0)
        .and_then(|a| a.as_str())
        .ok_or_else(|| WalletProblem::Failed("The wallet shared no account.".into()))?
        .parse()
        .map_err(|e| {
            WalletProblem::Failed(format!("The wallet's account is not an address: {e}."))
        })?;
    let chain = request(wallet, "eth_chainId", json!([]))
        .await
        .map_err(|e| rpc_failure(&e))?;
    let chain = chain
        .as_str()
        .and_then(|c| u64::from_str_radix(c.trim_start_matches("0x"), 16).ok())
        .ok_or_else(|| {
            WalletProblem::Failed(format!("The wallet's chain id {chain} is not a number."))
        })?;
    if chain != config.deployment.chain_id {
        return Err(WalletProblem::WrongChain(chain));
    }
    let (registry, steps) = registry(
        config,
        Rpc::eip1193(wallet.provider.clone()),
        Sender::Wallet(account),
    )
    .await
    .map_err(WalletProblem::Failed)?;

    // One signature, no transaction: a fresh session key may read for the account for a day.
    let key = Signer::from_bytes(&rivulet_client::runtime::random_bytes::<32>())
        .map_err(|e| WalletProblem::Failed(e.to_string()))?;
    let expires = registry
        .chain_time()
        .await
        .map_err(|e| rpc_failure(&e))?
        .max(js_sys::Date::now() as u64 / 1000)
        + SESSION_SECONDS;
    let checksum = account.to_checksum(None);
    let text = authorisation_text(&checksum, &key.address().to_checksum(), expires);
    let (authorisation, session_note) = match registry.rpc().personal_sign(account, &text).await {
        Ok(signature) => (
            Some(Authorisation {
                account: checksum,
                expires,
                signature,
            }),
            None,
        ),
        Err(e) => (None, Some(plain_error(&e))),
    };
    let client = Client::new(ClientConfig {
        private_key: Some(key.to_bytes()),
        authorisation,
        ..client_config(config)
    })
    .map_err(|e| WalletProblem::Failed(e.to_string()))?;
    watch(wallet, changed);
    Ok(Buyer(Rc::new(Account {
        address: account,
        label: wallet.name.clone(),
        registry,
        client,
        session_note,
        steps,
    })))
}

/// Asks the wallet to switch to the deployment's chain, adding it first when the wallet does not know
/// it (error 4902, EIP-3085).
pub(crate) async fn switch_chain(config: &Config, wallet: &Wallet) -> Result<(), String> {
    let chain_id = format!("0x{:x}", config.deployment.chain_id);
    match request(
        wallet,
        "wallet_switchEthereumChain",
        json!([{ "chainId": chain_id }]),
    )
    .await
    {
        Ok(_) => Ok(()),
        Err(LiteError::Rpc { code: 4902, .. }) => {
            let name = if config.deployment.chain_id == LOCAL_CHAIN_ID {
                "Rivulet local chain (anvil)".to_owned()
            } else {
                format!("Rivulet chain {}", config.deployment.chain_id)
            };
            request(
                wallet,
                "wallet_addEthereumChain",
                json!([{
                    "chainId": chain_id,
                    "chainName": name,
                    "rpcUrls": [config.rpc_url],
                    "nativeCurrency": { "name": "Ether", "symbol": "ETH", "decimals": 18 },
                }]),
            )
            .await
            .map_err(|e| plain_error(&e))?;
            // Adding a chain need not switch to it (EIP-3085 leaves that to the wallet).
            request(
                wallet,
                "wallet_switchEthereumChain",
                json!([{ "chainId": chain_id }]),
            )
            .await
            .map(drop)
            .map_err(|e| plain_error(&e))
        }
        Err(e) => Err(plain_error(&e)),
    }
}

/// Calls `changed` when the wallet switches account or chain (EIP-1193 events).
fn watch(wallet: &Wallet, changed: Callback<()>) {
    let Some(on) = Reflect::get(&wallet.provider, &"on".into())
        .ok()
        .and_then(|f| f.dyn_into::<Function>().ok())
    else {
        return;
    };
    for event in ["accountsChanged", "chainChanged"] {
        let changed = changed.clone();
        let handler = Closure::<dyn Fn(JsValue)>::new(move |_| changed.emit(()));
        let _ = on.call2(&wallet.provider, &event.into(), handler.as_ref());
        // The provider holds it for the page's lifetime.
        handler.forget();
    }
}
