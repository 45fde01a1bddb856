//! The runtime edge: spawning, clock and entropy, the only places where native and browser builds differ.

use std::{future::Future, pin::Pin, time::Duration};

/// A boxed future the client can hold: `Send` natively, where tasks move between threads; not in the
/// browser, where JavaScript values live on one thread.
#[cfg(not(target_arch = "wasm32"))]
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A boxed future the client can hold: `Send` natively, where tasks move between threads; not in the
/// browser, where JavaScript values live on one thread.
#[cfg(target_arch = "wasm32")]
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + 'a>>;

/// What the client's shared parts must be: `Send + Sync` natively, anything in the browser.
#[cfg(not(target_arch = "wasm32"))]
pub trait MaybeSend: Send + Sync {}
#[cfg(not(target_arch = "wasm32"))]
impl<T: Send + Sync> MaybeSend for T {}

/// What the client's shared parts must be: `Send + Sync` natively, anything in the browser.
#[cfg(target_arch = "wasm32")]
pub trait MaybeSend {}
#[cfg(target_arch = "wasm32")]
impl<T> MaybeSend for T {}

/// Runs `future` in the background: on tokio natively (a runtime must be running), on the browser's
/// event loop in wasm.
#[cfg(not(target_arch = "wasm32"))]
pub(crate) fn spawn<F: Future<Output = ()> + Send + 'static>(future: F) {
    tokio::spawn(future);
}

/// Runs `future` in the background: on tokio natively (a runtime must be running), on the browser's
/// event loop in wasm.
#[cfg(target_arch = "wasm32")]
pub(crate) fn spawn<F: Future<Output = ()> + 'static>(future: F) {
    wasm_bindgen_futures::spawn_local(future);
}

/// Wall-clock time, milliseconds since the Unix epoch.
#[cfg(not(target_arch = "wasm32"))]
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Wall-clock time, milliseconds since the Unix epoch.
#[cfg(target_arch = "wasm32")]
pub fn now_ms() -> u64 {
    js_sys::Date::now() as u64
}

/// Waits `duration` (a timer on either runtime).
pub async fn sleep(duration: Duration) {
    futures_timer::Delay::new(duration).await;
}

/// A cryptographic random number generator on the platform's secure source.
pub(crate) fn rng() -> rivulet_protocol::rand_core::UnwrapErr<getrandom::SysRng> {
    rivulet_protocol::rand_core::UnwrapErr(getrandom::SysRng)
}

/// `N` bytes from the operating system's (or the browser's) secure random source.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    // Fails only where no entropy source exists at all, which rules out every target we build for.
    if let Err(e) = getrandom::fill(&mut bytes) {
        panic!("no secure random source: {e}");
    }
    bytes
}
