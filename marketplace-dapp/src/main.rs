//! # marketplace-dapp
//!
//! The Rivulet marketplace in the browser, in Rust (Yew): products read from the Marketplace contract
//! through `rivulet-chain-lite`, searchable; a product page with its terms and, for streams anyone may
//! read, a live preview of the latest events through `rivulet-client` (every event verified in the page).
//! Served by `cargo xtask up` at `/dapp/`, next to the site, reading `/config.json`.
//!
//! `model` holds what the pages show as plain data (tested natively); `app` holds the components.

// Natively only the tests use it.
#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
mod model;

#[cfg(target_arch = "wasm32")]
mod app;
#[cfg(target_arch = "wasm32")]
mod licences;
#[cfg(target_arch = "wasm32")]
mod live;
#[cfg(target_arch = "wasm32")]
mod sell;
#[cfg(target_arch = "wasm32")]
mod wallet;

#[cfg(target_arch = "wasm32")]
fn main() {
    yew::Renderer::<app::App>::new().render();
}

#[cfg(not(target_arch = "wasm32"))]
fn main() {
    eprintln!(
        "the marketplace dapp runs in the browser: `cargo xtask up` builds it and serves it at /dapp/"
    );
}
