// A user's virtual actor: turns the DocEvents of its shard into that user's change sets.
//
// Lifecycle: activating → active → stopped. Activation (reading the feed head and the user's
// groups and roots) starts in the constructor, memoised as a promise before its first await, so
// two events for one user never activate it twice. One mailbox: events are handled one at a
// time, in shard order, so a user's changes keep their order. Pending changes are coalesced per
// document and flushed as one change set after a quiet period or a maximum delay, whichever
// comes first (both widened under overload by `windowScale`).
//
// Acknowledgement discipline: an event's tracker is released for this user only once the set
// holding its change is stored, or at once when the event means nothing to this user. Failed
// I/O (Nuxeo, NATS) is retried in place, never skipped: the mailbox waits, so no later event of
// the user can be stored ahead of an earlier one. That is what makes the watermark sound: after
// a crash the next actor skips the events at or below the stored `eventSeq`, and every event
// below it is known to be in a stored set (or to mean nothing to the user).
//
// Fencing: before each append the actor checks that the worker still holds the shard's lease
// (`env.valid()`). While it cannot prove it (a renewal may still be on its way back) the actor
// waits, storing and releasing nothing; if the lease is lost the shard stops the actor, and the
// events are redelivered to the next owner.
import type { DocEvent, FeedEntry, FileSystemItemChange } from "@drivecast/protocol";
import { nextPosition } from "@drivecast/protocol";
import {
  buildSummary,
  computeEvent,
  createPendingChanges,
  EventKind,
  eventKind,
  Reevaluation,
  reevaluateRoots,
  userContext,
  withRoots,
  type PendingChanges,
  type RootState,
  type UserContext,
  type UserRoot,
} from "./compute/index.js";
import { EMPTY_HEAD, type FeedHead, type FeedWriter } from "./feeds.js";

/** Released once per (event, user) when the event's effect for that user is durable. */
export interface Tracker {
  /** `contributed`: the event's effect is in a change set just stored (else it had none). */
  done(contributed: boolean): void;
}

export interface Principal {
  groups: string[];
  isAdministrator: boolean;
}

/** Timers, injected so that tests drive debouncing with a fake clock. */
export interface Timers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const realTimers: Timers = {
  setTimeout: (fn, ms) => {
    const t = setTimeout(fn, ms);
    t.unref?.();
    return t;
  },
  clearTimeout: (h) => clearTimeout(h as ReturnType<typeof setTimeout>),
};

export type FlushReason = "quiet" | "maxDelay" | "pressure" | "stop";

export interface FlushInfo {
  reason: FlushReason;
  changes: readonly FileSystemItemChange[];
  hasTooManyChanges: boolean;
  /** Events whose effects this set holds. */
  events: number;
}

export interface ActorEnv {
  shard: number;
  feeds: FeedWriter;
  /** The user's groups and admin flag (cached by the worker; `fresh` bypasses the cache). */
  principal(user: string, fresh?: boolean): Promise<Principal>;
  /** The user's roots as the root index has them (read on activation). */
  roots(user: string): UserRoot[];
  /** Roots' state now (snapshot + ancestors), to re-evaluate them after an ancestor changed. */
  rootStates(roots: readonly UserRoot[]): Promise<RootState[]>;
  quietMs: number;
  maxDelayMs: number;
  /** Cap of a widened window. */
  maxWindowMs: number;
  changeLimit: number;
  /** ≥ 1: widens the flush windows under overload. */
  windowScale(): number;
  now(): number;
  timers: Timers;
  /** The worker still holds the shard's lease: side effects are allowed. */
  valid(): boolean;
  /** Delay before retry number `attempt` (1, 2, …) of failed I/O. */
  retryDelayMs(attempt: number): number;
  onFlush(info: FlushInfo): void;
  /** Another writer stored sets covering part of ours: the shard must rewind (see shard.ts). */
  onConflict(user: string): void;
  /** A bug-class failure computing an event for this user: logged, the event is skipped. */
  onComputeError(error: unknown, event: DocEvent): void;
  onError(error: unknown, context: string): void;
}

type State = "activating" | "active" | "stopped";

/** Thrown inside the mailbox when the actor stopped while waiting: unwinds quietly. */
class Stopped extends Error {
  override name = "Stopped";
}

export class UserActor {
  state: State = "activating";
  lastActivity: number;
  private readonly activation: Promise<void>;
  private tail: Promise<void>;
  /** Messages told but not handled yet. */
  private queued = 0;
  private ctx: UserContext | null = null;
  private head: FeedHead = EMPTY_HEAD;
  /** Highest event sequence whose effect is stored or pending (redelivery dedupe). */
  private processedSeq = 0;
  private pending: PendingChanges;
  private trackers: Tracker[] = [];
  private pendingSeq = 0;
  private firstPendingAt = 0;
  private dueAt = 0;
  /** `dueAt` is the maximum delay (not the quiet period): for the flush reason metric. */
  private dueIsMax = false;
  private timer: unknown = null;
  private flushQueued = false;

  constructor(
    readonly user: string,
    private readonly env: ActorEnv,
  ) {
    this.lastActivity = env.now();
    this.pending = createPendingChanges({ limit: env.changeLimit });
    // Memoised before any await: every message waits on this one activation.
    this.activation = this.activate();
    this.tail = this.activation;
  }

  /** The user's principals may include `group` (unknown while activating: yes). */
  mayHaveGroup(group: string): boolean {
    return this.ctx === null || this.ctx.principals.names.has(group);
  }

  private stopped(): boolean {
    return this.state === "stopped";
  }

  /** Nothing queued, nothing pending: may be passivated. */
  isIdle(): boolean {
    return this.state === "active" && this.queued === 0 && this.trackers.length === 0;
  }

  hasPending(): boolean {
    return this.trackers.length > 0;
  }

  private async activate(): Promise<void> {
    try {
      const [head, principal] = await Promise.all([
        this.io("reading the feed head", () => this.env.feeds.head(this.env.shard, this.user)),
        this.io("reading the user's groups", () => this.env.principal(this.user)),
      ]);
      const roots = await this.io("reading the user's roots", async () =>
        this.env.roots(this.user),
      );
      this.head = head;
      this.processedSeq = head.eventSeq;
      this.ctx = userContext({ user: this.user, ...principal, roots });
      if (this.state === "activating") this.state = "active";
    } catch {
      // Only Stopped reaches here (everything else is retried): the shard is going away.
      this.state = "stopped";
    }
  }

  /** Runs `fn` until it succeeds, backing off; throws Stopped once the actor is stopped. */
  private async io<T>(what: string, fn: () => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      if (this.stopped()) throw new Stopped();
      try {
        return await fn();
      } catch (error) {
        if (this.stopped()) throw new Stopped();
        this.env.onError(error, `${what} for ${this.user} (attempt ${attempt}); retrying`);
        await new Promise<void>((r) =>
          this.env.timers.setTimeout(r, this.env.retryDelayMs(attempt)),
        );
      }
    }
  }

  /** Queues an event; `tracker` is released when its effect for this user is durable. */
  tell(event: DocEvent, eventSeq: number, tracker: Tracker): void {
    this.lastActivity = this.env.now();
    this.queued++;
    this.tail = this.tail.then(() => this.handle(event, eventSeq, tracker));
  }

  private async handle(event: DocEvent, seq: number, tracker: Tracker): Promise<void> {
    try {
      if (this.state !== "active" || this.ctx === null) return; // stopped: never released
      if (seq <= this.head.eventSeq) {
        tracker.done(false); // already in a stored set
        return;
      }
      if (seq <= this.processedSeq) {
        // A redelivery of an event handled since the last flush: its effect is pending (or
        // it had none): release it with the pending set.
        if (this.trackers.length > 0) this.trackers.push(tracker);
        else tracker.done(false);
        return;
      }
      let changes: FileSystemItemChange[];
      try {
        changes = await this.compute(this.ctx, event);
      } catch (error) {
        if (error instanceof Stopped) return;
        // Not I/O (that is retried inside): a bug or an event the computation cannot read.
        // Retrying cannot help and would block the user forever: skip it, loudly.
        this.env.onComputeError(error, event);
        changes = [];
      }
      this.processedSeq = seq;
      if (changes.length === 0) {
        tracker.done(false);
        return;
      }
      for (const c of changes) this.pending.add(c);
      this.trackers.push(tracker);
      this.pendingSeq = seq;
      this.schedule();
    } catch (error) {
      this.env.onError(error, `handling an event for ${this.user}`);
    } finally {
      this.queued--;
    }
  }

  private async compute(ctx: UserContext, event: DocEvent): Promise<FileSystemItemChange[]> {
    if (eventKind(event) === EventKind.Group) {
      // The user's groups may have changed: re-read them; every root's visibility may have
      // changed too (spec §5, group row). Not skipped when the groups read equal the cached
      // ones: groups are read from Nuxeo as they are now, so the cache may already hold this
      // very change (read at an earlier event or on activation, after Nuxeo applied it) while
      // the change sets and scans the devices have were computed with the groups before it.
      const principal = await this.io("reading the user's groups", () =>
        this.env.principal(this.user, true),
      );
      const next = userContext({ user: this.user, ...principal, roots: ctx.roots });
      this.ctx = next;
      if (next.roots.length === 0) return [];
      const states = await this.io("reading root states", () => this.env.rootStates(next.roots));
      return reevaluateRoots(next, states, Reevaluation.Group, event.eventDate);
    }
    const effects = computeEvent(ctx, event);
    const changes = effects.changes;
    const after = effects.roots ? withRoots(ctx, effects.roots) : ctx;
    if (effects.reevaluate) {
      const { roots, reason } = effects.reevaluate;
      const states = await this.io("reading root states", () => this.env.rootStates(roots));
      changes.push(...reevaluateRoots(after, states, reason, event.eventDate));
    }
    this.ctx = after;
    return changes;
  }

  // --- debounce -------------------------------------------------------------------------------

  private schedule(): void {
    const now = this.env.now();
    if (this.firstPendingAt === 0) this.firstPendingAt = now;
    const scale = this.env.windowScale();
    const quiet = Math.min(this.env.quietMs * scale, this.env.maxWindowMs);
    const maxDelay = Math.min(this.env.maxDelayMs * scale, this.env.maxWindowMs);
    const maxDue = this.firstPendingAt + maxDelay;
    this.dueIsMax = maxDue <= now + quiet;
    this.dueAt = this.dueIsMax ? maxDue : now + quiet;
    // One timer per pending set, re-armed only when it fires early: no clear/set per event.
    if (this.timer === null) this.arm(now);
  }

  private arm(now: number): void {
    this.timer = this.env.timers.setTimeout(() => this.onTimer(), Math.max(0, this.dueAt - now));
  }

  private onTimer(): void {
    this.timer = null;
    if (this.trackers.length === 0) return;
    const now = this.env.now();
    if (now < this.dueAt) {
      this.arm(now);
      return;
    }
    void this.enqueueFlush(this.dueIsMax ? "maxDelay" : "quiet");
  }

  private enqueueFlush(reason: FlushReason): Promise<void> {
    if (this.timer !== null) {
      this.env.timers.clearTimeout(this.timer);
      this.timer = null;
    }
    if (!this.flushQueued) {
      this.flushQueued = true;
      this.tail = this.tail.then(() => {
        this.flushQueued = false;
        return this.flush(reason).catch((error: unknown) =>
          this.env.onError(error, `flushing ${this.user}`),
        );
      });
    }
    return this.tail;
  }

  /** Flushes what is pending now (pressure, drain); resolves when stored or abandoned. */
  flushNow(reason: FlushReason = "pressure"): Promise<void> {
    if (this.trackers.length === 0 && this.queued === 0) return this.tail;
    return this.enqueueFlush(reason);
  }

  private async flush(reason: FlushReason): Promise<void> {
    if (this.trackers.length === 0 || this.state !== "active") return;
    const trackers = this.trackers;
    const set = this.pending.take();
    const eventSeq = this.pendingSeq;
    this.trackers = [];
    this.firstPendingAt = 0;
    this.dueAt = 0;
    // Changes that cancelled out (created then deleted) leave nothing to store.
    const stored = set.changes.length > 0 || set.hasTooManyChanges;
    try {
      if (stored) await this.store(set, eventSeq);
    } catch (error) {
      if (!(error instanceof Stopped)) this.env.onError(error, `flushing ${this.user}`);
      return; // fenced or stopped: the trackers stay unreleased, the events come back
    }
    for (const t of trackers) t.done(stored);
    if (!stored) return;
    this.env.onFlush({
      reason,
      changes: set.changes,
      hasTooManyChanges: set.hasTooManyChanges,
      events: trackers.length,
    });
  }

  private async store(
    set: { changes: FileSystemItemChange[]; hasTooManyChanges: boolean },
    eventSeq: number,
  ): Promise<void> {
    let entry = this.entryFor(set, eventSeq);
    for (let attempt = 1; ; attempt++) {
      if (this.stopped()) throw new Stopped();
      if (!this.env.valid()) {
        // Our lease deadline passed (by our own clock) with a renewal maybe still on its way:
        // wait rather than drop the set. A late renewal proves nobody took the shard over; if
        // the lease is really lost, the shard stops this actor and the events come back.
        await new Promise<void>((r) => this.env.timers.setTimeout(r, 50));
        attempt--;
        continue;
      }
      let outcome;
      try {
        outcome = await this.env.feeds.append(this.env.shard, this.head, entry);
      } catch (error) {
        // I/O: retry the very same entry; its message id makes a stored retry a duplicate.
        this.env.onError(error, `appending a change set for ${this.user} (attempt ${attempt})`);
        await new Promise<void>((r) =>
          this.env.timers.setTimeout(r, this.env.retryDelayMs(attempt)),
        );
        continue;
      }
      if (outcome.kind === "stored") {
        this.head = outcome.head;
        return;
      }
      // Duplicate or conflict: look at what the feed holds now.
      const fresh = await this.io("reading the feed head", () =>
        this.env.feeds.head(this.env.shard, this.user),
      );
      if (fresh.eventSeq >= eventSeq) {
        // Stored already: our own retry, or a previous owner's set covering these events.
        this.head = { ...fresh, position: Math.max(fresh.position, this.head.position) };
        return;
      }
      if (fresh.eventSeq <= this.head.eventSeq) {
        // Nobody wrote past what we know: the history vanished (max age, or the feed store
        // was reset). Continue from the last position we know, so positions keep increasing
        // and a device at that position continues without a rescan.
        this.head = {
          subjectSeq: fresh.subjectSeq,
          position: Math.max(fresh.position, this.head.position),
          eventSeq: Math.max(fresh.eventSeq, this.head.eventSeq),
        };
        entry = this.entryFor(set, eventSeq);
        continue;
      }
      // Another writer stored sets covering part of ours: our pending set can no longer be
      // cut exactly. Stop; the shard rewinds and the events are handled again from the feed.
      this.state = "stopped";
      this.env.onConflict(this.user);
      throw new Stopped();
    }
  }

  private entryFor(
    set: { changes: FileSystemItemChange[]; hasTooManyChanges: boolean },
    eventSeq: number,
  ): FeedEntry {
    const now = this.env.now();
    return {
      user: this.user,
      lowerBound: this.head.position,
      summary: buildSummary({
        changes: set.changes,
        hasTooManyChanges: set.hasTooManyChanges,
        syncDate: now,
        upperBound: nextPosition(this.head.position, now),
        roots: this.ctx?.roots ?? [],
        limit: this.env.changeLimit,
      }),
      eventSeq,
    };
  }

  /** Graceful stop: flush what is pending, then take no more events. */
  async stop(): Promise<void> {
    await this.flushNow("stop");
    this.abort();
  }

  /** Stop at once: nothing more is stored or released (fenced, or the shard rewinds). */
  abort(): void {
    this.state = "stopped";
    if (this.timer !== null) {
      this.env.timers.clearTimeout(this.timer);
      this.timer = null;
    }
  }
}
