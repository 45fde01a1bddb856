// Types of @rivulet/sdk.

/** Contract addresses, as the deploy step writes them to deployment.json. */
export interface Deployment {
  chainId: number;
  rpcUrl: string;
  dataToken: string;
  streamRegistry: string;
  marketplace: string;
  startBlock: number;
}

export interface ClientOptions {
  /** Entry nodes' multiaddrs ending in /p2p/<peer id>: /ws (browsers, Node) or /webrtc-direct/certhash/… (browsers). */
  nodes: string[];
  /** Hex private key that signs events (and chain transactions); a random one when absent. */
  privateKey?: string;
  /** JSON-RPC URL for streams and permissions (default: the deployment's). */
  rpcUrl?: string;
  /** Contract addresses; needed for stream and permission calls and for partitionKey. */
  deployment?: Deployment;
  /** How long a call may wait for a connection and an answer, ms (default 30000). */
  timeout?: number;
  /**
   * An EIP-1193 provider (`window.ethereum`) for stream and permission calls: the wallet's account sends
   * the transactions and pays for them, while events are still signed by `privateKey` (grant that key's
   * address publish permission from the wallet). Without it, chain calls go to `rpcUrl` signed by `privateKey`.
   */
  ethereum?: Eip1193Provider;
  /**
   * Where a client with a `privateKey` keeps its group keys across restarts (sealed under the key
   * before they get here): by default IndexedDB in browsers and files in `~/.rivulet/keys` in Node;
   * `false` keeps them in memory only; or any object with these two functions.
   */
  keyStore?: KeyStore | false;
}

/** Storage for a client's sealed group keys, one record per address. */
export interface KeyStore {
  load(address: string): Promise<Uint8Array | null> | Uint8Array | null;
  save(address: string, bytes: Uint8Array): Promise<void> | void;
}

/** A key store in files, one per address, in `dir` (default `~/.rivulet/keys`). Node only. */
export function fileKeyStore(dir?: string): KeyStore;
/** A key store in the browser's IndexedDB (`undefined` where there is none). Browsers only. */
export function indexedDbKeyStore(name?: string): KeyStore | undefined;

/** EIP-1193: what `window.ethereum` offers. */
export interface Eip1193Provider {
  request(args: { method: string; params?: unknown[] | object }): Promise<unknown>;
}

/** A stream or one of its partitions. A plain id means partition 0. */
export type StreamPartArg = string | { id: string; partition?: number };

export interface PublishOptions {
  /** An explicit partition. */
  partition?: number;
  /** A key that picks the partition: the same key always lands in the same partition. */
  partitionKey?: string;
  /** Event time, ms since the epoch (default: now). */
  timestamp?: number;
  /**
   * Encrypt end to end (AES-256-GCM with this publisher's group key). By default, every event to a
   * stream that is not publicly readable is encrypted (`false` is then refused with INVALID_ARGUMENT);
   * events to public streams go in the clear unless this is `true`. Readers get keys from the
   * publisher's key service, which checks their subscribe permission on chain, or from envelopes the
   * publisher sealed to their registered public keys.
   */
  encrypt?: boolean;
  /**
   * What the returned promise waits for: `'local'` (default) — the entry node accepted the event and,
   * where it stores the part, has it on disk; `'quorum'` — a majority of the part's storage replicas (as
   * the network coordinator assigns them) have it on disk, so losing any minority of them loses nothing
   * acknowledged. Fails with QUORUM_UNAVAILABLE when too few answer within 10 s.
   */
  acks?: 'local' | 'quorum';
}

export interface PublishResult {
  streamId: string;
  partition: number;
  timestamp: number;
  sequenceNumber: number;
  /** The entry node stored the event durably before answering. */
  stored: boolean;
  /** The entry node had it already. */
  duplicate: boolean;
  /** With `acks: 'quorum'`: how many of the part's replicas have the event on disk. */
  replicas?: number;
}

export interface MessageMetadata {
  streamId: string;
  partition: number;
  timestamp: number;
  sequenceNumber: number;
  /** The publisher's address, checksummed. */
  publisherId: string;
  msgChainId: string;
  contentType: 'json' | 'binary';
  /** The 65-byte signature, hex. */
  signature: string;
  /** Always true: events that fail verification are never handed out. */
  verified: true;
  /** The event travelled encrypted; `content` is decrypted. */
  encrypted: boolean;
  /**
   * Set when the event comes late: it was reported UNDECRYPTABLE (its key did not come in time) and its
   * key has come since — its publisher came back, say. It arrives after the events that followed it.
   */
  late?: true;
}

/** Event content: parsed JSON, or bytes. */
export type Content = unknown;

export type MessageHandler = (content: Content, metadata: MessageMetadata) => void | Promise<void>;

export interface SubscribeOptions {
  /** Deliver the newest `last` stored events first. */
  last?: number;
  /** The subscription ended on the node's side (the permission lapsed or was revoked). */
  onEnd?: (reason: string) => void;
  /**
   * A handler threw or its promise rejected (without onError, that goes to console.error), events could
   * not be recovered (code GAP), or not decrypted (UNDECRYPTABLE; if only its key was late, the event
   * may still come to the handler with `metadata.late`).
   */
  onError?: (error: unknown) => void;
}

export type ResendQuery =
  | { last: number }
  | { from: { timestamp: number; sequenceNumber?: number }; to?: { timestamp: number; sequenceNumber?: number } };

export interface StreamInfo {
  id: string;
  partitions: number;
  name: string;
  description: string;
  owner: string;
  createdAt: number;
  config: unknown;
}

export interface CreateStreamOptions {
  /** '/path' (under this client's address) or '<owner>/path'. */
  id: string;
  partitions?: number;
  name?: string;
  description?: string;
  config?: unknown;
}

export type Permission = 'edit' | 'delete' | 'publish' | 'subscribe' | 'grant';

export type PermissionAssignment =
  | { user: string; permissions: Permission[] }
  | { public: true; permissions: Permission[] };

export interface PermissionQuery {
  streamId: string;
  user: string;
  permission: Permission;
  /** Count grants to everyone (default true). */
  allowPublic?: boolean;
}

/** Error codes; node refusals carry the node's code in upper case (NO_PERMISSION, BAD_SIGNATURE, ...). */
export type ErrorCode =
  | 'INVALID_ARGUMENT' | 'NOT_CONNECTED' | 'NO_PERMISSION' | 'NOT_FOUND' | 'UNVERIFIABLE' | 'CHAIN'
  | 'NO_CHAIN' | 'DESTROYED' | 'INTERNAL' | 'HISTORY_MISMATCH' | 'NOT_STORED' | string;

/** A node the network coordinator assigns to store a stream part. */
export interface StorageNode {
  /** Its account, checksummed. */
  account: string;
  peerId: string;
  /** Its multiaddrs, each ending in `/p2p/<peerId>`: usable as a client's `nodes`. */
  addresses: string[];
  /** Seen by the coordinator within its liveness window. */
  live: boolean;
}

/** What `verifyHistory` checked. */
export interface HistoryVerification {
  /** Events in the storage node's answer. */
  events: number;
  /** The span checked, event timestamps in ms (inclusive). */
  from: number;
  to: number;
  /** Checksum intervals whose events match the network's final checksum and count. */
  verified: number[];
  /** Intervals not final yet (or without events, which are never reported): nothing to check against. */
  pending: number[];
}

export class RivuletError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: ErrorOptions);
}

export class Subscription {
  readonly streamPartId: string;
  unsubscribe(): Promise<void>;
}

export class Client {
  constructor(options: ClientOptions);
  getAddress(): Promise<string>;
  /** Resolves with the entry node's peer id once connected (calls connect on their own as needed). */
  connect(): Promise<string>;
  /**
   * Has the `ethereum` wallet (EIP-1193) authorise this client's own key with one `personal_sign` (no
   * transaction), valid for `validForSeconds` (default a day, at most 30 days). From then on relay nodes
   * deliver to this client what the wallet's account may read — its licences and subscribe permissions —
   * while events are still signed by the client's key. Resolves with the wallet's account.
   */
  authoriseWallet(options?: { validForSeconds?: number }): Promise<string>;
  publish(streamId: string, content: Content, options?: PublishOptions): Promise<PublishResult>;
  subscribe(stream: StreamPartArg, handler: MessageHandler, options?: SubscribeOptions): Promise<Subscription>;
  resend(stream: StreamPartArg, query?: ResendQuery): Promise<{ content: Content; metadata: MessageMetadata }[]>;
  getStream(streamId: string): Promise<StreamInfo>;
  searchStreams(term: string): Promise<StreamInfo[]>;
  createStream(options: CreateStreamOptions | string): Promise<StreamInfo>;
  grantPermissions(streamId: string, assignment: PermissionAssignment): Promise<void>;
  revokePermissions(streamId: string, assignment: PermissionAssignment): Promise<void>;
  hasPermission(query: PermissionQuery): Promise<boolean>;
  /**
   * The nodes that store a stream part, from the network coordinator on chain (needs `deployment`): the
   * same answer every node and client computes. Their addresses can be a client's `nodes`.
   */
  storageNodes(stream: StreamPartArg): Promise<StorageNode[]>;
  /**
   * Resends (as `resend`) and checks the answer against the rolling checksums the network finalised on
   * chain: every checksum interval inside the answer's span — the part's whole stored history when fewer
   * than `last` events come back — must hold exactly the events the network agreed on. A storage node that
   * dropped, added or altered one is caught: rejects with HISTORY_MISMATCH naming the interval.
   */
  verifyHistory(stream: StreamPartArg, query?: ResendQuery): Promise<HistoryVerification>;
  /** Rotates a stream part's group key; the next encrypted event announces the new key. */
  rotateGroupKey(stream: StreamPartArg): Promise<void>;
  /** Starts a group key readers must request; after a revocation the removed reader cannot get it. */
  rekey(stream: StreamPartArg): Promise<void>;
  destroy(): Promise<void>;
}

/** A new random private key, '0x' + 64 hex digits. */
export function generatePrivateKey(): string;
