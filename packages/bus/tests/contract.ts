// The Bus contract: what every role may rely on, run against each implementation (memory in the
// unit project, NATS in the integration project). A behaviour that differs between them is a
// bug in one of them.
import { randomUUID } from "node:crypto";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  BusError,
  ConsumerNotFoundError,
  DisconnectedError,
  NoRespondersError,
  RemoteError,
  StreamNotFoundError,
  TimeoutError,
  WrongLastSequenceError,
  WrongRevisionError,
  type Bus,
  type BusMessage,
  type Delivery,
  type KvWatchEvent,
} from "../src/mod.js";

export interface BusUnderTest {
  bus: Bus;
  /** Another client of the same server (a second process, as far as the contract goes). */
  peer(): Promise<Bus>;
  /** Closes `bus` and every peer. */
  cleanup(): Promise<void>;
}

export type BusFactory = () => Promise<BusUnderTest>;

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
const dec = (b: Uint8Array | null): string | null =>
  b === null ? null : new TextDecoder().decode(b);

/** Letters and digits only: valid in stream, bucket and subject names alike. */
export function uniqueName(prefix: string): string {
  return `${prefix}${randomUUID().replace(/-/g, "").slice(0, 12)}`;
}

/** Polls `check` until it returns true; fails with `expected` after `timeoutMs`. */
export async function eventually(
  check: () => boolean | Promise<boolean>,
  expected: string,
  timeoutMs = 10_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for: ${expected}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

function collector() {
  const msgs: BusMessage[] = [];
  return {
    msgs,
    handler: (m: BusMessage) => {
      msgs.push(m);
    },
    texts: () => msgs.map((m) => dec(m.data)),
  };
}

/** Fetches until `n` deliveries arrived (each fetch waits up to 2 s). */
async function fetchN(
  c: { fetch(max: number, expiresMs: number): Promise<Delivery[]> },
  n: number,
  what: string,
): Promise<Delivery[]> {
  const out: Delivery[] = [];
  const deadline = Date.now() + 15_000;
  while (out.length < n) {
    if (Date.now() > deadline)
      throw new Error(`expected ${n} deliveries of ${what}, got ${out.length}`);
    out.push(...(await c.fetch(n - out.length, 2_000)));
  }
  return out;
}

export function busContract(name: string, factory: BusFactory): void {
  describe(`bus contract (${name})`, () => {
    let t: BusUnderTest;
    let bus: Bus;
    /** A subject root of this test only (stream subjects may not overlap across streams). */
    let root: string;

    beforeEach(async () => {
      t = await factory();
      bus = t.bus;
      root = uniqueName("t");
    });

    afterEach(async () => {
      await t.cleanup();
    });

    async function stream(extra: Partial<Parameters<Bus["streams"]["ensure"]>[0]> = {}) {
      const name = uniqueName("S");
      await bus.streams.ensure({ name, subjects: [`${root}.>`], ...extra });
      return name;
    }

    // -------------------------------------------------------------------------------- core

    describe("core", () => {
      it("publish - delivers to every matching subscriber, with * and > wildcards", async () => {
        const exact = collector();
        const star = collector();
        const tail = collector();
        const other = collector();
        bus.subscribe(`${root}.a.b`, exact.handler);
        bus.subscribe(`${root}.*.b`, star.handler);
        bus.subscribe(`${root}.>`, tail.handler);
        bus.subscribe(`${root}.a`, other.handler);
        await bus.flush();
        bus.publish(`${root}.a.b`, enc("1"));
        bus.publish(`${root}.x.b`, enc("2"));
        bus.publish(`${root}.a.b.c`, enc("3"));
        await eventually(() => tail.msgs.length === 3, "3 messages on >");
        await eventually(() => star.msgs.length === 2, "2 messages on *.b");
        expect(exact.texts()).toEqual(["1"]);
        expect(star.texts()).toEqual(["1", "2"]);
        expect(tail.texts()).toEqual(["1", "2", "3"]);
        expect(tail.msgs.map((m) => m.subject)).toEqual([
          `${root}.a.b`,
          `${root}.x.b`,
          `${root}.a.b.c`,
        ]);
        expect(other.msgs).toEqual([]);
      });

      it("publish - never calls a handler before publish returns", async () => {
        const got = collector();
        bus.subscribe(`${root}.x`, got.handler);
        await bus.flush();
        bus.publish(`${root}.x`, enc("a"));
        expect(got.msgs).toHaveLength(0);
        await eventually(() => got.msgs.length === 1, "the message after publish returned");
      });

      it("subscribe - unsubscribe stops delivery", async () => {
        const gone = collector();
        const stays = collector();
        const sub = bus.subscribe(`${root}.x`, gone.handler);
        bus.subscribe(`${root}.x`, stays.handler);
        await bus.flush();
        sub.unsubscribe();
        await bus.flush();
        bus.publish(`${root}.x`, enc("1"));
        bus.publish(`${root}.x`, enc("2"));
        await eventually(
          () => stays.msgs.length === 2,
          "both messages on the remaining subscriber",
        );
        expect(gone.msgs).toEqual([]);
      });

      it("subscribe - a queue group gets each message once", async () => {
        const a = collector();
        const b = collector();
        const all = collector();
        bus.subscribe(`${root}.q`, a.handler, "workers");
        bus.subscribe(`${root}.q`, b.handler, "workers");
        bus.subscribe(`${root}.q`, all.handler);
        await bus.flush();
        for (let i = 0; i < 20; i++) bus.publish(`${root}.q`, enc(String(i)));
        await eventually(() => all.msgs.length === 20, "20 messages on the plain subscriber");
        await eventually(
          () => a.msgs.length + b.msgs.length === 20,
          "20 messages over the queue group",
        );
        const seen = [...a.texts(), ...b.texts()].sort((x, y) => Number(x) - Number(y));
        expect(seen).toEqual(Array.from({ length: 20 }, (_, i) => String(i)));
      });

      it("request - answered by the serve handler", async () => {
        bus.serve(`${root}.rpc`, "svc", (m) => enc(`echo:${dec(m.data)}`));
        await bus.flush();
        expect(dec(await bus.request(`${root}.rpc`, enc("hi"), 2_000))).toBe("echo:hi");
      });

      it("request - a handler's RemoteError reaches the requester with its code", async () => {
        bus.serve(`${root}.rpc`, "svc", () => {
          throw new RemoteError("scroll_expired", "the scroll context expired");
        });
        await bus.flush();
        const err = await bus.request(`${root}.rpc`, enc("x"), 2_000).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(RemoteError);
        expect((err as RemoteError).code).toBe("scroll_expired");
        expect((err as RemoteError).message).toBe("the scroll context expired");
        expect((err as RemoteError).retriable).toBe(false);
      });

      it("request - any other handler error arrives as RemoteError 'internal'", async () => {
        bus.serve(`${root}.rpc`, "svc", async () => {
          throw new Error("boom\nsecond line");
        });
        await bus.flush();
        const err = await bus.request(`${root}.rpc`, enc("x"), 2_000).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(RemoteError);
        expect((err as RemoteError).code).toBe("internal");
        expect((err as RemoteError).message).toContain("boom");
      });

      it("request - rejects with NoRespondersError when nobody serves the subject", async () => {
        const err = await bus.request(`${root}.nobody`, enc("x"), 2_000).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(NoRespondersError);
        expect((err as NoRespondersError).retriable).toBe(true);
      });

      it("request - rejects with TimeoutError when the responder never answers", async () => {
        bus.subscribe(`${root}.silent`, () => {});
        await bus.flush();
        const err = await bus.request(`${root}.silent`, enc("x"), 200).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(TimeoutError);
        expect((err as TimeoutError).retriable).toBe(true);
      });

      it("serve - a queue group answers each request once", async () => {
        let handled = 0;
        const handler = (m: BusMessage) => {
          handled++;
          return m.data;
        };
        bus.serve(`${root}.rpc`, "svc", handler);
        bus.serve(`${root}.rpc`, "svc", handler);
        await bus.flush();
        const replies = await Promise.all(
          Array.from({ length: 10 }, (_, i) => bus.request(`${root}.rpc`, enc(String(i)), 2_000)),
        );
        expect(replies.map(dec)).toEqual(Array.from({ length: 10 }, (_, i) => String(i)));
        expect(handled).toBe(10);
      });

      it("flush - resolves while connected", async () => {
        await expect(bus.flush()).resolves.toBeUndefined();
        expect(bus.isConnected()).toBe(true);
      });

      it("close - the bus reports disconnected and refuses work", async () => {
        const other = await t.peer();
        await other.close();
        expect(other.isConnected()).toBe(false);
        expect(() => other.publish(`${root}.x`, enc("x"))).toThrow(DisconnectedError);
        await expect(other.request(`${root}.x`, enc("x"), 500)).rejects.toBeInstanceOf(
          DisconnectedError,
        );
        // The other clients of the server are not affected.
        expect(bus.isConnected()).toBe(true);
      });
    });

    // -------------------------------------------------------------------------------- streams

    describe("streams", () => {
      it("ensure - creates, is idempotent, and updates limits", async () => {
        const name = uniqueName("S");
        const first = await bus.streams.ensure({
          name,
          subjects: [`${root}.>`],
          maxMsgsPerSubject: 5,
          metadata: { owner: "test" },
        });
        expect(first.name).toBe(name);
        expect(first.config.subjects).toEqual([`${root}.>`]);
        expect(first.config.maxMsgsPerSubject).toBe(5);
        expect(first.config.metadata).toEqual({ owner: "test" });
        expect(first.config.duplicateWindowMs).toBe(120_000);
        expect(first.lastSeq).toBe(0);
        expect(first.firstSeq).toBe(0);
        expect(first.messages).toBe(0);
        expect(first.created).toBeGreaterThan(0);
        const again = await bus.streams.ensure({
          name,
          subjects: [`${root}.>`],
          maxMsgsPerSubject: 5,
          metadata: { owner: "test" },
        });
        expect(again.config).toEqual(first.config);
        const updated = await bus.streams.ensure({
          name,
          subjects: [`${root}.>`],
          maxMsgsPerSubject: 10,
          maxAgeMs: 60_000,
        });
        expect(updated.config.maxMsgsPerSubject).toBe(10);
        expect(updated.config.maxAgeMs).toBe(60_000);
        // The duplicate window never outlives the messages.
        expect(updated.config.duplicateWindowMs).toBe(60_000);
      });

      it("info - null for a stream that does not exist; delete removes it", async () => {
        expect(await bus.streams.info(uniqueName("S"))).toBeNull();
        const name = await stream();
        await bus.streams.append(`${root}.a`, enc("x"));
        const info = await bus.streams.info(name);
        expect(info?.messages).toBe(1);
        expect(info?.firstSeq).toBe(1);
        expect(info?.lastSeq).toBe(1);
        await bus.streams.delete(name);
        expect(await bus.streams.info(name)).toBeNull();
        await bus.streams.delete(name); // idempotent
      });

      it("append - stores in sequence; lastBySubject returns the last one of the subject", async () => {
        const name = await stream();
        const r1 = await bus.streams.append(`${root}.a`, enc("a1"));
        const r2 = await bus.streams.append(`${root}.b`, enc("b1"));
        const r3 = await bus.streams.append(`${root}.a`, enc("a2"), { headers: { "X-Kind": "k" } });
        expect([r1.seq, r2.seq, r3.seq]).toEqual([1, 2, 3]);
        expect(r1).toEqual({ stream: name, seq: 1, duplicate: false });
        const last = await bus.streams.lastBySubject(name, `${root}.a`);
        expect(last?.seq).toBe(3);
        expect(dec(last!.data)).toBe("a2");
        expect(last?.subject).toBe(`${root}.a`);
        expect(last?.headers).toEqual({ "X-Kind": "k" });
        expect(Math.abs(last!.time - Date.now())).toBeLessThan(60_000);
        expect(await bus.streams.lastBySubject(name, `${root}.none`)).toBeNull();
      });

      it("append - also reaches core subscribers of the subject (the gateway's live path)", async () => {
        await stream();
        const got: string[] = [];
        const arrived = new Promise<void>((resolve) => {
          const sub = bus.subscribe(`${root}.live.*`, (m) => {
            got.push(`${m.subject}=${dec(m.data)}`);
            if (got.length === 2) {
              sub.unsubscribe();
              resolve();
            }
          });
        });
        await bus.flush();
        await bus.streams.append(`${root}.live.u1`, enc("one"));
        await bus.streams.append(`${root}.live.u2`, enc("two"));
        await arrived;
        expect(got).toEqual([`${root}.live.u1=one`, `${root}.live.u2=two`]);
      });

      it("append - fails with a retriable BusError when no stream stores the subject", async () => {
        const err = await bus.streams
          .append(`${uniqueName("nostream")}.x`, enc("x"))
          .catch((e: unknown) => e);
        expect(err).toBeInstanceOf(BusError);
        expect((err as BusError).retriable).toBe(true);
      });

      it("lastBySubject/read - StreamNotFoundError for a stream that does not exist", async () => {
        const missing = uniqueName("S");
        await expect(bus.streams.lastBySubject(missing, `${root}.a`)).rejects.toBeInstanceOf(
          StreamNotFoundError,
        );
        await expect(bus.streams.read(missing, `${root}.a`, 1)).rejects.toBeInstanceOf(
          StreamNotFoundError,
        );
      });

      it("append - expectedLastSubjectSeq 0 means no message on the subject yet", async () => {
        await stream();
        const r = await bus.streams.append(`${root}.a`, enc("1"), { expectedLastSubjectSeq: 0 });
        expect(r.seq).toBe(1);
        const err = await bus.streams
          .append(`${root}.a`, enc("2"), { expectedLastSubjectSeq: 0 })
          .catch((e: unknown) => e);
        expect(err).toBeInstanceOf(WrongLastSequenceError);
        expect((err as WrongLastSequenceError).subject).toBe(`${root}.a`);
        expect((err as WrongLastSequenceError).retriable).toBe(false);
        // Another subject of the same stream is still empty.
        await expect(
          bus.streams.append(`${root}.b`, enc("3"), { expectedLastSubjectSeq: 0 }),
        ).resolves.toMatchObject({ seq: 2 });
      });

      it("append - compare-and-set on the subject's last sequence fences a stale writer", async () => {
        const name = await stream();
        await bus.streams.append(`${root}.a`, enc("1"));
        await bus.streams.append(`${root}.b`, enc("x"));
        // Messages on other subjects do not move the subject's last sequence.
        const r = await bus.streams.append(`${root}.a`, enc("2"), { expectedLastSubjectSeq: 1 });
        expect(r.seq).toBe(3);
        await expect(
          bus.streams.append(`${root}.a`, enc("stale"), { expectedLastSubjectSeq: 1 }),
        ).rejects.toBeInstanceOf(WrongLastSequenceError);
        const last = await bus.streams.lastBySubject(name, `${root}.a`);
        expect(dec(last!.data)).toBe("2");
      });

      it("append - a repeated msgId within the window is not stored again", async () => {
        const name = await stream();
        const first = await bus.streams.append(`${root}.a`, enc("1"), { msgId: "m-1" });
        const again = await bus.streams.append(`${root}.a`, enc("1"), { msgId: "m-1" });
        expect(first.duplicate).toBe(false);
        expect(again).toEqual({ stream: name, seq: first.seq, duplicate: true });
        const other = await bus.streams.append(`${root}.a`, enc("2"), { msgId: "m-2" });
        expect(other.seq).toBe(first.seq + 1);
        expect((await bus.streams.info(name))?.messages).toBe(2);
      });

      it("append - a retried append that was stored reports duplicate, not a conflict", async () => {
        await stream();
        const first = await bus.streams.append(`${root}.a`, enc("1"), {
          msgId: "feed-1",
          expectedLastSubjectSeq: 0,
        });
        const retry = await bus.streams.append(`${root}.a`, enc("1"), {
          msgId: "feed-1",
          expectedLastSubjectSeq: 0,
        });
        expect(retry).toMatchObject({ seq: first.seq, duplicate: true });
        // Once another message follows it, the same retry is a conflict: the writer was fenced.
        await bus.streams.append(`${root}.a`, enc("2"));
        await expect(
          bus.streams.append(`${root}.a`, enc("1"), { msgId: "feed-1", expectedLastSubjectSeq: 0 }),
        ).rejects.toBeInstanceOf(WrongLastSequenceError);
      });

      it("maxMsgsPerSubject - keeps only the newest messages of each subject", async () => {
        const name = await stream({ maxMsgsPerSubject: 2 });
        for (let i = 1; i <= 4; i++) await bus.streams.append(`${root}.a`, enc(`a${i}`));
        await bus.streams.append(`${root}.b`, enc("b1"));
        const a = await bus.streams.read(name, `${root}.a`, 1);
        expect(a.map((m) => dec(m.data))).toEqual(["a3", "a4"]);
        expect(a.map((m) => m.seq)).toEqual([3, 4]);
        const info = await bus.streams.info(name);
        expect(info?.messages).toBe(3);
        expect(info?.firstSeq).toBe(3);
        expect(info?.lastSeq).toBe(5);
      });

      it("maxBytes - drops the oldest messages to stay under the limit", async () => {
        const name = await stream({ maxBytes: 2_000 });
        const payload = new Uint8Array(200).fill(7);
        for (let i = 0; i < 30; i++) await bus.streams.append(`${root}.a`, payload);
        const info = await bus.streams.info(name);
        expect(info!.messages).toBeGreaterThan(0);
        expect(info!.messages).toBeLessThan(10);
        expect(info!.lastSeq).toBe(30);
        expect(info!.firstSeq).toBe(30 - info!.messages + 1);
      });

      it("maxAgeMs - messages older than the max age are dropped", async () => {
        const name = await stream({ maxAgeMs: 1_000 });
        await bus.streams.append(`${root}.a`, enc("old"));
        await eventually(
          async () => (await bus.streams.info(name))?.messages === 0,
          "the message to age out",
        );
        expect(await bus.streams.lastBySubject(name, `${root}.a`)).toBeNull();
        const info = await bus.streams.info(name);
        expect(info?.lastSeq).toBe(1);
        expect(info?.firstSeq).toBe(0);
        // Nothing is left on the subject, so a CAS on "no message yet" holds again.
        await expect(
          bus.streams.append(`${root}.a`, enc("new"), { expectedLastSubjectSeq: 0 }),
        ).resolves.toMatchObject({ seq: 2 });
      });

      it("read - replays a subject from a sequence, in order, bounded by max", async () => {
        const name = await stream();
        for (let i = 1; i <= 6; i++) {
          await bus.streams.append(`${root}.${i % 2 === 0 ? "even" : "odd"}`, enc(String(i)));
        }
        const even = await bus.streams.read(name, `${root}.even`, 1);
        expect(even.map((m) => m.seq)).toEqual([2, 4, 6]);
        expect(even.map((m) => dec(m.data))).toEqual(["2", "4", "6"]);
        expect(even.every((m) => m.subject === `${root}.even`)).toBe(true);
        expect((await bus.streams.read(name, `${root}.even`, 3)).map((m) => m.seq)).toEqual([4, 6]);
        expect((await bus.streams.read(name, `${root}.even`, 1, 2)).map((m) => m.seq)).toEqual([
          2, 4,
        ]);
        expect((await bus.streams.read(name, `${root}.*`, 2, 3)).map((m) => m.seq)).toEqual([
          2, 3, 4,
        ]);
        expect(await bus.streams.read(name, `${root}.even`, 7)).toEqual([]);
        expect(await bus.streams.read(name, `${root}.none`, 1)).toEqual([]);
        expect(await bus.streams.read(name, `${root}.even`, 1, 0)).toEqual([]);
      });

      it("read - returns what is stored now and does not wait for more", async () => {
        const name = await stream();
        for (let i = 0; i < 300; i++) await bus.streams.append(`${root}.a`, enc(String(i)));
        const all = await bus.streams.read(name, `${root}.a`, 1, 1_000);
        expect(all).toHaveLength(300);
        expect(all.map((m) => m.seq)).toEqual(Array.from({ length: 300 }, (_, i) => i + 1));
        expect(all[0]?.headers).toEqual({});
      });
    });

    // -------------------------------------------------------------------------------- consumers

    describe("consumers", () => {
      it("fetch - delivers matching messages in order, across several filter subjects", async () => {
        const name = await stream();
        const c = await bus.streams.consumer({
          stream: name,
          durable: uniqueName("d"),
          filterSubjects: [`${root}.a`, `${root}.c`],
        });
        for (const s of ["a", "b", "c", "a"]) await bus.streams.append(`${root}.${s}`, enc(s));
        const got = await fetchN(c, 3, "a, c, a");
        expect(got.map((d) => dec(d.data))).toEqual(["a", "c", "a"]);
        expect(got.map((d) => d.seq)).toEqual([1, 3, 4]);
        expect(got.map((d) => d.deliveryCount)).toEqual([1, 1, 1]);
        expect(got[1]?.subject).toBe(`${root}.c`);
        for (const d of got) await d.ack();
        await c.close();
      });

      it("fetch - an empty array when nothing arrives before expiry", async () => {
        const name = await stream();
        const c = await bus.streams.consumer({
          stream: name,
          durable: uniqueName("d"),
          filterSubjects: [`${root}.a`],
        });
        await expect(c.fetch(10, 300)).resolves.toEqual([]);
        await expect(c.fetch(10, 0)).resolves.toEqual([]);
        await bus.streams.append(`${root}.a`, enc("1"));
        // With no wait at all, what is stored is still returned.
        await eventually(async () => (await c.fetch(10, 0)).length === 1, "the stored message");
      });

      it(
        "fetch - returns what is available without waiting for a full batch",
        { timeout: 15_000 },
        async () => {
          const name = await stream();
          const c = await bus.streams.consumer({
            stream: name,
            durable: uniqueName("d"),
            filterSubjects: [`${root}.>`],
          });
          for (let i = 0; i < 3; i++) await bus.streams.append(`${root}.a`, enc(String(i)));
          // A fetch that waited for 100 messages would outlive the test's timeout.
          const got = await c.fetch(100, 30_000);
          expect(got.map((d) => dec(d.data))).toEqual(["0", "1", "2"]);
        },
      );

      it("fetch - waits for a message appended while it waits", async () => {
        const name = await stream();
        const c = await bus.streams.consumer({
          stream: name,
          durable: uniqueName("d"),
          filterSubjects: [`${root}.a`],
        });
        const pending = c.fetch(5, 10_000);
        await bus.streams.append(`${root}.a`, enc("late"));
        const got = await pending;
        expect(got.map((d) => dec(d.data))).toEqual(["late"]);
      });

      it("durable - resumes after close and rebind, acknowledged messages are not delivered again", async () => {
        const name = await stream();
        const durable = uniqueName("d");
        const config = { stream: name, durable, filterSubjects: [`${root}.>`] };
        for (let i = 1; i <= 4; i++) await bus.streams.append(`${root}.a`, enc(String(i)));
        const c1 = await bus.streams.consumer(config);
        const first = await fetchN(c1, 2, "messages 1-2");
        expect(first.map((d) => dec(d.data))).toEqual(["1", "2"]);
        for (const d of first) await d.ack();
        await c1.close();
        await expect(c1.fetch(1, 100)).resolves.toEqual([]);

        const c2 = await bus.streams.consumer(config);
        expect(c2.name).toBe(durable);
        const rest = await fetchN(c2, 2, "messages 3-4");
        expect(rest.map((d) => dec(d.data))).toEqual(["3", "4"]);
        for (const d of rest) await d.ack();
      });

      it("durable - an unacknowledged message is redelivered after ack wait", async () => {
        const name = await stream();
        const config = {
          stream: name,
          durable: uniqueName("d"),
          filterSubjects: [`${root}.>`],
          ackWaitMs: 500,
        };
        await bus.streams.append(`${root}.a`, enc("1"));
        const c1 = await bus.streams.consumer(config);
        const [d1] = await fetchN(c1, 1, "first delivery");
        expect(d1?.deliveryCount).toBe(1);
        await c1.close(); // crashed worker: never acked

        const c2 = await bus.streams.consumer(config);
        const [again] = await fetchN(c2, 1, "redelivery");
        expect(dec(again!.data)).toBe("1");
        expect(again?.seq).toBe(d1?.seq);
        expect(again?.deliveryCount).toBe(2);
        await again!.ack();
      });

      it("durable - nak redelivers (after the delay given); term never does", async () => {
        const name = await stream();
        const c = await bus.streams.consumer({
          stream: name,
          durable: uniqueName("d"),
          filterSubjects: [`${root}.>`],
          ackWaitMs: 400,
        });
        await bus.streams.append(`${root}.a`, enc("nak"));
        await bus.streams.append(`${root}.a`, enc("term"));
        const [n, x] = await fetchN(c, 2, "two messages");
        n!.nak();
        x!.term();
        const [redelivered] = await fetchN(c, 1, "the nak'ed message");
        expect(dec(redelivered!.data)).toBe("nak");
        expect(redelivered?.deliveryCount).toBe(2);
        redelivered!.nak(300);
        const [delayed] = await fetchN(c, 1, "the message nak'ed with a delay");
        expect(dec(delayed!.data)).toBe("nak");
        expect(delayed?.deliveryCount).toBe(3);
        await delayed!.ack();
        // Longer than ack wait: the terminated message would be back by now.
        await expect(c.fetch(5, 1_500)).resolves.toEqual([]);
      });

      it("durable - working() keeps a slow delivery from being redelivered", async () => {
        const name = await stream();
        const c = await bus.streams.consumer({
          stream: name,
          durable: uniqueName("d"),
          filterSubjects: [`${root}.>`],
          ackWaitMs: 2_000,
        });
        await bus.streams.append(`${root}.a`, enc("slow"));
        const [d] = await fetchN(c, 1, "the slow message");
        const beat = setInterval(() => d!.working(), 300);
        try {
          // Three ack waits long: without working() it would be redelivered within this fetch.
          await expect(c.fetch(1, 6_000)).resolves.toEqual([]);
        } finally {
          clearInterval(beat);
        }
        await d!.ack();
      });

      it("durable - maxAckPending bounds the deliveries awaiting an ack", async () => {
        const name = await stream();
        const c = await bus.streams.consumer({
          stream: name,
          durable: uniqueName("d"),
          filterSubjects: [`${root}.>`],
          maxAckPending: 2,
        });
        for (let i = 1; i <= 4; i++) await bus.streams.append(`${root}.a`, enc(String(i)));
        const first = await fetchN(c, 2, "two deliveries");
        expect(first.map((d) => dec(d.data))).toEqual(["1", "2"]);
        await expect(c.fetch(10, 500)).resolves.toEqual([]);
        await first[0]!.ack();
        const next = await fetchN(c, 1, "one more after an ack");
        expect(next.map((d) => dec(d.data))).toEqual(["3"]);
      });

      it("durable - ackNoWait settles a delivery like ack: never redelivered", async () => {
        const name = await stream();
        const c = await bus.streams.consumer({
          stream: name,
          durable: uniqueName("d"),
          filterSubjects: [`${root}.>`],
          ackWaitMs: 300,
          maxAckPending: 1,
        });
        for (let i = 1; i <= 2; i++) await bus.streams.append(`${root}.a`, enc(String(i)));
        const [first] = await fetchN(c, 1, "the first delivery");
        first!.ackNoWait();
        // With one ack pending at most, the second message comes only once the ack is recorded.
        const [second] = await fetchN(c, 1, "the second delivery");
        expect(dec(second!.data)).toBe("2");
        second!.ackNoWait();
        // Past the ack wait: neither comes back.
        await new Promise((r) => setTimeout(r, 600));
        await expect(c.fetch(10, 300)).resolves.toEqual([]);
      });

      it("durable - fetch on a deleted consumer fails with ConsumerNotFoundError", async () => {
        const name = await stream();
        const durable = uniqueName("d");
        const c = await bus.streams.consumer({
          stream: name,
          durable,
          filterSubjects: [`${root}.>`],
        });
        await bus.streams.append(`${root}.a`, enc("1"));
        const [d] = await fetchN(c, 1, "one delivery");
        await bus.streams.deleteConsumer(name, durable);
        await bus.streams.deleteConsumer(name, durable); // idempotent
        await expect(c.fetch(1, 500)).rejects.toBeInstanceOf(ConsumerNotFoundError);
        await expect(d!.ack()).rejects.toBeInstanceOf(ConsumerNotFoundError);
      });

      it("consumer - StreamNotFoundError when the stream does not exist", async () => {
        await expect(
          bus.streams.consumer({
            stream: uniqueName("S"),
            durable: "d",
            filterSubjects: [`${root}.>`],
          }),
        ).rejects.toBeInstanceOf(StreamNotFoundError);
      });
    });

    // -------------------------------------------------------------------------------- kv

    describe("kv", () => {
      it("put/get - revisions grow per bucket; a missing key is null", async () => {
        const kv = await bus.kv({ bucket: uniqueName("B") });
        const other = await bus.kv({ bucket: uniqueName("B") });
        expect(await kv.get("a")).toBeNull();
        const r1 = await kv.put("a", enc("1"));
        const r2 = await kv.put("b", enc("2"));
        const r3 = await kv.put("a", enc("3"));
        expect([r1, r2, r3]).toEqual([1, 2, 3]);
        expect(await other.put("a", enc("x"))).toBe(1);
        const a = await kv.get("a");
        expect(a?.key).toBe("a");
        expect(dec(a!.value)).toBe("3");
        expect(a?.revision).toBe(3);
        expect((await kv.keys()).sort()).toEqual(["a", "b"]);
      });

      it("create - only when the key has no value (WrongRevisionError otherwise)", async () => {
        const kv = await bus.kv({ bucket: uniqueName("B") });
        const r = await kv.create("lease", enc("w1"));
        const err = await kv.create("lease", enc("w2")).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(WrongRevisionError);
        expect((err as WrongRevisionError).key).toBe("lease");
        await kv.delete("lease");
        const again = await kv.create("lease", enc("w2"));
        expect(again).toBeGreaterThan(r);
        expect(dec((await kv.get("lease"))!.value)).toBe("w2");
      });

      it("update - compare-and-set on the revision", async () => {
        const kv = await bus.kv({ bucket: uniqueName("B") });
        const r1 = await kv.put("k", enc("1"));
        const r2 = await kv.update("k", enc("2"), r1);
        expect(r2).toBeGreaterThan(r1);
        await expect(kv.update("k", enc("stale"), r1)).rejects.toBeInstanceOf(WrongRevisionError);
        expect(dec((await kv.get("k"))!.value)).toBe("2");
        // Revision 0 means "no value yet": a create.
        await expect(kv.update("k", enc("x"), 0)).rejects.toBeInstanceOf(WrongRevisionError);
        await expect(kv.update("fresh", enc("x"), 0)).resolves.toBeGreaterThan(r2);
      });

      it("delete - unconditional or on a revision; the key reads as absent", async () => {
        const kv = await bus.kv({ bucket: uniqueName("B") });
        const r1 = await kv.put("a", enc("1"));
        await kv.put("b", enc("2"));
        await kv.put("a", enc("1b"));
        await expect(kv.delete("a", r1)).rejects.toBeInstanceOf(WrongRevisionError);
        const current = await kv.get("a");
        await kv.delete("a", current!.revision);
        expect(await kv.get("a")).toBeNull();
        await kv.delete("b");
        expect(await kv.get("b")).toBeNull();
        expect(await kv.keys()).toEqual([]);
      });

      it("watch - initial values, then ready once, then updates and deletes in order", async () => {
        const kv = await bus.kv({ bucket: uniqueName("B") });
        await kv.put("a", enc("1"));
        await kv.put("b", enc("2"));
        await kv.put("gone", enc("x"));
        await kv.delete("gone");
        await kv.put("a", enc("1b"));
        const log: (KvWatchEvent | "ready")[] = [];
        const w = await kv.watch(
          (e) => log.push(e),
          () => log.push("ready"),
        );
        await eventually(() => log.includes("ready"), "the watch to be ready");
        expect(
          log.map((e) => (e === "ready" ? e : `${e.key}=${dec(e.value)}@${e.revision}`)),
        ).toEqual(["b=2@2", "a=1b@5", "ready"]);
        await kv.put("c", enc("3"));
        await kv.delete("b");
        await eventually(() => log.length === 5, "two live events");
        expect(
          log.slice(3).map((e) => (e === "ready" ? e : { ...e, value: dec(e.value) })),
        ).toEqual([
          { key: "c", value: "3", revision: 6 },
          { key: "b", value: null, revision: 7 },
        ]);
        w.stop();
        let witnessed = false;
        const witness = await kv.watch((e) => {
          if (e.key === "after-stop") witnessed = true;
        });
        await kv.put("after-stop", enc("x"));
        await eventually(() => witnessed, "another watcher to see the write after stop()");
        witness.stop();
        expect(log.filter((e) => e === "ready")).toHaveLength(1);
        expect(log.some((e) => e !== "ready" && e.key === "after-stop")).toBe(false);
      });

      it("watch - ready at once on an empty bucket, then live updates", async () => {
        const kv = await bus.kv({ bucket: uniqueName("B") });
        const log: string[] = [];
        const w = await kv.watch(
          (e) => log.push(`${e.key}=${dec(e.value)}`),
          () => log.push("ready"),
        );
        await eventually(() => log.length === 1, "ready on an empty bucket");
        await kv.put("a", enc("1"));
        await eventually(() => log.length === 2, "the live update");
        expect(log).toEqual(["ready", "a=1"]);
        w.stop();
      });

      it("ttl - entries expire after their last write", async () => {
        const kv = await bus.kv({ bucket: uniqueName("B"), ttlMs: 1_000 });
        await kv.put("lease", enc("w1"));
        expect(await kv.get("lease")).not.toBeNull();
        await eventually(async () => (await kv.get("lease")) === null, "the entry to expire");
        // Expired means absent: create succeeds again.
        await expect(kv.create("lease", enc("w2"))).resolves.toBeGreaterThan(0);
      });

      it("kv - keys outside the allowed alphabet are refused", async () => {
        const kv = await bus.kv({ bucket: uniqueName("B") });
        await expect(kv.put("has space", enc("x"))).rejects.toBeInstanceOf(BusError);
        await expect(kv.put("a.b-c_d/e=f", enc("x"))).resolves.toBeGreaterThan(0);
      });
    });

    // -------------------------------------------------------------------------------- peers

    describe("two clients of one server", () => {
      it("peer - sees the other's messages, requests, KV writes and stream appends", async () => {
        const other = await t.peer();
        const got = collector();
        other.subscribe(`${root}.x`, got.handler);
        other.serve(`${root}.rpc`, "svc", (m) => enc(`peer:${dec(m.data)}`));
        await other.flush();
        bus.publish(`${root}.x`, enc("hello"));
        await eventually(() => got.msgs.length === 1, "the message on the peer");
        expect(dec(await bus.request(`${root}.rpc`, enc("q"), 2_000))).toBe("peer:q");

        const bucket = uniqueName("B");
        const kvA = await bus.kv({ bucket });
        const kvB = await other.kv({ bucket });
        const seen: string[] = [];
        let ready = false;
        await kvB.watch(
          (e) => seen.push(`${e.key}=${dec(e.value)}`),
          () => (ready = true),
        );
        await eventually(() => ready, "the peer's watch to be ready");
        await kvA.put("k", enc("v"));
        await eventually(() => seen.length === 1, "the peer to see the KV write");
        expect(seen).toEqual(["k=v"]);
        expect(dec((await kvB.get("k"))!.value)).toBe("v");

        const name = await stream();
        await bus.streams.append(`${root}.s`, enc("1"));
        const last = await other.streams.lastBySubject(name, `${root}.s`);
        expect(dec(last!.data)).toBe("1");
      });

      it("peer - takes over a durable consumer where the other left it", async () => {
        const name = await stream();
        const config = {
          stream: name,
          durable: uniqueName("d"),
          filterSubjects: [`${root}.>`],
          ackWaitMs: 500,
        };
        for (let i = 1; i <= 3; i++) await bus.streams.append(`${root}.a`, enc(String(i)));
        const c1 = await bus.streams.consumer(config);
        const [d1, d2] = await fetchN(c1, 2, "two deliveries");
        await d1!.ack();
        void d2; // the worker dies holding message 2
        await t.bus.close();

        const other = await t.peer();
        const c2 = await other.streams.consumer(config);
        const got = await fetchN(c2, 2, "the unacked and the next message");
        got.sort((a, b) => a.seq - b.seq);
        expect(got.map((d) => dec(d.data))).toEqual(["2", "3"]);
        expect(got.map((d) => d.deliveryCount)).toEqual([2, 1]);
      });
    });
  });
}
