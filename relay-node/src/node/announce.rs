//! `node.json` in the data directory: the running node's peer id, publisher address, libp2p addresses
//! and HTTP address, rewritten (atomically) whenever it starts listening somewhere new — for scripts,
//! tests and operators.

use std::{net::SocketAddr, path::PathBuf};

use rivulet_network::libp2p::{Multiaddr, PeerId};
use rivulet_protocol::Address;
use serde::Serialize;
use tracing::{info, warn};

/// What `node.json` holds.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct State {
    peer_id: String,
    publisher: String,
    listen: Vec<String>,
    http: String,
}

/// The node's addresses, as announced in its state file.
#[derive(Debug)]
pub(crate) struct Announce {
    file: PathBuf,
    peer_id: PeerId,
    publisher: Address,
    http: SocketAddr,
    listen: Vec<Multiaddr>,
    /// The full addresses (`…/p2p/<peer id>`), shared with the node's handle for `/health`.
    shared: Listening,
}

/// The node's full libp2p addresses as they come, readable by the APIs. Cheap to clone.
#[derive(Clone, Debug, Default)]
pub(crate) struct Listening(std::sync::Arc<std::sync::RwLock<Vec<String>>>);

impl Listening {
    /// Every address the node listens on, `…/p2p/<peer id>`.
    pub(crate) fn all(&self) -> Vec<String> {
        match self.0.read() {
            Ok(list) => list.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }
}

impl Announce {
    /// Announces into `file`.
    pub(crate) fn new(
        file: PathBuf,
        peer_id: PeerId,
        publisher: Address,
        http: SocketAddr,
        shared: Listening,
    ) -> Announce {
        Announce {
            file,
            peer_id,
            publisher,
            http,
            listen: Vec::new(),
            shared,
        }
    }

    /// The node listens on `address` too.
    pub(crate) fn listening(&mut self, address: Multiaddr) {
        info!(%address, "listening");
        self.listen.push(address);
        let state = State {
            peer_id: self.peer_id.to_string(),
            publisher: self.publisher.to_checksum(),
            listen: self
                .listen
                .iter()
                .map(|a| format!("{a}/p2p/{}", self.peer_id))
                .collect(),
            http: self.http.to_string(),
        };
        match self.shared.0.write() {
            Ok(mut list) => *list = state.listen.clone(),
            Err(poisoned) => *poisoned.into_inner() = state.listen.clone(),
        }
        let tmp = self.file.with_extension("json.tmp");
        let written = serde_json::to_vec_pretty(&state)
            .map_err(std::io::Error::other)
            .and_then(|bytes| std::fs::write(&tmp, bytes))
            .and_then(|()| std::fs::rename(&tmp, &self.file));
        if let Err(e) = written {
            warn!("cannot write {}: {e}", self.file.display());
        }
    }
}
