//! Contract and client tests against a real anvil chain started by the harness.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

mod anvil;
mod client;
mod marketplace;
mod registry;
