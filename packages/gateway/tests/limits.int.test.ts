// Close codes, heartbeats, lifetime, drain and token re-checks, on the memory bus and on NATS.
// (The slow reader next to a fast one, and revocations pushed to every gateway: cluster.int.test.)
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { Socket } from "node:net";
import { startNatsServer } from "@drivecast/testkit";
import type { NatsServerHandle } from "@drivecast/testkit";
import { shardOf } from "@drivecast/protocol";
import {
  SHARDS,
  connectDevice,
  eventually,
  metricValue,
  startHarness,
  TestClient,
} from "./harness.js";
import type { BusKind, Harness } from "./harness.js";

let nats: NatsServerHandle;
beforeAll(async () => {
  nats = await startNatsServer();
});
afterAll(async () => {
  await nats?.stop();
});

const open: Harness[] = [];
const clients: TestClient[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  for (const h of open.splice(0)) await h.close();
});

async function harness(
  kind: BusKind,
  overrides: Parameters<typeof startHarness>[2] = {},
): Promise<Harness> {
  const h = await startHarness(kind, nats.url, overrides);
  open.push(h);
  return h;
}

async function device(
  h: Harness,
  token: string,
  options: { autoPong?: boolean } = {},
): Promise<TestClient> {
  const c = await connectDevice(h, token, undefined, options);
  clients.push(c);
  return c;
}

/** Nothing is queued for the client: a ping's pong comes next. */
async function nothingQueued(c: TestClient): Promise<void> {
  c.send({ type: "ping", t: "probe" });
  expect(await c.next("the pong")).toEqual({ type: "pong", t: "probe" });
}

describe.each<BusKind>(["memory", "nats"])("close codes on the %s bus", (kind) => {
  it("4000 - a malformed frame closes with a reason", async () => {
    const h = await harness(kind);
    const c = await device(h, h.user().token);
    c.ws.send("{not json");
    expect(await c.waitClosed()).toEqual({
      code: 4000,
      reason: "a text frame must hold one JSON object",
    });
  });

  it("4000 - an unknown type or a missing field", async () => {
    const h = await harness(kind);
    const { token } = h.user();
    const a = await device(h, token);
    a.send({ type: "hello" });
    expect((await a.waitClosed()).code).toBe(4000);
    const b = await device(h, token);
    b.send({ type: "subscribe" });
    expect(await b.waitClosed()).toMatchObject({
      code: 4000,
      reason: expect.stringContaining("lowerBound"),
    });
  });

  it("4000 - a frame over maxMessageBytes names the limit", async () => {
    const h = await harness(kind, { maxMessageBytes: 1024 });
    const c = await device(h, h.user().token);
    c.send({ type: "ping", t: "x".repeat(1500) });
    expect(await c.waitClosed()).toMatchObject({
      code: 4000,
      reason: expect.stringContaining("limit of 1024"),
    });
  });

  it("4029 - too many messages", async () => {
    const h = await harness(kind, { rateLimit: { perSecond: 0.001, burst: 3 } });
    const c = await device(h, h.user().token);
    for (let i = 0; i < 5; i++) c.send({ type: "ping", t: i });
    expect((await c.waitClosed()).code).toBe(4029);
    expect(c.pending().filter((m) => m.type === "pong")).toHaveLength(3);
  });

  it("4009 - more sockets than maxConnectionsPerUser", async () => {
    const h = await harness(kind, { maxConnectionsPerUser: 2 });
    const { token } = h.user();
    await device(h, token);
    await device(h, token);
    const third = await TestClient.connect(h.wsUrl({ token, deviceId: "third" }));
    clients.push(third);
    expect((await third.waitClosed()).code).toBe(4009);
    // Another user is not affected.
    await device(h, h.user().token);
    expect(await metricValue(h.registry, "drivecast_gateway_closes_total", { code: "4009" })).toBe(
      1,
    );
  });

  it("1001 - max lifetime closes the socket so the client reconnects", async () => {
    const h = await harness(kind, { maxLifetimeMs: 300, lifetimeJitterMs: 0 });
    const c = await device(h, h.user().token);
    expect(await c.waitClosed()).toEqual({
      code: 1001,
      reason: "maximum connection lifetime reached",
    });
  });

  it("heartbeat - pings arrive within heartbeatMs, a silent peer is closed after twice that", async () => {
    const h = await harness(kind, { heartbeatMs: 200 });
    const { token } = h.user();
    const alive = await device(h, token);
    await new Promise<void>((resolve) => alive.ws.once("ping", () => resolve()));
    const silent = await device(h, token, { autoPong: false });
    expect(await silent.waitClosed()).toEqual({
      code: 1001,
      reason: "heartbeat timeout: nothing received",
    });
    // The answering one is still open.
    alive.send({ type: "ping", t: "still" });
    expect(await alive.expect("pong")).toEqual({ type: "pong", t: "still" });
  });

  it("1000 - a client's normal close is answered 1000 and counted", async () => {
    const h = await harness(kind);
    const c = await device(h, h.user().token);
    c.ws.close(1000, "bye");
    expect((await c.waitClosed()).code).toBe(1000);
    await eventually("the close counted", async () =>
      (await metricValue(h.registry, "drivecast_gateway_closes_total", { code: "1000" })) === 1
        ? true
        : undefined,
    );
  });

  it("4001 - an idle socket costs no token check; past the TTL its next request re-checks, revoked → 4001", async () => {
    // Heartbeats far apart: the clock jumps past the TTL without the sockets timing out.
    const h = await harness(kind, { authCacheTtlMs: 60_000, heartbeatMs: 600_000 });
    const alice = h.user();
    const bob = h.user();
    const a = await device(h, alice.token);
    const b = await device(h, bob.token);
    a.send({ type: "subscribe", lowerBound: null });
    await a.expect("changes");
    const calls = h.authCalls();
    expect(calls).toBe(2); // one per upgrade
    // Within the TTL: requests are not checked again.
    a.send({ type: "ack", upperBound: 1 });
    await nothingQueued(a);
    expect(h.authCalls()).toBe(calls);
    // Past the TTL, idle: still nothing asked (pings are not requests).
    h.advanceClock(61_000);
    await nothingQueued(a);
    await nothingQueued(b);
    expect(h.authCalls()).toBe(calls);
    // Alice's token is revoked in Nuxeo: her next request is checked and the socket closed.
    h.tokens.delete(alice.token);
    a.send({ type: "ack", upperBound: 2 });
    expect(await a.waitClosed()).toEqual({
      code: 4001,
      reason: "token expired or revoked; re-authenticate",
    });
    // Bob's is still good: checked once, then good for another TTL.
    b.send({ type: "ack", upperBound: 3 });
    b.send({ type: "ack", upperBound: 4 });
    await nothingQueued(b);
    expect(h.authCalls()).toBe(calls + 2);
    expect(
      await metricValue(h.registry, "drivecast_gateway_token_rechecks_total", {
        outcome: "revoked",
      }),
    ).toBe(1);
    expect(
      await metricValue(h.registry, "drivecast_gateway_token_rechecks_total", { outcome: "ok" }),
    ).toBe(1);
  });

  it("4001 - a scroll with a revoked token is not forwarded", async () => {
    const h = await harness(kind, { authCacheTtlMs: 1_000, rpcTimeoutMs: 500 });
    const { user, token } = h.user();
    let forwarded = 0;
    const sub = h.bus.serve(h.names.rpcSubject(shardOf(user, SHARDS)), "changeset", () => {
      forwarded++;
      throw new Error("not expected");
    });
    try {
      const c = await device(h, token);
      h.advanceClock(2_000);
      h.tokens.delete(token);
      c.send({ type: "scroll", requestId: "r", id: "root", scrollId: null, batchSize: 10 });
      expect((await c.waitClosed()).code).toBe(4001);
      expect(c.pending()).toEqual([]);
      expect(forwarded).toBe(0);
    } finally {
      sub.unsubscribe();
    }
  });

  it("drain - sockets are closed with 1001, readiness drops, new connections are refused", async () => {
    const h = await harness(kind, { drainWindowMs: 200 });
    const { token } = h.user();
    const a = await device(h, token);
    const b = await device(h, h.user().token);
    expect(h.gateway.ready()).toBe(true);
    const drained = h.gateway.drain();
    expect(h.gateway.ready()).toBe(false);
    expect((await a.waitClosed()).code).toBe(1001);
    expect((await b.waitClosed()).code).toBe(1001);
    await drained;
    await expect(TestClient.connect(h.wsUrl({ token, deviceId: "late" }))).rejects.toThrow();
  });
});

describe.each<BusKind>(["memory", "nats"])("slow consumer on the %s bus", (kind) => {
  it("4008 - a socket that does not read is closed once its buffer passes the limit", async () => {
    const h = await harness(kind, { maxBufferedBytes: 128 * 1024 });
    const { user, token } = h.user();
    const feed = h.feed(user);
    const first = await feed.append();
    // About 12 MB of history: more than the kernel's socket buffers on loopback.
    for (let i = 0; i < 400; i++) await feed.append([`d${i}`], 30_000);
    const c = await device(h, token);
    const socket = (c.ws as unknown as { _socket: Socket })._socket;
    socket.pause();
    c.send({ type: "subscribe", lowerBound: first.summary.upperBound });
    await eventually("a backpressure drop", async () =>
      (await metricValue(h.registry, "drivecast_gateway_backpressure_drops_total")) >= 1
        ? true
        : undefined,
    );
    socket.resume();
    expect((await c.waitClosed(30_000)).code).toBe(4008);
    expect(await metricValue(h.registry, "drivecast_gateway_closes_total", { code: "4008" })).toBe(
      1,
    );
    // What did arrive before the close is contiguous (no silent drop).
    const got = c.pending().filter((m) => m.type === "changes");
    expect(got.length).toBeLessThan(400);
    let cursor = first.summary.upperBound;
    for (const m of got) {
      expect(m.lowerBound).toBe(cursor);
      cursor = m.summary.upperBound;
    }
  });
});
