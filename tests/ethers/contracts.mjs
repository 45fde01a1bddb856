// Uses Rivulet's deployed contracts through ethers v6 — a client nobody here wrote — with the committed ABI
// artifacts: create a stream, read its permissions, decode a custom-error revert, and buy a licence with an
// EIP-2612 permit signed by ethers' signTypedData (what wallets do for eth_signTypedData_v4).
//
// Inputs (environment; `cargo xtask test` sets them after deploying to a fresh anvil):
//   RIVULET_DEPLOYMENT  the deployment file written by rivulet-deploy
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { Contract, JsonRpcProvider, Signature, TypedDataEncoder, Wallet } from 'ethers';

assert.ok(process.env.RIVULET_DEPLOYMENT, 'set RIVULET_DEPLOYMENT (cargo xtask test does)');
const deployment = JSON.parse(readFileSync(process.env.RIVULET_DEPLOYMENT, 'utf8'));
const abi = (name) => JSON.parse(readFileSync(new URL(`../../contracts/out/${name}.json`, import.meta.url))).abi;
// No response cache: back-to-back transactions must see each other's nonces.
const provider = new JsonRpcProvider(deployment.rpcUrl, undefined, { cacheTimeout: -1, pollingInterval: 50 });
after(() => provider.destroy());
// anvil development accounts 4 and 5: the deploy funded them with DATA.
// Plain wallets read the pending nonce for every transaction; ethers' NonceManager counts locally and a
// send that reverts during gas estimation would leave a gap that stalls the account.
const seller = new Wallet('0x47e179ec197488593b187f80a00eb0da91f1b9d0b13f8733639f19c30a34926a', provider);
const buyerWallet = new Wallet('0x8b3a350cf5c34c9194ca85829a2df0ec3153be0318b5e2d3348e872092edffba', provider);
const buyer = buyerWallet;
const SUBSCRIBE = 3;
const GRANT = 4;

const registry = (runner) => new Contract(deployment.streamRegistry, abi('StreamRegistry'), runner);
const market = (runner) => new Contract(deployment.marketplace, abi('Marketplace'), runner);
const token = (runner) => new Contract(deployment.dataToken, abi('DataToken'), runner);
const sellerAddress = (await seller.getAddress()).toLowerCase();
const streamId = `${sellerAddress}/ethers/${Date.now()}`;

test('ethers creates a stream and reads it back, events included', async () => {
  const receipt = await (await registry(seller).createStream(streamId.split('/').slice(1).join('/'), '{"name":"from ethers"}')).wait();
  const created = receipt.logs.map((l) => registry(provider).interface.parseLog(l)).find((e) => e?.name === 'StreamCreated');
  assert.equal(created.args.streamId, streamId);
  assert.equal(await registry(provider).exists(streamId), true);
  const [metadata, creator] = await registry(provider).getStream(streamId);
  assert.equal(metadata, '{"name":"from ethers"}');
  assert.equal(creator.toLowerCase(), sellerAddress);
  const perms = await registry(provider).getPermissionsForUser(streamId, creator);
  assert.equal(perms.canGrant, true);
  assert.equal(perms.publishExpiration, 2n ** 64n - 1n);
});

test('a revert names its custom error in ethers', async () => {
  // A call decodes it itself...
  await assert.rejects(registry(buyer).updateStreamMetadata.staticCall(streamId, '{}'), (e) => {
    assert.equal(e.revert?.name, 'NoPermission');
    assert.equal(e.revert.args[0], streamId);
    return true;
  });
  // ...and a transaction's revert data parses with the ABI.
  await assert.rejects(registry(buyer).updateStreamMetadata(streamId, '{}'), (e) => {
    const parsed = registry(provider).interface.parseError(e.data);
    assert.equal(parsed?.name, 'NoPermission');
    assert.equal(parsed.args[1], buyerWallet.address);
    return true;
  });
});

test('EIP-712 domain of DATA matches what wallets sign (ERC-5267 and DOMAIN_SEPARATOR)', async () => {
  const [, name, version, chainId, verifyingContract] = await token(provider).eip712Domain();
  assert.equal(name, 'Rivulet DATA');
  assert.equal(version, '1');
  assert.equal(chainId, BigInt(deployment.chainId));
  const domain = { name, version, chainId, verifyingContract };
  assert.equal(await token(provider).DOMAIN_SEPARATOR(), TypedDataEncoder.hashDomain(domain));
});

test('a licence bought with an EIP-2612 permit signed by ethers signTypedData', async () => {
  await (await registry(seller).grantPermission(streamId, deployment.marketplace, GRANT)).wait();
  const listed = await (await market(seller).createProduct([streamId], sellerAddress, 3n, 10n, '{"name":"ethers product"}', '', '0x' + '00'.repeat(32))).wait();
  const productId = listed.logs.map((l) => market(provider).interface.parseLog(l)).find((e) => e?.name === 'ProductCreated').args.productId;
  const seconds = 120n;
  const price = await market(provider).priceOf(productId, seconds);
  assert.equal(price, 360n);
  const owner = buyerWallet.address;
  const domain = { name: 'Rivulet DATA', version: '1', chainId: BigInt(deployment.chainId), verifyingContract: deployment.dataToken };
  const types = { Permit: [
    { name: 'owner', type: 'address' }, { name: 'spender', type: 'address' }, { name: 'value', type: 'uint256' },
    { name: 'nonce', type: 'uint256' }, { name: 'deadline', type: 'uint256' },
  ] };
  const deadline = BigInt((await provider.getBlock('latest')).timestamp + 3600);
  const value = { owner, spender: deployment.marketplace, value: price, nonce: await token(provider).nonces(owner), deadline };
  const sig = Signature.from(await buyerWallet.signTypedData(domain, types, value));
  const before = await token(provider).balanceOf(sellerAddress);
  await (await market(buyer).buyWithPermit(productId, seconds, price, deadline, sig.v, sig.r, sig.s)).wait();
  assert.equal((await token(provider).balanceOf(sellerAddress)) - before, price);
  assert.equal(await token(provider).allowance(owner, deployment.marketplace), 0n, 'the permit covered exactly the price');
  assert.ok((await market(provider).licenceExpiry(productId, owner)) > BigInt((await provider.getBlock('latest')).timestamp));
  assert.equal(await registry(provider).hasPermission(streamId, owner, SUBSCRIBE), true);
});
