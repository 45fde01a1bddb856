//! Rivulet's patch: the encodings a multiaddr is read and written in — RFC 4648's base16, base32 and
//! base64 here, base58 through `bs58` (which `libp2p-identity` uses for peer ids) — instead of the
//! `multibase` and `data-encoding` crates. `multibase` links every base it knows (base-x for
//! base10/36/58, base45, base256emoji, a `data-encoding` specification per RFC 4648 variant) behind
//! one run-time dispatch, and `data-encoding`'s engine is compiled once per symbol width and padding
//! mode: 60 KB of a browser build that reads a few addresses (`patches/README.md`).
//!
//! The fixed encodings (`/p2p/` base58btc, `/garlic64/` base64, `/garlic32/` base32 lower case,
//! `/onion/` and `/onion3/` base32, and `/certhash/` written as base64url) are bit for bit the same,
//! and decoding is as strict as `data-encoding`'s: symbols in the alphabet, a length the base can
//! end at, unused trailing bits zero, padding exactly where RFC 4648 puts it. A `/certhash/` value is
//! read in any of the RFC 4648 bases and base58 (`f F b B c C v V t T m M u U z Z`), which covers
//! what libp2p's implementations write (base64url); the rarer ones (base2, base8, base10, base36,
//! base45, base32z, base256emoji, identity) are refused with an error that names the prefix.

use std::{error, fmt};

use crate::Error;

/// An RFC 4648 alphabet: `1 << bits` symbols, in order.
pub(crate) struct Alphabet {
    bits: u32,
    symbols: &'static [u8],
    name: &'static str,
}

const HEX_LOWER: Alphabet = Alphabet {
    bits: 4,
    symbols: b"0123456789abcdef",
    name: "base16",
};
const HEX_UPPER: Alphabet = Alphabet {
    bits: 4,
    symbols: b"0123456789ABCDEF",
    name: "base16",
};
/// Base32, RFC 4648 section 6 (upper case).
pub(crate) const BASE32: Alphabet = Alphabet {
    bits: 5,
    symbols: b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567",
    name: "base32",
};
const BASE32_LOWER: Alphabet = Alphabet {
    bits: 5,
    symbols: b"abcdefghijklmnopqrstuvwxyz234567",
    name: "base32",
};
const BASE32HEX: Alphabet = Alphabet {
    bits: 5,
    symbols: b"0123456789ABCDEFGHIJKLMNOPQRSTUV",
    name: "base32hex",
};
const BASE32HEX_LOWER: Alphabet = Alphabet {
    bits: 5,
    symbols: b"0123456789abcdefghijklmnopqrstuv",
    name: "base32hex",
};
const BASE64: Alphabet = Alphabet {
    bits: 6,
    symbols: b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/",
    name: "base64",
};
const BASE64URL: Alphabet = Alphabet {
    bits: 6,
    symbols: b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_",
    name: "base64url",
};

/// Why a string is not in an encoding.
#[derive(Debug)]
struct DecodeError {
    base: &'static str,
    reason: &'static str,
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid {}: {}", self.base, self.reason)
    }
}

impl error::Error for DecodeError {}

/// A multibase prefix this build does not read.
#[derive(Debug)]
struct UnsupportedBase(char);

impl fmt::Display for UnsupportedBase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "multibase prefix {:?} is not supported (RFC 4648 bases and base58 are)",
            self.0
        )
    }
}

impl error::Error for UnsupportedBase {}

fn parsing(e: impl error::Error + Send + Sync + 'static) -> Error {
    Error::ParsingError(Box::new(e))
}

impl Alphabet {
    /// Symbols per padded block (a whole number of bytes): 2, 8 or 4.
    fn block(&self) -> usize {
        match self.bits {
            4 => 2,
            5 => 8,
            _ => 4,
        }
    }

    /// `bytes` in this alphabet, padded with `=` to whole blocks if `pad`.
    pub(crate) fn encode(&self, bytes: &[u8], pad: bool) -> String {
        let mut text = String::with_capacity((bytes.len() * 8).div_ceil(self.bits as usize) + 8);
        let mask = (1u32 << self.bits) - 1;
        let (mut acc, mut held) = (0u32, 0u32);
        for &byte in bytes {
            acc = (acc << 8) | u32::from(byte);
            held += 8;
            while held >= self.bits {
                held -= self.bits;
                text.push(char::from(self.symbols[((acc >> held) & mask) as usize]));
            }
            acc &= (1 << held) - 1;
        }
        if held > 0 {
            text.push(char::from(
                self.symbols[((acc << (self.bits - held)) & mask) as usize],
            ));
        }
        if pad {
            while text.len() % self.block() != 0 {
                text.push('=');
            }
        }
        text
    }

    /// The bytes `text` encodes; with `pad`, `text` must be whole blocks, each padded at its end as
    /// far as it needs (padded blocks may follow each other, as `data-encoding` reads them), and
    /// without it, must have no padding.
    pub(crate) fn decode(&self, text: &str, pad: bool) -> Result<Vec<u8>, Error> {
        let mut bytes = Vec::with_capacity(text.len() * self.bits as usize / 8);
        if !pad {
            self.decode_unpadded(text.as_bytes(), &mut bytes)?;
            return Ok(bytes);
        }
        if text.len() % self.block() != 0 {
            return Err(self.fail("length is not a whole number of padded blocks"));
        }
        for block in text.as_bytes().chunks(self.block()) {
            let padding = block.iter().rev().take_while(|&&s| s == b'=').count();
            if padding == block.len() {
                return Err(self.fail("a block of padding only"));
            }
            self.decode_unpadded(&block[..block.len() - padding], &mut bytes)?;
        }
        Ok(bytes)
    }

    fn fail(&self, reason: &'static str) -> Error {
        parsing(DecodeError {
            base: self.name,
            reason,
        })
    }

    /// Appends what `symbols` (no padding) encode to `bytes`.
    fn decode_unpadded(&self, symbols: &[u8], bytes: &mut Vec<u8>) -> Result<(), Error> {
        let (mut acc, mut held) = (0u32, 0u32);
        for &symbol in symbols {
            let value = self
                .symbols
                .iter()
                .position(|&s| s == symbol)
                .ok_or_else(|| self.fail("symbol outside the alphabet"))?;
            acc = (acc << self.bits) | value as u32;
            held += self.bits;
            if held >= 8 {
                held -= 8;
                bytes.push((acc >> held) as u8);
                acc &= (1 << held) - 1;
            }
        }
        // What is left must be fewer bits than a symbol (else the length cannot end an encoding),
        // all of them zero.
        if held >= self.bits {
            return Err(self.fail("length cannot end an encoding"));
        }
        if acc != 0 {
            return Err(self.fail("unused trailing bits are not zero"));
        }
        Ok(())
    }
}

/// Base58 with the Bitcoin alphabet, no prefix.
pub(crate) fn base58btc_decode(s: &str) -> Result<Vec<u8>, Error> {
    bs58::decode(s).into_vec().map_err(parsing)
}

/// Base58 with the Bitcoin alphabet, no prefix.
pub(crate) fn base58btc_encode(bytes: &[u8]) -> String {
    bs58::encode(bytes).into_string()
}

/// Base64, standard alphabet, no padding, no prefix.
pub(crate) fn base64_decode(s: &str) -> Result<Vec<u8>, Error> {
    BASE64.decode(s, false)
}

/// Base64, standard alphabet, no padding, no prefix.
pub(crate) fn base64_encode(bytes: &[u8]) -> String {
    BASE64.encode(bytes, false)
}

/// Base32, lower-case RFC 4648 alphabet, no padding, no prefix.
pub(crate) fn base32_lower_decode(s: &str) -> Result<Vec<u8>, Error> {
    BASE32_LOWER.decode(s, false)
}

/// Base32, lower-case RFC 4648 alphabet, no padding, no prefix.
pub(crate) fn base32_lower_encode(bytes: &[u8]) -> String {
    BASE32_LOWER.encode(bytes, false)
}

/// Multibase base64url (prefix `u`): how a `/certhash/` is written.
pub(crate) fn multibase_base64url_encode(bytes: &[u8]) -> String {
    let mut text = String::from("u");
    text.push_str(&BASE64URL.encode(bytes, false));
    text
}

/// A multibase string: its first character names the base.
pub(crate) fn multibase_decode(s: &str) -> Result<Vec<u8>, Error> {
    let mut chars = s.chars();
    let prefix = chars.next().ok_or(Error::InvalidProtocolString)?;
    let rest = chars.as_str();
    match prefix {
        'f' => HEX_LOWER.decode(rest, false),
        'F' => HEX_UPPER.decode(rest, false),
        'b' => BASE32_LOWER.decode(rest, false),
        'B' => BASE32.decode(rest, false),
        'c' => BASE32_LOWER.decode(rest, true),
        'C' => BASE32.decode(rest, true),
        'v' => BASE32HEX_LOWER.decode(rest, false),
        'V' => BASE32HEX.decode(rest, false),
        't' => BASE32HEX_LOWER.decode(rest, true),
        'T' => BASE32HEX.decode(rest, true),
        'm' => BASE64.decode(rest, false),
        'M' => BASE64.decode(rest, true),
        'u' => BASE64URL.decode(rest, false),
        'U' => BASE64URL.decode(rest, true),
        'z' => base58btc_decode(rest),
        'Z' => bs58::decode(rest)
            .with_alphabet(bs58::Alphabet::FLICKR)
            .into_vec()
            .map_err(parsing),
        other => Err(parsing(UnsupportedBase(other))),
    }
}
