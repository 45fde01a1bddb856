// Browser (and bundler) entry point of @rivulet/sdk: the module is fetched and compiled on first use.
import init, * as wasm from './rivulet_wasm.js';
import { makeApi, RivuletError, generatePrivateKey, indexedDbKeyStore } from './client.js';

let loading;
function ready() {
  loading ??= init({ module_or_path: new URL('./rivulet_wasm_bg.wasm', import.meta.url) }).then(() => wasm);
  return loading;
}

export const { Client, Subscription } = makeApi(ready, () => indexedDbKeyStore());
export { RivuletError, generatePrivateKey, indexedDbKeyStore };

/** Files are for Node: in a browser, keys go to IndexedDB (`indexedDbKeyStore`). */
export function fileKeyStore() {
  throw new RivuletError('INVALID_ARGUMENT', 'fileKeyStore is for Node; browsers keep keys in IndexedDB (indexedDbKeyStore)');
}
