//! The seller's page in parts: `CreateStream`, `GrantDevice` and `ListProduct` (forms that hand what was
//! typed to the page, which checks it and runs the transaction), `MyProducts` (pause or resume sales,
//! change a price) and `Sales` (every sale and the revenue).

mod create_stream;
mod grant_device;
mod list_product;
mod my_products;
mod sales;

use wasm_bindgen::JsCast;
use yew::NodeRef;

pub(crate) use create_stream::CreateStream;
pub(crate) use grant_device::GrantDevice;
pub(crate) use list_product::ListProduct;
pub(crate) use my_products::MyProducts;
pub(crate) use sales::Sales;

/// The value of the input, select or text area `node` refers to (empty when none).
fn value(node: &NodeRef) -> String {
    let Some(e) = node.get() else {
        return String::new();
    };
    if let Some(input) = e.dyn_ref::<web_sys::HtmlInputElement>() {
        input.value()
    } else if let Some(select) = e.dyn_ref::<web_sys::HtmlSelectElement>() {
        select.value()
    } else if let Some(area) = e.dyn_ref::<web_sys::HtmlTextAreaElement>() {
        area.value()
    } else {
        String::new()
    }
}
