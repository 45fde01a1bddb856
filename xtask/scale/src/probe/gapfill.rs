//! Gap fill: after listening, a subscriber asks for the expected events it did not get live — a
//! `resend` by time range on its own node (which asks its peers when it does not store the part),
//! then, for whatever is still missing, on each of the part's storage nodes. Resent events are
//! verified like live ones.

use std::{collections::BTreeSet, time::Duration};

use anyhow::{Result, bail};
use serde_json::json;

use super::{
    subscriber::{Check, SubscriberResult, check},
    target::Target,
};
use crate::ws;

/// How long a resend may take on the subscriber's own node, and on each storage node.
const ENTRY_NODE_LIMIT: Duration = Duration::from_secs(20);
const STORAGE_NODE_LIMIT: Duration = Duration::from_secs(15);

/// One subscriber's deliveries before and after the gap fill.
#[derive(Debug, Clone, Default)]
pub(crate) struct GapFill {
    pub(crate) expected: u64,
    pub(crate) live_expected: u64,
    pub(crate) live_received: u64,
    /// Expected events it had before the gap fill (received live, whenever).
    pub(crate) before_fill: u64,
    pub(crate) after_fill: u64,
    pub(crate) by_entry_node: u64,
    pub(crate) by_storage_node: u64,
    pub(crate) forged: u64,
    pub(crate) unpermitted: u64,
    /// Every source that failed, in the order asked (cleared when the gaps were filled after all).
    pub(crate) error: Option<String>,
}

impl GapFill {
    /// Adds a source's failure to the others'.
    fn note_error(&mut self, what: String) {
        self.error = Some(match self.error.take() {
            Some(before) => format!("{before}; {what}"),
            None => what,
        });
    }
}

/// Fills `result`'s gaps for a subscriber on `node`.
pub(crate) async fn fill(node: String, target: Target, result: SubscriberResult) -> GapFill {
    let sent = target.sent.lock().map(|s| s.clone()).unwrap_or_default();
    let Some(subscribed_ms) = result.subscribed_ms else {
        return GapFill {
            error: Some("never subscribed".into()),
            ..GapFill::default()
        };
    };
    // Expected: acknowledged events from the subscribe on.
    let expected: BTreeSet<u64> = sent
        .iter()
        .enumerate()
        .filter(|(_, e)| e.acked_ms.is_some() && e.timestamp_ms >= subscribed_ms)
        .map(|(i, _)| i as u64)
        .collect();
    let joined = result.joined_at_index.unwrap_or(0);
    let live_expected: BTreeSet<u64> = if result.time_to_data_ms.is_some() {
        expected.range(joined..).copied().collect()
    } else {
        expected.clone()
    };
    let mut g = GapFill {
        expected: expected.len() as u64,
        live_expected: live_expected.len() as u64,
        live_received: live_expected.intersection(&result.received).count() as u64,
        ..GapFill::default()
    };
    let mut have: BTreeSet<u64> = result.received.intersection(&expected).copied().collect();
    g.before_fill = have.len() as u64;
    let mut sources = vec![(node, ENTRY_NODE_LIMIT, true)];
    sources.extend(
        target
            .storage_nodes
            .iter()
            .map(|n| (n.clone(), STORAGE_NODE_LIMIT, false)),
    );
    for (source, limit, entry) in sources {
        let missing: Vec<u64> = expected.difference(&have).copied().collect();
        let (Some(first), Some(last)) = (missing.first(), missing.last()) else {
            break;
        };
        let range = (
            sent[*first as usize].timestamp_ms,
            sent[*last as usize].timestamp_ms,
        );
        match tokio::time::timeout(limit, resend(&source, &target, range)).await {
            Ok(Ok(checks)) => {
                for c in checks {
                    match c {
                        Check::Valid(i) if expected.contains(&i) => {
                            if have.insert(i) {
                                if entry {
                                    g.by_entry_node += 1;
                                } else {
                                    g.by_storage_node += 1;
                                }
                            }
                        }
                        Check::Valid(_) => {}
                        Check::Forged => g.forged += 1,
                        Check::Unpermitted => g.unpermitted += 1,
                    }
                }
            }
            Ok(Err(e)) => g.note_error(format!("resend from {source}: {e:#}")),
            Err(_) => g.note_error(format!("resend from {source}: no answer within {limit:?}")),
        }
    }
    g.after_fill = have.len() as u64;
    if g.after_fill == g.expected {
        g.error = None;
    }
    g
}

/// The resend `request` asked again for the rest its answer named (`next`): the cursor in place of
/// the time range.
fn next_page(request: &serde_json::Value, next: &str) -> serde_json::Value {
    let mut rest = request.clone();
    if let Some(fields) = rest.as_object_mut() {
        fields.remove("from");
        fields.remove("to");
        fields.insert("cursor".into(), next.into());
    }
    rest
}

/// Every event of `target`'s part in the time range (inclusive), page after page, checked.
async fn resend(node: &str, target: &Target, (from, to): (u64, u64)) -> Result<Vec<Check>> {
    let mut socket = ws::open(node).await?;
    let mut checks = Vec::new();
    let mut request = json!({
        "type": "resend",
        "stream": target.part.stream_id.as_str(),
        "partition": target.part.partition.get(),
        "from": from,
        "to": to,
    });
    loop {
        ws::send(&mut socket, &request).await?;
        let answer = ws::expect(&mut socket, "resent", Duration::from_secs(60)).await?;
        let Some(messages) = answer["messages"].as_array() else {
            bail!("a resend answer without messages");
        };
        checks.extend(messages.iter().map(|m| check(target, m)));
        // A truncated answer names its rest (`next`): asked for as it came.
        let Some(next) = answer["next"].as_str() else {
            return Ok(checks);
        };
        request = next_page(&request, next);
    }
}
