// Test helpers: a fake clock with manual timers, waiting for asynchronous work, and the
// simulator seen through the changeset's Nuxeo interface.
import type { DocEvent, DocSnapshot } from "@drivecast/protocol";
import type { AuditEntry, Simulator } from "@drivecast/nuxeo-sim";
import type { ChangesetNuxeo } from "@drivecast/changeset";

/** Lets queued promise callbacks and setImmediate work (the memory bus's deliveries) run. */
export async function settle(rounds = 5): Promise<void> {
  for (let i = 0; i < rounds; i++) await new Promise<void>((r) => setImmediate(r));
}

/** Polls `check` until true; the failure message says what was expected. */
export async function waitFor(
  check: () => boolean | Promise<boolean>,
  what: () => string,
  timeoutMs = 10_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what()}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

interface Pending {
  at: number;
  seq: number;
  fn: () => void;
}

/** A clock that moves only when told, and timers that fire when it passes their time. */
export class FakeClock {
  t: number;
  private timers = new Map<number, Pending>();
  private seq = 0;

  constructor(start = 1_700_000_000_000) {
    this.t = start;
  }

  readonly now = (): number => this.t;

  readonly timersApi = {
    setTimeout: (fn: () => void, ms: number): unknown => {
      const id = ++this.seq;
      this.timers.set(id, { at: this.t + Math.max(0, ms), seq: id, fn });
      return id;
    },
    clearTimeout: (handle: unknown): void => {
      this.timers.delete(handle as number);
    },
  };

  pendingTimers(): number {
    return this.timers.size;
  }

  /** Moves the clock forward, firing due timers in time order, settling after each. */
  async advance(ms: number): Promise<void> {
    const end = this.t + ms;
    for (;;) {
      await settle();
      let next: Pending | undefined;
      let nextId = 0;
      for (const [id, p] of this.timers) {
        if (
          p.at <= end &&
          (next === undefined || p.at < next.at || (p.at === next.at && p.seq < next.seq))
        ) {
          next = p;
          nextId = id;
        }
      }
      if (next === undefined) break;
      this.timers.delete(nextId);
      this.t = Math.max(this.t, next.at);
      next.fn();
    }
    this.t = end;
    await settle();
  }
}

/** The changeset's view of Nuxeo, answered by the simulator in process (no HTTP). */
export function simNuxeo(sim: Simulator): ChangesetNuxeo & { userCalls: Map<string, number> } {
  const userCalls = new Map<string, number>();
  return {
    userCalls,
    async user(id) {
      userCalls.set(id, (userCalls.get(id) ?? 0) + 1);
      const u = sim.user(id);
      return u === undefined
        ? null
        : { id: u.id, groups: [...u.extendedGroups], isAdministrator: u.isAdministrator };
    },
    // Remote scans are not exercised by these tests.
    // eslint-disable-next-line require-yield
    async *queryAll() {
      throw new Error("queryAll is not answered by this test double");
    },
    async documentsByIds(_repository, uids) {
      const out = new Map<
        string,
        { snapshot: DocSnapshot; breadcrumb: { uid: string; path: string }[] }
      >();
      for (const uid of uids) {
        const snapshot = sim.snapshot(uid);
        if (snapshot === undefined) continue;
        const chain = ancestorsOf(sim, snapshot).filter((a) => a.path !== "/");
        out.set(uid, {
          snapshot,
          breadcrumb: [...chain, snapshot].map((d) => ({ uid: d.uid, path: d.path })),
        });
      }
      return out;
    },
  };
}

/** Snapshots of the ancestors of `doc`, from the repository root down to its parent. */
export function ancestorsOf(sim: Simulator, doc: DocSnapshot): DocSnapshot[] {
  const out: DocSnapshot[] = [];
  let parent = doc.parentUid;
  while (parent !== null) {
    const p = sim.snapshot(parent);
    if (p === undefined) break;
    out.push(p);
    parent = p.parentUid;
  }
  return out.reverse();
}

/**
 * The DocEvent the ingest would publish for an audit entry, baked from the simulator's state
 * now (call right after the mutation).
 */
export function docEventOf(
  sim: Simulator,
  entry: AuditEntry,
  users: string[],
  source: string,
): DocEvent {
  const doc = entry.docUUID === null ? null : (sim.snapshot(entry.docUUID) ?? null);
  let before: DocEvent["before"] = null;
  if (entry.eventId === "documentMoved" && entry.comment) {
    const parentUid = entry.comment.slice(entry.comment.indexOf(":") + 1);
    const parent = sim.snapshot(parentUid);
    if (parent !== undefined) {
      before = { parentUid, path: null, ancestors: [...ancestorsOf(sim, parent), parent] };
    }
  }
  return {
    source,
    eventId: entry.eventId,
    category: entry.category,
    repositoryId: entry.repositoryId ?? sim.defaultRepository,
    docUuid: entry.docUUID ?? "",
    docPath: entry.docPath ?? "",
    docType: entry.docType ?? "",
    docLifeCycle: entry.docLifeCycle,
    principalName: entry.principalName,
    comment: entry.comment,
    eventDate: entry.eventDate,
    extended: entry.extended,
    doc,
    ancestors: doc === null ? [] : ancestorsOf(sim, doc),
    before,
    users,
  };
}
