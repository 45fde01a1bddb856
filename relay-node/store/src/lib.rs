//! # rivulet-store
//!
//! The history a relay node keeps for the stream parts it stores: an append-only log per stream part in
//! an embedded transactional store (redb), queried by last N, by reference range, by time range, or per
//! publisher chain for gap fill.
//!
//! **Durability.** [`Store::append`] writes a batch in one transaction and returns only after it is on
//! disk (fsync; redb `Durability::Immediate`). A node acknowledges a message only after the batch that
//! holds it was appended, so `kill -9` loses nothing acknowledged; batching (group commit) keeps the
//! fsync cost per batch, not per message.
//!
//! **Keys.** `u8 len ‖ stream id ‖ u8 partition ‖ u64 timestamp ‖ u32 sequence number ‖ publisher(20) ‖
//! chain id`, all big-endian: one stream part's messages are contiguous and ordered by reference; the
//! same message stored twice is one entry. Values are the messages' wire bytes, served as they came.
//! Group-key envelopes are indexed a second time by their recipient ([`Store::envelopes`]), so a reader
//! finds its keys without reading the whole history, and every message is indexed by its publisher chain
//! (`stream part ‖ publisher ‖ u8 len ‖ chain id ‖ timestamp ‖ sequence number`, no value), so a gap
//! fill ([`Store::chain_range`]) reads only that chain's messages, however many other chains share the
//! part: a reader cannot make a node walk a whole history by asking for a chain that is not there.

use std::{ops::Bound, path::Path};

use redb::{
    Database, Durability, ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition,
};
use rivulet_protocol::{Address, ChainId, MessageId, MessageRef, StreamPartId};

pub use keys::{Position, message_key};
use keys::{
    chain_key_of, chain_prefix, envelope_key, envelope_prefix, key_ref, part_prefix,
    part_prefix_of, ref_key, ref_key_end,
};

mod keys;

const MESSAGES: TableDefinition<&[u8], &[u8]> = TableDefinition::new("messages");
/// Group-key envelopes (group-key responses sealed to one reader) by recipient: `stream part ‖
/// recipient ‖ timestamp ‖ sequence ‖ publisher ‖ chain id` → wire bytes, also kept in `messages`.
const ENVELOPES: TableDefinition<&[u8], &[u8]> = TableDefinition::new("envelopes");
/// Every message by its publisher chain: `stream part ‖ publisher ‖ u8 chain id length ‖ chain id ‖
/// timestamp ‖ sequence number` → nothing (the message is read from `messages` by its key).
const CHAINS: TableDefinition<&[u8], ()> = TableDefinition::new("chains");
/// What the file holds about itself: [`CHAIN_INDEX_BUILT`] once every message is in `chains`.
const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
/// Set (to 1) once the chain index holds every message; a store from before the index lacks it.
const CHAIN_INDEX_BUILT: &str = "chain index built";
/// How many messages one transaction indexes when a store from before the chain index is opened.
const INDEX_BUILD_BATCH: usize = 50_000;

/// What went wrong in the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database could not be opened (missing directory, another process holds it, corrupt file).
    #[error("cannot open the store at {path}: {source}")]
    Open {
        /// The file.
        path: String,
        /// Why.
        source: redb::DatabaseError,
    },
    /// A read or write failed.
    #[error("store I/O failed: {0}")]
    Io(String),
}

fn io(e: impl std::fmt::Display) -> StoreError {
    StoreError::Io(e.to_string())
}

/// Bounds a query's answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limit(pub usize);

/// How many bytes of messages one answer collects: it stops once past them (8 MiB) and holding at least
/// two messages, so that callers page through long histories (see `HistoryQuery::page` in
/// rivulet-network) instead of reading them whole.
pub const MAX_ANSWER_BYTES: usize = 8 * 1024 * 1024;

impl Default for Limit {
    /// At most 10,000 messages per answer.
    fn default() -> Self {
        Limit(10_000)
    }
}

/// An answer being collected: at most its limit of messages, and no more once they exceed
/// [`MAX_ANSWER_BYTES`] — past the byte bound, one more message says there is more (a reader can page
/// on even when a single message is larger than the bound).
struct Answer {
    messages: Vec<Vec<u8>>,
    bytes: usize,
    limit: usize,
}

impl Answer {
    fn new(limit: Limit) -> Answer {
        Answer {
            messages: Vec::new(),
            bytes: 0,
            limit: limit.0,
        }
    }

    /// Adds a message; whether the answer is now full.
    fn full_with(&mut self, message: &[u8]) -> bool {
        self.bytes += message.len();
        self.messages.push(message.to_vec());
        self.messages.len() >= self.limit
            || (self.bytes > MAX_ANSWER_BYTES && self.messages.len() > 1)
    }
}

/// The history of every stored stream part, in one database file.
#[derive(Debug)]
pub struct Store {
    db: Database,
}

/// A message to store.
#[derive(Clone, Copy, Debug)]
pub struct Entry<'a> {
    /// Its id.
    pub id: &'a MessageId,
    /// Its wire bytes.
    pub wire: &'a [u8],
    /// For a group-key envelope, its recipient: indexed for [`Store::envelopes`].
    pub envelope_for: Option<Address>,
}

/// The store's page cache by default: small enough for a small device; the store's memory stays within
/// it however long the node runs (redb's own default is 1 GiB).
pub const DEFAULT_CACHE_BYTES: usize = 16 * 1024 * 1024;

impl Store {
    /// Opens (or creates) the store file at `path`, with the default cache ([`DEFAULT_CACHE_BYTES`]).
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        Store::open_with_cache(path, DEFAULT_CACHE_BYTES)
    }

    /// Opens (or creates) the store file at `path`, caching at most `cache_bytes` of its pages.
    pub fn open_with_cache(path: &Path, cache_bytes: usize) -> Result<Store, StoreError> {
        let db = redb::Builder::new()
            .set_cache_size(cache_bytes)
            .create(path)
            .map_err(|source| StoreError::Open {
                path: path.display().to_string(),
                source,
            })?;
        let mut txn = db.begin_write().map_err(io)?;
        txn.set_durability(Durability::Immediate).map_err(io)?;
        let index_missing = {
            let messages = txn.open_table(MESSAGES).map_err(io)?;
            txn.open_table(ENVELOPES).map_err(io)?;
            txn.open_table(CHAINS).map_err(io)?;
            let mut meta = txn.open_table(META).map_err(io)?;
            let built = meta.get(CHAIN_INDEX_BUILT).map_err(io)?.is_some();
            if !built && messages.is_empty().map_err(io)? {
                meta.insert(CHAIN_INDEX_BUILT, 1).map_err(io)?;
                false
            } else {
                !built
            }
        };
        txn.commit().map_err(io)?;
        let store = Store { db };
        if index_missing {
            store.build_chain_index()?;
        }
        Ok(store)
    }

    /// Indexes every stored message by its chain, for a store written before the chain index
    /// existed: [`INDEX_BUILD_BATCH`] messages per transaction, so that a large store is not indexed
    /// in one transaction's memory, then marks the index built. Cut short, it starts again at the next
    /// opening (indexing a message twice is harmless).
    fn build_chain_index(&self) -> Result<(), StoreError> {
        let mut after: Option<Vec<u8>> = None;
        loop {
            let mut keys: Vec<Vec<u8>> = {
                let txn = self.db.begin_read().map_err(io)?;
                let messages = txn.open_table(MESSAGES).map_err(io)?;
                let lo = match &after {
                    Some(key) => Bound::Excluded(key.as_slice()),
                    None => Bound::Unbounded,
                };
                let mut keys = Vec::new();
                for entry in messages
                    .range::<&[u8]>((lo, Bound::Unbounded))
                    .map_err(io)?
                    .take(INDEX_BUILD_BATCH)
                {
                    keys.push(entry.map_err(io)?.0.value().to_vec());
                }
                keys
            };
            let txn = self.db.begin_write().map_err(io)?;
            {
                let mut chains = txn.open_table(CHAINS).map_err(io)?;
                let mut meta = txn.open_table(META).map_err(io)?;
                for key in &keys {
                    if let Some(chain_key) = part_prefix_of(key).and_then(|p| chain_key_of(key, p))
                    {
                        chains.insert(chain_key.as_slice(), ()).map_err(io)?;
                    }
                }
                if keys.len() < INDEX_BUILD_BATCH {
                    meta.insert(CHAIN_INDEX_BUILT, 1).map_err(io)?;
                }
            }
            txn.commit().map_err(io)?;
            if keys.len() < INDEX_BUILD_BATCH {
                return Ok(());
            }
            after = keys.pop();
        }
    }

    /// Appends a batch of `(message id, wire bytes)` in one transaction and returns once it is durable.
    /// Storing a message again is harmless. Returns how many entries were new.
    pub fn append<'a>(
        &self,
        batch: impl IntoIterator<Item = (&'a MessageId, &'a [u8])>,
    ) -> Result<usize, StoreError> {
        self.append_entries(batch.into_iter().map(|(id, wire)| Entry {
            id,
            wire,
            envelope_for: None,
        }))
    }

    /// Appends a batch of entries in one transaction and returns once it is durable; an envelope is
    /// indexed by its recipient as well. Returns how many entries were new.
    pub fn append_entries<'a>(
        &self,
        batch: impl IntoIterator<Item = Entry<'a>>,
    ) -> Result<usize, StoreError> {
        let mut txn = self.db.begin_write().map_err(io)?;
        txn.set_durability(Durability::Immediate).map_err(io)?;
        let mut new = 0;
        {
            let mut table = txn.open_table(MESSAGES).map_err(io)?;
            let mut envelopes = txn.open_table(ENVELOPES).map_err(io)?;
            let mut chains = txn.open_table(CHAINS).map_err(io)?;
            for entry in batch {
                let (prefix, at) = (part_prefix(&entry.id.stream_part()), Position::of(entry.id));
                if table
                    .insert(at.key(&prefix).as_slice(), entry.wire)
                    .map_err(io)?
                    .is_none()
                {
                    new += 1;
                    chains
                        .insert(at.chain_key(&prefix).as_slice(), ())
                        .map_err(io)?;
                }
                if let Some(recipient) = &entry.envelope_for {
                    envelopes
                        .insert(envelope_key(entry.id, recipient).as_slice(), entry.wire)
                        .map_err(io)?;
                }
            }
        }
        txn.commit().map_err(io)?;
        Ok(new)
    }

    /// The envelopes addressed to `recipient` in a stream part after reference `after` (exclusive),
    /// oldest first, at most `limit`.
    pub fn envelopes(
        &self,
        part: &StreamPartId,
        recipient: &Address,
        after: MessageRef,
        limit: Limit,
    ) -> Result<Vec<Vec<u8>>, StoreError> {
        let prefix = envelope_prefix(part, recipient);
        let lo = ref_key_end(&prefix, after);
        self.envelopes_from(&prefix, Bound::Excluded(&lo), limit)
    }

    /// The envelopes addressed to `recipient` in a stream part after the one at `after` (exclusive):
    /// the rest of a page that ended there.
    pub fn envelopes_after(
        &self,
        part: &StreamPartId,
        recipient: &Address,
        after: Position<'_>,
        limit: Limit,
    ) -> Result<Vec<Vec<u8>>, StoreError> {
        let prefix = envelope_prefix(part, recipient);
        let lo = after.key(&prefix);
        self.envelopes_from(&prefix, Bound::Excluded(&lo), limit)
    }

    /// The envelopes with keys from `lo` to the end of `prefix` (a part and recipient), at most `limit`.
    fn envelopes_from(
        &self,
        prefix: &[u8],
        lo: Bound<&Vec<u8>>,
        limit: Limit,
    ) -> Result<Vec<Vec<u8>>, StoreError> {
        let hi = ref_key_end(prefix, MessageRef::new(u64::MAX, u32::MAX));
        let txn = self.db.begin_read().map_err(io)?;
        let table = txn.open_table(ENVELOPES).map_err(io)?;
        let mut out = Vec::new();
        let bounds = (lo.map(Vec::as_slice), Bound::Included(hi.as_slice()));
        for entry in table.range::<&[u8]>(bounds).map_err(io)? {
            let (_, v) = entry.map_err(io)?;
            out.push(v.value().to_vec());
            if out.len() >= limit.0 {
                break;
            }
        }
        Ok(out)
    }

    /// Messages with keys from `lo` to `hi` (inclusive), oldest first, as much as an [`Answer`] holds.
    fn scan(&self, lo: Bound<&[u8]>, hi: &[u8], limit: Limit) -> Result<Vec<Vec<u8>>, StoreError> {
        let mut answer = Answer::new(limit);
        self.walk(lo, hi, |wire| !answer.full_with(wire))?;
        Ok(answer.messages)
    }

    /// Hands `visit` the wire bytes of messages with keys from `lo` to `hi` (inclusive), oldest first,
    /// while it answers `true`; how many it was handed.
    fn walk(
        &self,
        lo: Bound<&[u8]>,
        hi: &[u8],
        mut visit: impl FnMut(&[u8]) -> bool,
    ) -> Result<usize, StoreError> {
        let txn = self.db.begin_read().map_err(io)?;
        let table = txn.open_table(MESSAGES).map_err(io)?;
        let mut visited = 0;
        for entry in table
            .range::<&[u8]>((lo, Bound::Included(hi)))
            .map_err(io)?
        {
            visited += 1;
            if !visit(entry.map_err(io)?.1.value()) {
                break;
            }
        }
        Ok(visited)
    }

    /// The newest `n` messages of a stream part, oldest first (and no more than the oldest of them up
    /// to [`MAX_ANSWER_BYTES`]: the answer begins at the window's start, so a reader can page on).
    pub fn last(&self, part: &StreamPartId, n: usize) -> Result<Vec<Vec<u8>>, StoreError> {
        self.last_from_start(part, n, Limit(n))
    }

    /// The start of the newest-`n` window of a stream part: its oldest messages, at most `limit` (and
    /// [`MAX_ANSWER_BYTES`]) — the first page of [`Store::last`], read without the rest of the window.
    pub fn last_from_start(
        &self,
        part: &StreamPartId,
        n: usize,
        limit: Limit,
    ) -> Result<Vec<Vec<u8>>, StoreError> {
        if n == 0 {
            return Ok(Vec::new());
        }
        let prefix = part_prefix(part);
        let lo = ref_key(&prefix, MessageRef::new(0, 0));
        let hi = ref_key_end(&prefix, MessageRef::new(u64::MAX, u32::MAX));
        // Where the window starts: walk back over the keys alone, then read forward from there.
        let start = {
            let txn = self.db.begin_read().map_err(io)?;
            let table = txn.open_table(MESSAGES).map_err(io)?;
            let mut start = None;
            for entry in table
                .range(lo.as_slice()..=hi.as_slice())
                .map_err(io)?
                .rev()
                .take(n)
            {
                let (k, _) = entry.map_err(io)?;
                start = Some(k.value().to_vec());
            }
            start
        };
        match start {
            Some(start) => self.scan(Bound::Included(&start), &hi, Limit(limit.0.min(n))),
            None => Ok(Vec::new()),
        }
    }

    /// Messages with references in `from..=to`, oldest first, at most `limit`.
    pub fn range(
        &self,
        part: &StreamPartId,
        from: MessageRef,
        to: MessageRef,
        limit: Limit,
    ) -> Result<Vec<Vec<u8>>, StoreError> {
        if from > to {
            return Ok(Vec::new());
        }
        let prefix = part_prefix(part);
        self.scan(
            Bound::Included(&ref_key(&prefix, from)),
            &ref_key_end(&prefix, to),
            limit,
        )
    }

    /// Messages after the one at `after` (exclusive) with references up to `to`, oldest first, at most
    /// `limit`: the rest of a page that ended at `after`, which may share its reference with messages
    /// of other publishers or chains.
    pub fn range_after(
        &self,
        part: &StreamPartId,
        after: Position<'_>,
        to: MessageRef,
        limit: Limit,
    ) -> Result<Vec<Vec<u8>>, StoreError> {
        if after.reference > to {
            return Ok(Vec::new());
        }
        let prefix = part_prefix(part);
        self.scan(
            Bound::Excluded(&after.key(&prefix)),
            &ref_key_end(&prefix, to),
            limit,
        )
    }

    /// Messages with timestamps in `from_ms..=to_ms`, oldest first, at most `limit`.
    pub fn time_range(
        &self,
        part: &StreamPartId,
        from_ms: u64,
        to_ms: u64,
        limit: Limit,
    ) -> Result<Vec<Vec<u8>>, StoreError> {
        self.range(
            part,
            MessageRef::new(from_ms, 0),
            MessageRef::new(to_ms, u32::MAX),
            limit,
        )
    }

    /// Hands `visit` the wire bytes of every message with a timestamp in `from_ms..=to_ms`, oldest first
    /// (key order), however many there are, without collecting them: for work over a whole interval, such
    /// as its checksum, that must see every message and need not hold them. How many it visited.
    pub fn each_in_time_range(
        &self,
        part: &StreamPartId,
        from_ms: u64,
        to_ms: u64,
        mut visit: impl FnMut(&[u8]),
    ) -> Result<usize, StoreError> {
        if from_ms > to_ms {
            return Ok(0);
        }
        let prefix = part_prefix(part);
        self.walk(
            Bound::Included(&ref_key(&prefix, MessageRef::new(from_ms, 0))),
            &ref_key_end(&prefix, MessageRef::new(to_ms, u32::MAX)),
            |wire| {
                visit(wire);
                true
            },
        )
    }

    /// One publisher chain's messages after `after` (exclusive) up to `to` (inclusive): the answer to a
    /// gap that chain tracking reported. Read through the chain index: only that chain's messages
    /// are visited, at most `limit` and [`MAX_ANSWER_BYTES`] as [`Store::range`].
    pub fn chain_range(
        &self,
        part: &StreamPartId,
        publisher: Address,
        chain_id: &ChainId,
        after: MessageRef,
        to: MessageRef,
        limit: Limit,
    ) -> Result<Vec<Vec<u8>>, StoreError> {
        if after >= to {
            return Ok(Vec::new());
        }
        let prefix = part_prefix(part);
        let chain = chain_prefix(&prefix, &publisher, chain_id);
        let (lo, hi) = (ref_key(&chain, after), ref_key(&chain, to));
        let txn = self.db.begin_read().map_err(io)?;
        let chains = txn.open_table(CHAINS).map_err(io)?;
        let messages = txn.open_table(MESSAGES).map_err(io)?;
        let mut answer = Answer::new(limit);
        let bounds = (
            Bound::Excluded(lo.as_slice()),
            Bound::Included(hi.as_slice()),
        );
        for entry in chains.range::<&[u8]>(bounds).map_err(io)? {
            let (k, _) = entry.map_err(io)?;
            let reference = key_ref(k.value(), chain.len());
            let at = Position {
                reference,
                publisher: &publisher,
                chain_id,
            };
            // Indexed with the message in one transaction: a miss is a store that lost its file's
            // consistency, reported rather than skipped.
            let value = messages
                .get(at.key(&prefix).as_slice())
                .map_err(io)?
                .ok_or_else(|| {
                    StoreError::Io(format!(
                        "the chain index names {part} {publisher}/{chain_id} at {reference}, which is not stored"
                    ))
                })?;
            if answer.full_with(value.value()) {
                break;
            }
        }
        Ok(answer.messages)
    }

    /// Deletes a stream part's messages older than `before_ms`; returns how many.
    pub fn prune_before(&self, part: &StreamPartId, before_ms: u64) -> Result<usize, StoreError> {
        if before_ms == 0 {
            return Ok(0);
        }
        let prefix = part_prefix(part);
        let lo = ref_key(&prefix, MessageRef::new(0, 0));
        let hi = ref_key_end(&prefix, MessageRef::new(before_ms - 1, u32::MAX));
        let mut txn = self.db.begin_write().map_err(io)?;
        txn.set_durability(Durability::Immediate).map_err(io)?;
        let removed = {
            let mut table = txn.open_table(MESSAGES).map_err(io)?;
            let mut chains = txn.open_table(CHAINS).map_err(io)?;
            let mut removed = 0;
            for entry in table
                .extract_from_if(lo.as_slice()..=hi.as_slice(), |_, _| true)
                .map_err(io)?
            {
                let (k, _) = entry.map_err(io)?;
                if let Some(chain_key) = chain_key_of(k.value(), &prefix) {
                    chains.remove(chain_key.as_slice()).map_err(io)?;
                }
                removed += 1;
            }
            removed
        };
        {
            // Envelopes of the part, by recipient: those older than the cut go too.
            let plen = prefix.len() + 20;
            let (lo, hi) = (
                prefix.clone(),
                ref_key_end(&prefix, MessageRef::new(u64::MAX, u32::MAX)),
            );
            let hi = [hi.as_slice(), &[0xff; 20]].concat();
            let mut envelopes = txn.open_table(ENVELOPES).map_err(io)?;
            envelopes
                .extract_from_if(lo.as_slice()..=hi.as_slice(), |k, _| {
                    key_ref(k, plen).timestamp < before_ms
                })
                .map_err(io)?
                .count();
        }
        txn.commit().map_err(io)?;
        Ok(removed)
    }

    /// How many messages the store holds in all.
    pub fn len(&self) -> Result<u64, StoreError> {
        let txn = self.db.begin_read().map_err(io)?;
        txn.open_table(MESSAGES).map_err(io)?.len().map_err(io)
    }

    /// Whether the store holds no message.
    pub fn is_empty(&self) -> Result<bool, StoreError> {
        Ok(self.len()? == 0)
    }

    /// The page cache's use since the store was opened.
    pub fn cache_stats(&self) -> CacheStats {
        let stats = self.db.cache_stats();
        CacheStats {
            used_bytes: stats.used_bytes(),
            read_hits: stats.read_hits(),
            read_misses: stats.read_misses(),
            evictions: stats.evictions(),
        }
    }
}

/// The store's page cache: how full it is and how well it serves reads ([`Store::cache_stats`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Bytes of pages held (read cache and write buffer), at most the cache's size.
    pub used_bytes: usize,
    /// Page reads served from the cache.
    pub read_hits: u64,
    /// Page reads that went to the file.
    pub read_misses: u64,
    /// Pages dropped to make room.
    pub evictions: u64,
}
