import { describe, expect, it } from "vitest";
import { createMemoryBus, DisconnectedError, type Kv } from "@drivecast/bus";
import {
  createLeaser,
  decodeLeaseRecord,
  shardLeaseKey,
  type Leaser,
  type ShardHost,
  type ShardLease,
} from "@drivecast/changeset";
import { FakeClock, settle } from "./helpers.js";

const TTL = 3000;
const ROUND = 1000; // TTL / 3

/** Who processes what: fails the test the moment two workers process one shard. */
class World {
  readonly processing = new Map<number, string>();
  readonly log: string[] = [];
  violations: string[] = [];

  begin(worker: string, shard: number): void {
    const other = this.processing.get(shard);
    if (other !== undefined)
      this.violations.push(`shard ${shard}: ${worker} started while ${other} runs`);
    this.processing.set(shard, worker);
    this.log.push(`${worker} start ${shard}`);
  }

  end(worker: string, shard: number): void {
    if (this.processing.get(shard) === worker) this.processing.delete(shard);
    this.log.push(`${worker} end ${shard}`);
  }

  ownersOf(worker: string): number[] {
    return [...this.processing]
      .filter(([, w]) => w === worker)
      .map(([s]) => s)
      .sort((a, b) => a - b);
  }
}

/** A KV that can be cut off from its worker, as by a network partition. */
function partitionable(kv: Kv): Kv & { cut: boolean; cutUpdates: boolean } {
  const guard = <T>(f: () => Promise<T>, update = false): Promise<T> =>
    proxy.cut || (update && proxy.cutUpdates)
      ? Promise.reject(new DisconnectedError("partitioned"))
      : f();
  const proxy = {
    cut: false,
    /** Only compare-and-set updates fail (renewals), the heartbeat still gets through. */
    cutUpdates: false,
    bucket: kv.bucket,
    get: (k: string) => guard(() => kv.get(k)),
    put: (k: string, v: Uint8Array) => guard(() => kv.put(k, v)),
    create: (k: string, v: Uint8Array) => guard(() => kv.create(k, v)),
    update: (k: string, v: Uint8Array, r: number) => guard(() => kv.update(k, v, r), true),
    delete: (k: string, r?: number) => guard(() => kv.delete(k, r)),
    keys: () => guard(() => kv.keys()),
    watch: kv.watch.bind(kv),
  };
  return proxy;
}

interface Worker {
  id: string;
  leaser: Leaser;
  leases: Map<number, ShardLease>;
  kv: Kv & { cut: boolean; cutUpdates: boolean };
  aborts: { shard: number; at: number }[];
  starts: { shard: number; at: number; clean: boolean }[];
}

async function setup(shardCount: number) {
  const clock = new FakeClock();
  const bus = createMemoryBus({ now: clock.now });
  const world = new World();
  const workers: Worker[] = [];

  async function add(id: string, options: { failStart?: boolean } = {}): Promise<Worker> {
    const kv = partitionable(await bus.connect().kv({ bucket: "leases", history: 1 }));
    const leases = new Map<number, ShardLease>();
    const w: Worker = { id, leaser: null as unknown as Leaser, leases, kv, aborts: [], starts: [] };
    const host: ShardHost = {
      async start(lease) {
        if (options.failStart) throw new Error("cannot start");
        leases.set(lease.shard, lease);
        w.starts.push({ shard: lease.shard, at: clock.t, clean: lease.clean });
        world.begin(id, lease.shard);
      },
      async release(shard) {
        leases.delete(shard);
        world.end(id, shard);
        return true;
      },
      abort(shard) {
        leases.delete(shard);
        w.aborts.push({ shard, at: clock.t });
        world.end(id, shard);
      },
    };
    w.leaser = createLeaser({
      kv,
      workerId: id,
      shardCount,
      leaseTtlMs: TTL,
      host,
      now: clock.now,
    });
    workers.push(w);
    return w;
  }

  /** One round of every live worker, then time passes. */
  async function round(live: Worker[], ms = ROUND): Promise<void> {
    for (const w of live) await w.leaser.tick();
    await settle();
    await clock.advance(ms);
  }

  return { clock, bus, world, add, round, workers };
}

async function ownersInKv(kv: Kv, shardCount: number): Promise<(string | null)[]> {
  const out: (string | null)[] = [];
  for (let s = 0; s < shardCount; s++) {
    const e = await kv.get(shardLeaseKey(s));
    const r = e === null ? null : decodeLeaseRecord(e.value);
    out.push(r?.state === "held" ? r.owner : null);
  }
  return out;
}

describe("leases", () => {
  it("leases - a lone worker announces itself, then acquires every shard, cleanly", async () => {
    const { add, round, world } = await setup(8);
    const a = await add("a");
    await round([a]);
    expect(a.leaser.owned()).toEqual([]); // first round: heartbeat only
    await round([a]);
    expect(a.leaser.owned()).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(a.starts.every((s) => s.clean)).toBe(true);
    expect(world.ownersOf("a")).toHaveLength(8);
    expect(a.leaser.healthy()).toBe(true);
  });

  it("leases - workers starting together split the shards ceil(S/W) each", async () => {
    const { add, round, world, bus } = await setup(8);
    const ws = [await add("a"), await add("b"), await add("c")];
    for (let i = 0; i < 4; i++) await round(ws);
    expect(ws.map((w) => w.leaser.owned().length).sort()).toEqual([2, 3, 3]);
    expect(world.violations).toEqual([]);
    const owners = await ownersInKv(await bus.kv({ bucket: "leases" }), 8);
    expect(owners.every((o) => o !== null)).toBe(true);
    for (const w of ws)
      expect(owners.filter((o) => o === w.id)).toHaveLength(w.leaser.owned().length);
  });

  it("leases - a joining worker gets shards gradually, one given back per round", async () => {
    const { add, round, world } = await setup(8);
    const a = await add("a");
    await round([a]);
    await round([a]);
    expect(a.leaser.owned()).toHaveLength(8);
    const b = await add("b");
    const history: number[] = [];
    for (let i = 0; i < 8; i++) {
      await round([a, b]);
      history.push(a.leaser.owned().length);
    }
    expect(a.leaser.owned()).toHaveLength(4);
    expect(b.leaser.owned()).toHaveLength(4);
    // Never more than one shard handed over per round.
    for (let i = 1; i < history.length; i++)
      expect(history[i - 1]! - history[i]!).toBeLessThanOrEqual(1);
    expect(b.starts.every((s) => s.clean)).toBe(true); // released cleanly: no grace needed
    expect(world.violations).toEqual([]);
  });

  it("leases - a worker leaving gracefully hands its shards over at once", async () => {
    const { add, round, world } = await setup(8);
    const a = await add("a");
    const b = await add("b");
    for (let i = 0; i < 4; i++) await round([a, b]);
    expect(b.leaser.owned()).toHaveLength(4);
    await b.leaser.stop();
    await settle();
    expect(world.ownersOf("b")).toEqual([]);
    // b's heartbeat is gone: a's target becomes 8 and released shards are free at once.
    await round([a]);
    expect(a.leaser.owned()).toHaveLength(8);
    expect(a.starts.slice(4).every((s) => s.clean)).toBe(true);
    expect(world.violations).toEqual([]);
  });

  it("leases - the shards of a dead worker are taken over only after TTL, as unclean", async () => {
    const { add, round, world, clock } = await setup(8);
    const a = await add("a");
    const b = await add("b");
    for (let i = 0; i < 4; i++) await round([a, b]);
    const bShards = b.leaser.owned();
    expect(bShards).toHaveLength(4);
    const diedAt = clock.t;
    // b is killed: it never ticks again (and never releases).
    let takenAt = -1;
    for (let i = 0; i < 8 && takenAt < 0; i++) {
      await round([a]);
      if (a.leaser.owned().length === 8) takenAt = clock.t;
    }
    expect(a.leaser.owned()).toHaveLength(8);
    const taken = a.starts.filter((s) => bShards.includes(s.shard));
    expect(taken.every((s) => !s.clean)).toBe(true);
    // Not before a TTL of silence, and within TTL plus two rounds.
    for (const s of taken) expect(s.at - diedAt).toBeGreaterThanOrEqual(TTL - ROUND);
    expect(takenAt - diedAt).toBeLessThanOrEqual(TTL + 2 * ROUND);
    // world still lists b as processing: the dead worker was never told. What matters is that
    // its lease had expired by its own clock before a started each of them:
    for (const s of taken) expect(world.log).toContain(`a start ${s.shard}`);
  });

  it("leases - fencing: a worker that cannot renew stops before another one starts", async () => {
    const { add, round, world, clock } = await setup(4);
    const a = await add("a");
    const b = await add("b");
    for (let i = 0; i < 4; i++) await round([a, b]);
    const aShards = a.leaser.owned();
    expect(aShards.length).toBeGreaterThan(0);
    const leasesOfA = [...a.leases.values()];
    a.kv.cut = true; // partitioned: a keeps running but reaches nothing
    for (let i = 0; i < 8; i++) await round([a, b]);
    expect(b.leaser.owned()).toHaveLength(4);
    expect(a.leaser.owned()).toEqual([]);
    for (const shard of aShards) {
      const aborted = a.aborts.find((x) => x.shard === shard)!;
      const started = b.starts.find((x) => x.shard === shard)!;
      expect(aborted.at).toBeLessThan(started.at);
    }
    // The fence holds even if the watchdog had not run (a process frozen past its deadline).
    for (const l of leasesOfA) expect(l.valid()).toBe(false);
    expect(world.violations).toEqual([]);
    expect(a.leaser.healthy()).toBe(false);
    void clock;
  });

  it("leases - a lease that stops being renewed is taken over only after its holder stopped", async () => {
    // The holder's heartbeat still gets through (so W stays 3) but its renewals fail: only the
    // lease rule protects the shard, not the membership count.
    const { add, round, world } = await setup(8);
    const ws = [await add("a"), await add("b"), await add("c")];
    for (let i = 0; i < 4; i++) await round(ws);
    const holder = ws.find((w) => w.leaser.owned().length === 3)!;
    const taker = ws.find((w) => w.leaser.owned().length === 2)!;
    const held = holder.leaser.owned();
    holder.kv.cutUpdates = true;
    for (let i = 0; i < 6; i++) await round(ws);
    expect(holder.leaser.owned()).toEqual([]);
    const moved = taker.starts.filter((s) => held.includes(s.shard));
    expect(moved.length).toBeGreaterThan(0);
    for (const s of moved) {
      expect(s.clean).toBe(false);
      const aborted = holder.aborts.find((x) => x.shard === s.shard)!;
      expect(aborted.at).toBeLessThan(s.at);
    }
    expect(world.violations).toEqual([]);
  });

  it("leases - a frozen worker's lease is no longer valid when it wakes, before any round", async () => {
    const { add, round, clock } = await setup(2);
    const a = await add("a");
    await round([a]);
    await round([a]);
    const lease = a.leases.get(0)!;
    expect(lease.valid()).toBe(true);
    expect(lease.validFor(ROUND / 2)).toBe(true);
    await clock.advance(TTL); // frozen: no tick ran
    expect(lease.valid()).toBe(false);
    expect(lease.validFor(0)).toBe(false);
  });

  it("leases - a lease written by someone else is given up at once", async () => {
    const { add, round, bus } = await setup(2);
    const a = await add("a");
    await round([a]);
    await round([a]);
    const kv = await bus.kv({ bucket: "leases" });
    const e = (await kv.get(shardLeaseKey(1)))!;
    await kv.update(
      shardLeaseKey(1),
      new TextEncoder().encode(JSON.stringify({ owner: "intruder", state: "held", clean: false })),
      e.revision,
    );
    await settle();
    expect(a.aborts.map((x) => x.shard)).toEqual([1]);
    expect(a.leaser.owned()).toEqual([0]);
  });

  it("leases - a host that cannot start a shard gives its lease back", async () => {
    const { add, round, bus } = await setup(2);
    const a = await add("a", { failStart: true });
    await round([a]);
    await round([a]);
    expect(a.leaser.owned()).toEqual([]);
    const kv = await bus.kv({ bucket: "leases" });
    const r = decodeLeaseRecord((await kv.get(shardLeaseKey(0)))!.value)!;
    expect(r).toEqual({ owner: null, state: "released", clean: true });
  });

  it("leases - with more workers than shards, the extra ones own nothing and stay healthy", async () => {
    const { add, round, world } = await setup(2);
    const ws = [await add("a"), await add("b"), await add("c")];
    for (let i = 0; i < 4; i++) await round(ws);
    expect(ws.map((w) => w.leaser.owned().length).sort()).toEqual([0, 1, 1]);
    for (const w of ws) expect(w.leaser.healthy()).toBe(true);
    expect(world.violations).toEqual([]);
  });

  it("leases - never two owners across random joins, leaves, kills and partitions", async () => {
    const { add, round, world, clock } = await setup(6);
    let seed = 7;
    const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    const live: Worker[] = [await add("w0"), await add("w1")];
    const frozen = new Set<Worker>();
    let next = 2;
    for (let step = 0; step < 120; step++) {
      const r = random();
      if (r < 0.05 && live.length < 4) live.push(await add(`w${next++}`));
      else if (r < 0.08 && live.length > 1) {
        const w = live.splice(Math.floor(random() * live.length), 1)[0]!;
        await w.leaser.stop();
      } else if (r < 0.11 && live.length > 1) {
        // SIGKILL: stops ticking; its host still "runs" its shards in `world` until their
        // leases are invalid, which is exactly what the fence guarantees.
        const w = live.splice(Math.floor(random() * live.length), 1)[0]!;
        frozen.add(w);
      } else if (r < 0.14) {
        const w = live[Math.floor(random() * live.length)]!;
        w.kv.cut = !w.kv.cut;
      }
      // A dead worker's processing ends when its lease stops being valid.
      for (const w of frozen) {
        for (const [shard, lease] of w.leases)
          if (!lease.valid()) {
            w.leases.delete(shard);
            world.end(w.id, shard);
          }
      }
      await round(live, ROUND / 2 + Math.floor(random() * ROUND));
      expect(world.violations).toEqual([]);
    }
    for (const w of live) w.kv.cut = false;
    for (let i = 0; i < 10; i++) await round(live);
    const total = live.reduce((n, w) => n + w.leaser.owned().length, 0);
    expect(total).toBe(6);
    void clock;
  });
});
