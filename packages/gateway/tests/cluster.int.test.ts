// Scenarios that need a real NATS server and several gateway processes' worth of connections:
// resume across a gateway restart, two gateways serving one user, a bus reconnect with sets
// published meanwhile, a slow device next to a fast one, and operator revocations.
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { Socket } from "node:net";
import { startNatsServer } from "@drivecast/testkit";
import type { NatsServerHandle } from "@drivecast/testkit";
import { msgpackCodec, shardOf } from "@drivecast/protocol";
import type { ChangesMessage, DeviceRecord, FeedEntry } from "@drivecast/protocol";
import {
  SHARDS,
  TcpProxy,
  connectDevice,
  eventually,
  metricValue,
  refusedUpgrade,
  startHarness,
} from "./harness.js";
import type { Endpoint, Harness, TestClient } from "./harness.js";

let nats: NatsServerHandle;
beforeAll(async () => {
  nats = await startNatsServer({ http: true });
});
afterAll(async () => {
  await nats?.stop();
});

const open: Harness[] = [];
const clients: TestClient[] = [];
const proxies: TcpProxy[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  for (const h of open.splice(0)) await h.close();
  for (const p of proxies.splice(0)) await p.close();
});

async function harness(overrides: Parameters<typeof startHarness>[2] = {}): Promise<Harness> {
  const h = await startHarness("nats", nats.url, overrides);
  open.push(h);
  return h;
}

async function device(
  at: Endpoint,
  token: string,
  deviceId?: string,
  options: { protocol?: string } = {},
): Promise<TestClient> {
  const c = await connectDevice(at, token, deviceId, options);
  clients.push(c);
  return c;
}

function bounds(m: ChangesMessage): [number, number] {
  return [m.lowerBound, m.summary.upperBound];
}

function chain(...entries: FeedEntry[]): [number, number][] {
  const out: [number, number][] = [];
  for (let i = 1; i < entries.length; i++) {
    out.push([
      (entries[i - 1] as FeedEntry).summary.upperBound,
      (entries[i] as FeedEntry).summary.upperBound,
    ]);
  }
  return out;
}

async function changes(c: TestClient, n: number): Promise<[number, number][]> {
  const got: [number, number][] = [];
  for (let i = 0; i < n; i++) got.push(bounds(await c.expect("changes", 20_000)));
  return got;
}

/** Nothing else queued: a ping's pong comes next (so no duplicate was sent before it). */
async function nothingElse(c: TestClient): Promise<void> {
  c.send({ type: "ping", t: "end" });
  expect(await c.next("the pong")).toEqual({ type: "pong", t: "end" });
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

describe("gateway cluster on NATS", () => {
  it("restart - a device resumes on a new gateway instance from its cursor: no gap, no duplicate", async () => {
    const h = await harness({ drainWindowMs: 0 });
    const { user, token } = h.user();
    const feed = h.feed(user);
    const e1 = await feed.append();
    const first = await h.spawnGateway();
    const before = await device(first, token, "laptop");
    before.send({ type: "subscribe", lowerBound: e1.summary.upperBound });
    const e2 = await feed.append();
    const seen = await changes(before, 1);
    expect(seen).toEqual(chain(e1, e2));
    // The client keeps the last upperBound it received, as Drive keeps its upperBound.
    const cursor = (seen.at(-1) as [number, number])[1];

    // The instance goes away (drain: 1001), then its process ends.
    await first.gateway.drain();
    expect((await before.waitClosed()).code).toBe(1001);
    await first.close();
    const e3 = await feed.append();
    const e4 = await feed.append();

    const second = await h.spawnGateway();
    const after = await device(second, token, "laptop");
    after.send({ type: "subscribe", lowerBound: cursor });
    const e5Appending = feed.append(); // while the new instance replays
    const got = await changes(after, 3);
    const e5 = await e5Appending;
    expect(got).toEqual(chain(e2, e3, e4, e5));
    const e6 = await feed.append();
    expect(await changes(after, 1)).toEqual(chain(e5, e6));
    await nothingElse(after);
  });

  it("two gateways - devices of one user on two instances both receive every set, once each", async () => {
    const h = await harness();
    const other = await h.spawnGateway();
    const { user, token } = h.user();
    const feed = h.feed(user);
    const e1 = await feed.append();
    const laptop = await device(h, token, "laptop");
    const phone = await device(other, token, "phone", { protocol: "drivecast.v1.msgpack" });
    laptop.send({ type: "subscribe", lowerBound: e1.summary.upperBound });
    phone.send({ type: "subscribe", lowerBound: e1.summary.upperBound });
    const e2 = await feed.append();
    expect(await changes(laptop, 1)).toEqual(chain(e1, e2));
    expect(await changes(phone, 1)).toEqual(chain(e1, e2));
    const e3 = await feed.append();
    const e4 = await feed.append();
    expect(await changes(laptop, 2)).toEqual(chain(e2, e3, e4));
    expect(await changes(phone, 2)).toEqual(chain(e2, e3, e4));
    await nothingElse(laptop);
    await nothingElse(phone);
    // One subscription per process on the user's subject: two processes, two subscriptions.
    expect(await natsSubscriptionsOn(h.names.feed(shardOf(user, SHARDS), user))).toBe(2);
    // Each instance records its own device's ack in the shared registry.
    laptop.send({ type: "ack", upperBound: e4.summary.upperBound });
    phone.send({ type: "ack", upperBound: e3.summary.upperBound });
    const kv = await h.bus.kv({ bucket: h.names.devicesBucket });
    const codec = msgpackCodec<DeviceRecord>();
    const acked = async (deviceId: string): Promise<number | null> => {
      const e = await kv.get(h.names.deviceKey(user, deviceId));
      return e === null ? null : codec.decode(e.value).lastAckedPosition;
    };
    await eventually("both acks in the device registry", async () =>
      (await acked("laptop")) === e4.summary.upperBound &&
      (await acked("phone")) === e3.summary.upperBound
        ? true
        : undefined,
    );
  });

  it("reconnect - sets published while the gateway's NATS connection was down are delivered after it comes back", async () => {
    const h = await harness();
    const proxy = await TcpProxy.start(nats.port);
    proxies.push(proxy);
    // This instance reaches NATS through the proxy; the feed writer (h.bus) does not.
    const gw = await h.spawnGateway({}, proxy.url);
    const { user, token } = h.user();
    const feed = h.feed(user);
    const e1 = await feed.append();
    const c = await device(gw, token);
    c.send({ type: "subscribe", lowerBound: e1.summary.upperBound });
    const e2 = await feed.append();
    expect(await changes(c, 1)).toEqual(chain(e1, e2));

    // One set missed: the newest stored set continues the cursor, it is sent as is.
    proxy.cut();
    await eventually("the gateway to see its bus disconnected", () =>
      gw.gateway.ready() ? undefined : true,
    );
    const e3 = await feed.append();
    proxy.heal();
    expect(await changes(c, 1)).toEqual(chain(e2, e3));

    // Several missed: the newest does not continue the cursor, so the stream is re-read.
    proxy.cut();
    await eventually("the gateway to see its bus disconnected again", () =>
      gw.gateway.ready() ? undefined : true,
    );
    const e4 = await feed.append();
    const e5 = await feed.append();
    const e6 = await feed.append();
    proxy.heal();
    expect(await changes(c, 3)).toEqual(chain(e3, e4, e5, e6));

    await eventually("the gateway ready again", () => (gw.gateway.ready() ? true : undefined));
    const e7 = await feed.append();
    expect(await changes(c, 1)).toEqual(chain(e6, e7));
    await nothingElse(c);
    expect(
      await metricValue(gw.registry, "drivecast_gateway_reconnect_resyncs_total"),
    ).toBeGreaterThanOrEqual(2);
  });

  it("4008 - a slow device is closed while a fast device of the same user keeps receiving", async () => {
    const h = await harness({ maxBufferedBytes: 128 * 1024 });
    const { user, token } = h.user();
    const feed = h.feed(user);
    const e0 = await feed.append();
    const fast = await device(h, token, "fast");
    const slow = await device(h, token, "slow");
    fast.send({ type: "subscribe", lowerBound: e0.summary.upperBound });
    slow.send({ type: "subscribe", lowerBound: e0.summary.upperBound });
    const e1 = await feed.append();
    expect(await changes(fast, 1)).toEqual(chain(e0, e1));
    expect(await changes(slow, 1)).toEqual(chain(e0, e1));

    // The slow device stops reading; live sets of ~30 kB pile up in the kernel, then in the
    // gateway's buffer for that socket, until it passes the limit.
    const socket = (slow.ws as unknown as { _socket: Socket })._socket;
    socket.pause();
    const appended = [e1];
    for (let i = 0; i < 2000; i++) {
      appended.push(await feed.append([`d${i}`], 30_000));
      if (
        i % 10 === 9 &&
        (await metricValue(h.registry, "drivecast_gateway_backpressure_drops_total")) >= 1
      ) {
        break;
      }
    }
    expect(await metricValue(h.registry, "drivecast_gateway_backpressure_drops_total")).toBe(1);
    socket.resume();
    expect((await slow.waitClosed(30_000)).code).toBe(4008);

    // The fast one got everything, in order, and is still live.
    expect(await changes(fast, appended.length - 1)).toEqual(chain(...appended));
    const last = await feed.append();
    expect(await changes(fast, 1)).toEqual(chain(appended.at(-1) as FeedEntry, last));
    await nothingElse(fast);
    // What reached the slow device before the close is contiguous: it resumes from there.
    const slowGot = slow.pending().filter((m): m is ChangesMessage => m.type === "changes");
    let cursor = e1.summary.upperBound;
    for (const m of slowGot) {
      expect(m.lowerBound).toBe(cursor);
      cursor = m.summary.upperBound;
    }
    const resumed = await device(h, token, "slow");
    resumed.send({ type: "subscribe", lowerBound: cursor });
    const missed = appended.length - 1 - slowGot.length + 1; // + `last`
    const got = await changes(resumed, missed);
    expect(got[0]?.[0]).toBe(cursor);
    expect(got.at(-1)?.[1]).toBe(last.summary.upperBound);
  });

  it("4001 - a revocation on drive.auth.revoke closes the matching sockets on every gateway", async () => {
    const h = await harness();
    const other = await h.spawnGateway();
    const alice = h.user();
    const bob = h.user();
    const aliceLaptop = await device(h, alice.token, "laptop");
    const alicePhone = await device(other, alice.token, "phone");
    const bobDesk = await device(h, bob.token, "desk");
    aliceLaptop.send({ type: "subscribe", lowerBound: null });
    await aliceLaptop.expect("changes");
    // Not a revocation: ignored.
    h.bus.publish(h.names.authRevoke, new TextEncoder().encode("{not json"));
    h.bus.publish(
      h.names.authRevoke,
      new TextEncoder().encode(JSON.stringify({ user: alice.user })),
    );
    expect(await aliceLaptop.waitClosed()).toEqual({
      code: 4001,
      reason: "token revoked; re-authenticate",
    });
    expect((await alicePhone.waitClosed()).code).toBe(4001);
    await nothingElse(bobDesk);
    expect(await metricValue(h.registry, "drivecast_gateway_closes_total", { code: "4001" })).toBe(
      1,
    );
    expect(
      await metricValue(other.registry, "drivecast_gateway_closes_total", { code: "4001" }),
    ).toBe(1);

    // By token: only the sockets opened with it.
    const bobOther = h.user(bob.user);
    const bobPhone = await device(other, bobOther.token, "phone");
    h.bus.publish(
      h.names.authRevoke,
      new TextEncoder().encode(JSON.stringify({ token: bob.token })),
    );
    expect((await bobDesk.waitClosed()).code).toBe(4001);
    await nothingElse(bobPhone);
    // Revoked in Nuxeo too (the stub forgets it): the reconnect is refused before the upgrade.
    h.tokens.delete(bob.token);
    expect((await refusedUpgrade(h.wsUrl({ token: bob.token, deviceId: "desk" }))).status).toBe(
      401,
    );
  });
});
