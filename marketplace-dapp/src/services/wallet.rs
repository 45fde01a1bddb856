//! Accounts: a wallet found by EIP-6963 discovery (or `window.ethereum`), connected over EIP-1193 and on
//! the deployment's chain (`wallet_switchEthereumChain`, and `wallet_addEthereumChain` first when the
//! wallet does not know it); or, on the local chain, the labelled development account. Either way an
//! [`Account`] has chain access (its transactions' steps reported as they happen) and a network client
//! whose session key the wallet authorised once (`personal_sign`), so relay nodes deliver what the
//! account has licensed.

use std::{cell::RefCell, rc::Rc};

use alloy_primitives::Address;
use js_sys::{Function, Reflect};
use rivulet_client::{Authorisation, authorisation_text};
use rivulet_contracts::{ContractsError, Rpc, Sender};
use rivulet_protocol::Signer;
use serde_json::json;
use wasm_bindgen::{JsCast, JsValue, closure::Closure};
use yew::Callback;

use crate::{
    error::DappError,
    services::{chain::Chain, config::Config, network::Network},
};

/// anvil's development account 8 (its key is public; the local chain only): lets a newcomer try
/// everything without a wallet. The page labels it as such.
const DEV_ACCOUNT_KEY: &str = "0xdbda1821b80551c9d65939329250298aa3472ba22feea921c0cf5d620ea67b97";
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
    provider: JsValue,
}

impl PartialEq for Wallet {
    fn eq(&self, other: &Wallet) -> bool {
        self.id == other.id
    }
}

impl Wallet {
    async fn request(
        &self,
        method: &str,
        params: serde_json::Value,
    ) -> Result<serde_json::Value, ContractsError> {
        self.rpc().call(method, params).await
    }

    fn rpc(&self) -> Rpc {
        Rpc::eip1193(self.provider.clone())
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

/// Who is acting: an address with chain access and a network client that reads as it. Cheap to clone;
/// two are equal when they have the same address and label.
#[derive(Clone)]
pub(crate) struct Account(Rc<Inner>);

struct Inner {
    address: Address,
    label: String,
    chain: Chain,
    network: Network,
    session_note: Option<DappError>,
}

impl PartialEq for Account {
    fn eq(&self, other: &Account) -> bool {
        self.0.address == other.0.address && self.0.label == other.0.label
    }
}

impl Account {
    /// The account.
    pub(crate) fn address(&self) -> Address {
        self.0.address
    }

    /// The checksummed address.
    pub(crate) fn checksum(&self) -> String {
        self.0.address.to_checksum(None)
    }

    /// The wallet's name, or the development account's label.
    pub(crate) fn label(&self) -> &str {
        &self.0.label
    }

    /// Chain access, sending as the account.
    pub(crate) fn chain(&self) -> &Chain {
        &self.0.chain
    }

    /// The network client (its session key authorised by the account, or the account's own key).
    pub(crate) fn network(&self) -> &Network {
        &self.0.network
    }

    /// Why the network client reads anonymously: the wallet did not authorise its session key.
    pub(crate) fn session_note(&self) -> Option<&DappError> {
        self.0.session_note.as_ref()
    }

    /// Lets go of the account: its network client stops.
    pub(crate) fn disconnect(&self) {
        self.0.network.destroy();
    }
}

/// The labelled local development account.
pub(crate) async fn dev_account(config: &Config) -> Result<Account, DappError> {
    let key = Signer::from_hex(DEV_ACCOUNT_KEY).map_err(|e| DappError::Config(e.to_string()))?;
    let address = Address::from(key.address().0);
    let network = Network::new(config, Some(key.to_bytes()), None)?;
    let rpc = Rpc::http(&config.rpc_url)?;
    let chain = Chain::connect(config, rpc, Sender::Key(key)).await?;
    Ok(Account(Rc::new(Inner {
        address,
        label: "local development account".into(),
        chain,
        network,
        session_note: None,
    })))
}

/// Connects `wallet`: asks for its account, checks its chain (`DappError::WrongChain` when it is on
/// another: the page offers to [switch](switch_chain)), has it authorise a session key for the network,
/// and, when the wallet switches account or chain later, stops the account's network client and calls
/// `changed`.
pub(crate) async fn connect(
    config: &Config,
    wallet: &Wallet,
    changed: Callback<()>,
) -> Result<Account, DappError> {
    let accounts = wallet.request("eth_requestAccounts", json!([])).await?;
    let account: Address = accounts
        .get(0)
        .and_then(|a| a.as_str())
        .ok_or(DappError::NoAccount)?
        .parse()
        .map_err(|e| DappError::Answer(format!("the wallet's account is not an address: {e}")))?;
    let chain = wallet.request("eth_chainId", json!([])).await?;
    let chain = chain
        .as_str()
        .and_then(|c| u64::from_str_radix(c.trim_start_matches("0x"), 16).ok())
        .ok_or_else(|| {
            DappError::Answer(format!("the wallet's chain id {chain} is not a number"))
        })?;
    if chain != config.deployment.chain_id {
        return Err(DappError::WrongChain {
            expected: config.deployment.chain_id,
            actual: chain,
        });
    }
    let chain_access = Chain::connect(config, wallet.rpc(), Sender::Wallet(account)).await?;

    // One signature, no transaction: a fresh session key may read for the account for a day.
    let key = Signer::from_bytes(&rivulet_client::runtime::random_bytes::<32>())
        .map_err(|e| DappError::Config(e.to_string()))?;
    let expires = chain_access
        .chain_time()
        .await?
        .max(js_sys::Date::now() as u64 / 1000)
        + SESSION_SECONDS;
    let checksum = account.to_checksum(None);
    let text = authorisation_text(&checksum, &key.address().to_checksum(), expires);
    let (authorisation, session_note) = match wallet.rpc().personal_sign(account, &text).await {
        Ok(signature) => (
            Some(Authorisation {
                account: checksum,
                expires,
                signature,
            }),
            None,
        ),
        Err(e) => (None, Some(DappError::from(e))),
    };
    let network = Network::new(config, Some(key.to_bytes()), authorisation)?;
    let account = Account(Rc::new(Inner {
        address: account,
        label: wallet.name.clone(),
        chain: chain_access,
        network,
        session_note,
    }));
    watch(wallet, &account, changed);
    Ok(account)
}

/// Asks the wallet to switch to the deployment's chain, adding it first when the wallet does not know
/// it (error 4902, EIP-3085).
pub(crate) async fn switch_chain(config: &Config, wallet: &Wallet) -> Result<(), DappError> {
    let chain_id = format!("0x{:x}", config.deployment.chain_id);
    let switch = json!([{ "chainId": chain_id }]);
    match wallet
        .request("wallet_switchEthereumChain", switch.clone())
        .await
    {
        Ok(_) => Ok(()),
        Err(ContractsError::Rpc { code: 4902, .. }) => {
            let name = if config.is_local() {
                "Rivulet local chain (anvil)".to_owned()
            } else {
                format!("Rivulet chain {}", config.deployment.chain_id)
            };
            wallet
                .request(
                    "wallet_addEthereumChain",
                    json!([{
                        "chainId": chain_id,
                        "chainName": name,
                        "rpcUrls": [config.rpc_url],
                        "nativeCurrency": { "name": "Ether", "symbol": "ETH", "decimals": 18 },
                    }]),
                )
                .await?;
            // Adding a chain need not switch to it (EIP-3085 leaves that to the wallet).
            wallet.request("wallet_switchEthereumChain", switch).await?;
            Ok(())
        }
        Err(e) => Err(e.into()),
    }
}

/// When the wallet switches account or chain (EIP-1193 events), lets go of `account` (its network
/// client stops: it read as the old account) and calls `changed`.
fn watch(wallet: &Wallet, account: &Account, changed: Callback<()>) {
    let Some(on) = Reflect::get(&wallet.provider, &"on".into())
        .ok()
        .and_then(|f| f.dyn_into::<Function>().ok())
    else {
        return;
    };
    for event in ["accountsChanged", "chainChanged"] {
        let changed = changed.clone();
        // Weak: the handler outlives the account.
        let account = Rc::downgrade(&account.0);
        let handler = Closure::<dyn Fn(JsValue)>::new(move |_| {
            if let Some(account) = account.upgrade() {
                account.network.destroy();
            }
            changed.emit(());
        });
        let _ = on.call2(&wallet.provider, &event.into(), handler.as_ref());
        // The provider holds it for the page's lifetime.
        handler.forget();
    }
}
