import { createRecordDecoder, parseAuditEntry, watermarkTimestamp } from "@drivecast/protocol";
import { describe, expect, it } from "vitest";
import { callbackAuditSink, createSimulator, memoryAuditSink } from "../src/mod.js";
import type { AuditRecord, SimulatorOptions } from "../src/mod.js";

const WS = "/default-domain/workspaces";
const T0 = Date.UTC(2024, 4, 1, 12, 0, 0);
const decoder = createRecordDecoder({ codec: "avro" });

function setup(options: Partial<SimulatorOptions> = {}) {
  let t = T0;
  const batches: AuditRecord[][] = [];
  const sim = createSimulator({
    now: () => t,
    audit: callbackAuditSink((records) => {
      batches.push(records);
    }),
    ...options,
  });
  sim.createUser("alice");
  /** Decoded entries of the batches written since the last call. */
  let seen = 0;
  const take = () => {
    const out = batches.slice(seen).map((b) =>
      b.map((r) => {
        const rec = decoder.decode(r.value);
        expect(rec.key).toBe(r.key);
        return { key: rec.key, watermark: rec.watermark, ...parseAuditEntry(rec.data) };
      }),
    );
    seen = batches.length;
    return out;
  };
  return { sim, take, tick: (ms = 1) => (t += ms), now: () => t };
}

describe("audit", () => {
  it("audit - the bytes are Avro single-object with the 2023 Record fingerprint", async () => {
    const sink = memoryAuditSink();
    const sim = createSimulator({ audit: sink });
    await sim.createFolder(WS, "a");
    expect(Buffer.from(sink.records[0]!.value.subarray(0, 10)).toString("hex")).toBe(
      "c3018bc5017f38f1825d",
    );
  });

  it("audit - the 2021 schema can be chosen", async () => {
    const sink = memoryAuditSink();
    const sim = createSimulator({ audit: sink, recordCodec: { codec: "avro", schema: "2021" } });
    const a = await sim.createFolder(WS, "a");
    const bytes = sink.records[0]!.value;
    expect(Buffer.from(bytes.subarray(0, 10)).toString("hex")).toBe("c30198d4e873be27e70e");
    expect(parseAuditEntry(decoder.decode(bytes).data).docUUID).toBe(a.uid);
  });

  it("audit - documentCreated describes the document, keyed by its uuid", async () => {
    const { sim, take } = setup();
    const a = await sim.createFolder(WS, "a", { principal: "alice" });
    const [[e]] = take() as [[ReturnType<typeof take>[number][number]]];
    expect(e).toEqual({
      key: a.uid,
      watermark: BigInt(T0) << 17n,
      eventId: "documentCreated",
      category: "eventDocumentCategory",
      principalName: "alice",
      comment: null,
      docLifeCycle: "project",
      docPath: `${WS}/a`,
      docType: "Folder",
      docUUID: a.uid,
      repositoryId: "default",
      eventDate: T0,
      logDate: T0,
      extended: {},
    });
    expect(watermarkTimestamp(e.watermark)).toBe(T0);
  });

  it("audit - watermarks increase within one millisecond", async () => {
    const { sim, take } = setup();
    await sim.createFolder(WS, "a");
    await sim.createFolder(WS, "b");
    const [a, b] = take().flat();
    expect(b!.watermark).toBeGreaterThan(a!.watermark);
    expect(watermarkTimestamp(b!.watermark)).toBe(T0);
  });

  it("audit - each mutation writes the entries Nuxeo writes", async () => {
    const { sim, take, tick } = setup();
    const a = await sim.createFolder(WS, "a");
    const b = await sim.createFolder(WS, "b");
    const f = await sim.createFile(a.uid, "f.txt", { content: "x" });
    take();
    const ids = async (p: Promise<unknown>) => {
      tick();
      await p;
      return take().map((batch) => batch.map((e) => e.eventId));
    };
    expect(await ids(sim.modify(f.uid, { content: "y" }))).toEqual([["documentModified"]]);
    expect(await ids(sim.rename(f.uid, "g.txt"))).toEqual([["documentModified"]]);
    expect(await ids(sim.copy(f.uid, b.uid))).toEqual([
      ["documentCreatedByCopy", "documentDuplicated"],
    ]);
    expect(await ids(sim.grant(a.uid, "alice", "Read"))).toEqual([["documentSecurityUpdated"]]);
    expect(await ids(sim.blockInheritance(a.uid))).toEqual([["documentSecurityUpdated"]]);
    expect(await ids(sim.lock(f.uid))).toEqual([["documentLocked"]]);
    expect(await ids(sim.unlock(f.uid))).toEqual([["documentUnlocked"]]);
    expect(await ids(sim.trash(a.uid))).toEqual([["documentTrashed"]]);
    expect(await ids(sim.untrash(f.uid))).toEqual([["documentUntrashed", "documentUntrashed"]]);
    expect(await ids(sim.remove(f.uid))).toEqual([["documentRemoved"]]);
  });

  it("audit - documentMoved: comment is repo:previous parent, docPath the new path", async () => {
    const { sim, take } = setup();
    const a = await sim.createFolder(WS, "a");
    const b = await sim.createFolder(WS, "b");
    const f = await sim.createFile(a.uid, "f.txt", { content: "x" });
    take();
    await sim.move(f.uid, b.uid);
    const [e] = take().flat();
    expect(e).toMatchObject({
      eventId: "documentMoved",
      comment: `default:${a.uid}`,
      docPath: `${WS}/b/f.txt`,
      docUUID: f.uid,
    });
  });

  it("audit - a copy: comments name the other document, the write is partitioned by the copy", async () => {
    const keys: (string | undefined)[] = [];
    const { sim, take } = setup({ audit: callbackAuditSink((_r, key) => void keys.push(key)) });
    const f = await sim.createFile(WS, "f.txt", { content: "x" });
    const c = await sim.copy(f.uid, WS);
    expect(keys).toEqual([f.uid, c.uid]);
    expect(sim.auditLog.slice(-2).map((e) => [e.eventId, e.docUUID, e.comment])).toEqual([
      ["documentCreatedByCopy", c.uid, `default:${f.uid}`],
      ["documentDuplicated", f.uid, `default:${c.uid}`],
    ]);
    expect(take()).toEqual([]);
  });

  it("audit - documentRemoved describes the document as it was", async () => {
    const { sim, take } = setup();
    const f = await sim.createFile(WS, "f.txt", { content: "x" });
    take();
    await sim.remove(f.uid);
    expect(take()[0]?.[0]).toMatchObject({
      docPath: `${WS}/f.txt`,
      docType: "File",
      docUUID: f.uid,
    });
  });

  it("audit - rootRegistered alone (Nuxeo saves the subscription with the audit logger off)", async () => {
    const { sim, take } = setup();
    const a = await sim.createFolder(WS, "a");
    take();
    await sim.registerRoot("alice", a.uid, { principal: "Administrator" });
    await sim.unregisterRoot("alice", a.uid);
    const [reg, unreg] = take().flat();
    expect(reg).toMatchObject({
      eventId: "rootRegistered",
      category: "NuxeoDrive",
      principalName: "Administrator",
      docUUID: a.uid,
      extended: { impactedUserName: "alice" },
    });
    expect(unreg).toMatchObject({
      eventId: "rootUnregistered",
      category: "NuxeoDrive",
      principalName: "alice",
      extended: { impactedUserName: "alice" },
    });
  });

  it("audit - auditRootRegistrationWrite adds the documentModified first", async () => {
    const { sim, take } = setup({ auditRootRegistrationWrite: true });
    const a = await sim.createFolder(WS, "a");
    take();
    await sim.registerRoot("alice", a.uid);
    expect(take().map((b) => b.map((e) => e.eventId))).toEqual([
      ["documentModified", "rootRegistered"],
    ]);
  });

  it("audit - registering a parent root unregisters the nested one in the same write", async () => {
    const { sim, take } = setup();
    const a = await sim.createFolder(WS, "a");
    const b = await sim.createFolder(a.uid, "b");
    await sim.registerRoot("alice", b.uid);
    take();
    await sim.registerRoot("alice", a.uid);
    expect(take().map((batch) => batch.map((e) => `${e.eventId}:${e.docUUID}`))).toEqual([
      [`rootUnregistered:${b.uid}`, `rootRegistered:${a.uid}`],
    ]);
  });

  it("audit - group events: category userGroup, extended.id, keyed by the group name", async () => {
    const { sim, take } = setup();
    await sim.createGroup("team", { members: ["alice"] });
    await sim.addToGroup("team", { users: ["Administrator"] });
    await sim.deleteGroup("team");
    const entries = take().flat();
    expect(entries.map((e) => e.eventId)).toEqual([
      "group_created",
      "group_modified",
      "group_deleted",
    ]);
    for (const e of entries) {
      expect(e).toMatchObject({
        key: "team",
        category: "userGroup",
        docUUID: null,
        extended: { id: "team" },
      });
    }
  });

  it("audit - the log keeps entries without a sink, and writes keep mutation order", async () => {
    const order: string[] = [];
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const sim = createSimulator({
      audit: callbackAuditSink(async (records) => {
        if (order.length === 0) await gate;
        order.push(records[0]!.key);
      }),
    });
    const p1 = sim.createFolder(WS, "a");
    const p2 = sim.createFolder(WS, "b");
    const [a, b] = [sim.byPath(`${WS}/a`)!, sim.byPath(`${WS}/b`)!];
    release();
    await Promise.all([p1, p2]);
    expect(order).toEqual([a.uid, b.uid]);
    expect(sim.auditLog.map((e) => e.docUUID)).toEqual([a.uid, b.uid]);
  });

  it("audit - a failing sink fails the mutation's promise but not later ones", async () => {
    let fail = true;
    const sim = createSimulator({
      audit: callbackAuditSink(() => {
        if (fail) throw new Error("broker down");
      }),
    });
    await expect(sim.createFolder(WS, "a")).rejects.toThrow("broker down");
    fail = false;
    await expect(sim.createFolder(WS, "b")).resolves.toMatchObject({ title: "b" });
  });
});
