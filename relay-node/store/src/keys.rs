//! The store's keys, all big-endian: a message's (`stream part ‖ timestamp ‖ sequence number ‖
//! publisher ‖ chain id`), the envelope index's (`stream part ‖ recipient ‖ …` as a message's) and the
//! chain index's (`stream part ‖ publisher ‖ u8 len ‖ chain id ‖ timestamp ‖ sequence number`), where
//! a stream part is `u8 len ‖ stream id ‖ u8 partition`.

use rivulet_protocol::{Address, ChainId, MessageId, MessageRef, StreamPartId};

/// The longest key suffix after the reference: publisher (20) and chain id (at most 64 bytes).
pub(crate) const MAX_TAIL: usize = 20 + rivulet_protocol::message::MAX_CHAIN_ID_LEN;

/// A stream part's prefix: `u8 len ‖ stream id ‖ u8 partition`.
pub(crate) fn part_prefix(part: &StreamPartId) -> Vec<u8> {
    let id = part.stream_id.as_str().as_bytes();
    let mut key = Vec::with_capacity(2 + id.len() + 12 + MAX_TAIL);
    // Stream ids are at most 255 bytes.
    key.push(id.len() as u8);
    key.extend_from_slice(id);
    key.push(part.partition.get());
    key
}

/// The smallest key at reference `at` under `prefix`.
pub(crate) fn ref_key(prefix: &[u8], at: MessageRef) -> Vec<u8> {
    let mut key = prefix.to_vec();
    key.extend_from_slice(&at.timestamp.to_be_bytes());
    key.extend_from_slice(&at.sequence_number.to_be_bytes());
    key
}

/// The largest key at reference `at`.
pub(crate) fn ref_key_end(prefix: &[u8], at: MessageRef) -> Vec<u8> {
    let mut key = ref_key(prefix, at);
    key.extend_from_slice(&[0xff; MAX_TAIL + 1]);
    key
}

/// One message's place in a stream part's order: its reference, then its publisher and chain id (the
/// rest of its key). Answers that continue a page start just after such a place, so a page may end
/// between messages that share a reference.
#[derive(Clone, Copy, Debug)]
pub struct Position<'a> {
    /// The message's reference.
    pub reference: MessageRef,
    /// Its publisher.
    pub publisher: &'a Address,
    /// Its chain id.
    pub chain_id: &'a ChainId,
}

impl<'a> Position<'a> {
    /// Where message `id` is.
    pub fn of(id: &'a MessageId) -> Position<'a> {
        Position {
            reference: id.message_ref(),
            publisher: &id.publisher,
            chain_id: &id.chain_id,
        }
    }

    /// The key this position has under `prefix` (a part's, or a part and recipient's).
    pub(crate) fn key(&self, prefix: &[u8]) -> Vec<u8> {
        let mut key = ref_key(prefix, self.reference);
        key.extend_from_slice(self.publisher.as_bytes());
        key.extend_from_slice(self.chain_id.as_str().as_bytes());
        key
    }

    /// The chain index key of this position in the part with prefix `part_prefix`.
    pub(crate) fn chain_key(&self, part_prefix: &[u8]) -> Vec<u8> {
        ref_key(
            &chain_prefix(part_prefix, self.publisher, self.chain_id),
            self.reference,
        )
    }
}

/// The envelope index's prefix for one part and recipient.
pub(crate) fn envelope_prefix(part: &StreamPartId, recipient: &Address) -> Vec<u8> {
    let mut prefix = part_prefix(part);
    prefix.extend_from_slice(recipient.as_bytes());
    prefix
}

/// The envelope index key of a message addressed to `recipient`.
pub(crate) fn envelope_key(id: &MessageId, recipient: &Address) -> Vec<u8> {
    Position::of(id).key(&envelope_prefix(&id.stream_part(), recipient))
}

/// The storage key of a message.
pub fn message_key(id: &MessageId) -> Vec<u8> {
    Position::of(id).key(&part_prefix(&id.stream_part()))
}

/// The chain index's prefix for one publisher chain of a part.
pub(crate) fn chain_prefix(part_prefix: &[u8], publisher: &Address, chain_id: &ChainId) -> Vec<u8> {
    chain_prefix_bytes(
        part_prefix,
        publisher.as_bytes(),
        chain_id.as_str().as_bytes(),
    )
}

/// [`chain_prefix`] from the publisher's and chain id's bytes: `part ‖ publisher ‖ u8 len ‖ chain id`.
fn chain_prefix_bytes(part_prefix: &[u8], publisher: &[u8], chain: &[u8]) -> Vec<u8> {
    let mut key = Vec::with_capacity(part_prefix.len() + 21 + chain.len() + 12);
    key.extend_from_slice(part_prefix);
    key.extend_from_slice(publisher);
    // Chain ids are at most 64 bytes.
    key.push(chain.len() as u8);
    key.extend_from_slice(chain);
    key
}

/// The part prefix (`u8 len ‖ stream id ‖ u8 partition`) a message key begins with.
pub(crate) fn part_prefix_of(message_key: &[u8]) -> Option<&[u8]> {
    let id_len = usize::from(*message_key.first()?);
    message_key.get(..id_len + 2)
}

/// The chain index key of the message with key `message_key` in the part with prefix `part_prefix`:
/// the same fields, publisher chain first. `None` for a key that is not a message key of that part.
pub(crate) fn chain_key_of(message_key: &[u8], part_prefix: &[u8]) -> Option<Vec<u8>> {
    let rest = message_key.strip_prefix(part_prefix)?;
    if rest.len() < 12 + 20 + 1 {
        return None;
    }
    let (reference, tail) = rest.split_at(12);
    let (publisher, chain) = tail.split_at(20);
    let mut key = chain_prefix_bytes(part_prefix, publisher, chain);
    key.extend_from_slice(reference);
    Some(key)
}

/// The reference in `key` after a prefix of `prefix_len` bytes.
pub(crate) fn key_ref(key: &[u8], prefix_len: usize) -> MessageRef {
    let mut ts = [0u8; 8];
    let mut seq = [0u8; 4];
    if let Some(b) = key.get(prefix_len..prefix_len + 8) {
        ts.copy_from_slice(b);
    }
    if let Some(b) = key.get(prefix_len + 8..prefix_len + 12) {
        seq.copy_from_slice(b);
    }
    MessageRef::new(u64::from_be_bytes(ts), u32::from_be_bytes(seq))
}
