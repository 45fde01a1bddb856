// What the browser tests share: Debian's Chromium (or $CHROMIUM) driven by playwright-core, and pages that
// collect every error they report.
import { chromium } from 'playwright-core';

// webrtc-websys 0.5 reports this when a data channel closes (rust-libp2p #4950, #6551); it is harmless.
const KNOWN_PAGE_ERROR = /closure invoked recursively or after being dropped/;

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
  page.on('pageerror', (e) => { if (!KNOWN_PAGE_ERROR.test(e.message)) errors.push(e.message); });
  page.on('console', (m) => { if (m.type() === 'error' && !KNOWN_PAGE_ERROR.test(m.text())) errors.push(m.text()); });
  return { page, errors };
}
