// The public API of @rivulet/sdk, shared by the browser and Node entry points. Each entry point hands in
// `ready()`, which initialises the WebAssembly module once (Node: synchronously at import; browsers: on
// first use), so there is no init() a user can forget and no top-level await.

/** An error from Rivulet: `code` says what kind (see the README), `message` what and why. */
export class RivuletError extends Error {
  constructor(code, message, options) {
    super(message, options);
    this.name = 'RivuletError';
    this.code = code;
  }
}

function wrapError(err) {
  if (err instanceof RivuletError) return err;
  const code = (err && typeof err.code === 'string') ? err.code : 'INTERNAL';
  const message = (err && err.message) ? err.message : String(err);
  return new RivuletError(code, message, { cause: err });
}

/**
 * Options travel to the module as JSON, where NaN and Infinity turn into null and so into a default
 * without a word: they are refused here, with the option's name.
 */
function finite(value, path) {
  if (typeof value === 'number' && !Number.isFinite(value)) {
    throw new RivuletError('INVALID_ARGUMENT', `${path} is ${value}; give a finite number`);
  }
  if (value && typeof value === 'object' && !ArrayBuffer.isView(value)) {
    for (const [key, inner] of Object.entries(value)) finite(inner, `${path}.${key}`);
  }
  return value;
}

async function call(fn) {
  try {
    return await fn();
  } catch (err) {
    throw wrapError(err);
  }
}

/**
 * The package's API over the wasm module `ready()` resolves with; `defaultKeyStore()` gives where a
 * client with a key of its own keeps its group keys when the options name none (IndexedDB in browsers,
 * a file in Node; `keyStore: false` keeps them in memory only).
 */
export function makeApi(ready, defaultKeyStore = () => undefined) {
  /** A running subscription. */
  class Subscription {
    #inner;
    constructor(inner) {
      this.#inner = inner;
      /** `<stream id>#<partition>` */
      this.streamPartId = inner.part;
    }
    /** Stops delivery and unsubscribes at the node. */
    async unsubscribe() {
      this.#inner.unsubscribe();
    }
  }

  /** A connection to the Rivulet network (see index.d.ts). */
  class Client {
    #options;
    #inner;
    #destroyed = false;

    constructor(options) {
      if (!options || !Array.isArray(options.nodes) || options.nodes.length === 0) {
        throw new RivuletError('INVALID_ARGUMENT', 'options.nodes: give at least one entry node multiaddr');
      }
      this.#options = { ...options };
      finite(options.timeout, 'options.timeout');
    }

    async #client() {
      if (this.#destroyed) throw new RivuletError('DESTROYED', 'the client was destroyed');
      if (!this.#inner) {
        const wasm = await ready();
        if (!this.#inner) {
          const options = { ...this.#options };
          if (options.keyStore === false) delete options.keyStore;
          else if (options.keyStore === undefined && options.privateKey) {
            const store = defaultKeyStore();
            if (store) options.keyStore = store;
          }
          this.#inner = call(() => new wasm.RivuletClient(options));
        }
      }
      return this.#inner;
    }

    /** The address events are signed with. */
    async getAddress() {
      return call(async () => (await this.#client()).address());
    }

    /** Resolves with the entry node's peer id once connected and signed in. */
    async connect() {
      return call(async () => (await this.#client()).waitConnected());
    }

    /**
     * Has the `ethereum` wallet authorise this client's key (one personal_sign, no transaction): from
     * then on the client reads what the wallet's account may read. Resolves with the account.
     */
    async authoriseWallet(options) {
      const validFor = options?.validForSeconds;
      return call(async () => (await this.#client()).authoriseWallet(validFor === undefined ? undefined : Number(validFor)));
    }

    async publish(streamId, content, options) {
      return call(async () => (await this.#client()).publish(String(streamId), content, finite(options ?? {}, 'options')));
    }

    async subscribe(stream, handler, options) {
      if (typeof handler !== 'function') {
        throw new RivuletError('INVALID_ARGUMENT', 'subscribe(stream, handler): handler must be a function');
      }
      // A handler that throws or whose promise rejects is reported to onError, or else to the console:
      // never an unhandled rejection, which would end a Node process.
      const report = typeof options?.onError === 'function'
        ? options.onError
        : (e) => console.error('@rivulet/sdk: a subscription handler failed (pass onError to handle it):', e);
      const guarded = (content, metadata) => {
        try {
          const result = handler(content, metadata);
          if (result && typeof result.then === 'function') result.then(undefined, report);
        } catch (e) {
          report(e);
        }
      };
      return call(async () => new Subscription(await (await this.#client()).subscribe(finite(stream, 'stream'), guarded, finite(options ?? {}, 'options'))));
    }

    async resend(stream, query) {
      return call(async () => (await this.#client()).resend(finite(stream, 'stream'), finite(query ?? { last: 100 }, 'query')));
    }

    /** The nodes the network coordinator assigns to store a stream part. */
    async storageNodes(stream) {
      return call(async () => (await this.#client()).storageNodes(finite(stream, 'stream')));
    }

    /** Resends and checks the answer against the network's final checksums (HISTORY_MISMATCH if not). */
    async verifyHistory(stream, query) {
      return call(async () => (await this.#client()).verifyHistory(finite(stream, 'stream'), finite(query ?? { last: 100 }, 'query')));
    }

    /** Rotates a stream part's group key; the next encrypted event announces the new key. */
    async rotateGroupKey(stream) {
      return call(async () => (await this.#client()).rotateGroupKey(stream));
    }

    /** A new group key that readers must request (only permitted readers get it): use after revoking. */
    async rekey(stream) {
      return call(async () => (await this.#client()).rekey(stream));
    }

    async getStream(streamId) {
      return call(async () => (await this.#client()).getStream(String(streamId)));
    }

    async searchStreams(term) {
      return call(async () => (await this.#client()).searchStreams(String(term ?? '')));
    }

    async createStream(options) {
      const opts = typeof options === 'string' ? { id: options } : options;
      return call(async () => (await this.#client()).createStream(opts));
    }

    async grantPermissions(streamId, grant) {
      return call(async () => (await this.#client()).grantPermissions(String(streamId), grant));
    }

    async revokePermissions(streamId, grant) {
      return call(async () => (await this.#client()).revokePermissions(String(streamId), grant));
    }

    async hasPermission(query) {
      return call(async () => (await this.#client()).hasPermission(query));
    }

    /** Closes the connections; later calls reject with DESTROYED. */
    async destroy() {
      if (this.#destroyed) return;
      this.#destroyed = true;
      if (this.#inner) (await this.#inner).destroy();
    }
  }

  return { Client, Subscription };
}

// secp256k1's group order: a private key is a number in [1, N).
const N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;

/** A new random private key, '0x' + 64 hex digits (from the platform's secure random source). */
export function generatePrivateKey() {
  for (;;) {
    const bytes = globalThis.crypto.getRandomValues(new Uint8Array(32));
    const hex = Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
    const k = BigInt('0x' + hex);
    if (k > 0n && k < N) return '0x' + hex;
  }
}

/**
 * A key store in the browser's IndexedDB (database `rivulet-keys`, one record per address): what a
 * browser client with a key of its own uses unless told otherwise. The keys are sealed by the client
 * before they get here. Without IndexedDB (some private modes), keys stay in memory.
 */
export function indexedDbKeyStore(name = 'rivulet-keys') {
  if (typeof indexedDB === 'undefined') return undefined;
  let opening;
  const db = () =>
    (opening ??= new Promise((resolve, reject) => {
      const request = indexedDB.open(name, 1);
      request.onupgradeneeded = () => request.result.createObjectStore('vaults');
      request.onsuccess = () => resolve(request.result);
      request.onerror = () => reject(request.error);
    }));
  const run = async (mode, work) => {
    const store = (await db()).transaction('vaults', mode).objectStore('vaults');
    return new Promise((resolve, reject) => {
      const request = work(store);
      request.onsuccess = () => resolve(request.result);
      request.onerror = () => reject(request.error);
    });
  };
  return {
    async load(address) {
      const value = await run('readonly', (s) => s.get(address));
      return value ? new Uint8Array(value) : null;
    },
    async save(address, bytes) {
      await run('readwrite', (s) => s.put(bytes, address));
    },
  };
}

