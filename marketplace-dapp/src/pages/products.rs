//! `#/`: every product, with a search over name, description, category and streams.

use std::rc::Rc;

use yew::prelude::*;

use crate::{
    components::{ProductCard, keep_typed},
    model::Listing,
};

/// What the product list shows.
#[derive(Properties, PartialEq)]
pub(crate) struct ProductsProps {
    /// Every product.
    pub(crate) listings: Rc<Vec<Listing>>,
}

/// Every product, searchable.
#[function_component(ProductsPage)]
pub(crate) fn products_page(props: &ProductsProps) -> Html {
    let query = use_state(String::new);
    let listings = &props.listings;
    let shown: Vec<&Listing> = listings.iter().filter(|l| l.matches(&query)).collect();
    html! {
        <>
            <label for="search">{ "Search products" }</label>
            <input id="search" type="search" placeholder="name, category, stream…"
                value={(*query).clone()} oninput={keep_typed(&query)} />
            if listings.is_empty() {
                <p class="empty" id="empty">{ "No products are listed yet. Sellers list streams under Sell." }</p>
            } else if shown.is_empty() {
                <p class="empty" id="empty">{ format!("No product matches \u{201c}{}\u{201d}.", *query) }</p>
            }
            <ul class="products" id="products">
                { for shown.into_iter().map(|l| html! { <ProductCard key={l.id} listing={l.clone()} /> }) }
            </ul>
        </>
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // test code: a panic is a failure report

    use alloy_primitives::U256;
    use wasm_bindgen_test::wasm_bindgen_test;

    use super::*;
    use crate::testing::{find, root, settle, texts, type_into};

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

    #[wasm_bindgen_test]
    async fn the_product_list_searches_and_says_when_nothing_matches() {
        let root = root();
        let listings = Rc::new(vec![
            listing(1, "Weather station", "environment", true),
            listing(2, "City traffic", "mobility", false),
        ]);
        yew::Renderer::<ProductsPage>::with_root_and_props(
            root.clone(),
            ProductsProps { listings },
        )
        .render();
        settle().await;
        let shown = texts(&root, "#products li");
        assert_eq!(shown.len(), 2);
        assert!(shown[0].contains("0.0036 DATA per hour"), "{}", shown[0]);
        assert!(shown[0].contains("environment · "), "{}", shown[0]);
        assert!(shown[1].contains("paused"), "{}", shown[1]);
        assert_eq!(
            find(&root, "#products li a").get_attribute("href").unwrap(),
            "#/product/1"
        );

        type_into(&root, "#search", "MOBILITY traffic").await;
        assert_eq!(texts(&root, "#products li").len(), 1);
        assert!(root.query_selector("#empty").unwrap().is_none());

        type_into(&root, "#search", "volcano").await;
        assert!(texts(&root, "#products li").is_empty());
        assert!(
            find(&root, "#empty")
                .text_content()
                .unwrap()
                .contains("volcano")
        );
    }

    #[wasm_bindgen_test]
    async fn an_empty_marketplace_says_so() {
        let root = root();
        yew::Renderer::<ProductsPage>::with_root_and_props(
            root.clone(),
            ProductsProps {
                listings: Rc::new(Vec::new()),
            },
        )
        .render();
        settle().await;
        assert!(
            find(&root, "#empty")
                .text_content()
                .unwrap()
                .contains("No products are listed yet")
        );
    }
}
