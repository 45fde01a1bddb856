//! The node as a publisher: events it signs itself with its own key (which needs publish permission on
//! the stream), for WebSocket clients that send plain content instead of signed events.

use std::sync::Mutex;

use rivulet_protocol::{
    Address, ChainId, ChainSigner, ContentType, MessageType, PublishError, Signer, StreamPartId,
};

use super::access::now_ms;

/// The node's publisher key and its message chains (one per stream part). Shared by the API's
/// sessions; signing is quick, so a lock suffices.
#[derive(Debug)]
pub(crate) struct NodePublisher {
    chains: Mutex<ChainSigner>,
    address: Address,
}

impl NodePublisher {
    /// The node's publisher with `signer`, its chains named after the node (`node-<peer id prefix>`).
    pub(crate) fn new(signer: Signer, chain_id: ChainId) -> NodePublisher {
        NodePublisher {
            address: signer.address(),
            chains: Mutex::new(ChainSigner::new(signer, chain_id)),
        }
    }

    /// The address the node signs as.
    pub(crate) fn address(&self) -> Address {
        self.address
    }

    /// The next event of `part` with JSON `content`, signed now: its wire bytes.
    pub(crate) fn sign_json(
        &self,
        part: &StreamPartId,
        content: Vec<u8>,
    ) -> Result<Vec<u8>, PublishError> {
        let mut chains = match self.chains.lock() {
            Ok(c) => c,
            Err(p) => p.into_inner(),
        };
        let message = chains.sign_next(
            part,
            now_ms(),
            MessageType::Data,
            ContentType::Json,
            content,
            None,
            &mut rand::rng(),
        )?;
        message
            .encode()
            .map_err(|e| PublishError::Sign(rivulet_protocol::SignatureError::Encode(e)))
    }
}
