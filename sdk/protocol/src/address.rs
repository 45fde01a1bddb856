//! Ethereum addresses: parsing, EIP-55 checksums, and derivation from a secp256k1 public key.

use core::{fmt, str::FromStr};

use k256::{PublicKey, elliptic_curve::sec1::ToSec1Point};

use crate::hash::keccak256;

/// A 20-byte Ethereum address. Displays as lowercase `0x`-prefixed hex, the form stream ids use;
/// [`Address::to_checksum`] gives the EIP-55 mixed-case form.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Address(pub [u8; 20]);

/// Why a string is not an address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddressError {
    /// The string does not start with `0x`.
    #[error("address must start with 0x")]
    MissingPrefix,
    /// Not 40 hex digits after the prefix.
    #[error("address must have 40 hex digits after 0x, got {0} characters")]
    Length(usize),
    /// A character that is not a hex digit.
    #[error("address contains a character that is not a hex digit")]
    NotHex,
    /// Mixed case that does not match the EIP-55 checksum (a typo, most likely).
    #[error("address has mixed case that fails its EIP-55 checksum")]
    Checksum,
}

impl Address {
    /// The zero address, which the stream registry uses for "anyone" (public) permissions.
    pub const ZERO: Address = Address([0; 20]);

    /// The address of a secp256k1 public key: the last 20 bytes of keccak256 of the uncompressed point.
    pub fn from_public_key(key: &PublicKey) -> Address {
        let point = key.to_sec1_point(false);
        let hash = keccak256(&point.as_bytes()[1..]);
        let mut out = [0u8; 20];
        out.copy_from_slice(&hash[12..]);
        Address(out)
    }

    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8; 20] {
        &self.0
    }

    /// The EIP-55 checksummed form, e.g. `0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed`.
    pub fn to_checksum(&self) -> String {
        let lower = hex::encode(self.0);
        let hash = keccak256(lower.as_bytes());
        let mut out = String::with_capacity(42);
        out.push_str("0x");
        for (i, c) in lower.chars().enumerate() {
            let nibble = (hash[i / 2] >> if i % 2 == 0 { 4 } else { 0 }) & 0x0f;
            if c.is_ascii_alphabetic() && nibble >= 8 {
                out.push(c.to_ascii_uppercase());
            } else {
                out.push(c);
            }
        }
        out
    }
}

impl FromStr for Address {
    type Err = AddressError;

    /// Accepts `0x` followed by 40 hex digits in lower case, upper case, or a mixed case that matches the
    /// EIP-55 checksum.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let digits = s.strip_prefix("0x").ok_or(AddressError::MissingPrefix)?;
        if digits.len() != 40 {
            return Err(AddressError::Length(digits.len()));
        }
        let mut bytes = [0u8; 20];
        hex::decode_to_slice(digits, &mut bytes).map_err(|_| AddressError::NotHex)?;
        let address = Address(bytes);
        let has_lower = digits.bytes().any(|b| b.is_ascii_lowercase());
        let has_upper = digits.bytes().any(|b| b.is_ascii_uppercase());
        if has_lower && has_upper && address.to_checksum()[2..] != *digits {
            return Err(AddressError::Checksum);
        }
        Ok(address)
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("0x")?;
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

#[cfg(feature = "serde")]
impl serde::Serialize for Address {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

#[cfg(feature = "serde")]
impl<'de> serde::Deserialize<'de> for Address {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // The EIP-55 specification's own examples.
    const EIP55: [&str; 4] = [
        "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
        "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359",
        "0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB",
        "0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb",
    ];

    #[test]
    fn checksums_match_eip55_examples() {
        for s in EIP55 {
            let a: Address = s.parse().unwrap();
            assert_eq!(a.to_checksum(), s);
            assert_eq!(a.to_string(), s.to_ascii_lowercase());
        }
    }

    #[test]
    fn rejects_bad_input_with_the_reason() {
        assert_eq!(
            "5aaeb6053f3e94c9b9a09f33669435e7ef1beaed".parse::<Address>(),
            Err(AddressError::MissingPrefix)
        );
        assert_eq!("0x5aae".parse::<Address>(), Err(AddressError::Length(4)));
        assert_eq!(
            "0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaeg".parse::<Address>(),
            Err(AddressError::NotHex)
        );
        assert_eq!(
            "0x5AAeb6053F3E94C9b9A09f33669435E7Ef1BeAed".parse::<Address>(),
            Err(AddressError::Checksum)
        );
        assert!(
            "0x5AAEB6053F3E94C9B9A09F33669435E7EF1BEAED"
                .parse::<Address>()
                .is_ok()
        );
    }
}
