//! One product in the list: its name (a link to its page), description, category, price per hour,
//! shortest licence, seller and streams.

use yew::prelude::*;

use crate::model::{Listing, Route, format_data, format_period, short};

/// What `ProductCard` shows.
#[derive(Properties, PartialEq)]
pub(crate) struct ProductCardProps {
    /// The product.
    pub(crate) listing: Listing,
}

/// A product as a list item.
#[function_component(ProductCard)]
pub(crate) fn product_card(props: &ProductCardProps) -> Html {
    let l = &props.listing;
    html! {
        <li class="product">
            <h2><a href={Route::Product(l.id).hash()}>{ &l.name }</a></h2>
            <p>{ &l.description }</p>
            <p class="meta">
                { if l.category.is_empty() { String::new() } else { format!("{} · ", l.category) } }
                { format!("{} DATA per hour · from {} · seller {}",
                    format_data(l.price_per_hour(), 4),
                    format_period(l.minimum_seconds), short(&l.seller)) }
                if !l.active { { " · paused" } }
            </p>
            <p class="meta mono">{ l.streams.join(", ") }</p>
        </li>
    }
}
