// The publisher demo's benchmark in headless Chromium (Debian's, driven by playwright-core) against a
// local network of release-build relay nodes started by `cargo xtask test` (or `cargo xtask
// browser-bench`): the site in RIVULET_SITE.
//
// The page signs and publishes 5,000 events through `@rivulet/sdk` with 1,024 awaiting acknowledgement,
// then reads them back from its entry node's store, verifying every signature in the page. The rates
// are printed as JSON for BENCHMARKS.md, never asserted; that every event came back verified is. It
// runs three times (RIVULET_BENCH_RUNS sets how many), each in a new page: one run's figure swings
// widely on a shared 2-core machine.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launch, newPage } from './chromium.mjs';

const site = process.env.RIVULET_SITE;
const runs = Number(process.env.RIVULET_BENCH_RUNS ?? 3);

let browser;
before(async () => { browser = await launch(); });
after(() => browser?.close());

test('the demo page publishes and verifies at its rate', async () => {
  for (let run = 0; run < runs; run++) {
    const { page, errors } = await newPage(browser);
    await page.goto(`${site}/demo.html?source=simulated&transport=ws`);
    await page.waitForSelector('#bench:not([disabled])', { timeout: 30000 });
    await page.click('#bench');
    await page.waitForFunction(() => window.__benchResult, null, { timeout: 240000 });
    const result = await page.evaluate(() => window.__benchResult);
    console.log(JSON.stringify({ bench: 'browser-publish', build: 'release', chromium: browser.version(), ...result }));
    assert.ok(result.eventsPerSecond > 0);
    // Every event came back from the entry node's store, each signature verified in the page.
    assert.equal(result.verified, result.events, JSON.stringify(result));
    assert.equal(result.allVerified, true);
    assert.deepEqual(errors, []);
    await page.close();
  }
});
