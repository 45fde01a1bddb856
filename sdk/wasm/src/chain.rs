//! The client's chain calls, through `rivulet-contracts`: streams (read, search, create), permissions
//! (grant, revoke, check), and a wallet's authorisation of the client's key. Part of the same exported
//! `RivuletClient` class as [`bindings`](crate::bindings), which connects the contracts on first use.

use js_sys::Promise;
use rivulet_contracts::{PermissionKind, Rpc, StreamInfo, StreamMetadata, to_alloy};
use rivulet_protocol::Address;
use serde::{Deserialize, Serialize};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::future_to_promise;

use crate::{
    bindings::{
        RivuletClient, chain_error, invalid, js_error, read, to_js, to_value, wallet_account,
    },
    options::parse_stream,
};

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct StreamView {
    id: String,
    partitions: u32,
    name: String,
    description: String,
    owner: String,
    created_at: u64,
    config: serde_json::Value,
}

impl From<StreamInfo> for StreamView {
    fn from(s: StreamInfo) -> StreamView {
        StreamView {
            id: s.id.to_string(),
            partitions: s.metadata.partitions,
            name: s.metadata.name,
            description: s.metadata.description,
            owner: s.creator.to_checksum(None),
            created_at: s.created_at,
            config: s.metadata.config,
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct CreateStreamArg {
    id: String,
    #[serde(default)]
    partitions: Option<u32>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    config: Option<serde_json::Value>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct PermissionsArg {
    /// An address, or absent with `public: true`.
    #[serde(default)]
    user: Option<String>,
    #[serde(default)]
    public: bool,
    permissions: Vec<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct HasPermissionArg {
    stream_id: String,
    user: String,
    permission: String,
    #[serde(default = "yes")]
    allow_public: bool,
}

fn yes() -> bool {
    true
}

fn parse_address(s: &str) -> Result<Address, JsValue> {
    s.parse()
        .map_err(|e| invalid(format!("{s:?} is not an address: {e}")))
}

fn parse_kinds(names: &[String]) -> Result<Vec<PermissionKind>, JsValue> {
    if names.is_empty() {
        return Err(invalid("name at least one permission"));
    }
    names.iter().map(|n| n.parse().map_err(invalid)).collect()
}

impl PermissionsArg {
    /// The user, or `None` for everyone.
    fn user(&self) -> Result<Option<Address>, JsValue> {
        match (&self.user, self.public) {
            (Some(u), false) => parse_address(u).map(Some),
            (None, true) => Ok(None),
            _ => Err(invalid("give either user: '0x…' or public: true")),
        }
    }
}

#[wasm_bindgen]
impl RivuletClient {
    /// Has the `ethereum` wallet authorise this client's key for `valid_for` seconds (one
    /// `personal_sign`, no transaction); the client then reads what the wallet's account may read (its
    /// licences) while still signing events with its own key. Resolves with the account.
    #[wasm_bindgen(js_name = authoriseWallet)]
    pub fn authorise_wallet(&self, valid_for: Option<f64>) -> Promise {
        let client = self.client.clone();
        let ethereum = self.ethereum.clone();
        future_to_promise(async move {
            let Some(provider) = ethereum else {
                return Err(invalid(
                    "authoriseWallet needs the `ethereum` option (an EIP-1193 provider)",
                ));
            };
            let seconds = match valid_for {
                None => 24 * 3600,
                Some(s) if (60.0..=30.0 * 86_400.0).contains(&s) => s as u64,
                Some(s) => {
                    // Written by JavaScript: the page links no float formatting of its own.
                    let s: String = js_sys::Number::from(s)
                        .to_string(10)
                        .map(String::from)
                        .unwrap_or_default();
                    return Err(invalid(format!(
                        "validForSeconds must be between 60 and 2592000 (30 days), got {s}"
                    )));
                }
            };
            let rpc = Rpc::eip1193(provider);
            let account = wallet_account(&rpc).await?;
            // Relay nodes judge the end by the chain's clock, which a development chain may move ahead.
            let chain_now = rpc.chain_time().await.unwrap_or(0);
            let expires = (js_sys::Date::now() as u64 / 1000).max(chain_now) + seconds;
            let checksum = account.to_checksum(None);
            let text = rivulet_client::authorisation_text(
                &checksum,
                &client.address().to_checksum(),
                expires,
            );
            let signature = rpc
                .personal_sign(account, &text)
                .await
                .map_err(chain_error)?;
            client
                .authorise(rivulet_client::Authorisation {
                    account: checksum.clone(),
                    expires,
                    signature,
                })
                .await
                .map_err(to_js)?;
            Ok(checksum.into())
        })
    }

    /// A stream's registry entry.
    #[wasm_bindgen(js_name = getStream)]
    pub fn get_stream(&self, id: String) -> Promise {
        let chain = self.chain_access();
        future_to_promise(async move {
            let id = parse_stream(&id).map_err(to_js)?;
            let chain = chain.await?;
            match chain.get_stream(&id).await.map_err(chain_error)? {
                Some(info) => to_value(&StreamView::from(info)),
                None => Err(js_error(
                    "NOT_FOUND",
                    &format!("stream {id} does not exist"),
                )),
            }
        })
    }

    /// Streams whose id or metadata contain `term`.
    #[wasm_bindgen(js_name = searchStreams)]
    pub fn search_streams(&self, term: String) -> Promise {
        let chain = self.chain_access();
        future_to_promise(async move {
            let chain = chain.await?;
            let found = chain.search_streams(&term).await.map_err(chain_error)?;
            to_value(&found.into_iter().map(StreamView::from).collect::<Vec<_>>())
        })
    }

    /// Creates a stream: `{ id: '/path' | '<owner>/path', partitions?, name?, description? }`.
    #[wasm_bindgen(js_name = createStream)]
    pub fn create_stream(&self, options: JsValue) -> Promise {
        let chain = self.chain_access();
        future_to_promise(async move {
            let args: CreateStreamArg = read(&options)?;
            let path = match args.id.strip_prefix('/') {
                Some(path) => path.to_owned(),
                None => parse_stream(&args.id).map_err(to_js)?.path().to_owned(),
            };
            let partitions = args.partitions.unwrap_or(1);
            if !(1..=100).contains(&partitions) {
                return Err(invalid(format!(
                    "partitions must be 1..=100, got {partitions}"
                )));
            }
            let metadata = StreamMetadata {
                name: args.name.unwrap_or_default(),
                description: args.description.unwrap_or_default(),
                partitions,
                config: args.config.unwrap_or_default(),
                extra: serde_json::Map::new(),
            };
            let contracts = chain.await?;
            let owner = contracts
                .sender()
                .map(|a| a.to_checksum(None))
                .unwrap_or_default();
            if !args.id.starts_with('/')
                && !args
                    .id
                    .to_ascii_lowercase()
                    .starts_with(&owner.to_ascii_lowercase())
            {
                return Err(invalid(format!(
                    "{} belongs to another owner; streams are created under {owner}",
                    args.id
                )));
            }
            let id = contracts
                .create_stream(&path, &metadata)
                .await
                .map_err(chain_error)?;
            match contracts.get_stream(&id).await.map_err(chain_error)? {
                Some(info) => to_value(&StreamView::from(info)),
                None => Err(js_error(
                    "CHAIN",
                    &format!("{id} was created but cannot be read"),
                )),
            }
        })
    }

    /// Grants permissions: `{ user, permissions }` or `{ public: true, permissions }`.
    #[wasm_bindgen(js_name = grantPermissions)]
    pub fn grant_permissions(&self, stream: String, grant: JsValue) -> Promise {
        self.change_permissions(stream, grant, true)
    }

    /// Revokes permissions: `{ user, permissions }` or `{ public: true, permissions }`.
    #[wasm_bindgen(js_name = revokePermissions)]
    pub fn revoke_permissions(&self, stream: String, grant: JsValue) -> Promise {
        self.change_permissions(stream, grant, false)
    }

    fn change_permissions(&self, stream: String, grant: JsValue, give: bool) -> Promise {
        let chain = self.chain_access();
        future_to_promise(async move {
            let id = parse_stream(&stream).map_err(to_js)?;
            let args: PermissionsArg = read(&grant)?;
            // The zero address holds the public grant.
            let user = args
                .user()?
                .map_or(rivulet_contracts::Address::ZERO, to_alloy);
            let kinds = parse_kinds(&args.permissions)?;
            let chain = chain.await?;
            for kind in kinds {
                if give {
                    chain.grant(&id, user, kind).await
                } else {
                    chain.revoke(&id, user, kind).await
                }
                .map_err(chain_error)?;
            }
            Ok(JsValue::UNDEFINED)
        })
    }

    /// Whether `user` holds `permission` now (counting public grants unless `allowPublic: false`).
    #[wasm_bindgen(js_name = hasPermission)]
    pub fn has_permission(&self, query: JsValue) -> Promise {
        let chain = self.chain_access();
        future_to_promise(async move {
            let q: HasPermissionArg = read(&query)?;
            let id = parse_stream(&q.stream_id).map_err(to_js)?;
            let user = to_alloy(parse_address(&q.user)?);
            let kind: PermissionKind = q.permission.parse().map_err(invalid)?;
            let chain = chain.await?;
            let held = if q.allow_public {
                chain.has_permission(&id, user, kind).await
            } else {
                chain.has_direct_permission(&id, user, kind).await
            }
            .map_err(chain_error)?;
            Ok(held.into())
        })
    }
}
