// Node entry point of @rivulet/sdk: the module is compiled synchronously at import (no top-level await).
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { initSync } from './rivulet_wasm.js';
import * as wasm from './rivulet_wasm.js';
import { makeApi, RivuletError, generatePrivateKey } from './client.js';

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

export const { Client, Subscription } = makeApi(ready);
export { RivuletError, generatePrivateKey };
