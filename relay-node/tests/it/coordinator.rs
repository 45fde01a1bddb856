//! Five relay node processes on anvil that nobody tells what to store: the network coordinator assigns
//! every stream part to R of them, and when one is killed the others rebalance, backfill and keep
//! serving every event exactly once.

use std::{
    collections::{BTreeMap, BTreeSet},
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use rivulet_contracts::{
    Address as ChainAddress, Contracts, Coordinator, Deployment, PermissionKind, Rpc, Sender,
    StreamMetadata, U256, to_alloy,
};
use rivulet_deploy::dev::{Anvil, deployed_chain, dev_key};
use rivulet_protocol::{
    ChainId, ContentType, MessageChain, Partition, Signer, StreamId, StreamPartId, UnsignedMessage,
};
use serde_json::Value;

use crate::support::{Node, now_ms, start_node};

/// Partitions of the test stream, and nodes per part.
pub(crate) const PARTITIONS: u32 = 3;
pub(crate) const REPLICATION: usize = 3;

/// A chain with the coordinator, a public stream of three partitions the network stores three times,
/// and node accounts funded with ETH and DATA.
pub(crate) struct Network {
    _anvil: Anvil,
    dir: tempfile::TempDir,
    pub(crate) deployment_file: PathBuf,
    deployment: Deployment,
    stream: StreamId,
    pub(crate) device: Signer,
    /// Node account keys, by node index.
    pub(crate) keys: Vec<Signer>,
}

impl Network {
    pub(crate) async fn new(nodes: usize) -> Network {
        let dir = tempfile::tempdir().unwrap();
        let (anvil, deployment) = deployed_chain(Path::new(env!("CARGO_MANIFEST_DIR")))
            .await
            .unwrap();
        let deployment_file = dir.path().join("deployment.json");
        deployment.save(&deployment_file).unwrap();
        let owner = Contracts::connect_http(deployment.clone(), None, Sender::Key(dev_key(1)))
            .await
            .unwrap();
        let stream = owner
            .create_stream(
                "replicated",
                &StreamMetadata {
                    partitions: PARTITIONS,
                    ..StreamMetadata::named("Replicated", "")
                },
            )
            .await
            .unwrap();
        let device = Signer::from_bytes(&[9; 32]).unwrap();
        owner
            .grant(&stream, to_alloy(device.address()), PermissionKind::Publish)
            .await
            .unwrap();
        owner
            .grant(&stream, ChainAddress::ZERO, PermissionKind::Subscribe)
            .await
            .unwrap();
        owner
            .coordinator()
            .unwrap()
            .request_storage(&stream, PARTITIONS, REPLICATION as u8, None)
            .await
            .unwrap();
        let keys: Vec<Signer> = (0..nodes)
            .map(|i| Signer::from_bytes(&[0x40 + i as u8; 32]).unwrap())
            .collect();
        let rpc = Rpc::http(&deployment.rpc_url).unwrap();
        for key in &keys {
            let account = to_alloy(key.address());
            rpc.call(
                "anvil_setBalance",
                serde_json::json!([account.to_string(), "0x56bc75e2d63100000"]), // 100 ETH
            )
            .await
            .unwrap();
            owner
                .faucet(
                    account,
                    U256::from(1_000u64) * U256::from(10u64).pow(U256::from(18u64)),
                )
                .await
                .unwrap();
        }
        Network {
            _anvil: anvil,
            dir,
            deployment_file,
            deployment,
            stream,
            device,
            keys,
        }
    }

    pub(crate) fn node_dir(&self, i: usize) -> PathBuf {
        self.dir.path().join(format!("node-{i}"))
    }

    /// Starts node `i` (its account key written into its data directory first), staking 100 DATA,
    /// bootstrapping from `bootstrap`.
    pub(crate) fn start(&self, i: usize, bootstrap: Option<&str>) -> Node {
        self.start_with(i, bootstrap, &[])
    }

    /// Like [`Network::start`], with `more` flags.
    fn start_with(&self, i: usize, bootstrap: Option<&str>, more: &[&str]) -> Node {
        let dir = self.node_dir(i);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("publisher.key"),
            hex::encode(self.keys[i].to_bytes()),
        )
        .unwrap();
        let mut extra = vec![
            "--coordinator.stake",
            "100",
            "--log.filter",
            "info,relay_node::node::coordination=debug,libp2p_swarm=warn",
        ];
        if let Some(peer) = bootstrap {
            extra.extend(["--network.bootstrap", peer]);
        }
        extra.extend(more);
        start_node(&dir, &self.deployment_file, &extra)
    }

    pub(crate) async fn coordinator(&self) -> Coordinator {
        Contracts::connect_http(self.deployment.clone(), None, Sender::Key(dev_key(0)))
            .await
            .unwrap()
            .coordinator()
            .unwrap()
    }

    pub(crate) fn part(&self, p: u32) -> StreamPartId {
        StreamPartId::new(self.stream.clone(), Partition::new(p).unwrap())
    }
}

/// The parts each node serves, by its /health (`None` for a node that does not answer).
async fn serving(http: &reqwest::Client, node: &Node) -> Option<BTreeSet<String>> {
    let health: Value = http
        .get(format!("{}/health", node.http))
        .send()
        .await
        .ok()?
        .json()
        .await
        .ok()?;
    Some(
        health["storage"]
            .as_array()?
            .iter()
            .filter(|s| s["state"] == "serving")
            .filter_map(|s| s["part"].as_str().map(str::to_owned))
            .collect(),
    )
}

/// Waits until every part is served by exactly the nodes the coordinator assigns it to (and no other
/// running node serves it); returns the assignment by part, as node indexes.
pub(crate) async fn settled(
    net: &Network,
    nodes: &[Option<Node>],
    within: Duration,
) -> BTreeMap<String, BTreeSet<usize>> {
    settled_on(net, &net.coordinator().await, nodes, within).await
}

/// [`settled`], by the assignment of `coordinator`.
async fn settled_on(
    net: &Network,
    coordinator: &Coordinator,
    nodes: &[Option<Node>],
    within: Duration,
) -> BTreeMap<String, BTreeSet<usize>> {
    let http = reqwest::Client::new();
    let index: BTreeMap<ChainAddress, usize> = net
        .keys
        .iter()
        .enumerate()
        .map(|(i, k)| (to_alloy(k.address()), i))
        .collect();
    let deadline = Instant::now() + within;
    loop {
        let assignment = coordinator.assignment().await.unwrap();
        let wanted: BTreeMap<String, BTreeSet<usize>> = assignment
            .parts()
            .into_iter()
            .map(|(part, accounts)| {
                let nodes = accounts
                    .iter()
                    .filter_map(|a| index.get(a).copied())
                    .collect();
                (part.to_string(), nodes)
            })
            .collect();
        let mut actual: BTreeMap<String, BTreeSet<usize>> = BTreeMap::new();
        for (i, node) in nodes.iter().enumerate() {
            let Some(node) = node else { continue };
            for part in serving(&http, node).await.unwrap_or_default() {
                actual.entry(part).or_default().insert(i);
            }
        }
        let complete = wanted.len() == PARTITIONS as usize
            && wanted.values().all(|n| n.len() == REPLICATION)
            && wanted
                .values()
                .flatten()
                .all(|&i| nodes.get(i).is_some_and(Option::is_some));
        if complete && actual == wanted {
            return wanted;
        }
        let last = format!("wanted {wanted:?}, serving {actual:?}");
        if Instant::now() > deadline {
            panic!("the network did not settle: {last}\n{}", logs(net));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// The last lines of every node's log.
pub(crate) fn logs(net: &Network) -> String {
    (0..net.keys.len())
        .map(|i| {
            let log = std::fs::read_to_string(net.node_dir(i).join("node.log")).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(30).collect();
            format!(
                "--- node {i}\n{}",
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Publishes `count` chained events to each partition through `node`; returns their contents by part.
async fn publish_round(
    net: &Network,
    node: &Node,
    chains: &mut [MessageChain],
    round: &str,
    count: usize,
    sent: &mut BTreeMap<String, Vec<String>>,
) {
    let http = reqwest::Client::new();
    for p in 0..PARTITIONS {
        let part = net.part(p);
        for n in 0..count {
            let content = format!(r#"{{"round":"{round}","n":{n}}}"#);
            let body = UnsignedMessage::data(
                &part,
                net.device.address(),
                ChainId::new("replicated").unwrap(),
                chains[p as usize].next(now_ms()),
                ContentType::Json,
                content.clone().into_bytes(),
            );
            let wire = net.device.sign(body).unwrap().encode().unwrap();
            let (status, answer) = crate::support::publish(&http, node, &wire).await;
            assert_eq!(status, 200, "publish to {part}: {answer}");
            sent.entry(part.to_string()).or_default().push(content);
        }
    }
}

/// A node's answer for `part`'s history from `from_ms` to `to_ms`: the JSON messages.
pub(crate) async fn history_range(
    node: &Node,
    part: &StreamPartId,
    from_ms: u64,
    to_ms: u64,
) -> Vec<Value> {
    let answer: Value = reqwest::Client::new()
        .get(format!("{}/api/v1/history", node.http))
        .query(&[
            ("stream", part.stream_id.as_str()),
            ("partition", &part.partition.get().to_string()),
            ("from", &from_ms.to_string()),
            ("to", &to_ms.to_string()),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(answer["truncated"], false, "{answer}");
    answer["messages"].as_array().unwrap().clone()
}

/// The contents a node answers for `part`'s history (all of it), in order.
async fn resend(node: &Node, part: &StreamPartId) -> Vec<String> {
    let answer: Value = reqwest::Client::new()
        .get(format!("{}/api/v1/history", node.http))
        .query(&[
            ("stream", part.stream_id.as_str()),
            ("partition", &part.partition.get().to_string()),
            ("from", "0"),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(answer["truncated"], false, "{answer}");
    answer["messages"]
        .as_array()
        .unwrap_or_else(|| panic!("no messages: {answer}"))
        .iter()
        .map(|m| m["content"].to_string())
        .collect()
}

/// Waits until `node` answers every event of `sent[part]` exactly once for each part it serves.
async fn serves_everything(node: &Node, part: &StreamPartId, sent: &[String]) {
    let expected: BTreeSet<String> = sent
        .iter()
        .map(|c| serde_json::from_str::<Value>(c).unwrap().to_string())
        .collect();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let got = resend(node, part).await;
        let unique: BTreeSet<String> = got.iter().cloned().collect();
        if unique == expected {
            assert_eq!(got.len(), unique.len(), "{part}: an event came twice");
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{} answers {part} with {} of {} events (missing {:?})",
            node.http,
            unique.len(),
            expected.len(),
            expected.difference(&unique).take(5).collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_nodes_store_what_the_coordinator_assigns_and_recover_from_a_kill() {
    let net = Network::new(5).await;
    let first = net.start(0, None);
    let bootstrap = first.tcp_address();
    let mut nodes: Vec<Option<Node>> = vec![Some(first)];
    for i in 1..5 {
        nodes.push(Some(net.start(i, Some(&bootstrap))));
    }
    let coordinator = net.coordinator().await;

    // Registered, rebalanced, assigned: each part on R nodes, served by exactly those.
    let before = settled(&net, &nodes, Duration::from_secs(90)).await;
    assert_eq!(coordinator.active_set().await.unwrap().members.len(), 5);

    let mut chains = vec![MessageChain::new(); PARTITIONS as usize];
    let mut sent = BTreeMap::new();
    let entry = nodes[0].as_ref().unwrap();
    publish_round(&net, entry, &mut chains, "before", 20, &mut sent).await;
    for (part, replicas) in &before {
        let part: StreamPartId = part.parse().unwrap();
        for &i in replicas {
            serves_everything(nodes[i].as_ref().unwrap(), &part, &sent[&part.to_string()]).await;
        }
    }

    // Kill -9 a replica of partition 0 (not the entry node); keep publishing while its heartbeat lapses
    // and the others rebalance it away.
    let victim = *before[&net.part(0).to_string()]
        .iter()
        .find(|&&i| i != 0)
        .unwrap();
    let pool_before = coordinator.reward_pool().await.unwrap();
    let epoch_before = coordinator.epoch().await.unwrap();
    drop(nodes[victim].take());
    let entry = nodes[0].as_ref().unwrap();
    let change_deadline = Instant::now() + Duration::from_secs(60);
    let mut round = 0;
    while coordinator.epoch().await.unwrap() == epoch_before {
        assert!(
            Instant::now() < change_deadline,
            "nobody rebalanced the dead node away\n{}",
            logs(&net)
        );
        round += 1;
        publish_round(
            &net,
            entry,
            &mut chains,
            &format!("during-{round}"),
            2,
            &mut sent,
        )
        .await;
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let active = coordinator.active_set().await.unwrap();
    assert_eq!(active.members.len(), 4);
    assert!(!active.contains(to_alloy(net.keys[victim].address())));
    let rebalance_reward = coordinator.parameters().await.unwrap().rebalance_reward;
    assert!(
        coordinator.reward_pool().await.unwrap() <= pool_before - rebalance_reward,
        "the rebalance's caller was paid from the pool"
    );

    // The parts move to live nodes, which backfill; every replica then answers every event once.
    let after = settled(&net, &nodes, Duration::from_secs(60)).await;
    assert!(after.values().all(|n| !n.contains(&victim)));
    publish_round(&net, entry, &mut chains, "after", 5, &mut sent).await;
    for (part, replicas) in &after {
        let part: StreamPartId = part.parse().unwrap();
        for &i in replicas {
            serves_everything(nodes[i].as_ref().unwrap(), &part, &sent[&part.to_string()]).await;
        }
    }
    // Operators see the same from the command line.
    let cli = |args: &[&str]| -> Vec<Value> {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_relay-node"))
            .args(args)
            .args(["--chain.deployment", net.deployment_file.to_str().unwrap()])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    };
    let parts = cli(&["network", "parts"]);
    assert_eq!(parts.len(), PARTITIONS as usize);
    assert!(
        parts
            .iter()
            .all(|p| p["nodes"].as_array().unwrap().len() == REPLICATION)
    );
    let node0 = net.node_dir(0);
    let status = cli(&[
        "node",
        "status",
        "--storage.data-dir",
        node0.to_str().unwrap(),
    ]);
    let mine: BTreeSet<String> = status[0]["parts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap().to_owned())
        .collect();
    let expected: BTreeSet<String> = after
        .iter()
        .filter(|(_, n)| n.contains(&0))
        .map(|(p, _)| p.clone())
        .collect();
    assert_eq!(mine, expected);
    assert_eq!(status[0]["node"]["live"], true);
    assert_eq!(cli(&["network", "nodes"]).len(), 5);

    // And a node that stores none of a part still answers it, from a replica.
    let part0 = net.part(0);
    if let Some(outsider) = (0..5).find(|i| *i != victim && !after[&part0.to_string()].contains(i))
    {
        serves_everything(
            nodes[outsider].as_ref().unwrap(),
            &part0,
            &sent[&part0.to_string()],
        )
        .await;
    }
}

/// Three replicas, one of which acknowledges but never stores events carrying a marker: the honest two
/// finalise the interval, the altered one dissents and is not rewarded, and a reader checking each
/// node's answer against the final checksum catches the altered one, naming the interval.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_that_drops_an_event_dissents_and_its_readers_notice() {
    let net = Network::new(3).await;
    let first = net.start(0, None);
    let bootstrap = first.tcp_address();
    let nodes = vec![
        Some(first),
        Some(net.start(1, Some(&bootstrap))),
        Some(net.start_with(2, Some(&bootstrap), &["--testing.drop-stored", "withheld"])),
    ];
    settled(&net, &nodes, Duration::from_secs(90)).await;
    let coordinator = net.coordinator().await;
    let interval_ms = coordinator.checksum_interval().await.unwrap() * 1000;
    let part = net.part(0);
    let http = reqwest::Client::new();

    // Events in one interval, one of them carrying the marker — an interval that begins after the
    // assignment did (the contract judges no interval with the assignment that changed during it).
    let epoch_started_ms = coordinator.active_set().await.unwrap().started_at * 1000;
    let next_interval_ms = (epoch_started_ms / interval_ms + 1) * interval_ms;
    while now_ms() < next_interval_ms + 100 {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut chain = MessageChain::new();
    let mut stamped = Vec::new();
    for n in 0..6 {
        let content = if n == 3 {
            r#"{"n":3,"tag":"withheld"}"#.to_owned()
        } else {
            format!(r#"{{"n":{n}}}"#)
        };
        let at = chain.next(now_ms());
        stamped.push(at.0.timestamp);
        let body = UnsignedMessage::data(
            &part,
            net.device.address(),
            ChainId::new("altered").unwrap(),
            at,
            ContentType::Json,
            content.into_bytes(),
        );
        let wire = net.device.sign(body).unwrap().encode().unwrap();
        let (status, answer) =
            crate::support::publish(&http, nodes[0].as_ref().unwrap(), &wire).await;
        assert_eq!(status, 200, "{answer}");
    }
    let interval = stamped[3] / interval_ms;

    // The interval becomes final once its report window opens and the honest two agree.
    let deadline = Instant::now() + Duration::from_secs(90);
    let final_checksum = loop {
        if let Some(f) = coordinator.final_checksum(&part, interval).await.unwrap() {
            break f;
        }
        assert!(
            Instant::now() < deadline,
            "interval {interval} did not become final\n{}",
            logs(&net)
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let in_interval = stamped
        .iter()
        .filter(|t| **t / interval_ms == interval)
        .count();
    assert_eq!(final_checksum.count, in_interval as u64, "the honest count");

    // The altered node dissents (once it has reported): not among those who agreed, so not rewarded.
    let judges = coordinator
        .interval_assignment(&part, interval)
        .await
        .unwrap();
    let position = |i: usize| {
        judges
            .iter()
            .position(|a| *a == to_alloy(net.keys[i].address()))
            .unwrap()
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    let state = loop {
        let state = coordinator.interval_state(&part, interval).await.unwrap();
        if state.has_reported(position(2)) {
            break state;
        }
        assert!(Instant::now() < deadline, "the altered node never reported");
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    assert!(state.has_agreed(position(0)) && state.has_agreed(position(1)));
    assert!(
        !state.has_agreed(position(2)),
        "the altered node is not rewarded"
    );

    // Readers check each node's answer against the final checksum.
    let (from, to) = (interval * interval_ms, (interval + 1) * interval_ms - 1);
    let wires = |messages: Vec<Value>| -> Vec<Vec<u8>> {
        messages
            .iter()
            .map(|m| hex::decode(m["wire"].as_str().unwrap()).unwrap())
            .collect()
    };
    for honest in [0, 1] {
        let answer = wires(history_range(nodes[honest].as_ref().unwrap(), &part, from, to).await);
        let checked = coordinator
            .verify_history(&part, from, to, &answer)
            .await
            .unwrap();
        assert_eq!(checked.verified, vec![interval]);
    }
    let altered = wires(history_range(nodes[2].as_ref().unwrap(), &part, from, to).await);
    assert_eq!(
        altered.len(),
        in_interval - 1,
        "the altered node withheld one event"
    );
    let error = coordinator
        .verify_history(&part, from, to, &altered)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        error.contains(&format!("interval {interval} of {part}")),
        "{error}"
    );

    // The command line's resend checks the same way.
    let resend_verified = |i: usize| {
        std::process::Command::new(env!("CARGO_BIN_EXE_relay-node"))
            .args([
                "resend",
                part.stream_id.as_str(),
                "--last",
                "100",
                "--verify",
            ])
            .args(["--node", &nodes[i].as_ref().unwrap().http])
            .args(["--chain.deployment", net.deployment_file.to_str().unwrap()])
            .output()
            .unwrap()
    };
    let honest = resend_verified(0);
    let said = String::from_utf8_lossy(&honest.stderr);
    assert!(
        honest.status.success() && said.contains("verified against the final checksums: 1"),
        "{said}"
    );
    let caught = resend_verified(2);
    let said = String::from_utf8_lossy(&caught.stderr);
    assert!(
        !caught.status.success() && said.contains(&format!("interval {interval}")),
        "{said}"
    );

    // Once the report window is over the part's first replica closes the interval: the dissenter loses
    // weight, and so a share of its future assignments.
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let state = coordinator.interval_state(&part, interval).await.unwrap();
        if state.closed {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "nobody closed interval {interval}\n{}",
            logs(&net)
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let weight = |i: usize| {
        let coordinator = coordinator.clone();
        let account = to_alloy(net.keys[i].address());
        async move {
            coordinator
                .node_info(account)
                .await
                .unwrap()
                .unwrap()
                .weight
        }
    };
    assert!(
        weight(2).await < weight(0).await,
        "the dissenter lost weight"
    );
}

/// A network upgrade: the owner names a successor coordinator and the stream's owner asks it to store
/// the stream. The nodes, told nothing, withdraw their stakes from the retired coordinator, register
/// with the successor with the same stake, and store what it assigns.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_follow_a_successor_coordinator_by_themselves() {
    let net = Network::new(3).await;
    let first = net.start(0, None);
    let bootstrap = first.tcp_address();
    let nodes = vec![
        Some(first),
        Some(net.start(1, Some(&bootstrap))),
        Some(net.start(2, Some(&bootstrap))),
    ];
    settled(&net, &nodes, Duration::from_secs(90)).await;
    let old = net.coordinator().await;
    let stake = old
        .node_info(to_alloy(net.keys[0].address()))
        .await
        .unwrap()
        .unwrap()
        .stake;

    let owner = Contracts::connect_http(net.deployment.clone(), None, Sender::Key(dev_key(0)))
        .await
        .unwrap();
    let successor = rivulet_deploy::deploy_coordinator(
        owner.chain(),
        net.deployment.data_token,
        net.deployment.stream_registry,
        &rivulet_deploy::CoordinatorSetup::development(),
    )
    .await
    .unwrap();
    old.set_successor(successor).await.unwrap();
    let stream_owner =
        Contracts::connect_http(net.deployment.clone(), None, Sender::Key(dev_key(1)))
            .await
            .unwrap()
            .with_coordinator(successor);
    stream_owner
        .coordinator()
        .unwrap()
        .request_storage(&net.stream, PARTITIONS, REPLICATION as u8, None)
        .await
        .unwrap();

    // Each node leaves the old coordinator with its stake and joins the new one with the same.
    let next = owner.with_coordinator(successor).coordinator().unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    for key in &net.keys {
        let account = to_alloy(key.address());
        loop {
            let gone = old.node_info(account).await.unwrap().is_none();
            let joined = next.node_info(account).await.unwrap().map(|n| n.stake);
            if gone && joined == Some(stake) {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{account}: still on the old coordinator: {gone}, on the successor with {joined:?}\n{}",
                logs(&net)
            );
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
    assert_eq!(
        old.total_staked().await.unwrap(),
        U256::ZERO,
        "every stake withdrawn"
    );

    // They store what the successor assigns, each part on R of them, and serve it.
    let assigned = settled_on(&net, &next, &nodes, Duration::from_secs(90)).await;
    assert_eq!(next.active_set().await.unwrap().members.len(), 3);
    let mut chains = vec![MessageChain::new(); PARTITIONS as usize];
    let mut sent = BTreeMap::new();
    publish_round(
        &net,
        nodes[0].as_ref().unwrap(),
        &mut chains,
        "after the upgrade",
        5,
        &mut sent,
    )
    .await;
    for (part, replicas) in &assigned {
        let part: StreamPartId = part.parse().unwrap();
        for &i in replicas {
            serves_everything(nodes[i].as_ref().unwrap(), &part, &sent[&part.to_string()]).await;
        }
    }
}
