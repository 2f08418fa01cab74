import { describe, expect, it } from "vitest";
import {
  createSimulator,
  createWorkload,
  driveTreeOf,
  memoryAuditSink,
  DEFAULT_WORKLOAD_WEIGHTS,
} from "../src/mod.js";
import type { WorkloadOpKind } from "../src/mod.js";

const TOP = "org.nuxeo.drive.service.impl.DefaultTopLevelFolderItemFactory#";
const rootId = (uid: string) => `defaultSyncRootFolderItemFactory#default#${uid}`;
const itemId = (uid: string) => `defaultFileSystemItemFactory#default#${uid}`;

async function runWorkload(seed: number, count: number) {
  const sink = memoryAuditSink();
  const sim = createSimulator({ audit: sink });
  const workload = createWorkload(sim, { seed, users: 8, groups: 3, sharedWorkspaces: 3 });
  await workload.setup();
  const ops = await workload.run(count);
  return { sim, sink, workload, ops };
}

describe("workload", () => {
  it("workload - a seed always performs the same operations, another seed others", async () => {
    const a = await runWorkload(7, 400);
    const b = await runWorkload(7, 400);
    const c = await runWorkload(8, 400);
    expect(b.ops).toEqual(a.ops);
    expect(c.ops).not.toEqual(a.ops);
    // Same operations on the same labels give the same trees (uids differ between runs).
    const byLabel = (run: typeof a, user: string) =>
      driveTreeOf(run.sim, user)
        .map((r) => ({
          ...r,
          id: run.workload.labelOf(r.id.slice(r.id.lastIndexOf("#") + 1)),
          parentId:
            r.parentId === TOP
              ? TOP
              : run.workload.labelOf(r.parentId.slice(r.parentId.lastIndexOf("#") + 1)),
        }))
        .sort((x, y) => String(x.id).localeCompare(String(y.id)));
    for (const user of a.workload.users) expect(byLabel(b, user)).toEqual(byLabel(a, user));
  });

  it("workload - performs every kind of operation, over many users, each written to the audit sink", async () => {
    const { sim, sink, workload, ops } = await runWorkload(3, 3000);
    const counts = workload.counts();
    for (const kind of Object.keys(DEFAULT_WORKLOAD_WEIGHTS) as WorkloadOpKind[]) {
      expect(counts[kind], kind).toBeGreaterThan(0);
    }
    expect(ops.map((o) => o.seq)).toEqual(ops.map((_, i) => i + 1));
    expect(new Set(ops.map((o) => o.actor)).size).toBeGreaterThanOrEqual(workload.users.length);
    const events = new Set(sim.auditLog.map((e) => e.eventId));
    for (const id of [
      "documentCreated",
      "documentCreatedByCopy",
      "documentModified",
      "documentMoved",
      "documentTrashed",
      "documentUntrashed",
      "documentRemoved",
      "documentSecurityUpdated",
      "group_modified",
      "rootRegistered",
      "rootUnregistered",
    ]) {
      expect(events, id).toContain(id);
    }
    expect(sink.records.length).toBeGreaterThanOrEqual(ops.length);
    // Users end with non-trivial trees, and not all the same.
    const trees = workload.users.map((u) => driveTreeOf(sim, u));
    expect(trees.filter((t) => t.length > 10).length).toBeGreaterThanOrEqual(
      workload.users.length / 2,
    );
    expect(new Set(trees.map((t) => JSON.stringify(t))).size).toBeGreaterThan(3);
  });

  it("workload - stays within its depth and document bounds", async () => {
    const sim = createSimulator();
    const workload = createWorkload(sim, {
      seed: 11,
      users: 4,
      groups: 2,
      sharedWorkspaces: 2,
      maxDepth: 6,
      maxDocuments: 150,
    });
    await workload.setup();
    await workload.run(1500);
    let live = 0;
    for (const op of workload.ops) {
      for (const label of [op.created, op.target, op.destination]) {
        const uid = label === undefined ? undefined : workload.uidOf(label);
        const doc = uid === undefined ? undefined : sim.get(uid);
        if (doc !== undefined)
          expect(doc.path.split("/").length - 1, doc.path).toBeLessThanOrEqual(6);
      }
    }
    for (let i = 0; i < 2000; i++) if (sim.get(workload.uidOf(`d${i}`) ?? "") !== undefined) live++;
    expect(live).toBeLessThanOrEqual(150 + 20); // a copy may overshoot by one folder's content
  });

  it("workload - requires setup first, then records labels for created documents", async () => {
    const sim = createSimulator();
    const workload = createWorkload(sim, { seed: 1, users: 2, groups: 1, sharedWorkspaces: 1 });
    expect(() => workload.next()).toThrow(/setup/);
    await workload.setup();
    const op = await workload.step();
    expect(op.seq).toBe(1);
    if (op.created !== undefined) expect(sim.get(workload.uidOf(op.created)!)).toBeDefined();
    expect(workload.users).toEqual(["w1-u00", "w1-u01"]);
  });
});

describe("driveTreeOf", () => {
  it("drive tree - a user's roots and the readable items beneath, ids and parents by NUXEO.md §4", async () => {
    const sim = createSimulator();
    sim.createUser("alice");
    sim.createUser("bob");
    const ws = await sim.createWorkspace("/default-domain/workspaces", "Team");
    await sim.grant(ws.uid, "alice", "ReadWrite");
    const plans = await sim.createFolder(ws.uid, "Plans");
    const file = await sim.createFile(plans.uid, "Plan title", { name: "plan.pdf", content: "x" });
    const note = await sim.createNote(ws.uid, "a note"); // no blob: not a FileSystemItem
    const secret = await sim.createFolder(ws.uid, "Secret");
    await sim.createFile(secret.uid, "s.txt", { content: "s" });
    await sim.deny(secret.uid, "alice", "Read");
    const trashed = await sim.createFile(ws.uid, "old.txt", { content: "o" });
    await sim.trash(trashed.uid);
    await sim.registerRoot("alice", ws.uid);
    expect(note.blob).toBeNull();

    const expected = [
      { id: rootId(ws.uid), parentId: TOP, name: "Team", folder: true },
      { id: itemId(plans.uid), parentId: rootId(ws.uid), name: "Plans", folder: true },
      {
        id: itemId(file.uid),
        parentId: itemId(plans.uid),
        name: "plan.pdf",
        folder: false,
        digest: file.blob!.digest,
      },
    ].sort((a, b) => (a.id < b.id ? -1 : 1));
    expect(driveTreeOf(sim, "alice")).toEqual(expected);
    expect(driveTreeOf(sim, "bob")).toEqual([]);

    // A nested root readable through a gap becomes its own sync root; its subtree follows it.
    await sim.grant(secret.uid, "bob", "Read");
    await sim.grant(ws.uid, "bob", "Read");
    await sim.grant(plans.uid, "bob", "Everything");
    await sim.deny(ws.uid, "bob", "Read"); // after the grant: the grant decides first
    await sim.registerRoot("bob", plans.uid);
    const bob = driveTreeOf(sim, "bob");
    expect(bob.map((r) => [r.id, r.parentId])).toEqual(
      [
        [rootId(plans.uid), TOP],
        [itemId(file.uid), rootId(plans.uid)],
      ].sort((a, b) => (a[0]! < b[0]! ? -1 : 1)),
    );
  });

  it("drive tree - a root beneath another is listed once, from the top; unreadable or trashed roots show nothing", async () => {
    const sim = createSimulator();
    sim.createUser("carol");
    const ws = await sim.createWorkspace("/default-domain/workspaces", "W");
    await sim.grant(ws.uid, "carol", "Read");
    const gap = await sim.createFolder(ws.uid, "Gap");
    const inner = await sim.createFolder(gap.uid, "Inner");
    await sim.deny(gap.uid, "carol", "Read");
    await sim.grant(inner.uid, "carol", "Read");
    await sim.registerRoot("carol", ws.uid);
    await sim.registerRoot("carol", inner.uid); // kept: carol cannot read Gap, in between
    expect(sim.rootsOf("carol").sort()).toEqual([ws.uid, inner.uid].sort());
    expect(driveTreeOf(sim, "carol")).toEqual(
      [
        { id: rootId(ws.uid), parentId: TOP, name: "W", folder: true },
        { id: rootId(inner.uid), parentId: TOP, name: "Inner", folder: true },
      ].sort((a, b) => (a.id < b.id ? -1 : 1)),
    );
    await sim.revoke(inner.uid, "carol");
    expect(driveTreeOf(sim, "carol").map((r) => r.id)).toEqual([rootId(ws.uid)]);
    await sim.trash(ws.uid);
    expect(driveTreeOf(sim, "carol")).toEqual([]);
  });
});
