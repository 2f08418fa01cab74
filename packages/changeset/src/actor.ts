// A user's virtual actor: turns the DocEvents of its shard into that user's change sets.
//
// Lifecycle: idle → activating → active → passivated. Activation (reading the feed head, the
// user's groups and roots) is memoised as a promise before its first await, so two events for
// one user never activate it twice. One mailbox: events are processed one at a time, in shard
// order, so a user's changes keep their order. Pending changes are coalesced per document and
// flushed as one change set after a quiet period or a maximum delay, whichever comes first.
//
// Acknowledgement: an event's tracker is released for this user only once the set containing
// its change is stored (or at once when the event means nothing to this user). Events already
// covered by a stored set (eventSeq watermark) are skipped, so a redelivery after a crash adds
// nothing twice.
import type {
  DocEvent,
  FeedEntry,
  FileSystemChangeSummary,
  FileSystemItemChange,
} from "@drivecast/protocol";
import { nextPosition } from "@drivecast/protocol";
import {
  buildSummary,
  computeEvent,
  createPendingChanges,
  EventKind,
  eventKind,
  groupOf,
  Reevaluation,
  reevaluateRoots,
  userContext,
  withRoots,
  type PendingChanges,
  type RootState,
  type UserContext,
  type UserRoot,
} from "./compute/index.js";
import type { FeedHead, FeedWriter } from "./feeds.js";

/** Released once per (event, user) when the event's effect for that user is durable. */
export interface Tracker {
  done(): void;
  fail(error: unknown): void;
}

export interface Principal {
  groups: string[];
  isAdministrator: boolean;
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
  changeLimit: number;
  /** ≥ 1: widens the flush windows under overload. */
  windowScale(): number;
  now(): number;
  onFlush(summary: FileSystemChangeSummary): void;
  onError(error: unknown, context: string): void;
}

type State = "activating" | "active" | "stopped";

export class UserActor {
  state: State = "activating";
  lastActivity: number;
  private readonly activation: Promise<void>;
  private mailbox: Promise<void>;
  private ctx!: UserContext;
  private head!: FeedHead;
  private pending: PendingChanges;
  private pendingTrackers: Tracker[] = [];
  private pendingEventSeq = 0;
  private firstPendingAt = 0;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private flushing: Promise<void> | null = null;

  constructor(
    readonly user: string,
    private readonly env: ActorEnv,
  ) {
    this.lastActivity = env.now();
    this.pending = createPendingChanges({ limit: env.changeLimit });
    // Memoised before any await: every message waits on this one activation.
    this.activation = this.activate();
    this.mailbox = this.activation;
  }

  private async activate(): Promise<void> {
    const [head, principal] = await Promise.all([
      this.env.feeds.head(this.env.shard, this.user),
      this.env.principal(this.user),
    ]);
    this.head = head;
    this.ctx = userContext({ user: this.user, ...principal, roots: this.env.roots(this.user) });
    this.state = "active";
  }

  /** Queues an event; `tracker` is released when its effect for this user is durable. */
  tell(event: DocEvent, eventSeq: number, tracker: Tracker): void {
    this.lastActivity = this.env.now();
    this.mailbox = this.mailbox
      .then(() => this.handle(event, eventSeq, tracker))
      .catch((error) => tracker.fail(error));
  }

  private async handle(event: DocEvent, eventSeq: number, tracker: Tracker): Promise<void> {
    if (this.state === "stopped") throw new Error(`actor of ${this.user} is stopped`);
    // A failed activation fails every message; the shard then drops this actor and naks.
    await this.activation;
    if (eventSeq <= this.head.eventSeq) {
      tracker.done(); // already in a stored set
      return;
    }
    const changes: FileSystemItemChange[] = [];
    if (eventKind(event) === EventKind.Group) {
      // The user's groups may have changed: re-read them, and if they did, every root's
      // visibility may have too (spec §5, group row).
      const previous = this.ctx.principals;
      const principal = await this.env.principal(this.user, true);
      this.ctx = userContext({ user: this.user, ...principal, roots: this.ctx.roots });
      if (groupOf(event) !== null && this.ctx.roots.length > 0) {
        const states = await this.env.rootStates(this.ctx.roots);
        changes.push(
          ...reevaluateRoots(this.ctx, states, Reevaluation.Group, event.eventDate, previous),
        );
      }
    } else {
      const effects = computeEvent(this.ctx, event);
      changes.push(...effects.changes);
      if (effects.roots) this.ctx = withRoots(this.ctx, effects.roots);
      if (effects.reevaluate) {
        const states = await this.env.rootStates(effects.reevaluate.roots);
        changes.push(
          ...reevaluateRoots(this.ctx, states, effects.reevaluate.reason, event.eventDate),
        );
      }
    }
    if (changes.length === 0) {
      tracker.done();
      return;
    }
    for (const c of changes) this.pending.add(c);
    this.pendingTrackers.push(tracker);
    this.pendingEventSeq = Math.max(this.pendingEventSeq, eventSeq);
    if (this.firstPendingAt === 0) this.firstPendingAt = this.env.now();
    this.schedule();
  }

  private schedule(): void {
    const scale = this.env.windowScale();
    const quiet = this.env.quietMs * scale;
    const maxDelay = this.env.maxDelayMs * scale;
    const dueMax = this.firstPendingAt + maxDelay - this.env.now();
    const wait = Math.max(0, Math.min(quiet, dueMax));
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = null;
      this.mailbox = this.mailbox.then(() => this.flush());
    }, wait);
  }

  /** Flushes now (drain, passivation); resolves when stored. */
  flushNow(): Promise<void> {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    this.mailbox = this.mailbox.then(() => this.flush());
    return this.mailbox;
  }

  private async flush(): Promise<void> {
    if (this.pendingTrackers.length === 0) return;
    const trackers = this.pendingTrackers;
    const pending = this.pending;
    const eventSeq = this.pendingEventSeq;
    this.pendingTrackers = [];
    this.pending = createPendingChanges({ limit: this.env.changeLimit });
    this.firstPendingAt = 0;
    try {
      if (!pending.isEmpty) await this.store(pending.take(), eventSeq);
      for (const t of trackers) t.done();
    } catch (error) {
      this.env.onError(error, `flushing ${this.user}`);
      for (const t of trackers) t.fail(error);
    }
  }

  private async store(
    set: { changes: FileSystemItemChange[]; hasTooManyChanges: boolean },
    eventSeq: number,
  ): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      const now = this.env.now();
      const summary = buildSummary({
        changes: set.changes,
        hasTooManyChanges: set.hasTooManyChanges,
        syncDate: now,
        upperBound: nextPosition(this.head.position, now),
        roots: this.ctx.roots,
        limit: this.env.changeLimit,
      });
      const entry: FeedEntry = {
        user: this.user,
        lowerBound: this.head.position,
        summary,
        eventSeq,
      };
      const head = await this.env.feeds.append(this.env.shard, this.head, entry);
      if (head) {
        this.head = head;
        this.env.onFlush(summary);
        return;
      }
      // Someone else wrote this feed: a previous owner's last set, or a stale writer. Re-read;
      // if the stored sets already cover our events, they were written before (crash replay).
      this.head = await this.env.feeds.head(this.env.shard, this.user);
      if (this.head.eventSeq >= eventSeq) return;
      if (attempt >= 3) throw new Error(`feed of ${this.user} keeps moving; is another worker writing it?`);
    }
  }

  hasPending(): boolean {
    return this.pendingTrackers.length > 0;
  }

  /** Flushes what is pending and stops taking events. */
  async stop(): Promise<void> {
    await this.flushNow().catch(() => undefined);
    this.state = "stopped";
  }
}
