//! The account area of the header. Without an account: a button per wallet found, the local
//! development account on the local chain, and the connection's progress — or, for a wallet on another
//! chain, a button that switches it. With one: its label, address and DATA balance, the faucet on the
//! local chain, and disconnect.

use std::rc::Rc;

use alloy_primitives::U256;
use wasm_bindgen_futures::spawn_local;
use yew::prelude::*;

use crate::{
    error::DappError,
    model::{format_data, short},
    services::{
        config::Config,
        wallet::{self, Account, Wallet},
    },
};

/// What `AccountBar` shows and whom it tells.
#[derive(Properties, PartialEq)]
pub(crate) struct AccountBarProps {
    /// The deployment.
    pub(crate) config: Rc<Config>,
    /// The wallets found so far.
    pub(crate) wallets: Rc<Vec<Wallet>>,
    /// The account, when connected.
    pub(crate) account: Option<Account>,
    /// Bumped after each transaction: the balance is read again.
    pub(crate) refresh: u32,
    /// Told of a new account, or of none (disconnected, or the wallet switched).
    pub(crate) on_account: Callback<Option<Account>>,
    /// Told when the faucet has run.
    pub(crate) on_changed: Callback<()>,
}

/// Where connecting stands.
#[derive(Clone, PartialEq)]
enum Connection {
    None,
    Connecting(String),
    WrongChain(Wallet, u64),
    Switched,
    Failed(DappError),
}

/// The account area.
#[function_component(AccountBar)]
pub(crate) fn account_bar(props: &AccountBarProps) -> Html {
    let connection = use_state(|| Connection::None);
    let balance = use_state(String::new);
    // The account's balance (again after each transaction).
    {
        let balance = balance.clone();
        use_effect_with(
            (props.account.clone(), props.refresh),
            move |(account, _)| {
                if let Some(account) = account.clone() {
                    spawn_local(async move {
                        balance.set(match account.chain().balance(account.address()).await {
                            Ok(wei) => format!("{} DATA", format_data(wei, 4)),
                            Err(e) => format!("balance unknown: {e}"),
                        });
                    });
                }
            },
        );
    }
    match &props.account {
        Some(account) => connected(props, account, &connection, &balance),
        None => not_connected(props, &connection),
    }
}

fn connected(
    props: &AccountBarProps,
    account: &Account,
    connection: &UseStateHandle<Connection>,
    balance: &UseStateHandle<String>,
) -> Html {
    let faucet = {
        let account = account.clone();
        let changed = props.on_changed.clone();
        let connection = connection.clone();
        Callback::from(move |_: MouseEvent| {
            let (account, changed, connection) =
                (account.clone(), changed.clone(), connection.clone());
            spawn_local(async move {
                let hundred = U256::from(100u64) * U256::from(10u64).pow(U256::from(18u64));
                match account.chain().faucet(account.address(), hundred).await {
                    Ok(()) => connection.set(Connection::None),
                    Err(e) => connection.set(Connection::Failed(e)),
                }
                changed.emit(());
            });
        })
    };
    let disconnect = {
        let account = account.clone();
        let on_account = props.on_account.clone();
        Callback::from(move |_: MouseEvent| {
            account.disconnect();
            on_account.emit(None);
        })
    };
    let checksum = account.checksum();
    html! {
        <div class="account" id="account">
            <span id="account-label">{ account.label() }</span>{ " " }
            <span class="mono" id="account-address" title={checksum.clone()}>{ short(&checksum) }</span>
            { " · " }<span id="balance">{ (**balance).clone() }</span>{ " " }
            if props.config.is_local() {
                <button id="faucet" onclick={faucet}>{ "Get 100 DATA" }</button>
            }
            <button id="disconnect" onclick={disconnect}>{ "Disconnect" }</button>
            if let Some(note) = account.session_note() {
                <p class="note" id="session-note">{ format!("Licensed streams will not play: the wallet did not authorise a session key ({note})") }</p>
            }
            if let Connection::Failed(e) = &**connection {
                <p class="error" role="alert">{ e.to_string() }</p>
            }
        </div>
    }
}

/// A callback that connects `w` (asking for its account and a session-key signature).
fn connect(
    props: &AccountBarProps,
    connection: &UseStateHandle<Connection>,
    w: &Wallet,
) -> Callback<MouseEvent> {
    let (w, config, connection) = (w.clone(), props.config.clone(), connection.clone());
    let on_account = props.on_account.clone();
    let on_switch = {
        let on_account = on_account.clone();
        let connection = connection.clone();
        Callback::from(move |()| {
            // The wallet switched account or chain (the account's client has stopped): connect again
            // with what it now has.
            on_account.emit(None);
            connection.set(Connection::Switched);
        })
    };
    Callback::from(move |_: MouseEvent| {
        let (w, config, connection) = (w.clone(), config.clone(), connection.clone());
        let (on_account, on_switch) = (on_account.clone(), on_switch.clone());
        connection.set(Connection::Connecting(format!(
            "Connecting {}: approve the connection, then sign the session key (a signature, no transaction)…",
            w.name
        )));
        spawn_local(async move {
            match wallet::connect(&config, &w, on_switch).await {
                Ok(account) => {
                    on_account.emit(Some(account));
                    connection.set(Connection::None);
                }
                Err(DappError::WrongChain { actual, .. }) => {
                    connection.set(Connection::WrongChain(w, actual))
                }
                Err(e) => connection.set(Connection::Failed(e)),
            }
        });
    })
}

fn not_connected(props: &AccountBarProps, connection: &UseStateHandle<Connection>) -> Html {
    let config = &props.config;
    let use_dev = {
        let (config, connection) = (config.clone(), connection.clone());
        let on_account = props.on_account.clone();
        Callback::from(move |_: MouseEvent| {
            let (config, connection) = (config.clone(), connection.clone());
            let on_account = on_account.clone();
            spawn_local(async move {
                match wallet::dev_account(&config).await {
                    Ok(account) => on_account.emit(Some(account)),
                    Err(e) => connection.set(Connection::Failed(e)),
                }
            });
        })
    };
    let status = match &**connection {
        Connection::None => html! {},
        Connection::Connecting(s) => html! { <p class="status" id="connect-status">{ s }</p> },
        Connection::Switched => html! {
            <p class="error" role="alert" id="connect-status">{ "The wallet switched account or chain: connect again." }</p>
        },
        Connection::Failed(e) => {
            html! { <p class="error" role="alert" id="connect-status">{ e.to_string() }</p> }
        }
        Connection::WrongChain(w, chain) => {
            let switch = {
                let (w, config, connection) = (w.clone(), config.clone(), connection.clone());
                let connect = connect(props, &connection, &w);
                Callback::from(move |e: MouseEvent| {
                    let (w, config, connection) = (w.clone(), config.clone(), connection.clone());
                    let connect = connect.clone();
                    spawn_local(async move {
                        match wallet::switch_chain(&config, &w).await {
                            Ok(()) => connect.emit(e),
                            Err(problem) => connection.set(Connection::Failed(problem)),
                        }
                    });
                })
            };
            let expected = config.deployment.chain_id;
            html! {
                <p class="error" role="alert" id="connect-status">
                    { format!("{} is on chain {chain}; this marketplace is on chain {expected}. ", w.name) }
                    <button id="switch-chain" onclick={switch}>{ format!("Switch to chain {expected}") }</button>
                </p>
            }
        }
    };
    html! {
        <div class="account" id="account">
            { for props.wallets.iter().map(|w| html! {
                <button class="connect-wallet" data-wallet={w.id.clone()} onclick={connect(props, connection, w)}>
                    { format!("Connect {}", w.name) }
                </button>
            }) }
            if props.wallets.is_empty() {
                <span class="note">{ "No wallet found in this browser. " }</span>
            }
            if config.is_local() {
                { " " }
                <button id="dev-account" onclick={use_dev}>{ "Use the local development account" }</button>
                <span class="note">{ " (a public test key, local chain only — not a wallet)" }</span>
            }
            { status }
        </div>
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // test code: a panic is a failure report

    use wasm_bindgen_test::wasm_bindgen_test;

    use rivulet_contracts::{Address, Deployment};

    use super::*;
    use crate::{
        services::config::LOCAL_CHAIN_ID,
        testing::{root, settle},
    };

    fn config(chain_id: u64) -> Rc<Config> {
        Rc::new(Config {
            nodes: Vec::new(),
            rpc_url: "http://127.0.0.1:1".into(),
            deployment: Deployment {
                chain_id,
                rpc_url: String::new(),
                stream_registry: Address::ZERO,
                marketplace: Address::ZERO,
                data_token: Address::ZERO,
                coordinator: None,
                start_block: 0,
            },
        })
    }

    async fn bar(chain_id: u64) -> web_sys::Element {
        let root = root();
        yew::Renderer::<AccountBar>::with_root_and_props(
            root.clone(),
            AccountBarProps {
                config: config(chain_id),
                wallets: Rc::default(),
                account: None,
                refresh: 0,
                on_account: Callback::noop(),
                on_changed: Callback::noop(),
            },
        )
        .render();
        settle().await;
        root
    }

    #[wasm_bindgen_test]
    async fn without_a_wallet_the_local_chain_offers_the_development_account() {
        let root = bar(LOCAL_CHAIN_ID).await;
        let text = root.text_content().unwrap();
        assert!(text.contains("No wallet found in this browser."), "{text}");
        assert!(root.query_selector("#dev-account").unwrap().is_some());
        assert!(root.query_selector(".connect-wallet").unwrap().is_none());

        let elsewhere = bar(1).await;
        assert!(elsewhere.query_selector("#dev-account").unwrap().is_none());
    }
}
