//! The components: the product list with search, and the product page with live previews.

use std::{cell::RefCell, rc::Rc};

use rivulet_chain_lite::{Registry, Rpc, Sender};
use rivulet_client::{Client, ClientConfig, ClientError, SubscriptionEvent};
use rivulet_protocol::StreamPartId;
use serde::Deserialize;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::{JsFuture, spawn_local};
use yew::prelude::*;

use crate::model::{Listing, format_data, format_period, short};

/// The parts of `/config.json` the dapp reads.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Config {
    nodes: Vec<String>,
    rpc_url: String,
    deployment: Deployment,
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Deployment {
    chain_id: u64,
    stream_registry: String,
    marketplace: String,
    data_token: String,
    #[serde(default)]
    start_block: u64,
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

async fn load() -> Result<(Rc<Config>, Rc<Vec<Listing>>), String> {
    let config: Config = serde_json::from_str(&fetch_text("../config.json").await?)
        .map_err(|e| format!("config.json: {e}"))?;
    let address = |s: &str| {
        s.parse()
            .map_err(|e| format!("deployment address {s}: {e}"))
    };
    let d = &config.deployment;
    let registry = Registry::connect(
        Rpc::http(&config.rpc_url).map_err(|e| e.to_string())?,
        d.chain_id,
        address(&d.stream_registry)?,
        d.start_block,
        Sender::None,
    )
    .await
    .map_err(|e| e.to_string())?
    .with_market(address(&d.marketplace)?, address(&d.data_token)?);
    let products = registry.list_products().await.map_err(|e| e.to_string())?;
    Ok((
        Rc::new(config),
        Rc::new(products.iter().map(Listing::of).collect()),
    ))
}

/// anvil's development account 8 (its key is public; the local chain only): lets a newcomer try buying
/// without a wallet. The page labels it as such.
const DEV_ACCOUNT_KEY: &str = "0xdbda1821b80551c9d65939329250298aa3472ba22feea921c0cf5d620ea67b97";
const LOCAL_CHAIN_ID: u64 = 31337;

/// Who is buying: a key the page holds, its chain access, and a network client signed in as it (so
/// relay nodes recognise its licences).
struct Account {
    address: alloy_primitives::Address,
    registry: Registry,
    client: Client,
}

/// An account handed to components (compared by address).
#[derive(Clone)]
struct Buyer(Rc<Account>);

impl PartialEq for Buyer {
    fn eq(&self, other: &Buyer) -> bool {
        self.0.address == other.0.address
    }
}

async fn dev_account(config: &Config) -> Result<Buyer, String> {
    let key = rivulet_protocol::Signer::from_hex(DEV_ACCOUNT_KEY).map_err(|e| e.to_string())?;
    let address = alloy_primitives::Address::from(key.address().0);
    let client = Client::new(ClientConfig {
        nodes: config.nodes.iter().filter_map(|a| a.parse().ok()).collect(),
        private_key: Some(key.to_bytes()),
        ..ClientConfig::default()
    })
    .map_err(|e| e.to_string())?;
    let d = &config.deployment;
    let parse = |s: &str| {
        s.parse()
            .map_err(|e| format!("deployment address {s}: {e}"))
    };
    let registry = Registry::connect(
        Rpc::http(&config.rpc_url).map_err(|e| e.to_string())?,
        d.chain_id,
        parse(&d.stream_registry)?,
        d.start_block,
        Sender::Key(key),
    )
    .await
    .map_err(|e| e.to_string())?
    .with_market(parse(&d.marketplace)?, parse(&d.data_token)?);
    Ok(Buyer(Rc::new(Account {
        address,
        registry,
        client,
    })))
}

#[derive(Clone, PartialEq)]
enum Load {
    Loading,
    Failed(String),
    Ready(Rc<Config>, Rc<Vec<Listing>>),
}

/// The whole app.
#[function_component(App)]
pub(crate) fn app() -> Html {
    let state = use_state(|| Load::Loading);
    let query = use_state(String::new);
    let selected = use_state(|| None::<u64>);
    let buyer = use_state(|| None::<Buyer>);
    let balance = use_state(String::new);
    let refresh = use_state(|| 0u32);
    {
        let balance = balance.clone();
        use_effect_with(((*buyer).clone(), *refresh), move |(buyer, _)| {
            if let Some(Buyer(account)) = buyer.clone() {
                spawn_local(async move {
                    balance.set(match account.registry.balance(account.address).await {
                        Ok(wei) => format!("{} DATA", format_data(wei, 4)),
                        Err(e) => format!("balance unknown: {e}"),
                    });
                });
            }
        });
    }
    {
        let state = state.clone();
        use_effect_with((), move |_| {
            spawn_local(async move {
                state.set(match load().await {
                    Ok((config, listings)) => Load::Ready(config, listings),
                    Err(e) => Load::Failed(e),
                });
            });
        });
    }
    let body = match &*state {
        Load::Loading => {
            html! { <p class="status" id="status">{ "Loading products from the chain…" }</p> }
        }
        Load::Failed(e) => html! {
            <p class="error" role="alert" id="error">{ format!("The marketplace could not be read: {e}") }</p>
        },
        Load::Ready(config, listings) => match (*selected)
            .and_then(|id| listings.iter().find(|l| l.id == id))
        {
            Some(listing) => {
                let back = {
                    let selected = selected.clone();
                    Callback::from(move |_: MouseEvent| selected.set(None))
                };
                let bought = {
                    let refresh = refresh.clone();
                    Callback::from(move |()| refresh.set(*refresh + 1))
                };
                html! { <ProductPage listing={listing.clone()} config={config.clone()} on_back={back}
                buyer={(*buyer).clone()} on_bought={bought} /> }
            }
            None => {
                let on_search = {
                    let query = query.clone();
                    Callback::from(move |e: InputEvent| {
                        if let Some(input) = e.target_dyn_into::<web_sys::HtmlInputElement>() {
                            query.set(input.value());
                        }
                    })
                };
                let shown: Vec<&Listing> = listings.iter().filter(|l| l.matches(&query)).collect();
                html! {
                    <>
                        <label for="search">{ "Search products" }</label>
                        <input id="search" type="search" placeholder="name, category, stream…"
                            value={(*query).clone()} oninput={on_search} />
                        if listings.is_empty() {
                            <p class="empty" id="empty">{ "No products are listed yet. Sellers list streams with `relay-node product create`." }</p>
                        } else if shown.is_empty() {
                            <p class="empty" id="empty">{ format!("No product matches \u{201c}{}\u{201d}.", *query) }</p>
                        }
                        <ul class="products" id="products">
                            { for shown.into_iter().map(|l| {
                                let open = {
                                    let selected = selected.clone();
                                    let id = l.id;
                                    Callback::from(move |_: MouseEvent| selected.set(Some(id)))
                                };
                                html! {
                                    <li class="product" key={l.id}>
                                        <h2><button class="link" onclick={open}>{ &l.name }</button></h2>
                                        <p>{ &l.description }</p>
                                        <p class="meta">
                                            { if l.category.is_empty() { String::new() } else { format!("{} · ", l.category) } }
                                            { format!("{} DATA per hour · from {} · seller {}",
                                                format_data(l.price_per_second * alloy_primitives::U256::from(3600u64), 4),
                                                format_period(l.minimum_seconds), short(&l.seller)) }
                                            if !l.active { { " · paused" } }
                                        </p>
                                    </li>
                                }
                            }) }
                        </ul>
                    </>
                }
            }
        },
    };
    let account = match (&*state, &*buyer) {
        (_, Some(Buyer(account))) => {
            let faucet = {
                let account = account.clone();
                let refresh = refresh.clone();
                Callback::from(move |_: MouseEvent| {
                    let account = account.clone();
                    let refresh = refresh.clone();
                    spawn_local(async move {
                        let hundred = alloy_primitives::U256::from(100u64)
                            * alloy_primitives::U256::from(10u64)
                                .pow(alloy_primitives::U256::from(18u64));
                        let _ = account.registry.faucet(account.address, hundred).await;
                        refresh.set(*refresh + 1);
                    });
                })
            };
            html! {
                <span class="account">
                    { " · local development account " }<span class="mono">{ short(&account.address.to_checksum(None)) }</span>
                    { " · " }<span id="balance">{ (*balance).clone() }</span>{ " " }
                    <button id="faucet" onclick={faucet}>{ "Get 100 DATA" }</button>
                </span>
            }
        }
        (Load::Ready(config, _), None) if config.deployment.chain_id == LOCAL_CHAIN_ID => {
            let use_dev = {
                let buyer = buyer.clone();
                let config = config.clone();
                Callback::from(move |_: MouseEvent| {
                    let buyer = buyer.clone();
                    let config = config.clone();
                    spawn_local(async move {
                        if let Ok(account) = dev_account(&config).await {
                            buyer.set(Some(account));
                        }
                    });
                })
            };
            html! {
                <span class="account">{ " · " }
                    <button id="dev-account" onclick={use_dev}>{ "Use the local development account" }</button>
                    { " (a public test key, local chain only — not a wallet)" }
                </span>
            }
        }
        _ => html! {},
    };
    html! {
        <>
            <header><a href="../">{ "Rivulet" }</a>{ " · Marketplace" }{ account }</header>
            <main>{ body }</main>
        </>
    }
}

#[derive(Properties, PartialEq)]
struct ProductProps {
    listing: Listing,
    config: Rc<Config>,
    on_back: Callback<MouseEvent>,
    buyer: Option<Buyer>,
    on_bought: Callback<()>,
}

/// Licence periods offered, seconds.
const PERIODS: [(u64, &str); 3] = [(60, "1 minute"), (3600, "1 hour"), (86_400, "1 day")];

/// One product: terms, price, streams, and a live preview of each stream anyone may read.
#[function_component(ProductPage)]
fn product_page(props: &ProductProps) -> Html {
    let l = &props.listing;
    let client = use_state(|| None::<Client>);
    let status = use_state(String::new);
    let generation = use_state(|| 0u32);
    {
        let client = client.clone();
        let config = props.config.clone();
        let buyer = props.buyer.clone();
        use_effect_with((l.id, buyer.is_some()), move |_| {
            // Signed in as the buyer when there is one (licences are per address); anonymous otherwise.
            let (made, own) = match buyer {
                Some(Buyer(account)) => (Some(account.client.clone()), false),
                None => {
                    let nodes = config.nodes.iter().filter_map(|a| a.parse().ok()).collect();
                    (
                        Client::new(ClientConfig {
                            nodes,
                            ..ClientConfig::default()
                        })
                        .ok(),
                        true,
                    )
                }
            };
            client.set(made.clone());
            move || {
                if let Some(c) = made.filter(|_| own) {
                    c.destroy();
                }
            }
        });
    }
    let buy = props.buyer.clone().map(|Buyer(account)| {
        let status = status.clone();
        let generation = generation.clone();
        let on_bought = props.on_bought.clone();
        let id = l.id;
        let price_per_second = l.price_per_second;
        Callback::from(move |seconds: u64| {
            let account = account.clone();
            let status = status.clone();
            let generation = generation.clone();
            let on_bought = on_bought.clone();
            spawn_local(async move {
                let price = price_per_second * alloy_primitives::U256::from(seconds);
                status.set(format!(
                    "Signing a permit for {} DATA and sending the purchase…",
                    format_data(price, 6)
                ));
                let deadline = js_sys::Date::now() as u64 / 1000 + 600;
                match account
                    .registry
                    .buy_with_permit(id, seconds, price, deadline)
                    .await
                {
                    Ok(expiry) => {
                        let until = js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(
                            expiry as f64 * 1000.0,
                        ));
                        status.set(format!(
                            "Licensed until {}.",
                            String::from(
                                until.to_locale_string("en-GB", &wasm_bindgen::JsValue::UNDEFINED)
                            )
                        ));
                        generation.set(*generation + 1);
                        on_bought.emit(());
                    }
                    Err(e) => status.set(format!("The purchase did not go through: {e}")),
                }
            });
        })
    });
    let hour = l.price_per_second * alloy_primitives::U256::from(3600u64);
    html! {
        <article id="product">
            <button class="link" id="back" onclick={props.on_back.clone()}>{ "← All products" }</button>
            <h1>{ &l.name }</h1>
            <p>{ &l.description }</p>
            <dl>
                <dt>{ "Price" }</dt>
                <dd id="price">{ format!("{} DATA per hour ({} DATA per day)", format_data(hour, 6),
                    format_data(hour * alloy_primitives::U256::from(24u64), 4)) }</dd>
                <dt>{ "Shortest licence" }</dt><dd>{ format_period(l.minimum_seconds) }</dd>
                <dt>{ "Seller" }</dt><dd class="mono">{ &l.seller }</dd>
                <dt>{ "On sale" }</dt><dd>{ if l.active { "yes" } else { "paused by the seller" } }</dd>
            </dl>
            if let Some(buy) = buy {
                <section class="buy">
                    <h2>{ "Buy a licence" }</h2>
                    <p>{ "One transaction: the DATA is authorised by an EIP-2612 permit signed with the account's key." }</p>
                    { for PERIODS.iter().filter(|(s, _)| *s >= l.minimum_seconds).map(|(seconds, label)| {
                        let buy = buy.clone();
                        let seconds = *seconds;
                        let price = l.price_per_second * alloy_primitives::U256::from(seconds);
                        html! {
                            <button class="buy-period" data-seconds={seconds.to_string()}
                                onclick={Callback::from(move |_: MouseEvent| buy.emit(seconds))}>
                                { format!("{label} for {} DATA", format_data(price, 6)) }
                            </button>
                        }
                    }) }
                    <p id="buy-status" aria-live="polite">{ (*status).clone() }</p>
                </section>
            }
            <h2>{ "Streams" }</h2>
            { for l.streams.iter().map(|s| html! {
                <Preview stream={s.clone()} client={(*client).clone().map(Shared)} generation={*generation} />
            }) }
        </article>
    }
}

/// A client handed to child components (compared by identity).
#[derive(Clone)]
struct Shared(Client);

impl PartialEq for Shared {
    fn eq(&self, other: &Shared) -> bool {
        self.0.peer_id() == other.0.peer_id()
    }
}

#[derive(Properties, PartialEq)]
struct PreviewProps {
    stream: String,
    client: Option<Shared>,
    /// Bumped after a purchase: subscribe again (the licence may now allow it).
    generation: u32,
}

#[derive(Clone, PartialEq)]
enum PreviewState {
    Connecting,
    Live,
    Restricted,
    Failed(String),
}

/// The latest events of one stream, verified in the page, newest first.
#[function_component(Preview)]
fn preview(props: &PreviewProps) -> Html {
    let rows = use_mut_ref(Vec::<(u64, String, String)>::new);
    let state = use_state(|| PreviewState::Connecting);
    let redraw = use_force_update();
    {
        let rows = rows.clone();
        let state = state.clone();
        let stream = props.stream.clone();
        let client = props.client.clone();
        let peer = client.as_ref().map(|Shared(c)| c.peer_id());
        let generation = props.generation;
        use_effect_with((stream.clone(), peer, props.generation), move |_| {
            let stop = Rc::new(RefCell::new(false));
            if let (Some(Shared(client)), Ok(part)) =
                (client, format!("{stream}#0").parse::<StreamPartId>())
            {
                let stop = stop.clone();
                // Just after a purchase the relay nodes may not have seen the licence yet (they follow
                // the chain): ask again for a while before calling the stream restricted.
                let attempts = if generation > 0 { 20 } else { 1 };
                spawn_local(async move {
                    let mut attempt = 0;
                    let mut sub = loop {
                        attempt += 1;
                        match client.subscribe(&part, Some(10)).await {
                            Ok(sub) => break sub,
                            Err(ClientError::Refused { code, .. })
                                if code == "no_permission" && attempt < attempts =>
                            {
                                rivulet_client::runtime::sleep(std::time::Duration::from_millis(
                                    500,
                                ))
                                .await;
                            }
                            Err(ClientError::Refused { code, .. }) if code == "no_permission" => {
                                state.set(PreviewState::Restricted);
                                return;
                            }
                            Err(e) => {
                                state.set(PreviewState::Failed(e.to_string()));
                                return;
                            }
                        }
                    };
                    state.set(PreviewState::Live);
                    while let Some(event) = sub.next().await {
                        if *stop.borrow() {
                            break;
                        }
                        if let SubscriptionEvent::Message(m) = event {
                            let content = String::from_utf8_lossy(&m.body.content).into_owned();
                            let mut rows = rows.borrow_mut();
                            rows.insert(
                                0,
                                (
                                    m.id().timestamp,
                                    short(&m.id().publisher.to_checksum()),
                                    content,
                                ),
                            );
                            rows.truncate(10);
                            drop(rows);
                            redraw.force_update();
                        }
                    }
                });
            }
            move || *stop.borrow_mut() = true
        });
    }
    let status = match &*state {
        PreviewState::Connecting => {
            html! { <p class="status">{ "Connecting to the network…" }</p> }
        }
        PreviewState::Live => {
            html! { <p class="status live">{ "Live: the latest events, each signature verified in this page" }</p> }
        }
        PreviewState::Restricted => html! {
            <p class="restricted">{ "This stream is for licence holders: its events are not public, so there is no preview." }</p>
        },
        PreviewState::Failed(e) => {
            html! { <p class="error" role="alert">{ format!("No preview: {e}") }</p> }
        }
    };
    html! {
        <section class="stream">
            <h3 class="mono">{ &props.stream }</h3>
            { status }
            if !rows.borrow().is_empty() {
                <table class="events">
                    <thead><tr><th>{ "Time (ms)" }</th><th>{ "Publisher" }</th><th>{ "Verified" }</th><th>{ "Content" }</th></tr></thead>
                    <tbody>
                        { for rows.borrow().iter().map(|(t, publisher, content)| html! {
                            <tr><td>{ t }</td><td class="mono">{ publisher }</td><td>{ "✓" }</td><td class="mono">{ content }</td></tr>
                        }) }
                    </tbody>
                </table>
            }
        </section>
    }
}
