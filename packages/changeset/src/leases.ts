// Shard leasing over KV `drive_shards`.
//
// Invariant: at every instant at most one worker processes a shard, and a shard whose owner
// died is processed again by a live worker about TTL + TTL/3 later (plus the host's grace, see
// "Handoff").
//
// Records. `shard.<n>` holds `{"owner","state":"held"|"released","clean"}`; `worker.<id>` is a
// worker's heartbeat, rewritten every round. Every change gives a key a new revision, and every
// write of a shard record is a compare-and-set on the revision the writer last saw.
//
// Expiry is decided by observation, not by the server's clock. Each worker watches the bucket
// and notes, with its own clock, when it first saw each record's current revision. A record
// that stayed at one revision for TTL (the holder did not renew it) may be taken over by a CAS
// on that revision, and only one contender wins. The holder renews every TTL/3 and considers the
// lease its own only until `sentAt + TTL - TTL/3`, where `sentAt` is when it SENT its last
// successful renewal. The renewal was written after it was sent, and every contender saw that
// revision after it was written, so the holder's deadline falls at least TTL/3 before any
// takeover. Only clock *rates* must agree (NTP slews, it does not jump rates).
// Why not the bucket's TTL: the server expires messages on its own timer (a lease would vanish at
// a time no worker can bound with its clock), and an expired key cannot tell "released cleanly"
// from "the holder died". The bucket still has a long TTL that garbage-collects the records of
// workers and shards nobody touched for `gcTtlMs`.
//
// Fencing. The host checks `lease.valid()` (a synchronous deadline check) before every side
// effect: fetching events, appending change sets, acknowledging. A process frozen past its
// deadline (GC pause, SIGSTOP, VM migration) therefore does nothing when it wakes up, even
// before its watchdog runs. A watch event showing our shard at a newer revision written by
// someone else stops it at once. A late append that was already on the wire is fenced again by
// expected-last-subject-sequence on the feed (feeds.ts).
//
// Handoff. A shard given back on purpose (rebalance, drain) is stopped first: in-flight events
// are finished, stored and acknowledged. If every delivery was acknowledged, the record says
// `clean: true` and the next owner starts at once. After an expiry, or a release that left
// deliveries unacknowledged, the previous owner's deliveries are redelivered only after the
// events' ack wait; the host waits that long before fetching, so they come back (redeliveries
// first, in sequence order) before any newer event of the same users. Without that wait a newer
// event could be stored first, and the older one skipped as covered by the watermark.
//
// Rebalance. W = workers whose heartbeat changed within TTL (this one included); the target is
// ceil(S/W). A worker above target gives back one shard per round (TTL/3), keeping it renewed
// until its host has stopped it; below target it acquires shards that are free, released, or
// expired. A new worker only announces itself in its first round, so that workers starting
// together see each other before they grab shards.
//
// Failure cases: SIGKILL (records stop changing: takeover after TTL); partition or KV errors
// (renewals fail: the holder stops at its deadline, before anyone can take over); a lost CAS
// (another worker owns it: stop at once); the host fails to start a shard (the lease is released
// at once, passing on its `clean` flag); a stale watch (a CAS on an old revision fails and the
// record is read again).
import type { Kv, KvWatcher } from "@drivecast/bus";
import { WrongRevisionError } from "@drivecast/bus";
import { fnv1a32 } from "@drivecast/protocol";

/** What a shard host gets when a lease is granted. */
export interface ShardLease {
  readonly shard: number;
  /** Revision of the lease record when granted (for logs and audits). */
  readonly revision: number;
  /**
   * The previous owner stopped cleanly (every delivery acknowledged) or there was none: start at
   * once. False after a takeover of an expired lease: wait the events' ack wait first.
   */
  readonly clean: boolean;
  /** True while this worker can prove it holds the lease. Check before every side effect. */
  valid(): boolean;
  /** True if the lease stays provably ours for at least `ms` more (before a long fetch). */
  validFor(ms: number): boolean;
}

export interface ShardHost {
  /** Start processing. Throwing releases the lease at once. */
  start(lease: ShardLease): Promise<void>;
  /**
   * Graceful stop (rebalance, drain): finish in-flight work, store and acknowledge it. Resolves
   * true when every delivery was acknowledged (the next owner may start at once).
   */
  release(shard: number): Promise<boolean>;
  /** The lease is lost or about to be: stop now, write nothing more, acknowledge nothing more. */
  abort(shard: number, reason: string): void;
}

export interface LeaserOptions {
  kv: Kv;
  workerId: string;
  shardCount: number;
  leaseTtlMs: number;
  host: ShardHost;
  /** Default Date.now. Rounds run on real timers; `now` decides every deadline. */
  now?: () => number;
  onError?: (error: unknown, context: string) => void;
  onEvent?: (event: LeaseEvent) => void;
}

export type LeaseEvent =
  | { type: "acquired"; shard: number; revision: number; clean: boolean; takeover: boolean }
  | { type: "released"; shard: number; clean: boolean }
  | { type: "lost"; shard: number; reason: string };

export interface Leaser {
  /** Shards owned now (including one being given back). */
  owned(): number[];
  /** Workers considered alive (this one included) at the last round. */
  liveWorkers(): number;
  /** The last round reached the bucket within a lease TTL (readiness). */
  healthy(): boolean;
  /** Run one round now (tests drive rounds with this; `start` runs them every TTL/3). */
  tick(): Promise<void>;
  /** Run rounds every TTL/3 until `stop`. */
  start(): void;
  /** Give back every shard gracefully (drain), then remove this worker's heartbeat. */
  stop(): Promise<void>;
}

export interface LeaseRecord {
  owner: string | null;
  state: "held" | "released";
  /** For released records: the releasing owner acknowledged everything it had received. */
  clean: boolean;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export function shardLeaseKey(shard: number): string {
  return `shard.${shard}`;
}

export function workerKey(workerId: string): string {
  return `worker.${workerId}`;
}

export function encodeLeaseRecord(record: LeaseRecord): Uint8Array {
  return encoder.encode(JSON.stringify(record));
}

/** The record of a `shard.<n>` value, or null when it is not one (written by something else). */
export function decodeLeaseRecord(value: Uint8Array): LeaseRecord | null {
  try {
    const r = JSON.parse(decoder.decode(value)) as Partial<LeaseRecord>;
    if (r.state !== "held" && r.state !== "released") return null;
    return {
      owner: typeof r.owner === "string" ? r.owner : null,
      state: r.state,
      clean: r.clean === true,
    };
  } catch {
    return null;
  }
}

/** Bucket TTL that only garbage-collects records untouched for long (see the design comment). */
export function leaseBucketTtlMs(leaseTtlMs: number, ackWaitMs: number): number {
  // A record that vanished must mean "no owner for so long that its deliveries are all due":
  // longer than a lease TTL plus the ack wait, with room to spare.
  return Math.max(10 * leaseTtlMs, 2 * (leaseTtlMs + ackWaitMs));
}

interface Observed {
  revision: number;
  /** Local time this revision was first seen. */
  seenAt: number;
  record: LeaseRecord | null;
}

interface Held {
  revision: number;
  /** When the last successful write of the record was SENT (the deadline counts from it). */
  renewedAt: number;
  /** Set while the host stops the shard to give it back; resolves once the record says so. */
  releasing: Promise<void> | null;
  /** Serializes this record's writes (renewals and the final release). */
  op: Promise<void>;
}

class LeaserImpl implements Leaser {
  private readonly kv: Kv;
  private readonly me: string;
  private readonly ttl: number;
  private readonly interval: number;
  /** A lease is ours until renewedAt + safeFor. */
  private readonly safeFor: number;
  private readonly now: () => number;
  private readonly view = new Map<string, Observed>();
  private readonly held = new Map<number, Held>();
  private readonly heldValue: Uint8Array;
  private watcher: KvWatcher | null = null;
  private watching: Promise<void> | null = null;
  private timer: ReturnType<typeof setInterval> | null = null;
  private running: Promise<void> | null = null;
  private renewing: Promise<void> | null = null;
  private stopped = false;
  private joined = false;
  private lastGoodRound = Number.NEGATIVE_INFINITY;
  private live = 1;

  constructor(private readonly o: LeaserOptions) {
    this.kv = o.kv;
    this.me = o.workerId;
    this.ttl = o.leaseTtlMs;
    this.interval = Math.max(10, Math.floor(o.leaseTtlMs / 3));
    this.safeFor = o.leaseTtlMs - this.interval;
    this.now = o.now ?? Date.now;
    this.heldValue = encodeLeaseRecord({ owner: this.me, state: "held", clean: false });
  }

  owned(): number[] {
    return [...this.held.keys()].sort((a, b) => a - b);
  }

  liveWorkers(): number {
    return this.live;
  }

  healthy(): boolean {
    return !this.stopped && this.now() - this.lastGoodRound < this.ttl;
  }

  start(): void {
    if (this.timer || this.stopped) return;
    this.timer = setInterval(() => void this.tick(), this.interval);
    this.timer.unref?.();
  }

  tick(): Promise<void> {
    // Rounds never overlap: a slow round delays the next one instead of racing it. Renewals
    // run apart from rounds, so a round busy acquiring shards (each one a consumer to bind,
    // slow on a loaded worker) never delays the renewal of the leases already held; and the
    // watchdog runs even while both are stuck on slow calls.
    this.watchdog();
    this.renewing ??= this.renewAll().finally(() => (this.renewing = null));
    this.running ??= this.round()
      .catch((error: unknown) => this.o.onError?.(error, "lease round"))
      .finally(() => (this.running = null));
    return Promise.all([this.renewing, this.running]).then(() => undefined);
  }

  private async renewAll(): Promise<void> {
    await Promise.all([...this.held].map(([shard, h]) => this.renew(shard, h)));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.running;
    await this.renewing;
    // Keep renewing what is being given back, or a slow drain would lose the leases midway.
    const keepAlive = setInterval(() => {
      this.watchdog();
      void Promise.all([...this.held].map(([shard, h]) => this.renew(shard, h)));
    }, this.interval);
    keepAlive.unref?.();
    try {
      await Promise.all([...this.held.entries()].map(([shard, h]) => this.release(shard, h)));
    } finally {
      clearInterval(keepAlive);
    }
    this.watcher?.stop();
    try {
      await this.kv.delete(workerKey(this.me));
    } catch {
      // Peers stop counting it after a TTL, and the bucket's TTL removes it.
    }
  }

  // --- observation --------------------------------------------------------------------------

  private async ensureWatch(): Promise<void> {
    if (this.watcher) return;
    this.watching ??= (async () => {
      let ready!: () => void;
      const initial = new Promise<void>((r) => (ready = r));
      this.watcher = await this.kv.watch(
        (e) => this.observe(e.key, e.value, e.revision),
        () => ready(),
      );
      await initial;
    })().finally(() => (this.watching = null));
    await this.watching;
  }

  private observe(key: string, value: Uint8Array | null, revision: number): void {
    if (value === null) {
      this.view.delete(key);
      return;
    }
    const previous = this.view.get(key);
    if (previous !== undefined && previous.revision >= revision) return;
    const record = key.startsWith("shard.") ? decodeLeaseRecord(value) : null;
    this.view.set(key, { revision, seenAt: this.now(), record });
    if (record === null) return;
    // Someone else wrote a shard we hold: we lost it (CAS guarantees they saw our revision).
    const shard = Number(key.slice(6));
    const h = this.held.get(shard);
    if (h !== undefined && revision > h.revision && record.owner !== this.me) {
      this.lose(shard, h, `lease taken over by ${record.owner ?? "nobody"} (revision ${revision})`);
    }
  }

  // --- rounds -------------------------------------------------------------------------------

  private valid(h: Held, marginMs = 0): boolean {
    return this.now() + marginMs < h.renewedAt + this.safeFor;
  }

  private watchdog(): void {
    for (const [shard, h] of [...this.held]) {
      if (!this.valid(h)) this.lose(shard, h, "lease could not be renewed in time");
    }
  }

  private lose(shard: number, h: Held, reason: string): void {
    if (this.held.get(shard) !== h) return;
    this.held.delete(shard);
    this.o.onEvent?.({ type: "lost", shard, reason });
    try {
      this.o.host.abort(shard, reason);
    } catch (error) {
      this.o.onError?.(error, `aborting shard ${shard}`);
    }
  }

  private async round(): Promise<void> {
    if (this.stopped) return;
    const startedAt = this.now();
    let heartbeat = false;
    try {
      await this.ensureWatch();
      await this.kv.put(workerKey(this.me), encoder.encode(String(startedAt)));
      heartbeat = true;
    } catch (error) {
      this.o.onError?.(error, "lease heartbeat");
    }
    if (!heartbeat || this.stopped) return;
    this.lastGoodRound = startedAt;
    if (!this.joined) {
      // First round: announce only, so that peers starting together count each other.
      this.joined = true;
      return;
    }

    const now = this.now();
    let live = 1;
    for (const [key, o] of this.view) {
      if (!key.startsWith("worker.") || key === workerKey(this.me)) continue;
      if (now - o.seenAt < this.ttl) live++;
      else if (now - o.seenAt > 2 * this.ttl) {
        // Long dead: tidy up (CAS, so a worker that came back keeps its fresh heartbeat).
        this.kv.delete(key, o.revision).catch(() => undefined);
      }
    }
    this.live = live;
    const target = Math.ceil(this.o.shardCount / live);
    let active = 0;
    for (const h of this.held.values()) if (h.releasing === null) active++;

    if (active > target) {
      // Give back one shard per round: gradual rebalance.
      let pick = -1;
      for (const [shard, h] of this.held) if (h.releasing === null && shard > pick) pick = shard;
      void this.release(pick, this.held.get(pick)!);
      return;
    }

    const count = this.o.shardCount;
    const offset = fnv1a32(this.me) % count;
    // Acquire within half a round, so that new leases get their first renewal in time too; the
    // next round goes on.
    const budgetEnd = startedAt + this.interval / 2;
    for (let i = 0; i < count && active < target && !this.stopped; i++) {
      if (this.now() > budgetEnd) break;
      const shard = (offset + i) % count;
      if (this.held.has(shard)) continue;
      const key = shardLeaseKey(shard);
      const seen = this.view.get(key);
      let revision = 0;
      let clean = true;
      let takeover = false;
      if (seen !== undefined) {
        const r = seen.record;
        if (r === null) continue; // not a lease record: leave it alone
        if (r.state === "released") {
          clean = r.clean;
        } else if (this.now() - seen.seenAt >= this.ttl) {
          clean = false;
          takeover = true;
        } else {
          continue; // held and alive
        }
        revision = seen.revision;
      }
      if (await this.acquire(shard, key, revision, clean, takeover)) active++;
    }
  }

  private async renew(shard: number, h: Held): Promise<void> {
    const run = async (): Promise<void> => {
      if (this.held.get(shard) !== h) return;
      const sentAt = this.now();
      try {
        const revision = await this.kv.update(shardLeaseKey(shard), this.heldValue, h.revision);
        // The watchdog may have given it up while we waited: never resurrect a stopped shard.
        if (this.held.get(shard) !== h) return;
        h.revision = revision;
        h.renewedAt = sentAt;
      } catch (error) {
        if (this.held.get(shard) !== h) return;
        if (error instanceof WrongRevisionError) this.lose(shard, h, "lease taken over");
        else this.o.onError?.(error, `renewing the lease of shard ${shard}`);
      }
    };
    h.op = h.op.then(run);
    await h.op;
  }

  private async acquire(
    shard: number,
    key: string,
    revision: number,
    clean: boolean,
    takeover: boolean,
  ): Promise<boolean> {
    const sentAt = this.now();
    let newRevision: number;
    try {
      newRevision =
        revision === 0
          ? await this.kv.create(key, this.heldValue)
          : await this.kv.update(key, this.heldValue, revision);
    } catch (error) {
      if (error instanceof WrongRevisionError) {
        await this.refresh(key);
        return false;
      }
      this.o.onError?.(error, `acquiring shard ${shard}`);
      return false;
    }
    const h: Held = {
      revision: newRevision,
      renewedAt: sentAt,
      releasing: null,
      op: Promise.resolve(),
    };
    this.held.set(shard, h);
    const lease: ShardLease = {
      shard,
      revision: newRevision,
      clean,
      valid: () => this.held.get(shard) === h && this.valid(h),
      validFor: (ms) => this.held.get(shard) === h && this.valid(h, ms),
    };
    this.o.onEvent?.({ type: "acquired", shard, revision: newRevision, clean, takeover });
    try {
      await this.o.host.start(lease);
      return true;
    } catch (error) {
      this.o.onError?.(error, `starting shard ${shard}; releasing its lease`);
      // Nothing was processed: pass the previous owner's `clean` on.
      this.held.delete(shard);
      h.op = h.op.then(() => this.writeReleased(shard, h, clean));
      await h.op;
      return false;
    }
  }

  /** Reads one record again after a lost CAS (the watch may lag). */
  private async refresh(key: string): Promise<void> {
    try {
      const e = await this.kv.get(key);
      if (e === null) this.view.delete(key);
      else this.observe(key, e.value, e.revision);
    } catch {
      // The next round sees it through the watch.
    }
  }

  /** Stops the shard gracefully, then marks its record released (idempotent per lease). */
  private release(shard: number, h: Held): Promise<void> {
    h.releasing ??= (async () => {
      let clean = false;
      try {
        clean = await this.o.host.release(shard);
      } catch (error) {
        this.o.onError?.(error, `stopping shard ${shard}`);
      }
      const write = async (): Promise<void> => {
        if (this.held.get(shard) !== h) return; // lost meanwhile: not ours to write
        this.held.delete(shard);
        await this.writeReleased(shard, h, clean);
        this.o.onEvent?.({ type: "released", shard, clean });
      };
      h.op = h.op.then(write);
      await h.op;
    })();
    return h.releasing;
  }

  private async writeReleased(shard: number, h: Held, clean: boolean): Promise<void> {
    try {
      await this.kv.update(
        shardLeaseKey(shard),
        encodeLeaseRecord({ owner: null, state: "released", clean }),
        h.revision,
      );
    } catch (error) {
      // Lost meanwhile (fine), or unreachable: it expires and is taken over after a TTL.
      if (!(error instanceof WrongRevisionError)) {
        this.o.onError?.(error, `releasing the lease of shard ${shard}`);
      }
    }
  }
}

export function createLeaser(options: LeaserOptions): Leaser {
  return new LeaserImpl(options);
}
