//! Gossipsub's rules on the simulated nodes: joining a topic, GRAFT and PRUNE, the heartbeat's mesh
//! upkeep and IHAVE gossip, IWANT answers (the values are gossipsub 0.50's defaults; the module above
//! lists them).

use super::engine::{
    D, D_HI, D_LAZY, D_LO, Ev, GOSSIP_FACTOR, HEARTBEAT, HISTORY_GOSSIP, HISTORY_LENGTH,
    IWANT_FOLLOWUP, PRUNE_BACKOFF, Role, Sim, Topic,
};

impl Sim<'_> {
    /// Joins a topic: announce it to every peer, GRAFT up to D of the peers in it.
    pub(super) fn join(&mut self, i: u32, part: u8) {
        let node = &self.nodes[i as usize];
        if node.topics[part as usize].is_some() || !node.alive {
            return;
        }
        let peers: Vec<u32> = node.peers.iter().map(|e| e.0).collect();
        let candidates = self.connected_in_topic(i, part);
        let mesh = self.pick(candidates, D);
        for p in peers {
            self.send(
                i,
                p,
                Ev::Announce {
                    to: p,
                    from: i,
                    part,
                },
            );
        }
        for &p in &mesh {
            self.send(
                i,
                p,
                Ev::Graft {
                    to: p,
                    from: i,
                    part,
                },
            );
        }
        self.nodes[i as usize].topics[part as usize] = Some(Topic {
            mesh,
            ..Topic::default()
        });
    }

    pub(super) fn graft(&mut self, to: u32, from: u32, part: u8) {
        let now = self.now;
        let node = &mut self.nodes[to as usize];
        if !node.alive {
            return;
        }
        let Ok(k) = node.peers.binary_search_by_key(&from, |e| e.0) else {
            return;
        };
        let (_, outbound, mask) = node.peers[k];
        let gray = node.gray.contains(&from);
        let Some(topic) = node.topics[part as usize].as_mut() else {
            return;
        };
        if topic.mesh.contains(&from) || mask & (1 << part) == 0 {
            return;
        }
        let backing_off = topic.backoff.iter().any(|(p, t)| *p == from && *t > now);
        if backing_off || gray || (topic.mesh.len() >= D_HI && !outbound) {
            topic.backoff.push((from, now + PRUNE_BACKOFF));
            self.send(
                to,
                from,
                Ev::Prune {
                    to: from,
                    from: to,
                    part,
                },
            );
            return;
        }
        topic.mesh.push(from);
    }

    pub(super) fn heartbeat(&mut self, i: u32) {
        if !self.nodes[i as usize].alive {
            return;
        }
        let now = self.now;
        for part in 0..self.s.parts as u8 {
            if self.nodes[i as usize].topics[part as usize].is_none() {
                continue;
            }
            let in_topic = self.connected_in_topic(i, part);
            let honest = self.nodes[i as usize].role == Role::Honest;
            let Some(topic) = self.nodes[i as usize].topics[part as usize].as_mut() else {
                continue;
            };
            topic.backoff.retain(|(_, t)| *t > now);
            topic
                .cache
                .retain(|(t, _)| *t + HISTORY_LENGTH * HEARTBEAT > now);
            topic.requested.retain(|_, t| *t + IWANT_FOLLOWUP > now);
            let outside: Vec<u32> = in_topic
                .iter()
                .copied()
                .filter(|p| !topic.mesh.contains(p))
                .collect();
            let ids: Vec<u32> = topic
                .cache
                .iter()
                .filter(|(t, _)| *t + HISTORY_GOSSIP * HEARTBEAT > now)
                .map(|(_, idx)| *idx)
                .collect();
            let mesh_len = topic.mesh.len();
            let eligible: Vec<u32> = outside
                .iter()
                .copied()
                .filter(|p| !topic.backoff.iter().any(|(b, _)| b == p))
                .collect();
            if mesh_len < D_LO {
                let add = self.pick(eligible, D - mesh_len);
                for &p in &add {
                    self.send(
                        i,
                        p,
                        Ev::Graft {
                            to: p,
                            from: i,
                            part,
                        },
                    );
                }
                if let Some(t) = self.nodes[i as usize].topics[part as usize].as_mut() {
                    t.mesh.extend(add);
                }
            } else if mesh_len > D_HI {
                let mesh = self.nodes[i as usize].topics[part as usize]
                    .as_ref()
                    .map(|t| t.mesh.clone())
                    .unwrap_or_default();
                let keep = self.pick(mesh.clone(), D);
                for p in mesh.into_iter().filter(|p| !keep.contains(p)) {
                    self.send(
                        i,
                        p,
                        Ev::Prune {
                            to: p,
                            from: i,
                            part,
                        },
                    );
                    if let Some(t) = self.nodes[i as usize].topics[part as usize].as_mut() {
                        t.backoff.push((p, now + PRUNE_BACKOFF));
                    }
                }
                if let Some(t) = self.nodes[i as usize].topics[part as usize].as_mut() {
                    t.mesh = keep;
                }
            }
            if honest && !ids.is_empty() {
                let k = D_LAZY.max((GOSSIP_FACTOR * outside.len() as f64) as usize);
                let to = self.pick(outside, k);
                self.nodes[i as usize].ihave_sent += to.len() as u64;
                for p in to {
                    self.send(
                        i,
                        p,
                        Ev::IHave {
                            to: p,
                            from: i,
                            part,
                            ids: ids.clone(),
                        },
                    );
                }
            }
        }
        self.at(now + HEARTBEAT, Ev::Heartbeat(i));
    }

    pub(super) fn ihave(&mut self, to: u32, from: u32, part: u8, ids: Vec<u32>) {
        let now = self.now;
        let node = &mut self.nodes[to as usize];
        if !node.alive || node.role != Role::Honest || node.gray.contains(&from) {
            return;
        }
        let seen = &node.seen[part as usize];
        let Some(topic) = node.topics[part as usize].as_mut() else {
            return;
        };
        let want: Vec<u32> = ids
            .into_iter()
            .filter(|i| !seen[*i as usize] && !topic.requested.contains_key(i))
            .collect();
        for &i in &want {
            topic.requested.insert(i, now);
        }
        if !want.is_empty() {
            self.send(
                to,
                from,
                Ev::IWant {
                    to: from,
                    from: to,
                    part,
                    ids: want,
                },
            );
        }
    }

    pub(super) fn iwant(&mut self, to: u32, from: u32, part: u8, ids: Vec<u32>) {
        let now = self.now;
        let node = &self.nodes[to as usize];
        if !node.alive || node.role != Role::Honest {
            return;
        }
        let Some(topic) = node.topics[part as usize].as_ref() else {
            return;
        };
        let have: Vec<u32> = ids
            .into_iter()
            .filter(|i| {
                topic
                    .cache
                    .iter()
                    .any(|(t, c)| c == i && *t + HISTORY_LENGTH * HEARTBEAT > now)
            })
            .collect();
        for idx in have {
            self.send(
                to,
                from,
                Ev::Msg {
                    to: from,
                    from: to,
                    part,
                    idx,
                },
            );
        }
    }
}
