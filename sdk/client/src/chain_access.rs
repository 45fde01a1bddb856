//! [`StreamAccess`] over the contracts: the registry's permissions mirrored from its events
//! ([`PermissionCache`]), synced at most once a second when asked, and judged by the chain's clock
//! (the latest block's time, carried forward by this machine's clock and never behind it). What the npm
//! package and the command line give their clients.

use rivulet_contracts::{
    Contracts, Deployment, PermissionCache, Rpc, Sender, from_alloy, to_alloy,
};
use rivulet_protocol::{Address, PublicKey, StreamId};

use crate::{
    access::{AccessError, StreamAccess, StreamReader},
    runtime::{self, BoxFuture},
};

/// How often the mirror is brought up to date, at most.
const SYNC_EVERY_MS: u64 = 1_000;

struct State {
    /// The contracts, or what connects to them on first use.
    contracts: Result<Contracts, (Rpc, Deployment)>,
    cache: PermissionCache,
    /// When the mirror was last synced, this machine's ms; and the chain's time then, seconds.
    synced: Option<(u64, u64)>,
}

/// The chain, read through the contracts.
pub struct ContractsAccess {
    state: futures::lock::Mutex<State>,
}

impl std::fmt::Debug for ContractsAccess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ContractsAccess").finish_non_exhaustive()
    }
}

impl ContractsAccess {
    /// Access through `contracts` (a read-only connection will do).
    pub fn new(contracts: Contracts) -> ContractsAccess {
        let start = contracts.deployment().start_block;
        ContractsAccess {
            state: futures::lock::Mutex::new(State {
                contracts: Ok(contracts),
                cache: PermissionCache::new(start),
                synced: None,
            }),
        }
    }

    /// Access through `rpc` to the contracts of `deployment`, connected (and checked) on first use.
    pub fn connecting(rpc: Rpc, deployment: Deployment) -> ContractsAccess {
        let start = deployment.start_block;
        ContractsAccess {
            state: futures::lock::Mutex::new(State {
                contracts: Err((rpc, deployment)),
                cache: PermissionCache::new(start),
                synced: None,
            }),
        }
    }

    /// Runs `judge` on the mirror, synced within the last second, with the chain's time now.
    async fn with<T>(
        &self,
        judge: impl FnOnce(&PermissionCache, u64) -> T,
    ) -> Result<T, AccessError> {
        let mut state = self.state.lock().await;
        let now = runtime::now_ms();
        let stale = state
            .synced
            .is_none_or(|(at, _)| now.saturating_sub(at) >= SYNC_EVERY_MS);
        if stale {
            let error = |e: rivulet_contracts::ContractsError| AccessError(e.to_string());
            if let Err((rpc, deployment)) = &state.contracts {
                let contracts = Contracts::connect(rpc.clone(), deployment.clone(), Sender::None)
                    .await
                    .map_err(error)?;
                state.contracts = Ok(contracts);
            }
            let State {
                contracts, cache, ..
            } = &mut *state;
            let Ok(contracts) = contracts else {
                return Err(AccessError("the contracts are not connected".into()));
            };
            cache.sync(contracts).await.map_err(error)?;
            let chain = contracts.chain_time().await.map_err(error)?;
            state.synced = Some((now, chain));
        }
        let (at, chain) = state.synced.unwrap_or((now, now / 1000));
        let chain_now = (now / 1000).max(chain + now.saturating_sub(at) / 1000);
        Ok(judge(&state.cache, chain_now))
    }
}

impl StreamAccess for ContractsAccess {
    fn is_public(&self, stream: &StreamId) -> BoxFuture<'_, Result<bool, AccessError>> {
        let stream = stream.as_str().to_owned();
        Box::pin(async move {
            self.with(|cache, now| cache.may_subscribe(&stream, to_alloy(Address::ZERO), now))
                .await
        })
    }

    fn may_subscribe(
        &self,
        stream: &StreamId,
        reader: Address,
    ) -> BoxFuture<'_, Result<bool, AccessError>> {
        let stream = stream.as_str().to_owned();
        Box::pin(async move {
            self.with(|cache, now| cache.may_subscribe(&stream, to_alloy(reader), now))
                .await
        })
    }

    fn readers(&self, stream: &StreamId) -> BoxFuture<'_, Result<Vec<StreamReader>, AccessError>> {
        let stream = stream.as_str().to_owned();
        Box::pin(async move {
            self.with(|cache, now| {
                cache
                    .subscribers(&stream, now)
                    .into_iter()
                    .map(|account| StreamReader {
                        address: from_alloy(account),
                        public_key: cache.public_key(account).and_then(|key| {
                            let mut sec1 = Vec::with_capacity(65);
                            sec1.push(4);
                            sec1.extend_from_slice(key);
                            PublicKey::from_sec1_bytes(&sec1).ok()
                        }),
                    })
                    .collect()
            })
            .await
        })
    }
}
