//! The exported classes and functions. Every async method returns a `Promise` that rejects with an
//! `Error` carrying a `code` (see `ClientError::code`); the JS layer turns it into a `RivuletError`.
//! The client's chain calls are in [`chain`](crate::chain); the contracts are connected here, on first
//! use.

use futures::future::{AbortHandle, Abortable};
use js_sys::{Array, Function, Promise, Reflect, Uint8Array};
use std::{cell::RefCell, rc::Rc};

use rivulet_client::{Client, ClientError, ContractsAccess, PublishOptions, SubscriptionEvent};
use rivulet_contracts::{Contracts, ContractsError, Rpc, Sender, rpc::json_text};
use rivulet_protocol::{ContentType, StreamMessage};
use serde::{Deserialize, Serialize};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::future_to_promise;

use crate::options::{
    ClientOptions, Metadata, PartArg, PublishArg, ResendArg, SubscribeArg, parse_stream,
};
use crate::vault::JsKeyVault;

/// Sends a panic's message to `console.error` before the module traps, so a bug report says more than
/// "unreachable".
fn report_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        std::panic::set_hook(Box::new(|info| {
            let message = format!("@rivulet/sdk panicked (a bug; please report it): {info}");
            if let Ok(console) = Reflect::get(&js_sys::global(), &"console".into())
                && let Ok(error) = Reflect::get(&console, &"error".into())
                && let Ok(error) = error.dyn_into::<Function>()
            {
                let _ = error.call1(&console, &message.into());
            }
        }));
    });
}

/// A JS `Error` with `code`.
pub(crate) fn js_error(code: &str, message: &str) -> JsValue {
    let error = js_sys::Error::new(message);
    let _ = Reflect::set(&error, &"code".into(), &code.into());
    error.into()
}

pub(crate) fn to_js(e: ClientError) -> JsValue {
    js_error(&e.code(), &e.to_string())
}

pub(crate) fn invalid(message: impl std::fmt::Display) -> JsValue {
    js_error("INVALID_ARGUMENT", &message.to_string())
}

/// Reads a JS argument through JSON (serde_json is in the module anyway; a second serde bridge would
/// add size for nothing).
pub(crate) fn read<T: for<'de> Deserialize<'de>>(value: &JsValue) -> Result<T, JsValue> {
    let text = json_text(value).ok_or_else(|| invalid("the argument cannot be read as JSON"))?;
    serde_json::from_slice(text.as_bytes()).map_err(invalid)
}

/// An optional JS argument: `undefined` and `null` read as the default.
pub(crate) fn from_js<T: for<'de> Deserialize<'de> + Default>(
    value: JsValue,
) -> Result<T, JsValue> {
    if value.is_undefined() || value.is_null() {
        return Ok(T::default());
    }
    read(&value)
}

pub(crate) fn to_value<T: Serialize>(value: &T) -> Result<JsValue, JsValue> {
    let text = serde_json::to_string(value).map_err(|e| js_error("INTERNAL", &e.to_string()))?;
    js_sys::JSON::parse(&text)
}

/// The client (wrapped by the JS `Client` class).
#[wasm_bindgen]
pub struct RivuletClient {
    pub(crate) client: Client,
    pub(crate) options: Rc<ClientOptions>,
    /// An EIP-1193 provider for chain access, when given.
    pub(crate) ethereum: Option<JsValue>,
    /// The contracts, connected on first use.
    contracts: Rc<RefCell<Option<Rc<Contracts>>>>,
}

/// A running subscription (wrapped by the JS `Subscription` class).
#[wasm_bindgen]
pub struct RivuletSubscription {
    abort: AbortHandle,
    part: String,
}

#[wasm_bindgen]
impl RivuletSubscription {
    /// Stops delivery and unsubscribes at the node.
    pub fn unsubscribe(&self) {
        self.abort.abort();
    }

    /// `<stream id>#<partition>`.
    #[wasm_bindgen(getter)]
    pub fn part(&self) -> String {
        self.part.clone()
    }
}

/// A message's content as JS: parsed JSON, or a `Uint8Array`.
fn content_of(message: &StreamMessage) -> JsValue {
    let bytes = &message.body.content;
    if message.body.content_type == ContentType::Json
        && let Ok(text) = std::str::from_utf8(bytes)
        && let Ok(value) = js_sys::JSON::parse(text)
    {
        return value;
    }
    Uint8Array::from(bytes.as_slice()).into()
}

fn metadata_of(message: &StreamMessage) -> JsValue {
    to_value(&Metadata::of(message)).unwrap_or(JsValue::NULL)
}

#[wasm_bindgen]
impl RivuletClient {
    /// Starts a client from options (see the package's `ClientOptions` type).
    // The key vault and the wallet hold JavaScript values, which are not `Send`; there is one thread.
    #[allow(clippy::arc_with_non_send_sync)]
    #[wasm_bindgen(constructor)]
    pub fn new(options: JsValue) -> Result<RivuletClient, JsValue> {
        report_panics();
        // The wallet object is not data: take it out before reading the rest.
        let copy = js_sys::Object::assign(&js_sys::Object::new(), &options.clone().into());
        let ethereum = Reflect::get(&copy, &"ethereum".into())
            .ok()
            .filter(|e| e.is_object());
        let key_store = Reflect::get(&copy, &"keyStore".into())
            .ok()
            .filter(|e| e.is_object());
        for objects in ["ethereum", "keyStore"] {
            let _ = Reflect::delete_property(&copy, &objects.into());
        }
        let options: ClientOptions = read(&copy.into())?;
        let mut config = options.to_config().map_err(to_js)?;
        // Keys are kept across restarts for a client with a key of its own (a random one has none to
        // come back to).
        if let (Some(store), Some(key)) = (key_store, config.private_key) {
            let address = rivulet_protocol::Signer::from_bytes(&key)
                .map_err(|e| invalid(e.to_string()))?
                .address()
                .to_checksum();
            config.key_vault = Some(std::sync::Arc::new(JsKeyVault::new(store, address)));
        }
        // With the contracts at hand, events to streams that are not public are encrypted and the key
        // service checks readers itself.
        if let Some(deployment) = options.deployment.clone() {
            let rpc = match (&ethereum, options.rpc_url.clone()) {
                (Some(provider), _) => Some(Rpc::eip1193(provider.clone())),
                (None, url) => url
                    .or(Some(deployment.rpc_url.clone()).filter(|u| !u.is_empty()))
                    .and_then(|url| Rpc::http(&url).ok()),
            };
            if let Some(rpc) = rpc {
                config.access = Some(std::sync::Arc::new(ContractsAccess::connecting(
                    rpc, deployment,
                )));
            }
        }
        let client = Client::new(config).map_err(to_js)?;
        Ok(RivuletClient {
            client,
            options: Rc::new(options),
            ethereum,
            contracts: Rc::default(),
        })
    }

    /// The address events are signed with.
    pub fn address(&self) -> String {
        self.client.address().to_checksum()
    }

    /// Resolves with the entry node's peer id once a session is up.
    #[wasm_bindgen(js_name = waitConnected)]
    pub fn wait_connected(&self) -> Promise {
        let client = self.client.clone();
        future_to_promise(async move {
            let peer = client.wait_connected().await.map_err(to_js)?;
            Ok(peer.to_string().into())
        })
    }

    /// Publishes `content` (JSON-serialisable, or a `Uint8Array`).
    pub fn publish(&self, stream: String, content: JsValue, options: JsValue) -> Promise {
        let client = self.client.clone();
        let chain = self.chain_access();
        future_to_promise(async move {
            let stream = parse_stream(&stream).map_err(to_js)?;
            let options: PublishArg = from_js(options)?;
            let (content_type, bytes) = if content.is_instance_of::<Uint8Array>() {
                (ContentType::Binary, Uint8Array::new(&content).to_vec())
            } else {
                let text = json_text(&content).ok_or_else(|| {
                    invalid("content is neither JSON-serialisable nor a Uint8Array")
                })?;
                (ContentType::Json, text.into_bytes())
            };
            if options.partition_key.is_some() {
                let contracts = chain.await?;
                let info = contracts
                    .get_stream(&stream)
                    .await
                    .map_err(chain_error)?
                    .ok_or_else(|| {
                        js_error("NOT_FOUND", &format!("stream {stream} does not exist"))
                    })?;
                client.remember_partitions(&stream, info.metadata.partitions);
            }
            let published = client
                .publish(
                    &stream,
                    content_type,
                    bytes,
                    PublishOptions {
                        partition: options.partition,
                        partition_key: options.partition_key,
                        timestamp: options.timestamp,
                        encrypt: options.encrypt,
                        acks: options.acks,
                    },
                )
                .await
                .map_err(to_js)?;
            let meta = Metadata::of(&published.message);
            #[derive(Serialize)]
            #[serde(rename_all = "camelCase")]
            struct Out {
                stream_id: String,
                partition: u32,
                timestamp: u64,
                sequence_number: u32,
                stored: bool,
                duplicate: bool,
                #[serde(skip_serializing_if = "Option::is_none")]
                replicas: Option<u32>,
            }
            to_value(&Out {
                stream_id: meta.stream_id,
                partition: meta.partition,
                timestamp: meta.timestamp,
                sequence_number: meta.sequence_number,
                stored: published.stored,
                duplicate: published.duplicate,
                replicas: published.replicas,
            })
        })
    }

    /// Subscribes; `handler(content, metadata)` runs for every verified event, in order.
    pub fn subscribe(&self, part: JsValue, handler: Function, options: JsValue) -> Promise {
        let client = self.client.clone();
        future_to_promise(async move {
            let part = from_js::<PartArgOpt>(part)?
                .0
                .ok_or_else(|| invalid("which stream?"))?;
            let part = part.to_part().map_err(to_js)?;
            let callback = |name: &str| {
                Reflect::get(&options, &name.into())
                    .ok()
                    .and_then(|f| f.dyn_into::<Function>().ok())
            };
            let (on_end, on_error) = (callback("onEnd"), callback("onError"));
            let args: SubscribeArg = if options.is_object() {
                let last = Reflect::get(&options, &"last".into())
                    .ok()
                    .and_then(|v| v.as_f64());
                SubscribeArg {
                    last: last.map(|n| n as u32),
                }
            } else {
                SubscribeArg::default()
            };
            let mut subscription = client.subscribe(&part, args.last).await.map_err(to_js)?;
            let (abort, registration) = AbortHandle::new_pair();
            let run = async move {
                while let Some(event) = subscription.next().await {
                    match event {
                        SubscriptionEvent::Message(m) => {
                            if let Err(e) =
                                handler.call2(&JsValue::NULL, &content_of(&m), &metadata_of(&m))
                                && let Some(f) = &on_error
                            {
                                let _ = f.call1(&JsValue::NULL, &e);
                            }
                        }
                        // Reported UNDECRYPTABLE earlier; its key came since: metadata.late is true.
                        SubscriptionEvent::Late(m) => {
                            let metadata = metadata_of(&m);
                            let _ = Reflect::set(&metadata, &"late".into(), &JsValue::TRUE);
                            if let Err(e) =
                                handler.call2(&JsValue::NULL, &content_of(&m), &metadata)
                                && let Some(f) = &on_error
                            {
                                let _ = f.call1(&JsValue::NULL, &e);
                            }
                        }
                        SubscriptionEvent::Gap { publisher } => {
                            if let Some(f) = &on_error {
                                let e = js_error(
                                    "GAP",
                                    &format!("events of {publisher} could not be recovered"),
                                );
                                let _ = f.call1(&JsValue::NULL, &e);
                            }
                        }
                        SubscriptionEvent::Undecryptable {
                            publisher,
                            group_key_id,
                            reason,
                            ..
                        } => {
                            if let Some(f) = &on_error {
                                let e = js_error(
                                    "UNDECRYPTABLE",
                                    &format!(
                                        "an event of {publisher} (key {group_key_id}) could not be decrypted: {reason}"
                                    ),
                                );
                                let _ = f.call1(&JsValue::NULL, &e);
                            }
                        }
                        SubscriptionEvent::Ended(reason) => {
                            if let Some(f) = &on_end {
                                let _ = f.call1(&JsValue::NULL, &reason.into());
                            }
                        }
                    }
                }
            };
            wasm_bindgen_futures::spawn_local(async move {
                let _ = Abortable::new(run, registration).await;
            });
            Ok(RivuletSubscription {
                abort,
                part: part.to_string(),
            }
            .into())
        })
    }

    /// Stored events: `{ last }` or `{ from, to }`; resolves `[{ content, metadata }]`.
    pub fn resend(&self, part: JsValue, query: JsValue) -> Promise {
        let client = self.client.clone();
        future_to_promise(async move {
            let part = from_js::<PartArgOpt>(part)?
                .0
                .ok_or_else(|| invalid("which stream?"))?;
            let part = part.to_part().map_err(to_js)?;
            let query: ResendArg = from_js(query)?;
            let messages = client
                .resend(&part, query.to_query().map_err(to_js)?)
                .await
                .map_err(to_js)?;
            let out = Array::new();
            for m in &messages {
                let item = js_sys::Object::new();
                Reflect::set(&item, &"content".into(), &content_of(m))?;
                Reflect::set(&item, &"metadata".into(), &metadata_of(m))?;
                out.push(&item);
            }
            Ok(out.into())
        })
    }

    /// Rotates the group key of a stream part (announced in the next encrypted event).
    #[wasm_bindgen(js_name = rotateGroupKey)]
    pub fn rotate_group_key(&self, part: JsValue) -> Result<(), JsValue> {
        let part = from_js::<PartArgOpt>(part)?
            .0
            .ok_or_else(|| invalid("which stream?"))?;
        self.client
            .rotate_group_key(&part.to_part().map_err(to_js)?)
            .map_err(to_js)
    }

    /// Starts a new group key for a stream part that readers must request (after a revocation).
    pub fn rekey(&self, part: JsValue) -> Result<(), JsValue> {
        let part = from_js::<PartArgOpt>(part)?
            .0
            .ok_or_else(|| invalid("which stream?"))?;
        self.client
            .rekey(&part.to_part().map_err(to_js)?)
            .map_err(to_js)
    }

    /// Closes the connections; pending calls reject with `DESTROYED`.
    pub fn destroy(&self) {
        self.client.destroy();
    }
}

/// Chain errors as JS errors: reverts keep the contract's error name; a wallet's rejection is
/// `USER_REJECTED` (EIP-1193 code 4001). The message names the causes too.
pub(crate) fn chain_error(e: ContractsError) -> JsValue {
    let code = match &e {
        ContractsError::Rpc { code: 4001, .. } => "USER_REJECTED",
        ContractsError::Reverted(_) | ContractsError::TransactionReverted { .. } => "REVERTED",
        ContractsError::Unreachable { .. } | ContractsError::NotMined { .. } => "CHAIN_UNREACHABLE",
        ContractsError::WrongChain { .. } => "WRONG_CHAIN",
        _ => "CHAIN",
    };
    let mut message = e.to_string();
    let mut cause = std::error::Error::source(&e);
    while let Some(c) = cause {
        message = format!("{message}: {c}");
        cause = c.source();
    }
    js_error(code, &message)
}

/// The wallet's account (`eth_requestAccounts`: the wallet asks its user to connect the page).
pub(crate) async fn wallet_account(rpc: &Rpc) -> Result<rivulet_contracts::Address, JsValue> {
    let accounts = rpc
        .call("eth_requestAccounts", serde_json::json!([]))
        .await
        .map_err(chain_error)?;
    accounts
        .get(0)
        .and_then(|a| a.as_str())
        .ok_or_else(|| js_error("USER_REJECTED", "the wallet shared no account"))?
        .parse()
        .map_err(|e| js_error("CHAIN", &format!("wallet account: {e}")))
}

impl RivuletClient {
    /// The contracts, connected on first use (checks the chain id and the contracts' code): through the
    /// EIP-1193 wallet when one was given (it sends transactions), else over HTTP with this client's key.
    pub(crate) fn chain_access(
        &self,
    ) -> impl std::future::Future<Output = Result<Rc<Contracts>, JsValue>> + 'static {
        let client = self.client.clone();
        let options = self.options.clone();
        let ethereum = self.ethereum.clone();
        let cache = self.contracts.clone();
        async move {
            if let Some(contracts) = cache.borrow().clone() {
                return Ok(contracts);
            }
            let Some(deployment) = options.deployment.clone() else {
                return Err(to_js(ClientError::NoChain("this call")));
            };
            let (rpc, sender) = match ethereum {
                Some(provider) => {
                    let rpc = Rpc::eip1193(provider);
                    let account = wallet_account(&rpc).await?;
                    (rpc, Sender::Wallet(account))
                }
                None => {
                    let url = options
                        .rpc_url
                        .clone()
                        .or(Some(deployment.rpc_url.clone()).filter(|u| !u.is_empty()))
                        .ok_or_else(|| invalid("give rpcUrl (or a deployment with rpcUrl)"))?;
                    let key = rivulet_protocol::Signer::from_bytes(&client.private_key())
                        .map_err(|e| invalid(e.to_string()))?;
                    (Rpc::http(&url).map_err(chain_error)?, Sender::Key(key))
                }
            };
            let contracts = Rc::new(
                Contracts::connect(rpc, deployment, sender)
                    .await
                    .map_err(chain_error)?,
            );
            *cache.borrow_mut() = Some(contracts.clone());
            Ok(contracts)
        }
    }
}

/// `stream id | { id, partition }`, optional so a missing argument gets a clear error.
#[derive(Default)]
pub(crate) struct PartArgOpt(pub(crate) Option<PartArg>);

impl<'de> Deserialize<'de> for PartArgOpt {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        PartArg::deserialize(d).map(|p| PartArgOpt(Some(p)))
    }
}
