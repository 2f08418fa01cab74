import { describe, expect, it } from "vitest";
import { createMemoryBus, createLogger } from "@drivecast/bus";
import { msgpackCodec, type DocSnapshot, type RootEntry } from "@drivecast/protocol";
import {
  BOOTSTRAP_KEY,
  bootstrapRoots,
  createRootIndex,
  type FetchedDocument,
} from "../src/mod.js";

const logger = createLogger({ name: "test", level: "silent" });
const codec = msgpackCodec<RootEntry>();

function snap(
  uid: string,
  path: string,
  subs: [string, boolean][],
  extra: Partial<DocSnapshot> = {},
): DocSnapshot {
  return {
    repository: "default",
    uid,
    path,
    parentUid: null,
    type: "Workspace",
    title: uid,
    facets: ["Folderish", "DriveSynchronized"],
    isVersion: false,
    isProxy: false,
    isTrashed: false,
    creator: "a",
    lastContributor: "a",
    created: 0,
    modified: 0,
    blob: null,
    acls: [],
    subscriptions: subs.map(([username, enabled]) => ({ username, enabled })),
    ...extra,
  };
}

async function twoInstances() {
  const bus = createMemoryBus();
  const kv = await bus.kv({ bucket: "drive_roots" });
  const a = await createRootIndex(kv);
  // A second client of the same server, as another ingest process would be.
  const b = await createRootIndex(await bus.connect().kv({ bucket: "drive_roots" }));
  await Promise.all([a.ready(), b.ready()]);
  return { bus, kv, a, b };
}

describe("root index", () => {
  it("roots - finds the roots containing a path and those beneath it", async () => {
    const { a } = await twoInstances();
    await a.reconcile("default", "w", snap("w", "/d/ws/w", [["alice", true]]));
    await a.reconcile("default", "s", snap("s", "/d/ws/w/sub", [["bob", true]]));
    await a.reconcile("default", "x", snap("x", "/d/ws/wx", [["carol", true]]));
    await a.reconcile("other", "o", snap("o", "/d/ws/w", [["dan", true]]));
    const users = (rs: readonly RootEntry[]) => rs.flatMap((r) => r.users).sort();
    expect(users(a.containing("default", "/d/ws/w/sub/f.txt"))).toEqual(["alice", "bob"]);
    expect(users(a.containing("default", "/d/ws/w"))).toEqual(["alice"]);
    expect(users(a.containing("default", "/d/ws/wx/f"))).toEqual(["carol"]);
    expect(users(a.containing("default", "/d/elsewhere"))).toEqual([]);
    expect(users(a.beneath("default", "/d/ws"))).toEqual(["alice", "bob", "carol"]);
    expect(users(a.beneath("default", "/d/ws/w"))).toEqual(["bob"]);
    expect(users(a.beneath("other", "/"))).toEqual(["dan"]);
  });

  it("roots - an entry says what the snapshot says: enabled users, or nothing", async () => {
    const { a, kv } = await twoInstances();
    await a.reconcile(
      "default",
      "w",
      snap("w", "/w", [
        ["bob", true],
        ["alice", true],
        ["eve", false],
      ]),
    );
    expect(a.byUid("default", "w")?.users).toEqual(["alice", "bob"]);
    expect(codec.decode((await kv.get("default.w"))!.value)).toEqual({
      repository: "default",
      uid: "w",
      path: "/w",
      users: ["alice", "bob"],
    });
    await a.reconcile("default", "w", snap("w", "/w", [["alice", false]]));
    expect(a.byUid("default", "w")).toBeUndefined();
    expect(await kv.get("default.w")).toBeNull();
    await a.reconcile("default", "v", snap("v", "/v", [["alice", true]], { isVersion: true }));
    await a.reconcile("default", "g", null);
    expect(a.size()).toBe(0);
  });

  it("roots - every instance sees another's writes, and concurrent writes all land", async () => {
    const { a, b } = await twoInstances();
    await Promise.all([
      a.reconcile("default", "r1", snap("r1", "/r1", [["alice", true]])),
      b.reconcile("default", "r2", snap("r2", "/r2", [["bob", true]])),
      a.reconcile("default", "r3", snap("r3", "/r3", [["carol", true]])),
      b.reconcile("default", "r3", snap("r3", "/moved/r3", [["carol", true]])),
    ]);
    for (const ix of [a, b]) {
      await expect.poll(() => ix.size()).toBe(3);
      expect(ix.byUid("default", "r2")?.users).toEqual(["bob"]);
      expect(["/r3", "/moved/r3"]).toContain(ix.byUid("default", "r3")?.path);
    }
    expect(a.byUid("default", "r3")?.path).toBe(b.byUid("default", "r3")?.path);
  });

  it("roots - one of several instances bootstraps; the others wait for it", async () => {
    const bus = createMemoryBus();
    const kv = await bus.kv({ bucket: "drive_roots" });
    let queries = 0;
    const docs: FetchedDocument[] = Array.from({ length: 7 }, (_, i) => ({
      snapshot: snap(`r${i}`, `/ws/r${i}`, [[`user${i}`, true]]),
      breadcrumb: [],
    }));
    const nuxeo = {
      async *queryAll() {
        queries++;
        for (let i = 0; i < docs.length; i += 3) yield { entries: docs.slice(i, i + 3) };
      },
    };
    const indexes = await Promise.all([1, 2, 3].map(() => createRootIndex(kv)));
    await Promise.all(indexes.map((ix) => ix.ready()));
    const results = await Promise.all(
      indexes.map((ix, i) =>
        bootstrapRoots(kv, ix, nuxeo, {
          repositories: ["default"],
          pageSize: 3,
          owner: `i${i}`,
          logger,
          pollMs: 5,
        }),
      ),
    );
    expect(results.filter((r) => r.ran)).toHaveLength(1);
    expect(queries).toBe(1);
    for (const ix of indexes) expect(ix.size()).toBe(7);
    // Bootstrapped once for good, even if every root goes away later.
    for (const d of docs) await indexes[0]!.reconcile("default", d.snapshot.uid, null);
    const again = await bootstrapRoots(kv, indexes[0]!, nuxeo, {
      repositories: ["default"],
      pageSize: 3,
      owner: "later",
      logger,
    });
    expect(again.ran).toBe(false);
    expect(queries).toBe(1);
    // The marker reads as a root with no user (for readers that decode every key).
    expect(codec.decode((await kv.get(BOOTSTRAP_KEY))!.value).users).toEqual([]);
  });

  it("roots - a bootstrap left running by a dead instance is taken over once stale", async () => {
    const bus = createMemoryBus();
    const kv = await bus.kv({ bucket: "drive_roots" });
    const ix = await createRootIndex(kv);
    await ix.ready();
    let now = 1_000;
    await kv.create(
      BOOTSTRAP_KEY,
      msgpackCodec<unknown>().encode({
        repository: "",
        uid: "",
        path: "",
        users: [],
        bootstrap: { state: "running", owner: "dead", at: now },
      }),
    );
    const nuxeo = {
      async *queryAll() {
        yield { entries: [{ snapshot: snap("r", "/r", [["alice", true]]), breadcrumb: [] }] };
      },
    };
    const result = bootstrapRoots(kv, ix, nuxeo, {
      repositories: ["default"],
      pageSize: 10,
      owner: "me",
      logger,
      staleMs: 60_000,
      pollMs: 1,
      now: () => (now += 1_000),
    });
    expect((await result).ran).toBe(true);
    expect(ix.byUid("default", "r")?.users).toEqual(["alice"]);
  });

  it("roots - a bucket with roots but no marker is not bootstrapped again", async () => {
    const bus = createMemoryBus();
    const kv = await bus.kv({ bucket: "drive_roots" });
    const ix = await createRootIndex(kv);
    await ix.ready();
    await ix.reconcile("default", "r", snap("r", "/r", [["alice", true]]));
    let queries = 0;
    const nuxeo = {
      // eslint-disable-next-line require-yield
      async *queryAll() {
        queries++;
      },
    };
    const r = await bootstrapRoots(kv, ix, nuxeo, {
      repositories: ["default"],
      pageSize: 10,
      owner: "me",
      logger,
    });
    expect(r.ran).toBe(false);
    expect(queries).toBe(0);
  });
});
