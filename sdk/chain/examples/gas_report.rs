//! Measures the gas of the main contract calls on a fresh anvil chain and prints a Markdown table (and
//! JSON with `--json`). `cargo run -p rivulet-chain --example gas_report`; figures go into BENCHMARKS.md.

use std::path::Path;

use alloy::{
    primitives::{Address, B256, U256},
    providers::DynProvider,
    signers::local::PrivateKeySigner,
};
use anyhow::Result;
use rivulet_chain::{
    bindings::{DataToken, Marketplace, StreamRegistry},
    deploy,
    dev::{Anvil, DEV_KEYS, LOCAL_CHAIN_ID, anvil_binary},
    http_provider,
};

async fn gas<C: alloy::contract::CallDecoder>(
    rows: &mut Vec<(String, u64)>,
    name: &str,
    call: alloy::contract::CallBuilder<&DynProvider, C>,
) -> Result<()> {
    let receipt = call.send().await?.get_receipt().await?;
    anyhow::ensure!(receipt.status(), "{name} reverted");
    rows.push((name.to_owned(), receipt.gas_used));
    Ok(())
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<()> {
    let anvil = Anvil::spawn(
        &anvil_binary(Path::new(env!("CARGO_MANIFEST_DIR")))?,
        None,
        LOCAL_CHAIN_ID,
        None,
    )?;
    let url = anvil.url();
    let keys: Vec<PrivateKeySigner> = DEV_KEYS[..3]
        .iter()
        .map(|k| k.parse())
        .collect::<Result<_, _>>()?;
    let p = |i: usize| http_provider(&url, Some(keys[i].clone()));
    let d = deploy(
        p(0)?,
        &url,
        &[keys[2].address()],
        U256::from(10u64).pow(U256::from(24u64)),
    )
    .await?;
    let seller = keys[1].address();
    let registry = StreamRegistry::new(d.stream_registry, p(1)?);
    let market = Marketplace::new(d.marketplace, p(1)?);
    let buyer_market = Marketplace::new(d.marketplace, p(2)?);
    let buyer_token = DataToken::new(d.data_token, p(2)?);
    let id = format!("{}/gas/stream", format!("{seller:?}").to_lowercase());
    let mut rows = Vec::new();

    gas(
        &mut rows,
        "StreamRegistry.createStream (short metadata)",
        registry.createStream(
            "gas/stream".into(),
            r#"{"name":"Gas","partitions":1}"#.into(),
        ),
    )
    .await?;
    gas(
        &mut rows,
        "StreamRegistry.updateStreamMetadata",
        registry.updateStreamMetadata(id.clone(), r#"{"name":"Gas 2"}"#.into()),
    )
    .await?;
    gas(
        &mut rows,
        "StreamRegistry.grantPermission (publish)",
        registry.grantPermission(id.clone(), Address::repeat_byte(1), 2),
    )
    .await?;
    gas(
        &mut rows,
        "StreamRegistry.setExpirationTime (subscribe)",
        registry.setExpirationTime(id.clone(), Address::repeat_byte(2), 3, u64::MAX - 1),
    )
    .await?;
    gas(
        &mut rows,
        "StreamRegistry.revokePermission",
        registry.revokePermission(id.clone(), Address::repeat_byte(1), 2),
    )
    .await?;
    gas(
        &mut rows,
        "StreamRegistry.grantPublicPermission (subscribe)",
        registry.grantPublicPermission(id.clone(), 3),
    )
    .await?;
    gas(
        &mut rows,
        "StreamRegistry.grantPermission (grant, to the marketplace)",
        registry.grantPermission(id.clone(), d.marketplace, 4),
    )
    .await?;
    gas(
        &mut rows,
        "Marketplace.createProduct (1 stream)",
        market.createProduct(
            vec![id.clone()],
            seller,
            U256::from(1_000u64),
            60,
            r#"{"name":"Gas product"}"#.into(),
            "ipfs://terms".into(),
            B256::ZERO,
        ),
    )
    .await?;
    let one = U256::from(1u64);
    gas(
        &mut rows,
        "Marketplace.setPrice",
        market.setPrice(one, U256::from(2_000u64)),
    )
    .await?;
    gas(
        &mut rows,
        "Marketplace.pauseProduct",
        market.pauseProduct(one),
    )
    .await?;
    gas(
        &mut rows,
        "Marketplace.resumeProduct",
        market.resumeProduct(one),
    )
    .await?;
    gas(
        &mut rows,
        "DataToken.approve",
        buyer_token.approve(d.marketplace, U256::MAX),
    )
    .await?;
    gas(
        &mut rows,
        "Marketplace.buy (first licence)",
        buyer_market.buy(one, 3600, U256::MAX),
    )
    .await?;
    gas(
        &mut rows,
        "Marketplace.buy (extension)",
        buyer_market.buy(one, 3600, U256::MAX),
    )
    .await?;
    let chain = rivulet_chain::ChainClient::new(p(2)?, d.clone(), Some(keys[2].address()));
    let before = alloy::providers::Provider::get_block_number(chain.provider()).await?;
    let price = chain.price_of(1, 3600).await?;
    chain.buy_with_permit(1, 3600, price, &keys[2]).await?;
    let receipt =
        alloy::providers::Provider::get_block_receipts(chain.provider(), (before + 1).into())
            .await?
            .and_then(|r| r.into_iter().next())
            .ok_or_else(|| anyhow::anyhow!("no receipt for the permit purchase"))?;
    rows.push((
        "Marketplace.buyWithPermit (extension, permit included)".to_owned(),
        receipt.gas_used,
    ));
    gas(
        &mut rows,
        "StreamRegistry.deleteStream",
        registry.deleteStream(id.clone()),
    )
    .await?;

    if std::env::args().any(|a| a == "--json") {
        let json: Vec<_> = rows
            .iter()
            .map(|(n, g)| serde_json::json!({ "call": n, "gas": g }))
            .collect();
        println!("{}", serde_json::to_string_pretty(&json)?);
    } else {
        println!("| call | gas |\n|---|---|");
        for (name, g) in rows {
            println!("| {name} | {g} |");
        }
    }
    Ok(())
}
