// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Permit.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {StreamRegistry} from "./StreamRegistry.sol";

/// @title Rivulet data marketplace: products over streams, sold as time-limited licences paid in DATA.
/// @notice A seller lists a product (streams, beneficiary, price per second, minimum period, terms). A buyer
/// pays `price per second * seconds` in DATA, which goes to the beneficiary (less the marketplace fee), and
/// gets subscribe permission on every stream of the product until the licence expires. Buying again while
/// a licence runs extends it. To list a stream the seller must hold grant on it, and must have given the
/// marketplace grant, so that the marketplace can give buyers their permission.
/// The `...WithKey` variants also put the buyer's public key on record in the registry, so that the seller's
/// publisher can seal group keys to the buyer while the buyer is offline.
contract Marketplace is Ownable {
    using SafeERC20 for IERC20;

    struct Product {
        address owner;
        address beneficiary;
        uint256 pricePerSecond;
        uint64 minimumSeconds;
        bool active;
        string metadata;
        string termsUri;
        bytes32 termsHash;
        string[] streams;
    }

    uint256 public constant MAX_STREAMS_PER_PRODUCT = 20;
    uint16 public constant MAX_FEE_BASIS_POINTS = 1000;

    IERC20 public immutable token;
    StreamRegistry public immutable registry;
    uint16 public feeBasisPoints;
    address public feeRecipient;
    uint256 public productCount;

    mapping(uint256 => Product) private products;
    mapping(uint256 => mapping(address => uint64)) private licences;

    event ProductCreated(
        uint256 indexed productId,
        address indexed owner,
        address beneficiary,
        uint256 pricePerSecond,
        uint64 minimumSeconds,
        string metadata,
        string termsUri,
        bytes32 termsHash,
        string[] streams
    );
    event ProductUpdated(
        uint256 indexed productId,
        address beneficiary,
        uint256 pricePerSecond,
        uint64 minimumSeconds,
        string metadata,
        string termsUri,
        bytes32 termsHash
    );
    event ProductPaused(uint256 indexed productId);
    event ProductResumed(uint256 indexed productId);
    event Purchased(
        uint256 indexed productId,
        address indexed buyer,
        address indexed beneficiary,
        uint64 seconds_,
        uint256 price,
        uint256 fee,
        uint64 expiry
    );
    event FeeChanged(uint16 basisPoints, address recipient);

    error ProductNotFound(uint256 productId);
    error NotProductOwner(uint256 productId, address caller);
    error ProductIsPaused(uint256 productId);
    error PeriodTooShort(uint64 seconds_, uint64 minimumSeconds);
    error NoStreams();
    error TooManyStreams(uint256 count);
    error ZeroBeneficiary();
    error ZeroMinimumPeriod();
    error StreamNotFound(string streamId);
    error SellerCannotGrant(string streamId, address seller);
    error MarketplaceCannotGrant(string streamId);
    error FeeTooHigh(uint16 basisPoints);
    error PriceAboveMaximum(uint256 price, uint256 maxPrice);
    error PeriodTooLong(uint64 seconds_);
    /// A public key must be 64 bytes (uncompressed, without the 0x04 prefix).
    error InvalidPublicKey(uint256 length);
    /// The public key given derives to `keyAddress`, not to the buyer.
    error PublicKeyNotBuyer(address keyAddress, address buyer);

    constructor(IERC20 token_, StreamRegistry registry_, address initialOwner) Ownable(initialOwner) {
        token = token_;
        registry = registry_;
        feeRecipient = initialOwner;
    }

    modifier onlyProductOwner(uint256 productId) {
        if (products[productId].owner == address(0)) revert ProductNotFound(productId);
        if (products[productId].owner != msg.sender) revert NotProductOwner(productId, msg.sender);
        _;
    }

    /// @notice Lists a product; returns its id (from 1).
    function createProduct(
        string[] calldata streams,
        address beneficiary,
        uint256 pricePerSecond,
        uint64 minimumSeconds,
        string calldata metadata,
        string calldata termsUri,
        bytes32 termsHash
    ) external returns (uint256 productId) {
        if (streams.length == 0) revert NoStreams();
        if (streams.length > MAX_STREAMS_PER_PRODUCT) revert TooManyStreams(streams.length);
        if (beneficiary == address(0)) revert ZeroBeneficiary();
        if (minimumSeconds == 0) revert ZeroMinimumPeriod();
        for (uint256 i = 0; i < streams.length; i++) {
            string calldata s = streams[i];
            if (!registry.exists(s)) revert StreamNotFound(s);
            if (!registry.hasDirectPermission(s, msg.sender, StreamRegistry.PermissionType.Grant)) {
                revert SellerCannotGrant(s, msg.sender);
            }
            if (!registry.hasDirectPermission(s, address(this), StreamRegistry.PermissionType.Grant)) {
                revert MarketplaceCannotGrant(s);
            }
        }
        productId = ++productCount;
        Product storage p = products[productId];
        p.owner = msg.sender;
        p.beneficiary = beneficiary;
        p.pricePerSecond = pricePerSecond;
        p.minimumSeconds = minimumSeconds;
        p.active = true;
        p.metadata = metadata;
        p.termsUri = termsUri;
        p.termsHash = termsHash;
        for (uint256 i = 0; i < streams.length; i++) {
            p.streams.push(streams[i]);
        }
        emit ProductCreated(
            productId, msg.sender, beneficiary, pricePerSecond, minimumSeconds, metadata, termsUri, termsHash, streams
        );
    }

    /// @notice Changes a product's terms. Product owner only.
    function updateProduct(
        uint256 productId,
        address beneficiary,
        uint256 pricePerSecond,
        uint64 minimumSeconds,
        string calldata metadata,
        string calldata termsUri,
        bytes32 termsHash
    ) external onlyProductOwner(productId) {
        if (beneficiary == address(0)) revert ZeroBeneficiary();
        if (minimumSeconds == 0) revert ZeroMinimumPeriod();
        Product storage p = products[productId];
        p.beneficiary = beneficiary;
        p.pricePerSecond = pricePerSecond;
        p.minimumSeconds = minimumSeconds;
        p.metadata = metadata;
        p.termsUri = termsUri;
        p.termsHash = termsHash;
        emit ProductUpdated(productId, beneficiary, pricePerSecond, minimumSeconds, metadata, termsUri, termsHash);
    }

    /// @notice Changes only the price. Product owner only.
    function setPrice(uint256 productId, uint256 pricePerSecond) external onlyProductOwner(productId) {
        Product storage p = products[productId];
        p.pricePerSecond = pricePerSecond;
        emit ProductUpdated(
            productId, p.beneficiary, pricePerSecond, p.minimumSeconds, p.metadata, p.termsUri, p.termsHash
        );
    }

    /// @notice Stops sales; running licences keep running. Product owner only.
    function pauseProduct(uint256 productId) external onlyProductOwner(productId) {
        products[productId].active = false;
        emit ProductPaused(productId);
    }

    /// @notice Resumes sales. Product owner only.
    function resumeProduct(uint256 productId) external onlyProductOwner(productId) {
        products[productId].active = true;
        emit ProductResumed(productId);
    }

    /// @notice Buys (or extends) a licence for `seconds_` after approving the price to this contract. Reverts
    /// if the price (which the seller may have changed since the buyer looked) is above `maxPrice`.
    function buy(uint256 productId, uint64 seconds_, uint256 maxPrice) external returns (uint64 expiry) {
        return _buy(productId, seconds_, maxPrice);
    }

    /// @notice Buys with an EIP-2612 permit for `maxPrice` instead of a separate approve: one transaction.
    /// If the permit was already used (e.g. front-run), the purchase goes on as long as the allowance covers
    /// it; either way the buyer never pays more than `maxPrice`.
    function buyWithPermit(
        uint256 productId,
        uint64 seconds_,
        uint256 maxPrice,
        uint256 deadline,
        uint8 v,
        bytes32 r,
        bytes32 s
    ) external returns (uint64 expiry) {
        try IERC20Permit(address(token)).permit(msg.sender, address(this), maxPrice, deadline, v, r, s) {} catch {}
        return _buy(productId, seconds_, maxPrice);
    }

    /// @notice `buy`, also recording the buyer's secp256k1 public key (64 bytes, x ‖ y; it must derive to
    /// the buyer) in the registry.
    function buyWithKey(uint256 productId, uint64 seconds_, uint256 maxPrice, bytes calldata publicKey)
        external
        returns (uint64 expiry)
    {
        _registerBuyerKey(publicKey);
        return _buy(productId, seconds_, maxPrice);
    }

    /// @notice `buyWithPermit`, also recording the buyer's public key as `buyWithKey` does.
    function buyWithPermitAndKey(
        uint256 productId,
        uint64 seconds_,
        uint256 maxPrice,
        uint256 deadline,
        uint8 v,
        bytes32 r,
        bytes32 s,
        bytes calldata publicKey
    ) external returns (uint64 expiry) {
        _registerBuyerKey(publicKey);
        try IERC20Permit(address(token)).permit(msg.sender, address(this), maxPrice, deadline, v, r, s) {} catch {}
        return _buy(productId, seconds_, maxPrice);
    }

    /// @notice The price of `seconds_` of a product.
    function priceOf(uint256 productId, uint64 seconds_) public view returns (uint256) {
        return _product(productId).pricePerSecond * seconds_;
    }

    /// @notice A product.
    function getProduct(uint256 productId) external view returns (Product memory) {
        return _product(productId);
    }

    /// @notice When `buyer`'s licence to a product ends (0: never bought).
    function licenceExpiry(uint256 productId, address buyer) external view returns (uint64) {
        return licences[productId][buyer];
    }

    /// @notice Sets the marketplace fee (at most 10%) and its recipient. Marketplace owner only.
    function setFee(uint16 basisPoints, address recipient) external onlyOwner {
        if (basisPoints > MAX_FEE_BASIS_POINTS) revert FeeTooHigh(basisPoints);
        if (recipient == address(0)) revert ZeroBeneficiary();
        feeBasisPoints = basisPoints;
        feeRecipient = recipient;
        emit FeeChanged(basisPoints, recipient);
    }

    function _product(uint256 productId) private view returns (Product storage p) {
        p = products[productId];
        if (p.owner == address(0)) revert ProductNotFound(productId);
    }

    function _registerBuyerKey(bytes calldata publicKey) private {
        if (publicKey.length != 64) revert InvalidPublicKey(publicKey.length);
        address keyAddress = address(uint160(uint256(keccak256(publicKey))));
        if (keyAddress != msg.sender) revert PublicKeyNotBuyer(keyAddress, msg.sender);
        registry.registerPublicKey(publicKey);
    }

    function _buy(uint256 productId, uint64 seconds_, uint256 maxPrice) private returns (uint64 expiry) {
        Product storage p = _product(productId);
        if (!p.active) revert ProductIsPaused(productId);
        if (seconds_ < p.minimumSeconds) revert PeriodTooShort(seconds_, p.minimumSeconds);
        uint256 price = p.pricePerSecond * seconds_;
        if (price > maxPrice) revert PriceAboveMaximum(price, maxPrice);
        uint256 fee = (price * feeBasisPoints) / 10_000;
        uint64 current = licences[productId][msg.sender];
        uint64 start = current > block.timestamp ? current : uint64(block.timestamp);
        if (seconds_ > type(uint64).max - start) revert PeriodTooLong(seconds_);
        expiry = start + seconds_;
        licences[productId][msg.sender] = expiry;
        for (uint256 i = 0; i < p.streams.length; i++) {
            string storage streamId = p.streams[i];
            if (!registry.exists(streamId)) revert StreamNotFound(streamId);
            // The seller must still control the stream: a seller whose grant was taken away (or whose
            // stream was deleted and re-created by someone else) cannot keep selling it.
            if (!registry.hasDirectPermission(streamId, p.owner, StreamRegistry.PermissionType.Grant)) {
                revert SellerCannotGrant(streamId, p.owner);
            }
            uint64 held = registry.getPermissionsForUser(streamId, msg.sender).subscribeExpiration;
            if (held < expiry) {
                registry.setExpirationTime(streamId, msg.sender, StreamRegistry.PermissionType.Subscribe, expiry);
            }
        }
        if (price - fee > 0) token.safeTransferFrom(msg.sender, p.beneficiary, price - fee);
        if (fee > 0) token.safeTransferFrom(msg.sender, feeRecipient, fee);
        emit Purchased(productId, msg.sender, p.beneficiary, seconds_, price, fee, expiry);
    }
}
