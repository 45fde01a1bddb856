//! Relay node processes against a real chain.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

mod access;
mod cli;
mod coordinator;
mod delivery_limits;
mod http_api;
mod light_client;
mod light_limits;
mod offline;
mod quorum;
mod raw_peer;
mod request_budget;
mod session_setup;
mod slow_peer;
mod support;
mod ws_api;
