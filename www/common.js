// Helpers shared by the docs and demo pages: config, client, formatting, status and error display.

const SDK_URL = '/sdk/index.js';
const KEY_STORAGE = 'rivulet.privateKey';

/** An Error with a `code`, shaped like the SDK's RivuletError, for failures outside the SDK. */
export function codedError(code, message, cause) {
  const err = new Error(message, cause ? { cause } : undefined);
  err.code = code;
  return err;
}

/** The network description written by the local network command: nodes, rpcUrl, deployment, demo streams. */
export async function loadConfig() {
  let response;
  try {
    response = await fetch('/config.json', { cache: 'no-store' });
  } catch (err) {
    throw codedError('CONFIG', `could not fetch /config.json: ${err.message}`, err);
  }
  if (!response.ok) {
    throw codedError('CONFIG', `/config.json answered ${response.status}; is the local network running?`);
  }
  try {
    return await response.json();
  } catch (err) {
    throw codedError('CONFIG', `/config.json is not JSON: ${err.message}`, err);
  }
}

let sdkPromise;
/** The SDK module. Imported dynamically so that a missing or broken SDK shows up as an error on the page. */
export function loadSdk() {
  sdkPromise ??= import(SDK_URL).catch((err) => {
    sdkPromise = undefined; // let a later call retry
    throw codedError('SDK', `could not load ${SDK_URL}: ${err.message}`, err);
  });
  return sdkPromise;
}

/**
 * This tab's private key: made once per tab and kept in sessionStorage, so a reload keeps the same
 * publisher address while another tab gets its own.
 */
export function tabPrivateKey(generatePrivateKey) {
  try {
    let key = sessionStorage.getItem(KEY_STORAGE);
    if (!key) {
      key = generatePrivateKey();
      sessionStorage.setItem(KEY_STORAGE, key);
    }
    return key;
  } catch {
    // sessionStorage can be unavailable (privacy settings); a key for this page load only.
    return generatePrivateKey();
  }
}

/**
 * The entry nodes to use: all of them (WebSocket first), or only one transport with `?transport=ws` or
 * `?transport=webrtc` in the page URL.
 */
export function entryNodes(config) {
  const transport = new URLSearchParams(location.search).get('transport');
  const marker = { ws: '/ws/', webrtc: '/webrtc-direct/' }[transport];
  return marker ? config.nodes.filter((a) => a.includes(marker)) : config.nodes;
}

/** A Client for the network in `config`, signing with this tab's key. */
export async function makeClient(config) {
  const { Client, generatePrivateKey } = await loadSdk();
  const client = new Client({
    nodes: entryNodes(config),
    privateKey: tabPrivateKey(generatePrivateKey),
    rpcUrl: config.rpcUrl,
    deployment: config.deployment,
  });
  // Leave the network cleanly when the page goes away (unsubscribes, closes connections).
  addEventListener('pagehide', () => { client.destroy().catch(() => {}); }, { once: true });
  return client;
}

// ---- formatting ----

/** '0x1234…abcd' */
export function shortAddress(address) {
  if (typeof address !== 'string' || address.length < 12) return String(address ?? '');
  return `${address.slice(0, 6)}…${address.slice(-4)}`;
}

/** 'HH:MM:SS.mmm' in local time. */
export function formatTime(ms) {
  const d = new Date(ms);
  const pad = (n, w = 2) => String(n).padStart(w, '0');
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
}

/** A number with as many decimals as its size deserves. */
export function formatNumber(n) {
  if (!Number.isFinite(n)) return String(n);
  const abs = Math.abs(n);
  if (abs !== 0 && (abs >= 1e6 || abs < 1e-3)) return n.toExponential(2);
  if (Number.isInteger(n)) return String(n);
  return n.toFixed(abs >= 100 ? 1 : abs >= 1 ? 2 : 3);
}

/** Numeric fields of an event's content, nested objects flattened to 'a.b' (two levels deep). */
export function numericFields(content, prefix = '', out = {}, depth = 0) {
  if (content === null || typeof content !== 'object' || content instanceof Uint8Array || depth > 2) return out;
  for (const [key, value] of Object.entries(content)) {
    const name = prefix + key;
    if (typeof value === 'number' && Number.isFinite(value)) out[name] = value;
    else if (value && typeof value === 'object' && !Array.isArray(value)) numericFields(value, `${name}.`, out, depth + 1);
  }
  return out;
}

/** One line for an event's content: 'temperature 21.40 · humidity 45.1'. */
export function formatContent(content) {
  if (content instanceof Uint8Array) return `<${content.length} bytes>`;
  if (content === null || typeof content !== 'object' || Array.isArray(content)) return JSON.stringify(content);
  const parts = [];
  const walk = (obj, prefix) => {
    for (const [k, v] of Object.entries(obj)) {
      if (v && typeof v === 'object' && !Array.isArray(v)) walk(v, `${prefix}${k}.`);
      else parts.push(`${prefix}${k} ${typeof v === 'number' ? formatNumber(v) : JSON.stringify(v)}`);
    }
  };
  walk(content, '');
  return parts.join(' · ');
}

/** JSON text for anything the SDK returns: Uint8Array as hex, BigInt as a string. */
export function toDisplayJson(value, indent = 2) {
  return JSON.stringify(value, (_key, v) => {
    if (typeof v === 'bigint') return v.toString();
    if (v instanceof Uint8Array) return `0x${Array.from(v, (b) => b.toString(16).padStart(2, '0')).join('')}`;
    if (v instanceof Error) return errorText(v);
    return v;
  }, indent);
}

/** 'CODE: message' for a RivuletError (or any error). */
export function errorText(err) {
  if (err == null) return 'ERROR: unknown error';
  const code = err.code ?? err.name ?? 'ERROR';
  return `${code}: ${err.message ?? String(err)}`;
}

// ---- status and errors on the page ----

/** Set a `.status` element: state is 'idle' | 'busy' | 'ok' | 'error' (drives the dot's colour). */
export function setStatus(el, state, text) {
  if (!el) return;
  el.dataset.state = state;
  el.textContent = text;
}

/** Show an error plainly as 'code: message' in `el` (an element with role="alert"). */
export function showError(el, err) {
  console.error(err);
  if (!el) return;
  el.textContent = errorText(err);
  el.hidden = false;
}

export function clearError(el) {
  if (!el) return;
  el.textContent = '';
  el.hidden = true;
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
