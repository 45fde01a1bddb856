//! The node as a publisher: events it publishes itself with its own key (which needs publish permission
//! on the stream), for WebSocket clients that send plain content instead of signed events.
//!
//! It publishes as any client does — through a light client of its own, connected to this node — so
//! the same rules hold: events to a stream that is not public are encrypted end to end with the node's
//! group key, its key service answers permitted readers (checked against this node's mirror of the
//! registry, by the chain's clock) and seals keys to registered readers, and its keys are kept in the
//! data directory across restarts.

use std::{path::PathBuf, sync::Arc, time::Duration};

use rivulet_client::{
    AccessError, Client, ClientConfig, ClientError, FileVault, PublishOptions, StreamAccess,
    StreamReader, runtime::BoxFuture,
};
use rivulet_contracts::{from_alloy, to_alloy};
use rivulet_protocol::{Address, ContentType, PublicKey, Signer, StreamId, StreamPartId};
use tokio::sync::OnceCell;

use super::{access::Access, announce::Listening, commands::Published};

/// The node's publisher key and its light client (started on first use).
#[derive(Debug)]
pub(crate) struct NodePublisher {
    key: [u8; 32],
    address: Address,
    access: Access,
    listening: Listening,
    vault: PathBuf,
    client: OnceCell<Client>,
}

impl NodePublisher {
    /// The node's publisher with `signer`, reading permissions through `access`, reaching this node at
    /// one of `listening`'s addresses, keeping its keys in `vault`.
    pub(crate) fn new(
        signer: &Signer,
        access: Access,
        listening: Listening,
        vault: PathBuf,
    ) -> NodePublisher {
        NodePublisher {
            key: signer.to_bytes(),
            address: signer.address(),
            access,
            listening,
            vault,
            client: OnceCell::new(),
        }
    }

    /// The address the node publishes as.
    pub(crate) fn address(&self) -> Address {
        self.address
    }

    async fn client(&self) -> Result<&Client, ClientError> {
        self.client
            .get_or_try_init(|| async {
                let own = self
                    .listening
                    .all()
                    .into_iter()
                    .find(|a| a.contains("/tcp/") && !a.contains("/ws"))
                    .ok_or_else(|| {
                        ClientError::NotConnected("this node is not listening on TCP".into())
                    })?;
                let node = own
                    .parse()
                    .map_err(|e| ClientError::InvalidArgument(format!("{own}: {e}")))?;
                Client::new(ClientConfig {
                    nodes: vec![node],
                    private_key: Some(self.key),
                    request_timeout: Duration::from_secs(30),
                    key_vault: Some(Arc::new(FileVault::new(self.vault.clone()))),
                    access: Some(Arc::new(CacheAccess(self.access.clone()))),
                    ..ClientConfig::default()
                })
            })
            .await
    }

    /// Publishes JSON `content` to `part` as the node: encrypted when the stream is not public.
    pub(crate) async fn publish_json(
        &self,
        part: &StreamPartId,
        content: Vec<u8>,
    ) -> Result<Published, ClientError> {
        let options = PublishOptions {
            partition: Some(u32::from(part.partition.get())),
            ..PublishOptions::default()
        };
        let published = self
            .client()
            .await?
            .publish(&part.stream_id, ContentType::Json, content, options)
            .await?;
        Ok(Published {
            part: part.to_string(),
            duplicate: published.duplicate,
            stored: published.stored,
            replicas: published.replicas.map(|n| n as usize),
        })
    }
}

/// [`StreamAccess`] over this node's mirror of the registry.
struct CacheAccess(Access);

impl StreamAccess for CacheAccess {
    fn is_public(&self, stream: &StreamId) -> BoxFuture<'_, Result<bool, AccessError>> {
        let public = self.may(stream, Address::ZERO);
        Box::pin(async move { Ok(public) })
    }

    fn may_subscribe(
        &self,
        stream: &StreamId,
        reader: Address,
    ) -> BoxFuture<'_, Result<bool, AccessError>> {
        let may = self.may(stream, reader);
        Box::pin(async move { Ok(may) })
    }

    fn readers(&self, stream: &StreamId) -> BoxFuture<'_, Result<Vec<StreamReader>, AccessError>> {
        let now = self.0.now_secs();
        let cache = self.0.permissions();
        let readers = cache
            .subscribers(stream.as_str(), now)
            .into_iter()
            .map(|account| StreamReader {
                address: from_alloy(account),
                public_key: cache
                    .public_key(account)
                    .and_then(|key| PublicKey::from_sec1_bytes(&[&[4u8][..], key].concat()).ok()),
            })
            .collect();
        Box::pin(async move { Ok(readers) })
    }
}

impl CacheAccess {
    fn may(&self, stream: &StreamId, reader: Address) -> bool {
        self.0
            .permissions()
            .may_subscribe(stream.as_str(), to_alloy(reader), self.0.now_secs())
    }
}
