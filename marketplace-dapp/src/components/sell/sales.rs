//! The seller's sales, newest first: block, product, buyer, period and price; and the revenue.

use std::rc::Rc;

use alloy_primitives::U256;
use yew::prelude::*;

use crate::model::{Listing, Sale, format_data, format_period, short};

/// What `Sales` shows.
#[derive(Properties, PartialEq)]
pub(crate) struct SalesProps {
    /// Every sale of the seller's products, oldest first.
    pub(crate) sales: Rc<Vec<Sale>>,
    /// The seller's products (for their names).
    pub(crate) products: Vec<Listing>,
}

/// The revenue and the sales table.
#[function_component(Sales)]
pub(crate) fn sales(props: &SalesProps) -> Html {
    let sales = &props.sales;
    let revenue = sales.iter().fold(U256::ZERO, |sum, p| sum + p.price);
    let name = |id: u64| {
        props
            .products
            .iter()
            .find(|l| l.id == id)
            .map_or_else(|| id.to_string(), |l| l.name.clone())
    };
    html! {
        <>
            <p id="revenue">{ format!("Revenue: {} DATA from {} sale{}.", format_data(revenue, 6), sales.len(), if sales.len() == 1 { "" } else { "s" }) }</p>
            if !sales.is_empty() {
                <table class="events" id="sales">
                    <thead><tr><th>{ "Block" }</th><th>{ "Product" }</th><th>{ "Buyer" }</th><th>{ "Period" }</th><th>{ "Paid (DATA)" }</th></tr></thead>
                    <tbody>
                        { for sales.iter().rev().map(|p| {
                            let buyer = p.buyer.to_checksum(None);
                            html! {
                                <tr>
                                    <td>{ p.block }</td>
                                    <td>{ name(p.product_id) }</td>
                                    <td class="mono" title={buyer.clone()}>{ short(&buyer) }</td>
                                    <td>{ format_period(p.seconds) }</td>
                                    <td>{ format_data(p.price, 6) }</td>
                                </tr>
                            }
                        }) }
                    </tbody>
                </table>
            }
        </>
    }
}
