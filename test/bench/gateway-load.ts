// Load generator of the gateway benchmark, one per child process (forked by gateway.bench.ts).
// A minimal WebSocket client on raw TCP sockets — handshake, unmasked server frames parsed by
// their headers only, pongs — so that thousands of devices cost the generator little and the
// figures measure the server. Each device: upgrade (token = user id), wait for `welcome`, send
// `subscribe`, wait for the first `changes`.
//
// IPC commands (answers in brackets):
//   {cmd:"open", port, host, localAddress, prefix, from, to, lowerBound}  [{type:"opened", …}]
//   {cmd:"count"}   report {type:"count", frames, tooMany, first, last} every 20 ms from now
//   {cmd:"replay", port, host, user, lowerBound, expect}  [{type:"replay", ms, frames, lastUpper}]
//   {cmd:"close"}   [{type:"closed"}]
import { randomBytes } from "node:crypto";
import { connect, type Socket } from "node:net";
import { performance } from "node:perf_hooks";

interface OpenCommand {
  cmd: "open";
  port: number;
  host: string;
  localAddress: string;
  prefix: string;
  from: number;
  to: number;
  lowerBound: number | null;
  /** Bare WebSocket servers: the device counts as open once upgraded (no welcome, no subscribe). */
  upgradeOnly?: boolean;
}

interface ReplayCommand {
  cmd: "replay";
  port: number;
  host: string;
  user: string;
  lowerBound: number;
  expect: number;
}

type Command = OpenCommand | ReplayCommand | { cmd: "count" } | { cmd: "close" };

const OPEN_CONCURRENCY = 64;
const DEVICE_TIMEOUT_MS = 60_000;
const TOO_MANY = Buffer.from('"hasTooManyChanges":true');

/** Wall-clock time with sub-millisecond resolution, comparable across processes. */
function wallNow(): number {
  return performance.timeOrigin + performance.now();
}

/** A client frame: FIN, opcode, masked with a zero key (valid, and the payload stays as is). */
function clientFrame(opcode: number, payload: Buffer): Buffer {
  const len = payload.length;
  const head = len < 126 ? 6 : 8;
  const out = Buffer.alloc(head + len);
  out[0] = 0x80 | opcode;
  if (len < 126) {
    out[1] = 0x80 | len;
  } else {
    out[1] = 0x80 | 126;
    out.writeUInt16BE(len, 2);
  }
  payload.copy(out, head);
  return out;
}

const stats = { frames: 0, tooMany: 0, first: 0, last: 0 };
let counting = false;
const sockets = new Set<Socket>();

interface DeviceOptions {
  host: string;
  port: number;
  localAddress?: string;
  user: string;
  deviceId: string;
  lowerBound: number | null;
  upgradeOnly?: boolean;
  /** Called for each `changes` frame after the first answer to subscribe. */
  onChanges?: (payload: Buffer) => void;
}

/**
 * Opens one device; resolves with the time `subscribe` was sent once the first `changes` frame
 * arrived (the device is then subscribed), rejects when the server refuses or closes.
 */
function openDevice(o: DeviceOptions, firstChanges?: (payload: Buffer) => void): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = connect({
      host: o.host,
      port: o.port,
      localAddress: o.localAddress,
      noDelay: true,
    });
    sockets.add(socket);
    let handshake = true;
    let stage = 0; // 0: welcome awaited, 1: first changes awaited, 2: subscribed
    let subscribedAt = 0;
    let pending: Buffer | null = null;
    const fail = (why: string): void => {
      clearTimeout(deadline);
      socket.destroy();
      reject(new Error(why));
    };
    // A device the server neither refuses nor answers must not stall the whole run.
    const deadline = setTimeout(() => {
      if (stage < 2) fail(`no answer within ${DEVICE_TIMEOUT_MS} ms (stage ${stage})`);
    }, DEVICE_TIMEOUT_MS);
    socket.on("error", (err) => fail(err.message));
    socket.on("close", () => {
      sockets.delete(socket);
      if (stage < 2) reject(new Error("closed before subscribed"));
    });
    socket.on("connect", () => {
      socket.write(
        `GET /drive/v1/ws HTTP/1.1\r\nHost: ${o.host}:${o.port}\r\nUpgrade: websocket\r\n` +
          `Connection: Upgrade\r\nSec-WebSocket-Key: ${randomBytes(16).toString("base64")}\r\n` +
          `Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: drivecast.v1.json\r\n` +
          `X-Authentication-Token: ${o.user}\r\nX-Device-Id: ${o.deviceId}\r\n\r\n`,
      );
    });
    const onFrame = (opcode: number, payload: Buffer): void => {
      if (opcode === 0x9) {
        socket.write(clientFrame(0xa, payload));
        return;
      }
      if (opcode === 0x8) {
        socket.destroy();
        return;
      }
      if (opcode !== 0x1) return;
      if (stage === 2) {
        o.onChanges?.(payload);
      } else if (stage === 0) {
        stage = 1;
        subscribedAt = wallNow();
        socket.write(
          clientFrame(
            0x1,
            Buffer.from(JSON.stringify({ type: "subscribe", lowerBound: o.lowerBound })),
          ),
        );
      } else {
        stage = 2;
        clearTimeout(deadline);
        firstChanges?.(payload);
        resolve(subscribedAt);
      }
    };
    socket.on("data", (chunk: Buffer) => {
      let buf = pending === null ? chunk : Buffer.concat([pending, chunk]);
      pending = null;
      if (handshake) {
        const end = buf.indexOf("\r\n\r\n");
        if (end < 0) {
          pending = buf;
          return;
        }
        const head = buf.subarray(0, end).toString("latin1");
        if (!head.startsWith("HTTP/1.1 101")) {
          fail(`upgrade refused: ${head.split("\r\n")[0] ?? ""}`);
          return;
        }
        handshake = false;
        buf = buf.subarray(end + 4);
        if (o.upgradeOnly === true) {
          stage = 2;
          clearTimeout(deadline);
          resolve(wallNow());
        }
      }
      let off = 0;
      while (buf.length - off >= 2) {
        const b0 = buf[off] as number;
        let len = (buf[off + 1] as number) & 0x7f;
        let start = off + 2;
        if (len === 126) {
          if (buf.length - off < 4) break;
          len = buf.readUInt16BE(off + 2);
          start = off + 4;
        } else if (len === 127) {
          if (buf.length - off < 10) break;
          len = Number(buf.readBigUInt64BE(off + 2));
          start = off + 10;
        }
        if (buf.length < start + len) break;
        onFrame(b0 & 0x0f, buf.subarray(start, start + len));
        off = start + len;
      }
      if (off < buf.length) pending = buf.subarray(off);
    });
  });
}

function countChanges(payload: Buffer): void {
  if (!counting) return;
  const t = wallNow();
  if (stats.frames === 0) stats.first = t;
  stats.last = t;
  stats.frames++;
  if (payload.includes(TOO_MANY)) stats.tooMany++;
}

async function open(c: OpenCommand): Promise<void> {
  const started = Date.now();
  let next = c.from;
  let opened = 0;
  let failed = 0;
  let firstError: string | null = null;
  const worker = async (): Promise<void> => {
    while (next < c.to) {
      const i = next++;
      try {
        await openDevice({
          host: c.host,
          port: c.port,
          localAddress: c.localAddress,
          user: `${c.prefix}${i}`,
          deviceId: `d${i}`,
          lowerBound: c.lowerBound,
          upgradeOnly: c.upgradeOnly,
          onChanges: countChanges,
        });
        opened++;
      } catch (err) {
        failed++;
        firstError ??= (err as Error).message;
      }
    }
  };
  await Promise.all(Array.from({ length: OPEN_CONCURRENCY }, worker));
  process.send?.({ type: "opened", opened, failed, firstError, ms: Date.now() - started });
}

async function replay(c: ReplayCommand): Promise<void> {
  let frames = 0;
  let lastUpper = 0;
  let done: (t: number) => void = () => undefined;
  const finished = new Promise<number>((resolve) => (done = resolve));
  const onFrame = (payload: Buffer): void => {
    frames++;
    if (frames === c.expect) {
      const t = wallNow();
      lastUpper = (JSON.parse(payload.toString("utf8")) as { summary: { upperBound: number } })
        .summary.upperBound;
      done(t);
    }
  };
  const connectStart = wallNow();
  const subscribedAt = await openDevice(
    {
      host: c.host,
      port: c.port,
      user: c.user,
      deviceId: "replay",
      lowerBound: c.lowerBound,
      onChanges: onFrame,
    },
    onFrame,
  );
  const end = await finished;
  process.send?.({
    type: "replay",
    ms: end - subscribedAt,
    fromConnectMs: end - connectStart,
    frames,
    lastUpper,
  });
}

let reporter: NodeJS.Timeout | null = null;

process.on("message", (c: Command) => {
  switch (c.cmd) {
    case "open":
      void open(c);
      return;
    case "count":
      stats.frames = 0;
      stats.tooMany = 0;
      counting = true;
      reporter ??= setInterval(() => process.send?.({ type: "count", ...stats }), 20);
      return;
    case "replay":
      void replay(c).catch((err: unknown) =>
        process.send?.({ type: "replay", error: (err as Error).message }),
      );
      return;
    case "close":
      counting = false;
      if (reporter !== null) clearInterval(reporter);
      reporter = null;
      for (const s of sockets) s.destroy();
      sockets.clear();
      process.send?.({ type: "closed" });
      return;
  }
});
process.send?.({ type: "started" });
