//! EIP-1559 (type 2) transactions: the RLP encoding, the signing hash and the signed envelope, for a key
//! held by the SDK. Only what calling and creating contracts needs: no access list, no value.

use alloy_primitives::Address;
use rivulet_protocol::{Signer, hash::keccak256};

/// A contract call (or, with no `to`, a contract creation) to sign.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Eip1559Transaction {
    /// EIP-155 chain id.
    pub chain_id: u64,
    /// The sender's nonce.
    pub nonce: u64,
    /// Tip per gas, wei.
    pub max_priority_fee_per_gas: u128,
    /// Cap per gas, wei.
    pub max_fee_per_gas: u128,
    /// Gas limit.
    pub gas_limit: u64,
    /// The contract called; `None` creates one from `input` (its creation code).
    pub to: Option<Address>,
    /// Calldata, or creation code.
    pub input: Vec<u8>,
}

impl Eip1559Transaction {
    fn fields(&self) -> Vec<Vec<u8>> {
        vec![
            rlp_uint(u128::from(self.chain_id)),
            rlp_uint(u128::from(self.nonce)),
            rlp_uint(self.max_priority_fee_per_gas),
            rlp_uint(self.max_fee_per_gas),
            rlp_uint(u128::from(self.gas_limit)),
            rlp_bytes(self.to.as_ref().map_or(&[][..], |to| to.as_slice())),
            rlp_uint(0),
            rlp_bytes(&self.input),
            rlp_list(&[]),
        ]
    }

    /// The hash the sender signs: keccak256(0x02 ‖ rlp(fields)).
    pub fn signing_hash(&self) -> [u8; 32] {
        let mut payload = vec![2u8];
        payload.extend(rlp_list(&self.fields()));
        keccak256(&payload)
    }

    /// The signed transaction, as `eth_sendRawTransaction` takes it.
    pub fn sign(&self, signer: &Signer) -> Vec<u8> {
        let signature = signer.sign_hash(&self.signing_hash()).0;
        let (r, s, v) = (&signature[..32], &signature[32..64], signature[64]);
        let mut fields = self.fields();
        fields.push(rlp_uint(u128::from(v.saturating_sub(27))));
        fields.push(rlp_bytes(strip_zeros(r)));
        fields.push(rlp_bytes(strip_zeros(s)));
        let mut out = vec![2u8];
        out.extend(rlp_list(&fields));
        out
    }
}

fn strip_zeros(bytes: &[u8]) -> &[u8] {
    let first = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
    &bytes[first..]
}

fn rlp_uint(n: u128) -> Vec<u8> {
    let bytes = n.to_be_bytes();
    rlp_bytes(strip_zeros(&bytes))
}

fn rlp_length(prefix_short: u8, len: usize) -> Vec<u8> {
    if len < 56 {
        vec![prefix_short + len as u8]
    } else {
        let len_bytes = len.to_be_bytes();
        let len_bytes = strip_zeros(&len_bytes);
        let mut out = vec![prefix_short + 55 + len_bytes.len() as u8];
        out.extend_from_slice(len_bytes);
        out
    }
}

fn rlp_bytes(bytes: &[u8]) -> Vec<u8> {
    if bytes.len() == 1 && bytes[0] < 0x80 {
        return bytes.to_vec();
    }
    let mut out = rlp_length(0x80, bytes.len());
    out.extend_from_slice(bytes);
    out
}

fn rlp_list(items: &[Vec<u8>]) -> Vec<u8> {
    let body: Vec<u8> = items.concat();
    let mut out = rlp_length(0xc0, body.len());
    out.extend(body);
    out
}

/// A quantity from JSON-RPC (`"0x…"`).
pub(crate) fn quantity(value: &serde_json::Value) -> Option<u128> {
    let s = value.as_str()?.strip_prefix("0x")?;
    if s.is_empty() {
        return Some(0);
    }
    u128::from_str_radix(s, 16).ok()
}

/// A quantity as JSON-RPC writes it.
pub(crate) fn to_quantity(n: u128) -> String {
    format!("{n:#x}")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use alloy_consensus::{SignableTransaction, TxEip1559};
    use alloy_eips::Encodable2718;
    use alloy_primitives::{Bytes, Signature, TxKind, U256};

    use super::*;

    /// Our encoding, signing hash and signed envelope match alloy's, byte for byte: calls with short and
    /// long calldata, and a contract creation with long creation code.
    #[test]
    fn matches_alloy_byte_for_byte() {
        let ours = Signer::from_bytes(&[0x42u8; 32]).unwrap();
        let call = |to| Some(Address::repeat_byte(to));
        for (nonce, to, input) in [
            (0u64, call(0x11), vec![]),
            (7, call(0x11), vec![0xab; 3]),
            (300, call(0x11), vec![0x01; 600]),
            (1, None, vec![0x60; 20_000]),
        ] {
            let tx = Eip1559Transaction {
                chain_id: 31337,
                nonce,
                max_priority_fee_per_gas: 1_000_000_000,
                max_fee_per_gas: 3_000_000_000,
                gas_limit: 210_000,
                to,
                input: input.clone(),
            };
            let theirs = TxEip1559 {
                chain_id: 31337,
                nonce,
                gas_limit: 210_000,
                max_fee_per_gas: 3_000_000_000,
                max_priority_fee_per_gas: 1_000_000_000,
                to: to.map_or(TxKind::Create, TxKind::Call),
                value: U256::ZERO,
                access_list: Default::default(),
                input: Bytes::from(input),
            };
            assert_eq!(tx.signing_hash(), theirs.signature_hash().0);
            // The same signature, in alloy's envelope and in ours.
            let signature = ours.sign_hash(&tx.signing_hash()).0;
            let signature = Signature::from_raw(&signature).unwrap();
            let envelope = theirs.into_signed(signature).encoded_2718();
            assert_eq!(tx.sign(&ours), envelope);
        }
    }

    #[test]
    fn quantities() {
        assert_eq!(quantity(&"0x0".into()), Some(0));
        assert_eq!(quantity(&"0x1f".into()), Some(31));
        assert_eq!(quantity(&"12".into()), None);
        assert_eq!(to_quantity(255), "0xff");
    }
}
