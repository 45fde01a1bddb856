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

#[cfg(test)]
mod tests {
    //! The seller's forms hand over what was typed; the tables show products and sales.
    #![allow(clippy::unwrap_used)] // test code: a panic is a failure report

    use std::{cell::RefCell, rc::Rc};

    use alloy_primitives::{Address, U256};
    use wasm_bindgen::JsCast;
    use wasm_bindgen_test::wasm_bindgen_test;
    use yew::{Callback, Properties};

    use super::{
        create_stream::CreateStreamProps, grant_device::GrantDeviceProps,
        list_product::ListProductProps, my_products::MyProductsProps, sales::SalesProps, *,
    };
    use crate::{
        input::{DeviceForm, ProductForm, StreamForm},
        model::{Listing, OwnStream, Sale},
        testing::{click, find, root, settle, texts, type_into},
    };

    /// A callback that keeps what it is told.
    fn keep<T: 'static>() -> (Callback<T>, Rc<RefCell<Vec<T>>>) {
        let kept = Rc::new(RefCell::new(Vec::new()));
        let into = kept.clone();
        (Callback::from(move |t| into.borrow_mut().push(t)), kept)
    }

    async fn render<C: yew::BaseComponent>(props: C::Properties) -> web_sys::Element
    where
        C::Properties: Properties,
    {
        let root = root();
        yew::Renderer::<C>::with_root_and_props(root.clone(), props).render();
        settle().await;
        root
    }

    fn streams() -> Vec<OwnStream> {
        ["0xab/air", "0xab/noise"]
            .map(|id| OwnStream {
                id: id.into(),
                name: format!("{id} name"),
            })
            .to_vec()
    }

    #[wasm_bindgen_test]
    async fn creating_a_stream_hands_over_the_form() {
        let (on_create, kept) = keep::<StreamForm>();
        let root = render::<CreateStream>(CreateStreamProps {
            owner: "0xab".into(),
            busy: false,
            on_create,
        })
        .await;
        assert!(root.text_content().unwrap().contains("→ 0xab/…"));
        type_into(&root, "#stream-path", "sensors/air").await;
        type_into(&root, "#stream-name", "Air").await;
        type_into(&root, "#stream-partitions", "2").await;
        click(&root, "#create-stream button[type=submit]").await;
        assert_eq!(
            *kept.borrow(),
            [StreamForm {
                path: "sensors/air".into(),
                name: "Air".into(),
                description: String::new(),
                partitions: "2".into(),
                store: true,
                retention_days: "30".into(),
            }]
        );
    }

    #[wasm_bindgen_test]
    async fn what_was_typed_survives_the_form_rendering_again() {
        let (on_create, kept) = keep::<StreamForm>();
        let root = root();
        let props = |busy, on_create| CreateStreamProps {
            owner: "0xab".into(),
            busy,
            on_create,
        };
        let mut app = yew::Renderer::<CreateStream>::with_root_and_props(
            root.clone(),
            props(false, on_create.clone()),
        )
        .render();
        settle().await;
        type_into(&root, "#stream-path", "sensors/air").await;
        type_into(&root, "#stream-partitions", "4").await;
        type_into(&root, "#stream-retention", "7").await;
        click(&root, "#stream-store").await;
        // Another form's transaction starts and ends: the form renders twice more.
        app.update(props(true, on_create.clone()));
        settle().await;
        app.update(props(false, on_create));
        settle().await;
        let field = |selector| {
            find(&root, selector)
                .dyn_into::<web_sys::HtmlInputElement>()
                .unwrap()
        };
        assert_eq!(field("#stream-partitions").value(), "4");
        assert_eq!(field("#stream-retention").value(), "7");
        assert!(!field("#stream-store").checked());
        click(&root, "#create-stream button[type=submit]").await;
        let form = kept.borrow()[0].clone();
        assert_eq!(
            (
                form.partitions.as_str(),
                form.store,
                form.retention_days.as_str()
            ),
            ("4", false, "7")
        );
    }

    #[wasm_bindgen_test]
    async fn granting_a_device_hands_over_the_stream_and_address() {
        let (on_grant, kept) = keep::<DeviceForm>();
        let root = render::<GrantDevice>(GrantDeviceProps {
            streams: streams(),
            busy: false,
            on_grant,
        })
        .await;
        let select: web_sys::HtmlSelectElement = find(&root, "#device-stream").dyn_into().unwrap();
        select.set_value("0xab/noise");
        type_into(&root, "#device-address", "0x9965").await;
        click(&root, "#grant-device button[type=submit]").await;
        assert_eq!(
            *kept.borrow(),
            [DeviceForm {
                stream: "0xab/noise".into(),
                device: "0x9965".into()
            }]
        );
    }

    #[wasm_bindgen_test]
    async fn listing_a_product_hands_over_the_ticked_streams() {
        let (on_list, kept) = keep::<ProductForm>();
        let root = render::<ListProduct>(ListProductProps {
            streams: streams(),
            seller: "0xAB".into(),
            busy: false,
            on_list,
        })
        .await;
        assert_eq!(
            texts(&root, "label.check"),
            [" 0xab/air 0xab/air name", " 0xab/noise 0xab/noise name"]
        );
        let noise: web_sys::HtmlInputElement = find(&root, ".list-stream[value=\"0xab/noise\"]")
            .dyn_into()
            .unwrap();
        noise.set_checked(true);
        type_into(&root, "#product-name", "Noise").await;
        type_into(&root, "#product-price", "0.36").await;
        let minimum: web_sys::HtmlSelectElement =
            find(&root, "#product-minimum").dyn_into().unwrap();
        minimum.set_value("3600");
        click(&root, "#list-product button[type=submit]").await;
        assert_eq!(
            *kept.borrow(),
            [ProductForm {
                streams: vec!["0xab/noise".into()],
                name: "Noise".into(),
                price: "0.36".into(),
                minimum: "3600".into(),
                ..ProductForm::default()
            }]
        );
    }

    fn product(id: u64, active: bool) -> Listing {
        Listing {
            active,
            price_per_second: U256::from(100_000_000_000_000u64),
            ..Listing::described(id, &format!(r#"{{"name":"P{id}"}}"#))
        }
    }

    fn sale(product_id: u64, block: u64) -> Sale {
        Sale {
            block,
            product_id,
            buyer: Address::repeat_byte(0xa0),
            seconds: 60,
            price: U256::from(6_000_000_000_000_000u64),
        }
    }

    #[wasm_bindgen_test]
    async fn my_products_pause_resume_and_reprice() {
        let (on_sale, toggled) = keep::<(u64, bool)>();
        let (on_reprice, repriced) = keep::<(u64, String)>();
        let root = render::<MyProducts>(MyProductsProps {
            products: vec![product(1, true), product(2, false)],
            sales: Rc::new(vec![sale(1, 10), sale(1, 11)]),
            busy: false,
            on_sale,
            on_reprice,
        })
        .await;
        assert_eq!(
            texts(&root, "#my-product-1 td")[..3],
            ["P1", "0.36", "2"].map(String::from)
        );
        assert!(
            find(&root, "#my-product-2 td")
                .text_content()
                .unwrap()
                .contains("(paused)")
        );
        click(&root, "#my-product-1 .toggle-sale").await;
        click(&root, "#my-product-2 .toggle-sale").await;
        assert_eq!(*toggled.borrow(), [(1, false), (2, true)]);
        type_into(&root, "#price-2", "0.5").await;
        click(&root, "#my-product-2 .reprice button").await;
        assert_eq!(*repriced.borrow(), [(2, "0.5".to_owned())]);
    }

    #[wasm_bindgen_test]
    async fn sales_newest_first_with_the_revenue() {
        let root = render::<Sales>(SalesProps {
            sales: Rc::new(vec![sale(1, 10), sale(9, 11)]),
            products: vec![product(1, true)],
        })
        .await;
        assert_eq!(
            find(&root, "#revenue").text_content().unwrap(),
            "Revenue: 0.012 DATA from 2 sales."
        );
        let rows = texts(&root, "#sales tbody tr");
        assert!(rows[0].starts_with("119"), "{rows:?}");
        assert!(rows[1].starts_with("10P1"), "{rows:?}");
        assert!(rows[1].contains("1 min0.006"), "{rows:?}");
    }
}
