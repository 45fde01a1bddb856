// End to end in headless Chromium (Debian's, driven by playwright-core) against a real local network
// started by `cargo xtask test`: the site in RIVULET_SITE, its config.json in RIVULET_CONFIG, the native
// relay-node binary in RIVULET_RELAY_NODE. Screenshots go to RIVULET_SCREENSHOTS.
//
// - the publisher demo page publishes through the npm package; a native subscriber (`relay-node
//   subscribe`, Rust, over the node's WebSocket API) receives the page's events, verified;
// - the reverse: events of the native server-side publisher arrive verified in the page;
// - the same over WebRTC-direct only, with a subscription kept quiet past the 10 s mark where long-lived
//   browser streams used to stall; an entry node that does not answer over WebRTC is given up for the
//   next one; fifteen pages in a row connect over WebRTC without waiting for the setup deadline; a
//   destroyed WebRTC client leaves nothing thrown in the page;
// - every runnable example on the docs page runs without an error;
// - a page that imports `@rivulet/sdk` by name, bundled by Vite and by webpack as a dapp would be,
//   publishes and receives;
// - the landing page loads without an error (the demo's benchmark is `bench.test.mjs`, against release
//   nodes).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync, mkdirSync, mkdtempSync, symlinkSync, copyFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join, extname } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { launch, newPage, waitConnected } from './chromium.mjs';

const site = process.env.RIVULET_SITE;
const config = JSON.parse(readFileSync(process.env.RIVULET_CONFIG, 'utf8'));
const shots = process.env.RIVULET_SCREENSHOTS ?? 'target/screenshots';
mkdirSync(shots, { recursive: true });

let browser;
before(async () => { browser = await launch(); });
after(() => browser?.close());

async function openPage(path) {
  const { page, errors } = await newPage(browser);
  await page.goto(`${site}${path}`);
  return { page, errors };
}

/** A native subscriber: `relay-node subscribe` printing verified events as JSON lines. */
function nativeSubscriber(stream, nodeHttp) {
  const child = spawn(process.env.RIVULET_RELAY_NODE, ['subscribe', stream, '--node', nodeHttp, '--log.filter', 'warn'], { stdio: ['ignore', 'pipe', 'inherit'] });
  const lines = [];
  createInterface({ input: child.stdout }).on('line', (l) => { try { lines.push(JSON.parse(l)); } catch { /* not an event */ } });
  return { lines, stop: () => child.kill() };
}

async function until(what, predicate, ms = 30000) {
  const deadline = Date.now() + ms;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const count = (page, id) => page.$eval(`#${id}`, (el) => Number(el.textContent));

for (const transport of ['ws', 'webrtc']) {
  test(`the publisher demo over ${transport}: page → native subscriber, native publisher → page`, async () => {
    const { page, errors } = await openPage(`/demo.html?source=simulated&transport=${transport}`);
    await waitConnected(page);
    const address = (await page.textContent('#address')).trim();
    assert.match(address, /^0x[0-9a-fA-F]{40}$/);

    const native = nativeSubscriber(config.demo.stream, config.nodeHttp[2]);
    try {
      await page.fill('#rate', '20');
      await page.click('#start');
      await until('the native subscriber to get the page\'s events', () => native.lines.filter((m) => (m.publisher ?? m.publisherId ?? '').toLowerCase() === address.toLowerCase()).length >= 20);
      await until('the page to receive its own events', async () => (await count(page, 'received-count')) >= 20);
      // Reverse: the server-side (native) publisher's events reach the page.
      await until('weather readings in the page', async () => (await count(page, 'server-received-count')) >= 3);
      if (transport === 'webrtc') {
        // A subscription that stays quiet for 12 s still delivers afterwards.
        await page.click('#stop');
        const before = await count(page, 'received-count');
        await new Promise((r) => setTimeout(r, 12000));
        await page.click('#start');
        await until('events after a quiet spell over WebRTC', async () => (await count(page, 'received-count')) >= before + 5);
      }
      await page.click('#stop');
      await page.screenshot({ path: `${shots}/demo-${transport}.png`, fullPage: true });
    } finally {
      native.stop();
    }
    const mine = native.lines.filter((m) => (m.publisher ?? m.publisherId ?? '').toLowerCase() === address.toLowerCase());
    assert.ok(mine.length >= 20, 'events from the page');
    assert.equal(await page.$eval('#error', (el) => el.hidden), true, 'no error shown');
    assert.deepEqual(errors, []);
    await page.close();
  });
}

test('an entry node that does not answer over WebRTC is given up, and the next one serves', async () => {
  const { page, errors } = await openPage('/demo.html?transport=ws');
  await waitConnected(page);
  const result = await page.evaluate(async ({ config }) => {
    // A node's WebRTC address (its certificate hash and peer id) moved to a UDP port where nothing
    // listens: the ICE checks get no answer.
    const live = config.nodes.find((a) => a.includes('/webrtc-direct/'));
    const dead = live.replace(/\/udp\/\d+\//, '/udp/9/');
    const { Client, generatePrivateKey } = await import('/sdk/index.js');
    const client = new Client({ nodes: [dead, live], privateKey: generatePrivateKey(), rpcUrl: config.rpcUrl, deployment: config.deployment });
    const started = performance.now();
    const published = await client.publish(config.demo.stream, { probe: true }).then(() => 'ok', (e) => `${e.code}: ${e.message}`);
    const ms = performance.now() - started;
    await client.destroy();
    return { published, ms };
  }, { config });
  assert.equal(result.published, 'ok');
  // Chromium gives up the ICE checks after about 10 s; the client then dials the next node.
  assert.ok(result.ms < 25000, `published after ${Math.round(result.ms)} ms`);
  assert.deepEqual(errors, []);
  await page.close();
});

test('a WebRTC client that is destroyed leaves nothing thrown in the page', async () => {
  const { page, errors } = await openPage('/demo.html?transport=ws');
  await waitConnected(page);
  await page.evaluate(async ({ config }) => {
    const node = config.nodes.find((a) => a.includes('/webrtc-direct/'));
    const { Client, generatePrivateKey } = await import('/sdk/index.js');
    const client = new Client({ nodes: [node], privateKey: generatePrivateKey(), rpcUrl: config.rpcUrl, deployment: config.deployment });
    await client.publish(config.demo.stream, { probe: 'destroy' });
    await client.destroy();
    // The connection's data channels close after the client let go of them.
    await new Promise((r) => setTimeout(r, 2000));
  }, { config });
  // Before patches/libp2p-webrtc-websys each closing channel threw "closure invoked recursively or after
  // being dropped" (8 of them here).
  assert.deepEqual(errors, []);
  await page.close();
});

test('WebRTC sessions come up at once, one after another (none waits for the setup deadline)', async () => {
  // Each page is a new connection: its handshake, then the browser's first streams at once. A node
  // that loses streams opened right after the handshake leaves the page's sign-in unanswered until the
  // client gives that node up (15 s); seen in about 1 of 20 pages on a busy machine before the fix
  // (patches/libp2p-webrtc). (An ICE check that goes unanswered, about 1 in 80 here, costs the
  // transport's 10 s timeout and a second dial: under 14 s.)
  const times = [];
  for (let i = 0; i < 15; i++) {
    const { page, errors } = await openPage('/demo.html?source=simulated&transport=webrtc');
    const started = Date.now();
    await waitConnected(page);
    times.push(Date.now() - started);
    assert.deepEqual(errors, []);
    await page.close();
  }
  console.log(`WebRTC page connected and subscribed, ms: ${times.join(' ')}`);
  assert.ok(times.every((ms) => ms < 14000), `a session waited for the setup deadline: ${times.join(' ')} ms`);
});

test('an EIP-1193 wallet sends the chain transactions; a local key signs the events', async () => {
  const { page, errors } = await openPage('/demo.html?transport=ws');
  await waitConnected(page);
  // A wallet cannot be installed here: inject an EIP-1193 provider that forwards to anvil, whose
  // development accounts are unlocked (as a wallet would hold the key). The SDK cannot tell.
  const result = await page.evaluate(async ({ config }) => {
    const calls = [];
    const account = '0x9965507D1a55bcC2695C58ba16FB37d819B0A4dc'; // anvil development account 5
    let id = 0;
    const ethereum = {
      async request({ method, params }) {
        calls.push(method);
        if (method === 'eth_requestAccounts' || method === 'eth_accounts') return [account];
        const response = await fetch(config.rpcUrl, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ jsonrpc: '2.0', id: ++id, method, params: params ?? [] }),
        });
        const body = await response.json();
        if (body.error) throw Object.assign(new Error(body.error.message), body.error);
        return body.result;
      },
    };
    const { Client } = await import('/sdk/index.js');
    const client = new Client({ nodes: config.nodes.filter((a) => a.includes('/ws/')), ethereum, deployment: config.deployment });
    const eventKey = await client.getAddress();
    const stream = await client.createStream({ id: `/wallet/${Date.now()}`, description: 'made through EIP-1193' });
    await client.grantPermissions(stream.id, { user: eventKey, permissions: ['publish'] });
    const held = await client.hasPermission({ streamId: stream.id, user: eventKey, permission: 'publish' });
    // A rejected request comes back as USER_REJECTED (EIP-1193 code 4001).
    const rejecting = { request: async () => { throw Object.assign(new Error('User rejected the request.'), { code: 4001 }); } };
    const refused = new Client({ nodes: config.nodes.filter((a) => a.includes('/ws/')), ethereum: rejecting, deployment: config.deployment });
    const rejection = await refused.createStream({ id: '/never' }).then(() => null, (e) => ({ name: e.name, code: e.code, message: e.message }));
    await client.destroy();
    await refused.destroy();
    return { owner: stream.owner, held, calls, rejection };
  }, { config });
  assert.equal(result.owner, '0x9965507D1a55bcC2695C58ba16FB37d819B0A4dc', 'the wallet account owns the stream');
  assert.equal(result.held, true);
  assert.ok(result.calls.includes('eth_sendTransaction'), 'transactions went through the wallet');
  assert.ok(!result.calls.includes('eth_sendRawTransaction'));
  assert.deepEqual({ name: result.rejection?.name, code: result.rejection?.code }, { name: 'RivuletError', code: 'USER_REJECTED' });
  assert.deepEqual(errors, []);
  await page.close();
});

test('every runnable example on the docs page runs', async () => {
  const { page, errors } = await openPage('/docs.html');
  const buttons = await page.$$('.example .run-row button');
  assert.ok(buttons.length >= 6);
  for (const [i, button] of buttons.entries()) {
    await button.click();
    await page.waitForFunction((n) => {
      const b = document.querySelectorAll('.example .run-row button')[n];
      const out = document.getElementById(`output-${n + 1}`);
      return !b.disabled && out.textContent.length > 0;
    }, i, { timeout: 30000 });
  }
  const outputs = await page.$$eval('.example pre.output', (els) => els.map((e) => ({ text: e.textContent, failed: !!e.querySelector('.err') })));
  // One example demonstrates error handling on purpose; the others must not fail.
  const failed = outputs.filter((o) => o.failed && !/INVALID_ARGUMENT/.test(o.text));
  assert.deepEqual(failed, []);
  await page.screenshot({ path: `${shots}/docs.png`, fullPage: true });
  assert.deepEqual(errors, []);
  await page.close();
});

test('the marketplace dapp lists the seeded products, searches, and previews a public stream live', async () => {
  const { page, errors } = await openPage('/dapp/');
  await page.waitForFunction(() => document.querySelectorAll('#products li').length >= 3, null, { timeout: 60000 });
  await page.fill('#search', 'mobility day');
  await page.waitForFunction(() => document.querySelectorAll('#products li').length === 1);
  assert.match(await page.textContent('#products li'), /City traffic day pass/);
  await page.fill('#search', 'nothing like this');
  await page.waitForSelector('#empty');
  await page.fill('#search', '');
  await page.screenshot({ path: `${shots}/dapp-products.png`, fullPage: true });

  // The weather stream is public: its latest events show, verified in the page.
  await page.click('text=Weather station');
  await page.waitForSelector('#product');
  assert.match(await page.textContent('#price'), /DATA per hour/);
  await page.waitForFunction(() => document.querySelectorAll('.events tbody tr').length >= 3, null, { timeout: 30000 });
  assert.match(await page.textContent('.events tbody'), /temperature/);
  await page.screenshot({ path: `${shots}/dapp-product.png`, fullPage: true });

  // The traffic stream is for licence holders: the page says so instead of a preview.
  await page.click('#back');
  await page.click('text="City traffic"');
  await page.waitForSelector('.restricted', { timeout: 30000 });

  // With the labelled local development account: DATA from the faucet, a one-minute licence bought with
  // one permit transaction, and then the licensed stream's events arrive, verified.
  await page.click('#back');
  await page.click('#dev-account');
  await page.waitForFunction(() => /DATA/.test(document.getElementById('balance')?.textContent ?? ''), null, { timeout: 30000 });
  const before = parseFloat(await page.textContent('#balance'));
  await page.click('#faucet');
  await page.waitForFunction((b) => parseFloat(document.getElementById('balance').textContent) === b + 100, before, { timeout: 30000 });
  await page.click('text="City traffic"');
  await page.selectOption('.buy .period', '60');
  await page.click('.buy-permit');
  await page.waitForSelector('.buy .receipt', { timeout: 30000 });
  assert.match(await page.textContent('.buy .receipt'), /licensed until/);
  await page.waitForFunction(() => document.querySelectorAll('.events tbody tr').length >= 3, null, { timeout: 30000 });
  assert.match(await page.textContent('.events tbody'), /north/);
  await page.screenshot({ path: `${shots}/dapp-licensed.png`, fullPage: true });
  assert.deepEqual(errors, []);
  await page.close();
});

const repo = fileURLToPath(new URL('../..', import.meta.url));

/** A dapp project whose `node_modules/@rivulet/sdk` is the built package, as `npm install <path>` links it. */
function dappProject() {
  const dir = mkdtempSync(join(tmpdir(), 'rivulet-bundled-'));
  mkdirSync(join(dir, 'node_modules/@rivulet'), { recursive: true });
  symlinkSync(join(repo, 'sdk/wasm/pkg'), join(dir, 'node_modules/@rivulet/sdk'), 'dir');
  for (const file of ['index.html', 'main.js']) {
    copyFileSync(join(repo, 'tests/browser/bundled-app', file), join(dir, file));
  }
  return dir;
}

/** Each bundler builds the project in `dir` with its defaults and returns the folder to serve. */
const bundlers = {
  async vite(dir) {
    const { build } = await import('vite');
    await build({ root: dir, configFile: false, logLevel: 'warn', build: { outDir: join(dir, 'dist') } });
    return join(dir, 'dist');
  },
  async webpack(dir) {
    const { default: webpack } = await import('webpack');
    const out = join(dir, 'dist');
    const stats = await new Promise((resolve, reject) => {
      webpack({ mode: 'production', context: dir, entry: './main.js', output: { path: out, filename: 'main.js' } },
        (error, result) => (error ? reject(error) : resolve(result)));
    });
    assert.ok(!stats.hasErrors(), stats.toString('errors-only'));
    copyFileSync(join(dir, 'index.html'), join(out, 'index.html'));
    return out;
  },
};

/** Serves `dir` and the network's config.json on a free loopback port. */
function serve(dir) {
  const types = { '.html': 'text/html', '.js': 'text/javascript', '.wasm': 'application/wasm' };
  const server = createServer((request, response) => {
    const path = new URL(request.url, 'http://localhost').pathname;
    if (path === '/config.json') {
      response.writeHead(200, { 'content-type': 'application/json' });
      response.end(JSON.stringify(config));
      return;
    }
    const file = join(dir, path === '/' ? 'index.html' : path);
    try {
      const body = readFileSync(file);
      response.writeHead(200, { 'content-type': types[extname(file)] ?? 'application/octet-stream' });
      response.end(body);
    } catch {
      response.writeHead(404);
      response.end();
    }
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

for (const [name, bundle] of Object.entries(bundlers)) {
  test(`a page that bundles @rivulet/sdk with ${name} publishes and receives`, async () => {
    const project = dappProject();
    const server = await serve(await bundle(project));
    try {
      const { page, errors } = await newPage(browser);
      await page.goto(`http://127.0.0.1:${server.address().port}/`);
      await page.waitForSelector('#out[data-state]', { timeout: 30000 });
      const text = await page.textContent('#out');
      assert.equal(await page.getAttribute('#out', 'data-state'), 'ok', text);
      assert.equal(JSON.parse(text).bundled, true);
      assert.deepEqual(errors, []);
      await page.close();
    } finally {
      server.close();
      rmSync(project, { recursive: true, force: true });
    }
  });
}

test('landing page', async () => {
  const { page: landing, errors: landingErrors } = await openPage('/');
  await landing.screenshot({ path: `${shots}/index.png`, fullPage: true });
  assert.deepEqual(landingErrors, []);
  await landing.close();
});
