//! Every input and output of the dapp, behind typed async functions that fail with a
//! [`DappError`](crate::error::DappError): `config` (the deployment, `/config.json`), `chain` (the
//! contracts: products, buying, licences, streams, grants), `wallet` (EIP-6963 / EIP-1193 wallets and the
//! accounts they give), `network` (the light client: live views) and `coordinator` (the network
//! coordinator, read for the Network page). Only `chain`, `coordinator` and `wallet` use the contract
//! client crate. Services never use pages or components.

pub(crate) mod chain;
pub(crate) mod config;
pub(crate) mod coordinator;
pub(crate) mod network;
pub(crate) mod wallet;
