//! Plain Rust views of what the contracts hold — permissions, stream metadata, products, purchases — and
//! of what happens while a transaction is made.

use alloy_primitives::{Address, B256, U256};
use rivulet_protocol::StreamId;
use serde::{Deserialize, Serialize};

use crate::{ContractsError, bindings::StreamRegistry};

/// A publish or subscribe permission without an end.
pub const NO_EXPIRATION: u64 = u64::MAX;

/// The five kinds of stream permission, numbered as the registry numbers them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum PermissionKind {
    /// Change the metadata.
    Edit = 0,
    /// Delete the stream.
    Delete = 1,
    /// Publish (until an expiry).
    Publish = 2,
    /// Subscribe (until an expiry).
    Subscribe = 3,
    /// Change other addresses' permissions.
    Grant = 4,
}

impl PermissionKind {
    /// All kinds, in registry order.
    pub const ALL: [PermissionKind; 5] = [
        PermissionKind::Edit,
        PermissionKind::Delete,
        PermissionKind::Publish,
        PermissionKind::Subscribe,
        PermissionKind::Grant,
    ];

    /// The registry's number for this kind.
    pub fn as_u8(self) -> u8 {
        self as u8
    }

    /// Whether the zero address may hold it (public permission): publish and subscribe only.
    pub fn may_be_public(self) -> bool {
        matches!(self, PermissionKind::Publish | PermissionKind::Subscribe)
    }
}

/// A permission name that is none of `edit`, `delete`, `publish`, `subscribe`, `grant`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown permission {0:?}; expected edit, delete, publish, subscribe or grant")]
pub struct UnknownPermission(pub String);

impl core::str::FromStr for PermissionKind {
    type Err = UnknownPermission;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "edit" => Ok(PermissionKind::Edit),
            "delete" => Ok(PermissionKind::Delete),
            "publish" => Ok(PermissionKind::Publish),
            "subscribe" => Ok(PermissionKind::Subscribe),
            "grant" => Ok(PermissionKind::Grant),
            _ => Err(UnknownPermission(s.to_owned())),
        }
    }
}

/// One address's permissions on one stream. Publish and subscribe hold while `at < until` (seconds).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Permissions {
    /// May edit metadata.
    pub edit: bool,
    /// May delete the stream.
    pub delete: bool,
    /// Publish permission ends at this Unix time (0: none; [`NO_EXPIRATION`]: never).
    pub publish_until: u64,
    /// Subscribe permission ends at this Unix time.
    pub subscribe_until: u64,
    /// May change others' permissions.
    pub grant: bool,
}

impl Permissions {
    /// Every permission, without expiry (what a creator gets).
    pub const ALL: Permissions = Permissions {
        edit: true,
        delete: true,
        publish_until: NO_EXPIRATION,
        subscribe_until: NO_EXPIRATION,
        grant: true,
    };

    /// Whether these permissions allow `kind` at Unix time `at` (seconds).
    pub fn allows(&self, kind: PermissionKind, at: u64) -> bool {
        match kind {
            PermissionKind::Edit => self.edit,
            PermissionKind::Delete => self.delete,
            PermissionKind::Publish => at < self.publish_until,
            PermissionKind::Subscribe => at < self.subscribe_until,
            PermissionKind::Grant => self.grant,
        }
    }

    /// Whether nothing is granted.
    pub fn is_empty(&self) -> bool {
        *self == Permissions::default()
    }
}

impl From<StreamRegistry::Permission> for Permissions {
    fn from(p: StreamRegistry::Permission) -> Self {
        Permissions {
            edit: p.canEdit,
            delete: p.canDelete,
            publish_until: p.publishExpiration,
            subscribe_until: p.subscribeExpiration,
            grant: p.canGrant,
        }
    }
}

impl From<Permissions> for StreamRegistry::Permission {
    fn from(p: Permissions) -> Self {
        StreamRegistry::Permission {
            canEdit: p.edit,
            canDelete: p.delete,
            publishExpiration: p.publish_until,
            subscribeExpiration: p.subscribe_until,
            canGrant: p.grant,
        }
    }
}

/// A stream's metadata, stored on chain as a JSON string. Unknown fields are kept in `extra`.
///
/// (De)serialised by hand through a JSON map: serde's `flatten` would bring its buffering deserializer
/// into the browser build for this one type.
#[derive(Clone, Debug, PartialEq)]
pub struct StreamMetadata {
    /// A human name.
    pub name: String,
    /// What the stream carries.
    pub description: String,
    /// Number of partitions, 1..=100.
    pub partitions: u32,
    /// Free-form configuration (retention, storage, schema...); `null` when absent.
    pub config: serde_json::Value,
    /// Fields this version does not know, kept as they are.
    pub extra: serde_json::Map<String, serde_json::Value>,
}

impl Default for StreamMetadata {
    fn default() -> Self {
        StreamMetadata {
            name: String::new(),
            description: String::new(),
            partitions: 1,
            config: serde_json::Value::Null,
            extra: serde_json::Map::new(),
        }
    }
}

impl Serialize for StreamMetadata {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("name", &self.name)?;
        map.serialize_entry("description", &self.description)?;
        map.serialize_entry("partitions", &self.partitions)?;
        if !self.config.is_null() {
            map.serialize_entry("config", &self.config)?;
        }
        for (key, value) in &self.extra {
            map.serialize_entry(key, value)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for StreamMetadata {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        use serde_json::Value;
        let mut metadata = StreamMetadata::default();
        for (key, value) in serde_json::Map::deserialize(deserializer)? {
            let text = |value| match value {
                Value::Null => Ok(String::new()),
                Value::String(s) => Ok(s),
                _ => Err(D::Error::custom(format!("{key} is not a string"))),
            };
            match key.as_str() {
                "name" => metadata.name = text(value)?,
                "description" => metadata.description = text(value)?,
                "partitions" => {
                    metadata.partitions = value
                        .as_u64()
                        .and_then(|n| u32::try_from(n).ok())
                        .ok_or_else(|| D::Error::custom("partitions is not a whole number"))?
                }
                "config" => metadata.config = value,
                _ => {
                    metadata.extra.insert(key, value);
                }
            }
        }
        Ok(metadata)
    }
}

impl StreamMetadata {
    /// Metadata with a name and description, one partition.
    pub fn named(name: &str, description: &str) -> StreamMetadata {
        StreamMetadata {
            name: name.into(),
            description: description.into(),
            ..StreamMetadata::default()
        }
    }

    /// Parses the on-chain JSON. Text that is not a JSON object (written by another tool) becomes the
    /// description, so a stream never becomes unreadable.
    pub fn parse(json: &str) -> StreamMetadata {
        serde_json::from_slice(json.as_bytes()).unwrap_or_else(|_| StreamMetadata::named("", json))
    }

    /// The JSON text stored on chain.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Checks the partition count.
    pub fn validate(&self) -> Result<(), ContractsError> {
        if (1..=100).contains(&self.partitions) {
            Ok(())
        } else {
            Err(ContractsError::Partitions(self.partitions))
        }
    }
}

/// A stream as the registry describes it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StreamInfo {
    /// The stream id.
    pub id: StreamId,
    /// Its metadata.
    pub metadata: StreamMetadata,
    /// Who created it.
    pub creator: Address,
    /// When (Unix seconds).
    pub created_at: u64,
}

/// A marketplace product.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Product {
    /// Product id, from 1.
    pub id: u64,
    /// The seller.
    pub owner: Address,
    /// Who receives the payments.
    pub beneficiary: Address,
    /// DATA (in wei) per second of licence.
    pub price_per_second: U256,
    /// Shortest licence sold, seconds.
    pub minimum_seconds: u64,
    /// Whether it is on sale (not paused).
    pub active: bool,
    /// JSON: name, description, category...
    pub metadata: String,
    /// Where the terms are.
    pub terms_uri: String,
    /// Hash of the terms document.
    pub terms_hash: B256,
    /// The streams a licence covers.
    pub streams: Vec<String>,
}

/// What a seller fills in to list a product.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewProduct {
    /// The streams a licence covers (the seller and the marketplace must hold grant on each).
    pub streams: Vec<StreamId>,
    /// Who receives payments.
    pub beneficiary: Address,
    /// DATA (in wei) per second.
    pub price_per_second: U256,
    /// Shortest licence, seconds (≥ 1).
    pub minimum_seconds: u64,
    /// JSON: name, description, category...
    pub metadata: String,
    /// Where the terms are.
    pub terms_uri: String,
    /// Hash of the terms document.
    pub terms_hash: B256,
}

/// One purchase, from the marketplace's events.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Purchase {
    /// The product.
    pub product_id: u64,
    /// The buyer.
    pub buyer: Address,
    /// Who was paid.
    pub beneficiary: Address,
    /// Seconds bought.
    pub seconds: u64,
    /// Total paid, DATA wei (fee included).
    pub price: U256,
    /// The marketplace's part of it.
    pub fee: U256,
    /// When the licence now ends (Unix seconds).
    pub expiry: u64,
    /// The block it happened in.
    pub block: u64,
}

/// Which purchases [`Contracts::purchases`](crate::Contracts::purchases) returns: those matching every
/// field that is set (the default: all of them).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PurchaseFilter {
    /// Only purchases by this buyer.
    pub buyer: Option<Address>,
    /// Only purchases of products this seller owns.
    pub seller: Option<Address>,
}

impl PurchaseFilter {
    /// Every purchase.
    pub fn all() -> PurchaseFilter {
        PurchaseFilter::default()
    }

    /// `buyer`'s purchases.
    pub fn by_buyer(buyer: Address) -> PurchaseFilter {
        PurchaseFilter {
            buyer: Some(buyer),
            seller: None,
        }
    }

    /// Purchases of `seller`'s products.
    pub fn by_seller(seller: Address) -> PurchaseFilter {
        PurchaseFilter {
            buyer: None,
            seller: Some(seller),
        }
    }
}

/// A change the registry announced, in block order.
#[derive(Clone, Debug, PartialEq)]
pub enum RegistryEvent {
    /// A stream was created.
    Created {
        /// The stream.
        id: String,
        /// Its metadata JSON.
        metadata: String,
        /// Its creator.
        creator: Address,
    },
    /// An account registered its public key (64 bytes, `x ‖ y`), so keys can be sealed to it.
    PublicKey {
        /// The account.
        account: Address,
        /// Its uncompressed public key without the 0x04 prefix.
        key: Vec<u8>,
    },
    /// A stream's metadata changed.
    Updated {
        /// The stream.
        id: String,
        /// The new metadata JSON.
        metadata: String,
    },
    /// A stream was deleted (with all its permissions).
    Deleted {
        /// The stream.
        id: String,
    },
    /// An address's permissions on a stream were set.
    Permission {
        /// The stream.
        id: String,
        /// Whose permissions (the zero address: everyone).
        user: Address,
        /// The permissions now.
        permissions: Permissions,
    },
}

/// A step of a signature or transaction, as it happens (for a user watching a wallet).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TxStep {
    /// The key or wallet is asked to sign `what` (e.g. `permit`).
    SignatureRequested {
        /// What is to be signed.
        what: String,
    },
    /// The key or wallet signed `what`.
    Signed {
        /// What was signed.
        what: String,
    },
    /// The key or wallet is asked to send a transaction calling `what` (e.g. `approve`,
    /// `buyWithPermit`), or creating the contract `what`.
    TransactionRequested {
        /// The contract function (or contract).
        what: String,
    },
    /// The transaction was sent and waits to be mined.
    Sent {
        /// The contract function (or contract).
        what: String,
        /// Its hash, `0x…`.
        hash: String,
    },
    /// The transaction was mined and succeeded.
    Confirmed {
        /// The contract function (or contract).
        what: String,
        /// Its hash, `0x…`.
        hash: String,
        /// The block it is in.
        block: u64,
    },
}

/// DATA has 18 decimals: one DATA is this many wei.
pub const DATA_WEI: u128 = 1_000_000_000_000_000_000;

/// DATA wei as DATA, without trailing zeros: `5 DATA`, `0.25 DATA`.
pub fn format_data(wei: U256) -> String {
    // Every amount of a token with DATA's supply fits 128 bits; formatting in `u128` keeps 256-bit
    // decimal formatting out of the browser build. Beyond that, wei in hexadecimal.
    let Ok(wei) = u128::try_from(wei) else {
        return format!("{wei:#x} wei");
    };
    let (whole, fraction) = (wei / DATA_WEI, wei % DATA_WEI);
    if fraction == 0 {
        return format!("{whole} DATA");
    }
    let fraction = format!("{fraction:0>18}");
    format!("{whole}.{} DATA", fraction.trim_end_matches('0'))
}

/// An amount of DATA that [`parse_data`] refuses.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "{0:?} is not an amount of DATA (a decimal number with at most 18 decimals, e.g. 100 or 0.5)"
)]
pub struct InvalidAmount(pub String);

/// An amount written in DATA — decimal, at most 18 decimals, an optional ` DATA` suffix: `100`,
/// `0.5 DATA` — as wei.
pub fn parse_data(text: &str) -> Result<U256, InvalidAmount> {
    let invalid = || InvalidAmount(text.to_owned());
    let number = text.trim();
    let number = number.strip_suffix("DATA").unwrap_or(number).trim_end();
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if (whole.is_empty() && fraction.is_empty())
        || !digits(whole)
        || !digits(fraction)
        || fraction.len() > 18
    {
        return Err(invalid());
    }
    let whole = if whole.is_empty() {
        U256::ZERO
    } else {
        whole.parse::<U256>().map_err(|_| invalid())?
    };
    let fraction = format!("{fraction:0<18}")
        .parse::<U256>()
        .map_err(|_| invalid())?;
    whole
        .checked_mul(U256::from(DATA_WEI))
        .and_then(|w| w.checked_add(fraction))
        .ok_or_else(invalid)
}

/// Converts a protocol address to the contracts' (alloy's) address type.
pub fn to_alloy(address: rivulet_protocol::Address) -> Address {
    Address::from(address.0)
}

/// Converts a contracts' (alloy's) address to the protocol's.
pub fn from_alloy(address: Address) -> rivulet_protocol::Address {
    rivulet_protocol::Address(address.into_array())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn data_amounts_read_and_print_in_data() {
        let wei = |n: u128| U256::from(n);
        for (text, amount) in [
            ("100", 100 * DATA_WEI),
            ("0.5", DATA_WEI / 2),
            (".25 DATA", DATA_WEI / 4),
            ("1.000000000000000001", DATA_WEI + 1),
            ("7.", 7 * DATA_WEI),
        ] {
            assert_eq!(parse_data(text), Ok(wei(amount)), "{text}");
        }
        for bad in ["", ".", "-1", "1e3", "0x10", "1.0000000000000000001", "one"] {
            assert!(parse_data(bad).is_err(), "{bad}");
        }
        assert_eq!(format_data(wei(100 * DATA_WEI)), "100 DATA");
        assert_eq!(format_data(wei(DATA_WEI / 4)), "0.25 DATA");
        assert_eq!(format_data(wei(1)), "0.000000000000000001 DATA");
        assert_eq!(format_data(U256::ZERO), "0 DATA");
        assert_eq!(
            format_data(U256::from(u128::MAX)),
            "340282366920938463463.374607431768211455 DATA"
        );
        assert_eq!(
            format_data(U256::from(u128::MAX) + U256::from(1)),
            "0x100000000000000000000000000000000 wei"
        );
    }

    #[test]
    fn stream_metadata_keeps_what_it_does_not_know() {
        let json = r#"{"name":"Weather","partitions":4,"config":{"retention":7},"owner":"x"}"#;
        let m = StreamMetadata::parse(json);
        assert_eq!((m.name.as_str(), m.description.as_str()), ("Weather", ""));
        assert_eq!(m.partitions, 4);
        assert_eq!(m.config, serde_json::json!({ "retention": 7 }));
        assert_eq!(m.extra["owner"], "x");
        assert_eq!(StreamMetadata::parse(&m.to_json()), m);
        assert_eq!(
            StreamMetadata::named("a", "b").to_json(),
            r#"{"name":"a","description":"b","partitions":1}"#
        );
        // Not an object, or fields of the wrong type: the text becomes the description.
        for odd in ["plain text", r#"{"partitions":"four"}"#, r#"{"name":3}"#] {
            assert_eq!(StreamMetadata::parse(odd), StreamMetadata::named("", odd));
        }
        assert_eq!(StreamMetadata::parse("{}"), StreamMetadata::default());
    }
}
