//! What the network coordinator says about stream parts: storage requests (request, cancel, list),
//! assignment (the contract's `assignedNodes`, and [`Assignment`] — the active set and every stored
//! stream at one block, for computing it locally), and rolling-checksum reports (report, close, an
//! interval's state, its final value and report window).

use alloy_primitives::{Address, B256, U256};
use rivulet_protocol::{StreamId, StreamPartId, checksum::IntervalChecksum};

use crate::{
    Assignment, CloseOutcome, ContractsError, FinalChecksum, IntervalState, Receipt, ReportOutcome,
    ReportWindow, StorageRequest, StoredStream,
    bindings::NetworkCoordinator as C,
    coordinator::{Coordinator, PAGE},
};

/// Extra gas per assigned node for a `report`: the report that finalises an interval pays every
/// agreeing reporter (a token transfer and a weight change each), and whether it is that report is
/// decided by the reports mined before it, not by the estimate.
const REPORT_GAS_PER_REPLICA: u64 = 40_000;

impl Coordinator {
    // ---- storage requests ----

    /// How many streams the network stores.
    pub async fn stored_stream_count(&self) -> Result<u64, ContractsError> {
        Ok(self
            .call(C::storedStreamCountCall {})
            .await?
            .saturating_to())
    }

    /// Stored stream ids `[offset, offset + limit)` (in no particular order; ids the protocol does not
    /// accept are left out).
    pub async fn stored_streams(
        &self,
        offset: u64,
        limit: u64,
    ) -> Result<Vec<StreamId>, ContractsError> {
        let ids = self
            .call(C::storedStreamsCall {
                offset: U256::from(offset),
                limit: U256::from(limit),
            })
            .await?;
        Ok(ids.iter().filter_map(|id| id.parse().ok()).collect())
    }

    /// A stream's storage request, or `None` if the network does not store it.
    pub async fn storage_of(
        &self,
        stream: &StreamId,
    ) -> Result<Option<StorageRequest>, ContractsError> {
        let request = self
            .call(C::storageOfCall {
                streamId: stream.to_string(),
            })
            .await?;
        Ok(StorageRequest::from_contract(request))
    }

    /// Every stored stream with its request, read page by page at `block`.
    pub async fn stored_streams_at(&self, block: u64) -> Result<Vec<StoredStream>, ContractsError> {
        let count: u64 = self
            .call_at(C::storedStreamCountCall {}, block)
            .await?
            .saturating_to();
        let mut ids = Vec::new();
        let mut offset = 0;
        while offset < count {
            let page = self
                .call_at(
                    C::storedStreamsCall {
                        offset: U256::from(offset),
                        limit: U256::from(PAGE),
                    },
                    block,
                )
                .await?;
            if page.is_empty() {
                break;
            }
            offset += page.len() as u64;
            ids.extend(page);
        }
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            let Ok(stream) = id.parse::<StreamId>() else {
                continue;
            };
            let request = self
                .call_at(C::storageOfCall { streamId: id }, block)
                .await?;
            if let Some(request) = StorageRequest::from_contract(request) {
                out.push(StoredStream {
                    id: stream,
                    request,
                });
            }
        }
        Ok(out)
    }

    /// Every stored stream with its request, at the latest block.
    pub async fn all_stored_streams(&self) -> Result<Vec<StoredStream>, ContractsError> {
        let block = self.chain().block_number().await?;
        self.stored_streams_at(block).await
    }

    /// Asks the network to store `stream` (or changes the request): `partitions` 1..=100, `replication`
    /// 0 for the coordinator's default, `retention_seconds` `None` for ever. Needs edit permission on
    /// the stream.
    pub async fn request_storage(
        &self,
        stream: &StreamId,
        partitions: u32,
        replication: u8,
        retention_seconds: Option<u64>,
    ) -> Result<Receipt, ContractsError> {
        self.send(C::requestStorageCall {
            streamId: stream.to_string(),
            partitions,
            replication,
            retentionSeconds: retention_seconds.unwrap_or(0),
        })
        .await
    }

    /// Stops storing `stream` (edit permission, or anyone once the stream is deleted).
    pub async fn cancel_storage(&self, stream: &StreamId) -> Result<Receipt, ContractsError> {
        self.send(C::cancelStorageCall {
            streamId: stream.to_string(),
        })
        .await
    }

    // ---- assignment ----

    /// The active set and every stored stream at one block (the latest): what every node and client
    /// computes assignments from.
    pub async fn assignment(&self) -> Result<Assignment, ContractsError> {
        let block = self.chain().block_number().await?;
        Ok(Assignment {
            active: self.active_set_at(block).await?,
            streams: self.stored_streams_at(block).await?,
        })
    }

    /// The nodes that store `part` in the current epoch, lowest score first, as the contract computes
    /// them (`StreamNotStored`, `PartitionOutOfRange` otherwise).
    pub async fn assigned_nodes(
        &self,
        part: &StreamPartId,
    ) -> Result<Vec<Address>, ContractsError> {
        self.call(C::assignedNodesCall {
            streamId: part.stream_id.to_string(),
            partition: part.partition.get().into(),
        })
        .await
    }

    /// The nodes that judge `interval` of `part` (the assignment of its first report's epoch), in the
    /// order of [`IntervalState`]'s bits; empty before its first report.
    pub async fn interval_assignment(
        &self,
        part: &StreamPartId,
        interval: u64,
    ) -> Result<Vec<Address>, ContractsError> {
        self.call(C::intervalAssignmentCall {
            streamId: part.stream_id.to_string(),
            partition: part.partition.get().into(),
            interval,
        })
        .await
    }

    /// `keccak256(abi.encode(keccak256(bytes(streamId)), uint256(partition)))`: the indexed key of
    /// the coordinator's interval events. Computed here, as the contract's `partKey` does.
    pub fn part_key(part: &StreamPartId) -> B256 {
        let mut encoded = [0u8; 64];
        encoded[..32].copy_from_slice(&rivulet_protocol::assignment::stream_key(
            part.stream_id.as_str(),
        ));
        encoded[63] = part.partition.get();
        B256::from(rivulet_protocol::hash::keccak256(&encoded))
    }

    // ---- checksums ----

    /// Reports the sender's rolling checksum and event count of one interval of `part` (PROTOCOL.md,
    /// "Rolling checksums"): `checksum.interval`, `.hash`, `.count`. Says whether the report made the
    /// interval final and what it paid the sender.
    pub async fn report(
        &self,
        part: &StreamPartId,
        checksum: &IntervalChecksum,
    ) -> Result<ReportOutcome, ContractsError> {
        let replication = self
            .storage_of(&part.stream_id)
            .await?
            .map_or(1, |s| u64::from(s.replication));
        let receipt = self
            .chain()
            .send_with_gas(
                self.address(),
                C::reportCall {
                    streamId: part.stream_id.to_string(),
                    partition: part.partition.get().into(),
                    interval: checksum.interval,
                    checksum: B256::from(checksum.hash),
                    count: checksum.count,
                },
                replication * REPORT_GAS_PER_REPLICA,
            )
            .await?;
        let sender = self.sender().unwrap_or_default();
        let reward = self
            .events::<C::RewardPaid>(&receipt)?
            .into_iter()
            .filter(|e| e.to == sender)
            .fold(U256::ZERO, |sum, e| sum.saturating_add(e.amount));
        Ok(ReportOutcome {
            finalised: self.event::<C::IntervalFinalised>(&receipt)?.is_some(),
            reward,
            receipt,
        })
    }

    /// Closes `interval` of `part` after its report window (anyone): if it was final, the assigned
    /// nodes that reported nothing or another value lose weight.
    pub async fn close_interval(
        &self,
        part: &StreamPartId,
        interval: u64,
    ) -> Result<CloseOutcome, ContractsError> {
        let receipt = self
            .send(C::closeIntervalCall {
                streamId: part.stream_id.to_string(),
                partition: part.partition.get().into(),
                interval,
            })
            .await?;
        let closed: C::IntervalClosed = self.expect_event(&receipt)?;
        Ok(CloseOutcome {
            is_final: closed.isFinal,
            silent: closed.silent,
            dissenting: closed.dissenting,
            receipt,
        })
    }

    /// The final checksum and count of `interval` of `part`, or `None` while it is not final.
    pub async fn final_checksum(
        &self,
        part: &StreamPartId,
        interval: u64,
    ) -> Result<Option<FinalChecksum>, ContractsError> {
        let f = self
            .call(C::finalChecksumCall {
                streamId: part.stream_id.to_string(),
                partition: part.partition.get().into(),
                interval,
            })
            .await?;
        Ok(f.isFinal.then_some(FinalChecksum {
            checksum: f.checksum,
            count: f.count,
        }))
    }

    /// The bookkeeping of `interval` of `part` (all zero before its first report).
    pub async fn interval_state(
        &self,
        part: &StreamPartId,
        interval: u64,
    ) -> Result<IntervalState, ContractsError> {
        Ok(self
            .call(C::intervalStateCall {
                streamId: part.stream_id.to_string(),
                partition: part.partition.get().into(),
                interval,
            })
            .await?
            .into())
    }

    /// When reports of `interval` are taken, by the current parameters.
    pub async fn report_window_of(&self, interval: u64) -> Result<ReportWindow, ContractsError> {
        let w = self.call(C::reportWindowOfCall { interval }).await?;
        Ok(ReportWindow {
            opens_at: w.opensAt,
            closes_at: w.closesAt,
        })
    }
}
