// Node entry point of @rivulet/sdk: the module is compiled synchronously at import (no top-level await).
import { readFileSync } from 'node:fs';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import { initSync } from './rivulet_wasm.js';
import * as wasm from './rivulet_wasm.js';
import { makeApi, RivuletError, generatePrivateKey, indexedDbKeyStore } from './client.js';

// Node 20 has no global WebSocket (22 does); libp2p's browser transport needs one.
if (typeof globalThis.WebSocket === 'undefined') {
  globalThis.WebSocket = createRequire(import.meta.url)('ws');
}
// libp2p's WebSocket transport takes its timers from a window or a worker scope and panics without one.
// Node is neither but has the same setInterval/clearInterval on its global object (its timer handles
// turn into numbers), so it passes as a worker scope.
if (typeof globalThis.window === 'undefined' && typeof globalThis.WorkerGlobalScope === 'undefined') {
  globalThis.WorkerGlobalScope = class WorkerGlobalScope {};
}

initSync({ module: readFileSync(new URL('./rivulet_wasm_bg.wasm', import.meta.url)) });
const ready = async () => wasm;

/**
 * A key store in files, one per address, in `dir` (by default `~/.rivulet/keys`): what a Node client
 * with a key of its own uses unless told otherwise. The keys are sealed by the client before they get
 * here; files are readable by the owner only and replaced atomically.
 */
export function fileKeyStore(dir = process.env.RIVULET_KEY_DIR ?? join(homedir(), '.rivulet', 'keys')) {
  const path = (address) => join(dir, `${address}.keys`);
  return {
    async load(address) {
      try {
        return new Uint8Array(await readFile(path(address)));
      } catch (e) {
        if (e.code === 'ENOENT') return null;
        throw e;
      }
    },
    async save(address, bytes) {
      await mkdir(dir, { recursive: true, mode: 0o700 });
      const tmp = `${path(address)}.tmp`;
      await writeFile(tmp, bytes, { mode: 0o600 });
      await rename(tmp, path(address));
    },
  };
}

export const { Client, Subscription } = makeApi(ready, () => fileKeyStore());
export { RivuletError, generatePrivateKey, indexedDbKeyStore };
