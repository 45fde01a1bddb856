//! The contracts and this client against real anvil chains started by the harness.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

mod anvil;
mod buying;
mod client;
mod coordinator;
mod marketplace;
mod registry;
