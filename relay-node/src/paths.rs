//! Every file the node keeps in its data directory, in one place.

use std::path::{Path, PathBuf};

/// The data directory's layout.
#[derive(Debug, Clone)]
pub(crate) struct DataDir(PathBuf);

impl DataDir {
    pub(crate) fn new(root: &Path) -> DataDir {
        DataDir(root.to_path_buf())
    }

    /// The node's libp2p identity (protobuf-encoded ed25519 key), created on first run, mode 0600.
    pub(crate) fn node_key(&self) -> PathBuf {
        self.0.join("node.key")
    }

    /// The node's publisher key (secp256k1, hex), for events it signs itself; created on first run, 0600.
    pub(crate) fn publisher_key(&self) -> PathBuf {
        self.0.join("publisher.key")
    }

    /// The WebRTC certificate (PEM): its hash is part of the node's `/webrtc-direct` addresses, so it is
    /// kept to keep them.
    pub(crate) fn webrtc_certificate(&self) -> PathBuf {
        self.0.join("webrtc.pem")
    }

    /// The group keys of what the node publishes itself (sealed under its publisher key).
    pub(crate) fn publisher_keys(&self) -> PathBuf {
        self.0.join("publisher-keys.vault")
    }

    /// The history store.
    pub(crate) fn history(&self) -> PathBuf {
        self.0.join("history.redb")
    }

    /// What the coordinator follower remembers: the last checksum interval reported per part.
    pub(crate) fn coordination(&self) -> PathBuf {
        self.0.join("coordination.json")
    }

    /// Where the running node writes its peer id and actual addresses (for scripts and tests).
    pub(crate) fn state(&self) -> PathBuf {
        self.0.join("node.json")
    }

    pub(crate) fn root(&self) -> &Path {
        &self.0
    }
}
