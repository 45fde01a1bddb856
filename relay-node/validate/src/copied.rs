//! The rule for events copied from another node's history (a replica backfilling a stream part), as
//! opposed to live events: history is old by nature, so the arrival-time window cannot apply. A copied
//! event is admitted when
//!
//! 1. it decodes within the limits and belongs to the part that was asked for;
//! 2. its timestamp is not ahead of this node's clock by more than the live window allows;
//! 3. its signature holds;
//! 4. its signer had the permission its type needs (publish; subscribe for a group-key request, judged
//!    for the account a session key's request names) **at the event's own timestamp**, as the registry's
//!    expiries stand now. A publisher whose permission was revoked outright (not by expiry) has no such
//!    moment, so its earlier events are not copied.
//!
//! What this cannot stop, and what bounds it: a formerly permitted publisher colluding with a replica
//! could have events stamped before its permission ended copied in. Only assigned, staked nodes answer
//! backfills, and the other replicas never saw such events, so their rolling checksums disagree with the
//! colluding node's and the interval's final value excludes them (`PROTOCOL.md`, "Copied history").

use rivulet_protocol::{Limits, StreamMessage, StreamPartId, Verifier};

use crate::{PublishPermission, Rejection};

/// Why a copied event was not admitted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CopyRefusal {
    /// It fails one of the checks live events get too.
    #[error(transparent)]
    Rejected(#[from] Rejection),
    /// It belongs to another stream part than the one asked for.
    #[error("an event of {found} in an answer for {expected}")]
    WrongPart {
        /// The part it belongs to.
        found: StreamPartId,
        /// The part asked for.
        expected: StreamPartId,
    },
}

impl CopyRefusal {
    /// A stable label for metrics: the rejection's reason, or `wrong_part`.
    pub fn reason(&self) -> &'static str {
        match self {
            CopyRefusal::Rejected(r) => r.reason(),
            CopyRefusal::WrongPart { .. } => "wrong_part",
        }
    }
}

/// Checks an event `wire` copied from another node's history of `part` (see the module's rules);
/// `now_ms` is this node's clock.
pub fn check_copied(
    wire: &[u8],
    part: &StreamPartId,
    now_ms: u64,
    max_future_skew_ms: u64,
    limits: &Limits,
    permissions: &impl PublishPermission,
    verifier: &mut Verifier,
) -> Result<StreamMessage, CopyRefusal> {
    let message = StreamMessage::decode(wire, limits).map_err(Rejection::Malformed)?;
    let id = message.id();
    let found = id.stream_part();
    if &found != part {
        return Err(CopyRefusal::WrongPart {
            found,
            expected: part.clone(),
        });
    }
    let ahead = id.timestamp.saturating_sub(now_ms);
    if ahead > max_future_skew_ms {
        return Err(Rejection::FutureTimestamp {
            ahead_ms: ahead,
            max_ms: max_future_skew_ms,
        }
        .into());
    }
    verifier
        .verify_frame(&message, wire)
        .map_err(Rejection::BadSignature)?;
    crate::permitted(&message, permissions, id.timestamp / 1000)?;
    Ok(message)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::collections::HashMap;

    use rivulet_protocol::{Address, ChainId, ChainSigner, ContentType, MessageType, Signer};

    use super::*;

    const NOW: u64 = 1_764_000_000_000;

    /// Publish permission until a second, per publisher.
    struct Until(HashMap<Address, u64>);

    impl PublishPermission for Until {
        fn may_publish(&self, _: &str, publisher: Address, at: u64) -> bool {
            self.0.get(&publisher).is_some_and(|until| at < *until)
        }
    }

    fn signed(key: u8, part: &StreamPartId, ts: u64) -> Vec<u8> {
        let mut chain = ChainSigner::new(
            Signer::from_bytes(&[key; 32]).unwrap(),
            ChainId::new("c").unwrap(),
        );
        chain
            .sign_next(
                part,
                ts,
                MessageType::Data,
                ContentType::Json,
                b"{}".to_vec(),
                None,
                &mut rand::rng(),
            )
            .unwrap()
            .encode()
            .unwrap()
    }

    fn check(
        wire: &[u8],
        part: &StreamPartId,
        perms: &Until,
    ) -> Result<StreamMessage, CopyRefusal> {
        check_copied(
            wire,
            part,
            NOW,
            60_000,
            &Limits::default(),
            perms,
            &mut Verifier::new(16),
        )
    }

    #[test]
    fn old_events_are_judged_by_the_permission_at_their_own_timestamp() {
        let part: StreamPartId = "rivulet.eth/copied#0".parse().unwrap();
        let publisher = Signer::from_bytes(&[1; 32]).unwrap().address();
        // The publisher's permission ended an hour ago.
        let ended = NOW / 1000 - 3600;
        let perms = Until([(publisher, ended)].into());
        let before_end = signed(1, &part, (ended - 10) * 1000);
        assert!(
            check(&before_end, &part, &perms).is_ok(),
            "stamped while permitted"
        );
        let after_end = signed(1, &part, (ended + 10) * 1000);
        let refused = check(&after_end, &part, &perms).unwrap_err();
        assert_eq!(refused.reason(), "no_permission", "{refused}");
        let stranger = signed(2, &part, (ended - 10) * 1000);
        assert_eq!(
            check(&stranger, &part, &perms).unwrap_err().reason(),
            "no_permission"
        );
    }

    #[test]
    fn copied_events_of_another_part_from_the_future_or_forged_are_refused() {
        let part: StreamPartId = "rivulet.eth/copied#0".parse().unwrap();
        let other: StreamPartId = "rivulet.eth/copied#1".parse().unwrap();
        let publisher = Signer::from_bytes(&[1; 32]).unwrap().address();
        let perms = Until([(publisher, u64::MAX)].into());
        let wrong = check(&signed(1, &other, NOW), &part, &perms).unwrap_err();
        assert_eq!(wrong.reason(), "wrong_part");
        assert!(wrong.to_string().contains("#1"), "{wrong}");
        let ahead = check(&signed(1, &part, NOW + 120_000), &part, &perms).unwrap_err();
        assert_eq!(ahead.reason(), "future_timestamp");
        let mut forged = signed(1, &part, NOW - 5_000);
        let content_at = forged.len() - 66;
        forged[content_at] ^= 1;
        let refused = check(&forged, &part, &perms).unwrap_err();
        assert!(
            matches!(refused.reason(), "bad_signature" | "malformed"),
            "{refused}"
        );
        assert_eq!(
            check(b"\x01junk", &part, &perms).unwrap_err().reason(),
            "malformed"
        );
    }
}
