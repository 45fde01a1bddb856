//! Integration tests of the protocol core: pinned test vectors, codec properties, signatures, encryption.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

mod codec;
mod coordinator;
mod encryption;
mod support;
mod vectors;
