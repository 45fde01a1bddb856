//! Plain Rust views of what the contracts hold: permissions, stream metadata, products, purchases.

use alloy::primitives::{Address, B256, U256};
use rivulet_protocol::StreamId;
use serde::{Deserialize, Serialize};

use crate::bindings::StreamRegistry;

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
}

impl core::str::FromStr for PermissionKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "edit" => Ok(PermissionKind::Edit),
            "delete" => Ok(PermissionKind::Delete),
            "publish" => Ok(PermissionKind::Publish),
            "subscribe" => Ok(PermissionKind::Subscribe),
            "grant" => Ok(PermissionKind::Grant),
            other => Err(format!(
                "unknown permission {other:?}; expected edit, delete, publish, subscribe or grant"
            )),
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
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StreamMetadata {
    /// A human name.
    #[serde(default)]
    pub name: String,
    /// What the stream carries.
    #[serde(default)]
    pub description: String,
    /// Number of partitions, 1..=100.
    #[serde(default = "one")]
    pub partitions: u32,
    /// Free-form configuration (retention, storage, schema...).
    #[serde(default, skip_serializing_if = "serde_json::Value::is_null")]
    pub config: serde_json::Value,
    /// Fields this version does not know, kept as they are.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

fn one() -> u32 {
    1
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
        serde_json::from_str(json).unwrap_or_else(|_| StreamMetadata::named("", json))
    }

    /// The JSON text stored on chain.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Checks the partition count.
    pub fn validate(&self) -> Result<(), crate::ChainError> {
        if (1..=100).contains(&self.partitions) {
            Ok(())
        } else {
            Err(crate::ChainError::Config(format!(
                "partitions must be 1..=100, got {}",
                self.partitions
            )))
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
    /// Whether it is on sale.
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

/// Converts a protocol address to alloy's.
pub fn to_alloy(address: rivulet_protocol::Address) -> Address {
    Address::from(address.0)
}

/// Converts an alloy address to the protocol's.
pub fn from_alloy(address: Address) -> rivulet_protocol::Address {
    rivulet_protocol::Address(address.into_array())
}
