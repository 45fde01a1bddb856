//! The npm package's key vault: a JavaScript object `{ load(address), save(address, bytes) }` (both
//! may return promises) keeps the client's sealed group keys — the package brings IndexedDB in browsers
//! and a file in Node, and an application may bring its own.

use js_sys::{Function, Promise, Reflect, Uint8Array};
use rivulet_client::{KeyVault, VaultError, runtime::BoxFuture};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

/// A key vault in JavaScript, for one address.
pub(crate) struct JsKeyVault {
    store: JsValue,
    address: String,
}

impl JsKeyVault {
    /// The vault `store` for `address`.
    pub(crate) fn new(store: JsValue, address: String) -> JsKeyVault {
        JsKeyVault { store, address }
    }

    /// Calls `store[method](args…)` and waits for its promise, if it returned one.
    async fn call(&self, method: &str, args: &[JsValue]) -> Result<JsValue, VaultError> {
        let function = Reflect::get(&self.store, &method.into())
            .ok()
            .and_then(|f| f.dyn_into::<Function>().ok())
            .ok_or_else(|| VaultError(format!("the key store has no {method} function")))?;
        let result = match args {
            [a] => function.call1(&self.store, a),
            [a, b] => function.call2(&self.store, a, b),
            _ => function.call0(&self.store),
        }
        .map_err(|e| VaultError(describe(&e)))?;
        if result.is_instance_of::<Promise>() {
            JsFuture::from(Promise::from(result))
                .await
                .map_err(|e| VaultError(describe(&e)))
        } else {
            Ok(result)
        }
    }
}

fn describe(error: &JsValue) -> String {
    Reflect::get(error, &"message".into())
        .ok()
        .and_then(|m| m.as_string())
        .unwrap_or_else(|| format!("{error:?}"))
}

impl KeyVault for JsKeyVault {
    fn load(&self) -> BoxFuture<'_, Result<Option<Vec<u8>>, VaultError>> {
        Box::pin(async move {
            let value = self.call("load", &[self.address.clone().into()]).await?;
            if value.is_null() || value.is_undefined() {
                return Ok(None);
            }
            if !value.is_instance_of::<Uint8Array>() {
                return Err(VaultError("load must give a Uint8Array or null".into()));
            }
            Ok(Some(Uint8Array::new(&value).to_vec()))
        })
    }

    fn save(&self, sealed: Vec<u8>) -> BoxFuture<'_, Result<(), VaultError>> {
        Box::pin(async move {
            let bytes: JsValue = Uint8Array::from(sealed.as_slice()).into();
            self.call("save", &[self.address.clone().into(), bytes])
                .await
                .map(drop)
        })
    }
}
