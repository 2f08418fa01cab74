// The server side of the gateway benchmark, one per child process (forked by gateway.bench.ts,
// run with --expose-gc so memory is measured after a full collection):
//   node gateway-server.js gateway <natsUrl> <subjectPrefix> <namePrefix>   the real gateway
//   node gateway-server.js ws      <natsUrl> <subjectPrefix> <namePrefix>   baseline: plain `ws`
//   node gateway-server.js raw                                              bare uWebSockets.js
// The `ws` baseline is the smallest server doing the same job as the gateway for the measured
// scenarios — token → user, one core NATS subscription per user with sockets, each feed entry
// decoded once and sent as a `changes` JSON frame to that user's sockets, replay of the stored
// history after `lowerBound` — without the gateway's merge, limits, heartbeats or metrics.
// `raw` holds upgraded sockets and nothing else (the floor of uWS's own memory per socket).
//
// IPC: sends {type:"ready", port}; answers {cmd:"measure"} with {type:"measure", rss, heap, fds}
// after a full GC; exits on {cmd:"stop"}.
import { readdirSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { writeHeapSnapshot } from "node:v8";
import { WebSocketServer, type WebSocket } from "ws";
import { Registry, connectNatsBus, type Bus, type Subscription } from "@drivecast/bus";
import { gatewayConfig, startGateway } from "@drivecast/gateway";
import { Names, msgpackCodec, shardOf } from "@drivecast/protocol";
import type { FeedEntry } from "@drivecast/protocol";

const [mode, natsUrl, subjectPrefix, namePrefix] = process.argv.slice(2);
const SHARDS = 64;
const silent = { debug() {}, info() {}, warn() {}, error() {} };
const feedCodec = msgpackCodec<FeedEntry>();
const decode = (bytes: Uint8Array): FeedEntry => feedCodec.decode(bytes);
const naming = { prefix: namePrefix ?? "", subjectPrefix: subjectPrefix ?? "" };

function send(message: unknown): void {
  process.send?.(message);
}

function fds(): number {
  return readdirSync("/proc/self/fd").length;
}

async function startReal(): Promise<{ port: number; stop(): Promise<void> }> {
  const bus = await connectNatsBus({ servers: natsUrl as string, name: "bench-gateway" });
  const gateway = await startGateway(
    gatewayConfig({
      host: "127.0.0.1",
      port: 0,
      shardCount: SHARDS,
      naming,
    }),
    {
      bus,
      registry: new Registry(),
      logger: silent,
      // The token is the user id: no Nuxeo in this benchmark.
      authenticate: async (token) => ({ user: token, groups: [], isAdministrator: false }),
    },
  );
  return {
    port: gateway.port,
    async stop() {
      await gateway.close();
      await bus.close();
    },
  };
}

interface UserFeed {
  sub: Subscription;
  sockets: Set<WebSocket>;
}

async function startWsBaseline(): Promise<{ port: number; stop(): Promise<void> }> {
  const bus: Bus = await connectNatsBus({ servers: natsUrl as string, name: "bench-ws" });
  const names = new Names(naming);
  const feeds = new Map<string, UserFeed>();
  const wss = new WebSocketServer({
    host: "127.0.0.1",
    port: 0,
    perMessageDeflate: false,
    handleProtocols: () => "drivecast.v1.json",
  });
  await new Promise<void>((resolve) => wss.once("listening", () => resolve()));
  const subjectOf = (user: string): string => names.feed(shardOf(user, SHARDS), user);
  const toFrame = (e: FeedEntry): string =>
    JSON.stringify({ type: "changes", lowerBound: e.lowerBound, summary: e.summary });

  wss.on("connection", (ws, req) => {
    const user = String(req.headers["x-authentication-token"] ?? "");
    const deviceId = String(req.headers["x-device-id"] ?? "");
    ws.send(
      JSON.stringify({
        type: "welcome",
        userId: user,
        deviceId,
        heartbeatMs: 25_000,
        maxBatchSize: 1000,
        serverVersion: "ws-baseline",
      }),
    );
    let subscribed = false;
    ws.on("message", (data) => {
      const m = JSON.parse(String(data)) as { type: string; lowerBound?: number | null };
      if (m.type !== "subscribe" || subscribed) return;
      subscribed = true;
      let feed = feeds.get(user);
      if (feed === undefined) {
        const sockets = new Set<WebSocket>();
        const sub = bus.subscribe(subjectOf(user), (msg) => {
          const frame = toFrame(decode(msg.data));
          for (const s of sockets) s.send(frame);
        });
        feed = { sub, sockets };
        feeds.set(user, feed);
      }
      const f = feed;
      const lowerBound = m.lowerBound ?? null;
      void bus.flush().then(async () => {
        if (lowerBound === null) {
          const last = await bus.streams
            .lastBySubject(names.feedsStream, subjectOf(user))
            .catch(() => null);
          const upper = last === null ? Date.now() * 1000 : decode(last.data).summary.upperBound;
          ws.send(
            JSON.stringify({
              type: "changes",
              lowerBound: 0,
              summary: {
                fileSystemChanges: [],
                syncDate: 0,
                upperBound: upper,
                hasTooManyChanges: false,
                activeSynchronizationRootDefinitions: "",
              },
            }),
          );
        } else {
          const stored = await bus.streams.read(names.feedsStream, subjectOf(user), 1);
          for (const s of stored) {
            const e = decode(s.data);
            if (e.summary.upperBound > lowerBound) ws.send(toFrame(e));
          }
        }
        f.sockets.add(ws);
      });
    });
    ws.on("close", () => {
      const f = feeds.get(user);
      if (f === undefined) return;
      f.sockets.delete(ws);
      if (f.sockets.size === 0) {
        f.sub.unsubscribe();
        feeds.delete(user);
      }
    });
  });
  const address = wss.address();
  return {
    port: typeof address === "object" && address !== null ? address.port : 0,
    async stop() {
      for (const c of wss.clients) c.terminate();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
      await bus.close();
    },
  };
}

interface RawUws {
  App(): {
    ws(pattern: string, behavior: Record<string, unknown>): unknown;
    listen(host: string, port: number, cb: (socket: unknown) => void): unknown;
  };
  us_socket_local_port(socket: unknown): number;
  us_listen_socket_close(socket: unknown): void;
  DISABLED: number;
}

async function startRaw(): Promise<{ port: number; stop(): Promise<void> }> {
  // uWebSockets.js is the gateway's dependency, resolved from there.
  const require = createRequire(join(process.cwd(), "packages", "gateway", "package.json"));
  const uWS = require("uWebSockets.js") as RawUws;
  const app = uWS.App();
  app.ws("/*", { compression: uWS.DISABLED, idleTimeout: 0, maxBackpressure: 0 });
  const socket = await new Promise<unknown>((resolve) => app.listen("127.0.0.1", 0, resolve));
  return {
    port: uWS.us_socket_local_port(socket),
    async stop() {
      uWS.us_listen_socket_close(socket);
    },
  };
}

const server =
  mode === "gateway"
    ? await startReal()
    : mode === "ws"
      ? await startWsBaseline()
      : await startRaw();
const gc = (globalThis as { gc?: () => void }).gc;

/**
 * Memory once it has settled: a full GC every second until the RSS stops falling (V8 gives back
 * the pages a burst of connections grew its heap by only a few seconds after the burst; measured
 * right after it, the RSS counts that transient garbage as if sockets held it).
 */
async function settledMemory(): Promise<NodeJS.MemoryUsage> {
  let best = Infinity;
  let flat = 0;
  let mem = process.memoryUsage();
  for (let i = 0; i < 30 && flat < 3; i++) {
    gc?.();
    gc?.();
    mem = process.memoryUsage();
    if (mem.rss < best * 0.995) {
      best = mem.rss;
      flat = 0;
    } else {
      flat++;
    }
    await new Promise((r) => setTimeout(r, 1000));
  }
  return mem;
}

process.on("message", (m: { cmd: string }) => {
  if (m.cmd === "measure") {
    void settledMemory().then((mem) =>
      send({
        type: "measure",
        rss: mem.rss,
        heap: mem.heapUsed,
        heapTotal: mem.heapTotal,
        external: mem.external,
        fds: fds(),
      }),
    );
  } else if (m.cmd === "snapshot") {
    // Diagnosis only (not used by the benchmark): a heap snapshot to see what a socket costs.
    gc?.();
    send({ type: "snapshot", file: writeHeapSnapshot() });
  } else if (m.cmd === "stop") {
    void server.stop().finally(() => process.exit(0));
  }
});
send({ type: "ready", port: server.port, fds: fds() });
