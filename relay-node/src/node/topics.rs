//! Which stream parts' gossip topics this node is in, and why: it stores the part, local clients
//! (WebSocket or light) subscribe to it, or its clients published to it lately. A part whose last local
//! subscriber left lingers for [`TOPIC_LINGER`] before the node leaves its topic: leaving and rejoining
//! within gossipsub's backoff keeps a node out of the mesh (found by the load generator). A part its
//! clients published to stays until they have not published to it for [`PUBLISHED_LINGER`], so the
//! topics a node is in stay bounded by what its clients use, not by every part they ever touched.
//!
//! Pure state: every change answers whether the node must join or leave a topic; the event loop does
//! it.

use std::{
    collections::{HashMap, HashSet},
    time::{Duration, Instant},
};

use rivulet_protocol::StreamPartId;

/// How long a node stays in a topic after its last local subscriber left.
pub(crate) const TOPIC_LINGER: Duration = Duration::from_secs(90);

/// How long a node stays in a topic after its clients last published to it (and nothing else keeps
/// it there).
pub(crate) const PUBLISHED_LINGER: Duration = Duration::from_secs(600);

/// What the node must do about a topic after a change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum TopicChange {
    /// Join the part's topic.
    Join(StreamPartId),
    /// Leave the part's topic.
    Leave(StreamPartId),
}

/// The node's topic memberships and their reasons.
#[derive(Debug, Default)]
pub(crate) struct Topics {
    stored: HashSet<StreamPartId>,
    local: HashMap<StreamPartId, usize>,
    /// Parts local clients published to, and when they last did.
    published: HashMap<StreamPartId, Instant>,
    lingering: HashMap<StreamPartId, Instant>,
}

impl Topics {
    /// Whether the node is in `part`'s topic.
    pub(crate) fn is_member(&self, part: &StreamPartId) -> bool {
        self.stored.contains(part)
            || self.local.contains_key(part)
            || self.published.contains_key(part)
            || self.lingering.contains_key(part)
    }

    /// How many topics the node is in.
    pub(crate) fn count(&self) -> usize {
        let mut all: HashSet<&StreamPartId> = self.stored.iter().collect();
        all.extend(self.local.keys());
        all.extend(self.published.keys());
        all.extend(self.lingering.keys());
        all.len()
    }

    /// Whether local clients subscribe to `part`.
    pub(crate) fn has_local_subscribers(&self, part: &StreamPartId) -> bool {
        self.local.contains_key(part)
    }

    /// Applies `change` to `part`'s reasons and says whether the node must join or leave its topic.
    fn changed(
        &mut self,
        part: &StreamPartId,
        change: impl FnOnce(&mut Topics),
    ) -> Option<TopicChange> {
        let before = self.is_member(part);
        change(self);
        match (before, self.is_member(part)) {
            (false, true) => Some(TopicChange::Join(part.clone())),
            (true, false) => Some(TopicChange::Leave(part.clone())),
            _ => None,
        }
    }

    /// The node stores `part` from now on.
    pub(crate) fn store(&mut self, part: &StreamPartId) -> Option<TopicChange> {
        self.changed(part, |t| {
            t.stored.insert(part.clone());
        })
    }

    /// The node no longer stores `part`.
    #[cfg_attr(not(test), allow(dead_code))] // until the coordinator unassigns parts
    pub(crate) fn unstore(&mut self, part: &StreamPartId) -> Option<TopicChange> {
        self.changed(part, |t| {
            t.stored.remove(part);
        })
    }

    /// A local client subscribed to `part`.
    pub(crate) fn subscribe(&mut self, part: &StreamPartId) -> Option<TopicChange> {
        self.changed(part, |t| {
            *t.local.entry(part.clone()).or_insert(0) += 1;
            t.lingering.remove(part);
        })
    }

    /// A local client left `part` at `now`; with no local subscriber left, the part lingers.
    pub(crate) fn unsubscribe(&mut self, part: &StreamPartId, now: Instant) -> Option<TopicChange> {
        self.changed(part, |t| {
            if let Some(count) = t.local.get_mut(part) {
                *count -= 1;
                if *count == 0 {
                    t.local.remove(part);
                    t.lingering.insert(part.clone(), now + TOPIC_LINGER);
                }
            }
        })
    }

    /// A local client published to `part` now: the node stays in its topic for [`PUBLISHED_LINGER`]
    /// from now, so that events published meanwhile on other nodes of that part can be routed
    /// through it.
    pub(crate) fn published(&mut self, part: &StreamPartId) -> Option<TopicChange> {
        self.published_at(part, Instant::now())
    }

    /// A local client published to `part` at `now`.
    pub(crate) fn published_at(
        &mut self,
        part: &StreamPartId,
        now: Instant,
    ) -> Option<TopicChange> {
        if let Some(last) = self.published.get_mut(part) {
            *last = now;
            return None;
        }
        self.changed(part, |t| {
            t.published.insert(part.clone(), now);
            t.lingering.remove(part);
        })
    }

    /// Topics whose linger ran out at `now` with no subscriber back, and parts nobody published to for
    /// [`PUBLISHED_LINGER`]: the node leaves those that nothing else keeps it in.
    pub(crate) fn expire(&mut self, now: Instant) -> Vec<TopicChange> {
        let expired: Vec<StreamPartId> = self
            .lingering
            .iter()
            .filter(|(_, deadline)| **deadline <= now)
            .map(|(p, _)| p.clone())
            .collect();
        let quiet: Vec<StreamPartId> = self
            .published
            .iter()
            .filter(|(_, last)| now.saturating_duration_since(**last) >= PUBLISHED_LINGER)
            .map(|(p, _)| p.clone())
            .collect();
        let lingered = expired.iter().filter_map(|part| {
            self.changed(part, |t| {
                t.lingering.remove(part);
            })
        });
        let mut changes: Vec<TopicChange> = lingered.collect();
        changes.extend(quiet.iter().filter_map(|part| {
            self.changed(part, |t| {
                t.published.remove(part);
            })
        }));
        changes
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn part(name: &str) -> StreamPartId {
        format!("rivulet.eth/{name}#0").parse().unwrap()
    }

    #[test]
    fn a_subscribed_part_lingers_after_its_last_subscriber_then_is_left() {
        let mut topics = Topics::default();
        let a = part("a");
        let now = Instant::now();
        assert_eq!(topics.subscribe(&a), Some(TopicChange::Join(a.clone())));
        assert_eq!(topics.subscribe(&a), None, "counted, joined once");
        assert_eq!(topics.unsubscribe(&a, now), None);
        assert_eq!(topics.unsubscribe(&a, now), None, "lingers");
        assert!(topics.is_member(&a) && !topics.has_local_subscribers(&a));
        assert!(topics.expire(now + TOPIC_LINGER / 2).is_empty());
        // A subscriber back within the linger keeps the node in the topic without a rejoin.
        assert_eq!(topics.subscribe(&a), None);
        assert_eq!(topics.unsubscribe(&a, now), None);
        assert_eq!(
            topics.expire(now + TOPIC_LINGER),
            vec![TopicChange::Leave(a.clone())]
        );
        assert_eq!(topics.count(), 0);
    }

    #[test]
    fn stored_and_published_parts_stay_whatever_subscribers_do() {
        let mut topics = Topics::default();
        let (s, p) = (part("stored"), part("published"));
        let now = Instant::now();
        assert_eq!(topics.store(&s), Some(TopicChange::Join(s.clone())));
        assert_eq!(topics.subscribe(&s), None);
        assert_eq!(topics.unsubscribe(&s, now), None);
        assert!(topics.expire(now + TOPIC_LINGER).is_empty());
        assert_eq!(
            topics.published_at(&p, now),
            Some(TopicChange::Join(p.clone()))
        );
        assert_eq!(topics.published_at(&p, now), None);
        assert_eq!(topics.count(), 2);
        // A lingering part that gets published to stays.
        let l = part("lingering");
        topics.subscribe(&l);
        topics.unsubscribe(&l, now);
        assert_eq!(topics.published_at(&l, now), None);
        assert!(topics.expire(now + TOPIC_LINGER).is_empty());
        assert_eq!(topics.unstore(&s), Some(TopicChange::Leave(s.clone())));
    }

    #[test]
    fn a_part_nobody_publishes_to_any_more_is_left() {
        let mut topics = Topics::default();
        let (p, s) = (part("published"), part("stored"));
        let now = Instant::now();
        topics.published_at(&p, now);
        topics.store(&s);
        topics.published_at(&s, now);
        // Publishing again keeps it: the linger counts from the last publish.
        let later = now + PUBLISHED_LINGER / 2;
        assert_eq!(topics.published_at(&p, later), None);
        assert!(topics.expire(now + PUBLISHED_LINGER).is_empty());
        assert_eq!(
            topics.expire(later + PUBLISHED_LINGER),
            vec![TopicChange::Leave(p.clone())],
            "the stored part stays"
        );
        assert!(!topics.is_member(&p) && topics.is_member(&s));
        assert_eq!(topics.count(), 1);
        // Publishing to it again joins again.
        assert_eq!(
            topics.published_at(&p, later + PUBLISHED_LINGER),
            Some(TopicChange::Join(p))
        );
    }
}
