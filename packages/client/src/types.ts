// Public interfaces of the client SDK. Nothing here is Node-only: the SDK runs in browsers too.
import type {
  FileSystemChangeSummary,
  FileSystemItemChange,
  WelcomeMessage,
} from "@drivecast/protocol";
import type { BackoffOptions } from "./backoff.js";
import type { DriveClientError } from "./errors.js";
import type { DriveTree } from "./tree.js";

/** Where the client keeps its position (`summary.upperBound`) between runs. */
export interface CursorStore {
  /** The saved position, or null on a first run. */
  load(): Promise<number | null>;
  /** Called once a change set (or a rescan) is applied, before it is acknowledged. */
  save(position: number): Promise<void>;
}

/** Timers and time, injected so tests can drive them. */
export interface Clock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

/**
 * The part of a WebSocket the client uses: the browser's `WebSocket` and the `ws` package's both
 * fit. Only `ws` takes the third constructor argument (headers); browsers ignore it.
 */
export interface WebSocketLike {
  binaryType: string;
  readonly protocol: string;
  onopen: ((event: unknown) => void) | null;
  onmessage: ((event: { data: unknown }) => void) | null;
  onclose: ((event: { code: number; reason: string }) => void) | null;
  onerror: ((event: unknown) => void) | null;
  send(data: string | Uint8Array): void;
  close(code?: number, reason?: string): void;
}

/** `WebSocket` (browser global) or the default export of `ws` (Node). */
export type WebSocketConstructor = new (
  url: string,
  protocols: string[],
  options: { headers: Record<string, string> },
) => object;

/** How the token and device id reach the gateway (PROTOCOL.md "Authentication"). */
export type CredentialsMode =
  /** `X-Authentication-Token` / `X-Device-Id` headers (Node with `ws`). */
  | "headers"
  /** `token` / `deviceId` query parameters (browsers cannot set WebSocket headers). */
  | "query";

export type WireFormat = "json" | "msgpack";

export interface DriveClientOptions {
  /**
   * The gateway: `ws://host:port` (the path `/drive/v1/ws` is added) or the full WebSocket URL.
   * `http(s)://` is accepted and turned into `ws(s)://`.
   */
  url: string;
  token: string;
  deviceId: string;
  /** The WebSocket constructor: `globalThis.WebSocket` in a browser, `ws` in Node. */
  WebSocket: WebSocketConstructor;
  /** Default: "query" when `WebSocket` is the global one (a browser), else "headers". */
  credentials?: CredentialsMode;
  /** Default "json". */
  format?: WireFormat;
  /** Sent as `X-Client-Version` in header mode (the device registry keeps it). */
  clientVersion?: string;
  /** Default: in memory (every start is a first run). */
  cursorStore?: CursorStore;
  /** The tree to keep up to date; give the one restored with the cursor. Default: empty. */
  tree?: DriveTree;
  /**
   * Called after each change set or rescan is applied to the tree and before its position is
   * saved and acknowledged; the client waits for it. A throw makes the client reconnect and
   * apply the set again (the tree is idempotent under re-application).
   */
  onUpdate?: (update: TreeUpdate) => void | Promise<void>;
  /**
   * Called when the server refuses the token (close 4001, HTTP 401): return a new token, or null
   * to stop with an AuthenticationError. Without it the client stops.
   */
  reauthenticate?: () => Promise<string | null>;
  /** Scroll batch size (capped by the server's `maxBatchSize`). Default 1000. */
  scrollBatchSize?: number;
  /** Scroll keep-alive sent to the server, ms. Default: the server's. */
  scrollKeepAliveMs?: number;
  /** A scroll request unanswered this long fails the connection. Default 60 000 ms. */
  requestTimeoutMs?: number;
  /** More folder rescans than this in one set: one full rescan instead. Default 16. */
  maxFolderRescans?: number;
  /** The socket must open within this. Default 30 000 ms. */
  connectTimeoutMs?: number;
  /** Heartbeat assumed until `welcome` gives the server's. Default 25 000 ms. */
  heartbeatMs?: number;
  /** Client messages per second at most (the gateway rate-limits sockets). Default 10. */
  messagesPerSecond?: number;
  /** Burst of client messages above the rate. Default 40. */
  messageBurst?: number;
  backoff?: Partial<BackoffOptions>;
  clock?: Clock;
  /** Uniform in [0, 1): jitter. */
  random?: () => number;
}

export type ClientState =
  /** Created, or stopped by `stop()` — not connected. */
  | "idle"
  /** Opening a connection. */
  | "connecting"
  /** Connected, replaying or applying change sets. */
  | "syncing"
  /** Connected, running a full remote scan. */
  | "scanning"
  /** Connected and up to date. */
  | "live"
  /** Waiting before the next connection attempt. */
  | "waiting"
  /** Gave up (protocol error, authentication): see the last `error` event. */
  | "stopped";

export type RescanReason =
  /** No saved cursor. */
  | "firstRun"
  /** The server answered `hasTooManyChanges`. */
  | "tooManyChanges"
  /** A set asked for more folder rescans than `maxFolderRescans`. */
  | "folders";

/** What `onUpdate` is told. */
export type TreeUpdate =
  | {
      kind: "changes";
      upperBound: number;
      summary: FileSystemChangeSummary;
      /** The changes applied, oldest first. */
      applied: FileSystemItemChange[];
      upserted: string[];
      removed: string[];
      /** Folders whose descendants were rescanned. */
      rescanned: string[];
    }
  | {
      kind: "rescan";
      upperBound: number;
      reason: RescanReason;
      /** Items the scan returned. */
      items: number;
      upserted: string[];
      removed: string[];
    };

export interface ChangeEvent {
  lowerBound: number;
  upperBound: number;
  summary: FileSystemChangeSummary;
  applied: FileSystemItemChange[];
  upserted: string[];
  removed: string[];
  rescanned: string[];
}

export interface RescanEvent {
  reason: RescanReason;
  upperBound: number;
  items: number;
  upserted: string[];
  removed: string[];
}

export interface SyncedEvent {
  /** The position applied and saved. */
  upperBound: number;
}

export interface StateEvent {
  state: ClientState;
  previous: ClientState;
  /** For "waiting": the delay before the next attempt. */
  delayMs?: number;
}

export interface DriveClientEvents {
  /** A change set was applied (after `onUpdate`, once its position is saved). */
  change: ChangeEvent;
  /** A full remote scan replaced the tree. */
  rescan: RescanEvent;
  /** Everything received so far is applied and saved. */
  synced: SyncedEvent;
  /** Something went wrong; `retriable` errors are retried by the client itself. */
  error: DriveClientError;
  state: StateEvent;
  /** The server's `welcome` (once per connection). */
  welcome: WelcomeMessage;
}

export interface DriveClient {
  readonly tree: DriveTree;
  readonly state: ClientState;
  /** The position applied and saved (null before the first one). */
  readonly cursor: number | null;
  /** Connections opened so far. */
  readonly connections: number;
  /** Loads the cursor and connects; resolves once the first connection attempt has begun. */
  start(): Promise<void>;
  /** Closes the connection and cancels timers; resolves once the set in progress is done. */
  stop(): Promise<void>;
  on<K extends keyof DriveClientEvents>(
    event: K,
    listener: (value: DriveClientEvents[K]) => void,
  ): () => void;
  /**
   * Resolves once the client is synced at a position ≥ `position` (any position when omitted),
   * rejects if it stops first.
   */
  whenSynced(position?: number): Promise<number>;
}
