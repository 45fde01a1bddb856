//! Ethereum JSON-RPC 2.0 over one of three carriers: HTTP natively (reqwest), HTTP in browsers and Node
//! (the global `fetch`), or an EIP-1193 provider (`window.ethereum.request`).

use std::sync::{
    Arc,
    atomic::{AtomicU64, Ordering},
};

use serde_json::{Value, json};

use crate::{ContractsError, TransportError};

/// Where JSON-RPC requests go. Cloning shares the carrier.
#[derive(Clone, Debug)]
pub struct Rpc {
    carrier: Carrier,
    next_id: Arc<AtomicU64>,
}

#[derive(Clone, Debug)]
enum Carrier {
    Http {
        url: String,
        #[cfg(not(target_arch = "wasm32"))]
        client: reqwest::Client,
    },
    #[cfg(target_arch = "wasm32")]
    Eip1193(Eip1193),
}

/// An EIP-1193 provider object (`window.ethereum`, or any object with `request({ method, params })`).
#[cfg(target_arch = "wasm32")]
#[derive(Clone, Debug)]
pub struct Eip1193(pub wasm_bindgen::JsValue);

impl Rpc {
    /// JSON-RPC over HTTP to `url`.
    pub fn http(url: &str) -> Result<Rpc, ContractsError> {
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(ContractsError::InvalidUrl(url.to_owned()));
        }
        Ok(Rpc {
            carrier: Carrier::Http {
                url: url.to_owned(),
                #[cfg(not(target_arch = "wasm32"))]
                client: reqwest::Client::new(),
            },
            next_id: Arc::new(AtomicU64::new(1)),
        })
    }

    /// JSON-RPC through an EIP-1193 provider.
    #[cfg(target_arch = "wasm32")]
    pub fn eip1193(provider: wasm_bindgen::JsValue) -> Rpc {
        Rpc {
            carrier: Carrier::Eip1193(Eip1193(provider)),
            next_id: Arc::new(AtomicU64::new(1)),
        }
    }

    /// Whether requests go to a wallet (which signs and sends transactions itself).
    pub fn is_wallet(&self) -> bool {
        !matches!(self.carrier, Carrier::Http { .. })
    }

    /// The latest block's timestamp, Unix seconds: "now" as the contracts see it.
    pub async fn chain_time(&self) -> Result<u64, ContractsError> {
        let block = self
            .call("eth_getBlockByNumber", json!(["latest", false]))
            .await?;
        answer::quantity("eth_getBlockByNumber", "timestamp", &block["timestamp"])
    }

    /// `account`'s EIP-191 signature of `text`, made by the wallet or node behind this carrier
    /// (`personal_sign`, the message as hex): 65 bytes, `r ‖ s ‖ v`.
    pub async fn personal_sign(
        &self,
        account: alloy_primitives::Address,
        text: &str,
    ) -> Result<Vec<u8>, ContractsError> {
        let signature = self
            .call(
                "personal_sign",
                json!([
                    format!("0x{}", hex::encode(text.as_bytes())),
                    account.to_checksum(None)
                ]),
            )
            .await?;
        let signature = answer::bytes("personal_sign", "signature", &signature)?;
        if signature.len() != 65 {
            return Err(ContractsError::Wallet(format!(
                "the signature is {} bytes, not 65",
                signature.len()
            )));
        }
        Ok(signature.to_vec())
    }

    /// Calls `method` with `params`; returns the result or the node's error.
    pub async fn call(&self, method: &str, params: Value) -> Result<Value, ContractsError> {
        match &self.carrier {
            Carrier::Http { url, .. } => {
                let id = self.next_id.fetch_add(1, Ordering::Relaxed);
                let body =
                    json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params });
                let reply = self.post(url, body.to_string()).await.map_err(|source| {
                    ContractsError::Unreachable {
                        url: url.clone(),
                        source,
                    }
                })?;
                let reply: Value = serde_json::from_slice(reply.as_bytes()).map_err(|source| {
                    ContractsError::NotJsonRpc {
                        method: method.to_owned(),
                        source,
                    }
                })?;
                if let Some(error) = reply.get("error") {
                    return Err(rpc_error(error));
                }
                reply
                    .get("result")
                    .cloned()
                    .ok_or_else(|| ContractsError::Rpc {
                        code: -32603,
                        message: format!("{method}: the answer has neither result nor error"),
                        data: None,
                    })
            }
            #[cfg(target_arch = "wasm32")]
            Carrier::Eip1193(provider) => provider.request(method, params).await,
        }
    }

    #[cfg(not(target_arch = "wasm32"))]
    async fn post(&self, url: &str, body: String) -> Result<String, TransportError> {
        let Carrier::Http { client, .. } = &self.carrier;
        Ok(client
            .post(url)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await?
            .text()
            .await?)
    }

    #[cfg(target_arch = "wasm32")]
    async fn post(&self, url: &str, body: String) -> Result<String, TransportError> {
        use js_sys::{Function, Object, Promise, Reflect};
        use wasm_bindgen::{JsCast, JsValue};
        use wasm_bindgen_futures::JsFuture;
        let failed = |e: JsValue| TransportError::Fetch(js_message(&e));
        let fetch: Function = Reflect::get(&js_sys::global(), &"fetch".into())
            .ok()
            .and_then(|f| f.dyn_into().ok())
            .ok_or_else(|| TransportError::Fetch("this JavaScript runtime has no fetch".into()))?;
        let init = Object::new();
        let headers = Object::new();
        Reflect::set(&headers, &"content-type".into(), &"application/json".into())
            .map_err(failed)?;
        Reflect::set(&init, &"method".into(), &"POST".into()).map_err(failed)?;
        Reflect::set(&init, &"headers".into(), &headers).map_err(failed)?;
        Reflect::set(&init, &"body".into(), &body.into()).map_err(failed)?;
        let promise: Promise = fetch
            .call2(&JsValue::NULL, &url.into(), &init)
            .map_err(failed)?
            .dyn_into()
            .map_err(failed)?;
        let response = JsFuture::from(promise).await.map_err(failed)?;
        let text: Function = Reflect::get(&response, &"text".into())
            .map_err(failed)?
            .dyn_into()
            .map_err(failed)?;
        let promise: Promise = text
            .call0(&response)
            .map_err(failed)?
            .dyn_into()
            .map_err(failed)?;
        let text = JsFuture::from(promise).await.map_err(failed)?;
        text.as_string()
            .ok_or_else(|| TransportError::Fetch(format!("the body from {url} is not text")))
    }
}

/// Reading JSON-RPC answers field by field, without a serde deserializer per answer type (each one
/// costs the browser build a few kilobytes).
pub(crate) mod answer {
    use alloy_primitives::{Address, B256, Bytes};
    use serde_json::Value;

    use crate::{ContractsError, error::AnswerError};

    fn fail(method: &str, source: AnswerError) -> ContractsError {
        ContractsError::Answer {
            method: method.to_owned(),
            source,
        }
    }

    fn text<'a>(
        method: &str,
        field: &'static str,
        value: &'a Value,
    ) -> Result<&'a str, ContractsError> {
        value
            .as_str()
            .ok_or_else(|| fail(method, AnswerError::Missing(field)))
    }

    /// A quantity (`"0x1a"`).
    pub(crate) fn quantity(
        method: &str,
        field: &'static str,
        value: &Value,
    ) -> Result<u64, ContractsError> {
        crate::tx::quantity(value)
            .and_then(|n| u64::try_from(n).ok())
            .ok_or_else(|| fail(method, AnswerError::Quantity(field)))
    }

    /// Data (`"0x…"`).
    pub(crate) fn bytes(
        method: &str,
        field: &'static str,
        value: &Value,
    ) -> Result<Bytes, ContractsError> {
        let s = text(method, field, value)?;
        hex::decode(s.trim_start_matches("0x"))
            .map(Bytes::from)
            .map_err(|source| fail(method, AnswerError::Hex { field, source }))
    }

    fn fixed<const N: usize>(
        method: &str,
        field: &'static str,
        value: &Value,
    ) -> Result<[u8; N], ContractsError> {
        let bytes = bytes(method, field, value)?;
        <[u8; N]>::try_from(bytes.as_ref()).map_err(|_| {
            fail(
                method,
                AnswerError::Length {
                    field,
                    len: bytes.len(),
                    expected: N,
                },
            )
        })
    }

    /// A 32-byte hash or topic.
    pub(crate) fn b256(
        method: &str,
        field: &'static str,
        value: &Value,
    ) -> Result<B256, ContractsError> {
        fixed::<32>(method, field, value).map(B256::from)
    }

    /// An address.
    pub(crate) fn address(
        method: &str,
        field: &'static str,
        value: &Value,
    ) -> Result<Address, ContractsError> {
        fixed::<20>(method, field, value).map(Address::from)
    }

    /// An event log.
    pub(crate) fn log(method: &str, value: &Value) -> Result<crate::Log, ContractsError> {
        let topics = value["topics"]
            .as_array()
            .ok_or_else(|| fail(method, AnswerError::Missing("topics")))?
            .iter()
            .map(|t| b256(method, "topics", t))
            .collect::<Result<_, _>>()?;
        Ok(crate::Log {
            address: address(method, "address", &value["address"])?,
            topics,
            data: bytes(method, "data", &value["data"])?,
            block_number: crate::tx::quantity(&value["blockNumber"]).map(|n| n as u64),
        })
    }
}

#[cfg(target_arch = "wasm32")]
impl Eip1193 {
    async fn request(&self, method: &str, params: Value) -> Result<Value, ContractsError> {
        use js_sys::{Function, Object, Promise, Reflect};
        use wasm_bindgen::{JsCast, JsValue};
        use wasm_bindgen_futures::JsFuture;
        let fail = |e: JsValue| ContractsError::Wallet(js_message(&e));
        let request: Function = Reflect::get(&self.0, &"request".into())
            .map_err(fail)?
            .dyn_into()
            .map_err(|_| {
                ContractsError::Wallet("the wallet object has no request() method".into())
            })?;
        let args = Object::new();
        Reflect::set(&args, &"method".into(), &method.into()).map_err(fail)?;
        let params = js_sys::JSON::parse(&params.to_string()).map_err(fail)?;
        Reflect::set(&args, &"params".into(), &params).map_err(fail)?;
        let promise: Promise = request
            .call1(&self.0, &args)
            .map_err(fail)?
            .dyn_into()
            .map_err(fail)?;
        match JsFuture::from(promise).await {
            Ok(result) => {
                if result.is_undefined() || result.is_null() {
                    return Ok(Value::Null);
                }
                let text = json_text(&result).ok_or_else(|| {
                    ContractsError::Wallet(format!("the answer to {method} is not JSON"))
                })?;
                serde_json::from_slice(text.as_bytes()).map_err(|source| {
                    ContractsError::NotJsonRpc {
                        method: method.to_owned(),
                        source,
                    }
                })
            }
            // EIP-1193 errors are objects with code, message and data, like JSON-RPC's.
            // (An Error's message is not enumerable, so it is read by name, not through JSON.)
            Err(error) => {
                let field = |name: &str| Reflect::get(&error, &name.into()).ok();
                let code = field("code").and_then(|c| c.as_f64()).unwrap_or(-32603.0);
                let data = field("data")
                    .filter(|d| !d.is_undefined())
                    .and_then(|d| json_text(&d))
                    .and_then(|d| serde_json::from_slice::<Value>(d.as_bytes()).ok())
                    .unwrap_or(Value::Null);
                let value =
                    json!({ "code": code as i64, "message": js_message(&error), "data": data });
                Err(rpc_error(&value))
            }
        }
    }
}

/// `JSON.stringify(value)`, or `None` when JSON has no text for the value (`undefined`, a function, a
/// symbol) or cannot serialise it (a BigInt, a cycle). Converting `JSON.stringify`'s answer with
/// `String::from` instead throws a JS exception past every `Result` in the first three cases.
#[cfg(target_arch = "wasm32")]
pub fn json_text(value: &wasm_bindgen::JsValue) -> Option<String> {
    js_sys::JSON::stringify(value).ok()?.as_string()
}

#[cfg(target_arch = "wasm32")]
fn js_message(e: &wasm_bindgen::JsValue) -> String {
    js_sys::Reflect::get(e, &"message".into())
        .ok()
        .and_then(|m| m.as_string())
        .or_else(|| e.as_string())
        .unwrap_or_else(|| format!("{e:?}"))
}

fn rpc_error(error: &Value) -> ContractsError {
    ContractsError::Rpc {
        code: error.get("code").and_then(Value::as_i64).unwrap_or(-32603),
        message: error
            .get("message")
            .and_then(Value::as_str)
            .unwrap_or("unknown error")
            .to_owned(),
        data: error.get("data").and_then(|d| match d {
            Value::String(s) => Some(s.clone()),
            // Some nodes nest the revert data.
            Value::Object(o) => o.get("data").and_then(Value::as_str).map(str::to_owned),
            _ => None,
        }),
    }
}
