//! Keeping the client's group keys across restarts: loaded from its [`KeyVault`] when the client
//! starts (publishing and decrypting wait for that), and saved — sealed under a key derived from the
//! client's private key, merged with what the vault holds — after every change. Saves are coalesced: at
//! most one runs at a time, and changes made meanwhile are saved right after it.

use rivulet_protocol::encryption::{open_at_rest, seal_at_rest};

use crate::{
    client::{Client, lock},
    error::ClientError,
    runtime,
};

impl Client {
    /// Waits until the keys saved by earlier runs are loaded (at once without a vault).
    pub(crate) async fn keys_ready(&self) {
        let _ = self.inner.keys_loaded.clone().await;
    }

    /// Loads the vault's keys into the key store (run once, when the client starts).
    pub(crate) async fn load_keys(&self) -> Result<(), ClientError> {
        let Some(vault) = &self.inner.vault else {
            return Ok(());
        };
        let Some(sealed) = vault
            .load()
            .await
            .map_err(|e| ClientError::Vault(e.to_string()))?
        else {
            return Ok(());
        };
        let saved = open_at_rest(&self.private_key(), &sealed).map_err(|e| {
            ClientError::Vault(format!("the saved keys do not open with this key: {e}"))
        })?;
        let parts = {
            let mut keys = lock(&self.inner.keys);
            keys.merge_saved(&saved)?;
            keys.published_parts()
        };
        // A publisher that restarts serves the keys of what it published before, without publishing
        // anything new first.
        for part in parts {
            let client = self.clone();
            runtime::spawn(async move {
                let _ = client.serve_keys(&part).await;
            });
        }
        Ok(())
    }

    /// The keys changed: saves them (now, or right after the save that is running).
    pub(crate) fn keys_changed(&self) {
        if self.inner.vault.is_none() {
            return;
        }
        {
            let mut state = lock(&self.inner.saving);
            state.dirty = true;
            if state.running {
                return;
            }
            state.running = true;
        }
        let client = self.clone();
        runtime::spawn(async move {
            loop {
                lock(&client.inner.saving).dirty = false;
                if let Err(e) = client.save_keys().await {
                    *lock(&client.inner.vault_error) = Some(e.to_string());
                }
                let mut state = lock(&client.inner.saving);
                if !state.dirty {
                    state.running = false;
                    break;
                }
            }
        });
    }

    /// Saves the key store, merged with what the vault holds. A vault whose bytes do not open with this
    /// client's key is left as it is (and the failure reported): nothing is overwritten unread.
    async fn save_keys(&self) -> Result<(), ClientError> {
        let Some(vault) = &self.inner.vault else {
            return Ok(());
        };
        let key = self.private_key();
        let held = vault
            .load()
            .await
            .map_err(|e| ClientError::Vault(e.to_string()))?;
        let snapshot = {
            let mut keys = lock(&self.inner.keys);
            if let Some(sealed) = held {
                let saved = open_at_rest(&key, &sealed).map_err(|e| {
                    ClientError::Vault(format!(
                        "the vault holds keys that do not open with this key, so they are not replaced: {e}"
                    ))
                })?;
                keys.merge_saved(&saved)?;
            }
            keys.to_saved()
        };
        let sealed = seal_at_rest(&key, &snapshot, &mut runtime::rng());
        vault
            .save(sealed)
            .await
            .map_err(|e| ClientError::Vault(e.to_string()))
    }

    /// The last failure to load or save keys, if any (for diagnostics).
    pub fn key_vault_error(&self) -> Option<String> {
        lock(&self.inner.vault_error).clone()
    }
}
