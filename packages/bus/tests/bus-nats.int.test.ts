import { startNatsServer, type NatsServerHandle } from "@drivecast/testkit";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { BusError, connectNatsBus, retry, type Bus } from "../src/mod.js";
import { busContract, eventually, uniqueName } from "./contract.js";

let server: NatsServerHandle;

beforeAll(async () => {
  server = await startNatsServer();
});

afterAll(async () => {
  await server?.stop();
});

busContract("nats", async () => {
  const bus = await connectNatsBus({ servers: server.url, name: "contract" });
  const peers: Bus[] = [];
  return {
    bus,
    peer: async () => {
      const p = await connectNatsBus({ servers: server.url, name: "contract-peer" });
      peers.push(p);
      return p;
    },
    cleanup: async () => {
      for (const p of peers) await p.close();
      await bus.close();
    },
  };
});

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
const dec = (b: Uint8Array | null): string | null =>
  b === null ? null : new TextDecoder().decode(b);

describe("nats bus - server restarts", () => {
  let restarting: NatsServerHandle;
  let bus: Bus;

  beforeEach(async () => {
    restarting = await startNatsServer({ syncAlways: true });
    bus = await connectNatsBus({ servers: restarting.url, name: "restart", timeoutMs: 2_000 });
  });

  afterEach(async () => {
    await bus.close();
    await restarting.stop();
  });

  it("connection - isConnected goes false while the server is down, then true again", async () => {
    expect(bus.isConnected()).toBe(true);
    await restarting.kill();
    await eventually(() => !bus.isConnected(), "the bus to notice the server is gone");
    await restarting.restart();
    await eventually(() => bus.isConnected(), "the bus to reconnect", 20_000);
    await expect(bus.flush()).resolves.toBeUndefined();
  });

  it("onReconnect - listeners run after each reconnect, with core subscriptions active again", async () => {
    const core: string[] = [];
    bus.subscribe("core.r", (m) => core.push(dec(m.data)!));
    await bus.flush();
    let reconnects = 0;
    let removedCalls = 0;
    const removed = bus.onReconnect!(() => removedCalls++);
    removed.unsubscribe();
    const handle = bus.onReconnect!(() => {
      reconnects++;
      // What a subscriber does then: flush, and publishes from now on reach it.
      void bus.flush().then(() => bus.publish("core.r", enc(`after-${reconnects}`)));
    });
    await restarting.kill();
    await eventually(() => !bus.isConnected(), "the bus to notice the server is gone");
    await restarting.restart();
    await eventually(() => reconnects === 1, "the reconnect listener to run once", 20_000);
    await eventually(() => core.includes("after-1"), "the core subscription to receive again");
    expect(removedCalls).toBe(0);
    handle.unsubscribe();
    await restarting.restart();
    await eventually(() => bus.isConnected(), "the second reconnect", 20_000);
    await bus.flush();
    expect(reconnects).toBe(1);
  });

  it("append - during a restart it succeeds after the reconnect or fails retriable; nothing is lost", async () => {
    const stream = uniqueName("S");
    await bus.streams.ensure({ name: stream, subjects: ["r.>"] });
    await bus.streams.append("r.a", enc("before"), { msgId: "m0" });
    await restarting.kill();
    await eventually(() => !bus.isConnected(), "the bus to notice the server is gone");
    // Appended while the server is down: each either lands or says it may be retried.
    const outcomes = await Promise.all(
      [1, 2, 3].map((i) => {
        const p = bus.streams.append("r.a", enc(`during-${i}`), { msgId: `m${i}` }).then(
          () => "stored" as const,
          (err: unknown) => err,
        );
        return p;
      }),
    );
    await restarting.restart();
    for (const o of outcomes) {
      if (o !== "stored") {
        expect(o).toBeInstanceOf(BusError);
        expect((o as BusError).retriable).toBe(true);
      }
    }
    // The caller's retry (same msgIds) completes the set; duplicates are absorbed by the server.
    for (const i of [1, 2, 3]) {
      await retry(() => bus.streams.append("r.a", enc(`during-${i}`), { msgId: `m${i}` }), {
        retries: 50,
        baseMs: 100,
        maxMs: 1_000,
      });
    }
    const stored = await bus.streams.read(stream, "r.a", 1);
    expect(stored.map((m) => dec(m.data)).sort()).toEqual([
      "before",
      "during-1",
      "during-2",
      "during-3",
    ]);
  });

  it("append - one still waiting for its acknowledgement when the bus closes is rejected, retriable", async () => {
    const stream = uniqueName("S");
    await bus.streams.ensure({ name: stream, subjects: ["r.>"] });
    await restarting.kill();
    await eventually(() => !bus.isConnected(), "the bus to notice the server is gone");
    const pending = bus.streams.append("r.a", enc("x"), { msgId: "m1" }).then(
      () => "stored" as const,
      (err: unknown) => err,
    );
    await bus.close();
    const outcome = await pending;
    expect(outcome).toBeInstanceOf(BusError);
    expect((outcome as BusError).retriable).toBe(true);
    await restarting.restart();
  });

  it.each(["restart", "kill -9"])(
    "subscriptions, durable consumers and KV watches carry on after a %s",
    async (how) => {
      const stream = uniqueName("S");
      await bus.streams.ensure({ name: stream, subjects: ["r.>"] });
      const consumer = await bus.streams.consumer({
        stream,
        durable: uniqueName("d"),
        filterSubjects: ["r.>"],
      });
      await bus.streams.append("r.a", enc("1"));
      const [first] = await consumer.fetch(1, 2_000);
      await first!.ack();

      const kv = await bus.kv({ bucket: uniqueName("B") });
      const events: string[] = [];
      let ready = false;
      await kv.watch(
        (e) => events.push(`${e.key}=${dec(e.value)}`),
        () => (ready = true),
      );
      await eventually(() => ready, "the watch to be ready");
      const core: string[] = [];
      bus.subscribe("core.x", (m) => core.push(dec(m.data)!));
      await bus.flush();

      if (how === "kill -9") await restarting.kill();
      await restarting.restart();
      await eventually(() => bus.isConnected(), "the reconnect", 20_000);

      await retry(() => bus.streams.append("r.a", enc("2")), {
        retries: 50,
        baseMs: 100,
        maxMs: 1_000,
      });
      await eventually(
        async () => {
          const got = await consumer.fetch(1, 500).catch(() => []);
          for (const d of got) await d.ack();
          return got.some((d) => dec(d.data) === "2");
        },
        "the durable consumer to deliver the message appended after the restart",
        20_000,
      );

      await retry(() => kv.put("k", enc("v")), { retries: 50, baseMs: 100, maxMs: 1_000 });
      await eventually(
        () => events.includes("k=v"),
        "the watch to see a write made after the restart",
        30_000,
      );

      await eventually(async () => {
        bus.publish("core.x", enc("hello"));
        await bus.flush();
        return core.includes("hello");
      }, "the core subscription to receive after the restart");
    },
  );
});

describe("nats bus - appends in flight", () => {
  it("append - concurrent appends, more than are sent at once, each get their own acknowledgement", async () => {
    const bus = await connectNatsBus({ servers: server.url, name: "mux" });
    try {
      const stream = uniqueName("M");
      const root = uniqueName("m");
      await bus.streams.ensure({ name: stream, subjects: [`${root}.>`] });
      // Beyond the mux's in-flight bound (DEFAULT_MAX_IN_FLIGHT): the rest wait their turn.
      const n = 2_500;
      const results = await Promise.all(
        Array.from({ length: n }, (_, i) =>
          bus.streams.append(`${root}.${i % 7}`, enc(`v${i}`), { msgId: `id-${i}` }),
        ),
      );
      expect(new Set(results.map((r) => r.seq)).size).toBe(n);
      expect(results.every((r) => r.stream === stream && !r.duplicate)).toBe(true);
      // Each promise got its own message's sequence: read back what is stored at that sequence.
      const stored = new Map<number, string>();
      for (let k = 0; k < 7; k++) {
        for (const m of await bus.streams.read(stream, `${root}.${k}`, 1)) {
          stored.set(m.seq, dec(m.data)!);
        }
      }
      results.forEach((r, i) => expect(stored.get(r.seq)).toBe(`v${i}`));
      // Sent again with the same ids: every one of them reported as the duplicate it is.
      const again = await Promise.all(
        Array.from({ length: n }, (_, i) =>
          bus.streams.append(`${root}.${i % 7}`, enc(`v${i}`), { msgId: `id-${i}` }),
        ),
      );
      again.forEach((r, i) => {
        expect(r.duplicate).toBe(true);
        expect(r.seq).toBe(results[i]!.seq);
      });
    } finally {
      await bus.close();
    }
  });
});
