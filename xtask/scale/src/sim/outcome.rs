//! What a simulated run measured, and its report.

use serde_json::{Value, json};

use super::{
    engine::{Outcome, Role, Sim},
    setup::Scenario,
};
use crate::stats::{ratio, summary};

impl Outcome {
    /// The scenario's figures as JSON.
    pub(crate) fn report(mut self, scenario: Scenario) -> Value {
        json!({
            "scenario": format!("{scenario:?}").to_lowercase(),
            "published": self.published,
            "subscribers": self.subscribers,
            "subscribersWithoutData": self.without_data,
            "timeToDataMs": summary(&mut self.ttd_ms),
            "latencyMs": summary(&mut self.latency_ms),
            "deliveryRatioLive": ratio(self.live_received, self.live_expected),
            "storedRatio": ratio(self.stored, self.published),
            "receivedCopiesPerNodePerEvent": summary(&mut self.copies_per_event),
            "ihaveMessagesPerNodePerSecond": summary(&mut self.ihave_per_node_s),
            "meshPeersPerNodeAndTopic": summary(&mut self.mesh_sizes),
            "forgedRefusedAtFirstHonestNode": self.refused_forged,
        })
    }
}

impl Sim<'_> {
    pub(super) fn outcome(self) -> Outcome {
        let secs = self.s.publish_s;
        let mut o = Outcome {
            degrees: self.graph.adj.iter().map(Vec::len).collect(),
            ttd_ms: self.ttd_ms,
            latency_ms: self.latency_ms,
            live_received: 0,
            live_expected: 0,
            stored: 0,
            published: self.published_at.iter().map(|p| p.len() as u64).sum(),
            without_data: 0,
            subscribers: 0,
            copies_per_event: Vec::new(),
            ihave_per_node_s: Vec::new(),
            refused_forged: self.refused_forged,
            mesh_sizes: Vec::new(),
        };
        for (part, times) in self.published_at.iter().enumerate() {
            for idx in 0..times.len() {
                if self
                    .nodes
                    .iter()
                    .any(|n| n.stores.contains(&(part as u8)) && n.seen[part][idx])
                {
                    o.stored += 1;
                }
            }
        }
        for node in &self.nodes {
            if node.role != Role::Honest {
                continue;
            }
            for t in node.topics.iter().flatten() {
                o.mesh_sizes.push(t.mesh.len() as f64);
            }
            o.ihave_per_node_s.push(node.ihave_sent as f64 / secs);
            if node.unique >= 10 {
                o.copies_per_event
                    .push(node.copies as f64 / node.unique as f64);
            }
            let Some(sub) = &node.sub else { continue };
            o.subscribers += 1;
            if sub.first_at.is_none() && std::env::var_os("SIM_DEBUG").is_some() {
                let t = node.topics[sub.part as usize].as_ref();
                eprintln!(
                    "no data: part {} degree {} topic peers {} mesh {:?}",
                    sub.part,
                    node.peers.len(),
                    node.peers
                        .iter()
                        .filter(|e| e.2 & (1 << sub.part) != 0)
                        .count(),
                    t.map(|t| t.mesh.len())
                );
            }
            let times = &self.published_at[sub.part as usize];
            let from = if sub.first_at.is_some() {
                sub.joined_idx as usize
            } else {
                o.without_data += 1;
                times.partition_point(|t| *t < sub.subscribed_at)
            };
            for idx in from..times.len() {
                o.live_expected += 1;
                if sub.received[idx] {
                    o.live_received += 1;
                }
            }
        }
        o
    }
}
