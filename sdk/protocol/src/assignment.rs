//! Which nodes store a stream part: weighted rendezvous hashing over the NetworkCoordinator's active set,
//! the same rule as the contract's `assignedNodes` (`PROTOCOL.md`, "Storage assignment").
//!
//! Each active node `a` with weight `w` scores a stream part `(s, p)` as
//!
//! ```text
//! score(a) = uint256(keccak256(abi.encode(a, keccak256(bytes(s)), uint256(p)))) / w     (integer division)
//! ```
//!
//! and the part goes to the `R` nodes with the lowest `(score, address)`, listed in that order. A lower
//! weight divides by less, so it gives higher scores and fewer parts.

use core::cmp::Ordering;

use crate::{address::Address, hash::keccak256};

/// One member of the active set: a node account and its weight (1..=100 in the contract).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Member {
    /// The node's account.
    pub account: Address,
    /// Its weight as snapshotted by the last rebalance.
    pub weight: u16,
}

/// `keccak256(bytes(stream_id))`, the stream key the contract uses.
pub fn stream_key(stream_id: &str) -> [u8; 32] {
    keccak256(stream_id.as_bytes())
}

/// A node's score for a stream part: the 256-bit big-endian quotient
/// `keccak256(abi.encode(account, stream_key, uint256(partition))) / weight`. `None` for weight 0 (the
/// contract never holds one).
pub fn score(
    account: &Address,
    stream_key: &[u8; 32],
    partition: u32,
    weight: u16,
) -> Option<[u8; 32]> {
    if weight == 0 {
        return None;
    }
    let mut encoded = [0u8; 96];
    encoded[12..32].copy_from_slice(account.as_bytes());
    encoded[32..64].copy_from_slice(stream_key);
    encoded[92..96].copy_from_slice(&partition.to_be_bytes());
    let hash = keccak256(&encoded);
    // Long division of a 256-bit big-endian number by a u16, byte by byte.
    let divisor = u32::from(weight);
    let mut quotient = [0u8; 32];
    let mut remainder = 0u32;
    for (q, byte) in quotient.iter_mut().zip(hash) {
        let current = (remainder << 8) | u32::from(byte);
        // current < divisor * 256, so the quotient digit fits in a byte.
        *q = (current / divisor) as u8;
        remainder = current % divisor;
    }
    Some(quotient)
}

/// The nodes of `active` that store `(stream_id, partition)` with replication `replication`: the
/// `min(replication, active.len())` lowest `(score, address)`, lowest first. Members of weight 0 are
/// skipped.
pub fn assigned_nodes(
    active: &[Member],
    stream_id: &str,
    partition: u32,
    replication: usize,
) -> Vec<Address> {
    let key = stream_key(stream_id);
    let mut scored: Vec<([u8; 32], Address)> = active
        .iter()
        .filter_map(|m| score(&m.account, &key, partition, m.weight).map(|s| (s, m.account)))
        .collect();
    scored.sort_by(|a, b| match a.0.cmp(&b.0) {
        Ordering::Equal => a.1.as_bytes().cmp(b.1.as_bytes()),
        other => other,
    });
    scored
        .into_iter()
        .take(replication)
        .map(|(_, a)| a)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn division_matches_u128_arithmetic_on_the_low_bytes() {
        // With the hash's top bytes fixed, check the long division against native arithmetic by
        // dividing a value that fits u128.
        let account = Address([7; 20]);
        let key = stream_key("0x0000000000000000000000000000000000000001/a");
        let full = score(&account, &key, 3, 1).unwrap();
        for w in [1u16, 2, 3, 7, 99, 100, u16::MAX] {
            let q = score(&account, &key, 3, w).unwrap();
            // q * w + r == full, with r < w: check on the low 16 bytes modulo 2^128.
            let q_low = u128::from_be_bytes(q[16..].try_into().unwrap());
            let full_low = u128::from_be_bytes(full[16..].try_into().unwrap());
            let r = full_low.wrapping_sub(q_low.wrapping_mul(u128::from(w)));
            assert!(r < u128::from(w), "weight {w}");
        }
        assert_eq!(score(&account, &key, 3, 0), None);
    }

    #[test]
    fn a_lower_weight_gets_fewer_parts() {
        let members: Vec<Member> = (1..=10u8)
            .map(|i| Member {
                account: Address([i; 20]),
                weight: 100,
            })
            .collect();
        let weak = members[0].account;
        let mut weakened = members.clone();
        weakened[0].weight = 10;
        let count = |set: &[Member]| {
            (0..100)
                .filter(|&p| assigned_nodes(set, "a.eth/s", p, 3).contains(&weak))
                .count()
        };
        let (strong, weakly) = (count(&members), count(&weakened));
        assert!(strong > 15 && weakly * 3 < strong, "{strong} vs {weakly}");
        assert_eq!(assigned_nodes(&members, "a.eth/s", 0, 3).len(), 3);
        assert!(assigned_nodes(&members, "a.eth/s", 0, 0).is_empty());
    }
}
