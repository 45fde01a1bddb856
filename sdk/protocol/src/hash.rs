//! Keccak-256 and the EIP-191 personal-message hash: the two hashes every signature in Rivulet rests on.

use sha3::{Digest, Keccak256};

/// Keccak-256 of `data` (Ethereum's hash, not NIST SHA3-256).
pub fn keccak256(data: &[u8]) -> [u8; 32] {
    Keccak256::digest(data).into()
}

/// The EIP-191 version `0x45` ("personal_sign") hash of a message made of `parts`, concatenated:
/// `keccak256("\x19Ethereum Signed Message:\n" || decimal(len) || parts...)`.
///
/// This is what ethers' `hashMessage` / viem's `hashMessage` compute for a byte message, so a signature
/// over it verifies with their `verifyMessage`. Taking the message in parts lets callers hash a domain
/// tag and an encoded message without copying them together.
pub fn eip191_hash(parts: &[&[u8]]) -> [u8; 32] {
    let len: usize = parts.iter().map(|p| p.len()).sum();
    let mut hasher = Keccak256::new();
    hasher.update(b"\x19Ethereum Signed Message:\n");
    hasher.update(decimal(len).as_bytes());
    for part in parts {
        hasher.update(part);
    }
    hasher.finalize().into()
}

fn decimal(n: usize) -> String {
    use core::fmt::Write;
    let mut s = String::with_capacity(8);
    // Writing to a String cannot fail.
    let _ = write!(s, "{n}");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keccak_of_empty_input_is_the_known_constant() {
        assert_eq!(
            hex::encode(keccak256(b"")),
            "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470"
        );
    }

    #[test]
    fn eip191_matches_the_ethers_documented_example() {
        // ethers v6: hashMessage("Hello World")
        assert_eq!(
            hex::encode(eip191_hash(&[b"Hello World"])),
            "a1de988600a42c4b4ab089b619297c17d53cffae5d5120d82d8a92d0bb3b78f2"
        );
    }

    #[test]
    fn parts_hash_like_their_concatenation() {
        assert_eq!(
            eip191_hash(&[b"Hello", b" ", b"World"]),
            eip191_hash(&[b"Hello World"])
        );
    }
}
