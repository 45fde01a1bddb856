//! The seller's products: each one's price per hour and sales, a button that pauses or resumes its
//! sales, and a form that changes its price.

use std::rc::Rc;

use yew::prelude::*;

use super::value;
use crate::model::{Listing, Route, Sale, format_data};

/// What `MyProducts` shows and whom it tells.
#[derive(Properties, PartialEq)]
pub(crate) struct MyProductsProps {
    /// The account's products (at least one).
    pub(crate) products: Vec<Listing>,
    /// Their sales.
    pub(crate) sales: Rc<Vec<Sale>>,
    /// A transaction is running.
    pub(crate) busy: bool,
    /// Told a product and whether it should be on sale.
    pub(crate) on_sale: Callback<(u64, bool)>,
    /// Told a product and its new price per hour as typed.
    pub(crate) on_reprice: Callback<(u64, String)>,
}

/// The seller's products as a table.
#[function_component(MyProducts)]
pub(crate) fn my_products(props: &MyProductsProps) -> Html {
    html! {
        <table class="events" id="my-products">
            <thead><tr><th>{ "Product" }</th><th>{ "Price per hour" }</th><th>{ "Sales" }</th><th>{ "Actions" }</th></tr></thead>
            <tbody>
                { for props.products.iter().map(|l| html! {
                    <ProductRow key={l.id} listing={l.clone()}
                        sold={props.sales.iter().filter(|p| p.product_id == l.id).count()}
                        busy={props.busy} on_sale={props.on_sale.clone()} on_reprice={props.on_reprice.clone()} />
                }) }
            </tbody>
        </table>
    }
}

#[derive(Properties, PartialEq)]
struct RowProps {
    listing: Listing,
    sold: usize,
    busy: bool,
    on_sale: Callback<(u64, bool)>,
    on_reprice: Callback<(u64, String)>,
}

/// One product's row.
#[function_component(ProductRow)]
fn product_row(props: &RowProps) -> Html {
    let l = &props.listing;
    let (id, active) = (l.id, l.active);
    let price = use_node_ref();
    let toggle = props.on_sale.reform(move |_: MouseEvent| (id, !active));
    let reprice = {
        let price = price.clone();
        let on_reprice = props.on_reprice.clone();
        Callback::from(move |e: SubmitEvent| {
            e.prevent_default();
            on_reprice.emit((id, value(&price)));
        })
    };
    html! {
        <tr id={format!("my-product-{id}")}>
            <td><a href={Route::Product(id).hash()}>{ &l.name }</a>
                { if active { "" } else { " (paused)" } }</td>
            <td>{ format_data(l.price_per_hour(), 6) }</td>
            <td>{ props.sold }</td>
            <td>
                <button class="toggle-sale" onclick={toggle} disabled={props.busy}>
                    { if active { "Pause sales" } else { "Resume sales" } }
                </button>
                <form class="reprice" onsubmit={reprice}>
                    <label for={format!("price-{id}")}>{ "New price per hour (DATA) " }</label>
                    <input id={format!("price-{id}")} ref={price} inputmode="decimal" size="8" required=true />
                    <button type="submit" disabled={props.busy}>{ "Change price" }</button>
                </form>
            </td>
        </tr>
    }
}
