import { describe, expect, it } from "vitest";
import { createMemoryBus, type Bus } from "../src/mod.js";
import { busContract, eventually, uniqueName } from "./contract.js";

busContract("memory", async () => {
  const bus = createMemoryBus();
  const peers: Bus[] = [];
  return {
    bus,
    peer: async () => {
      const p = bus.connect();
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

/** A clock the test moves by hand. */
function fakeClock(start = 1_700_000_000_000) {
  let now = start;
  return { now: () => now, advance: (ms: number) => (now += ms) };
}

describe("memory bus (injected clock)", () => {
  it("maxAgeMs - applied on read by the injected clock", async () => {
    const clock = fakeClock();
    const bus = createMemoryBus({ now: clock.now });
    const name = uniqueName("S");
    await bus.streams.ensure({ name, subjects: ["t.>"], maxAgeMs: 60_000 });
    await bus.streams.append("t.a", enc("old"));
    clock.advance(30_000);
    await bus.streams.append("t.a", enc("new"));
    expect((await bus.streams.read(name, "t.a", 1)).map((m) => m.time)).toEqual([
      clock.now() - 30_000,
      clock.now(),
    ]);
    clock.advance(30_000);
    expect((await bus.streams.read(name, "t.a", 1)).map((m) => m.seq)).toEqual([2]);
    expect((await bus.streams.info(name))?.firstSeq).toBe(2);
    await bus.close();
  });

  it("duplicateWindowMs - a msgId is forgotten once the window has passed", async () => {
    const clock = fakeClock();
    const bus = createMemoryBus({ now: clock.now });
    await bus.streams.ensure({
      name: uniqueName("S"),
      subjects: ["t.>"],
      duplicateWindowMs: 1_000,
    });
    expect((await bus.streams.append("t.a", enc("1"), { msgId: "m" })).duplicate).toBe(false);
    clock.advance(999);
    expect((await bus.streams.append("t.a", enc("1"), { msgId: "m" })).duplicate).toBe(true);
    clock.advance(1);
    const later = await bus.streams.append("t.a", enc("1"), { msgId: "m" });
    expect(later).toMatchObject({ seq: 2, duplicate: false });
    await bus.close();
  });

  it("kv ttl - an entry expires ttlMs after its last write, silently for watchers", async () => {
    const clock = fakeClock();
    const bus = createMemoryBus({ now: clock.now });
    const kv = await bus.kv({ bucket: uniqueName("B"), ttlMs: 10_000 });
    const events: string[] = [];
    await kv.watch((e) => events.push(e.key));
    await kv.put("lease", enc("w1"));
    clock.advance(9_000);
    await kv.put("lease", enc("w1")); // heartbeat
    clock.advance(9_000);
    expect(await kv.get("lease")).not.toBeNull();
    clock.advance(1_000);
    expect(await kv.get("lease")).toBeNull();
    expect(await kv.keys()).toEqual([]);
    await eventually(() => events.length === 2, "the two writes");
    expect(events).toEqual(["lease", "lease"]);
    await bus.close();
  });

  it("ensure - subjects overlapping another stream's are refused", async () => {
    const bus = createMemoryBus();
    await bus.streams.ensure({ name: uniqueName("S"), subjects: ["a.*"] });
    await expect(bus.streams.ensure({ name: uniqueName("S"), subjects: ["a.>"] })).rejects.toThrow(
      /overlaps/,
    );
    await expect(
      bus.streams.ensure({ name: uniqueName("S"), subjects: ["b.>"] }),
    ).resolves.toBeTruthy();
    await bus.close();
  });

  it("connect - closing one client leaves the others' subscriptions and durable state", async () => {
    const a = createMemoryBus();
    const b = a.connect();
    const got: string[] = [];
    b.subscribe("x", (m) => got.push(new TextDecoder().decode(m.data)));
    await a.close();
    const c = a.connect();
    c.publish("x", enc("still here"));
    await eventually(() => got.length === 1, "b to receive after a closed");
    await b.close();
    await c.close();
  });

  it("onReconnect - never called in process; the handle unsubscribes", async () => {
    const bus = createMemoryBus();
    let calls = 0;
    const handle = bus.onReconnect!(() => calls++);
    bus.subscribe("x", () => undefined);
    await bus.flush();
    handle.unsubscribe();
    handle.unsubscribe();
    expect(calls).toBe(0);
    await bus.close();
  });

  it("publish - the payload is copied: reusing the buffer does not change what was sent", async () => {
    const bus = createMemoryBus();
    const got: string[] = [];
    bus.subscribe("x", (m) => got.push(new TextDecoder().decode(m.data)));
    const buf = enc("abc");
    bus.publish("x", buf);
    buf.set(enc("zzz"));
    await eventually(() => got.length === 1, "the message");
    expect(got).toEqual(["abc"]);
    await bus.close();
  });
});
