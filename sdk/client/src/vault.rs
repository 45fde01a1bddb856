//! Where a client keeps its group keys across restarts: a [`KeyVault`] holds opaque bytes, which the
//! client seals first under a key derived from its private key
//! ([`seal_at_rest`](rivulet_protocol::encryption::seal_at_rest)), so a vault never sees a key. Natively
//! [`FileVault`] keeps them in a file; the npm package brings IndexedDB in browsers and a file in Node.
//!
//! Several processes may share a private key and a vault: each save merges what the vault holds (every
//! known key is kept), so none loses another's keys.

use crate::runtime::{BoxFuture, MaybeSend};

/// Whether a save is running, and whether keys changed since it took its snapshot.
#[derive(Debug, Default)]
pub(crate) struct SaveState {
    pub(crate) running: bool,
    pub(crate) dirty: bool,
}

/// Why a vault could not load or save.
#[derive(Debug, thiserror::Error)]
#[error("key vault: {0}")]
pub struct VaultError(pub String);

/// Durable storage for a client's sealed group keys.
pub trait KeyVault: MaybeSend + 'static {
    /// What was saved last, if anything.
    fn load(&self) -> BoxFuture<'_, Result<Option<Vec<u8>>, VaultError>>;
    /// Replaces what is saved (atomically: a crash leaves the old or the new bytes).
    fn save(&self, sealed: Vec<u8>) -> BoxFuture<'_, Result<(), VaultError>>;
}

/// A vault in one file (created with its directory, readable by the owner only; replaced atomically).
#[cfg(not(target_arch = "wasm32"))]
#[derive(Clone, Debug)]
pub struct FileVault {
    path: std::path::PathBuf,
}

#[cfg(not(target_arch = "wasm32"))]
impl FileVault {
    /// A vault in `path`.
    pub fn new(path: impl Into<std::path::PathBuf>) -> FileVault {
        FileVault { path: path.into() }
    }

    fn write(path: &std::path::Path, sealed: &[u8]) -> std::io::Result<()> {
        use std::io::Write;
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let tmp = path.with_extension("tmp");
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(&tmp)?;
        file.write_all(sealed)?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)
    }
}

#[cfg(not(target_arch = "wasm32"))]
impl KeyVault for FileVault {
    fn load(&self) -> BoxFuture<'_, Result<Option<Vec<u8>>, VaultError>> {
        let path = self.path.clone();
        Box::pin(async move {
            match tokio::task::spawn_blocking(move || std::fs::read(&path)).await {
                Ok(Ok(bytes)) => Ok(Some(bytes)),
                Ok(Err(e)) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Ok(Err(e)) => Err(VaultError(e.to_string())),
                Err(e) => Err(VaultError(e.to_string())),
            }
        })
    }

    fn save(&self, sealed: Vec<u8>) -> BoxFuture<'_, Result<(), VaultError>> {
        let path = self.path.clone();
        Box::pin(async move {
            match tokio::task::spawn_blocking(move || FileVault::write(&path, &sealed)).await {
                Ok(result) => {
                    result.map_err(|e| VaultError(format!("{}: {e}", self.path.display())))
                }
                Err(e) => Err(VaultError(e.to_string())),
            }
        })
    }
}
