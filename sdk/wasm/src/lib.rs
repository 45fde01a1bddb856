//! # rivulet-wasm
//!
//! The `wasm-bindgen` facade of [`rivulet_client`], shipped as the npm package `@rivulet/sdk`. The
//! package's JavaScript entry points (`js/`) wrap these bindings in a `Client` class a Streamr SDK user
//! recognises, initialise the module without a call the user could forget, and turn errors into
//! `RivuletError`s with codes. Argument and result shapes live in [`options`], free of `wasm-bindgen`.

pub mod options;

#[cfg(target_arch = "wasm32")]
pub mod bindings;
#[cfg(target_arch = "wasm32")]
pub mod chain;
#[cfg(target_arch = "wasm32")]
pub mod storage;
#[cfg(target_arch = "wasm32")]
mod vault;
