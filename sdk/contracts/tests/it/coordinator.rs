//! The network coordinator through `Coordinator` against anvil: every call's success and its refusals,
//! in a node's life (register, heartbeat, rebalance, unstake, withdraw), storage requests and the
//! assignment (computed here and by the contract alike), checksum reports, closing, and the upgrade.

use rivulet_contracts::{Coordinator, StreamMetadata, U256};
use rivulet_protocol::{Partition, StreamId, StreamPartId, checksum::IntervalChecksum};

use crate::anvil::{TestChain, address, revert};

const DATA: u128 = 1_000_000_000_000_000_000;

fn data(n: u128) -> U256 {
    U256::from(n * DATA)
}

async fn coordinator(chain: &TestChain, i: usize) -> Coordinator {
    chain.contracts(i).await.coordinator().unwrap()
}

fn peer(i: usize) -> String {
    format!("12D3KooWTest{i}")
}

fn addresses(i: usize) -> Vec<String> {
    vec![format!("/ip4/127.0.0.1/tcp/{}/p2p/{}", 7000 + i, peer(i))]
}

#[tokio::test]
async fn a_node_registers_is_rebalanced_in_and_leaves() {
    let chain = TestChain::start().await;
    let node = coordinator(&chain, 1).await;
    let params = node.parameters().await.unwrap();

    // Refusals first: too little stake, no peer id, calls of a node that is not registered.
    let low = revert(node.register(&peer(1), &addresses(1), data(1)).await);
    assert_eq!(low.name(), "StakeTooLow");
    let empty = revert(node.register("", &addresses(1), params.min_stake).await);
    assert_eq!(empty.name(), "EmptyPeerId");
    assert_eq!(revert(node.heartbeat().await).name(), "NotRegistered");
    assert_eq!(node.node_info(address(1)).await.unwrap(), None);

    // Registered: live, not yet active; a rebalance brings it in and pays its caller.
    let before = chain.contracts(1).await.balance(address(1)).await.unwrap();
    node.register(&peer(1), &addresses(1), params.min_stake)
        .await
        .unwrap();
    let info = node.node_info(address(1)).await.unwrap().unwrap();
    assert_eq!(
        (info.peer_id.as_str(), info.addresses.clone()),
        (peer(1).as_str(), addresses(1))
    );
    assert!(info.live && !info.active);
    assert_eq!(info.stake, params.min_stake);
    let again = revert(
        node.register(&peer(1), &addresses(1), params.min_stake)
            .await,
    );
    assert_eq!(again.name(), "AlreadyRegistered");
    assert!(node.rebalance_needed().await.unwrap());
    let caller = coordinator(&chain, 2).await;
    let outcome = caller.rebalance().await.unwrap();
    assert!(outcome.changed);
    assert_eq!(outcome.reward, params.rebalance_reward);
    assert_eq!(outcome.members.len(), 1);
    let nothing = caller.rebalance().await.unwrap();
    assert!(
        !nothing.changed && nothing.reward.is_zero(),
        "nothing to do, nothing paid"
    );
    assert!(node.node_info(address(1)).await.unwrap().unwrap().active);

    // Addresses and heartbeats.
    let moved = vec![format!("/ip4/127.0.0.1/tcp/7999/p2p/{}", peer(1))];
    node.update_addresses(&moved).await.unwrap();
    node.heartbeat().await.unwrap();
    assert_eq!(
        node.node_info(address(1)).await.unwrap().unwrap().addresses,
        moved
    );

    // Silence past the liveness window makes a rebalance needed; a heartbeat makes it live again.
    chain.advance(params.liveness_window + 1).await;
    assert!(!node.is_live(address(1)).await.unwrap());
    assert!(node.rebalance_needed().await.unwrap());
    node.heartbeat().await.unwrap();
    assert!(!node.rebalance_needed().await.unwrap());

    // Leaving: not before asking, not before the delay, not while active; then the stake comes back.
    assert_eq!(revert(node.withdraw().await).name(), "NotLeaving");
    let leaving = node.request_unstake().await.unwrap();
    assert_eq!(
        revert(node.request_unstake().await).name(),
        "AlreadyLeaving"
    );
    assert_eq!(revert(node.withdraw().await).name(), "UnstakeLocked");
    chain.advance(params.unstake_delay + 1).await;
    assert!(node.chain().chain_time().await.unwrap() >= leaving.withdrawable_at);
    assert_eq!(revert(node.withdraw().await).name(), "StillActive");
    assert!(caller.rebalance().await.unwrap().changed);
    let back = node.withdraw().await.unwrap();
    assert_eq!(back.amount, params.min_stake);
    assert_eq!(
        chain.contracts(1).await.balance(address(1)).await.unwrap(),
        before
    );
    assert_eq!(node.node_info(address(1)).await.unwrap(), None);
}

/// Three registered, rebalanced nodes and a stream of `partitions` the network stores.
async fn stored_network(chain: &TestChain, partitions: u32) -> (Vec<Coordinator>, StreamId) {
    let mut nodes = Vec::new();
    for i in 1..4 {
        let node = coordinator(chain, i).await;
        let stake = node.parameters().await.unwrap().min_stake;
        node.register(&peer(i), &addresses(i), stake).await.unwrap();
        nodes.push(node);
    }
    nodes[0].rebalance().await.unwrap();
    let owner = chain.contracts(0).await;
    let stream = owner
        .create_stream(
            "stored",
            &StreamMetadata {
                partitions,
                ..StreamMetadata::named("Stored", "")
            },
        )
        .await
        .unwrap();
    // Only those who may edit the stream ask for its storage, and only for 1..=100 partitions.
    let stranger = revert(nodes[0].request_storage(&stream, partitions, 3, None).await);
    assert_eq!(stranger.name(), "NoEditPermission");
    let by_owner = owner.coordinator().unwrap();
    let zero = revert(by_owner.request_storage(&stream, 0, 3, None).await);
    assert_eq!(zero.name(), "InvalidPartitions");
    by_owner
        .request_storage(&stream, partitions, 2, Some(86_400))
        .await
        .unwrap();
    (nodes, stream)
}

#[tokio::test]
async fn storage_requests_are_assigned_alike_here_and_on_chain() {
    let chain = TestChain::start().await;
    let (nodes, stream) = stored_network(&chain, 4).await;
    let request = nodes[0].storage_of(&stream).await.unwrap().unwrap();
    assert_eq!(
        (
            request.partitions,
            request.replication,
            request.retention_seconds
        ),
        (4, 2, Some(86_400))
    );
    let assignment = nodes[0].assignment().await.unwrap();
    let parts = assignment.parts();
    assert_eq!(parts.len(), 4);
    for (part, local) in &parts {
        assert_eq!(local.len(), 2);
        assert_eq!(
            &nodes[0].assigned_nodes(part).await.unwrap(),
            local,
            "{part}"
        );
    }
    let held: usize = (1..4).map(|i| assignment.parts_of(address(i)).len()).sum();
    assert_eq!(held, 4 * 2);
    let out_of_range = StreamPartId::new(stream.clone(), Partition::new(4).unwrap());
    assert_eq!(
        revert(nodes[0].assigned_nodes(&out_of_range).await).name(),
        "PartitionOutOfRange"
    );
    // Cancelled: no longer stored, assigned to nobody.
    chain
        .contracts(0)
        .await
        .coordinator()
        .unwrap()
        .cancel_storage(&stream)
        .await
        .unwrap();
    assert_eq!(nodes[0].storage_of(&stream).await.unwrap(), None);
    assert!(nodes[0].assignment().await.unwrap().parts().is_empty());
    let part = StreamPartId::new(stream, Partition::new(0).unwrap());
    assert_eq!(
        revert(nodes[0].assigned_nodes(&part).await).name(),
        "StreamNotStored"
    );
}

#[tokio::test]
async fn reports_finalise_an_interval_and_reward_only_those_who_agree() {
    let chain = TestChain::start().await;
    let (nodes, stream) = stored_network(&chain, 1).await;
    let part = StreamPartId::new(stream, Partition::new(0).unwrap());
    let params = nodes[0].parameters().await.unwrap();
    let length = nodes[0].checksum_interval().await.unwrap();
    // The judges: the part's two replicas; the third node is not one.
    let judges = nodes[0].assigned_nodes(&part).await.unwrap();
    let judge = |a| nodes.iter().find(|n| n.sender() == Some(a)).unwrap();
    let outsider = nodes
        .iter()
        .find(|n| !judges.contains(&n.sender().unwrap()))
        .unwrap();
    let interval = nodes[0].chain().chain_time().await.unwrap() / length + 1;
    let honest = IntervalChecksum {
        interval,
        count: 3,
        hash: [1; 32],
    };
    let altered = IntervalChecksum {
        count: 2,
        hash: [2; 32],
        ..honest
    };
    assert_eq!(
        revert(judge(judges[0]).report(&part, &honest).await).name(),
        "ReportTooEarly"
    );
    let window = nodes[0].report_window_of(interval).await.unwrap();
    let now = nodes[0].chain().chain_time().await.unwrap();
    chain.advance(window.opens_at - now).await;
    let empty = IntervalChecksum { count: 0, ..honest };
    assert_eq!(
        revert(judge(judges[0]).report(&part, &empty).await).name(),
        "EmptyReport"
    );
    assert_eq!(
        revert(outsider.report(&part, &honest).await).name(),
        "NotAssigned"
    );
    // One honest report and one altered: two of two needed (6,666 bps of 2), so not final yet.
    let first = judge(judges[0]).report(&part, &honest).await.unwrap();
    assert!(!first.finalised && first.reward.is_zero());
    assert_eq!(
        revert(judge(judges[0]).report(&part, &honest).await).name(),
        "AlreadyReported"
    );
    let second = judge(judges[1]).report(&part, &altered).await.unwrap();
    assert!(!second.finalised, "a dissent does not finalise");
    assert_eq!(
        nodes[0].final_checksum(&part, interval).await.unwrap(),
        None
    );
    assert_eq!(
        revert(nodes[0].close_interval(&part, interval).await).name(),
        "CloseTooEarly"
    );
    chain.advance(window.closes_at - window.opens_at).await;
    assert_eq!(
        revert(judge(judges[1]).report(&part, &honest).await).name(),
        "ReportTooLate"
    );
    let closed = nodes[0].close_interval(&part, interval).await.unwrap();
    assert!(!closed.is_final, "no majority: nobody judged");
    assert_eq!(
        revert(nodes[0].close_interval(&part, interval).await).name(),
        "AlreadyClosed"
    );

    // The next interval: both agree, it is final, both are paid; closing judges nobody.
    let next = nodes[0].chain().chain_time().await.unwrap() / length + 1;
    let window = nodes[0].report_window_of(next).await.unwrap();
    let now = nodes[0].chain().chain_time().await.unwrap();
    chain.advance(window.opens_at - now).await;
    let agreed = IntervalChecksum {
        interval: next,
        ..honest
    };
    let pool = nodes[0].reward_pool().await.unwrap();
    judge(judges[0]).report(&part, &agreed).await.unwrap();
    let last = judge(judges[1]).report(&part, &agreed).await.unwrap();
    assert!(last.finalised && last.reward == params.report_reward);
    let fin = nodes[0].final_checksum(&part, next).await.unwrap().unwrap();
    assert_eq!((fin.count, fin.checksum.0), (3, [1; 32]));
    assert_eq!(
        nodes[0].reward_pool().await.unwrap(),
        pool - params.report_reward * U256::from(2u8)
    );
    let state = nodes[0].interval_state(&part, next).await.unwrap();
    assert!(state.is_final && state.has_agreed(0) && state.has_agreed(1));
}

#[tokio::test]
async fn a_retired_coordinator_refuses_new_work_and_hands_over_its_pool() {
    let chain = TestChain::start().await;
    let old = chain.contracts(0).await.coordinator().unwrap();
    let successor = rivulet_deploy::deploy_coordinator(
        &chain.chain(0).await,
        chain.deployment.data_token,
        chain.deployment.stream_registry,
        &rivulet_deploy::CoordinatorSetup::development(),
    )
    .await
    .unwrap();
    // A node registered on the old one.
    let node = coordinator(&chain, 2).await;
    let stake = old.parameters().await.unwrap().min_stake;
    node.register(&peer(2), &addresses(2), stake).await.unwrap();
    // Only the owner retires it, once, and only a retired one hands over its pool.
    let stranger = coordinator(&chain, 1).await;
    assert!(stranger.set_successor(successor).await.is_err());
    assert_eq!(revert(old.migrate_reward_pool().await).name(), "NotRetired");
    old.set_successor(successor).await.unwrap();
    assert_eq!(old.successor().await.unwrap(), Some(successor));
    assert_eq!(
        revert(old.set_successor(successor).await).name(),
        "SuccessorAlreadySet"
    );
    assert_eq!(
        revert(stranger.register(&peer(1), &addresses(1), stake).await).name(),
        "Retired"
    );
    // Its nodes take their stakes back at once, without the unstake delay.
    assert_eq!(node.withdraw().await.unwrap().amount, stake);
    let pool = old.reward_pool().await.unwrap();
    let moved = old.migrate_reward_pool().await.unwrap();
    assert_eq!(moved.amount, pool);
    assert!(old.reward_pool().await.unwrap().is_zero());
    let next = Coordinator::at(chain.chain(1).await, successor)
        .await
        .unwrap();
    assert_eq!(next.reward_pool().await.unwrap(), pool * U256::from(2u8));
    next.register(&peer(1), &addresses(1), stake).await.unwrap();
}
