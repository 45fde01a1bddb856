// What the browser tests share: Debian's Chromium (or $CHROMIUM) driven by playwright-core, and pages that
// collect every error they report.
import { chromium } from 'playwright-core';

/** Headless Chromium. */
export function launch() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    args: ['--headless=new', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
  });
}

/** A desktop-sized page and the errors it reports (uncaught exceptions and console errors). */
export async function newPage(browser) {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  return { page, errors };
}

/**
 * Waits until the page's `#status` says it is connected; if it does not within `ms` (longer than the
 * SDK's 30 s request timeout, so a request that timed out shows its error), fails with what
 * the page shows instead (its status, its error box) rather than only the selector that never matched.
 */
export async function waitConnected(page, ms = 45000) {
  try {
    await page.waitForSelector('#status[data-state="ok"]', { timeout: ms });
  } catch (err) {
    const shown = await page.evaluate(() => ({
      status: document.querySelector('#status')?.textContent?.trim(),
      error: document.querySelector('#error:not([hidden])')?.textContent?.trim(),
    })).catch(() => ({}));
    throw new Error(`the page did not connect within ${ms} ms: status "${shown.status}"${shown.error ? `, error "${shown.error}"` : ''}`, { cause: err });
  }
}
