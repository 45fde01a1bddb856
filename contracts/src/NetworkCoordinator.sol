// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Permit.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {StreamRegistry} from "./StreamRegistry.sol";

/// @title Rivulet network coordinator: the node set, storage assignments and rolling-checksum reports.
/// @notice The network coordinates itself through this contract instead of a coordination service
/// (whitepaper 2.4.5-2.4.7). It holds:
///
/// - the **nodes**: each relay node's account (its secp256k1 key, `msg.sender`), libp2p peer id, dial
///   addresses, DATA stake, performance weight and when it was last seen (a heartbeat or a report);
/// - the **active set**: the node accounts and weights snapshotted by the last effective `rebalance()`,
///   numbered by `epoch`. A rebalance is effective when the live set (registered, not leaving, seen within
///   `livenessWindow`) differs in membership from the active set; only then does it pay its caller;
/// - **storage requests**: which streams the network stores, with how many partitions and replicas;
/// - **rolling checksums**: per stream part and fixed interval of event time, the assigned nodes report
///   `(checksum, count)` (PROTOCOL.md, "Rolling checksums"); when enough agree the interval is final.
///
/// **Assignment** is computed off chain by everyone identically from the active set: a stream part
/// `(streamId, partition)` is stored by the R active nodes with the lowest score
/// `uint256(keccak256(abi.encode(account, keccak256(bytes(streamId)), uint256(partition)))) / weight`
/// (integer division; ties broken by the lower account), listed in that order. R is the stream's
/// replication, or every active node when fewer are active. `assignedNodes` implements exactly this rule.
///
/// **Weights, not slashing.** A node's weight starts at 100; every report that agrees with an interval's
/// final value adds 5 (up to 100), every dissenting or missing report of a finalised interval takes 25
/// (down to 1). A lower weight raises the node's scores, so it is assigned fewer stream parts. Weights
/// enter the active set at the next effective rebalance. Stakes are never taken: an honest node can be
/// judged wrong by a buggy majority or a network split, and a weight loss heals itself once it agrees
/// again, whereas a slashed stake is gone. Slashing can come later, once the judging has a track record.
///
/// **Network upgrade** (whitepaper 2.4.6): the owner names a successor with `setSuccessor`; from then on
/// this contract takes no registrations, storage requests, reports, rebalances or funding, and every node
/// may `withdraw()` its stake at once to register with the successor. contracts/README.md has the procedure.
contract NetworkCoordinator is Ownable {
    using SafeERC20 for IERC20;

    // ---------------------------------------------------------------------------------------------
    // Types
    // ---------------------------------------------------------------------------------------------

    /// The parameters the owner may change (the checksum interval, token and registry are fixed).
    struct Parameters {
        /// The least stake (DATA, 18 decimals) a node must put up to register.
        uint256 minStake;
        /// How often (seconds) a node with nothing to report should send a heartbeat. Advisory: nodes read it.
        uint64 heartbeatInterval;
        /// A node counts as live while it was last seen (heartbeat or report) at most this many seconds ago.
        uint64 livenessWindow;
        /// Seconds between `requestUnstake()` and the earliest `withdraw()`.
        uint64 unstakeDelay;
        /// Seconds after an interval's end before reports are taken, so late events can arrive everywhere.
        uint64 settleTime;
        /// Reports for an interval are taken until this many seconds after its end; then it can be closed.
        uint64 reportWindow;
        /// The share of an interval's assigned nodes (basis points) that must agree to finalise it:
        /// `ceil(thresholdBps * assigned / 10000)` reports. More than 5000, at most 10000.
        uint16 thresholdBps;
        /// Replication of a storage request that asks for 0.
        uint8 defaultReplication;
        /// DATA paid from the reward pool for each report that agrees with the final value.
        uint256 reportReward;
        /// DATA paid from the reward pool to the caller of an effective `rebalance()`.
        uint256 rebalanceReward;
    }

    /// What is stored about a node. The first slot holds everything heartbeats, reports and rebalances
    /// touch, so each of them writes one slot.
    struct Node {
        /// When the node was last seen (registration, heartbeat or report), chain time.
        uint64 lastSeen;
        /// When the node asked to unstake (0: it has not).
        uint64 leavingSince;
        /// Performance weight 1..100; 0 means not registered.
        uint16 weight;
        /// Whether the node is in the active set.
        bool active;
        /// Position in the node list.
        uint32 index;
        /// DATA staked.
        uint256 stake;
        /// libp2p peer id.
        string peerId;
        /// Dial addresses (multiaddrs, comma-separated).
        string addresses;
    }

    /// A node as the views return it.
    struct NodeInfo {
        /// The node's account.
        address account;
        /// libp2p peer id.
        string peerId;
        /// Dial addresses.
        string addresses;
        /// DATA staked.
        uint256 stake;
        /// Current performance weight (the active set holds the weight snapshotted at the last rebalance).
        uint16 weight;
        /// When last seen.
        uint64 lastSeen;
        /// When it asked to unstake (0: not leaving).
        uint64 leavingSince;
        /// Whether it is in the active set.
        bool active;
        /// Whether it is live now (registered, not leaving, seen within the liveness window).
        bool live;
    }

    /// A member of the active set: account and snapshotted weight, one storage slot.
    struct Member {
        /// The node's account.
        address account;
        /// Its weight when the set was taken.
        uint16 weight;
    }

    /// A storage request, one slot. `partitions == 0` means not stored.
    struct StorageRequest {
        /// Partitions to store, 1..100.
        uint32 partitions;
        /// Nodes per stream part.
        uint8 replication;
        /// How long nodes keep events (seconds; 0: for ever).
        uint64 retentionSeconds;
        /// When the network started storing the stream (chain time); intervals before it are not judged.
        uint64 since;
        /// Position + 1 in the list of stored streams.
        uint32 position;
    }

    /// The state of one checksum interval of one stream part.
    struct Interval {
        /// The epoch whose assignment judges the interval (fixed by its first report).
        uint64 epoch;
        /// The replication the assignment was taken with.
        uint8 replication;
        /// How many nodes were assigned (0: no report yet).
        uint8 size;
        /// Bit i: the i-th assigned node reported.
        uint16 reported;
        /// Bit i: the i-th assigned node's report agrees with the final value.
        uint16 agreed;
        /// A threshold of assigned nodes agreed.
        bool isFinal;
        /// Closed after its report window: dissent and silence were judged.
        bool closed;
        /// The final event count.
        uint64 finalCount;
        /// The final checksum.
        bytes32 finalChecksum;
    }

    // ---------------------------------------------------------------------------------------------
    // Constants and state
    // ---------------------------------------------------------------------------------------------

    /// A new node's weight, and the most any node has.
    uint16 public constant MAX_WEIGHT = 100;
    /// The least weight a node can fall to.
    uint16 public constant MIN_WEIGHT = 1;
    /// Weight lost per dissenting or missing report of a finalised interval.
    uint16 public constant WEIGHT_PENALTY = 25;
    /// Weight regained per report agreeing with the final value.
    uint16 public constant WEIGHT_RECOVERY = 5;
    /// The most replicas a stream may ask for (reports are tracked in 16-bit masks).
    uint8 public constant MAX_REPLICATION = 16;
    /// The most partitions a stream has (PROTOCOL.md).
    uint32 public constant MAX_PARTITIONS = 100;
    /// The longest peer id or address string a node may register.
    uint256 public constant MAX_STRING_LENGTH = 1024;

    /// The DATA token stakes and rewards are paid in.
    IERC20 public immutable token;
    /// The stream registry whose edit permission storage requests need.
    StreamRegistry public immutable registry;
    /// Length of a checksum interval in seconds: interval k covers event timestamps
    /// `[k * checksumInterval * 1000, (k + 1) * checksumInterval * 1000)` ms. Fixed: changing it would
    /// renumber every interval (a new interval length means a successor contract).
    uint64 public immutable checksumInterval;

    /// @dev The owner-settable parameters.
    Parameters private _params;

    /// The active set's number; bumped by every effective rebalance.
    uint64 public epoch;
    /// When the current epoch began (chain time).
    uint64 public epochStartedAt;
    /// The coordinator that replaces this one (zero while this one is in service).
    address public successor;
    /// DATA available for rewards (separate from stakes).
    uint256 public rewardPool;
    /// DATA staked by all nodes.
    uint256 public totalStaked;

    /// @dev Registered nodes by account (`weight == 0`: not registered).
    mapping(address => Node) private _nodes;
    /// @dev Registered node accounts, dense (swap-and-pop on withdraw).
    address[] private _nodeList;
    /// @dev The active set of the current epoch.
    Member[] private _active;

    /// @dev Storage requests by `keccak256(bytes(streamId))`.
    mapping(bytes32 => StorageRequest) private _storage;
    /// @dev Stored stream ids, dense (swap-and-pop on cancel).
    string[] private _stored;

    /// @dev `keccak256(abi.encode(partKey, epoch, replication))` => assigned nodes, lowest score first.
    mapping(bytes32 => address[]) private _assignments;
    /// @dev `keccak256(abi.encode(partKey, interval))` => interval state.
    mapping(bytes32 => Interval) private _intervals;
    /// @dev Interval key => assigned position => `keccak256(abi.encode(checksum, count))` of that node's report.
    mapping(bytes32 => mapping(uint256 => bytes32)) private _reports;

    // ---------------------------------------------------------------------------------------------
    // Events
    // ---------------------------------------------------------------------------------------------

    /// A node registered with `stake` DATA.
    event NodeRegistered(address indexed node, string peerId, string addresses, uint256 stake);
    /// A node changed its dial addresses.
    event NodeAddressesUpdated(address indexed node, string addresses);
    /// A node said it is alive.
    event Heartbeat(address indexed node, uint64 seenAt);
    /// A node will leave at the next rebalance and may withdraw from `withdrawableAt` (if no longer active).
    event UnstakeRequested(address indexed node, uint64 withdrawableAt);
    /// A node took its stake back and is no longer registered.
    event Withdrawn(address indexed node, uint256 amount);
    /// A node's current weight changed (it enters the active set at the next effective rebalance).
    event WeightChanged(address indexed node, uint16 weight);
    /// `streamKey` is `keccak256(bytes(streamId))`. Also emitted when a request is updated.
    event StorageRequested(
        bytes32 indexed streamKey,
        string streamId,
        address indexed requester,
        uint32 partitions,
        uint8 replication,
        uint64 retentionSeconds
    );
    /// The network no longer stores the stream.
    event StorageCancelled(bytes32 indexed streamKey, string streamId, address indexed by);
    /// A new active set took effect as `epoch`; `reward` DATA went to `caller`.
    event Rebalanced(uint64 indexed epoch, address indexed caller, address[] nodes, uint16[] weights, uint256 reward);
    /// DATA added to the reward pool.
    event Funded(address indexed from, uint256 amount);
    /// A reward left the pool.
    event RewardPaid(address indexed to, uint256 amount);
    /// An assigned node reported a checksum. `partKey` is `partKey(streamId, partition)`.
    event ChecksumReported(
        bytes32 indexed partKey,
        uint64 indexed interval,
        address indexed node,
        string streamId,
        uint32 partition,
        bytes32 checksum,
        uint64 count
    );
    /// Enough assigned nodes agreed: the interval's checksum and count are final.
    event IntervalFinalised(
        bytes32 indexed partKey,
        uint64 indexed interval,
        string streamId,
        uint32 partition,
        bytes32 checksum,
        uint64 count
    );
    /// The interval's report window is over. If it was final, `silent` and `dissenting` lost weight.
    event IntervalClosed(
        bytes32 indexed partKey,
        uint64 indexed interval,
        string streamId,
        uint32 partition,
        bool isFinal,
        address[] silent,
        address[] dissenting
    );
    /// The owner changed the parameters.
    event ParametersChanged(Parameters parameters);
    /// This coordinator is retired in favour of `successor`.
    event SuccessorSet(address indexed successor);
    /// The remaining reward pool went to the successor's pool.
    event RewardPoolMigrated(address indexed successor, uint256 amount);

    // ---------------------------------------------------------------------------------------------
    // Errors
    // ---------------------------------------------------------------------------------------------

    /// The stake offered is below the minimum.
    error StakeTooLow(uint256 stake, uint256 minStake);
    /// The account is already registered.
    error AlreadyRegistered(address node);
    /// The account is not a registered node.
    error NotRegistered(address node);
    /// The node already asked to unstake.
    error AlreadyLeaving(address node);
    /// `withdraw()` before `requestUnstake()`.
    error NotLeaving(address node);
    /// `withdraw()` before the unstake delay is over.
    error UnstakeLocked(address node, uint64 withdrawableAt);
    /// `withdraw()` while the node is still in the active set: a rebalance must drop it first.
    error StillActive(address node);
    /// A peer id must not be empty.
    error EmptyPeerId();
    /// A peer id or address string is too long.
    error StringTooLong(uint256 length, uint256 max);
    /// This coordinator is retired; use `successor`.
    error Retired(address successor);
    /// Storage requests and cancellations need edit permission on the stream.
    error NoEditPermission(string streamId, address caller);
    /// Partitions must be 1..100.
    error InvalidPartitions(uint32 partitions);
    /// Replication must be 0 (the default) .. MAX_REPLICATION.
    error InvalidReplication(uint8 replication);
    /// The network does not store the stream.
    error StreamNotStored(string streamId);
    /// The partition is not below the stream's partition count.
    error PartitionOutOfRange(uint32 partition, uint32 partitions);
    /// The caller is not among the nodes assigned to the stream part for this interval.
    error NotAssigned(address node, string streamId, uint32 partition, uint64 interval);
    /// Reports for the interval are taken from `opensAt` (its end plus the settle time).
    error ReportTooEarly(uint64 interval, uint64 opensAt);
    /// Reports for the interval were taken until `closedAt`.
    error ReportTooLate(uint64 interval, uint64 closedAt);
    /// The node already reported this interval.
    error AlreadyReported(address node, uint64 interval);
    /// A report must count at least one event (nodes report only intervals that hold events).
    error EmptyReport();
    /// The interval began before the network stored the stream.
    error IntervalBeforeStorage(uint64 interval, uint64 storedSince);
    /// The assignment changed during or after the interval (a rebalance at `epochStartedAt`), before its
    /// first report: the nodes assigned now may lack its events, so it is not judged.
    error AssignmentChanged(uint64 interval, uint64 epochStartedAt);
    /// The interval cannot be closed before `closesAt`.
    error CloseTooEarly(uint64 interval, uint64 closesAt);
    /// Nobody reported the interval, so there is nothing to judge.
    error NoReports(uint64 interval);
    /// The interval was closed already.
    error AlreadyClosed(uint64 interval);
    /// A parameter is out of range.
    error InvalidParameter(string name);
    /// Amounts must be above zero.
    error ZeroAmount();
    /// The successor was set already.
    error SuccessorAlreadySet(address successor);
    /// Only after `setSuccessor`.
    error NotRetired();

    // ---------------------------------------------------------------------------------------------
    // Construction and parameters
    // ---------------------------------------------------------------------------------------------

    /// @param token_ DATA.
    /// @param registry_ The stream registry.
    /// @param checksumInterval_ Length of a checksum interval in seconds (fixed for this contract's life).
    /// @param params The initial parameters. The deployer becomes the owner.
    constructor(IERC20 token_, StreamRegistry registry_, uint64 checksumInterval_, Parameters memory params)
        Ownable(msg.sender)
    {
        if (checksumInterval_ == 0) revert InvalidParameter("checksumInterval");
        token = token_;
        registry = registry_;
        checksumInterval = checksumInterval_;
        _setParameters(params);
        epochStartedAt = uint64(block.timestamp);
    }

    /// @dev Refuses calls once a successor is set.
    modifier inService() {
        if (successor != address(0)) revert Retired(successor);
        _;
    }

    /// @notice The current parameters.
    function parameters() external view returns (Parameters memory) {
        return _params;
    }

    /// @notice Replaces the parameters. Owner only. They apply from now on, also to open intervals.
    function setParameters(Parameters calldata params) external onlyOwner {
        _setParameters(params);
    }

    /// @dev Checks and stores `p`.
    function _setParameters(Parameters memory p) private {
        if (p.heartbeatInterval == 0) revert InvalidParameter("heartbeatInterval");
        if (p.livenessWindow < p.heartbeatInterval) revert InvalidParameter("livenessWindow");
        if (p.reportWindow <= p.settleTime) revert InvalidParameter("reportWindow");
        if (p.thresholdBps <= 5000 || p.thresholdBps > 10_000) revert InvalidParameter("thresholdBps");
        if (p.defaultReplication == 0 || p.defaultReplication > MAX_REPLICATION) {
            revert InvalidParameter("defaultReplication");
        }
        _params = p;
        emit ParametersChanged(p);
    }

    // ---------------------------------------------------------------------------------------------
    // Nodes
    // ---------------------------------------------------------------------------------------------

    /// @notice Registers the caller as a node, pulling `stake` DATA (approve it first). The node is live
    /// from now; it joins the active set at the next rebalance.
    /// @param peerId The node's libp2p peer id.
    /// @param addresses Its dial addresses (multiaddrs, comma-separated).
    /// @param stake DATA to stake, at least `minStake`.
    function register(string calldata peerId, string calldata addresses, uint256 stake) public inService {
        Node storage n = _nodes[msg.sender];
        if (n.weight != 0) revert AlreadyRegistered(msg.sender);
        if (stake < _params.minStake) revert StakeTooLow(stake, _params.minStake);
        if (bytes(peerId).length == 0) revert EmptyPeerId();
        _checkLength(peerId);
        _checkLength(addresses);
        n.lastSeen = uint64(block.timestamp);
        n.leavingSince = 0;
        n.weight = MAX_WEIGHT;
        n.active = false;
        n.index = uint32(_nodeList.length);
        n.stake = stake;
        n.peerId = peerId;
        n.addresses = addresses;
        _nodeList.push(msg.sender);
        totalStaked += stake;
        emit NodeRegistered(msg.sender, peerId, addresses, stake);
        token.safeTransferFrom(msg.sender, address(this), stake);
    }

    /// @notice `register` with an EIP-2612 permit for `stake` instead of a separate approve. If the permit
    /// was used already (e.g. front-run), registration goes on as long as the allowance covers the stake.
    function registerWithPermit(
        string calldata peerId,
        string calldata addresses,
        uint256 stake,
        uint256 deadline,
        uint8 v,
        bytes32 r,
        bytes32 s
    ) external {
        try IERC20Permit(address(token)).permit(msg.sender, address(this), stake, deadline, v, r, s) {} catch {}
        register(peerId, addresses, stake);
    }

    /// @notice Replaces the caller's dial addresses.
    function updateAddresses(string calldata addresses) external {
        Node storage n = _registered(msg.sender);
        _checkLength(addresses);
        n.addresses = addresses;
        emit NodeAddressesUpdated(msg.sender, addresses);
    }

    /// @notice Marks the caller as seen now. Nodes send one when they have not been seen for
    /// `heartbeatInterval`; a report counts as being seen too, so busy nodes need none.
    function heartbeat() external {
        Node storage n = _registered(msg.sender);
        n.lastSeen = uint64(block.timestamp);
        emit Heartbeat(msg.sender, uint64(block.timestamp));
    }

    /// @notice The caller leaves: it drops out of the live set now and out of the active set at the next
    /// rebalance, and may withdraw once `unstakeDelay` has passed and it is no longer active.
    function requestUnstake() external {
        Node storage n = _registered(msg.sender);
        if (n.leavingSince != 0) revert AlreadyLeaving(msg.sender);
        n.leavingSince = uint64(block.timestamp);
        emit UnstakeRequested(msg.sender, uint64(block.timestamp) + _params.unstakeDelay);
    }

    /// @notice Returns the caller's stake and forgets the node. Needs `requestUnstake()` at least
    /// `unstakeDelay` ago and a rebalance since (the node must not be active) — unless this coordinator is
    /// retired, when any node may withdraw at once.
    function withdraw() external {
        Node storage n = _registered(msg.sender);
        if (successor == address(0)) {
            if (n.leavingSince == 0) revert NotLeaving(msg.sender);
            uint64 withdrawableAt = n.leavingSince + _params.unstakeDelay;
            if (block.timestamp < withdrawableAt) revert UnstakeLocked(msg.sender, withdrawableAt);
            if (n.active) revert StillActive(msg.sender);
        }
        uint256 amount = n.stake;
        uint32 index = n.index;
        address last = _nodeList[_nodeList.length - 1];
        _nodeList[index] = last;
        _nodes[last].index = index;
        _nodeList.pop();
        delete _nodes[msg.sender];
        totalStaked -= amount;
        emit Withdrawn(msg.sender, amount);
        token.safeTransfer(msg.sender, amount);
    }

    /// @notice The number of registered nodes.
    function nodeCount() external view returns (uint256) {
        return _nodeList.length;
    }

    /// @notice Registered node accounts `[offset, offset + limit)` (in no particular order).
    function nodes(uint256 offset, uint256 limit) external view returns (address[] memory out) {
        uint256 end;
        (offset, end) = _range(offset, limit, _nodeList.length);
        out = new address[](end - offset);
        for (uint256 i = offset; i < end; i++) {
            out[i - offset] = _nodeList[i];
        }
    }

    /// @notice Everything about a registered node (reverts `NotRegistered` otherwise).
    function nodeInfo(address account) external view returns (NodeInfo memory) {
        Node storage n = _registered(account);
        return NodeInfo(
            account, n.peerId, n.addresses, n.stake, n.weight, n.lastSeen, n.leavingSince, n.active, _isLive(n)
        );
    }

    /// @notice Whether `account` is registered, not leaving, and was seen within the liveness window.
    function isLive(address account) external view returns (bool) {
        return _isLive(_nodes[account]);
    }

    // ---------------------------------------------------------------------------------------------
    // Active set and rebalancing
    // ---------------------------------------------------------------------------------------------

    /// @notice Replaces the active set with the live set if their members differ (a node joined, left or
    /// lapsed): snapshots the live nodes' current weights, bumps `epoch` and pays the caller
    /// `rebalanceReward` (as much of it as the pool holds). Otherwise changes nothing and pays nothing.
    /// @return changed Whether the active set changed.
    function rebalance() external inService returns (bool changed) {
        uint256 count = _nodeList.length;
        bool[] memory live = new bool[](count);
        uint256 liveCount;
        for (uint256 i = 0; i < count; i++) {
            Node storage n = _nodes[_nodeList[i]];
            live[i] = _isLive(n);
            if (live[i]) liveCount++;
            if (live[i] != n.active) changed = true;
        }
        if (!changed) return false;

        address[] memory accounts = new address[](liveCount);
        uint16[] memory weights = new uint16[](liveCount);
        uint256 j;
        for (uint256 i = 0; i < count; i++) {
            address account = _nodeList[i];
            Node storage n = _nodes[account];
            if (n.active != live[i]) n.active = live[i];
            if (!live[i]) continue;
            accounts[j] = account;
            weights[j] = n.weight;
            Member memory m = Member(account, n.weight);
            if (j < _active.length) _active[j] = m;
            else _active.push(m);
            j++;
        }
        while (_active.length > liveCount) _active.pop();
        uint64 next = epoch + 1;
        epoch = next;
        epochStartedAt = uint64(block.timestamp);
        uint256 paid = _pay(msg.sender, _params.rebalanceReward);
        emit Rebalanced(next, msg.sender, accounts, weights, paid);
    }

    /// @notice Whether `rebalance()` would change the active set now (and so pay its caller).
    function rebalanceNeeded() external view returns (bool) {
        if (successor != address(0)) return false;
        for (uint256 i = 0; i < _nodeList.length; i++) {
            Node storage n = _nodes[_nodeList[i]];
            if (_isLive(n) != n.active) return true;
        }
        return false;
    }

    /// @notice The active set: node accounts and their snapshotted weights, in the order assignment
    /// iterates them (the order does not affect the result).
    function activeSet() external view returns (address[] memory accounts, uint16[] memory weights) {
        uint256 count = _active.length;
        accounts = new address[](count);
        weights = new uint16[](count);
        for (uint256 i = 0; i < count; i++) {
            Member memory m = _active[i];
            accounts[i] = m.account;
            weights[i] = m.weight;
        }
    }

    /// @notice Adds `amount` DATA (approve it first) to the reward pool.
    function fund(uint256 amount) external inService {
        if (amount == 0) revert ZeroAmount();
        rewardPool += amount;
        emit Funded(msg.sender, amount);
        token.safeTransferFrom(msg.sender, address(this), amount);
    }

    // ---------------------------------------------------------------------------------------------
    // Storage requests
    // ---------------------------------------------------------------------------------------------

    /// @notice Asks the network to store a stream, or changes the request. Needs edit permission on the
    /// stream in the registry.
    /// @param streamId The stream.
    /// @param partitions Its partition count, 1..100.
    /// @param replication Nodes per stream part; 0 for the default.
    /// @param retentionSeconds How long nodes keep events; 0 for ever.
    function requestStorage(string calldata streamId, uint32 partitions, uint8 replication, uint64 retentionSeconds)
        external
        inService
    {
        if (!registry.hasPermission(streamId, msg.sender, StreamRegistry.PermissionType.Edit)) {
            revert NoEditPermission(streamId, msg.sender);
        }
        if (partitions == 0 || partitions > MAX_PARTITIONS) revert InvalidPartitions(partitions);
        if (replication > MAX_REPLICATION) revert InvalidReplication(replication);
        if (replication == 0) replication = _params.defaultReplication;
        bytes32 key = keccak256(bytes(streamId));
        StorageRequest storage s = _storage[key];
        if (s.partitions == 0) {
            _stored.push(streamId);
            s.position = uint32(_stored.length);
            s.since = uint64(block.timestamp);
        }
        s.partitions = partitions;
        s.replication = replication;
        s.retentionSeconds = retentionSeconds;
        emit StorageRequested(key, streamId, msg.sender, partitions, replication, retentionSeconds);
    }

    /// @notice Stops storing a stream. Needs edit permission on it — or nothing, if the stream no longer
    /// exists in the registry (anyone may clear a deleted stream's request).
    function cancelStorage(string calldata streamId) external {
        bytes32 key = keccak256(bytes(streamId));
        StorageRequest storage s = _storage[key];
        if (s.partitions == 0) revert StreamNotStored(streamId);
        if (
            registry.exists(streamId)
                && !registry.hasPermission(streamId, msg.sender, StreamRegistry.PermissionType.Edit)
        ) revert NoEditPermission(streamId, msg.sender);
        uint256 index = s.position - 1;
        uint256 lastIndex = _stored.length - 1;
        if (index != lastIndex) {
            string storage moved = _stored[lastIndex];
            _stored[index] = moved;
            _storage[keccak256(bytes(moved))].position = uint32(index + 1);
        }
        _stored.pop();
        delete _storage[key];
        emit StorageCancelled(key, streamId, msg.sender);
    }

    /// @notice The stored stream ids `[offset, offset + limit)` (in no particular order).
    function storedStreams(uint256 offset, uint256 limit) external view returns (string[] memory out) {
        uint256 end;
        (offset, end) = _range(offset, limit, _stored.length);
        out = new string[](end - offset);
        for (uint256 i = offset; i < end; i++) {
            out[i - offset] = _stored[i];
        }
    }

    /// @notice How many streams the network stores.
    function storedStreamCount() external view returns (uint256) {
        return _stored.length;
    }

    /// @notice A stream's storage request (`partitions == 0`: not stored).
    function storageOf(string calldata streamId) external view returns (StorageRequest memory) {
        return _storage[keccak256(bytes(streamId))];
    }

    // ---------------------------------------------------------------------------------------------
    // Assignment
    // ---------------------------------------------------------------------------------------------

    /// @notice The key events use for a stream part: `keccak256(abi.encode(keccak256(bytes(streamId)), partition))`.
    function partKey(string calldata streamId, uint32 partition) public pure returns (bytes32) {
        return keccak256(abi.encode(keccak256(bytes(streamId)), partition));
    }

    /// @notice The nodes that store a stream part in the current epoch, lowest score first (see the
    /// contract's notice for the rule). Reverts if the stream is not stored or the partition out of range.
    function assignedNodes(string calldata streamId, uint32 partition) external view returns (address[] memory) {
        bytes32 streamKey = keccak256(bytes(streamId));
        StorageRequest memory s = _storedPart(streamId, streamKey, partition);
        return _computeAssignment(streamKey, partition, s.replication);
    }

    /// @notice The nodes that judge an interval (the assignment of the epoch of its first report), or an
    /// empty list if it has no report yet.
    function intervalAssignment(string calldata streamId, uint32 partition, uint64 interval)
        external
        view
        returns (address[] memory)
    {
        bytes32 pk = partKey(streamId, partition);
        Interval storage iv = _intervals[_intervalKey(pk, interval)];
        if (iv.size == 0) return new address[](0);
        return _assignments[_assignmentKey(pk, iv.epoch, iv.replication)];
    }

    /// @dev Weighted rendezvous hashing over the active set: the `r` lowest (score, account) pairs, ascending.
    function _computeAssignment(bytes32 streamKey, uint32 partition, uint256 r)
        private
        view
        returns (address[] memory best)
    {
        uint256 count = _active.length;
        if (r > count) r = count;
        best = new address[](r);
        uint256[] memory scores = new uint256[](r);
        uint256 filled;
        for (uint256 i = 0; i < count; i++) {
            Member memory m = _active[i];
            uint256 score = uint256(keccak256(abi.encode(m.account, streamKey, uint256(partition)))) / m.weight;
            // Insertion into the sorted prefix; the last entry drops out when full.
            uint256 pos = filled;
            while (pos > 0 && _before(score, m.account, scores[pos - 1], best[pos - 1])) {
                if (pos < r) {
                    scores[pos] = scores[pos - 1];
                    best[pos] = best[pos - 1];
                }
                pos--;
            }
            if (pos < r) {
                scores[pos] = score;
                best[pos] = m.account;
                if (filled < r) filled++;
            }
        }
    }

    /// @dev Whether (scoreA, a) sorts before (scoreB, b).
    function _before(uint256 scoreA, address a, uint256 scoreB, address b) private pure returns (bool) {
        return scoreA < scoreB || (scoreA == scoreB && a < b);
    }

    // ---------------------------------------------------------------------------------------------
    // Rolling checksums
    // ---------------------------------------------------------------------------------------------

    /// @notice An assigned node reports its rolling checksum and event count of interval `interval` of a
    /// stream part (PROTOCOL.md, "Rolling checksums"). Taken from the interval's end plus `settleTime`
    /// until its end plus `reportWindow`; once per node. The first report fixes the assignment that judges
    /// the interval (the current epoch's, which must have begun no later than the interval). Counts as a
    /// heartbeat. When `ceil(thresholdBps * assigned / 10000)` reports agree, the interval is final and each
    /// agreeing reporter — then and later — gets `reportReward` and regains weight.
    function report(string calldata streamId, uint32 partition, uint64 interval, bytes32 checksum, uint64 count)
        external
        inService
    {
        Node storage node = _registered(msg.sender);
        if (count == 0) revert EmptyReport();
        bytes32 streamKey = keccak256(bytes(streamId));
        StorageRequest memory s = _storedPart(streamId, streamKey, partition);
        uint256 start = uint256(interval) * checksumInterval;
        if (start < s.since) revert IntervalBeforeStorage(interval, s.since);
        uint256 end = start + checksumInterval;
        if (block.timestamp < end + _params.settleTime) {
            revert ReportTooEarly(interval, uint64(end + _params.settleTime));
        }
        if (block.timestamp >= end + _params.reportWindow) {
            revert ReportTooLate(interval, uint64(end + _params.reportWindow));
        }

        bytes32 pk = keccak256(abi.encode(streamKey, partition));
        bytes32 ik = _intervalKey(pk, interval);
        Interval storage iv = _intervals[ik];
        address[] storage assigned;
        if (iv.size == 0) {
            if (epochStartedAt > start) revert AssignmentChanged(interval, epochStartedAt);
            assigned = _cachedAssignment(pk, streamKey, partition, s.replication);
            if (assigned.length == 0) revert NotAssigned(msg.sender, streamId, partition, interval);
            iv.epoch = epoch;
            iv.replication = s.replication;
            iv.size = uint8(assigned.length);
        } else {
            assigned = _assignments[_assignmentKey(pk, iv.epoch, iv.replication)];
        }
        uint256 size = iv.size;
        uint256 position = size;
        for (uint256 i = 0; i < size; i++) {
            if (assigned[i] == msg.sender) {
                position = i;
                break;
            }
        }
        if (position == size) revert NotAssigned(msg.sender, streamId, partition, interval);
        uint16 bit = uint16(1 << position);
        if (iv.reported & bit != 0) revert AlreadyReported(msg.sender, interval);

        bytes32 value = keccak256(abi.encode(checksum, count));
        iv.reported |= bit;
        _reports[ik][position] = value;
        node.lastSeen = uint64(block.timestamp);
        emit ChecksumReported(pk, interval, msg.sender, streamId, partition, checksum, count);

        if (iv.isFinal) {
            if (value == keccak256(abi.encode(iv.finalChecksum, iv.finalCount))) {
                iv.agreed |= bit;
                _rewardAgreement(msg.sender);
            }
            return;
        }
        uint256 agreeing;
        uint16 reported = iv.reported;
        for (uint256 i = 0; i < size; i++) {
            if (reported & (1 << i) != 0 && (i == position || _reports[ik][i] == value)) agreeing++;
        }
        if (agreeing * 10_000 < uint256(_params.thresholdBps) * size) return;

        iv.isFinal = true;
        iv.finalChecksum = checksum;
        iv.finalCount = count;
        emit IntervalFinalised(pk, interval, streamId, partition, checksum, count);
        uint16 agreed;
        for (uint256 i = 0; i < size; i++) {
            if (reported & (1 << i) != 0 && (i == position || _reports[ik][i] == value)) {
                agreed |= uint16(1 << i);
                _rewardAgreement(assigned[i]);
            }
        }
        iv.agreed = agreed;
    }

    /// @notice Closes an interval once its report window is over (anyone may call). If it was final,
    /// every assigned node that reported another value (dissent) or nothing (silence) loses
    /// `WEIGHT_PENALTY`. If it never became final nobody is judged: there is no majority to judge by.
    function closeInterval(string calldata streamId, uint32 partition, uint64 interval) external {
        bytes32 pk = partKey(streamId, partition);
        bytes32 ik = _intervalKey(pk, interval);
        Interval storage iv = _intervals[ik];
        uint256 size = iv.size;
        if (size == 0) revert NoReports(interval);
        if (iv.closed) revert AlreadyClosed(interval);
        uint256 closesAt = (uint256(interval) + 1) * checksumInterval + _params.reportWindow;
        if (block.timestamp < closesAt) revert CloseTooEarly(interval, uint64(closesAt));
        iv.closed = true;
        address[] memory silent = new address[](size);
        address[] memory dissenting = new address[](size);
        uint256 silentCount;
        uint256 dissentCount;
        bool isFinal = iv.isFinal;
        if (isFinal) {
            address[] storage assigned = _assignments[_assignmentKey(pk, iv.epoch, iv.replication)];
            uint16 reported = iv.reported;
            uint16 agreed = iv.agreed;
            for (uint256 i = 0; i < size; i++) {
                uint16 bit = uint16(1 << i);
                if (agreed & bit != 0) continue;
                address account = assigned[i];
                if (reported & bit == 0) silent[silentCount++] = account;
                else dissenting[dissentCount++] = account;
                _penalise(account);
            }
        }
        assembly ("memory-safe") {
            mstore(silent, silentCount)
            mstore(dissenting, dissentCount)
        }
        emit IntervalClosed(pk, interval, streamId, partition, isFinal, silent, dissenting);
    }

    /// @notice Whether an interval is final, and its checksum and event count if so.
    function finalChecksum(string calldata streamId, uint32 partition, uint64 interval)
        external
        view
        returns (bool isFinal, bytes32 checksum, uint64 count)
    {
        Interval storage iv = _intervals[_intervalKey(partKey(streamId, partition), interval)];
        return (iv.isFinal, iv.finalChecksum, iv.finalCount);
    }

    /// @notice The whole state of an interval (all zero before its first report).
    function intervalState(string calldata streamId, uint32 partition, uint64 interval)
        external
        view
        returns (Interval memory)
    {
        return _intervals[_intervalKey(partKey(streamId, partition), interval)];
    }

    /// @notice When reports for `interval` are taken: from `opensAt` until before `closesAt` (then it can
    /// be closed).
    function reportWindowOf(uint64 interval) external view returns (uint64 opensAt, uint64 closesAt) {
        uint256 end = (uint256(interval) + 1) * checksumInterval;
        return (uint64(end + _params.settleTime), uint64(end + _params.reportWindow));
    }

    /// @dev The current epoch's assignment of a part, computed and stored on first use.
    function _cachedAssignment(bytes32 pk, bytes32 streamKey, uint32 partition, uint8 replication)
        private
        returns (address[] storage cached)
    {
        cached = _assignments[_assignmentKey(pk, epoch, replication)];
        if (cached.length == 0) {
            address[] memory computed = _computeAssignment(streamKey, partition, replication);
            for (uint256 i = 0; i < computed.length; i++) {
                cached.push(computed[i]);
            }
        }
    }

    /// @dev Pays an agreeing reporter and gives back weight.
    function _rewardAgreement(address account) private {
        Node storage n = _nodes[account];
        if (n.weight != 0 && n.weight < MAX_WEIGHT) {
            uint16 w = n.weight + WEIGHT_RECOVERY;
            n.weight = w > MAX_WEIGHT ? MAX_WEIGHT : w;
            emit WeightChanged(account, n.weight);
        }
        _pay(account, _params.reportReward);
    }

    /// @dev Takes weight from a dissenting or silent node (never below MIN_WEIGHT).
    function _penalise(address account) private {
        Node storage n = _nodes[account];
        if (n.weight == 0 || n.weight == MIN_WEIGHT) return;
        n.weight = n.weight > MIN_WEIGHT + WEIGHT_PENALTY ? n.weight - WEIGHT_PENALTY : MIN_WEIGHT;
        emit WeightChanged(account, n.weight);
    }

    // ---------------------------------------------------------------------------------------------
    // Network upgrade
    // ---------------------------------------------------------------------------------------------

    /// @notice Retires this coordinator in favour of `next`. Owner only, once. Afterwards this contract
    /// refuses registrations, storage requests, reports, rebalances and funding, and every node may
    /// withdraw its stake at once.
    function setSuccessor(address next) external onlyOwner {
        if (successor != address(0)) revert SuccessorAlreadySet(successor);
        if (next == address(0) || next == address(this)) revert InvalidParameter("successor");
        successor = next;
        emit SuccessorSet(next);
    }

    /// @notice Moves what is left of the reward pool into the successor's pool (through its `fund`). Owner
    /// only, after `setSuccessor`.
    function migrateRewardPool() external onlyOwner {
        address next = successor;
        if (next == address(0)) revert NotRetired();
        uint256 amount = rewardPool;
        if (amount == 0) revert ZeroAmount();
        rewardPool = 0;
        emit RewardPoolMigrated(next, amount);
        token.forceApprove(next, amount);
        NetworkCoordinator(next).fund(amount);
    }

    // ---------------------------------------------------------------------------------------------
    // Helpers
    // ---------------------------------------------------------------------------------------------

    /// @dev The node record of a registered account; reverts `NotRegistered` otherwise.
    function _registered(address account) private view returns (Node storage n) {
        n = _nodes[account];
        if (n.weight == 0) revert NotRegistered(account);
    }

    /// @dev Registered, not leaving, seen within the liveness window.
    function _isLive(Node storage n) private view returns (bool) {
        return n.weight != 0 && n.leavingSince == 0 && block.timestamp <= uint256(n.lastSeen) + _params.livenessWindow;
    }

    /// @dev The storage request of a stream, checking that it is stored and the partition is in range.
    function _storedPart(string calldata streamId, bytes32 streamKey, uint32 partition)
        private
        view
        returns (StorageRequest memory s)
    {
        s = _storage[streamKey];
        if (s.partitions == 0) revert StreamNotStored(streamId);
        if (partition >= s.partitions) revert PartitionOutOfRange(partition, s.partitions);
    }

    /// @dev Pays `amount` (or what the pool holds) from the reward pool; returns what was paid.
    function _pay(address to, uint256 amount) private returns (uint256 paid) {
        paid = amount < rewardPool ? amount : rewardPool;
        if (paid == 0) return 0;
        rewardPool -= paid;
        emit RewardPaid(to, paid);
        token.safeTransfer(to, paid);
    }

    /// @dev The key of an interval of a part.
    function _intervalKey(bytes32 pk, uint64 interval) private pure returns (bytes32) {
        return keccak256(abi.encode(pk, interval));
    }

    /// @dev The key of a cached assignment.
    function _assignmentKey(bytes32 pk, uint64 epoch_, uint8 replication) private pure returns (bytes32) {
        return keccak256(abi.encode(pk, epoch_, replication));
    }

    /// @dev Refuses strings over MAX_STRING_LENGTH bytes.
    function _checkLength(string calldata s) private pure {
        if (bytes(s).length > MAX_STRING_LENGTH) revert StringTooLong(bytes(s).length, MAX_STRING_LENGTH);
    }

    /// `[offset, end)` of a list of `length` entries, both clamped to the list.
    function _range(uint256 offset, uint256 limit, uint256 length) private pure returns (uint256, uint256) {
        if (offset > length) offset = length;
        return (offset, limit > length - offset ? length : offset + limit);
    }
}
