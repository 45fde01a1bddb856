//! Measures the gas of the main contract calls on a fresh anvil chain and prints a Markdown table (and
//! JSON with `--json`). `cargo run -p rivulet-deploy --example gas_report`; figures go into BENCHMARKS.md.

use std::path::Path;

use anyhow::Result;
use rivulet_contracts::{
    Address, B256, Chain, Contracts, Deployment, Rpc, Sender, U256,
    alloy_sol_types::SolCall,
    bindings::{DataToken, Marketplace, StreamRegistry},
    to_alloy,
};
use rivulet_deploy::{
    deploy,
    dev::{Anvil, LOCAL_CHAIN_ID, anvil_binary, dev_key},
};

async fn gas<C: SolCall>(
    rows: &mut Vec<(String, u64)>,
    name: &str,
    chain: &Chain,
    to: Address,
    call: C,
) -> Result<()> {
    let receipt = chain.send(to, call).await?;
    rows.push((name.to_owned(), receipt.gas_used));
    Ok(())
}

/// Moves the chain's clock `secs` ahead and mines a block.
async fn advance(rpc: &Rpc, secs: u64) -> Result<()> {
    rpc.call("evm_increaseTime", serde_json::json!([secs]))
        .await?;
    rpc.call("evm_mine", serde_json::json!([])).await?;
    Ok(())
}

/// The network coordinator's calls, in a node's life: three nodes (dev accounts 3..6) register, the
/// seller asks for storage, a rebalance assigns the part, the three report an interval (the second report
/// finalises it), it is closed; one node leaves and withdraws.
async fn coordinator_gas(
    d: &Deployment,
    stream: &str,
    rows: &mut Vec<(String, u64)>,
) -> Result<()> {
    let at = |i: usize| {
        let d = d.clone();
        async move {
            Contracts::connect_http(d, None, Sender::Key(dev_key(i)))
                .await?
                .coordinator()
                .map_err(anyhow::Error::from)
        }
    };
    let rpc = Rpc::http(&d.rpc_url)?;
    let stake = U256::from(100u64) * U256::from(10u64).pow(U256::from(18u64));
    let mut row = |name: &str, gas: u64| rows.push((format!("NetworkCoordinator.{name}"), gas));
    let nodes = [at(3).await?, at(4).await?, at(5).await?];
    for (i, node) in nodes.iter().enumerate() {
        let address = format!("/ip4/127.0.0.1/tcp/{}/p2p/12D3KooWGas{i}", 7000 + i);
        let receipt = node
            .register(&format!("12D3KooWGas{i}"), &[address], stake)
            .await?;
        if i == 0 {
            row("register (stake approved before)", receipt.gas_used);
        }
    }
    let receipt = nodes[0]
        .update_addresses(&["/ip4/127.0.0.1/tcp/7100/p2p/12D3KooWGas0".to_owned()])
        .await?;
    row("updateAddresses (one address)", receipt.gas_used);
    row("heartbeat", nodes[1].heartbeat().await?.gas_used);
    let owner = at(1).await?;
    let id: rivulet_protocol::StreamId = stream.parse()?;
    row(
        "requestStorage",
        owner.request_storage(&id, 1, 3, None).await?.gas_used,
    );
    let outcome = nodes[2].rebalance().await?;
    row(
        "rebalance (3 nodes join, caller paid)",
        outcome.receipt.gas_used,
    );
    row(
        "rebalance (nothing changed)",
        nodes[2].rebalance().await?.receipt.gas_used,
    );

    // An interval that begins after the rebalance, reported once its window opens.
    let interval_secs = nodes[0].checksum_interval().await?;
    let now = nodes[0].chain().chain_time().await?;
    let interval = now / interval_secs + 1;
    let params = nodes[0].parameters().await?;
    let opens = (interval + 1) * interval_secs + params.settle_time;
    advance(&rpc, opens - now + 1).await?;
    let part =
        rivulet_protocol::StreamPartId::new(id.clone(), rivulet_protocol::Partition::new(0)?);
    let checksum = rivulet_protocol::checksum::IntervalChecksum {
        interval,
        count: 5,
        hash: [7; 32],
    };
    for (i, name) in [
        "report (first: fixes the interval's judges)",
        "report (second: finalises, pays both)",
        "report (after final: agrees, paid)",
    ]
    .iter()
    .enumerate()
    {
        row(
            name,
            nodes[i].report(&part, &checksum).await?.receipt.gas_used,
        );
    }
    advance(&rpc, params.report_window).await?;
    row(
        "closeInterval (final, nobody to judge)",
        owner
            .close_interval(&part, interval)
            .await?
            .receipt
            .gas_used,
    );
    row(
        "requestUnstake",
        nodes[2].request_unstake().await?.receipt.gas_used,
    );
    row(
        "rebalance (a node leaves)",
        nodes[0].rebalance().await?.receipt.gas_used,
    );
    advance(&rpc, params.unstake_delay + 1).await?;
    row("withdraw", nodes[2].withdraw().await?.receipt.gas_used);
    row(
        "fund (allowance approved before)",
        nodes[0]
            .fund(U256::from(10u64).pow(U256::from(18u64)))
            .await?
            .gas_used,
    );
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
    let chain = |i: usize| {
        let url = url.clone();
        async move { Chain::connect(Rpc::http(&url)?, Sender::Key(dev_key(i))).await }
    };
    let buyer = to_alloy(dev_key(2).address());
    let nodes: Vec<Address> = (3..6).map(|i| to_alloy(dev_key(i).address())).collect();
    let d = deploy(
        &chain(0).await?,
        &url,
        &[&[buyer][..], &nodes].concat(),
        U256::from(10u64).pow(U256::from(24u64)),
    )
    .await?;
    let seller = to_alloy(dev_key(1).address());
    let (seller_chain, buyer_chain) = (chain(1).await?, chain(2).await?);
    let (registry, market, token) = (d.stream_registry, d.marketplace, d.data_token);
    let id = format!("{}/gas/stream", format!("{seller:?}").to_lowercase());
    let one = U256::from(1u64);
    let mut rows = Vec::new();
    let s = &seller_chain;

    gas(
        &mut rows,
        "StreamRegistry.createStream (short metadata)",
        s,
        registry,
        StreamRegistry::createStreamCall {
            path: "gas/stream".into(),
            metadata: r#"{"name":"Gas","partitions":1}"#.into(),
        },
    )
    .await?;
    gas(
        &mut rows,
        "StreamRegistry.updateStreamMetadata",
        s,
        registry,
        StreamRegistry::updateStreamMetadataCall {
            streamId: id.clone(),
            metadata: r#"{"name":"Gas 2"}"#.into(),
        },
    )
    .await?;
    gas(
        &mut rows,
        "StreamRegistry.grantPermission (publish)",
        s,
        registry,
        StreamRegistry::grantPermissionCall {
            streamId: id.clone(),
            user: Address::repeat_byte(1),
            kind: 2,
        },
    )
    .await?;
    gas(
        &mut rows,
        "StreamRegistry.setExpirationTime (subscribe)",
        s,
        registry,
        StreamRegistry::setExpirationTimeCall {
            streamId: id.clone(),
            user: Address::repeat_byte(2),
            kind: 3,
            expiration: u64::MAX - 1,
        },
    )
    .await?;
    gas(
        &mut rows,
        "StreamRegistry.revokePermission",
        s,
        registry,
        StreamRegistry::revokePermissionCall {
            streamId: id.clone(),
            user: Address::repeat_byte(1),
            kind: 2,
        },
    )
    .await?;
    gas(
        &mut rows,
        "StreamRegistry.grantPublicPermission (subscribe)",
        s,
        registry,
        StreamRegistry::grantPublicPermissionCall {
            streamId: id.clone(),
            kind: 3,
        },
    )
    .await?;
    gas(
        &mut rows,
        "StreamRegistry.grantPermission (grant, to the marketplace)",
        s,
        registry,
        StreamRegistry::grantPermissionCall {
            streamId: id.clone(),
            user: market,
            kind: 4,
        },
    )
    .await?;
    gas(
        &mut rows,
        "Marketplace.createProduct (1 stream)",
        s,
        market,
        Marketplace::createProductCall {
            streams: vec![id.clone()],
            beneficiary: seller,
            pricePerSecond: U256::from(1_000u64),
            minimumSeconds: 60,
            metadata: r#"{"name":"Gas product"}"#.into(),
            termsUri: "ipfs://terms".into(),
            termsHash: B256::ZERO,
        },
    )
    .await?;
    gas(
        &mut rows,
        "Marketplace.setPrice",
        s,
        market,
        Marketplace::setPriceCall {
            productId: one,
            pricePerSecond: U256::from(2_000u64),
        },
    )
    .await?;
    gas(
        &mut rows,
        "Marketplace.pauseProduct",
        s,
        market,
        Marketplace::pauseProductCall { productId: one },
    )
    .await?;
    gas(
        &mut rows,
        "Marketplace.resumeProduct",
        s,
        market,
        Marketplace::resumeProductCall { productId: one },
    )
    .await?;
    gas(
        &mut rows,
        "DataToken.approve",
        &buyer_chain,
        token,
        DataToken::approveCall {
            spender: market,
            value: U256::MAX,
        },
    )
    .await?;
    for name in [
        "Marketplace.buy (first licence)",
        "Marketplace.buy (extension)",
    ] {
        gas(
            &mut rows,
            name,
            &buyer_chain,
            market,
            Marketplace::buyCall {
                productId: one,
                seconds_: 3600,
                maxPrice: U256::MAX,
            },
        )
        .await?;
    }
    // The permit signed by the client, as buyers without an allowance do.
    let buyer_contracts = Contracts::connect_http(d.clone(), None, Sender::Key(dev_key(2))).await?;
    let price = buyer_contracts.price_of(1, 3600).await?;
    let deadline = buyer_contracts.chain_time().await? + 3600;
    let signature = buyer_contracts.sign_permit(market, price, deadline).await?;
    gas(
        &mut rows,
        "Marketplace.buyWithPermit (extension, permit included)",
        &buyer_chain,
        market,
        Marketplace::buyWithPermitCall {
            productId: one,
            seconds_: 3600,
            maxPrice: price,
            deadline: U256::from(deadline),
            v: signature[64],
            r: B256::from_slice(&signature[..32]),
            s: B256::from_slice(&signature[32..64]),
        },
    )
    .await?;
    coordinator_gas(&d, &id, &mut rows).await?;
    gas(
        &mut rows,
        "StreamRegistry.deleteStream",
        s,
        registry,
        StreamRegistry::deleteStreamCall {
            streamId: id.clone(),
        },
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
