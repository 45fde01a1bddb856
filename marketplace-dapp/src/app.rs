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
                html! { <ProductPage listing={listing.clone()} config={config.clone()} on_back={back} /> }
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
    html! {
        <>
            <header><a href="../">{ "Rivulet" }</a>{ " · Marketplace" }</header>
            <main>{ body }</main>
        </>
    }
}

#[derive(Properties, PartialEq)]
struct ProductProps {
    listing: Listing,
    config: Rc<Config>,
    on_back: Callback<MouseEvent>,
}

/// One product: terms, price, streams, and a live preview of each stream anyone may read.
#[function_component(ProductPage)]
fn product_page(props: &ProductProps) -> Html {
    let l = &props.listing;
    let client = use_state(|| None::<Client>);
    {
        let client = client.clone();
        let config = props.config.clone();
        use_effect_with(l.id, move |_| {
            let nodes = config.nodes.iter().filter_map(|a| a.parse().ok()).collect();
            let made = Client::new(ClientConfig {
                nodes,
                ..ClientConfig::default()
            })
            .ok();
            client.set(made.clone());
            move || {
                if let Some(c) = made {
                    c.destroy();
                }
            }
        });
    }
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
            <h2>{ "Streams" }</h2>
            { for l.streams.iter().map(|s| html! {
                <Preview stream={s.clone()} client={(*client).clone().map(Shared)} />
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
        use_effect_with((stream.clone(), client.is_some()), move |_| {
            let stop = Rc::new(RefCell::new(false));
            if let (Some(Shared(client)), Ok(part)) =
                (client, format!("{stream}#0").parse::<StreamPartId>())
            {
                let stop = stop.clone();
                spawn_local(async move {
                    let mut sub = match client.subscribe(&part, Some(10)).await {
                        Ok(sub) => sub,
                        Err(ClientError::Refused { code, .. }) if code == "no_permission" => {
                            state.set(PreviewState::Restricted);
                            return;
                        }
                        Err(e) => {
                            state.set(PreviewState::Failed(e.to_string()));
                            return;
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
