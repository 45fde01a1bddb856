//! What the follower must remember across restarts: the last checksum interval it reported per stream
//! part (the contract refuses a second report, and a refused transaction still costs gas). Kept as a
//! small JSON file in the data directory, replaced atomically.

use std::{collections::BTreeMap, path::PathBuf};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

/// The follower's durable memory.
#[derive(Debug)]
pub(crate) struct Ledger {
    path: PathBuf,
    state: LedgerState,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct LedgerState {
    /// Stream part (`<stream id>#<partition>`) → the last interval reported for it.
    reported: BTreeMap<String, u64>,
}

impl Ledger {
    /// Reads the ledger at `path` (empty if there is none).
    pub(crate) fn open(path: PathBuf) -> Result<Ledger> {
        let state = match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).with_context(|| {
                format!(
                    "{} is not a coordination ledger (delete it to start over)",
                    path.display()
                )
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => LedgerState::default(),
            Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
        };
        Ok(Ledger { path, state })
    }

    /// The last interval reported for `part`.
    pub(crate) fn last_reported(&self, part: &str) -> Option<u64> {
        self.state.reported.get(part).copied()
    }

    /// Records that `interval` of `part` was reported (or judged not to need a report), durably.
    pub(crate) fn reported(&mut self, part: &str, interval: u64) -> Result<()> {
        let last = self.state.reported.entry(part.to_owned()).or_insert(0);
        *last = (*last).max(interval);
        self.save()
    }

    /// Forgets `part` (no longer assigned).
    pub(crate) fn forget(&mut self, part: &str) -> Result<()> {
        if self.state.reported.remove(part).is_some() {
            self.save()?;
        }
        Ok(())
    }

    fn save(&self) -> Result<()> {
        let bytes = serde_json::to_vec_pretty(&self.state)?;
        let tmp = self.path.with_extension("tmp");
        std::fs::write(&tmp, bytes).with_context(|| format!("cannot write {}", tmp.display()))?;
        std::fs::rename(&tmp, &self.path)
            .with_context(|| format!("cannot replace {}", self.path.display()))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn reports_are_remembered_across_opens_and_never_go_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("coordination.json");
        let mut ledger = Ledger::open(path.clone()).unwrap();
        assert_eq!(ledger.last_reported("a#0"), None);
        ledger.reported("a#0", 7).unwrap();
        ledger.reported("a#0", 5).unwrap();
        ledger.reported("b#1", 2).unwrap();
        let mut again = Ledger::open(path.clone()).unwrap();
        assert_eq!(again.last_reported("a#0"), Some(7));
        again.forget("b#1").unwrap();
        assert_eq!(
            Ledger::open(path.clone()).unwrap().last_reported("b#1"),
            None
        );
        std::fs::write(&path, b"{not json").unwrap();
        let e = Ledger::open(path).unwrap_err();
        assert!(
            format!("{e:#}").contains("not a coordination ledger"),
            "{e:#}"
        );
    }
}
