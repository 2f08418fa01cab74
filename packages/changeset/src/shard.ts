// One leased shard: a durable pull consumer on `drive.ev.<shard>` feeding the shard's actors.
//
// Invariant: a DocEvent is acknowledged only when every user it concerns has its effect in a
// stored change set (or it means nothing to them). The consumer is durable and named for the
// shard, so a takeover resumes at the first unacknowledged event: nothing lost. Events already
// covered by stored sets are skipped by the actors' watermark: nothing duplicated.
//
// Order across owners: the watermark is sound only if a user's events are handled in sequence
// order. Within one owner the actor's mailbox guarantees it (failed I/O is retried in place).
// Across owners, the previous owner's unacknowledged deliveries come back only after the ack
// wait; so after an unclean takeover (or a rewind, below) the shard waits `graceMs` (ack wait +
// margin) before its first fetch. By then they are all due, and redeliveries are served before
// new messages, in sequence order. While a shard runs it keeps its deliveries alive with
// `working()` every ackWait/3, and only while its lease is valid, so after it stops they all
// become due within one ack wait.
//
// Redeliveries to the same owner (a delivery that outlived its ack wait despite the keep-alive,
// an ack that was lost) are recognised: a sequence already in flight is not dispatched twice,
// and the actors skip sequences they already handled.
//
// Rewind: if an actor finds that another writer stored sets covering part of its pending set
// (a stale owner's late append), its pending set can no longer be cut exactly. The shard then
// drops every actor, naks everything in flight in sequence order, and starts again after the
// grace: the actors re-read their feed heads and skip what is stored.
//
// Stops: `release` (rebalance, drain) stops fetching, flushes every actor, waits for the acks,
// and naks in sequence order what could not be finished in time; it reports whether everything
// was acknowledged (a clean handoff). `abort` (lease lost) stops at once and writes nothing.
import type { Consumer, Delivery } from "@drivecast/bus";
import type { DocEvent } from "@drivecast/protocol";
import { groupOf } from "./compute/index.js";
import { createDocEventDecoder } from "./event-decoder.js";
import { UserActor, type ActorEnv, type Timers, type Tracker } from "./actor.js";
import type { ShardLease } from "./leases.js";

/** One for every shard of the process: they share ancestors (the repository's top folders). */
const decodeEvent = createDocEventDecoder();

export type EventOutcome =
  /** Acknowledged; its effect is in at least one stored change set. */
  | "changed"
  /** Acknowledged; it meant nothing to the shard's users (or was stored before). */
  | "unchanged"
  /** Not a DocEvent: terminated, never redelivered. */
  | "malformed"
  /** The computation failed for a user (a bug): that user's effect skipped. */
  | "failed";

export interface ShardHooks {
  event(outcome: EventOutcome): void;
  /** Processing of the shard began (after any grace) or ended. */
  processing(state: "started" | "stopped", detail: Record<string, unknown>): void;
  actors(delta: number, kind: "activated" | "passivated"): void;
  lag(seconds: number): void;
  inflight(count: number): void;
  /** A group changed: drop cached principals holding it (and of `users`). */
  groupChanged(group: string, users: readonly string[]): void;
  error(error: unknown, context: string): void;
}

export interface ShardOptions {
  lease: ShardLease;
  consumer: Consumer;
  /** Everything but what the shard provides itself (lease validity, conflicts). */
  actorEnv: Omit<ActorEnv, "valid" | "onConflict">;
  batchSize: number;
  /** Longest wait of one fetch. Kept well under the lease's safety margin (see run()). */
  fetchWaitMs: number;
  ackWaitMs: number;
  /** Wait before the first fetch after an unclean takeover or a rewind. */
  graceMs: number;
  maxAckPending: number;
  /** Passivate actors idle this long. */
  idleMs: number;
  /** Most actors this shard may keep (the worker's cap shared among its shards). */
  maxActors(): number;
  /** How long a graceful release waits for in-flight work before nak'ing the rest. */
  releaseTimeoutMs: number;
  now(): number;
  timers: Timers;
  hooks: ShardHooks;
}

interface InFlight {
  delivery: Delivery;
  remaining: number;
  contributed: boolean;
  /** When it was delivered or last kept alive (local clock). */
  touchedAt: number;
}

export class ShardProcessor {
  readonly shard: number;
  /** User → actor, least recently used first. */
  readonly actors = new Map<string, UserActor>();
  private readonly inflight = new Map<number, InFlight>();
  private readonly env: ActorEnv;
  /** Fetched but not dispatched when the loop stopped (nak'd in order on release). */
  private undispatched: Delivery[] = [];
  private running = true;
  private aborted = false;
  /** Released or aborted: never restarts. */
  private stopping = false;
  /**
   * The grace period is over (or there was none): every delivery of a previous owner is due,
   * so a release from now on hands over nothing that the next owner must wait for.
   */
  private pastGrace = false;
  private rewinding = false;
  private loop: Promise<void>;
  private progress: (() => void) | null = null;
  private sleeper: { timer: unknown; resolve: () => void } | null = null;
  private readonly keepAlive: ReturnType<typeof setInterval>;
  private lastSweep: number;

  constructor(private readonly o: ShardOptions) {
    this.shard = o.lease.shard;
    this.env = {
      ...o.actorEnv,
      valid: () => !this.aborted && o.lease.valid(),
      onConflict: (user) => this.rewind(user),
    };
    this.lastSweep = o.now();
    // Deliveries waiting for a flush stay unacknowledged for up to the flush window: keep them
    // from being redelivered, but only while we can prove we own the shard.
    this.keepAlive = setInterval(() => this.touchInflight(), Math.max(50, o.ackWaitMs / 6));
    this.keepAlive.unref?.();
    this.loop = this.run(o.lease.clean ? 0 : o.graceMs, "start");
  }

  /** Deliveries not yet acknowledged. */
  inflightCount(): number {
    return this.inflight.size;
  }

  /**
   * Keeps alive the deliveries held for more than a third of the ack wait (each `working()` is
   * a message to the server: at nominal windows most deliveries are acknowledged before, and
   * touching every one each sweep cost more than the acknowledgements themselves). Swept every
   * sixth, so a delivery is touched before half its ack wait: the other half absorbs event-loop
   * lag.
   */
  private touchInflight(): void {
    if (this.aborted || !this.o.lease.valid()) return;
    const now = this.o.now();
    const old = now - this.o.ackWaitMs / 3;
    for (const f of this.inflight.values()) {
      if (f.touchedAt > old) continue;
      f.touchedAt = now;
      try {
        f.delivery.working();
      } catch (error) {
        // Disconnected: the delivery may be redelivered to us, and is recognised as in hand.
        this.o.hooks.error(error, `keeping seq ${f.delivery.seq} of shard ${this.shard} alive`);
      }
    }
  }

  // --- the fetch loop -------------------------------------------------------------------------

  private async run(graceMs: number, why: string): Promise<void> {
    if (graceMs > 0) await this.sleep(graceMs);
    if (!this.running) return;
    this.pastGrace = true;
    this.o.hooks.processing("started", { why, graceMs, revision: this.o.lease.revision });
    while (this.running) {
      // A fetch must end before the lease could be taken over: messages delivered to us after
      // our deadline would be redelivered later than the next owner's grace allows for.
      if (!this.o.lease.validFor(this.o.fetchWaitMs)) {
        await this.sleep(Math.min(100, this.o.fetchWaitMs));
        continue;
      }
      const room = Math.min(this.o.batchSize, this.o.maxAckPending - this.inflight.size);
      if (room <= 0) {
        // Every slot waits for a flush: flush now rather than let the windows stall intake.
        this.pressureFlush();
        await this.waitProgress(this.o.fetchWaitMs);
        continue;
      }
      let batch: Delivery[];
      try {
        batch = await this.o.consumer.fetch(room, this.o.fetchWaitMs);
      } catch (error) {
        if (!this.running) break;
        this.o.hooks.error(error, `fetching events of shard ${this.shard}`);
        await this.sleep(1000);
        continue;
      }
      // Our deadline may have passed by our own (conservative) clock while a renewal is still
      // on its way back. Wait: a late success proves nobody took the shard, and skipping the
      // batch would let newer events overtake it. If the lease is lost, we are aborted.
      while (this.running && !this.o.lease.valid()) await this.sleep(50);
      if (!this.running) {
        // Not dispatched: a graceful release naks them (in order) with the rest; otherwise
        // they come back to the next owner after the ack wait.
        this.undispatched.push(...batch);
        break;
      }
      const now = this.o.now();
      this.o.hooks.lag(
        batch.length > 0 ? Math.max(0, (now - batch[batch.length - 1]!.time) / 1000) : 0,
      );
      for (const d of batch) {
        try {
          this.dispatch(d);
        } catch (error) {
          // Only settling a malformed message can throw here (disconnected): it comes back.
          this.o.hooks.error(error, `dispatching seq ${d.seq} of shard ${this.shard}`);
        }
      }
      this.o.hooks.inflight(this.inflight.size);
      if (this.inflight.size >= this.o.maxAckPending * 0.8) this.pressureFlush();
      this.housekeeping(now);
      // A fetch that finds messages waiting resolves without any I/O (always so on the memory
      // bus): without this, a backlog keeps the loop in microtasks and starves the timers,
      // lease renewals first. Measured: a worker lost its own leases on a 60,000-event backlog.
      await new Promise<void>((r) => setImmediate(r));
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = this.o.timers.setTimeout(() => {
        this.sleeper = null;
        resolve();
      }, ms);
      this.sleeper = { timer, resolve };
    });
  }

  /** Cuts a grace or back-off sleep short (stop, abort). */
  private wake(): void {
    const s = this.sleeper;
    if (s === null) return;
    this.sleeper = null;
    this.o.timers.clearTimeout(s.timer);
    s.resolve();
  }

  private waitProgress(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = this.o.timers.setTimeout(() => {
        this.progress = null;
        resolve();
      }, ms);
      this.progress = () => {
        this.o.timers.clearTimeout(timer);
        this.progress = null;
        resolve();
      };
    });
  }

  private pressureFlush(): void {
    for (const a of this.actors.values()) if (a.hasPending()) void a.flushNow("pressure");
  }

  private housekeeping(now: number): void {
    const cap = this.o.maxActors();
    if (this.actors.size > cap) {
      // Least recently used first; actors with work in hand stay.
      for (const [user, a] of this.actors) {
        if (this.actors.size <= cap) break;
        if (a.isIdle()) this.passivate(user, a);
      }
    }
    if (now - this.lastSweep < Math.min(this.o.idleMs / 2, 10_000)) return;
    this.lastSweep = now;
    const cutoff = now - this.o.idleMs;
    for (const [user, a] of this.actors) {
      if (a.lastActivity >= cutoff) break; // LRU order: the rest are more recent
      if (a.isIdle() || a.state === "stopped") this.passivate(user, a);
    }
  }

  private passivate(user: string, a: UserActor): void {
    this.actors.delete(user);
    a.abort(); // idle: nothing pending to flush
    this.o.hooks.actors(-1, "passivated");
  }

  // --- dispatch -------------------------------------------------------------------------------

  private actor(user: string): UserActor {
    let a = this.actors.get(user);
    if (a !== undefined && a.state !== "stopped") {
      // Move to the most recently used end.
      this.actors.delete(user);
      this.actors.set(user, a);
      return a;
    }
    if (a !== undefined) this.actors.delete(user);
    a = new UserActor(user, this.env);
    this.actors.set(user, a);
    this.o.hooks.actors(1, "activated");
    return a;
  }

  private dispatch(delivery: Delivery): void {
    const known = this.inflight.get(delivery.seq);
    if (known !== undefined) {
      // Redelivered while we still work on it: keep one copy, acknowledge the newest.
      known.delivery = delivery;
      known.touchedAt = this.o.now();
      return;
    }
    let event: DocEvent;
    try {
      event = decodeEvent(delivery.data);
      if (typeof event.eventId !== "string" || !Array.isArray(event.users)) {
        throw new Error("not a DocEvent (eventId or users missing)");
      }
    } catch (error) {
      // Not ours to fix by retrying: keep it out of the way, loudly.
      this.o.hooks.error(error, `undecodable DocEvent at seq ${delivery.seq}; terminated`);
      this.o.hooks.event("malformed");
      delivery.term();
      return;
    }
    const users = new Set(event.users);
    const group = groupOf(event);
    if (group !== null) {
      this.o.hooks.groupChanged(group, event.users);
      // Users whose cached groups held it may have left it: they re-check too.
      for (const [u, a] of this.actors) if (a.mayHaveGroup(group)) users.add(u);
    }
    if (users.size === 0) {
      this.settle(delivery, false);
      return;
    }
    const f: InFlight = {
      delivery,
      remaining: users.size,
      contributed: false,
      touchedAt: this.o.now(),
    };
    this.inflight.set(delivery.seq, f);
    const tracker: Tracker = {
      done: (contributed) => {
        if (contributed) f.contributed = true;
        if (--f.remaining > 0) return;
        if (this.inflight.get(delivery.seq) === f) this.inflight.delete(delivery.seq);
        this.settle(f.delivery, f.contributed);
        this.progress?.();
      },
    };
    for (const u of users) this.actor(u).tell(event, delivery.seq, tracker);
  }

  private settle(delivery: Delivery, contributed: boolean): void {
    // Acknowledging stored work is harmless even once fenced, but a fenced worker does
    // nothing: the next owner skips it through the watermark (and counts it then).
    if (this.aborted || !this.o.lease.valid()) return;
    this.o.hooks.event(contributed ? "changed" : "unchanged");
    // No confirmation awaited (one publish per event, not a request): a lost ack brings the
    // event back after the ack wait, and the actors recognise it as handled (watermark).
    delivery.ackNoWait();
  }

  // --- rewind and stops -----------------------------------------------------------------------

  private rewind(user: string): void {
    if (this.rewinding || this.stopping) return;
    this.rewinding = true;
    this.o.hooks.processing("stopped", { why: "rewind", user });
    void (async () => {
      this.running = false;
      this.wake();
      await this.loop;
      this.dropActors();
      this.nakInOrder();
      if (this.stopping) return;
      this.rewinding = false;
      this.pastGrace = false;
      this.running = true;
      this.loop = this.run(this.o.graceMs, "rewind");
    })();
  }

  private dropActors(): void {
    for (const a of this.actors.values()) a.abort();
    if (this.actors.size > 0) this.o.hooks.actors(-this.actors.size, "passivated");
    this.actors.clear();
  }

  /** Naks in-flight and undispatched deliveries, lowest sequence first; returns how many. */
  private nakInOrder(): number {
    const all = [...[...this.inflight.values()].map((f) => f.delivery), ...this.undispatched];
    this.inflight.clear();
    this.undispatched = [];
    this.o.hooks.inflight(0);
    if (this.aborted || !this.o.lease.valid()) return all.length;
    all.sort((a, b) => a.seq - b.seq);
    for (const d of all) {
      try {
        d.nak();
      } catch {
        // Disconnected: it is redelivered after the ack wait anyway.
      }
    }
    return all.length;
  }

  /** Graceful stop; resolves true when every delivery was acknowledged. */
  async release(): Promise<boolean> {
    if (this.stopping) return false;
    this.stopping = true;
    this.running = false;
    this.wake();
    await this.loop;
    const drained = (async () => {
      await Promise.all([...this.actors.values()].map((a) => a.flushNow("stop")));
      while (this.inflight.size > 0 && !this.aborted) await this.waitProgress(100);
    })();
    let timer: unknown;
    const timedOut = new Promise<void>((r) => {
      timer = this.o.timers.setTimeout(r, this.o.releaseTimeoutMs);
    });
    await Promise.race([drained, timedOut]);
    this.o.timers.clearTimeout(timer);
    const left = this.nakInOrder();
    this.dropActors();
    this.finish();
    // Released during a grace period: the previous owner's deliveries may not be due yet, so
    // the next owner must wait for them too.
    const clean = left === 0 && !this.aborted && this.pastGrace;
    this.o.hooks.processing("stopped", { why: "released", left, clean });
    return clean;
  }

  /** Lease lost: stop at once; nothing more is written or acknowledged. */
  abort(reason: string): void {
    if (this.aborted) return;
    this.aborted = true;
    this.stopping = true;
    this.running = false;
    this.wake();
    this.progress?.();
    this.dropActors();
    this.inflight.clear();
    this.undispatched = [];
    this.o.hooks.inflight(0);
    this.finish();
    this.o.hooks.processing("stopped", { why: "aborted", reason });
  }

  private finish(): void {
    clearInterval(this.keepAlive);
    void this.o.consumer.close().catch(() => undefined);
  }
}
