// Shard leasing over KV `drive_shards`.
//
// Invariant: a shard is processed by at most one worker at a time, and every shard is processed
// by some live worker within about two lease TTLs of its previous owner's death.
//
// How: the bucket has a TTL equal to the lease TTL, so the server removes a lease nobody renewed
// in time. A worker
//   - heartbeats `worker.<id>` (membership; counts W) and renews each lease it holds with a
//     compare-and-set on the lease's revision, every TTL/3;
//   - stops a shard on its own when it could not renew it before `lastRenewal + TTL - TTL/3`
//     (NATS unreachable, lost CAS): it stops strictly before the server can expire the key and
//     hand it to someone else, so two owners never overlap (clock *rates*, not clocks, must
//     agree);
//   - acquires free shards with `create` (only one creator wins) up to ceil(S/W), starting a
//     shard only after the create succeeded;
//   - gives back shards above ceil(S/W) one per tick (stop the shard first — finish in-flight
//     work, flush, acknowledge — then delete the lease with its revision), so joining workers get
//     work gradually, not in a stampede.
// Failure cases: a worker killed with SIGKILL leaves its leases to expire (≤ TTL) and the others
// pick them up at their next tick (≤ TTL/3 later). A worker partitioned from NATS stops its
// shards before their leases expire. A stale worker's writes to the feeds are also fenced by
// expected-last-subject-sequence, a second line of defence.
import type { Kv } from "@drivecast/bus";
import { WrongRevisionError } from "@drivecast/bus";
import { fnv1a32 } from "@drivecast/protocol";

export interface ShardHost {
  /** Start processing a shard this worker now owns. */
  start(shard: number): Promise<void>;
  /** Stop processing: finish in-flight work and acknowledge it. Must not throw. */
  stop(shard: number): Promise<void>;
}

export interface LeaserOptions {
  kv: Kv;
  workerId: string;
  shardCount: number;
  leaseTtlMs: number;
  host: ShardHost;
  now?: () => number;
  onError?: (error: unknown, context: string) => void;
}

export interface Leaser {
  /** Shards owned now. */
  owned(): number[];
  /** Run one round now (tests and start-up use it; a timer runs it every TTL/3). */
  tick(): Promise<void>;
  /** Stop every shard and give back the leases (graceful drain). */
  stop(): Promise<void>;
}

interface Held {
  revision: number;
  renewedAt: number;
}

const encoder = new TextEncoder();

export function shardLeaseKey(shard: number): string {
  return `shard.${shard}`;
}

export function createLeaser(options: LeaserOptions): Leaser {
  const { kv, workerId, shardCount, leaseTtlMs, host } = options;
  const now = options.now ?? Date.now;
  const interval = Math.max(50, Math.floor(leaseTtlMs / 3));
  const safeFor = leaseTtlMs - interval;
  const held = new Map<number, Held>();
  const value = encoder.encode(workerId);
  let timer: ReturnType<typeof setInterval> | null = null;
  let running: Promise<void> | null = null;
  let stopped = false;

  async function lose(shard: number, why: string): Promise<void> {
    held.delete(shard);
    options.onError?.(new Error(why), `shard ${shard} given up`);
    await host.stop(shard);
  }

  async function round(): Promise<void> {
    if (stopped) return;
    // Membership: our own heartbeat, then the live workers.
    try {
      await kv.put(`worker.${workerId}`, value);
    } catch (error) {
      options.onError?.(error, "worker heartbeat");
    }

    // Renew what we hold; stop anything we can no longer prove is ours.
    for (const [shard, h] of [...held]) {
      try {
        const revision = await kv.update(shardLeaseKey(shard), value, h.revision);
        // The watchdog may have given it up while we waited: never resurrect a stopped shard.
        if (held.get(shard) === h) held.set(shard, { revision, renewedAt: now() });
      } catch (error) {
        if (error instanceof WrongRevisionError) await lose(shard, "lease taken or expired");
        else if (now() - h.renewedAt >= safeFor) await lose(shard, "lease could not be renewed in time");
        else options.onError?.(error, `renewing shard ${shard}`);
      }
    }

    let keys: string[];
    try {
      keys = await kv.keys();
    } catch (error) {
      options.onError?.(error, "listing leases");
      return;
    }
    const workers = Math.max(1, keys.filter((k) => k.startsWith("worker.")).length);
    const target = Math.ceil(shardCount / workers);
    const taken = new Set(keys.filter((k) => k.startsWith("shard.")).map((k) => Number(k.slice(6))));

    if (held.size > target) {
      // Give back one shard per round: gradual rebalance.
      const shard = Math.max(...held.keys());
      const h = held.get(shard)!;
      held.delete(shard);
      await host.stop(shard);
      try {
        await kv.delete(shardLeaseKey(shard), h.revision);
      } catch (error) {
        options.onError?.(error, `releasing shard ${shard}`);
      }
      return;
    }

    // Acquire free shards, starting from a worker-specific offset so joiners spread out.
    const offset = fnv1a32(workerId) % shardCount;
    for (let i = 0; i < shardCount && held.size < target; i++) {
      const shard = (offset + i) % shardCount;
      if (held.has(shard) || taken.has(shard)) continue;
      try {
        const revision = await kv.create(shardLeaseKey(shard), value);
        held.set(shard, { revision, renewedAt: now() });
        await host.start(shard);
      } catch (error) {
        if (!(error instanceof WrongRevisionError)) options.onError?.(error, `acquiring shard ${shard}`);
      }
    }
  }

  function tick(): Promise<void> {
    // Rounds never overlap: a slow round delays the next one instead of racing it.
    if (!running) running = round().finally(() => (running = null));
    return running;
  }

  // The watchdog runs even while a round is stuck on a slow NATS call: a lease we cannot prove
  // is ours is given up on time, whatever the round is doing.
  function watchdog(): void {
    for (const [shard, h] of [...held]) {
      if (now() - h.renewedAt >= safeFor) void lose(shard, "lease could not be renewed in time");
    }
  }

  timer = setInterval(() => {
    watchdog();
    void tick();
  }, interval);
  timer.unref?.();

  return {
    owned: () => [...held.keys()].sort((a, b) => a - b),
    tick,
    async stop() {
      stopped = true;
      if (timer) clearInterval(timer);
      await running;
      for (const [shard, h] of [...held]) {
        held.delete(shard);
        await host.stop(shard);
        try {
          await kv.delete(shardLeaseKey(shard), h.revision);
        } catch {
          // It expires by itself.
        }
      }
      try {
        await kv.delete(`worker.${workerId}`);
      } catch {
        // It expires by itself.
      }
    },
  };
}

