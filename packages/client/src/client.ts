// The Drive client: one device's connection to the gateway, kept alive, kept contiguous, and
// applied to a local tree.
//
// Invariant: the saved cursor c means "the tree (and whatever `onUpdate` maintains) reflects every
// change set up to position c". It holds because a set's position is saved only after the set
// (with its folder rescans, or the full rescan it asked for) is applied and `onUpdate` returned,
// sets are applied one at a time in arrival order, and arrival order is checked: each `changes`
// message must follow the previous one (`lowerBound` = previous `upperBound`), else the client
// drops the connection and resumes from c. The server replays everything after c (or says
// `hasTooManyChanges`, and the client rescans).
//
// Failure cases:
// - A connection drops mid-set (close, silence for 2 × heartbeat, a scroll error or timeout):
//   the set's position is not saved, so the next connection replays it. The tree may already
//   hold part of it; applying it again is harmless (upserts and deletions are idempotent, and a
//   rescan makes a subtree exactly what the server says).
// - A full rescan races live changes: the scan starts after the `changes` message that asked for
//   it (position p), and the sets after p are queued and applied after the scan. A change both in
//   the scan and in a later set is applied twice; the later set, applied last, wins — it is the
//   newer state, so the tree converges.
// - Two connections' work never interleaves: each connection's loop is chained after the
//   previous one's, and a loop whose connection is gone stops at its next step.
// - Close codes follow PROTOCOL.md: 1000/1001/4008 reconnect, 4009/4029 back off longer, 4001
//   (or HTTP 401) asks `reauthenticate` for a new token, 4000 (or HTTP 400) stops.
import { Defaults, Paths, TOP_LEVEL_ID } from "@drivecast/protocol";
import type {
  ChangesMessage,
  ClientMessage,
  FileSystemItem,
  ScrollRequestMessage,
  ScrollResultMessage,
  ServerMessage,
  WelcomeMessage,
} from "@drivecast/protocol";
import { DEFAULT_BACKOFF, backoffDelay, closeAction, refusalAction } from "./backoff.js";
import type { BackoffOptions, CloseAction } from "./backoff.js";
import { systemClock } from "./clock.js";
import { memoryCursorStore } from "./cursor-store.js";
import {
  ApplyError,
  AuthenticationError,
  ClientConfigError,
  ConnectionError,
  ContiguityError,
  DriveClientError,
  ProtocolError,
  ScrollError,
  SilenceError,
} from "./errors.js";
import { createDriveTree } from "./tree.js";
import type { DriveTree } from "./tree.js";
import type {
  ClientState,
  Clock,
  CredentialsMode,
  CursorStore,
  DriveClient,
  DriveClientEvents,
  DriveClientOptions,
  RescanReason,
  TreeUpdate,
  WebSocketConstructor,
  WebSocketLike,
  WireFormat,
} from "./types.js";
import { decodeServerFrame, encodeClientMessage, subprotocolOf } from "./wire.js";

/** Error codes after which a scroll is started over / the folder is skipped. */
const SCROLL_EXPIRED = "scroll_expired";
const NOT_FOUND = "not_found";
const MAX_SCROLL_RESTARTS = 3;
/** `t` of the ping sent with `subscribe`. */
const SYNC_PING = "subscribed:";

export function createDriveClient(options: DriveClientOptions): DriveClient {
  return new DriveClientImpl(options);
}

interface Settings {
  url: string;
  deviceId: string;
  WebSocket: WebSocketConstructor;
  credentials: CredentialsMode;
  format: WireFormat;
  clientVersion: string | undefined;
  store: CursorStore;
  onUpdate: DriveClientOptions["onUpdate"];
  reauthenticate: DriveClientOptions["reauthenticate"];
  scrollBatchSize: number;
  scrollKeepAliveMs: number | undefined;
  requestTimeoutMs: number;
  maxFolderRescans: number;
  connectTimeoutMs: number;
  heartbeatMs: number;
  messagesPerSecond: number;
  messageBurst: number;
  backoff: BackoffOptions;
  clock: Clock;
  random: () => number;
}

function positive(name: string, value: number | undefined, fallback: number): number {
  const v = value ?? fallback;
  if (typeof v !== "number" || !(v > 0) || !Number.isFinite(v)) {
    throw new ClientConfigError(name, `must be a positive number, got ${String(v)}`);
  }
  return v;
}

function settingsOf(o: DriveClientOptions): Settings {
  if (typeof o.url !== "string" || o.url === "") throw new ClientConfigError("url", "is required");
  if (typeof o.token !== "string" || o.token === "") {
    throw new ClientConfigError("token", "is required");
  }
  if (typeof o.deviceId !== "string" || o.deviceId === "") {
    throw new ClientConfigError("deviceId", "is required");
  }
  if (typeof o.WebSocket !== "function") {
    throw new ClientConfigError(
      "WebSocket",
      "give the WebSocket constructor: globalThis.WebSocket in a browser, the `ws` package in Node",
    );
  }
  const browserGlobal = (globalThis as { WebSocket?: unknown }).WebSocket;
  const batch = positive("scrollBatchSize", o.scrollBatchSize, Defaults.maxBatchSize);
  return {
    url: webSocketUrl(o.url),
    deviceId: o.deviceId,
    WebSocket: o.WebSocket,
    credentials: o.credentials ?? (o.WebSocket === browserGlobal ? "query" : "headers"),
    format: o.format ?? "json",
    clientVersion: o.clientVersion,
    store: o.cursorStore ?? memoryCursorStore(),
    onUpdate: o.onUpdate,
    reauthenticate: o.reauthenticate,
    scrollBatchSize: Math.floor(batch),
    scrollKeepAliveMs: o.scrollKeepAliveMs,
    requestTimeoutMs: positive("requestTimeoutMs", o.requestTimeoutMs, 60_000),
    maxFolderRescans: Math.floor(positive("maxFolderRescans", o.maxFolderRescans, 16)),
    connectTimeoutMs: positive("connectTimeoutMs", o.connectTimeoutMs, 30_000),
    heartbeatMs: positive("heartbeatMs", o.heartbeatMs, Defaults.heartbeatMs),
    messagesPerSecond: positive("messagesPerSecond", o.messagesPerSecond, 10),
    messageBurst: positive("messageBurst", o.messageBurst, 40),
    backoff: { ...DEFAULT_BACKOFF, ...o.backoff },
    clock: o.clock ?? systemClock,
    random: o.random ?? Math.random,
  };
}

/** `ws(s)://host[:port]` (path defaulted to /drive/v1/ws); `http(s)` is taken as `ws(s)`. */
export function webSocketUrl(url: string): string {
  let u: URL;
  try {
    u = new URL(url.replace(/^http(s?):/i, "ws$1:"));
  } catch (err) {
    throw new ClientConfigError("url", `${JSON.stringify(url)} is not a URL (${String(err)})`);
  }
  if (u.protocol !== "ws:" && u.protocol !== "wss:") {
    throw new ClientConfigError("url", `must be ws://, wss://, http:// or https://, got ${url}`);
  }
  if (u.pathname === "" || u.pathname === "/") u.pathname = Paths.WebSocket;
  return u.toString();
}

/** The HTTP status of a refused upgrade, when the runtime tells (ws: "Unexpected server response: 401"). */
export function refusedStatusOf(event: unknown): number | null {
  if (typeof event !== "object" || event === null) return null;
  const e = event as { message?: unknown; error?: { message?: unknown } };
  const text =
    typeof e.message === "string"
      ? e.message
      : typeof e.error?.message === "string"
        ? e.error.message
        : "";
  const m = /Unexpected server response: (\d{3})/.exec(text);
  return m === null ? null : Number(m[1]);
}

/** Thrown inside a connection's loop once that connection is gone: stop quietly. */
class Superseded extends Error {
  override name = "Superseded";
}

interface PendingRequest {
  resolve(reply: ScrollResultMessage): void;
  reject(err: Error): void;
  timer: unknown;
}

class Connection {
  opened = false;
  ended = false;
  /** The next `changes.lowerBound` expected; null accepts any (after subscribing from now). */
  expected: number | null = null;
  heartbeatMs: number;
  maxBatchSize = Number.MAX_SAFE_INTEGER;
  lastHeard: number;
  pingSent = false;
  readonly queue: ChangesMessage[] = [];
  running = false;
  readonly pending = new Map<string, PendingRequest>();
  connectTimer: unknown = null;
  heartbeatTimer: unknown = null;
  ackTimer: unknown = null;
  ackDue: number | null = null;
  lastError: unknown = null;

  constructor(
    readonly id: number,
    readonly socket: WebSocketLike,
    heartbeatMs: number,
    now: number,
  ) {
    this.heartbeatMs = heartbeatMs;
    this.lastHeard = now;
  }
}

/** A token bucket for client messages (the gateway closes sockets that send too fast: 4029). */
class MessageBudget {
  private tokens: number;
  private last: number;

  constructor(
    private readonly perSecond: number,
    private readonly burst: number,
    private readonly clock: Clock,
  ) {
    this.tokens = burst;
    this.last = clock.now();
  }

  take(): boolean {
    this.refill();
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }

  /** Ms until a token is available (0 when one is). */
  wait(): number {
    this.refill();
    return this.tokens >= 1 ? 0 : Math.ceil(((1 - this.tokens) / this.perSecond) * 1000);
  }

  private refill(): void {
    const now = this.clock.now();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) / 1000) * this.perSecond);
    this.last = now;
  }
}

type Listener = (value: never) => void;

class DriveClientImpl implements DriveClient {
  readonly tree: DriveTree;
  private readonly s: Settings;
  private token: string;
  private stateValue: ClientState = "idle";
  private cursorValue: number | null = null;
  private connectionCount = 0;
  private current: Connection | null = null;
  private attempt = 0;
  private retryTimer: unknown = null;
  private processing: Promise<void> = Promise.resolve();
  private stopping = false;
  /** Bumped by every start and stop: callbacks of an earlier run see it changed and do nothing. */
  private generation = 0;
  private started = false;
  private readonly listeners = new Map<string, Set<Listener>>();
  private waiters: { position: number; resolve(n: number): void; reject(e: Error): void }[] = [];
  private readonly budget: MessageBudget;
  private requestSeq = 0;
  private connectionSeq = 0;

  constructor(options: DriveClientOptions) {
    this.s = settingsOf(options);
    this.token = options.token;
    this.tree = options.tree ?? createDriveTree();
    this.budget = new MessageBudget(this.s.messagesPerSecond, this.s.messageBurst, this.s.clock);
  }

  get state(): ClientState {
    return this.stateValue;
  }

  get cursor(): number | null {
    return this.cursorValue;
  }

  get connections(): number {
    return this.connectionCount;
  }

  async start(): Promise<void> {
    if (this.started) throw new ClientConfigError("start", "the client is already started");
    this.started = true;
    this.stopping = false;
    const generation = ++this.generation;
    try {
      this.cursorValue = await this.s.store.load();
    } catch (err) {
      this.started = false;
      throw new ApplyError("the cursor store could not load the saved position", err);
    }
    if (this.stopping || generation !== this.generation) return;
    this.attempt = 0;
    this.connect();
  }

  async stop(): Promise<void> {
    this.stopping = true;
    this.generation++;
    this.started = false;
    if (this.retryTimer !== null) {
      this.s.clock.clearTimeout(this.retryTimer);
      this.retryTimer = null;
    }
    const conn = this.current;
    if (conn !== null) {
      this.current = null;
      this.end(conn, 1000, "client stopping");
    }
    await this.processing.catch(() => undefined);
    this.rejectWaiters(new DriveClientError("the client was stopped"));
    if (this.stateValue !== "stopped") this.setState("idle");
  }

  on<K extends keyof DriveClientEvents>(
    event: K,
    listener: (value: DriveClientEvents[K]) => void,
  ): () => void {
    let set = this.listeners.get(event);
    if (set === undefined) {
      set = new Set();
      this.listeners.set(event, set);
    }
    set.add(listener as Listener);
    return () => set.delete(listener as Listener);
  }

  whenSynced(position?: number): Promise<number> {
    const target = position ?? Number.MIN_SAFE_INTEGER;
    if (this.stateValue === "live" && this.cursorValue !== null && this.cursorValue >= target) {
      return Promise.resolve(this.cursorValue);
    }
    if (this.stateValue === "stopped") {
      return Promise.reject(new DriveClientError("the client has stopped"));
    }
    return new Promise((resolve, reject) =>
      this.waiters.push({ position: target, resolve, reject }),
    );
  }

  // --- events ---------------------------------------------------------------------------------

  private emit<K extends keyof DriveClientEvents>(event: K, value: DriveClientEvents[K]): void {
    const set = this.listeners.get(event);
    if (set === undefined) return;
    for (const l of [...set]) {
      try {
        (l as (v: DriveClientEvents[K]) => void)(value);
      } catch (err) {
        // A failing listener must not break the sync loop; tell the others (not recursively).
        if (event !== "error") {
          this.emit("error", new DriveClientError(`a "${event}" listener threw`, { cause: err }));
        }
      }
    }
  }

  private setState(state: ClientState, delayMs?: number): void {
    if (state === this.stateValue) return;
    const previous = this.stateValue;
    this.stateValue = state;
    this.emit("state", delayMs === undefined ? { state, previous } : { state, previous, delayMs });
  }

  private rejectWaiters(err: Error): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w.reject(err);
  }

  // --- connection lifecycle -------------------------------------------------------------------

  private connect(): void {
    if (this.stopping) return;
    this.setState("connecting");
    const s = this.s;
    const headers: Record<string, string> = {};
    let url = s.url;
    if (s.credentials === "query") {
      const u = new URL(url);
      u.searchParams.set("token", this.token);
      u.searchParams.set("deviceId", s.deviceId);
      url = u.toString();
    } else {
      headers["X-Authentication-Token"] = this.token;
      headers["X-Device-Id"] = s.deviceId;
      if (s.clientVersion !== undefined) headers["X-Client-Version"] = s.clientVersion;
    }
    let socket: WebSocketLike;
    try {
      socket = new s.WebSocket(url, [subprotocolOf(s.format)], { headers }) as WebSocketLike;
    } catch (err) {
      const error = new ClientConfigError("WebSocket", `could not open ${url}: ${String(err)}`);
      this.fail(error);
      return;
    }
    socket.binaryType = "arraybuffer";
    const conn = new Connection(++this.connectionSeq, socket, s.heartbeatMs, s.clock.now());
    this.current = conn;
    socket.onopen = () => this.onOpen(conn);
    socket.onmessage = (event) => this.onMessage(conn, event.data);
    socket.onclose = (event) => this.onClose(conn, event.code, event.reason);
    socket.onerror = (event) => {
      conn.lastError = event;
    };
    conn.connectTimer = s.clock.setTimeout(() => {
      conn.connectTimer = null;
      this.abort(
        conn,
        new ConnectionError(0, "", `the connection did not open within ${s.connectTimeoutMs} ms`),
        "reconnect",
      );
    }, s.connectTimeoutMs);
  }

  private onOpen(conn: Connection): void {
    if (conn !== this.current || conn.ended) return;
    this.clearTimer(conn, "connectTimer");
    conn.opened = true;
    this.connectionCount++;
    conn.lastHeard = this.s.clock.now();
    conn.expected = this.cursorValue;
    this.send(conn, { type: "subscribe", lowerBound: this.cursorValue });
    // An up-to-date device gets no message after subscribing; the answer to this ping is the
    // first sign that the server took the subscription (see markLive).
    if (this.cursorValue !== null && this.budget.take()) {
      this.send(conn, { type: "ping", t: `${SYNC_PING}${conn.id}` });
    }
    this.setState("syncing");
    this.scheduleHeartbeat(conn);
  }

  private onMessage(conn: Connection, data: unknown): void {
    if (conn !== this.current || conn.ended) return;
    conn.lastHeard = this.s.clock.now();
    conn.pingSent = false;
    let message: ServerMessage;
    try {
      message = decodeServerFrame(data);
    } catch (err) {
      this.abort(conn, err as DriveClientError, "reconnect");
      return;
    }
    switch (message.type) {
      case "welcome":
        this.onWelcome(conn, message);
        return;
      case "changes":
        this.onChanges(conn, message);
        return;
      case "scrollResult": {
        const pending = conn.pending.get(message.requestId);
        if (pending === undefined) return;
        conn.pending.delete(message.requestId);
        this.s.clock.clearTimeout(pending.timer);
        pending.resolve(message);
        return;
      }
      case "error": {
        const pending =
          message.requestId === undefined ? undefined : conn.pending.get(message.requestId);
        if (pending !== undefined) {
          conn.pending.delete(message.requestId as string);
          this.s.clock.clearTimeout(pending.timer);
          pending.reject(
            new ScrollError(message.code, `scroll failed: ${message.code}: ${message.message}`),
          );
          return;
        }
        this.emit(
          "error",
          new DriveClientError(`the server reported ${message.code}: ${message.message}`, {
            retriable: true,
          }),
        );
        return;
      }
      case "pong":
        if (message.t === `${SYNC_PING}${conn.id}` && !conn.running && conn.queue.length === 0) {
          this.markLive(conn);
        }
        return;
    }
  }

  private onWelcome(conn: Connection, welcome: WelcomeMessage): void {
    conn.heartbeatMs = welcome.heartbeatMs;
    conn.maxBatchSize = welcome.maxBatchSize;
    this.emit("welcome", welcome);
    this.scheduleHeartbeat(conn);
  }

  private onChanges(conn: Connection, message: ChangesMessage): void {
    const { lowerBound, summary } = message;
    if (conn.expected !== null && lowerBound !== conn.expected) {
      this.abort(conn, new ContiguityError(conn.expected, lowerBound), "reconnect");
      return;
    }
    // A rescan marker may carry any position (e.g. behind a cursor the feed never issued);
    // anything else must move forward.
    if (!summary.hasTooManyChanges && conn.expected !== null && summary.upperBound <= lowerBound) {
      this.abort(
        conn,
        new ProtocolError(
          `the server sent a change set ending at ${summary.upperBound}, not after ${lowerBound}`,
          { retriable: true },
        ),
        "reconnect",
      );
      return;
    }
    conn.expected = summary.upperBound;
    conn.queue.push(message);
    if (!conn.running) {
      conn.running = true;
      this.processing = this.processing.then(() => this.run(conn));
    }
  }

  private onClose(conn: Connection, code: number, reason: string): void {
    if (conn.ended) return;
    this.end(conn, null, "");
    if (conn !== this.current) return;
    this.current = null;
    if (this.stopping) return;
    const refused = conn.opened ? null : refusedStatusOf(conn.lastError);
    const action: CloseAction =
      refused !== null ? refusalAction(refused) : conn.opened ? closeAction(code) : "reconnect";
    const what =
      refused !== null
        ? `the gateway refused the connection with HTTP ${refused}`
        : conn.opened
          ? `the connection closed with code ${code}${reason === "" ? "" : ` (${reason})`}`
          : `the connection failed before opening (code ${code})`;
    const error =
      action === "stop"
        ? new ProtocolError(`${what}: the server refuses this client's requests; not retrying`)
        : new ConnectionError(code, reason, what, {
            retriable: action !== "reauthenticate" || this.s.reauthenticate !== undefined,
          });
    this.afterClose(action, error);
  }

  /** Drops a connection on the client's own decision. */
  private abort(conn: Connection, error: DriveClientError, action: CloseAction): void {
    if (conn.ended) return;
    this.end(conn, 1000, error.name);
    if (conn !== this.current) return;
    this.current = null;
    if (this.stopping) return;
    this.afterClose(action, error);
  }

  /** Marks a connection ended: timers off, pending requests failed, socket closed if asked. */
  private end(conn: Connection, closeCode: number | null, reason: string): void {
    if (conn.ended) return;
    conn.ended = true;
    this.clearTimer(conn, "connectTimer");
    this.clearTimer(conn, "heartbeatTimer");
    this.clearTimer(conn, "ackTimer");
    conn.queue.length = 0;
    for (const p of conn.pending.values()) {
      this.s.clock.clearTimeout(p.timer);
      p.reject(new Superseded("connection ended"));
    }
    conn.pending.clear();
    if (closeCode !== null) {
      try {
        conn.socket.close(closeCode, reason);
      } catch {
        // Already closing or never opened: nothing more to close.
      }
    }
  }

  private clearTimer(conn: Connection, key: "connectTimer" | "heartbeatTimer" | "ackTimer"): void {
    if (conn[key] !== null) {
      this.s.clock.clearTimeout(conn[key]);
      conn[key] = null;
    }
  }

  private afterClose(action: CloseAction, error: DriveClientError): void {
    this.emit("error", error);
    switch (action) {
      case "stop":
        this.halt(error);
        return;
      case "backoff":
        this.scheduleRetry(true);
        return;
      case "reconnect":
        this.scheduleRetry(false);
        return;
      case "reauthenticate":
        this.renewToken(error);
        return;
    }
  }

  private renewToken(cause: DriveClientError): void {
    const reauthenticate = this.s.reauthenticate;
    if (reauthenticate === undefined) {
      const error = new AuthenticationError(
        "the token was refused and no reauthenticate callback was given; the client stopped",
        cause,
      );
      this.fail(error);
      return;
    }
    this.setState("waiting");
    const generation = this.generation;
    reauthenticate().then(
      (token) => {
        if (this.stopping || generation !== this.generation) return;
        if (token === null || token === "") {
          const error = new AuthenticationError(
            "the token was refused and reauthenticate gave none; the client stopped",
            cause,
          );
          this.fail(error);
          return;
        }
        this.token = token;
        this.scheduleRetry(false);
      },
      (err: unknown) => {
        if (this.stopping || generation !== this.generation) return;
        this.emit(
          "error",
          new DriveClientError("reauthenticate failed; retrying later", {
            cause: err,
            retriable: true,
          }),
        );
        this.scheduleRetry(false);
      },
    );
  }

  private scheduleRetry(long: boolean): void {
    if (this.stopping) return;
    const delay = backoffDelay(this.attempt, long, this.s.backoff, this.s.random);
    this.attempt++;
    this.setState("waiting", delay);
    this.retryTimer = this.s.clock.setTimeout(() => {
      this.retryTimer = null;
      this.connect();
    }, delay);
  }

  /** Gives up until `start()` is called again. */
  /** Reports `error` and stops for good. */
  private fail(error: DriveClientError): void {
    this.emit("error", error);
    this.halt(error);
  }

  private halt(error: DriveClientError): void {
    this.started = false;
    this.setState("stopped");
    this.rejectWaiters(error);
  }

  // --- heartbeat, sending ---------------------------------------------------------------------

  private scheduleHeartbeat(conn: Connection): void {
    this.clearTimer(conn, "heartbeatTimer");
    if (conn.ended) return;
    const interval = Math.max(10, Math.min(5_000, Math.floor(conn.heartbeatMs / 4)));
    conn.heartbeatTimer = this.s.clock.setTimeout(() => {
      conn.heartbeatTimer = null;
      this.heartbeat(conn);
    }, interval);
  }

  /**
   * The server pings at WebSocket level, which browsers do not surface; so the client pings at
   * message level once it heard nothing for a heartbeat, and the pong is something to hear.
   */
  private heartbeat(conn: Connection): void {
    if (conn.ended || conn !== this.current) return;
    const silent = this.s.clock.now() - conn.lastHeard;
    if (silent >= 2 * conn.heartbeatMs) {
      this.abort(conn, new SilenceError(silent), "reconnect");
      return;
    }
    if (silent >= conn.heartbeatMs && !conn.pingSent && this.budget.take()) {
      conn.pingSent = true;
      this.send(conn, { type: "ping", t: this.s.clock.now() });
    }
    this.scheduleHeartbeat(conn);
  }

  private send(conn: Connection, message: ClientMessage): void {
    if (conn.ended) return;
    try {
      conn.socket.send(encodeClientMessage(message, this.s.format));
    } catch (err) {
      this.abort(
        conn,
        new ConnectionError(0, "", `sending ${message.type} failed`, { cause: err }),
        "reconnect",
      );
    }
  }

  /** Acknowledges `position`, now or as soon as the message budget allows (latest wins). */
  private ack(conn: Connection, position: number): void {
    if (conn.ended) return;
    conn.ackDue = position;
    if (conn.ackTimer !== null) return;
    const flush = (): void => {
      conn.ackTimer = null;
      if (conn.ended || conn.ackDue === null) return;
      if (!this.budget.take()) {
        conn.ackTimer = this.s.clock.setTimeout(flush, this.budget.wait());
        return;
      }
      const upperBound = conn.ackDue;
      conn.ackDue = null;
      this.send(conn, { type: "ack", upperBound });
    };
    flush();
  }

  // --- applying change sets -------------------------------------------------------------------

  private ensureCurrent(conn: Connection): void {
    if (conn.ended || conn !== this.current) throw new Superseded("connection ended");
  }

  /** Applies `conn`'s queued sets one by one; stops when its connection is gone. */
  private async run(conn: Connection): Promise<void> {
    try {
      while (!conn.ended && conn === this.current && conn.queue.length > 0) {
        const message = conn.queue.shift() as ChangesMessage;
        await this.applyMessage(conn, message);
      }
    } catch (err) {
      if (err instanceof Superseded) return;
      const error =
        err instanceof DriveClientError ? err : new ApplyError("applying a change set failed", err);
      this.abort(conn, error, "reconnect");
      return;
    } finally {
      conn.running = false;
    }
    this.markLive(conn);
  }

  /**
   * Everything received is applied. After a resume with nothing to replay the server sends
   * nothing at all, so "live" is also declared when the subscribe-time ping is answered with no
   * set pending; sets replayed after that pong are applied as they come (whenSynced(position)
   * is the exact test).
   */
  private markLive(conn: Connection): void {
    if (conn.ended || conn !== this.current || this.cursorValue === null) return;
    // This connection works: the next failure starts the backoff over.
    this.attempt = 0;
    this.setState("live");
    const position = this.cursorValue as number;
    this.emit("synced", { upperBound: position });
    const due = this.waiters.filter((w) => position >= w.position);
    if (due.length > 0) {
      this.waiters = this.waiters.filter((w) => position < w.position);
      for (const w of due) w.resolve(position);
    }
  }

  private async applyMessage(conn: Connection, message: ChangesMessage): Promise<void> {
    const { summary } = message;
    if (summary.hasTooManyChanges || this.cursorValue === null) {
      await this.fullScan(
        conn,
        summary.hasTooManyChanges ? "tooManyChanges" : "firstRun",
        summary.upperBound,
      );
      return;
    }
    const result = this.tree.applyChanges(summary.fileSystemChanges);
    if (result.rescan.length > this.s.maxFolderRescans) {
      await this.fullScan(conn, "folders", summary.upperBound);
      return;
    }
    const upserted = result.upserted;
    const removed = result.removed;
    const rescanned: string[] = [];
    for (const folder of result.rescan) {
      const items = await this.scrollAll(conn, folder);
      this.ensureCurrent(conn);
      if (items === null) continue;
      const r = this.tree.replaceDescendants(folder, items);
      upserted.push(...r.upserted);
      removed.push(...r.removed);
      rescanned.push(folder);
    }
    removed.push(...this.tree.prune());
    await this.commit(conn, {
      kind: "changes",
      upperBound: summary.upperBound,
      summary,
      applied: result.applied,
      upserted,
      removed,
      rescanned,
    });
    this.emit("change", {
      lowerBound: message.lowerBound,
      upperBound: summary.upperBound,
      summary,
      applied: result.applied,
      upserted,
      removed,
      rescanned,
    });
  }

  private async fullScan(
    conn: Connection,
    reason: RescanReason,
    upperBound: number,
  ): Promise<void> {
    this.setState("scanning");
    const items = (await this.scrollAll(conn, TOP_LEVEL_ID)) ?? [];
    this.ensureCurrent(conn);
    const r = this.tree.replaceDescendants(TOP_LEVEL_ID, items);
    r.removed.push(...this.tree.prune());
    await this.commit(conn, {
      kind: "rescan",
      upperBound,
      reason,
      items: items.length,
      upserted: r.upserted,
      removed: r.removed,
    });
    this.emit("rescan", {
      reason,
      upperBound,
      items: items.length,
      upserted: r.upserted,
      removed: r.removed,
    });
    this.setState("syncing");
  }

  /** The application's hook, then the cursor, then the ack — in that order (see the invariant). */
  private async commit(conn: Connection, update: TreeUpdate): Promise<void> {
    if (this.s.onUpdate !== undefined) {
      try {
        await this.s.onUpdate(update);
      } catch (err) {
        throw new ApplyError(
          "the onUpdate hook failed; the change set will be applied again after reconnecting",
          err,
        );
      }
    }
    try {
      await this.s.store.save(update.upperBound);
    } catch (err) {
      throw new ApplyError(
        "the cursor store could not save the position; the change set will be applied again",
        err,
      );
    }
    this.cursorValue = update.upperBound;
    this.ack(conn, update.upperBound);
  }

  /** Every item of a scroll of `id`, or null when the server does not know the folder. */
  private async scrollAll(conn: Connection, id: string): Promise<FileSystemItem[] | null> {
    const batchSize = Math.min(this.s.scrollBatchSize, conn.maxBatchSize);
    const items: FileSystemItem[] = [];
    let scrollId: string | null = null;
    let restarts = 0;
    for (;;) {
      let reply: ScrollResultMessage;
      try {
        const request: ScrollRequestMessage = {
          type: "scroll",
          requestId: "",
          id,
          scrollId,
          batchSize,
        };
        if (this.s.scrollKeepAliveMs !== undefined) request.keepAlive = this.s.scrollKeepAliveMs;
        reply = await this.request(conn, request);
      } catch (err) {
        if (err instanceof ScrollError && err.code === SCROLL_EXPIRED) {
          if (restarts++ < MAX_SCROLL_RESTARTS) {
            scrollId = null;
            items.length = 0;
            continue;
          }
        }
        if (err instanceof ScrollError && err.code === NOT_FOUND) return null;
        throw err;
      }
      if (reply.fileSystemItems.length === 0) return items;
      for (const item of reply.fileSystemItems) items.push(item);
      scrollId = reply.scrollId;
    }
  }

  private async request(
    conn: Connection,
    message: ScrollRequestMessage,
  ): Promise<ScrollResultMessage> {
    for (;;) {
      this.ensureCurrent(conn);
      if (this.budget.take()) break;
      const wait = this.budget.wait();
      await new Promise<void>((resolve) => this.s.clock.setTimeout(resolve, wait));
    }
    const requestId = `r${++this.requestSeq}`;
    return new Promise<ScrollResultMessage>((resolve, reject) => {
      const timer = this.s.clock.setTimeout(() => {
        conn.pending.delete(requestId);
        reject(
          new ScrollError(
            "timeout",
            `no answer to a scroll request within ${this.s.requestTimeoutMs} ms; reconnecting`,
          ),
        );
      }, this.s.requestTimeoutMs);
      conn.pending.set(requestId, { resolve, reject, timer });
      this.send(conn, { ...message, requestId });
    });
  }
}
