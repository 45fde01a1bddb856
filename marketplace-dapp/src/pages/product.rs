//! `#/product/<id>`: one product's terms and price, the purchase panel (for a connected account), and
//! each of its streams live — read as the account (its licences count) or anonymously.

use std::rc::Rc;

use alloy_primitives::U256;
use yew::prelude::*;

use crate::{
    components::{BuyPanel, LiveView},
    model::{Listing, format_data, format_period},
    services::{config::Config, network::Network, wallet::Account},
};

/// What the product page shows and whom it tells.
#[derive(Properties, PartialEq)]
pub(crate) struct ProductProps {
    /// The product.
    pub(crate) listing: Listing,
    /// The deployment (for an anonymous network client).
    pub(crate) config: Rc<Config>,
    /// The account, when connected.
    pub(crate) account: Option<Account>,
    /// Told after a purchase.
    pub(crate) on_changed: Callback<()>,
}

/// One product: terms, price, the purchase panel, and the live view of each stream.
#[function_component(ProductPage)]
pub(crate) fn product_page(props: &ProductProps) -> Html {
    let l = &props.listing;
    let network = use_state(|| None::<Network>);
    let generation = use_state(|| 0u32);
    {
        let network = network.clone();
        let config = props.config.clone();
        use_effect_with((l.id, props.account.clone()), move |(_, account)| {
            // Reading as the account when there is one (licences are per address); anonymously otherwise.
            let (made, own) = match account {
                Some(account) => (Some(account.network().clone()), false),
                None => (Network::new(&config, None, None).ok(), true),
            };
            network.set(made.clone());
            move || {
                if let Some(n) = made.filter(|_| own) {
                    n.destroy();
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
    let hour = l.price_per_hour();
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
            if let Some(account) = props.account.clone() {
                <BuyPanel listing={l.clone()} {account} on_bought={bought} />
            } else {
                <p class="note" id="buy-connect">{ "Connect a wallet (or use the local development account) to buy a licence." }</p>
            }
            <h2>{ "Streams" }</h2>
            { for l.stream_parts().map(|(s, partitions)| html! {
                <LiveView stream={s.clone()} {partitions} network={(*network).clone()} generation={*generation} />
            }) }
        </article>
    }
}
