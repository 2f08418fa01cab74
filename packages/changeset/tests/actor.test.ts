import { beforeEach, describe, expect, it } from "vitest";
import { createMemoryBus, type MemoryBus } from "@drivecast/bus";
import { Names, type DocEvent, type FeedEntry } from "@drivecast/protocol";
import { createSimulator, type Simulator } from "@drivecast/nuxeo-sim";
import {
  coalesce,
  computeEvent,
  createFeedWriter,
  feedCodec,
  userContext,
  type FeedWriter,
} from "@drivecast/changeset";
// The actor is internal (the shard creates it); its contract is tested here directly.
import { UserActor, type ActorEnv, type FlushInfo, type Tracker } from "../src/actor.js";
import { docEventOf, FakeClock, settle, simNuxeo } from "./helpers.js";

const names = new Names();
const SHARD = 3;

interface Fixture {
  clock: FakeClock;
  bus: MemoryBus;
  sim: Simulator;
  feeds: FeedWriter;
  ws: string;
  wsPath: string;
  flushes: FlushInfo[];
  conflicts: string[];
  errors: string[];
  valid: { value: boolean };
  scale: { value: number };
  env(overrides?: Partial<ActorEnv>): ActorEnv;
  /** The DocEvent of the last audit entry of the simulator, for alice. */
  last(users?: string[]): DocEvent;
  stored(user?: string): Promise<FeedEntry[]>;
}

async function fixture(): Promise<Fixture> {
  const clock = new FakeClock();
  const bus = createMemoryBus({ now: clock.now });
  await bus.streams.ensure({ name: names.feedsStream, subjects: [names.feedsSubjects] });
  const sim = createSimulator({ now: clock.now });
  await sim.createGroup("team");
  sim.createUser("alice", { groups: ["team"] });
  const ws = await sim.createWorkspace(sim.workspacesUid, "Projects");
  await sim.grant(ws.uid, "alice", "ReadWrite");
  await sim.registerRoot("alice", ws.uid);
  const nuxeo = simNuxeo(sim);
  const feeds = createFeedWriter(bus, names, "test");
  const f: Fixture = {
    clock,
    bus,
    sim,
    feeds,
    ws: ws.uid,
    wsPath: ws.path,
    flushes: [],
    conflicts: [],
    errors: [],
    valid: { value: true },
    scale: { value: 1 },
    env: (overrides = {}) => ({
      shard: SHARD,
      feeds,
      principal: async (user) => {
        const u = await nuxeo.user(user);
        return { groups: u?.groups ?? [], isAdministrator: u?.isAdministrator ?? false };
      },
      roots: (user) =>
        sim.rootsOf(user).map((uid) => ({ repository: "default", uid, path: sim.get(uid)!.path })),
      rootStates: async (roots) =>
        roots.map((root) => {
          const doc = sim.snapshot(root.uid) ?? null;
          return { root, doc, ancestors: doc === null ? [] : ancestorsFor(sim, root.uid) };
        }),
      quietMs: 250,
      maxDelayMs: 2000,
      maxWindowMs: 30_000,
      changeLimit: 1000,
      windowScale: () => f.scale.value,
      now: clock.now,
      timers: clock.timersApi,
      valid: () => f.valid.value,
      retryDelayMs: () => 100,
      onFlush: (info) => f.flushes.push(info),
      onConflict: (user) => f.conflicts.push(user),
      onComputeError: (error) => f.errors.push(String(error)),
      onError: () => undefined,
      ...overrides,
    }),
    last: (users = ["alice"]) =>
      docEventOf(sim, sim.auditLog[sim.auditLog.length - 1]!, users, `t/0/${sim.auditLog.length}`),
    stored: async (user = "alice") =>
      (await bus.streams.read(names.feedsStream, names.feed(SHARD, user), 1)).map((m) =>
        feedCodec.decode(m.data),
      ),
  };
  return f;
}

function ancestorsFor(sim: Simulator, uid: string) {
  const out = [];
  let p = sim.snapshot(uid)?.parentUid ?? null;
  while (p !== null) {
    const s = sim.snapshot(p)!;
    out.push(s);
    p = s.parentUid;
  }
  return out.reverse();
}

/** A tracker that records when it was released. */
function tracker(): Tracker & { released: boolean | null } {
  const t = {
    released: null as boolean | null,
    done(contributed: boolean) {
      if (t.released !== null) throw new Error("tracker released twice");
      t.released = contributed;
    },
  };
  return t;
}

describe("actor", () => {
  let f: Fixture;
  beforeEach(async () => {
    f = await fixture();
  });

  it("actor - activation is memoised: events arriving during activation activate once", async () => {
    let heads = 0;
    let principals = 0;
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const env = f.env({
      feeds: {
        head: async (shard, user) => {
          heads++;
          await gate;
          return f.feeds.head(shard, user);
        },
        append: (shard, head, entry) => f.feeds.append(shard, head, entry),
      },
      principal: async () => {
        principals++;
        return { groups: ["team"], isAdministrator: false };
      },
    });
    const a = new UserActor("alice", env);
    await f.sim.createFile(f.ws, "a.txt", { content: "a" });
    const e1 = f.last();
    await f.sim.createFile(f.ws, "b.txt", { content: "b" });
    const e2 = f.last();
    const t1 = tracker();
    const t2 = tracker();
    a.tell(e1, 1, t1);
    a.tell(e2, 2, t2);
    await settle();
    expect(a.state).toBe("activating");
    release();
    await f.clock.advance(300);
    expect(heads).toBe(1);
    expect(principals).toBe(1);
    expect(t1.released).toBe(true);
    expect(t2.released).toBe(true);
  });

  it("actor - a user's changes keep their order and are coalesced per document", async () => {
    const a = new UserActor("alice", f.env());
    const events: DocEvent[] = [];
    const file = await f.sim.createFile(f.ws, "a.txt", { content: "a" });
    events.push(f.last());
    await f.clock.advance(10);
    await f.sim.modify(file.uid, { content: "a2" });
    events.push(f.last());
    await f.clock.advance(10);
    await f.sim.createFile(f.ws, "b.txt", { content: "b" });
    events.push(f.last());
    await f.clock.advance(10);
    await f.sim.rename(file.uid, "renamed.txt");
    events.push(f.last());
    events.forEach((e, i) => a.tell(e, i + 1, tracker()));
    await f.clock.advance(300);
    const sets = await f.stored();
    expect(sets).toHaveLength(1);
    const ctx = userContext({
      user: "alice",
      groups: ["team"],
      isAdministrator: false,
      roots: [{ repository: "default", uid: f.ws, path: f.wsPath }],
    });
    const expected = coalesce(events.flatMap((e) => computeEvent(ctx, e).changes));
    expect(sets[0]!.summary.fileSystemChanges).toEqual(expected);
    expect(sets[0]!.summary.fileSystemChanges.map((c) => c.fileSystemItemName)).toEqual([
      "renamed.txt",
      "b.txt",
    ]);
    expect(sets[0]!.eventSeq).toBe(4);
    expect(sets[0]!.lowerBound).toBe(0);
  });

  it("actor - the quiet period flushes once changes stop coming", async () => {
    const a = new UserActor("alice", f.env());
    for (let i = 0; i < 3; i++) {
      await f.sim.createFile(f.ws, `f${i}.txt`, { content: "x" });
      a.tell(f.last(), i + 1, tracker());
      await f.clock.advance(100);
    }
    // Last change at t=200 (relative): due at 450.
    await f.clock.advance(140);
    expect(await f.stored()).toHaveLength(0);
    await f.clock.advance(20);
    expect(await f.stored()).toHaveLength(1);
    expect(f.flushes.map((x) => x.reason)).toEqual(["quiet"]);
  });

  it("actor - the maximum delay caps a steady stream of changes", async () => {
    const a = new UserActor("alice", f.env({ maxDelayMs: 1000 }));
    for (let i = 0; i < 8; i++) {
      await f.sim.createFile(f.ws, `f${i}.txt`, { content: "x" });
      a.tell(f.last(), i + 1, tracker());
      await f.clock.advance(200);
    }
    const sets = await f.stored();
    expect(sets.length).toBeGreaterThanOrEqual(1);
    expect(f.flushes[0]!.reason).toBe("maxDelay");
    // The first set holds what arrived within the first second: events 1..5 (t = 0..800).
    expect(sets[0]!.eventSeq).toBe(5);
  });

  it("actor - windows widen with the overload scale, up to the maximum window", async () => {
    f.scale.value = 4;
    const a = new UserActor("alice", f.env({ maxWindowMs: 3000 }));
    await f.sim.createFile(f.ws, "a.txt", { content: "x" });
    a.tell(f.last(), 1, tracker());
    await f.clock.advance(990);
    expect(await f.stored()).toHaveLength(0); // quiet 250 × 4
    await f.clock.advance(20);
    expect(await f.stored()).toHaveLength(1);
    f.scale.value = 100; // 2000 × 100 capped at 3000
    for (let i = 0; i < 20; i++) {
      await f.sim.createFile(f.ws, `s${i}.txt`, { content: "x" });
      a.tell(f.last(), i + 2, tracker());
      await f.clock.advance(200);
    }
    expect(f.flushes.map((x) => x.reason)).toContain("maxDelay");
    expect((await f.stored()).length).toBeLessThanOrEqual(3);
  });

  it("actor - trackers are released only once the set holding their change is stored", async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const a = new UserActor(
      "alice",
      f.env({
        feeds: {
          head: (s, u) => f.feeds.head(s, u),
          append: async (s, h, e) => {
            await gate;
            return f.feeds.append(s, h, e);
          },
        },
      }),
    );
    await f.sim.createFile(f.ws, "a.txt", { content: "x" });
    const t = tracker();
    a.tell(f.last(), 1, t);
    await f.clock.advance(1000);
    expect(t.released).toBe(null);
    release();
    await settle();
    expect(t.released).toBe(true);
  });

  it("actor - an event that means nothing to the user is released at once", async () => {
    const a = new UserActor("alice", f.env());
    const other = await f.sim.createWorkspace(f.sim.workspacesUid, "Elsewhere");
    await f.sim.createFile(other.uid, "x.txt", { content: "x" });
    const t = tracker();
    a.tell(f.last(), 1, t);
    await settle();
    expect(t.released).toBe(false);
    expect(a.hasPending()).toBe(false);
  });

  it("actor - failed I/O is retried in place and later events wait their turn", async () => {
    let failures = 2;
    const a = new UserActor(
      "alice",
      f.env({
        principal: async () => {
          if (failures-- > 0) throw new Error("Nuxeo down");
          return { groups: ["team"], isAdministrator: false };
        },
      }),
    );
    await f.sim.createFile(f.ws, "a.txt", { content: "x" });
    const e1 = f.last();
    const file = f.sim.byPath(`${f.wsPath}/a.txt`)!;
    await f.sim.rename(file.uid, "later.txt");
    const e2 = f.last();
    const t1 = tracker();
    const t2 = tracker();
    a.tell(e1, 1, t1);
    a.tell(e2, 2, t2);
    await f.clock.advance(150);
    expect(t1.released).toBe(null);
    await f.clock.advance(1000);
    expect(t1.released).toBe(true);
    expect(t2.released).toBe(true);
    const sets = await f.stored();
    expect(
      sets.flatMap((s) => s.summary.fileSystemChanges.map((c) => c.fileSystemItemName)),
    ).toEqual(["later.txt"]);
  });

  it("actor - events at or below the stored watermark are released without a new set", async () => {
    await f.feeds.append(
      SHARD,
      { subjectSeq: 0, position: 0, eventSeq: 0 },
      {
        user: "alice",
        lowerBound: 0,
        summary: {
          fileSystemChanges: [],
          syncDate: 0,
          upperBound: 5000,
          hasTooManyChanges: false,
          activeSynchronizationRootDefinitions: "",
        },
        eventSeq: 10,
      },
    );
    const a = new UserActor("alice", f.env());
    await f.sim.createFile(f.ws, "a.txt", { content: "x" });
    const old = tracker();
    const covered = tracker();
    const fresh = tracker();
    a.tell(f.last(), 5, old);
    a.tell(f.last(), 10, covered);
    a.tell(f.last(), 11, fresh);
    await f.clock.advance(300);
    expect([old.released, covered.released, fresh.released]).toEqual([false, false, true]);
    const sets = await f.stored();
    expect(sets).toHaveLength(2);
    expect(sets[1]!.lowerBound).toBe(5000);
    expect(sets[1]!.eventSeq).toBe(11);
  });

  it("actor - a redelivered event already pending is released with the pending set", async () => {
    const a = new UserActor("alice", f.env());
    await f.sim.createFile(f.ws, "a.txt", { content: "x" });
    const e = f.last();
    const first = tracker();
    const again = tracker();
    a.tell(e, 7, first);
    a.tell(e, 7, again);
    await f.clock.advance(300);
    expect([first.released, again.released]).toEqual([true, true]);
    const sets = await f.stored();
    expect(sets).toHaveLength(1);
    expect(sets[0]!.summary.fileSystemChanges).toHaveLength(1);
  });

  it("actor - positions strictly increase and each set follows the previous one", async () => {
    const a = new UserActor("alice", f.env());
    await f.sim.createFile(f.ws, "a.txt", { content: "x" });
    a.tell(f.last(), 1, tracker());
    await f.clock.advance(300);
    f.clock.t -= 60_000; // the clock jumps back a minute
    await f.sim.createFile(f.ws, "b.txt", { content: "x" });
    a.tell(f.last(), 2, tracker());
    await f.clock.advance(300);
    await f.sim.createFile(f.ws, "c.txt", { content: "x" });
    a.tell(f.last(), 3, tracker());
    await f.clock.advance(300);
    const sets = await f.stored();
    expect(sets).toHaveLength(3);
    for (let i = 1; i < sets.length; i++) {
      expect(sets[i]!.summary.upperBound).toBeGreaterThan(sets[i - 1]!.summary.upperBound);
      expect(sets[i]!.lowerBound).toBe(sets[i - 1]!.summary.upperBound);
    }
  });

  it("actor - a fenced actor stores nothing and releases nothing", async () => {
    const a = new UserActor("alice", f.env());
    await f.sim.createFile(f.ws, "a.txt", { content: "x" });
    const t = tracker();
    a.tell(f.last(), 1, t);
    await settle();
    f.valid.value = false;
    await f.clock.advance(3000);
    expect(t.released).toBe(null);
    expect(await f.stored()).toHaveLength(0);
  });

  it("actor - a lease renewal arriving late delays the flush, it does not drop the set", async () => {
    const a = new UserActor("alice", f.env());
    await f.sim.createFile(f.ws, "a.txt", { content: "x" });
    const t1 = tracker();
    a.tell(f.last(), 1, t1);
    await settle();
    f.valid.value = false; // our deadline passed, the renewal is still on its way
    await f.clock.advance(1000);
    await f.sim.createFile(f.ws, "b.txt", { content: "x" });
    const t2 = tracker();
    a.tell(f.last(), 2, t2);
    await f.clock.advance(1000);
    expect(await f.stored()).toHaveLength(0);
    expect(t1.released).toBe(null);
    f.valid.value = true; // it succeeded: nobody took the shard
    await f.clock.advance(1000);
    expect([t1.released, t2.released]).toEqual([true, true]);
    const sets = await f.stored();
    expect(
      sets.flatMap((s) => s.summary.fileSystemChanges.map((c) => c.fileSystemItemName)).sort(),
    ).toEqual(["a.txt", "b.txt"]);
    expect(sets[sets.length - 1]!.eventSeq).toBe(2);
  });

  it("actor - another writer's set covering part of ours stops the actor for a rewind", async () => {
    const a = new UserActor("alice", f.env());
    await f.sim.createFile(f.ws, "a.txt", { content: "x" });
    a.tell(f.last(), 1, tracker());
    await f.sim.createFile(f.ws, "b.txt", { content: "x" });
    const t2 = tracker();
    a.tell(f.last(), 2, t2);
    await settle();
    // A stale owner stores a set covering event 1 only.
    await f.feeds.append(
      SHARD,
      { subjectSeq: 0, position: 0, eventSeq: 0 },
      {
        user: "alice",
        lowerBound: 0,
        summary: {
          fileSystemChanges: [],
          syncDate: 0,
          upperBound: 1000,
          hasTooManyChanges: false,
          activeSynchronizationRootDefinitions: "",
        },
        eventSeq: 1,
      },
    );
    await f.clock.advance(300);
    expect(f.conflicts).toEqual(["alice"]);
    expect(t2.released).toBe(null);
    expect(await f.stored()).toHaveLength(1);
    expect(a.state).toBe("stopped");
  });

  it("actor - a set another writer already stored for the same events releases them", async () => {
    const a = new UserActor("alice", f.env());
    await f.sim.createFile(f.ws, "a.txt", { content: "x" });
    const t = tracker();
    a.tell(f.last(), 4, t);
    await settle();
    await f.feeds.append(
      SHARD,
      { subjectSeq: 0, position: 0, eventSeq: 0 },
      {
        user: "alice",
        lowerBound: 0,
        summary: {
          fileSystemChanges: [],
          syncDate: 0,
          upperBound: 1000,
          hasTooManyChanges: false,
          activeSynchronizationRootDefinitions: "",
        },
        eventSeq: 4,
      },
    );
    await f.clock.advance(300);
    expect(t.released).toBe(true);
    expect(f.conflicts).toEqual([]);
    expect(await f.stored()).toHaveLength(1);
  });

  it("actor - after a feed-store reset positions keep increasing from the last one known", async () => {
    const a = new UserActor("alice", f.env());
    await f.sim.createFile(f.ws, "a.txt", { content: "x" });
    a.tell(f.last(), 1, tracker());
    await f.clock.advance(300);
    const before = (await f.stored())[0]!;
    await f.bus.streams.delete(names.feedsStream);
    await f.bus.streams.ensure({ name: names.feedsStream, subjects: [names.feedsSubjects] });
    f.clock.t -= 10_000; // and this host's clock is behind
    await f.sim.createFile(f.ws, "b.txt", { content: "x" });
    const t = tracker();
    a.tell(f.last(), 2, t);
    await f.clock.advance(300);
    expect(t.released).toBe(true);
    const after = await f.stored();
    expect(after).toHaveLength(1);
    expect(after[0]!.lowerBound).toBe(before.summary.upperBound);
    expect(after[0]!.summary.upperBound).toBeGreaterThan(before.summary.upperBound);
  });

  it("actor - over the change limit the set says hasTooManyChanges and carries none", async () => {
    const a = new UserActor("alice", f.env({ changeLimit: 3 }));
    for (let i = 0; i < 5; i++) {
      await f.sim.createFile(f.ws, `f${i}.txt`, { content: "x" });
      a.tell(f.last(), i + 1, tracker());
    }
    await f.clock.advance(300);
    const sets = await f.stored();
    expect(sets).toHaveLength(1);
    expect(sets[0]!.summary.hasTooManyChanges).toBe(true);
    expect(sets[0]!.summary.fileSystemChanges).toEqual([]);
    expect(sets[0]!.eventSeq).toBe(5);
  });

  it("actor - a group change re-reads the groups and re-evaluates the roots", async () => {
    // A second root readable only through the group.
    const shared = await f.sim.createWorkspace(f.sim.workspacesUid, "Shared");
    await f.sim.grant(shared.uid, "team", "Read");
    await f.sim.registerRoot("alice", shared.uid);
    let groups = ["team"];
    const calls: boolean[] = [];
    const a = new UserActor(
      "alice",
      f.env({
        principal: async (_u, fresh) => {
          calls.push(fresh === true);
          return { groups, isAdministrator: false };
        },
      }),
    );
    groups = [];
    const event: DocEvent = {
      ...f.last(),
      eventId: "group_modified",
      category: "userGroup",
      docUuid: "",
      docPath: "",
      doc: null,
      ancestors: [],
      extended: { id: "team" },
    };
    a.tell(event, 1, tracker());
    await f.clock.advance(300);
    expect(calls).toEqual([false, true]);
    const sets = await f.stored();
    expect(sets).toHaveLength(1);
    const changes = sets[0]!.summary.fileSystemChanges;
    // The root readable only through the group is gone; the other one is rescanned (§5).
    expect(changes.map((c) => [c.eventId, c.docUuid]).sort()).toEqual([
      ["deleted", shared.uid],
      ["securityUpdated", f.ws],
    ]);
  });

  it("actor - a computation that throws skips that user's effect, loudly", async () => {
    const a = new UserActor("alice", f.env());
    await f.sim.createFile(f.ws, "a.txt", { content: "x" });
    const broken = { ...f.last(), doc: { ...f.last().doc!, acls: null as never } };
    const t = tracker();
    a.tell(broken, 1, t);
    await settle();
    expect(t.released).toBe(false);
    expect(f.errors).toHaveLength(1);
  });

  it("actor - passivation: idle only when nothing is queued or pending", async () => {
    const a = new UserActor("alice", f.env());
    await settle();
    expect(a.isIdle()).toBe(true);
    await f.sim.createFile(f.ws, "a.txt", { content: "x" });
    a.tell(f.last(), 1, tracker());
    expect(a.isIdle()).toBe(false);
    await settle();
    expect(a.hasPending()).toBe(true);
    await f.clock.advance(300);
    expect(a.isIdle()).toBe(true);
  });
});
