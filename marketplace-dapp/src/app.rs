//! The shell: configuration and products loaded from the chain, the account (a wallet or the local
//! development account), navigation by location hash, the product list with search, and the product
//! page with its purchase panel and live previews.

use std::rc::Rc;

use alloy_primitives::U256;
use rivulet_chain_lite::{Registry, Rpc, Sender};
use rivulet_client::Client;
use serde::Deserialize;
use wasm_bindgen::{JsCast, closure::Closure};
use wasm_bindgen_futures::{JsFuture, spawn_local};
use yew::prelude::*;

use crate::{
    licences::LicencesPage,
    live::{LiveView, Shared},
    model::{Listing, Route, format_data, format_period, plain_error, short},
    sell::SellPage,
    wallet::{self, Buyer, LOCAL_CHAIN_ID, Wallet, WalletProblem},
};

/// The parts of `/config.json` the dapp reads.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Config {
    /// Entry nodes' multiaddrs.
    pub(crate) nodes: Vec<String>,
    /// The chain's JSON-RPC URL (reads, and the local account's transactions).
    pub(crate) rpc_url: String,
    /// The contracts.
    pub(crate) deployment: Deployment,
}

/// The deployment file's fields the dapp uses.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Deployment {
    pub(crate) chain_id: u64,
    pub(crate) stream_registry: String,
    pub(crate) marketplace: String,
    pub(crate) data_token: String,
    #[serde(default)]
    pub(crate) start_block: u64,
}

async fn fetch_text(url: &str) -> Result<String, String> {
    let window = web_sys::window().ok_or("no window")?;
    let response = JsFuture::from(window.fetch_with_str(url))
        .await
        .map_err(|_| format!("cannot fetch {url}"))?;
    let response: web_sys::Response = response.dyn_into().map_err(|_| "not a response")?;
    if !response.ok() {
        return Err(format!("{url} answered {}", response.status()));
    }
    let text = JsFuture::from(response.text().map_err(|_| "no body")?)
        .await
        .map_err(|_| "cannot read the body")?;
    text.as_string()
        .ok_or_else(|| "the body is not text".into())
}

/// Read-only chain access for `config`.
async fn reader(config: &Config) -> Result<Registry, String> {
    let rpc = Rpc::http(&config.rpc_url).map_err(|e| e.to_string())?;
    wallet::connect_registry(config, rpc, Sender::None).await
}

async fn load_config() -> Result<Rc<Config>, String> {
    let config: Config = serde_json::from_str(&fetch_text("../config.json").await?)
        .map_err(|e| format!("config.json: {e}"))?;
    Ok(Rc::new(config))
}

async fn load_products(config: &Config) -> Result<Rc<Vec<Listing>>, String> {
    let reader = reader(config).await?;
    let products = reader.list_products().await.map_err(|e| plain_error(&e))?;
    let streams = reader.list_streams().await.map_err(|e| plain_error(&e))?;
    let partitions = |id: &str| {
        streams
            .iter()
            .find(|s| s.id.as_str() == id)
            .map(|s| s.partitions())
    };
    Ok(Rc::new(
        products
            .iter()
            .map(|p| Listing::of(p).with_partitions(partitions))
            .collect(),
    ))
}

fn current_route() -> Route {
    let hash = web_sys::window()
        .and_then(|w| w.location().hash().ok())
        .unwrap_or_default();
    Route::parse(&hash)
}

#[derive(Clone, PartialEq)]
enum Load {
    Loading,
    Failed(String),
    Ready(Rc<Config>, Rc<Vec<Listing>>),
}

#[derive(Clone, PartialEq)]
enum Connection {
    None,
    Connecting(String),
    WrongChain(Wallet, u64),
    Failed(String),
}

/// The whole app.
#[function_component(App)]
pub(crate) fn app() -> Html {
    let state = use_state(|| Load::Loading);
    let route = use_state(current_route);
    let wallets = use_state(Vec::<Wallet>::new);
    let buyer = use_state(|| None::<Buyer>);
    let connection = use_state(|| Connection::None);
    let balance = use_state(String::new);
    let refresh = use_state(|| 0u32);
    // The location hash is the route.
    {
        let route = route.clone();
        use_effect_with((), move |_| {
            let listener = Closure::<dyn Fn()>::new(move || route.set(current_route()));
            if let Some(window) = web_sys::window() {
                let _ = window.add_event_listener_with_callback(
                    "hashchange",
                    listener.as_ref().unchecked_ref(),
                );
            }
            listener.forget();
        });
    }
    // Wallets, as they announce themselves.
    {
        let wallets = wallets.clone();
        use_effect_with((), move |_| {
            let found = Rc::new(std::cell::RefCell::new(Vec::<Wallet>::new()));
            wallet::discover(Callback::from(move |w: Wallet| {
                let mut list = found.borrow_mut();
                if !list.contains(&w) {
                    list.push(w);
                    wallets.set(list.clone());
                }
            }));
        });
    }
    // Configuration and products (again after a listing or a change).
    {
        let state = state.clone();
        use_effect_with(*refresh, move |_| {
            spawn_local(async move {
                let loaded = async {
                    let config = load_config().await?;
                    let products = load_products(&config).await?;
                    Ok::<_, String>((config, products))
                };
                match loaded.await {
                    Ok((config, listings)) => state.set(Load::Ready(config, listings)),
                    Err(e) => state.set(Load::Failed(e)),
                }
            });
        });
    }
    // The account's balance (again after each transaction).
    {
        let balance = balance.clone();
        use_effect_with(((*buyer).clone(), *refresh), move |(buyer, _)| {
            if let Some(Buyer(account)) = buyer.clone() {
                spawn_local(async move {
                    balance.set(match account.registry.balance(account.address).await {
                        Ok(wei) => format!("{} DATA", format_data(wei, 4)),
                        Err(e) => format!("balance unknown: {}", plain_error(&e)),
                    });
                });
            }
        });
    }
    let changed = {
        let refresh = refresh.clone();
        Callback::from(move |()| refresh.set(*refresh + 1))
    };

    let (config, listings) = match &*state {
        Load::Loading => {
            return html! {
                <>
                    <header><a href="../">{ "Rivulet" }</a>{ " · Marketplace" }</header>
                    <main><p class="status" id="status">{ "Loading products from the chain…" }</p></main>
                </>
            };
        }
        Load::Failed(e) => {
            return html! {
                <>
                    <header><a href="../">{ "Rivulet" }</a>{ " · Marketplace" }</header>
                    <main><p class="error" role="alert" id="error">{ format!("The marketplace could not be read: {e}") }</p></main>
                </>
            };
        }
        Load::Ready(config, listings) => (config.clone(), listings.clone()),
    };

    let account_bar = account_bar(
        &config,
        &wallets,
        &buyer,
        &connection,
        &balance,
        changed.clone(),
    );
    let body = match (&*route, &*buyer) {
        (Route::Product(id), _) => match listings.iter().find(|l| l.id == *id) {
            Some(listing) => html! {
                <ProductPage listing={listing.clone()} config={config.clone()}
                    buyer={(*buyer).clone()} on_changed={changed.clone()} />
            },
            None => html! {
                <p class="empty" id="empty">{ format!("There is no product {id}. ") }
                    <a href="#/">{ "All products" }</a></p>
            },
        },
        (Route::Licences, Some(b)) => html! {
            <LicencesPage buyer={b.clone()} listings={listings.clone()} on_changed={changed.clone()} />
        },
        (Route::Sell, Some(b)) => html! {
            <SellPage buyer={b.clone()} listings={listings.clone()} on_changed={changed.clone()} />
        },
        (Route::Licences | Route::Sell, None) => html! {
            <p class="empty" id="connect-first">{ "Connect a wallet (or, on the local chain, use the development account) to see this page." }</p>
        },
        (Route::Products, _) => html! { <ProductList listings={listings.clone()} /> },
    };
    let link = |r: Route, label: &str, id: &str| {
        let current = *route == r;
        html! {
            <a href={r.hash()} id={id.to_owned()} aria-current={if current { Some("page") } else { None }}>{ label.to_owned() }</a>
        }
    };
    html! {
        <>
            <header>
                <nav aria-label="Marketplace">
                    <a href="../">{ "Rivulet" }</a>
                    { link(Route::Products, "Products", "nav-products") }
                    { link(Route::Licences, "My licences", "nav-licences") }
                    { link(Route::Sell, "Sell", "nav-sell") }
                </nav>
                { account_bar }
            </header>
            <main>{ body }</main>
        </>
    }
}

/// The account area: connect a wallet (or the development account), switch chains, balance, faucet.
fn account_bar(
    config: &Rc<Config>,
    wallets: &UseStateHandle<Vec<Wallet>>,
    buyer: &UseStateHandle<Option<Buyer>>,
    connection: &UseStateHandle<Connection>,
    balance: &UseStateHandle<String>,
    changed: Callback<()>,
) -> Html {
    let local = config.deployment.chain_id == LOCAL_CHAIN_ID;
    if let Some(Buyer(account)) = &**buyer {
        let faucet = {
            let account = account.clone();
            let changed = changed.clone();
            let connection = connection.clone();
            Callback::from(move |_: MouseEvent| {
                let account = account.clone();
                let changed = changed.clone();
                let connection = connection.clone();
                spawn_local(async move {
                    let hundred = U256::from(100u64) * U256::from(10u64).pow(U256::from(18u64));
                    match account.registry.faucet(account.address, hundred).await {
                        Ok(()) => connection.set(Connection::None),
                        Err(e) => connection.set(Connection::Failed(plain_error(&e))),
                    }
                    changed.emit(());
                });
            })
        };
        let disconnect = {
            let buyer = buyer.clone();
            Callback::from(move |_: MouseEvent| {
                if let Some(Buyer(account)) = &*buyer {
                    account.client.destroy();
                }
                buyer.set(None);
            })
        };
        let error = match &**connection {
            Connection::Failed(e) => html! { <p class="error" role="alert">{ e }</p> },
            _ => html! {},
        };
        return html! {
            <div class="account" id="account">
                <span id="account-label">{ &account.label }</span>{ " " }
                <span class="mono" id="account-address" title={account.checksum()}>{ short(&account.checksum()) }</span>
                { " · " }<span id="balance">{ (**balance).clone() }</span>{ " " }
                if local {
                    <button id="faucet" onclick={faucet}>{ "Get 100 DATA" }</button>
                }
                <button id="disconnect" onclick={disconnect}>{ "Disconnect" }</button>
                if let Some(note) = &account.session_note {
                    <p class="note" id="session-note">{ format!("Licensed streams will not play: the wallet did not authorise a session key ({note})") }</p>
                }
                { error }
            </div>
        };
    }
    let connect = |w: &Wallet| {
        let w = w.clone();
        let config = config.clone();
        let buyer = buyer.clone();
        let connection = connection.clone();
        let on_switch = {
            let buyer = buyer.clone();
            let connection = connection.clone();
            Callback::from(move |()| {
                // The wallet switched account or chain: connect again with what it now has.
                if let Some(Buyer(account)) = &*buyer {
                    account.client.destroy();
                }
                buyer.set(None);
                connection.set(Connection::Failed(
                    "The wallet switched account or chain: connect again.".into(),
                ));
            })
        };
        Callback::from(move |_: MouseEvent| {
            let w = w.clone();
            let config = config.clone();
            let buyer = buyer.clone();
            let connection = connection.clone();
            let on_switch = on_switch.clone();
            connection.set(Connection::Connecting(format!(
                "Connecting {}: approve the connection, then sign the session key (a signature, no transaction)…",
                w.name
            )));
            spawn_local(async move {
                match wallet::connect(&config, &w, on_switch).await {
                    Ok(b) => {
                        buyer.set(Some(b));
                        connection.set(Connection::None);
                    }
                    Err(WalletProblem::WrongChain(chain)) => {
                        connection.set(Connection::WrongChain(w, chain))
                    }
                    Err(WalletProblem::Failed(e)) => connection.set(Connection::Failed(e)),
                }
            });
        })
    };
    let use_dev = {
        let buyer = buyer.clone();
        let config = config.clone();
        let connection = connection.clone();
        Callback::from(move |_: MouseEvent| {
            let buyer = buyer.clone();
            let config = config.clone();
            let connection = connection.clone();
            spawn_local(async move {
                match wallet::dev_account(&config).await {
                    Ok(account) => buyer.set(Some(account)),
                    Err(e) => connection.set(Connection::Failed(e)),
                }
            });
        })
    };
    let status = match &**connection {
        Connection::None => html! {},
        Connection::Connecting(s) => html! { <p class="status" id="connect-status">{ s }</p> },
        Connection::Failed(e) => {
            html! { <p class="error" role="alert" id="connect-status">{ e }</p> }
        }
        Connection::WrongChain(w, chain) => {
            let switch = {
                let w = w.clone();
                let config = config.clone();
                let connection = connection.clone();
                let connect = connect(&w);
                Callback::from(move |e: MouseEvent| {
                    let w = w.clone();
                    let config = config.clone();
                    let connection = connection.clone();
                    let connect = connect.clone();
                    spawn_local(async move {
                        match wallet::switch_chain(&config, &w).await {
                            Ok(()) => connect.emit(e),
                            Err(problem) => connection.set(Connection::Failed(problem)),
                        }
                    });
                })
            };
            html! {
                <p class="error" role="alert" id="connect-status">
                    { format!("{} is on chain {chain}; this marketplace is on chain {}. ", w.name, config.deployment.chain_id) }
                    <button id="switch-chain" onclick={switch}>{ format!("Switch to chain {}", config.deployment.chain_id) }</button>
                </p>
            }
        }
    };
    html! {
        <div class="account" id="account">
            { for wallets.iter().map(|w| html! {
                <button class="connect-wallet" data-wallet={w.id.clone()} onclick={connect(w)}>
                    { format!("Connect {}", w.name) }
                </button>
            }) }
            if wallets.is_empty() {
                <span class="note">{ "No wallet found in this browser. " }</span>
            }
            if local {
                { " " }
                <button id="dev-account" onclick={use_dev}>{ "Use the local development account" }</button>
                <span class="note">{ " (a public test key, local chain only — not a wallet)" }</span>
            }
            { status }
        </div>
    }
}

#[derive(Properties, PartialEq)]
pub(crate) struct ListProps {
    listings: Rc<Vec<Listing>>,
}

/// Every product, searchable.
#[function_component(ProductList)]
pub(crate) fn product_list(props: &ListProps) -> Html {
    let query = use_state(String::new);
    let on_search = {
        let query = query.clone();
        Callback::from(move |e: InputEvent| {
            if let Some(input) = e.target_dyn_into::<web_sys::HtmlInputElement>() {
                query.set(input.value());
            }
        })
    };
    let listings = &props.listings;
    let shown: Vec<&Listing> = listings.iter().filter(|l| l.matches(&query)).collect();
    html! {
        <>
            <label for="search">{ "Search products" }</label>
            <input id="search" type="search" placeholder="name, category, stream…"
                value={(*query).clone()} oninput={on_search} />
            if listings.is_empty() {
                <p class="empty" id="empty">{ "No products are listed yet. Sellers list streams under Sell." }</p>
            } else if shown.is_empty() {
                <p class="empty" id="empty">{ format!("No product matches \u{201c}{}\u{201d}.", *query) }</p>
            }
            <ul class="products" id="products">
                { for shown.into_iter().map(|l| html! {
                    <li class="product" key={l.id}>
                        <h2><a href={Route::Product(l.id).hash()}>{ &l.name }</a></h2>
                        <p>{ &l.description }</p>
                        <p class="meta">
                            { if l.category.is_empty() { String::new() } else { format!("{} · ", l.category) } }
                            { format!("{} DATA per hour · from {} · seller {}",
                                format_data(l.price_per_second * U256::from(3600u64), 4),
                                format_period(l.minimum_seconds), short(&l.seller)) }
                            if !l.active { { " · paused" } }
                        </p>
                        <p class="meta mono">{ l.streams.join(", ") }</p>
                    </li>
                }) }
            </ul>
        </>
    }
}

#[derive(Properties, PartialEq)]
struct ProductProps {
    listing: Listing,
    config: Rc<Config>,
    buyer: Option<Buyer>,
    on_changed: Callback<()>,
}

/// One product: terms, price, the purchase panel, and the live view of each stream.
#[function_component(ProductPage)]
fn product_page(props: &ProductProps) -> Html {
    let l = &props.listing;
    let client = use_state(|| None::<Client>);
    let generation = use_state(|| 0u32);
    {
        let client = client.clone();
        let config = props.config.clone();
        let buyer = props.buyer.clone();
        use_effect_with((l.id, buyer.clone()), move |_| {
            // Reading as the buyer when there is one (licences are per address); anonymously otherwise.
            let (made, own) = match buyer {
                Some(Buyer(account)) => (Some(account.client.clone()), false),
                None => (Client::new(wallet::client_config(&config)).ok(), true),
            };
            client.set(made.clone());
            move || {
                if let Some(c) = made.filter(|_| own) {
                    c.destroy();
                }
            }
        });
    }
    let bought = {
        let generation = generation.clone();
        let on_changed = props.on_changed.clone();
        Callback::from(move |()| {
            generation.set(*generation + 1);
            on_changed.emit(());
        })
    };
    let hour = l.price_per_second * U256::from(3600u64);
    html! {
        <article id="product">
            <a href="#/" id="back">{ "← All products" }</a>
            <h1>{ &l.name }</h1>
            <p>{ &l.description }</p>
            <dl>
                <dt>{ "Price" }</dt>
                <dd id="price">{ format!("{} DATA per hour ({} DATA per day; {} DATA wei per second)", format_data(hour, 6),
                    format_data(hour * U256::from(24u64), 4), l.price_per_second) }</dd>
                <dt>{ "Shortest licence" }</dt><dd>{ format_period(l.minimum_seconds) }</dd>
                <dt>{ "Seller" }</dt><dd class="mono">{ &l.seller }</dd>
                if !l.category.is_empty() { <dt>{ "Category" }</dt><dd>{ &l.category }</dd> }
                <dt>{ "Terms" }</dt><dd>{ if l.terms_uri.is_empty() {
                    html! { "a licence to read the streams below for the period bought" }
                } else {
                    html! { <a href={l.terms_uri.clone()} rel="noopener">{ &l.terms_uri }</a> }
                } }</dd>
                <dt>{ "On sale" }</dt><dd id="on-sale">{ if l.active { "yes" } else { "paused by the seller" } }</dd>
            </dl>
            if let Some(buyer) = props.buyer.clone() {
                <BuyPanel listing={l.clone()} buyer={buyer} on_bought={bought} />
            } else {
                <p class="note" id="buy-connect">{ "Connect a wallet (or use the local development account) to buy a licence." }</p>
            }
            <h2>{ "Streams" }</h2>
            { for l.stream_parts().map(|(s, partitions)| html! {
                <LiveView stream={s.clone()} partitions={partitions} client={(*client).clone().map(Shared)} generation={*generation} />
            }) }
        </article>
    }
}

/// Unix seconds as a date and time in the page's time zone ("25/11/2026, 22:38:56").
pub(crate) fn date_time(unix_secs: u64) -> String {
    let date = js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(unix_secs as f64 * 1000.0));
    date.to_locale_string("en-GB", &wasm_bindgen::JsValue::UNDEFINED)
        .into()
}

/// Licence periods offered, seconds.
pub(crate) const PERIODS: [(u64, &str); 4] = [
    (60, "1 minute"),
    (3600, "1 hour"),
    (86_400, "1 day"),
    (604_800, "1 week"),
];

#[derive(Properties, PartialEq)]
pub(crate) struct BuyProps {
    pub(crate) listing: Listing,
    pub(crate) buyer: Buyer,
    pub(crate) on_bought: Callback<()>,
    /// The button's words ("Buy" or "Extend").
    #[prop_or(AttrValue::Static("Buy a licence"))]
    pub(crate) title: AttrValue,
}

#[derive(Clone, PartialEq)]
enum Outcome {
    Idle,
    Busy,
    Done(String),
    Failed(String),
}

/// Choose a period, see the price, buy with a permit (one transaction) or approve-then-buy (two); each
/// step shown as it happens, then the receipt or a plain sentence saying what went wrong.
#[function_component(BuyPanel)]
pub(crate) fn buy_panel(props: &BuyProps) -> Html {
    let l = &props.listing;
    let periods: Vec<(u64, &str)> = PERIODS
        .iter()
        .copied()
        .filter(|(s, _)| *s >= l.minimum_seconds)
        .collect();
    let first = periods.first().map_or(l.minimum_seconds, |p| p.0);
    let seconds = use_state(|| first);
    let price = use_state(|| None::<Result<U256, String>>);
    let steps = use_state(Vec::<String>::new);
    let outcome = use_state(|| Outcome::Idle);
    {
        let price = price.clone();
        let account = props.buyer.0.clone();
        let id = l.id;
        use_effect_with((id, *seconds), move |(_, seconds)| {
            let seconds = *seconds;
            spawn_local(async move {
                price.set(Some(
                    account
                        .registry
                        .price_of(id, seconds)
                        .await
                        .map_err(|e| plain_error(&e)),
                ));
            });
        });
    }
    let buy = |permit: bool| {
        let account = props.buyer.0.clone();
        let steps = steps.clone();
        let outcome = outcome.clone();
        let on_bought = props.on_bought.clone();
        let seconds = *seconds;
        let price = (*price).clone();
        let id = l.id;
        Callback::from(move |_: MouseEvent| {
            let Some(Ok(price)) = price.clone() else {
                return;
            };
            let account = account.clone();
            let outcome = outcome.clone();
            let on_bought = on_bought.clone();
            let log = steps.clone();
            steps.set(Vec::new());
            outcome.set(Outcome::Busy);
            account.listen(Callback::from(move |all| log.set(all)));
            spawn_local(async move {
                // A too-small balance is said before anything is signed.
                match account.registry.balance(account.address).await {
                    Ok(balance) if balance < price => {
                        outcome.set(Outcome::Failed(format!(
                            "Your balance of {} DATA is less than the price of {} DATA: nothing was signed or sent.",
                            format_data(balance, 6),
                            format_data(price, 6)
                        )));
                        return;
                    }
                    Ok(_) => {}
                    Err(e) => {
                        outcome.set(Outcome::Failed(plain_error(&e)));
                        return;
                    }
                }
                let result = if permit {
                    let deadline = account
                        .registry
                        .chain_time()
                        .await
                        .unwrap_or(js_sys::Date::now() as u64 / 1000)
                        + 1800;
                    account
                        .registry
                        .buy_with_permit(id, seconds, price, deadline)
                        .await
                } else {
                    account.registry.buy(id, seconds, price).await
                };
                match result {
                    Ok(expiry) => {
                        outcome.set(Outcome::Done(format!(
                            "Receipt: paid {} DATA for {}; licensed until {}.",
                            format_data(price, 6),
                            format_period(seconds),
                            date_time(expiry)
                        )));
                        on_bought.emit(());
                    }
                    Err(e) => outcome.set(Outcome::Failed(plain_error(&e))),
                }
            });
        })
    };
    let choose = {
        let seconds = seconds.clone();
        Callback::from(move |e: Event| {
            if let Some(select) = e.target_dyn_into::<web_sys::HtmlSelectElement>()
                && let Ok(s) = select.value().parse()
            {
                seconds.set(s);
            }
        })
    };
    let busy = *outcome == Outcome::Busy;
    let priced = matches!(&*price, Some(Ok(_)));
    html! {
        <section class="buy" aria-labelledby="buy-title">
            <h2 id="buy-title">{ props.title.clone() }</h2>
            if !l.active {
                <p class="note" id="paused-note">{ "The seller has paused sales of this product." }</p>
            }
            <label for={format!("period-{}", l.id)}>{ "Period " }</label>
            <select id={format!("period-{}", l.id)} class="period" onchange={choose} disabled={busy}>
                { for periods.iter().map(|(s, label)| html! {
                    <option value={s.to_string()} selected={*s == *seconds}>{ *label }</option>
                }) }
            </select>
            <p class="price-quote">{ match &*price {
                None => "Asking the marketplace for the price…".to_owned(),
                Some(Ok(p)) => format!("Price: {} DATA for {}.", format_data(*p, 6), format_period(*seconds)),
                Some(Err(e)) => format!("No price: {e}"),
            } }</p>
            <button class="buy-permit" onclick={buy(true)} disabled={busy || !priced || !l.active}>
                { "Buy — one transaction (permit)" }
            </button>
            { " " }
            <button class="buy-approve" onclick={buy(false)} disabled={busy || !priced || !l.active}>
                { "Buy — approve, then buy (two transactions)" }
            </button>
            <ol class="steps" aria-live="polite">
                { for steps.iter().map(|s| html! { <li>{ s }</li> }) }
            </ol>
            { match &*outcome {
                Outcome::Done(receipt) => html! { <p class="receipt" role="status">{ receipt }</p> },
                Outcome::Failed(e) => html! { <p class="error buy-error" role="alert">{ e }</p> },
                _ => html! {},
            } }
        </section>
    }
}

#[cfg(test)]
mod tests {
    //! Components rendered in headless Chromium (`wasm-bindgen-test`).
    #![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

    use alloy_primitives::U256;
    use wasm_bindgen::JsCast;
    use wasm_bindgen_test::{wasm_bindgen_test, wasm_bindgen_test_configure};

    use super::*;

    wasm_bindgen_test_configure!(run_in_browser);

    fn listing(id: u64, name: &str, category: &str, active: bool) -> Listing {
        Listing {
            id,
            name: name.into(),
            description: format!("{name} readings"),
            category: category.into(),
            seller: "0x976EA74026E726554dB657fA54763abd0C3a0aa9".into(),
            price_per_second: U256::from(1_000_000_000_000u64),
            minimum_seconds: 60,
            active,
            streams: vec![format!("0x976ea74026e726554db657fa54763abd0c3a0aa9/{id}")],
            terms_uri: String::new(),
            partitions: vec![1],
        }
    }

    async fn settle() {
        yew::platform::time::sleep(std::time::Duration::from_millis(20)).await;
    }

    fn root() -> web_sys::Element {
        let document = web_sys::window().unwrap().document().unwrap();
        let div = document.create_element("div").unwrap();
        document.body().unwrap().append_child(&div).unwrap();
        div
    }

    fn items(root: &web_sys::Element) -> Vec<String> {
        let list = root.query_selector_all("#products li").unwrap();
        (0..list.length())
            .map(|i| list.item(i).unwrap().text_content().unwrap())
            .collect()
    }

    async fn search(root: &web_sys::Element, text: &str) {
        let input: web_sys::HtmlInputElement = root
            .query_selector("#search")
            .unwrap()
            .unwrap()
            .dyn_into()
            .unwrap();
        input.set_value(text);
        let event = web_sys::InputEvent::new("input").unwrap();
        input.dispatch_event(&event).unwrap();
        settle().await;
    }

    #[wasm_bindgen_test]
    async fn the_product_list_searches_and_says_when_nothing_matches() {
        let root = root();
        let listings = Rc::new(vec![
            listing(1, "Weather station", "environment", true),
            listing(2, "City traffic", "mobility", false),
        ]);
        yew::Renderer::<ProductList>::with_root_and_props(root.clone(), ListProps { listings })
            .render();
        settle().await;
        let shown = items(&root);
        assert_eq!(shown.len(), 2);
        assert!(shown[0].contains("0.0036 DATA per hour"), "{}", shown[0]);
        assert!(shown[1].contains("paused"), "{}", shown[1]);

        search(&root, "MOBILITY traffic").await;
        assert_eq!(items(&root).len(), 1);
        assert!(root.query_selector("#empty").unwrap().is_none());

        search(&root, "volcano").await;
        assert!(items(&root).is_empty());
        let empty = root.query_selector("#empty").unwrap().unwrap();
        assert!(empty.text_content().unwrap().contains("volcano"));
    }

    #[wasm_bindgen_test]
    async fn an_empty_marketplace_says_so() {
        let root = root();
        yew::Renderer::<ProductList>::with_root_and_props(
            root.clone(),
            ListProps {
                listings: Rc::new(Vec::new()),
            },
        )
        .render();
        settle().await;
        let empty = root.query_selector("#empty").unwrap().unwrap();
        assert!(
            empty
                .text_content()
                .unwrap()
                .contains("No products are listed yet")
        );
    }

    #[wasm_bindgen_test]
    async fn a_live_view_without_a_client_is_connecting() {
        let root = root();
        yew::Renderer::<LiveView>::with_root_and_props(
            root.clone(),
            crate::live::LiveProps {
                stream: "0xab/demo".into(),
                partitions: 1,
                client: None,
                generation: 0,
                history: 10,
                on_ended: Callback::noop(),
            },
        )
        .render();
        settle().await;
        assert!(
            root.text_content()
                .unwrap()
                .contains("Connecting to the network")
        );
        assert!(root.query_selector(".events").unwrap().is_none());
    }
}
