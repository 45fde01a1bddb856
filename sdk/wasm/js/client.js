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

export function makeApi(ready) {
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
          this.#inner = call(() => new wasm.RivuletClient(this.#options));
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
