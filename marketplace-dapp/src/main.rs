//! # marketplace-dapp
//!
//! The Rivulet marketplace in the browser, in Rust (Yew): products read from the Marketplace contract,
//! searchable; product pages with their terms, purchase by an EIP-1193 wallet and live, verified
//! previews through the light client; the account's licences; the seller's streams, products and sales.
//! Served by `cargo xtask up` at `/dapp/`, next to the site, reading `/config.json`.
//!
//! Laid out as Yew's larger examples are (README.md has the map): `app` (the shell and the routes) →
//! `pages` (one per route) → `components` (props only) → `services` (every input and output) and the
//! plain modules `model`, `input` and `error`, which are tested natively.

// Natively only the tests use them.
#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
mod error;
#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
mod input;
#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
mod model;

#[cfg(target_arch = "wasm32")]
mod app;
#[cfg(target_arch = "wasm32")]
mod components;
#[cfg(target_arch = "wasm32")]
mod pages;
#[cfg(target_arch = "wasm32")]
mod services;
#[cfg(all(test, target_arch = "wasm32"))]
mod testing;

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
