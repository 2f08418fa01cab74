import { performance } from "node:perf_hooks";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connectNatsBus, type Bus } from "@drivecast/bus";
import { startNatsServer, randomName, type NatsServerHandle } from "@drivecast/testkit";
import { createLeaser, decodeLeaseRecord, shardLeaseKey, type Leaser } from "@drivecast/changeset";
import { waitFor } from "./helpers.js";

const TTL = 900;
const S = 8;

let nats: NatsServerHandle;
beforeAll(async () => {
  nats = await startNatsServer();
});
afterAll(async () => {
  await nats?.stop();
});

interface Interval {
  worker: string;
  shard: number;
  from: number;
  to: number | null;
}

/** Processing intervals of every worker, by the one clock of this process. */
class Timeline {
  readonly intervals: Interval[] = [];
  readonly violations: string[] = [];

  begin(worker: string, shard: number): void {
    const now = performance.now();
    const open = this.intervals.find((i) => i.shard === shard && i.to === null);
    if (open)
      this.violations.push(`shard ${shard}: ${worker} started while ${open.worker} processes it`);
    this.intervals.push({ worker, shard, from: now, to: null });
  }

  end(worker: string, shard: number): void {
    const open = this.intervals.find(
      (i) => i.shard === shard && i.worker === worker && i.to === null,
    );
    if (open) open.to = performance.now();
  }

  processing(worker: string): number[] {
    return this.intervals.filter((i) => i.worker === worker && i.to === null).map((i) => i.shard);
  }
}

interface W {
  id: string;
  bus: Bus;
  leaser: Leaser;
}

async function worker(bucket: string, id: string, timeline: Timeline): Promise<W> {
  const bus = await connectNatsBus({ servers: nats.url, name: id, timeoutMs: 300 });
  const kv = await bus.kv({ bucket, history: 1, ttlMs: 20 * TTL });
  const leaser = createLeaser({
    kv,
    workerId: id,
    shardCount: S,
    leaseTtlMs: TTL,
    host: {
      start: async (lease) => timeline.begin(id, lease.shard),
      release: async (shard) => {
        timeline.end(id, shard);
        return true;
      },
      abort: (shard) => timeline.end(id, shard),
    },
  });
  await leaser.tick();
  leaser.start();
  return { id, bus, leaser };
}

describe("leases on NATS", () => {
  it("leases - split, takeover after a crash, gradual rebalance; one owner per shard at every sample", async () => {
    const bucket = randomName("shards");
    const timeline = new Timeline();
    const observer = await connectNatsBus({ servers: nats.url });
    const kv = await observer.kv({ bucket, history: 1, ttlMs: 20 * TTL });
    const samples: string[] = [];
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        // Hosts first (exact, same process), then the bucket.
        const open = timeline.intervals.filter((i) => i.to === null);
        for (let s = 0; s < S; s++) {
          const owners = open.filter((i) => i.shard === s);
          if (owners.length > 1)
            samples.push(`shard ${s} processed by ${owners.map((o) => o.worker).join(" and ")}`);
        }
        await new Promise((r) => setTimeout(r, 20));
      }
    })();

    const ws = [
      await worker(bucket, "a", timeline),
      await worker(bucket, "b", timeline),
      await worker(bucket, "c", timeline),
    ];
    await waitFor(
      () =>
        ws.every((w) => w.leaser.owned().length >= 2) &&
        ws.reduce((n, w) => n + w.leaser.owned().length, 0) === S,
      () => `an even split of ${S} shards; got ${ws.map((w) => w.leaser.owned().length).join("/")}`,
      15_000,
    );
    expect(ws.map((w) => w.leaser.owned().length).sort()).toEqual([2, 3, 3]);
    for (let s = 0; s < S; s++) {
      const r = decodeLeaseRecord((await kv.get(shardLeaseKey(s)))!.value)!;
      expect(r.state).toBe("held");
      expect(ws.find((w) => w.id === r.owner)!.leaser.owned()).toContain(s);
    }

    // Crash of c: its connection goes away without a word (no release).
    const c = ws[2]!;
    const cShards = c.leaser.owned();
    const crashAt = performance.now();
    await c.bus.close();
    await waitFor(
      () => ws[0]!.leaser.owned().length + ws[1]!.leaser.owned().length === S,
      () => `a and b to take c's shards over (${cShards.join(",")})`,
      15_000,
    );
    const takeovers = timeline.intervals.filter(
      (i) => cShards.includes(i.shard) && i.worker !== "c" && i.from > crashAt,
    );
    expect(takeovers.length).toBe(cShards.length);
    for (const t of takeovers) {
      const old = timeline.intervals.find((i) => i.worker === "c" && i.shard === t.shard)!;
      expect(old.to, `c still processed shard ${t.shard}`).not.toBeNull();
      expect(old.to!).toBeLessThan(t.from); // fenced: c stopped before the takeover
      expect(t.from - crashAt).toBeLessThan(2 * TTL + TTL); // generous bound on a busy machine
    }
    c.leaser.stop().catch(() => undefined);

    // d joins (W = 3 again): a and b give shards back until the split is 3/3/2 again.
    const d = await worker(bucket, "d", timeline);
    const live = [ws[0]!, ws[1]!, d];
    await waitFor(
      () => d.leaser.owned().length === 2 && live.every((w) => w.leaser.owned().length >= 2),
      () => `a 3/3/2 split with d; got ${live.map((w) => w.leaser.owned().length).join("/")}`,
      15_000,
    );
    expect(live.reduce((n, w) => n + w.leaser.owned().length, 0)).toBe(S);

    // a leaves gracefully: its shards move at once (released clean).
    const a = ws[0]!;
    await a.leaser.stop();
    await waitFor(
      () => ws[1]!.leaser.owned().length + d.leaser.owned().length === S,
      () => "b and d to own every shard",
      15_000,
    );

    sampling = false;
    await sampler;
    expect(samples).toEqual([]);
    expect(timeline.violations).toEqual([]);
    await ws[1]!.leaser.stop();
    await d.leaser.stop();
    for (const w of [ws[0]!, ws[1]!, d]) await w.bus.close();
    await observer.close();
  });
});
