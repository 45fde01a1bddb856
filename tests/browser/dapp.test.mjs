// The marketplace dapp end to end in headless Chromium (Debian's, driven by playwright-core) against a
// real local network started by `cargo xtask test`: anvil with the contracts, three relay nodes, the site
// (RIVULET_SITE, its config.json in RIVULET_CONFIG). Screenshots go to RIVULET_SCREENSHOTS.
//
// No wallet extension can be installed here, so each page gets an injected EIP-1193 provider that
// announces itself by EIP-6963 and forwards to anvil, whose development accounts are unlocked: anvil
// signs `eth_sendTransaction`, `eth_signTypedData_v4` and `personal_sign` as a wallet would. The dapp
// cannot tell the difference. The provider can be told to reject the next request of a method (code
// 4001, as a user's "Reject" does) and can start on another chain.
//
// - A seller creates a stream, lets a device publish to it, and lists it; a buyer finds it, buys a
//   licence with one permit transaction, and watches verified events arrive; the chain's time moves past
//   the licence's end (`evm_increaseTime`), the relay nodes stop delivering and the page says so; the
//   seller sees the sale and its revenue.
// - A buyer who bought while the seller's device was away (its history stored, its key with nobody
//   online) sees the events as undecryptable; once the device is back with its keys the page decrypts
//   them; after the licence lapses nothing the device publishes reaches the page, nor can it be reopened.
// - The Network page lists the coordinator's nodes, what each stores and the latest finalised checksums.
// - A wallet on the wrong chain is switched (the chain added first); a too-small balance, a rejected
//   signature and a revert (sales paused) each show a plain sentence, and nothing is paid.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { launch, newPage } from './chromium.mjs';
import { Client, fileKeyStore } from '@rivulet/sdk';

const site = process.env.RIVULET_SITE;
const config = JSON.parse(readFileSync(process.env.RIVULET_CONFIG, 'utf8'));
const shots = process.env.RIVULET_SCREENSHOTS ?? 'target/screenshots';
mkdirSync(shots, { recursive: true });
const wsNodes = config.nodes.filter((a) => a.includes('/ws/'));

// anvil's development accounts 4, 5 and 9 (public keys of a public mnemonic; the local chain only).
const SELLER = '0x15d34AAf54267DB7D7c367839AAf71A00a2C6A65';
const SECOND_BUYER = '0x9965507D1a55bcC2695C58ba16FB37d819B0A4dc';
const BUYER = '0xa0Ee7A142d267C1f36714E4a8F75612F20a79720';
const DEVICE_KEY = '0x' + 'd1'.repeat(32);
// anvil's development account 8, and a second device.
const LATE_BUYER = '0x23618e81E3f5cdF7f54C3d65f7FBc0aBf5B21E8f';
const AWAY_DEVICE_KEY = '0x' + 'd2'.repeat(32);

let browser;
before(async () => { browser = await launch(); });
after(() => browser?.close());

/** The injected wallet: an EIP-1193 provider announced by EIP-6963, forwarding to anvil. */
function testWallet({ account, rpcUrl, chainId, startChainId, legacy }) {
  let chain = startChainId;
  const known = new Set([startChainId]);
  const listeners = {};
  let id = 0;
  window.__walletCalls = [];
  window.__reject = null;
  const fail = (code, message) => Object.assign(new Error(message), { code });
  const emit = (event, value) => (listeners[event] ?? []).forEach((f) => f(value));
  const provider = {
    async request({ method, params = [] }) {
      window.__walletCalls.push(method);
      if (window.__reject === method) {
        window.__reject = null;
        throw fail(4001, 'User rejected the request.');
      }
      switch (method) {
        case 'eth_requestAccounts':
        case 'eth_accounts':
          return [account];
        case 'eth_chainId':
          return chain;
        case 'wallet_switchEthereumChain':
          if (!known.has(params[0].chainId)) throw fail(4902, `Unrecognized chain ID "${params[0].chainId}".`);
          chain = params[0].chainId;
          emit('chainChanged', chain);
          return null;
        case 'wallet_addEthereumChain':
          if (!params[0].rpcUrls?.length || !params[0].nativeCurrency) throw fail(-32602, 'incomplete chain');
          known.add(params[0].chainId);
          return null;
      }
      if (chain !== chainId) throw fail(4901, `the wallet is on chain ${chain}`);
      const response = await fetch(rpcUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ jsonrpc: '2.0', id: ++id, method, params }),
      });
      const body = await response.json();
      if (body.error) throw Object.assign(new Error(body.error.message), body.error);
      return body.result;
    },
    on(event, f) { (listeners[event] ??= []).push(f); },
    removeListener(event, f) { listeners[event] = (listeners[event] ?? []).filter((g) => g !== f); },
  };
  const info = Object.freeze({
    uuid: crypto.randomUUID(),
    name: 'Test Wallet',
    icon: 'data:image/svg+xml,%3Csvg xmlns="http://www.w3.org/2000/svg"/%3E',
    rdns: 'org.rivulet.test-wallet',
  });
  if (legacy) {
    // An older wallet: only `window.ethereum`, no EIP-6963 announcement.
    window.ethereum = provider;
    return;
  }
  const announce = () => window.dispatchEvent(new CustomEvent('eip6963:announceProvider', { detail: Object.freeze({ info, provider }) }));
  window.addEventListener('eip6963:requestProvider', announce);
  announce();
}

async function openDapp(account, { startChainId, legacy = false } = {}) {
  const { page, errors } = await newPage(browser);
  const chainId = `0x${config.deployment.chainId.toString(16)}`;
  await page.addInitScript(testWallet, { account, rpcUrl: config.rpcUrl, chainId, startChainId: startChainId ?? chainId, legacy });
  await page.goto(`${site}/dapp/`);
  await page.waitForSelector('#account', { timeout: 60000 });
  return { page, errors };
}

async function connect(page) {
  await page.click('button.connect-wallet[data-wallet="org.rivulet.test-wallet"]');
  await page.waitForSelector('#account-address', { timeout: 30000 });
  assert.equal(await page.textContent('#account-label'), 'Test Wallet');
}

async function rpc(method, params = []) {
  const response = await fetch(config.rpcUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method, params }),
  });
  const body = await response.json();
  if (body.error) throw new Error(`${method}: ${body.error.message}`);
  return body.result;
}

/** Waits for a form's outcome; fails with the page's error sentence if it is one. */
async function outcome(page) {
  const handle = await page.waitForSelector('#sell .receipt, #sell [role="alert"]', { timeout: 60000 });
  const text = await handle.textContent();
  assert.ok(await handle.evaluate((e) => e.classList.contains('receipt')), `the page said: ${text}`);
  return text;
}

async function rowsVerified(page, scope, n) {
  try {
    await page.waitForFunction(
      ([s, n]) => [...document.querySelectorAll(`${s} .events tbody tr`)].filter((r) => /signature verified/.test(r.textContent)).length >= n,
      [scope, n],
      { timeout: 60000 },
    );
  } catch (e) {
    throw new Error(`no ${n} verified events in ${scope}; the page shows: ${await page.textContent(scope)}`, { cause: e });
  }
}

/**
 * On the seller's Sell page: creates `<seller>/<path>` with `partitions` (its history stored by the
 * network), lets `deviceAddress` publish to it, and lists it as `name` at 0.36 DATA per hour with a
 * one-minute minimum. Returns the product id.
 */
async function sellThroughTheDapp(seller, { path, name, partitions, deviceAddress, description }) {
  const stream = `${SELLER.toLowerCase()}/${path}`;
  await seller.click('#nav-sell');
  await seller.waitForSelector('#create-stream');
  await seller.fill('#stream-path', path);
  await seller.fill('#stream-name', name);
  await seller.fill('#stream-description', description);
  await seller.fill('#stream-partitions', String(partitions));
  assert.ok(await seller.isChecked('#stream-store'), 'history is stored unless the seller says not');
  await seller.click('#create-stream button[type=submit]');
  assert.match(await outcome(seller), new RegExp(`Created ${stream}; 3 storage nodes keep its history for 30 days`));
  await seller.waitForSelector('#grant-device');
  await seller.selectOption('#device-stream', stream);
  await seller.fill('#device-address', deviceAddress);
  await seller.click('#grant-device button[type=submit]');
  assert.match(await outcome(seller), /may now publish/);
  await seller.check(`.list-stream[value="${stream}"]`);
  await seller.fill('#product-name', name);
  await seller.fill('#product-description', description);
  await seller.fill('#product-category', 'environment');
  await seller.fill('#product-price', '0.36');
  await seller.selectOption('#product-minimum', '60');
  await seller.click('#list-product button[type=submit]');
  const listing = await outcome(seller);
  const productId = Number(/product (\d+)/.exec(listing)[1]);
  assert.match(listing, /0\.36 DATA per hour/);
  await seller.waitForSelector(`#my-product-${productId}`);
  return productId;
}

/** Waits until every relay node of the network stores `part` and serves its history. */
async function storedEverywhere(part) {
  const deadline = Date.now() + 60000;
  for (const http of config.nodeHttp) {
    for (;;) {
      const health = await (await fetch(`${http}/health`)).json();
      if (health.storage.some((s) => s.part === part && s.state === 'serving')) break;
      if (Date.now() > deadline) throw new Error(`${http} does not serve ${part}: ${JSON.stringify(health.storage)}`);
      await new Promise((r) => setTimeout(r, 300));
    }
  }
}

/** On the buyer's page: DATA from the faucet, the product found by name, a minute of it bought with one permit. */
async function buyAMinute(buyer, name) {
  await buyer.waitForFunction(() => /DATA/.test(document.getElementById('balance')?.textContent ?? ''));
  const before = parseFloat(await buyer.textContent('#balance'));
  await buyer.click('#faucet');
  await buyer.waitForFunction((b) => parseFloat(document.getElementById('balance').textContent) >= b + 100, before, { timeout: 30000 });
  await buyer.fill('#search', name);
  await buyer.waitForFunction(() => document.querySelectorAll('#products li').length === 1);
  await buyer.click(`#products a:has-text("${name}")`);
  await buyer.waitForSelector('#product');
  await buyer.waitForSelector('.restricted', { timeout: 30000 });
  await buyer.selectOption('.buy .period', '60');
  await buyer.waitForFunction(() => /Price: 0\.006 DATA for 1 min/.test(document.querySelector('.price-quote').textContent));
  await buyer.click('.buy-permit');
  await buyer.waitForSelector('.buy .receipt', { timeout: 60000 });
}

let listed; // { stream, productId, name }

// First: the next test moves the chain's clock 180 s ahead of the publishers', and event-time intervals
// then fall outside the chain-time report windows for the rest of the run.
test('the Network page lists the nodes, what each stores, and the checksums the network finalised', async () => {
  const { page, errors } = await openDapp(SECOND_BUYER);
  await page.click('#nav-network');
  await page.waitForSelector('#network-nodes tr.node', { timeout: 30000 });
  // The local network's three nodes, staked, live and storing; each demo part on all three.
  const nodes = await page.$$eval('#network-nodes tr.node', (rows) => rows.map((r) => ({
    state: r.querySelector('.state').textContent,
    parts: Number(r.querySelector('.parts').textContent),
    stake: r.children[2].textContent,
  })));
  assert.equal(nodes.length, 3, JSON.stringify(nodes));
  for (const n of nodes) {
    assert.equal(n.stake, '100 DATA');
    assert.ok(n.parts >= 3, JSON.stringify(n));
  }
  const weather = config.demo.serverStream;
  const row = `#network-parts tr.part[data-part="${weather}#0"]`;
  await page.waitForSelector(row, { timeout: 30000 });
  assert.equal((await page.textContent(`${row} .replicas`)).split(', ').length, 3);
  // The weather station publishes twice a second: its intervals are reported and become final (10 s
  // intervals, reports from 5 s after their end), and the page shows the latest.
  await page.waitForFunction(
    (sel) => document.querySelector(sel)?.textContent.startsWith('interval '),
    `${row} .final`,
    { timeout: 90000 },
  );
  assert.match(await page.textContent(`${row} .final`), /^interval \d+: \d+ events, 0x/);
  assert.match(await page.textContent('#network-summary'), /^Epoch \d+ · 3 nodes · reward pool [\d.]+ DATA/);
  await page.screenshot({ path: `${shots}/dapp-network.png`, fullPage: true });
  assert.deepEqual(errors, []);
  await page.close();
});

test('a seller lists a stream; a buyer licenses it with one permit, watches it, and loses it when the licence lapses; the seller sees the sale', async () => {
  const path = `e2e/air-${Date.now()}`;
  const stream = `${SELLER.toLowerCase()}/${path}`;
  const name = `Air quality ${Date.now() % 100000}`;

  // The seller: create the stream, let a device publish, list it.
  const { page: seller, errors: sellerErrors } = await openDapp(SELLER);
  await connect(seller);
  const device = new Client({ nodes: wsNodes, privateKey: DEVICE_KEY, deployment: config.deployment });
  const deviceAddress = await device.getAddress();
  const productId = await sellThroughTheDapp(seller, { path, name, partitions: 2, deviceAddress, description: 'Air quality every 200 ms' });
  await seller.screenshot({ path: `${shots}/dapp-sell.png`, fullPage: true });
  listed = { stream, productId, name };

  // The device publishes while the buyer shops.
  let n = 0;
  let publishing = true;
  const publisher = (async () => {
    while (publishing) {
      n += 1;
      try {
        await device.publish(stream, { pm25: 10 + (n % 7), no2: 20 + (n % 5), n, sensor: `s${n % 2}` }, { partition: n % 2 });
      } catch (e) {
        // The relay nodes may not have seen the grant yet.
        if (n > 50) throw e;
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  })();

  try {
    // The buyer: DATA from the faucet, then the product found by search and bought.
    const { page: buyer, errors: buyerErrors } = await openDapp(BUYER);
    await connect(buyer);
    await buyAMinute(buyer, name);
    const steps = await buyer.$$eval('.buy .steps li', (lis) => lis.map((l) => l.textContent));
    assert.match(steps[0], /Signature requested/);
    assert.ok(steps.some((s) => /Transaction sent/.test(s)), steps.join('\n'));
    assert.match(steps.at(-1), /Confirmed in block \d+: the purchase/);
    assert.match(await buyer.textContent('.buy .receipt'), /paid 0\.006 DATA for 1 min; licensed until/);
    const calls = await buyer.evaluate(() => window.__walletCalls);
    assert.ok(calls.includes('eth_signTypedData_v4') && calls.includes('eth_sendTransaction') && calls.includes('personal_sign'), calls.join());
    assert.equal(calls.filter((c) => c === 'eth_sendTransaction').length, 2, 'the faucet and one purchase');
    // The licensed stream goes live: the device's events, each verified in the page.
    await rowsVerified(buyer, '#product', 3);
    assert.match(await buyer.textContent('#product .events tbody'), /pm25/);
    // Both partitions arrive in the one view.
    await buyer.waitForFunction(() => /"s0"/.test(document.querySelector('#product .events tbody').textContent) && /"s1"/.test(document.querySelector('#product .events tbody').textContent), null, { timeout: 30000 });
    assert.match(await buyer.textContent('#product .stream h3'), /2 partitions/);
    assert.match(await buyer.textContent('#product .events tbody'), new RegExp(deviceAddress.slice(0, 6)));
    await buyer.waitForSelector('#product .chart');
    await buyer.click('#product .pause');
    await buyer.waitForFunction(() => /new events while paused/.test(document.querySelector('#product .stream').textContent), null, { timeout: 10000 });
    await buyer.click('#product .pause');
    await buyer.screenshot({ path: `${shots}/dapp-bought.png`, fullPage: true });

    // My licences: the countdown, and the live view with history.
    await buyer.click('#nav-licences');
    const licence = `#licence-${productId}`;
    await buyer.waitForSelector(licence, { timeout: 30000 });
    assert.match(await buyer.textContent(`${licence} .countdown`), /Active — \d+ s left|Active — 1 min 0 s left/);
    await buyer.click(`${licence} .watch`);
    await rowsVerified(buyer, licence, 3);

    // Extend by a minute: the new end follows on from the old one.
    const until = async () => /Until (.*?) ·/.exec(await buyer.textContent(`${licence} .meta`))[1];
    const oldEnd = await until();
    await buyer.click(`${licence} .extend summary`);
    await buyer.selectOption(`${licence} .extend .period`, '60');
    await buyer.click(`${licence} .extend .buy-permit`);
    await buyer.waitForSelector(`${licence} .extend .receipt`, { timeout: 60000 });
    await buyer.waitForFunction(([sel, b]) => !document.querySelector(`${sel} .meta`).textContent.includes(`Until ${b} ·`), [licence, oldEnd], { timeout: 30000 });
    const parse = (s) => { const [d, t] = s.split(', '); const [dd, mm, yy] = d.split('/'); return Date.parse(`${yy}-${mm}-${dd}T${t}`); };
    assert.equal(parse(await until()) - parse(oldEnd), 60000, 'extended from its end by 60 s');
    assert.match(await buyer.textContent(`${licence} .meta`), /paid 0\.012 DATA in all/);
    await buyer.screenshot({ path: `${shots}/dapp-licences.png`, fullPage: true });

    // The chain's time passes the licence's end: the relay nodes end the subscription, the page says so.
    await rpc('evm_increaseTime', [180]);
    await rpc('evm_mine');
    await buyer.waitForSelector(`${licence}.lapsed`, { timeout: 30000 });
    assert.match(await buyer.textContent(`${licence} .countdown`), /Lapsed — ended/);
    await buyer.waitForSelector(`${licence} .ended`, { timeout: 30000 });
    const shown = await buyer.$$eval(`${licence} .events tbody tr`, (rows) => rows.length);
    await new Promise((r) => setTimeout(r, 2000));
    assert.equal(await buyer.$$eval(`${licence} .events tbody tr`, (rows) => rows.length), shown, 'no event after the end');
    await buyer.screenshot({ path: `${shots}/dapp-lapsed.png`, fullPage: true });
    assert.deepEqual(buyerErrors, []);
    await buyer.close();

    // The seller sees the sale and the revenue.
    await seller.reload();
    await seller.waitForSelector('#account', { timeout: 60000 });
    await connect(seller);
    await seller.click('#nav-sell');
    await seller.waitForSelector('#sales', { timeout: 30000 });
    const sale = await seller.$$eval('#sales tbody tr', (rows, name) => rows.map((r) => r.textContent).filter((t) => t.includes(name)), name);
    assert.equal(sale.length, 2, 'the purchase and the extension');
    for (const s of sale) assert.match(s, new RegExp(`${BUYER.slice(0, 6)}.*1 min.*0\\.006`));
    assert.equal(await seller.textContent(`#my-product-${productId} td:nth-child(3)`), '2');
    assert.match(await seller.textContent('#revenue'), /Revenue: [\d.]+ DATA from \d+ sales?\./);
    await seller.screenshot({ path: `${shots}/dapp-sales.png`, fullPage: true });
    assert.deepEqual(sellerErrors, []);
    await seller.close();
  } finally {
    publishing = false;
    await publisher.catch(() => {});
    device.destroy();
  }
});

test('a buyer who bought while the device was away decrypts its earlier events once it is back, and reads nothing after the licence lapses', async () => {
  const path = `e2e/away-${Date.now()}`;
  const stream = `${SELLER.toLowerCase()}/${path}`;
  const name = `Rooftop wind ${Date.now() % 100000}`;
  // The device keeps its group keys in a directory of its own, as a device's disk would.
  const keys = fileKeyStore(mkdtempSync(join(tmpdir(), 'rivulet-device-keys-')));
  const deviceOptions = { nodes: wsNodes, privateKey: AWAY_DEVICE_KEY, deployment: config.deployment, keyStore: keys };
  const { page: seller, errors: sellerErrors } = await openDapp(SELLER);
  await connect(seller);
  let device = new Client(deviceOptions);
  const productId = await sellThroughTheDapp(seller, { path, name, partitions: 1, deviceAddress: await device.getAddress(), description: 'Wind speed on the roof' });
  assert.deepEqual(sellerErrors, []);
  await seller.close();

  // The network takes up storing the stream (its nodes follow the coordinator).
  await storedEverywhere(`${stream}#0`);

  // The device publishes three events (encrypted: the stream is private), stored, and goes away.
  const early = [0, 1, 2].map((i) => `early-${productId}-${i}`);
  for (const mark of early) {
    for (let attempt = 1; ; attempt += 1) {
      try {
        const sent = await device.publish(stream, { wind: 3 + early.indexOf(mark), mark });
        assert.ok(sent.stored, 'its entry node stores the stream');
        break;
      } catch (e) {
        // The relay nodes may not have seen the grant yet.
        if (attempt > 50 || e?.code !== 'NO_PERMISSION') throw e;
        await new Promise((r) => setTimeout(r, 200));
      }
    }
  }
  device.destroy();

  // Meanwhile a buyer buys: the history arrives, but nobody is there to hand out its key.
  const { page: buyer, errors: buyerErrors } = await openDapp(LATE_BUYER);
  await connect(buyer);
  await buyAMinute(buyer, name);
  const text = () => buyer.textContent('#product .events tbody').catch(() => '');
  await buyer.waitForFunction(
    () => [...document.querySelectorAll('#product .events tbody tr')].filter((r) => /cannot decrypt/.test(r.textContent)).length >= 3,
    null,
    { timeout: 60000 },
  );
  for (const mark of early) assert.ok(!(await text()).includes(mark), `${mark} shown with no key holder online`);
  await buyer.screenshot({ path: `${shots}/dapp-away.png`, fullPage: true });

  // The device comes back with its keys and publishes again: the page decrypts the earlier events.
  device = new Client(deviceOptions);
  let publishing = true;
  const back = (async () => {
    for (let n = 0; publishing; n += 1) {
      await device.publish(stream, { wind: 10 + (n % 3), mark: `back-${productId}-${n}` }).catch(() => {});
      await new Promise((r) => setTimeout(r, 500));
    }
  })();
  try {
    try {
      await buyer.waitForFunction(
        (marks) => marks.every((m) => document.querySelector('#product .events tbody')?.textContent.includes(m)),
        early,
        { timeout: 90000 },
      );
    } catch (e) {
      throw new Error(`the earlier events were not decrypted; the page shows: ${await text()}`, { cause: e });
    }
    await buyer.waitForFunction((p) => document.querySelector('#product .events tbody').textContent.includes(p), `back-${productId}-`);
    await buyer.screenshot({ path: `${shots}/dapp-back.png`, fullPage: true });

    // The licence lapses by the chain's clock: delivery ends, and what the device publishes from then
    // on never reaches the page.
    await rpc('evm_increaseTime', [180]);
    await rpc('evm_mine');
    await buyer.waitForSelector('#product .ended', { timeout: 30000 });
    publishing = false;
    await back;
    const after = [0, 1, 2, 3, 4].map((i) => `after-${productId}-${i}`);
    for (const mark of after) {
      await device.publish(stream, { wind: 1, mark });
      await new Promise((r) => setTimeout(r, 500));
    }
    await new Promise((r) => setTimeout(r, 3000));
    const shown = await buyer.textContent('#product');
    for (const mark of after) assert.ok(!shown.includes(mark), `${mark} reached the buyer after the licence lapsed`);
    // Opening the stream again reads nothing either: the relay nodes refuse the lapsed account.
    await buyer.reload();
    await buyer.waitForSelector('#account', { timeout: 60000 });
    await connect(buyer);
    await buyer.evaluate((id) => { location.hash = `#/product/${id}`; }, productId);
    await buyer.waitForSelector('#product .restricted', { timeout: 60000 });
    const reopened = await buyer.textContent('#product');
    for (const mark of [...early, ...after]) assert.ok(!reopened.includes(mark), `${mark} readable after the licence lapsed`);
    await buyer.screenshot({ path: `${shots}/dapp-away-lapsed.png`, fullPage: true });
    assert.deepEqual(buyerErrors, []);
    await buyer.close();
  } finally {
    publishing = false;
    await back.catch(() => {});
    device.destroy();
  }
});

test('a wallet on the wrong chain is switched; a small balance, a rejected signature and a revert read as plain sentences', async () => {
  assert.ok(listed, 'the first scenario listed a product');
  // This account starts with no DATA (the deployment funds every development account: give it away).
  const pad = (hex) => hex.replace(/^0x/, '').padStart(64, '0');
  const token = config.deployment.dataToken;
  const held = await rpc('eth_call', [{ to: token, data: `0x70a08231${pad(SECOND_BUYER)}` }, 'latest']);
  if (BigInt(held) > 0n) {
    await rpc('eth_sendTransaction', [{ from: SECOND_BUYER, to: token, data: `0xa9059cbb${pad(SELLER)}${pad(held)}` }]);
  }
  const { page, errors } = await openDapp(SECOND_BUYER, { startChainId: '0x1' });
  await page.click('button.connect-wallet[data-wallet="org.rivulet.test-wallet"]');
  await page.waitForSelector('#switch-chain', { timeout: 30000 });
  assert.match(await page.textContent('#connect-status'), /on chain 1; this marketplace is on chain 31337/);
  await page.click('#switch-chain');
  await page.waitForSelector('#account-address', { timeout: 30000 });
  const calls = await page.evaluate(() => window.__walletCalls);
  assert.ok(calls.includes('wallet_addEthereumChain'), calls.join());

  // A phone-sized window, driven by keyboard: the navigation and the licences page's empty state.
  await page.setViewportSize({ width: 390, height: 844 });
  await page.focus('#nav-licences');
  await page.keyboard.press('Enter');
  await page.waitForSelector('#my-licences #empty', { timeout: 30000 });
  await page.screenshot({ path: `${shots}/dapp-phone-licences.png`, fullPage: true });
  await page.focus('#nav-products');
  await page.keyboard.press('Enter');
  await page.waitForSelector('#products');
  await page.screenshot({ path: `${shots}/dapp-phone-products.png`, fullPage: true });
  await page.setViewportSize({ width: 1280, height: 900 });
  await page.evaluate((id) => { location.hash = `#/product/${id}`; }, listed.productId);
  await page.waitForSelector('.buy-permit:not([disabled])');

  // Too little DATA: said before anything is signed.
  await page.waitForFunction(() => document.getElementById('balance').textContent === '0 DATA');
  await page.click('.buy-permit');
  await page.waitForSelector('.buy-error');
  assert.match(await page.textContent('.buy-error'), /less than the price/);
  await page.screenshot({ path: `${shots}/dapp-balance.png`, fullPage: true });

  // A rejected signature.
  await page.click('#faucet');
  await page.waitForFunction(() => parseFloat(document.getElementById('balance').textContent) >= 100, null, { timeout: 30000 });
  await page.selectOption('.buy .period', '60');
  await page.evaluate(() => { window.__reject = 'eth_signTypedData_v4'; });
  await page.click('.buy-permit');
  await page.waitForFunction(() => /rejected the request in your wallet/.test(document.querySelector('.buy-error')?.textContent ?? ''), null, { timeout: 30000 });
  await page.screenshot({ path: `${shots}/dapp-rejected.png`, fullPage: true });

  // A revert: the seller paused sales after this page read the product.
  const { page: seller } = await openDapp(SELLER);
  await connect(seller);
  await seller.click('#nav-sell');
  await seller.click(`#my-product-${listed.productId} .toggle-sale`);
  assert.match(await outcome(seller), /paused/);
  await seller.close();
  const paid = await page.textContent('#balance');
  await page.click('.buy-approve');
  await page.waitForFunction(() => /paused sales/.test(document.querySelector('.buy-error')?.textContent ?? ''), null, { timeout: 60000 });
  await page.screenshot({ path: `${shots}/dapp-reverted.png`, fullPage: true });
  await page.waitForFunction((b) => document.getElementById('balance').textContent === b, paid);
  assert.deepEqual(errors, []);
  await page.close();
});

test('a wallet that only injects window.ethereum is offered and connects too', async () => {
  const { page, errors } = await openDapp(SECOND_BUYER, { legacy: true });
  assert.equal(await page.$$eval('button.connect-wallet', (b) => b.length), 1);
  await page.click('button.connect-wallet[data-wallet="window.ethereum"]');
  await page.waitForSelector('#account-address', { timeout: 30000 });
  assert.equal(await page.textContent('#account-label'), 'Browser wallet');
  assert.equal(await page.getAttribute('#account-address', 'title'), SECOND_BUYER);
  assert.deepEqual(errors, []);
  await page.close();
});

