// @rivulet/sdk in Node against a real local network (anvil, the contracts, three relay nodes), started by
// `cargo xtask test`, which passes its config.json in RIVULET_CONFIG. The package is imported by name, so
// the `exports` map's `node` condition is what gets tested.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Client, RivuletError, generatePrivateKey } from '@rivulet/sdk';

const config = JSON.parse(readFileSync(process.env.RIVULET_CONFIG, 'utf8'));
const wsNodes = config.nodes.filter((a) => a.includes('/ws/'));
// anvil's development account 4 (publicly known; local chain only): pays for stream transactions.
const OWNER_KEY = '0x47e179ec197488593b187f80a00eb0da91f1b9d0b13f8733639f19c30a34926a';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Retries `fn` while nodes have not yet seen a permission granted a block ago (they follow the chain). */
async function whenGranted(fn, ms = 20000) {
  const deadline = Date.now() + ms;
  for (;;) {
    try {
      return await fn();
    } catch (e) {
      // A node that has not seen a grant yet refuses for want of permission. (A public grant it has not
      // seen yet makes it refuse plaintext; the client then sends the event encrypted by itself.)
      if (e.code !== 'NO_PERMISSION' || Date.now() > deadline) throw e;
      await sleep(200);
    }
  }
}

async function until(what, predicate, ms = 20000) {
  const deadline = Date.now() + ms;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

test('the TypeScript types accept the documented API and refuse misuse (tsc --strict; node16 and bundler resolution)', () => {
  const tsc = fileURLToPath(new URL('../../node_modules/typescript/bin/tsc', import.meta.url));
  const program = fileURLToPath(new URL('./types-check.ts', import.meta.url));
  for (const [module, resolution] of [['node16', 'node16'], ['esnext', 'bundler']]) {
    const run = spawnSync(process.execPath, [tsc, '--noEmit', '--strict', '--target', 'es2022', '--module', module,
      '--moduleResolution', resolution, '--lib', 'es2022,dom', program], { encoding: 'utf8' });
    assert.equal(run.status, 0, `${resolution}: ${run.stdout}${run.stderr}`);
  }
});

test('streams, permissions, publish with partition keys, subscribe, resend, errors', async (t) => {
  const owner = new Client({ nodes: [wsNodes[0]], privateKey: OWNER_KEY, deployment: config.deployment, rpcUrl: config.rpcUrl });
  const deviceKey = generatePrivateKey();
  const device = new Client({ nodes: [wsNodes[1], wsNodes[0]], privateKey: deviceKey, deployment: config.deployment });
  const reader = new Client({ nodes: [wsNodes[2]], deployment: config.deployment });
  t.after(() => Promise.all([owner.destroy(), device.destroy(), reader.destroy()]));

  const path = `/sdk-test/${Date.now()}`;
  const stream = await owner.createStream({ id: path, partitions: 3, name: 'SDK test Ärger', description: 'made by node.test.mjs' });
  const ownerAddress = await owner.getAddress();
  assert.equal(stream.id, `${ownerAddress.toLowerCase()}${path}`);
  assert.equal(stream.partitions, 3);
  assert.equal((await owner.getStream(stream.id)).name, 'SDK test Ärger');
  assert.ok((await reader.searchStreams('made by node.test')).some((s) => s.id === stream.id));
  // Case-insensitive beyond ASCII (the package lower-cases through JavaScript's toLowerCase).
  assert.ok((await reader.searchStreams('sdk TEST äRGER')).some((s) => s.id === stream.id));
  assert.ok(!(await reader.searchStreams('sdk test argers')).some((s) => s.id === stream.id));

  const deviceAddress = await device.getAddress();
  assert.equal(await owner.hasPermission({ streamId: stream.id, user: deviceAddress, permission: 'publish' }), false);
  await owner.grantPermissions(stream.id, { user: deviceAddress, permissions: ['publish'] });
  await owner.grantPermissions(stream.id, { public: true, permissions: ['subscribe'] });
  assert.equal(await owner.hasPermission({ streamId: stream.id, user: deviceAddress, permission: 'publish' }), true);
  const stranger = '0x000000000000000000000000000000000000dEaD';
  assert.equal(await owner.hasPermission({ streamId: stream.id, user: stranger, permission: 'subscribe' }), true);
  assert.equal(await owner.hasPermission({ streamId: stream.id, user: stranger, permission: 'subscribe', allowPublic: false }), false);

  // Relay nodes follow the registry a block or so behind: wait until the grant is known there.
  const published = await whenGranted(() => device.publish(stream.id, { warmup: 0 }, { partitionKey: 'sensor-1' }));
  const partition = published.partition;
  assert.ok(partition >= 0 && partition < 3);

  const received = [];
  const sub = await whenGranted(() => reader.subscribe({ id: stream.id, partition }, (content, metadata) => received.push({ content, metadata })));
  // Let the mesh carry events to the reader's node, then count from a fresh start.
  for (let i = 0; i < 100 && received.length === 0; i++) {
    await device.publish(stream.id, { warmup: true }, { partitionKey: 'sensor-1' });
    await sleep(100);
  }
  await sleep(500);
  received.length = 0;

  for (let n = 0; n < 25; n++) {
    const r = await device.publish(stream.id, { n, bytes: 'x'.repeat(100) }, { partitionKey: 'sensor-1' });
    assert.equal(r.partition, partition, 'the same key picks the same partition');
  }
  const binary = new Uint8Array([0, 1, 2, 254, 255]);
  await device.publish(stream.id, binary, { partition });
  await until('26 events at the reader', () => received.length >= 26).catch((e) => { throw new Error(`${e.message}; got ${JSON.stringify(received.map((m) => [m.content.n ?? m.content, m.metadata.sequenceNumber]))}`); });
  const numbers = received.slice(0, 25).map((m) => m.content.n);
  assert.deepEqual(numbers, [...Array(25).keys()], 'every event once, in order');
  for (const { metadata } of received) {
    assert.equal(metadata.publisherId, deviceAddress);
    assert.equal(metadata.verified, true);
    assert.equal(metadata.streamId, stream.id);
    assert.match(metadata.signature, /^0x[0-9a-f]{130}$/);
  }
  assert.deepEqual([...received[25].content], [...binary]);
  assert.equal(received[25].metadata.contentType, 'binary');
  await sub.unsubscribe();

  // History: the stream is not stored by any node, so resend says so plainly.
  await assert.rejects(reader.resend({ id: stream.id, partition }, { last: 5 }), (e) => e instanceof RivuletError && e.code === 'NOT_STORED');

  // Bad input gets clear errors with codes; the clients keep working.
  await assert.rejects(reader.publish(stream.id, { not: 'allowed' }), (e) => e.code === 'NO_PERMISSION' && /may not publish/.test(e.message));
  await assert.rejects(device.publish('not-a-stream', {}), (e) => e.code === 'INVALID_ARGUMENT');
  await assert.rejects(device.publish(stream.id, {}, { partition: 100 }), (e) => e.code === 'INVALID_ARGUMENT');
  await assert.rejects(device.subscribe(stream.id, 'not a function'), (e) => e.code === 'INVALID_ARGUMENT');
  await assert.rejects(device.publish(stream.id, new Uint8Array(1024 * 1024 + 1)), (e) => e.code === 'INVALID_ARGUMENT');
  // Content JSON has no text for is refused as such (it used to throw past the promise and end the process).
  const cyclic = {};
  cyclic.self = cyclic;
  for (const content of [undefined, () => 1, Symbol('s'), { n: 1n }, cyclic]) {
    await assert.rejects(device.publish(stream.id, content), (e) => e.code === 'INVALID_ARGUMENT' && /JSON/.test(e.message), String(typeof content));
  }
  await assert.rejects(device.resend(stream.id, () => 1), (e) => e.code === 'INVALID_ARGUMENT');
  // NaN and Infinity would become null in JSON, and so a silent default: they are refused by name.
  await assert.rejects(device.publish(stream.id, {}, { timestamp: NaN }), (e) => e.code === 'INVALID_ARGUMENT' && /options\.timestamp is NaN/.test(e.message));
  await assert.rejects(device.resend(stream.id, { from: { timestamp: Infinity } }), (e) => e.code === 'INVALID_ARGUMENT' && /query\.from\.timestamp/.test(e.message));
  await assert.rejects(reader.createStream({ id: path }), (e) => e.code === 'REVERTED' || e.code === 'CHAIN');
  await assert.rejects(owner.createStream({ id: path }), (e) => e.code === 'REVERTED' && /StreamExists/.test(e.message));
  await assert.rejects(device.grantPermissions(stream.id, { user: stranger, permissions: ['publish'] }), (e) => e.code === 'REVERTED' || e.code === 'CHAIN');
  await assert.rejects(owner.getStream(`${ownerAddress.toLowerCase()}/does/not/exist`), (e) => e.code === 'NOT_FOUND');
  assert.throws(() => new Client({ nodes: [] }), (e) => e.code === 'INVALID_ARGUMENT');
  const typo = new Client({ nodes: wsNodes, nodez: 1 });
  await assert.rejects(typo.getAddress(), (e) => e.code === 'INVALID_ARGUMENT' && /nodez/.test(e.message));
  assert.ok((await device.publish(stream.id, { still: 'works' }, { partition })).timestamp > 0);

  // Revoking publish stops the device at the nodes.
  await owner.revokePermissions(stream.id, { user: deviceAddress, permissions: ['publish'] });
  let refused;
  for (let i = 0; i < 100 && !refused; i++) {
    refused = await device.publish(stream.id, { after: 'revoke' }, { partition }).then(() => undefined, (e) => e);
    if (!refused) await sleep(200);
  }
  assert.equal(refused?.code, 'NO_PERMISSION');

  await device.destroy();
  await assert.rejects(device.publish(stream.id, {}), (e) => e.code === 'DESTROYED');
});

test('a handler that throws or rejects reaches onError, and nothing goes unhandled', async () => {
  const unhandled = [];
  const onUnhandled = (e) => unhandled.push(e);
  process.on('unhandledRejection', onUnhandled);
  const client = new Client({ nodes: [wsNodes[0]], privateKey: generatePrivateKey() });
  try {
    const marker = Math.random();
    const failures = [];
    const delivered = [];
    await client.subscribe(config.demo.stream, (content) => {
      if (content.marker !== marker) return;
      delivered.push(content.n);
      if (content.n === 1) throw new Error('sync failure');
    }, { onError: (e) => failures.push(e.message) });
    await client.subscribe(config.demo.stream, async (content) => {
      if (content.marker === marker && content.n === 2) throw new Error('async failure');
    }, { onError: (e) => failures.push(e.message) });
    for (const n of [1, 2, 3]) await client.publish(config.demo.stream, { marker, n });
    await until('three events and two failures', () => delivered.length === 3 && failures.length === 2);
    assert.deepEqual(delivered, [1, 2, 3], 'a failing handler does not stop delivery');
    assert.deepEqual(failures.sort(), ['async failure', 'sync failure']);
    await sleep(100);
    assert.deepEqual(unhandled, []);
  } finally {
    process.off('unhandledRejection', onUnhandled);
    await client.destroy();
  }
});

test('history of a stored stream, and the server-side publisher reaches a Node subscriber', async (t) => {
  const reader = new Client({ nodes: [wsNodes[1]] });
  t.after(() => reader.destroy());
  const got = [];
  const sub = await reader.subscribe(config.demo.serverStream, (content, metadata) => got.push({ content, metadata }), { last: 3 });
  await until('weather readings', () => got.length >= 5, 30000);
  assert.ok(got.every((m) => typeof m.content.temperature === 'number' && m.metadata.verified));
  const times = got.map((m) => m.metadata.timestamp);
  assert.deepEqual(times, [...times].sort((a, b) => a - b), 'in order');
  const history = await reader.resend(config.demo.serverStream, { last: 4 });
  assert.equal(history.length, 4);
  await sub.unsubscribe();
  // The seeded marketplace stream is not public: without a licence there is nothing to read.
  await assert.rejects(reader.subscribe(config.demo.licensedStream, () => {}), (e) => e.code === 'NO_PERMISSION');
  await assert.rejects(reader.resend(config.demo.licensedStream, { last: 1 }), (e) => e.code === 'NO_PERMISSION');
});

test('the network coordinator: a stored part\'s storage nodes from the chain, a resend from each, the history verified against the final checksums', async (t) => {
  const reader = new Client({ nodes: [wsNodes[1]], deployment: config.deployment });
  t.after(() => reader.destroy());
  const stream = config.demo.serverStream;
  const nodes = await reader.storageNodes(stream);
  assert.equal(nodes.length, 3, 'every node of the local network stores the demo stream (replication 3)');
  // Any of them answers the history: straight from each one, found on chain.
  for (const node of nodes) {
    assert.match(node.account, /^0x[0-9a-fA-F]{40}$/);
    assert.ok(node.live, `${node.account} is live`);
    const ws = node.addresses.find((a) => a.includes('/ws/') && a.endsWith(`/p2p/${node.peerId}`));
    assert.ok(ws, `a WebSocket address among ${node.addresses}`);
    const direct = new Client({ nodes: [ws] });
    try {
      assert.equal((await direct.resend(stream, { last: 3 })).length, 3);
    } finally {
      await direct.destroy();
    }
  }
  // The whole stored history checks out against what the network finalised (intervals become final a
  // few seconds after they end: wait for the first).
  let checked;
  const deadline = Date.now() + 60000;
  do {
    checked = await reader.verifyHistory(stream, { last: 10000 });
    if (checked.verified.length > 0) break;
    await sleep(2000);
  } while (Date.now() < deadline);
  assert.ok(checked.verified.length > 0, `no final interval: ${JSON.stringify(checked)}`);
  assert.ok(checked.events > 0 && checked.from < checked.to, JSON.stringify(checked));
  for (const interval of [...checked.verified, ...checked.pending]) assert.ok(Number.isInteger(interval));
  // A part nobody stores cannot be verified, and says why.
  await assert.rejects(reader.storageNodes(42), (e) => e.code === 'INVALID_ARGUMENT');
  await assert.rejects(
    reader.verifyHistory(`${stream}-nothing-here`, { last: 5 }),
    (e) => e instanceof RivuletError && ['NOT_STORED', 'NOT_FOUND', 'NO_PERMISSION'].includes(e.code),
  );
});

test('end-to-end encryption: a permitted reader decrypts, a stranger cannot get the key', async (t) => {
  const owner = new Client({ nodes: [wsNodes[0]], privateKey: OWNER_KEY, deployment: config.deployment });
  const device = new Client({ nodes: [wsNodes[1]], privateKey: generatePrivateKey() });
  const readerKey = generatePrivateKey();
  const reader = new Client({ nodes: [wsNodes[2]], privateKey: readerKey });
  const stranger = new Client({ nodes: [wsNodes[2]], privateKey: generatePrivateKey() });
  t.after(() => Promise.all([owner, device, reader, stranger].map((c) => c.destroy())));
  const stream = await owner.createStream({ id: `/private/${Date.now()}`, description: 'encrypted' });
  await owner.grantPermissions(stream.id, { user: await device.getAddress(), permissions: ['publish'] });
  await owner.grantPermissions(stream.id, { user: await reader.getAddress(), permissions: ['subscribe'] });

  const got = [];
  const problems = [];
  await whenGranted(() => device.publish(stream.id, { warmup: true }, { encrypt: true }));
  const sub = await whenGranted(() => reader.subscribe(stream.id, (content, metadata) => got.push({ content, metadata }), { onError: (e) => problems.push(e.code) }));
  for (let i = 0; i < 100 && got.length === 0; i++) {
    await device.publish(stream.id, { warmup: true }, { encrypt: true });
    await sleep(100);
  }
  await sleep(500);
  got.length = 0;
  for (let n = 0; n < 10; n++) {
    if (n === 5) await device.rotateGroupKey(stream.id);
    if (n === 8) await device.rekey(stream.id);
    await device.publish(stream.id, { secret: n }, { encrypt: true });
  }
  await until('10 decrypted events', () => got.length >= 10).catch((e) => { throw new Error(e.message + ' got=' + got.length + ' problems=' + JSON.stringify(problems)); });
  assert.deepEqual(got.map((m) => m.content.secret), [...Array(10).keys()]);
  assert.ok(got.every((m) => m.metadata.encrypted && m.metadata.verified));
  assert.deepEqual(problems, []);
  await sub.unsubscribe();

  // The stranger may not subscribe, and so cannot ask the publisher for keys either.
  await assert.rejects(stranger.subscribe(stream.id, () => {}), (e) => e.code === 'NO_PERMISSION');
});

/** An EIP-1193 wallet for `account`, forwarding to anvil (whose development accounts are unlocked). */
function anvilWallet(account) {
  let id = 0;
  return {
    async request({ method, params = [] }) {
      if (method === 'eth_requestAccounts' || method === 'eth_accounts') return [account];
      const response = await fetch(config.rpcUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ jsonrpc: '2.0', id: ++id, method, params }),
      });
      const body = await response.json();
      if (body.error) throw Object.assign(new Error(body.error.message), body.error);
      return body.result;
    },
  };
}

test('a wallet authorises the client\'s own key once, and the client then reads what the wallet may read', async (t) => {
  // anvil's development account 2, as a wallet: it holds subscribe permission on a private stream.
  const walletAccount = '0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC';
  const owner = new Client({ nodes: [wsNodes[0]], privateKey: OWNER_KEY, deployment: config.deployment, rpcUrl: config.rpcUrl });
  const device = new Client({ nodes: [wsNodes[0]], privateKey: generatePrivateKey(), deployment: config.deployment });
  const reader = new Client({ nodes: [wsNodes[1]], deployment: config.deployment, ethereum: anvilWallet(walletAccount) });
  const idle = new Client({ nodes: [wsNodes[1]], deployment: config.deployment });
  t.after(() => Promise.all([owner.destroy(), device.destroy(), reader.destroy(), idle.destroy()]));

  const stream = await owner.createStream({ id: `/wallet-reader/${Date.now()}`, name: 'private' });
  await owner.grantPermissions(stream.id, { user: await device.getAddress(), permissions: ['publish'] });
  await owner.grantPermissions(stream.id, { user: walletAccount, permissions: ['subscribe'] });
  await whenGranted(() => device.publish(stream.id, { warmup: true }));

  // Before the wallet signs, the client's key is a stranger to the stream.
  await assert.rejects(reader.subscribe(stream.id, () => {}), (e) => e instanceof RivuletError && e.code === 'NO_PERMISSION');
  await assert.rejects(idle.authoriseWallet(), (e) => e.code === 'INVALID_ARGUMENT' && /ethereum/.test(e.message));
  await assert.rejects(reader.authoriseWallet({ validForSeconds: 5 }), (e) => e.code === 'INVALID_ARGUMENT');

  assert.equal(await reader.authoriseWallet(), walletAccount);
  const received = [];
  // (The reader's node may follow the chain a block behind the publisher's.)
  await whenGranted(() => reader.subscribe(stream.id, (content, metadata) => received.push({ content, metadata })));
  for (let i = 0; i < 100 && received.length === 0; i++) {
    await device.publish(stream.id, { reading: i });
    await sleep(100);
  }
  assert.ok(received.length > 0, 'events arrive once the wallet authorised the key');
  assert.equal(received[0].metadata.publisherId.toLowerCase(), (await device.getAddress()).toLowerCase());
  // Events the reader publishes are still signed by its own key, not the wallet.
  assert.notEqual((await reader.getAddress()).toLowerCase(), walletAccount.toLowerCase());
});
