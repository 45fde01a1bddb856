//! The stream registry: streams (create, read, update, delete, list and search from events) and
//! permissions (read, set, grant, grant until, revoke, check now or at a given second).

use alloy_primitives::Address;
use alloy_sol_types::SolEvent;
use rivulet_protocol::StreamId;
use serde_json::json;

use crate::{
    Contracts, ContractsError, Log, PermissionKind, Permissions, RegistryEvent, Revert, StreamInfo,
    StreamMetadata,
    bindings::StreamRegistry::{self, StreamRegistryErrors},
};

impl Contracts {
    // ---- streams ----

    /// Creates `<sender>/<path>`; returns its id.
    pub async fn create_stream(
        &self,
        path: &str,
        metadata: &StreamMetadata,
    ) -> Result<StreamId, ContractsError> {
        metadata.validate()?;
        let owner = self.chain().require_sender()?;
        let id = StreamId::from_parts(crate::from_alloy(owner), path)?;
        self.send_registry(StreamRegistry::createStreamCall {
            path: id.path().to_owned(),
            metadata: metadata.to_json(),
        })
        .await?;
        Ok(id)
    }

    /// Replaces a stream's metadata (needs edit).
    pub async fn update_stream_metadata(
        &self,
        id: &StreamId,
        metadata: &StreamMetadata,
    ) -> Result<(), ContractsError> {
        metadata.validate()?;
        self.send_registry(StreamRegistry::updateStreamMetadataCall {
            streamId: id.to_string(),
            metadata: metadata.to_json(),
        })
        .await
    }

    /// Deletes a stream (needs delete).
    pub async fn delete_stream(&self, id: &StreamId) -> Result<(), ContractsError> {
        self.send_registry(StreamRegistry::deleteStreamCall {
            streamId: id.to_string(),
        })
        .await
    }

    /// A stream, or `None` if it does not exist.
    pub async fn get_stream(&self, id: &StreamId) -> Result<Option<StreamInfo>, ContractsError> {
        let exists = self
            .call_registry(StreamRegistry::existsCall {
                streamId: id.to_string(),
            })
            .await?;
        if !exists {
            return Ok(None);
        }
        self.read_stream(id).await
    }

    /// `getStream`, with the registry's `StreamNotFound` as `None` (a stream deleted meanwhile).
    async fn read_stream(&self, id: &StreamId) -> Result<Option<StreamInfo>, ContractsError> {
        let read = self
            .call_registry(StreamRegistry::getStreamCall {
                streamId: id.to_string(),
            })
            .await;
        match read {
            Ok(s) => Ok(Some(StreamInfo {
                id: id.clone(),
                metadata: StreamMetadata::parse(&s.metadata),
                creator: s.creator,
                created_at: s.createdAt,
            })),
            Err(ContractsError::Reverted(Revert::StreamRegistry(
                StreamRegistryErrors::StreamNotFound(_),
            ))) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Every existing stream, in order of creation: the ids from the registry's creation and deletion
    /// events, each stream read from the registry.
    pub async fn list_streams(&self) -> Result<Vec<StreamInfo>, ContractsError> {
        let head = self.block_number().await?;
        let logs = self
            .chain()
            .logs(
                self.deployment().stream_registry,
                json!([[
                    StreamRegistry::StreamCreated::SIGNATURE_HASH.to_string(),
                    StreamRegistry::StreamDeleted::SIGNATURE_HASH.to_string(),
                ]]),
                self.deployment().start_block,
                head,
            )
            .await?;
        let mut ids: Vec<String> = Vec::new();
        for log in &logs {
            if let Some(e) = log.decode::<StreamRegistry::StreamCreated>() {
                ids.retain(|s| *s != e.streamId);
                ids.push(e.streamId);
            } else if let Some(e) = log.decode::<StreamRegistry::StreamDeleted>() {
                ids.retain(|s| *s != e.streamId);
            }
        }
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            let Ok(id) = id.parse::<StreamId>() else {
                continue;
            };
            if let Some(info) = self.read_stream(&id).await? {
                out.push(info);
            }
        }
        Ok(out)
    }

    /// Streams whose id, name or description contains `query` (case-insensitive).
    pub async fn search_streams(&self, query: &str) -> Result<Vec<StreamInfo>, ContractsError> {
        let q = lower_case(query);
        Ok(self
            .list_streams()
            .await?
            .into_iter()
            .filter(|s| {
                lower_case(s.id.as_str()).contains(&q)
                    || lower_case(&s.metadata.name).contains(&q)
                    || lower_case(&s.metadata.description).contains(&q)
            })
            .collect())
    }

    /// The registry's events in blocks `from_block..=to_block` (to the latest block when `None`), in
    /// order, and the last block read.
    pub async fn registry_events(
        &self,
        from_block: u64,
        to_block: Option<u64>,
    ) -> Result<(Vec<RegistryEvent>, u64), ContractsError> {
        let to = match to_block {
            Some(b) => b,
            None => self.block_number().await?,
        };
        let logs = self
            .chain()
            .logs(self.deployment().stream_registry, json!([]), from_block, to)
            .await?;
        Ok((logs.iter().filter_map(registry_event).collect(), to))
    }

    // ---- permissions ----

    /// What `user` holds directly on a stream.
    pub async fn get_permissions(
        &self,
        id: &StreamId,
        user: Address,
    ) -> Result<Permissions, ContractsError> {
        let p = self
            .call_registry(StreamRegistry::getPermissionsForUserCall {
                streamId: id.to_string(),
                user,
            })
            .await?;
        Ok(p.into())
    }

    /// Sets all of `user`'s permissions (needs grant).
    pub async fn set_permissions(
        &self,
        id: &StreamId,
        user: Address,
        permissions: Permissions,
    ) -> Result<(), ContractsError> {
        self.send_registry(StreamRegistry::setPermissionsCall {
            streamId: id.to_string(),
            user,
            permission: permissions.into(),
        })
        .await
    }

    /// Grants `kind` to `user` (publish and subscribe without expiry). The zero address is everyone
    /// (public permission: publish and subscribe only).
    pub async fn grant(
        &self,
        id: &StreamId,
        user: Address,
        kind: PermissionKind,
    ) -> Result<(), ContractsError> {
        if user == Address::ZERO {
            self.send_registry(StreamRegistry::grantPublicPermissionCall {
                streamId: id.to_string(),
                kind: kind.as_u8(),
            })
            .await
        } else {
            self.send_registry(StreamRegistry::grantPermissionCall {
                streamId: id.to_string(),
                user,
                kind: kind.as_u8(),
            })
            .await
        }
    }

    /// Grants publish or subscribe to `user` until Unix time `until`.
    pub async fn grant_until(
        &self,
        id: &StreamId,
        user: Address,
        kind: PermissionKind,
        until: u64,
    ) -> Result<(), ContractsError> {
        self.send_registry(StreamRegistry::setExpirationTimeCall {
            streamId: id.to_string(),
            user,
            kind: kind.as_u8(),
            expiration: until,
        })
        .await
    }

    /// Revokes `kind` from `user` (the zero address: the public grant).
    pub async fn revoke(
        &self,
        id: &StreamId,
        user: Address,
        kind: PermissionKind,
    ) -> Result<(), ContractsError> {
        self.send_registry(StreamRegistry::revokePermissionCall {
            streamId: id.to_string(),
            user,
            kind: kind.as_u8(),
        })
        .await
    }

    /// Whether `user` holds `kind` now, directly or (publish, subscribe) publicly; false for a stream
    /// that does not exist.
    pub async fn has_permission(
        &self,
        id: &StreamId,
        user: Address,
        kind: PermissionKind,
    ) -> Result<bool, ContractsError> {
        self.call_registry(StreamRegistry::hasPermissionCall {
            streamId: id.to_string(),
            user,
            kind: kind.as_u8(),
        })
        .await
    }

    /// Whether `user` itself holds `kind` now (public grants do not count).
    pub async fn has_direct_permission(
        &self,
        id: &StreamId,
        user: Address,
        kind: PermissionKind,
    ) -> Result<bool, ContractsError> {
        self.call_registry(StreamRegistry::hasDirectPermissionCall {
            streamId: id.to_string(),
            user,
            kind: kind.as_u8(),
        })
        .await
    }

    /// Whether `user` holds `kind` (directly or publicly) at Unix time `at`, by the registry's rule:
    /// publish and subscribe hold while `at < expiry`.
    pub async fn has_permission_at(
        &self,
        id: &StreamId,
        user: Address,
        kind: PermissionKind,
        at: u64,
    ) -> Result<bool, ContractsError> {
        let exists = self
            .call_registry(StreamRegistry::existsCall {
                streamId: id.to_string(),
            })
            .await?;
        if !exists {
            return Ok(false);
        }
        if self.get_permissions(id, user).await?.allows(kind, at) {
            return Ok(true);
        }
        Ok(kind.may_be_public()
            && self
                .get_permissions(id, Address::ZERO)
                .await?
                .allows(kind, at))
    }

    async fn call_registry<C: alloy_sol_types::SolCall>(
        &self,
        call: C,
    ) -> Result<C::Return, ContractsError> {
        self.chain()
            .call(self.deployment().stream_registry, call)
            .await
    }

    async fn send_registry<C: alloy_sol_types::SolCall>(
        &self,
        call: C,
    ) -> Result<(), ContractsError> {
        self.chain()
            .send(self.deployment().stream_registry, call)
            .await
            .map(drop)
    }
}

/// `text` in lower case as Unicode defines it; in a browser through JavaScript's `toLowerCase`, so
/// that Rust's case-mapping tables (several KB of the page) are not linked for the search alone.
fn lower_case(text: &str) -> String {
    #[cfg(target_arch = "wasm32")]
    {
        String::from(js_sys::JsString::from(text).to_lower_case())
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        text.to_lowercase()
    }
}

/// A registry log as the event it announces (`None`: not one of the registry's stream events).
fn registry_event(log: &Log) -> Option<RegistryEvent> {
    if let Some(e) = log.decode::<StreamRegistry::StreamCreated>() {
        return Some(RegistryEvent::Created {
            id: e.streamId,
            metadata: e.metadata,
            creator: e.creator,
        });
    }
    if let Some(e) = log.decode::<StreamRegistry::StreamUpdated>() {
        return Some(RegistryEvent::Updated {
            id: e.streamId,
            metadata: e.metadata,
        });
    }
    if let Some(e) = log.decode::<StreamRegistry::StreamDeleted>() {
        return Some(RegistryEvent::Deleted { id: e.streamId });
    }
    if let Some(e) = log.decode::<StreamRegistry::PublicKeyRegistered>() {
        return Some(RegistryEvent::PublicKey {
            account: e.account,
            key: e.publicKey.to_vec(),
        });
    }
    if let Some(e) = log.decode::<StreamRegistry::PermissionUpdated>() {
        return Some(RegistryEvent::Permission {
            id: e.streamId,
            user: e.user,
            permissions: Permissions {
                edit: e.canEdit,
                delete: e.canDelete,
                publish_until: e.publishExpiration,
                subscribe_until: e.subscribeExpiration,
                grant: e.canGrant,
            },
        });
    }
    None
}
