// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {Strings} from "@openzeppelin/contracts/utils/Strings.sol";

/// @title Rivulet stream registry: stream ids, metadata, and per-address permissions.
/// @notice A stream id is `<creator address, lowercase>/<path>`; the path is `/`-separated segments of
/// `[A-Za-z0-9._-]` (none empty, `.` or `..`) and the whole id is at most 255 bytes, as PROTOCOL.md says.
/// Permissions per stream and address: edit, delete, publish (until an expiry), subscribe (until an
/// expiry), grant. The zero address stands for "anyone" and may hold publish and subscribe only.
/// A publish or subscribe permission holds while `block.timestamp < expiration`.
///
/// Two services for end-to-end encryption live here too, because every reader and publisher consults this
/// contract already: **public keys** — each address's secp256k1 public key, which anyone may submit since
/// it certifies itself (the address is derived from it), so a publisher can seal group keys to a reader
/// who is offline — and **key delegates** — addresses a stream's owner authorises to hand the stream's
/// group keys to permitted readers (e.g. the seller's always-on node).
contract StreamRegistry {
    /// The five kinds of permission.
    enum PermissionType {
        Edit,
        Delete,
        Publish,
        Subscribe,
        Grant
    }

    /// One address's permissions on one stream.
    struct Permission {
        bool canEdit;
        bool canDelete;
        uint64 publishExpiration;
        uint64 subscribeExpiration;
        bool canGrant;
    }

    struct StreamRecord {
        string metadata;
        address creator;
        uint64 createdAt;
        // Bumped on delete, so a re-created stream starts with no permissions.
        uint32 generation;
        bool exists;
    }

    /// An uncompressed secp256k1 public key without its 0x04 prefix: x ‖ y.
    struct PublicKey {
        bytes32 x;
        bytes32 y;
    }

    /// "Forever" for publish and subscribe expirations.
    uint64 public constant NO_EXPIRATION = type(uint64).max;
    uint256 public constant MAX_STREAM_ID_LENGTH = 255;

    mapping(bytes32 => StreamRecord) private streams;
    mapping(bytes32 => Permission) private permissions;
    mapping(address => PublicKey) private publicKeys;
    // Keyed like permissions (stream, generation, address), so deleting a stream forgets its delegates.
    mapping(bytes32 => bool) private keyDelegates;

    event StreamCreated(string streamId, string metadata, address indexed creator);
    event StreamUpdated(string streamId, string metadata);
    event StreamDeleted(string streamId);
    event PermissionUpdated(
        string streamId,
        address indexed user,
        bool canEdit,
        bool canDelete,
        uint64 publishExpiration,
        uint64 subscribeExpiration,
        bool canGrant
    );
    /// `account`'s public key is on record: `publicKey` is 64 bytes, x ‖ y.
    event PublicKeyRegistered(address indexed account, bytes publicKey);
    /// `delegate` may (or no longer may) hand out the stream's group keys to permitted readers.
    event KeyDelegateSet(string streamId, address indexed delegate, bool allowed);

    error StreamExists(string streamId);
    error StreamNotFound(string streamId);
    error InvalidPath(string path);
    error StreamIdTooLong(uint256 length);
    error NoPermission(string streamId, address user, PermissionType required);
    error PublicPermissionNotAllowed(PermissionType permissionType);
    error NotAnExpiringPermission(PermissionType permissionType);
    error LengthMismatch(uint256 users, uint256 permissions);
    /// A public key must be 64 bytes (uncompressed, without the 0x04 prefix).
    error InvalidPublicKey(uint256 length);
    /// The zero address cannot be a key delegate.
    error ZeroDelegate();

    modifier requires(string calldata streamId, PermissionType kind) {
        _requireExists(streamId);
        if (!_hasDirect(streamId, msg.sender, kind)) revert NoPermission(streamId, msg.sender, kind);
        _;
    }

    /// @notice Creates `<msg.sender>/<path>` with `metadata` (a JSON string: name, description,
    /// partitions, config). The creator gets every permission.
    function createStream(string calldata path, string calldata metadata) external returns (string memory streamId) {
        _validatePath(path);
        streamId = string.concat(Strings.toHexString(msg.sender), "/", path);
        if (bytes(streamId).length > MAX_STREAM_ID_LENGTH) revert StreamIdTooLong(bytes(streamId).length);
        StreamRecord storage s = streams[_key(streamId)];
        if (s.exists) revert StreamExists(streamId);
        s.metadata = metadata;
        s.creator = msg.sender;
        s.createdAt = uint64(block.timestamp);
        s.exists = true;
        emit StreamCreated(streamId, metadata, msg.sender);
        _set(streamId, msg.sender, Permission(true, true, NO_EXPIRATION, NO_EXPIRATION, true));
    }

    /// @notice Replaces the stream's metadata. Needs edit.
    function updateStreamMetadata(string calldata streamId, string calldata metadata)
        external
        requires(streamId, PermissionType.Edit)
    {
        streams[_key(streamId)].metadata = metadata;
        emit StreamUpdated(streamId, metadata);
    }

    /// @notice Deletes the stream and, with it, every permission on it. Needs delete.
    function deleteStream(string calldata streamId) external requires(streamId, PermissionType.Delete) {
        StreamRecord storage s = streams[_key(streamId)];
        s.exists = false;
        s.metadata = "";
        s.generation += 1;
        emit StreamDeleted(streamId);
    }

    /// @notice Whether the stream exists.
    function exists(string calldata streamId) external view returns (bool) {
        return streams[_key(streamId)].exists;
    }

    /// @notice The stream's metadata, creator and creation time.
    function getStream(string calldata streamId)
        external
        view
        returns (string memory metadata, address creator, uint64 createdAt)
    {
        StreamRecord storage s = _requireExists(streamId);
        return (s.metadata, s.creator, s.createdAt);
    }

    /// @notice The stream's metadata.
    function getStreamMetadata(string calldata streamId) external view returns (string memory) {
        return _requireExists(streamId).metadata;
    }

    /// @notice The permissions held by `user` itself (not through the public zero address).
    function getPermissionsForUser(string calldata streamId, address user) external view returns (Permission memory) {
        _requireExists(streamId);
        return permissions[_permKey(streamId, user)];
    }

    /// @notice Whether `user` holds `kind` now, directly or (publish, subscribe) through public permission.
    function hasPermission(string calldata streamId, address user, PermissionType kind) external view returns (bool) {
        if (!streams[_key(streamId)].exists) return false;
        return _hasDirect(streamId, user, kind)
            || ((kind == PermissionType.Publish || kind == PermissionType.Subscribe) && _hasDirect(streamId, address(0), kind));
    }

    /// @notice Whether `user` holds `kind` directly, now.
    function hasDirectPermission(string calldata streamId, address user, PermissionType kind)
        external
        view
        returns (bool)
    {
        return streams[_key(streamId)].exists && _hasDirect(streamId, user, kind);
    }

    /// @notice Sets all of `user`'s permissions at once. Needs grant.
    function setPermissions(string calldata streamId, address user, Permission calldata permission)
        external
        requires(streamId, PermissionType.Grant)
    {
        _setChecked(streamId, user, permission);
    }

    /// @notice Sets the permissions of several users. Needs grant.
    function setPermissionsBatch(string calldata streamId, address[] calldata users, Permission[] calldata perms)
        external
        requires(streamId, PermissionType.Grant)
    {
        if (users.length != perms.length) revert LengthMismatch(users.length, perms.length);
        for (uint256 i = 0; i < users.length; i++) {
            _setChecked(streamId, users[i], perms[i]);
        }
    }

    /// @notice Grants `kind` to `user` (publish and subscribe without expiry). Needs grant.
    function grantPermission(string calldata streamId, address user, PermissionType kind)
        external
        requires(streamId, PermissionType.Grant)
    {
        Permission memory p = permissions[_permKey(streamId, user)];
        _apply(p, kind, true, NO_EXPIRATION);
        _setChecked(streamId, user, p);
    }

    /// @notice Grants `kind` to everyone (publish or subscribe only). Needs grant.
    function grantPublicPermission(string calldata streamId, PermissionType kind)
        external
        requires(streamId, PermissionType.Grant)
    {
        Permission memory p = permissions[_permKey(streamId, address(0))];
        _apply(p, kind, true, NO_EXPIRATION);
        _setChecked(streamId, address(0), p);
    }

    /// @notice Sets when `user`'s publish or subscribe permission ends (0 revokes). Needs grant.
    function setExpirationTime(string calldata streamId, address user, PermissionType kind, uint64 expiration)
        external
        requires(streamId, PermissionType.Grant)
    {
        if (kind != PermissionType.Publish && kind != PermissionType.Subscribe) revert NotAnExpiringPermission(kind);
        Permission memory p = permissions[_permKey(streamId, user)];
        _apply(p, kind, true, expiration);
        _setChecked(streamId, user, p);
    }

    /// @notice Revokes `kind` from `user`. Needs grant, except that anyone may give up their own permissions.
    function revokePermission(string calldata streamId, address user, PermissionType kind) external {
        _requireExists(streamId);
        if (user != msg.sender && !_hasDirect(streamId, msg.sender, PermissionType.Grant)) {
            revert NoPermission(streamId, msg.sender, PermissionType.Grant);
        }
        Permission memory p = permissions[_permKey(streamId, user)];
        _apply(p, kind, false, 0);
        _set(streamId, user, p);
    }

    /// @notice Revokes everything `user` holds. Needs grant, or `user` is the caller.
    function revokeAllPermissionsForUser(string calldata streamId, address user) external {
        _requireExists(streamId);
        if (user != msg.sender && !_hasDirect(streamId, msg.sender, PermissionType.Grant)) {
            revert NoPermission(streamId, msg.sender, PermissionType.Grant);
        }
        _set(streamId, user, Permission(false, false, 0, 0, false));
    }

    /// @notice Records the secp256k1 public key `publicKey` (64 bytes, x ‖ y) for the address it derives
    /// to, `address(uint160(uint256(keccak256(publicKey))))`, which is returned. Anyone may submit any key:
    /// it certifies itself, since nobody can find another key for an existing address. (The point is not
    /// checked to be on the curve; bytes that are not a key derive to an address nobody controls.)
    /// Submitting the key already on record changes nothing and emits nothing.
    function registerPublicKey(bytes calldata publicKey) external returns (address account) {
        if (publicKey.length != 64) revert InvalidPublicKey(publicKey.length);
        account = address(uint160(uint256(keccak256(publicKey))));
        (bytes32 x, bytes32 y) = abi.decode(publicKey, (bytes32, bytes32));
        PublicKey storage k = publicKeys[account];
        if (k.x == x && k.y == y) return account;
        k.x = x;
        k.y = y;
        emit PublicKeyRegistered(account, publicKey);
    }

    /// @notice `account`'s public key (64 bytes, x ‖ y), or empty bytes if none is on record.
    function publicKeyOf(address account) external view returns (bytes memory) {
        PublicKey storage k = publicKeys[account];
        if (k.x == 0 && k.y == 0) return "";
        return abi.encodePacked(k.x, k.y);
    }

    /// @notice Allows or disallows `delegate` to hand out the stream's group keys to readers that hold
    /// subscribe permission. Needs grant or edit.
    function setKeyDelegate(string calldata streamId, address delegate, bool allowed) external {
        _requireExists(streamId);
        if (
            !_hasDirect(streamId, msg.sender, PermissionType.Grant)
                && !_hasDirect(streamId, msg.sender, PermissionType.Edit)
        ) revert NoPermission(streamId, msg.sender, PermissionType.Grant);
        if (delegate == address(0)) revert ZeroDelegate();
        keyDelegates[_permKey(streamId, delegate)] = allowed;
        emit KeyDelegateSet(streamId, delegate, allowed);
    }

    /// @notice Whether `account` is a key delegate of the stream (false if the stream does not exist).
    function isKeyDelegate(string calldata streamId, address account) external view returns (bool) {
        return streams[_key(streamId)].exists && keyDelegates[_permKey(streamId, account)];
    }

    function _apply(Permission memory p, PermissionType kind, bool on, uint64 expiration) private pure {
        if (kind == PermissionType.Edit) p.canEdit = on;
        else if (kind == PermissionType.Delete) p.canDelete = on;
        else if (kind == PermissionType.Publish) p.publishExpiration = on ? expiration : 0;
        else if (kind == PermissionType.Subscribe) p.subscribeExpiration = on ? expiration : 0;
        else p.canGrant = on;
    }

    function _setChecked(string calldata streamId, address user, Permission memory p) private {
        if (user == address(0)) {
            if (p.canEdit) revert PublicPermissionNotAllowed(PermissionType.Edit);
            if (p.canDelete) revert PublicPermissionNotAllowed(PermissionType.Delete);
            if (p.canGrant) revert PublicPermissionNotAllowed(PermissionType.Grant);
        }
        _set(streamId, user, p);
    }

    function _set(string memory streamId, address user, Permission memory p) private {
        permissions[_permKey(streamId, user)] = p;
        emit PermissionUpdated(
            streamId, user, p.canEdit, p.canDelete, p.publishExpiration, p.subscribeExpiration, p.canGrant
        );
    }

    function _hasDirect(string memory streamId, address user, PermissionType kind) private view returns (bool) {
        Permission storage p = permissions[_permKey(streamId, user)];
        if (kind == PermissionType.Edit) return p.canEdit;
        if (kind == PermissionType.Delete) return p.canDelete;
        if (kind == PermissionType.Publish) return block.timestamp < p.publishExpiration;
        if (kind == PermissionType.Subscribe) return block.timestamp < p.subscribeExpiration;
        return p.canGrant;
    }

    function _requireExists(string memory streamId) private view returns (StreamRecord storage s) {
        s = streams[_key(streamId)];
        if (!s.exists) revert StreamNotFound(streamId);
    }

    function _key(string memory streamId) private pure returns (bytes32) {
        return keccak256(bytes(streamId));
    }

    function _permKey(string memory streamId, address user) private view returns (bytes32) {
        return keccak256(abi.encode(_key(streamId), streams[_key(streamId)].generation, user));
    }

    function _validatePath(string calldata path) private pure {
        bytes calldata b = bytes(path);
        if (b.length == 0) revert InvalidPath(path);
        uint256 segmentStart = 0;
        for (uint256 i = 0; i <= b.length; i++) {
            if (i == b.length || b[i] == "/") {
                uint256 len = i - segmentStart;
                if (len == 0) revert InvalidPath(path);
                if (len == 1 && b[segmentStart] == ".") revert InvalidPath(path);
                if (len == 2 && b[segmentStart] == "." && b[segmentStart + 1] == ".") revert InvalidPath(path);
                segmentStart = i + 1;
                continue;
            }
            bytes1 c = b[i];
            bool ok = (c >= "a" && c <= "z") || (c >= "A" && c <= "Z") || (c >= "0" && c <= "9") || c == "."
                || c == "_" || c == "-";
            if (!ok) revert InvalidPath(path);
        }
    }
}
