import { beforeEach, describe, expect, it } from "vitest";
import { encodeRecord, shardOf, watermarkOf, type DocEvent } from "@drivecast/protocol";
import type { Simulator, SimDocument } from "@drivecast/nuxeo-sim";
import { DeadLetterHeader } from "../src/mod.js";
import { auditValue, recordingSimulator, rig, sourceRecords, type Rig } from "./helpers.js";

const SHARDS = 8;
const WS = "/default-domain/workspaces";

interface World {
  sim: Simulator;
  records: { key: string; value: Uint8Array }[];
  mine: SimDocument;
  shared: SimDocument;
  other: SimDocument;
  r: Rig;
}

/** alice: root Mine; alice and bob: root Shared; Other is nobody's root. */
async function world(): Promise<World> {
  const { sim, records } = recordingSimulator();
  for (const u of ["alice", "bob", "carol"]) sim.createUser(u);
  const mine = await sim.createWorkspace(WS, "Mine");
  const shared = await sim.createWorkspace(WS, "Shared");
  const other = await sim.createWorkspace(WS, "Other");
  for (const u of ["alice", "bob", "carol"]) await sim.grant(other.uid, u, "ReadWrite");
  await sim.grant(mine.uid, "alice", "ReadWrite");
  await sim.grant(shared.uid, "alice", "ReadWrite");
  await sim.grant(shared.uid, "bob", "ReadWrite");
  await sim.registerRoot("alice", mine.uid);
  await sim.registerRoot("alice", shared.uid);
  await sim.registerRoot("bob", shared.uid);
  records.length = 0;
  return { sim, records, mine, shared, other, r: await rig(sim, SHARDS) };
}

/** The records written since the last call, as one Kafka batch. */
function take(w: World) {
  const batch = sourceRecords(w.records.map((r) => ({ key: r.key, value: r.value })));
  w.records.length = 0;
  return batch;
}

function byShard(events: { shard: number; event: DocEvent }[]) {
  const out = new Map<number, DocEvent[]>();
  for (const e of events) out.set(e.shard, [...(out.get(e.shard) ?? []), e.event]);
  return out;
}

function expectedShards(users: string[]): Map<number, string[]> {
  const m = new Map<number, string[]>();
  for (const u of users) m.set(shardOf(u, SHARDS), [...(m.get(shardOf(u, SHARDS)) ?? []), u]);
  return m;
}

describe("pipeline", () => {
  let w: World;
  beforeEach(async () => {
    w = await world();
  });

  it("pipeline - routes a document event to the shard of each user whose root contains it", async () => {
    const f = await w.sim.createFile(w.shared.uid, "a.txt", { content: "x", principal: "alice" });
    const batch = take(w);
    await w.r.run(batch);
    const events = await w.r.events();
    const want = expectedShards(["alice", "bob"]);
    expect(events.map((e) => e.shard).sort()).toEqual([...want.keys()].sort());
    for (const { shard, event } of events) {
      expect(event.eventId).toBe("documentCreated");
      expect(event.docUuid).toBe(f.uid);
      expect(event.source).toBe(`audit/0/${batch[0]!.offset}`);
      expect(event.users.sort()).toEqual(want.get(shard)!.sort());
      expect(event.doc?.uid).toBe(f.uid);
      expect(event.doc?.blob?.name).toBe("a.txt");
      // Ancestors from the top of the repository down to the parent, each with its ACL.
      expect(event.ancestors.map((a) => a.path)).toEqual([
        "/default-domain",
        "/default-domain/workspaces",
        w.shared.path,
      ]);
      expect(event.ancestors[2]!.acls.length).toBeGreaterThan(0);
    }
  });

  it("pipeline - a redelivered batch stores every event once", async () => {
    await w.sim.createFile(w.shared.uid, "a.txt", { content: "x" });
    await w.sim.createFile(w.mine.uid, "b.txt", { content: "y" });
    const batch = take(w);
    await w.r.run(batch);
    const first = (await w.r.events()).length;
    expect(first).toBe(expectedShards(["alice", "bob"]).size + 1);
    await w.r.run(batch);
    expect((await w.r.events()).length).toBe(first);
  });

  it("pipeline - events under no root cost no Nuxeo call and no publish", async () => {
    const before = w.r.nuxeo.calls.documents;
    await w.sim.createFile(w.other.uid, "c.txt", { content: "z" });
    await w.sim.modify(`${w.other.path}/c.txt`, { content: "zz" });
    await w.r.run(take(w));
    expect(await w.r.events()).toEqual([]);
    expect(w.r.nuxeo.calls.documents).toBe(before);
    expect(await w.r.deadLetters()).toEqual([]);
  });

  it("pipeline - an event id Drive does not use is dropped, not dead-lettered", async () => {
    const batch = sourceRecords([
      {
        key: "k",
        value: auditValue({ eventId: "download", docUUID: w.shared.uid, docPath: w.shared.path }),
      },
      { key: "k", value: auditValue({ eventId: "loginSuccess", category: "NuxeoAuthentication" }) },
    ]);
    await w.r.run(batch);
    expect(await w.r.events()).toEqual([]);
    expect(await w.r.deadLetters()).toEqual([]);
  });

  it("pipeline - unreadable records become dead letters with their reason, and the batch goes on", async () => {
    const good1 = await w.sim.createFile(w.mine.uid, "one.txt", { content: "1" });
    const goods = take(w);
    const unknownFingerprint = new Uint8Array([0xc3, 0x01, 1, 2, 3, 4, 5, 6, 7, 8, 0, 0]);
    const garbage = new TextEncoder().encode("not a record at all");
    const notJson = encodeRecord(
      {
        watermark: watermarkOf(0),
        key: "k",
        data: new TextEncoder().encode("{not json"),
        flagsAsByte: 0,
        traceContext: null,
        appenderThread: null,
      },
      { codec: "avro" },
    );
    const legacy = new Uint8Array([0xac, 0xed, 0x00, 0x05, 0x73, 0x72]);
    const noDoc = auditValue({ eventId: "documentCreated", docPath: w.mine.path + "/x" });
    const noGroup = auditValue({ eventId: "group_modified", category: "userGroup" });
    const truncated = goods[0]!.value!.subarray(0, 20);
    const bad = sourceRecords([
      { key: "u", value: unknownFingerprint },
      { key: "g", value: garbage },
      { key: "j", value: notJson },
      { key: "l", value: legacy },
      { key: "d", value: noDoc },
      { key: "n", value: noGroup },
      { key: "t", value: truncated },
      { key: null, value: null },
    ]);
    const good2 = await w.sim.createFile(w.mine.uid, "two.txt", { content: "2" });
    const batch = [goods[0]!, ...bad, ...take(w)];
    await w.r.run(batch);

    const letters = await w.r.deadLetters();
    expect(letters.map((l) => l.headers[DeadLetterHeader.Reason])).toEqual([
      "unknown_schema",
      "not_single_object",
      "invalid_audit_entry",
      "legacy_codec",
      "incomplete_entry",
      "incomplete_entry",
      "truncated_record",
      "empty_record",
    ]);
    letters.forEach((l, i) => {
      const r = bad[i]!;
      expect(l.subject).toBe(`drive.dl.${l.headers[DeadLetterHeader.Reason]}`);
      expect(l.headers[DeadLetterHeader.Topic]).toBe("audit");
      expect(l.headers[DeadLetterHeader.Partition]).toBe("0");
      expect(l.headers[DeadLetterHeader.Offset]).toBe(r.offset);
      expect(Array.from(l.data)).toEqual(Array.from(r.value ?? new Uint8Array(0)));
      expect(l.headers[DeadLetterHeader.Error]!.length).toBeGreaterThan(10);
    });
    expect(letters[7]!.headers[DeadLetterHeader.Value]).toBe("null");
    expect(letters[3]!.headers[DeadLetterHeader.Error]).toContain(
      "nuxeo.stream.audit.log.codec=avro",
    );
    const routed = (await w.r.events()).map((e) => e.event.docUuid);
    expect(routed).toEqual([good1.uid, good2.uid]);
  });

  it("pipeline - a document gone when fetched becomes a deletion for the users of its place", async () => {
    const f = await w.sim.createFile(w.shared.uid, "gone.txt", { content: "x" });
    const created = take(w);
    await w.sim.remove(f.uid);
    await w.r.run(created);
    const events = await w.r.events();
    expect(events.length).toBe(expectedShards(["alice", "bob"]).size);
    for (const { event } of events) {
      expect(event.eventId).toBe("documentRemoved");
      expect(event.extended.originalEventId).toBe("documentCreated");
      expect(event.doc).toBeNull();
      expect(event.docPath).toBe(`${w.shared.path}/gone.txt`);
    }
  });

  it("pipeline - a move reaches the users of the old place, with the previous location", async () => {
    const f = await w.sim.createFile(w.mine.uid, "m.txt", { content: "x" });
    await w.r.run(take(w));
    await w.sim.move(f.uid, w.other.uid);
    await w.r.run(take(w));
    const moved = (await w.r.events()).filter((e) => e.event.eventId === "documentMoved");
    expect(moved.map((e) => e.shard)).toEqual([shardOf("alice", SHARDS)]);
    const e = moved[0]!.event;
    expect(e.users).toEqual(["alice"]);
    expect(e.doc?.path).toBe(`${w.other.path}/m.txt`);
    expect(e.before?.parentUid).toBe(w.mine.uid);
    expect(e.before?.path).toBe(`${w.mine.path}/m.txt`);
    expect(e.before?.ancestors.at(-1)?.uid).toBe(w.mine.uid);
  });

  it("pipeline - moving a folder above a root moves the root in the index and tells its users", async () => {
    const top = await w.sim.createFolder(w.other.uid, "Top");
    const sub = await w.sim.createFolder(top.uid, "Sub");
    await w.sim.registerRoot("carol", sub.uid);
    await w.r.run(take(w));
    expect(w.r.roots.byUid("default", sub.uid)?.path).toBe(`${w.other.path}/Top/Sub`);
    await w.sim.move(top.uid, w.mine.uid);
    await w.r.run(take(w));
    expect(w.r.roots.byUid("default", sub.uid)?.path).toBe(`${w.mine.path}/Top/Sub`);
    const moved = (await w.r.events()).filter((e) => e.event.eventId === "documentMoved");
    const users = moved.flatMap((e) => e.event.users).sort();
    expect(users).toEqual(["alice", "carol"]);
  });

  it("pipeline - root (un)registrations follow the document's subscriptions", async () => {
    await w.sim.registerRoot("carol", w.other.uid);
    await w.r.run(take(w));
    expect(w.r.roots.byUid("default", w.other.uid)?.users).toEqual(["carol"]);
    const reg = (await w.r.events()).filter((e) => e.event.eventId === "rootRegistered");
    expect(reg.map((e) => e.shard)).toEqual([shardOf("carol", SHARDS)]);
    expect(reg[0]!.event.users).toEqual(["carol"]);

    await w.sim.unregisterRoot("carol", w.other.uid);
    const unregister = take(w);
    await w.r.run(unregister);
    expect(w.r.roots.byUid("default", w.other.uid)).toBeUndefined();
    // A late replay of the registration converges to Nuxeo's state: still no root.
    await w.sim.createFile(w.other.uid, "late.txt", { content: "x" });
    w.records.length = 0;
    const registration = sourceRecords([
      {
        key: w.other.uid,
        value: auditValue({
          eventId: "rootRegistered",
          category: "NuxeoDrive",
          docUUID: w.other.uid,
          docPath: w.other.path,
          docType: "Workspace",
          extended: { impactedUserName: "carol" },
        }),
      },
    ]);
    await w.r.run(registration);
    expect(w.r.roots.byUid("default", w.other.uid)).toBeUndefined();
  });

  it("pipeline - group events reach every shard with the members it owns", async () => {
    await w.sim.createGroup("team", { members: ["alice", "carol"] });
    await w.r.run(take(w));
    const events = await w.r.events();
    expect(events.map((e) => e.shard).sort((a, b) => a - b)).toEqual(
      Array.from({ length: SHARDS }, (_, i) => i),
    );
    const members = byShard(events);
    for (const [shard, list] of members) {
      expect(list).toHaveLength(1);
      expect(list[0]!.eventId).toBe("group_created");
      expect(list[0]!.extended.id).toBe("team");
      expect(list[0]!.users.sort()).toEqual(
        expectedShards(["alice", "carol"]).get(shard)?.sort() ?? [],
      );
    }
  });

  it("pipeline - a Nuxeo failure fails the batch, and its retry stores each event once", async () => {
    await w.sim.createFile(w.shared.uid, "r.txt", { content: "x" });
    const batch = [...take(w), ...sourceRecords([{ key: "x", value: new Uint8Array([1, 2, 3]) }])];
    await w.r.run(batch);
    const events = (await w.r.events()).length;
    const letters = (await w.r.deadLetters()).length;
    // A fresh pipeline state (cold cache) and a Nuxeo that fails once.
    const again = await rig(w.sim, SHARDS);
    again.nuxeo.failNext(1);
    await expect(again.run(batch)).rejects.toThrow(/503/);
    await again.run(batch);
    await again.run(batch);
    expect((await again.events()).length).toBe(events);
    expect((await again.deadLetters()).length).toBe(letters);
  });

  it("pipeline - a security change refreshes the cached folders beneath it", async () => {
    const folder = await w.sim.createFolder(w.shared.uid, "F");
    const sub = await w.sim.createFolder(folder.uid, "G");
    const a = await w.sim.createFile(sub.uid, "a.txt", { content: "a" });
    await w.r.run(take(w));
    const deniedInG = (event: DocEvent) =>
      event.ancestors
        .find((s) => s.uid === sub.uid)!
        .acls.flatMap((acl) => acl.aces)
        .some((ace) => ace.username === "bob" && !ace.granted);
    // The change of F and a later event under it, in one batch and in two.
    await w.sim.deny(folder.uid, "bob", "Read");
    await w.sim.modify(a.uid, { content: "aa" });
    await w.r.run(take(w));
    await w.sim.deny(folder.uid, "carol", "Read");
    await w.r.run(take(w));
    await w.sim.modify(a.uid, { content: "aaa" });
    await w.r.run(take(w));
    const modified = (await w.r.events()).filter((e) => e.event.eventId === "documentModified");
    expect(modified.length).toBeGreaterThanOrEqual(2);
    for (const { event } of modified) expect(deniedInG(event)).toBe(true);
    const last = modified.at(-1)!.event;
    const inherited = last.ancestors.find((s) => s.uid === sub.uid)!.acls.flatMap((x) => x.aces);
    expect(inherited.some((ace) => ace.username === "carol" && !ace.granted)).toBe(true);
  });

  it("pipeline - ancestors come from the folder cache at steady state", async () => {
    const folder = await w.sim.createFolder(w.shared.uid, "Warm");
    await w.sim.createFile(folder.uid, "0.txt", { content: "0" });
    await w.r.run(take(w));
    const calls = w.r.nuxeo.calls.documents;
    for (let i = 1; i <= 20; i++) await w.sim.createFile(folder.uid, `${i}.txt`, { content: "x" });
    await w.r.run(take(w));
    // One batched call for the twenty documents; their ancestors are all cached.
    expect(w.r.nuxeo.calls.documents - calls).toBe(1);
  });
});
