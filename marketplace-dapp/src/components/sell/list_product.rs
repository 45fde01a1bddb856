//! The form that lists a product: the streams a licence covers, name, description, category, price
//! per hour, shortest licence, who is paid, terms.

use wasm_bindgen::JsCast;
use yew::prelude::*;

use super::value;
use crate::{input::ProductForm, model::OwnStream};

/// Shortest licences a seller can choose, seconds and words.
const MINIMUMS: [(u64, &str); 3] = [(60, "1 minute"), (3600, "1 hour"), (86_400, "1 day")];

/// What `ListProduct` offers and whom it tells.
#[derive(Properties, PartialEq)]
pub(crate) struct ListProductProps {
    /// The account's streams (at least one).
    pub(crate) streams: Vec<OwnStream>,
    /// The account, checksummed: paid when no one else is named.
    pub(crate) seller: AttrValue,
    /// Another form's transaction is running.
    pub(crate) busy: bool,
    /// Told the product as typed.
    pub(crate) on_list: Callback<ProductForm>,
}

/// The values of the ticked stream boxes in `form`.
fn ticked(form: &NodeRef) -> Vec<String> {
    let Some(list) = form
        .cast::<web_sys::Element>()
        .and_then(|f| f.query_selector_all(".list-stream:checked").ok())
    else {
        return Vec::new();
    };
    (0..list.length())
        .filter_map(|i| list.item(i))
        .filter_map(|n| n.dyn_into::<web_sys::HtmlInputElement>().ok())
        .map(|input| input.value())
        .collect()
}

/// The product form.
#[function_component(ListProduct)]
pub(crate) fn list_product(props: &ListProductProps) -> Html {
    let form = use_node_ref();
    let name = use_node_ref();
    let description = use_node_ref();
    let category = use_node_ref();
    let price = use_node_ref();
    let minimum = use_node_ref();
    let beneficiary = use_node_ref();
    let terms = use_node_ref();
    let submit = {
        let fields = [
            &name,
            &description,
            &category,
            &price,
            &minimum,
            &beneficiary,
            &terms,
        ]
        .map(Clone::clone);
        let form = form.clone();
        let on_list = props.on_list.clone();
        Callback::from(move |e: SubmitEvent| {
            e.prevent_default();
            let [
                name,
                description,
                category,
                price,
                minimum,
                beneficiary,
                terms,
            ] = fields.each_ref().map(value);
            on_list.emit(ProductForm {
                streams: ticked(&form),
                name,
                description,
                category,
                price,
                minimum,
                beneficiary,
                terms,
            });
        })
    };
    html! {
        <form id="list-product" ref={form} onsubmit={submit}>
            <fieldset>
                <legend>{ "Streams the licence covers" }</legend>
                { for props.streams.iter().map(|s| html! {
                    <label class="check"><input type="checkbox" class="list-stream" value={s.id.clone()} />{ format!(" {} ", s.id) }
                        <span class="meta">{ &s.name }</span></label>
                }) }
            </fieldset>
            <label for="product-name">{ "Name " }</label><input id="product-name" ref={name} required=true /><br />
            <label for="product-description">{ "Description " }</label><input id="product-description" ref={description} /><br />
            <label for="product-category">{ "Category " }</label><input id="product-category" ref={category} /><br />
            <label for="product-price">{ "Price per hour (DATA) " }</label>
            <input id="product-price" ref={price} inputmode="decimal" required=true placeholder="0.5" /><br />
            <label for="product-minimum">{ "Shortest licence " }</label>
            <select id="product-minimum" ref={minimum}>
                { for MINIMUMS.iter().map(|(s, label)| html! { <option value={s.to_string()}>{ *label }</option> }) }
            </select><br />
            <label for="product-beneficiary">{ "Paid to " }</label>
            <input id="product-beneficiary" ref={beneficiary} placeholder={props.seller.clone()} size="44" /><br />
            <label for="product-terms">{ "Terms (URL) " }</label>
            <input id="product-terms" ref={terms} type="url" placeholder="https://…" /><br />
            <button type="submit" disabled={props.busy}>{ "List product" }</button>
        </form>
    }
}
