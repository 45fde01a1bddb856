// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {ERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Permit.sol";
import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";

/// @title DATA, the token Rivulet's marketplace is paid in.
/// @notice ERC-20 with EIP-2612 permit. The owner mints; on the local development chain (chain id 31337)
/// anyone may use the faucet.
contract DataToken is ERC20, ERC20Permit, Ownable {
    /// The chain id of anvil/hardhat, the only chain where the faucet works.
    uint256 public constant LOCAL_CHAIN_ID = 31337;

    /// The faucet was called on a chain other than the local development chain.
    error FaucetDisabled(uint256 chainId);

    constructor(address initialOwner) ERC20("Rivulet DATA", "DATA") ERC20Permit("Rivulet DATA") Ownable(initialOwner) {}

    /// @notice Mints `amount` to `to`. Owner only.
    function mint(address to, uint256 amount) external onlyOwner {
        _mint(to, amount);
    }

    /// @notice Mints `amount` to `to`, on the local development chain only.
    function faucet(address to, uint256 amount) external {
        if (block.chainid != LOCAL_CHAIN_ID) revert FaucetDisabled(block.chainid);
        _mint(to, amount);
    }
}
