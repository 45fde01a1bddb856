//! Integration tests of the protocol core: pinned test vectors, codec properties, signatures, encryption.

mod codec;
mod encryption;
mod support;
mod vectors;
