import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { startNatsServer } from "@drivecast/testkit";
import type { NatsServerHandle } from "@drivecast/testkit";
import { msgpackCodec, positionAt, shardOf } from "@drivecast/protocol";
import type { ChangesMessage, DeviceRecord, ServerMessage } from "@drivecast/protocol";
import {
  SHARDS,
  connectDevice,
  eventually,
  metricValue,
  refusedUpgrade,
  startHarness,
  TestClient,
} from "./harness.js";
import type { BusKind, Harness } from "./harness.js";

let nats: NatsServerHandle;
beforeAll(async () => {
  nats = await startNatsServer({ http: true });
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

function track(c: TestClient): TestClient {
  clients.push(c);
  return c;
}

/** Subscriptions on exactly `subject`, over every client connection (NATS monitoring). */
async function natsSubscriptionsOn(subject: string): Promise<number> {
  const res = await fetch(`${nats.httpUrl as string}/connz?subs=1`);
  const body = (await res.json()) as { connections?: { subscriptions_list?: string[] }[] };
  let n = 0;
  for (const c of body.connections ?? []) {
    for (const s of c.subscriptions_list ?? []) if (s === subject) n++;
  }
  return n;
}

function bounds(m: ServerMessage): [number, number] {
  const c = m as ChangesMessage;
  return [c.lowerBound, c.summary.upperBound];
}

describe.each<BusKind>(["memory", "nats"])("gateway on the %s bus", (kind) => {
  it("live - a change set appended to the feed reaches the subscribed device", async () => {
    const h = await harness(kind);
    const { user, token } = h.user();
    const first = await h.feed(user).append();
    const c = track(await connectDevice(h, token));
    c.send({ type: "subscribe", lowerBound: null });
    const current = await c.expect("changes");
    expect(current.summary.upperBound).toBe(first.summary.upperBound);
    expect(current.summary.fileSystemChanges).toEqual([]);
    const second = await h.feed(user).append(["doc-live"]);
    const live = await c.expect("changes");
    expect(bounds(live)).toEqual([first.summary.upperBound, second.summary.upperBound]);
    expect(live.summary.fileSystemChanges.map((x) => x.docUuid)).toEqual(["doc-live"]);
  });

  it("resume - sets appended while disconnected arrive once each, in order, then live ones", async () => {
    const h = await harness(kind);
    const { user, token } = h.user();
    const feed = h.feed(user);
    const e1 = await feed.append();
    const a = track(await connectDevice(h, token, "laptop"));
    a.send({ type: "subscribe", lowerBound: e1.summary.upperBound });
    const e2 = await feed.append();
    expect(bounds(await a.expect("changes"))).toEqual([
      e1.summary.upperBound,
      e2.summary.upperBound,
    ]);
    a.close();
    await a.waitClosed();
    const e3 = await feed.append();
    const e4 = await feed.append();
    const b = track(await connectDevice(h, token, "laptop"));
    b.send({ type: "subscribe", lowerBound: e2.summary.upperBound });
    // Appended while the history is being read: must come once, after e4.
    const e5Promise = feed.append();
    const got = [await b.expect("changes"), await b.expect("changes"), await b.expect("changes")];
    const e5 = await e5Promise;
    expect(got.map(bounds)).toEqual([
      [e2.summary.upperBound, e3.summary.upperBound],
      [e3.summary.upperBound, e4.summary.upperBound],
      [e4.summary.upperBound, e5.summary.upperBound],
    ]);
    const e6 = await feed.append();
    expect(bounds(await b.expect("changes"))).toEqual([
      e5.summary.upperBound,
      e6.summary.upperBound,
    ]);
    // Nothing else queued: no duplicate.
    b.send({ type: "ping", t: "end" });
    expect(await b.expect("pong")).toEqual({ type: "pong", t: "end" });
  });

  it("stale - an expired cursor gets hasTooManyChanges and the current position, then live", async () => {
    const h = await harness(kind);
    const { user, token } = h.user();
    const e1 = await h.feed(user).append();
    const c = track(await connectDevice(h, token));
    const stale = positionAt(Date.now() - 3 * 24 * 60 * 60 * 1000);
    c.send({ type: "subscribe", lowerBound: stale });
    const first = await c.expect("changes");
    expect(first.summary.hasTooManyChanges).toBe(true);
    expect(first.summary.fileSystemChanges).toEqual([]);
    expect(first.summary.upperBound).toBe(e1.summary.upperBound);
    const e2 = await h.feed(user).append();
    expect(bounds(await c.expect("changes"))).toEqual([
      e1.summary.upperBound,
      e2.summary.upperBound,
    ]);
  });

  it("gap - a live set that does not follow the cursor is re-read from the stream, never skipped", async () => {
    const h = await harness(kind);
    const { user, token } = h.user();
    const feed = h.feed(user);
    const e1 = await feed.append();
    const c = track(await connectDevice(h, token));
    c.send({ type: "subscribe", lowerBound: e1.summary.upperBound });
    // Once this one arrives live, the device's merge is past its replay.
    const e2 = await feed.append();
    expect(bounds(await c.expect("changes"))).toEqual([
      e1.summary.upperBound,
      e2.summary.upperBound,
    ]);
    // A set seen live whose predecessor never reached this device, and that the stream never
    // stores either (a core publish): the gateway re-reads, cannot chain it, and says rescan.
    const orphan = {
      ...e2,
      lowerBound: e2.summary.upperBound + 1,
      summary: { ...e2.summary, upperBound: e2.summary.upperBound + 2 },
    };
    h.bus.publish(feed.subject, msgpackCodec<typeof e2>().encode(orphan));
    const m = await c.expect("changes");
    expect(m.lowerBound).toBe(e2.summary.upperBound);
    expect(m.summary).toMatchObject({
      hasTooManyChanges: true,
      fileSystemChanges: [],
      upperBound: orphan.summary.upperBound,
    });
    expect(await metricValue(h.registry, "drivecast_gateway_gap_repairs_total")).toBe(1);
  });

  it("null - subscribing from now answers the current position with no changes", async () => {
    const h = await harness(kind);
    const { user, token } = h.user();
    await h.feed(user).append();
    const e2 = await h.feed(user).append();
    const c = track(await connectDevice(h, token));
    c.send({ type: "subscribe", lowerBound: null });
    const m = await c.expect("changes");
    expect(m.summary).toMatchObject({
      upperBound: e2.summary.upperBound,
      hasTooManyChanges: false,
      fileSystemChanges: [],
    });
  });

  it("msgpack - the msgpack subprotocol carries the same messages in binary frames", async () => {
    const h = await harness(kind);
    const { user, token } = h.user();
    const e1 = await h.feed(user).append();
    const c = track(await connectDevice(h, token, "phone", { protocol: "drivecast.v1.msgpack" }));
    expect(c.ws.protocol).toBe("drivecast.v1.msgpack");
    c.send({ type: "subscribe", lowerBound: e1.summary.upperBound });
    const e2 = await h.feed(user).append(["doc-bin"]);
    const m = await c.expect("changes");
    expect(bounds(m)).toEqual([e1.summary.upperBound, e2.summary.upperBound]);
    c.send({ type: "ping", t: 7 });
    expect(await c.expect("pong")).toEqual({ type: "pong", t: 7 });
  });

  it("shared - two sockets of one user share one feed subscription and both receive", async () => {
    const h = await harness(kind);
    const { user, token } = h.user();
    const e1 = await h.feed(user).append();
    const a = track(await connectDevice(h, token, "a"));
    const b = track(await connectDevice(h, token, "b"));
    a.send({ type: "subscribe", lowerBound: e1.summary.upperBound });
    b.send({ type: "subscribe", lowerBound: e1.summary.upperBound });
    await eventually("both subscribed", async () =>
      (await metricValue(h.registry, "drivecast_gateway_users")) === 1 ? true : undefined,
    );
    // Ping round-trips make sure both subscriptions are set up before appending.
    a.send({ type: "ping", t: 1 });
    b.send({ type: "ping", t: 1 });
    await a.expect("pong");
    await b.expect("pong");
    const e2 = await h.feed(user).append();
    expect(bounds(await a.expect("changes"))).toEqual([
      e1.summary.upperBound,
      e2.summary.upperBound,
    ]);
    expect(bounds(await b.expect("changes"))).toEqual([
      e1.summary.upperBound,
      e2.summary.upperBound,
    ]);
    expect(await metricValue(h.registry, "drivecast_gateway_users")).toBe(1);
    if (kind === "nats") {
      // The server's own count: one subscription on the user's feed subject, for two sockets.
      const subject = h.names.feed(shardOf(user, SHARDS), user);
      expect(await natsSubscriptionsOn(subject)).toBe(1);
    }
    a.close();
    b.close();
    await eventually("the subscription released", async () =>
      (await metricValue(h.registry, "drivecast_gateway_users")) === 0 ? true : undefined,
    );
  });

  it("ack - the device registry records the acknowledged position and client version", async () => {
    const h = await harness(kind);
    const { user, token } = h.user();
    const c = track(
      await TestClient.connect(h.wsUrl({ token, deviceId: "desk" }), {
        headers: { "X-Client-Version": "5.2.1" },
      }),
    );
    await c.expect("welcome");
    c.send({ type: "ack", upperBound: 123456 });
    const kv = await h.bus.kv({ bucket: h.names.devicesBucket });
    const codec = msgpackCodec<DeviceRecord>();
    const record = await eventually("the ack in the device registry", async () => {
      const e = await kv.get(h.names.deviceKey(user, "desk"));
      const r = e === null ? undefined : codec.decode(e.value);
      return r?.lastAckedPosition === 123456 ? r : undefined;
    });
    expect(record).toMatchObject({ user, deviceId: "desk", clientVersion: "5.2.1" });
  });

  it("auth - an unknown token is answered 401 before any upgrade; query parameters work", async () => {
    const h = await harness(kind);
    const refused = await refusedUpgrade(h.wsUrl({ token: "nope", deviceId: "d" }));
    expect(refused).toEqual({
      status: 401,
      body: { code: "unauthorized", message: expect.any(String) },
    });
    const none = await refusedUpgrade(h.wsUrl({ deviceId: "d" }));
    expect(none.status).toBe(401);
    const { token } = h.user();
    const noDevice = await refusedUpgrade(h.wsUrl({ token }));
    expect(noDevice).toMatchObject({ status: 400, body: { code: "bad_request" } });
    const ok = track(await TestClient.connect(h.wsUrl({ token, deviceId: "d" })));
    const welcome = await ok.expect("welcome");
    expect(welcome).toMatchObject({
      deviceId: "d",
      heartbeatMs: h.config.heartbeatMs,
      maxBatchSize: h.config.maxBatchSize,
    });
  });
});
