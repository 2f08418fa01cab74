// Test harness: a gateway on a real bus (memory, or NATS through testkit), a feed writer that
// appends FeedEntries the way the changeset role does, and a `ws` client that queues messages.
import { createServer, connect as connectTcp } from "node:net";
import type { AddressInfo, Server, Socket } from "node:net";
import { decode } from "@msgpack/msgpack";
import WebSocket from "ws";
import { connectNatsBus, createMemoryBus } from "@drivecast/bus";
import type { MemoryBus } from "@drivecast/bus";
import { Registry } from "@drivecast/bus";
import type { Bus } from "@drivecast/bus";
import { Names, msgpackCodec, nextPosition, shardOf } from "@drivecast/protocol";
import type { FeedEntry, FileSystemItemChange, ServerMessage } from "@drivecast/protocol";
import { randomName } from "@drivecast/testkit";
import { gatewayConfig, startGateway } from "../src/mod.js";
import type { Gateway, GatewayConfig, Identity, Logger } from "../src/mod.js";

export const SHARDS = 8;
export const FEED_MAX_AGE_MS = 24 * 60 * 60 * 1000;

export const silent: Logger = { debug() {}, info() {}, warn() {}, error() {} };

const feedCodec = msgpackCodec<FeedEntry>();

export type BusKind = "memory" | "nats";

/** Something devices connect to: a harness's gateway or another one on the same bus. */
export interface Endpoint {
  wsUrl(query?: Record<string, string>): string;
  httpUrl(path: string, query?: Record<string, string>): string;
}

/** A further gateway instance on the same cluster (own bus connection, own metrics). */
export interface OtherGateway extends Endpoint {
  gateway: Gateway;
  bus: Bus;
  registry: Registry;
  close(): Promise<void>;
}

export interface Harness extends Endpoint {
  bus: Bus;
  names: Names;
  registry: Registry;
  gateway: Gateway;
  config: GatewayConfig;
  /** Token → identity the stub authenticator knows (delete one to revoke it). */
  tokens: Map<string, Identity>;
  /** Calls made to the stub authenticator (what Nuxeo would have seen, uncached). */
  authCalls(): number;
  /** Moves the clock injected into the gateways forward. */
  advanceClock(ms: number): void;
  /** Registers a new random user; returns its token. */
  user(name?: string): { user: string; token: string };
  feed(user: string): FeedWriter;
  /**
   * Starts another gateway of the same cluster on its own bus connection — to `natsUrl` when
   * given (e.g. through a proxy), else the harness's server. Closed with the harness.
   */
  spawnGateway(overrides?: Partial<GatewayConfig>, natsUrl?: string): Promise<OtherGateway>;
  close(): Promise<void>;
}

function urls(port: number): Endpoint {
  const q = (query: Record<string, string>): string => {
    const s = new URLSearchParams(query).toString();
    return s === "" ? "" : `?${s}`;
  };
  return {
    wsUrl: (query = {}) => `ws://127.0.0.1:${port}/drive/v1/ws${q(query)}`,
    httpUrl: (path, query = {}) => `http://127.0.0.1:${port}${path}${q(query)}`,
  };
}

export async function startHarness(
  kind: BusKind,
  natsUrl: string | undefined,
  overrides: Partial<GatewayConfig> = {},
): Promise<Harness> {
  const bus =
    kind === "memory" ? createMemoryBus() : await connectNatsBus({ servers: natsUrl as string });
  const id = randomName("gw");
  const naming = { prefix: `${id}_`, subjectPrefix: `${id}.` };
  const names = new Names(naming);
  await bus.streams.ensure({
    name: names.feedsStream,
    subjects: [names.feedsSubjects],
    maxAgeMs: FEED_MAX_AGE_MS,
    maxMsgsPerSubject: 1000,
  });
  const registry = new Registry();
  const tokens = new Map<string, Identity>();
  let authCalls = 0;
  let clockOffset = 0;
  const now = (): number => Date.now() + clockOffset;
  const configOf = (o: Partial<GatewayConfig>): GatewayConfig =>
    gatewayConfig({
      host: "127.0.0.1",
      port: 0,
      shardCount: SHARDS,
      naming,
      feedMaxAgeMs: FEED_MAX_AGE_MS,
      ...o,
    });
  const deps = (b: Bus, r: Registry) => ({
    bus: b,
    registry: r,
    logger: silent,
    now,
    authenticate: async (token: string) => {
      authCalls++;
      return tokens.get(token) ?? null;
    },
  });
  const config = configOf(overrides);
  const gateway = await startGateway(config, deps(bus, registry));
  const writers = new Map<string, FeedWriter>();
  const others: OtherGateway[] = [];
  return {
    bus,
    names,
    registry,
    gateway,
    config,
    tokens,
    authCalls: () => authCalls,
    advanceClock(ms) {
      clockOffset += ms;
    },
    ...urls(gateway.port),
    async spawnGateway(o = {}, url) {
      const otherBus =
        kind === "memory"
          ? (bus as MemoryBus).connect()
          : await connectNatsBus({ servers: url ?? (natsUrl as string), name: "other-gateway" });
      const otherRegistry = new Registry();
      const other = await startGateway(
        configOf({ ...overrides, ...o }),
        deps(otherBus, otherRegistry),
      );
      const handle: OtherGateway = {
        gateway: other,
        bus: otherBus,
        registry: otherRegistry,
        ...urls(other.port),
        async close() {
          await other.close();
          await otherBus.close();
        },
      };
      others.push(handle);
      return handle;
    },
    user(name) {
      const user = name ?? `${randomName("user")}@example.com`;
      const token = randomName("token");
      tokens.set(token, { user, groups: ["members"], isAdministrator: false });
      return { user, token };
    },
    feed(user) {
      let w = writers.get(user);
      if (w === undefined) {
        w = new FeedWriter(bus, names, user);
        writers.set(user, w);
      }
      return w;
    },
    async close() {
      for (const o of others.splice(0)) await o.close();
      await gateway.close();
      await bus.streams.delete(names.feedsStream).catch(() => undefined);
      await bus.close();
    },
  };
}

export function change(docUuid: string, eventDate = Date.now()): FileSystemItemChange {
  return {
    repositoryId: "default",
    eventId: "documentModified",
    eventDate,
    docUuid,
    fileSystemItem: null,
    fileSystemItemId: `defaultFileSystemItemFactory#default#${docUuid}`,
    fileSystemItemName: docUuid,
  };
}

/** Appends change sets to one user's feed as the changeset actor would (single writer). */
export class FeedWriter {
  last = 0;
  readonly subject: string;

  constructor(
    private readonly bus: Bus,
    names: Names,
    readonly user: string,
  ) {
    this.subject = names.feed(shardOf(user, SHARDS), user);
  }

  async append(docs: string[] = [randomName("doc")], size = 0): Promise<FeedEntry> {
    const upperBound = nextPosition(this.last, Date.now());
    const entry: FeedEntry = {
      user: this.user,
      lowerBound: this.last,
      eventSeq: 0,
      summary: {
        fileSystemChanges: docs.map((d) => {
          const c = change(d);
          if (size > 0) c.fileSystemItemName = "x".repeat(size);
          return c;
        }),
        syncDate: Math.floor(Date.now() / 1000) * 1000,
        upperBound,
        hasTooManyChanges: false,
        activeSynchronizationRootDefinitions: "default:root",
      },
    };
    await this.bus.streams.append(this.subject, feedCodec.encode(entry));
    this.last = upperBound;
    return entry;
  }
}

export interface Closed {
  code: number;
  reason: string;
}

/** A `ws` client that queues what it receives, so tests await messages in order. */
export class TestClient {
  private readonly queue: ServerMessage[] = [];
  private waiter: (() => void) | null = null;
  readonly closed: Promise<Closed>;
  readonly opened: Promise<void>;

  constructor(
    readonly ws: WebSocket,
    private readonly binary: boolean,
  ) {
    ws.on("message", (data, isBinary) => {
      const buf = Buffer.isBuffer(data) ? data : Buffer.concat(data as Buffer[]);
      this.queue.push((isBinary ? decode(buf) : JSON.parse(buf.toString("utf8"))) as ServerMessage);
      this.waiter?.();
    });
    this.closed = new Promise((resolve) => {
      ws.on("close", (code, reason) => {
        resolve({ code, reason: reason.toString("utf8") });
        this.waiter?.();
      });
    });
    this.opened = new Promise((resolve, reject) => {
      ws.once("open", () => resolve());
      ws.once("error", reject);
      ws.once("unexpected-response", (_req, res) =>
        reject(new Error(`upgrade refused: ${res.statusCode}`)),
      );
    });
    this.closed.catch(() => undefined);
    this.opened.catch(() => undefined);
  }

  static async connect(
    url: string,
    options: { protocol?: string; headers?: Record<string, string>; autoPong?: boolean } = {},
  ): Promise<TestClient> {
    const ws = new WebSocket(url, options.protocol === undefined ? [] : [options.protocol], {
      headers: options.headers ?? {},
      autoPong: options.autoPong ?? true,
    });
    const client = new TestClient(ws, options.protocol === "drivecast.v1.msgpack");
    await client.opened;
    return client;
  }

  send(message: unknown): void {
    if (this.binary) {
      // Imported lazily: the JSON tests never need msgpack encoding.
      this.ws.send(encodeMsgpack(message));
    } else {
      this.ws.send(JSON.stringify(message));
    }
  }

  /** The next message; fails after `timeoutMs` naming what was expected. */
  async next(what = "a message", timeoutMs = 10_000): Promise<ServerMessage> {
    const deadline = Date.now() + timeoutMs;
    while (this.queue.length === 0) {
      if (this.ws.readyState === WebSocket.CLOSED) {
        throw new Error(
          `expected ${what}, but the socket closed (${JSON.stringify(await this.closed)})`,
        );
      }
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`expected ${what} within ${timeoutMs} ms, got nothing`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiter = () => {
          clearTimeout(timer);
          this.waiter = null;
          resolve();
        };
      });
    }
    return this.queue.shift() as ServerMessage;
  }

  /** The next message, which must be of `type`. */
  async expect<T extends ServerMessage["type"]>(
    type: T,
    timeoutMs?: number,
  ): Promise<Extract<ServerMessage, { type: T }>> {
    const m = await this.next(`a "${type}" message`, timeoutMs);
    if (m.type !== type) throw new Error(`expected a "${type}" message, got ${JSON.stringify(m)}`);
    return m as Extract<ServerMessage, { type: T }>;
  }

  /** Whatever has arrived and not been read. */
  pending(): ServerMessage[] {
    return [...this.queue];
  }

  async waitClosed(timeoutMs = 10_000): Promise<Closed> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`expected the socket to close within ${timeoutMs} ms`)),
        timeoutMs,
      );
    });
    try {
      return await Promise.race([this.closed, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  close(): void {
    this.ws.close();
  }
}

import { encode as encodeMsgpack } from "@msgpack/msgpack";

/** Opens a socket for `token`/`deviceId`, reads `welcome`; returns the client. */
export async function connectDevice(
  h: Endpoint,
  token: string,
  deviceId = randomName("device"),
  options: { protocol?: string; autoPong?: boolean } = {},
): Promise<TestClient> {
  const client = await TestClient.connect(h.wsUrl(), {
    ...options,
    headers: { "X-Authentication-Token": token, "X-Device-Id": deviceId },
  });
  await client.expect("welcome");
  return client;
}

/** What an upgrade request that is refused answers. */
export function refusedUpgrade(
  url: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: unknown }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers });
    ws.once("open", () => {
      ws.close();
      reject(new Error("expected the upgrade to be refused, but it was accepted"));
    });
    ws.once("unexpected-response", (_req, res) => {
      let body = "";
      res.on("data", (c: Buffer) => (body += c.toString("utf8")));
      res.on("end", () =>
        resolve({ status: res.statusCode ?? 0, body: JSON.parse(body) as unknown }),
      );
    });
    ws.once("error", () => undefined);
  });
}

/** Polls `check` until it returns a value other than undefined, or fails naming `what`. */
export async function eventually<T>(
  what: string,
  check: () => Promise<T | undefined> | T | undefined,
  timeoutMs = 10_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`expected ${what} within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** A metric's value from the registry (sum over label sets matching `labels`). */
export async function metricValue(
  registry: Registry,
  name: string,
  labels: Record<string, string> = {},
): Promise<number> {
  const metric = registry.getSingleMetric(name);
  if (metric === undefined) return 0;
  const data = await metric.get();
  let sum = 0;
  for (const v of data.values) {
    const l = v.labels;
    if (Object.entries(labels).every(([k, want]) => String(l[k]) === want)) sum += v.value;
  }
  return sum;
}

/**
 * A TCP proxy in front of a server: `cut()` drops every connection through it and refuses new
 * ones until `heal()` — a network partition between one client and the server, the server and
 * its other clients carrying on.
 */
export class TcpProxy {
  private readonly sockets = new Set<Socket>();
  private refusing = false;

  private constructor(
    private readonly server: Server,
    readonly port: number,
  ) {}

  get url(): string {
    return `nats://127.0.0.1:${this.port}`;
  }

  static async start(targetPort: number): Promise<TcpProxy> {
    let proxy: TcpProxy | null = null;
    const server = createServer((client) => {
      const p = proxy as TcpProxy;
      if (p.refusing) {
        client.destroy();
        return;
      }
      const upstream = connectTcp(targetPort, "127.0.0.1");
      for (const s of [client, upstream]) {
        p.sockets.add(s);
        s.on("error", () => undefined);
        s.on("close", () => {
          p.sockets.delete(s);
          client.destroy();
          upstream.destroy();
        });
      }
      client.pipe(upstream);
      upstream.pipe(client);
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    proxy = new TcpProxy(server, (server.address() as AddressInfo).port);
    return proxy;
  }

  cut(): void {
    this.refusing = true;
    for (const s of this.sockets) s.destroy();
  }

  heal(): void {
    this.refusing = false;
  }

  close(): Promise<void> {
    this.cut();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}
