//! The node's libp2p identity: loaded from the data directory, created there on first run.

use std::path::Path;

use anyhow::{Context, Result};
use rivulet_network::libp2p::identity::Keypair;

/// Loads the key at `path`, or creates one (readable by the owner only) if there is none.
pub(crate) fn load_or_create(path: &Path) -> Result<Keypair> {
    if path.exists() {
        let bytes = std::fs::read(path)
            .with_context(|| format!("cannot read node key {}", path.display()))?;
        return Keypair::from_protobuf_encoding(&bytes).with_context(|| {
            format!(
                "{} is not a node key (delete it to create a new identity)",
                path.display()
            )
        });
    }
    let key = Keypair::generate_ed25519();
    let bytes = key
        .to_protobuf_encoding()
        .context("cannot encode the new node key")?;
    write_private(path, &bytes)
        .with_context(|| format!("cannot write node key {}", path.display()))?;
    Ok(key)
}

#[cfg(unix)]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::{io::Write, os::unix::fs::OpenOptionsExt};
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

#[cfg(not(unix))]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::write(path, bytes)
}

/// Loads the node's secp256k1 publisher key at `path`, or creates one.
pub(crate) fn load_or_create_publisher(path: &Path) -> Result<rivulet_protocol::Signer> {
    if path.exists() {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        return rivulet_protocol::Signer::from_hex(&text).map_err(|e| {
            anyhow::anyhow!(
                "{} is not a publisher key ({e}); delete it to create a new one",
                path.display()
            )
        });
    }
    let mut rng = rand::rng();
    let signer = rivulet_protocol::Signer::random(&mut rng);
    write_private(path, hex::encode(signer.to_bytes()).as_bytes())
        .with_context(|| format!("cannot write publisher key {}", path.display()))?;
    Ok(signer)
}

/// Loads the WebRTC certificate at `path`, or creates one.
pub(crate) fn load_or_create_webrtc_certificate(path: &Path) -> Result<String> {
    if path.exists() {
        return std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()));
    }
    let pem = rivulet_network::new_webrtc_certificate()?;
    write_private(path, pem.as_bytes())
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(pem)
}
