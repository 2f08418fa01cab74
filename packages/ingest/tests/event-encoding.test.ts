import { describe, expect, it } from "vitest";
import { msgpackCodec, type DocEvent, type DocSnapshot } from "@drivecast/protocol";
import { encodeEvent } from "../src/event-encoding.js";
import { MsgpackWriter } from "../src/msgpack-writer.js";

const codec = msgpackCodec<unknown>();

function snapshot(uid: string, extra: Partial<DocSnapshot> = {}): DocSnapshot {
  return {
    repository: "default",
    uid,
    path: `/default-domain/workspaces/été/${uid}`,
    parentUid: "p",
    type: "File",
    title: "Résumé — 日本語 ✓",
    facets: ["Versionable", "Commentable"],
    isVersion: false,
    isProxy: false,
    isTrashed: false,
    creator: "alice",
    lastContributor: "bob",
    created: 1_767_225_600_123,
    modified: 1_767_225_600_456,
    blob: {
      name: "a.txt",
      mimeType: "text/plain",
      digestAlgorithm: "MD5",
      digest: "abc",
      length: 3,
    },
    acls: [
      {
        name: "local",
        aces: [
          { username: "alice", permission: "ReadWrite", granted: true, status: "effective" },
          { username: "bob", permission: "Read", granted: false },
        ],
      },
    ],
    subscriptions: [{ username: "alice", enabled: true }],
    ...extra,
  };
}

describe("event encoding", () => {
  it("encoding - DocEvents decode with the protocol codec to the event, per users list", () => {
    const a1 = snapshot("a1", { facets: ["Folderish"], blob: null, parentUid: null });
    const a2 = snapshot("a2", { facets: ["Folderish"], blob: null, subscriptions: [] });
    const head: Omit<DocEvent, "users"> = {
      source: "nuxeo-audit-audit/3/123456789012",
      eventId: "documentMoved",
      category: "eventDocumentCategory",
      repositoryId: "default",
      docUuid: "d",
      docPath: "/x/".repeat(40) + "long path beyond 255 bytes ".repeat(10),
      docType: "File",
      docLifeCycle: null,
      principalName: "alice",
      comment: "default:a2",
      eventDate: 1_767_225_600_789,
      extended: { oldDigest: "x", originalEventId: "documentModified" },
      doc: snapshot("d"),
      ancestors: [a1, a2],
      before: { parentUid: "a2", path: null, ancestors: [a1, a2] },
    };
    const lists = [["alice"], ["bob", "carol"], [], Array.from({ length: 20 }, (_, i) => `u${i}`)];
    const payloads = encodeEvent(head, lists);
    expect(payloads).toHaveLength(lists.length);
    payloads.forEach((p, i) => {
      expect(codec.decode(p)).toEqual({ ...head, users: lists[i] });
    });
    // The cached ancestor encodings are reused, and still right, the second time.
    expect(codec.decode(encodeEvent(head, [["x"]])[0]!)).toEqual({ ...head, users: ["x"] });
  });

  it("encoding - the writer encodes values as the protocol codec reads them", () => {
    const values: unknown[] = [
      0,
      1,
      127,
      128,
      255,
      256,
      65535,
      65536,
      2 ** 32 - 1,
      2 ** 32,
      Number.MAX_SAFE_INTEGER,
      -1,
      -32,
      -33,
      -128,
      -129,
      -32768,
      -32769,
      -(2 ** 31),
      -(2 ** 31) - 1,
      Number.MIN_SAFE_INTEGER,
      0.5,
      -1.25,
      1e300,
      true,
      false,
      null,
      "",
      "a".repeat(31),
      "a".repeat(32),
      "é".repeat(200),
      "a".repeat(255),
      "a".repeat(256),
      "a".repeat(100) + "é",
      "x".repeat(70_000),
      new Uint8Array([1, 2, 3]),
      new Uint8Array(300),
      [],
      [1, [2, [3]]],
      Array.from({ length: 70_000 }, (_, i) => i % 7),
      { a: 1, b: undefined, c: { d: "e" } },
    ];
    const w = new MsgpackWriter(8);
    for (const v of values) {
      w.reset().value(v);
      let decoded = codec.decode(w.bytes());
      if (decoded instanceof Uint8Array) decoded = new Uint8Array(decoded);
      const expected =
        v !== null && typeof v === "object" && !Array.isArray(v) && !(v instanceof Uint8Array)
          ? JSON.parse(JSON.stringify(v))
          : v;
      expect(decoded).toEqual(expected);
    }
  });

  it("encoding - messages stay valid while later ones fill and overflow slabs", () => {
    // A tiny slab: nearly every message moves to a new one midway, keys included.
    const w = new MsgpackWriter(32);
    const values = Array.from({ length: 50 }, (_, i) => ({
      [`key-${i % 7}`]: "v".repeat(i),
      n: i,
      nested: { [`key-${i % 7}`]: [i, "é"] },
    }));
    const out = values.map((v) => {
      w.reset().value(v);
      return w.bytes();
    });
    expect(out.map((b) => codec.decode(b))).toEqual(values);
  });

  it("encoding - repeatPrefix starts the next message with the last one's first bytes", () => {
    const w = new MsgpackWriter(16);
    w.reset().arrayHeader(3);
    w.string("shared prefix, longer than a slab");
    const prefix = w.length;
    w.value(1);
    w.value("a");
    const first = w.bytes();
    w.repeatPrefix(prefix);
    w.value(2);
    w.value("b");
    const second = w.bytes();
    expect(codec.decode(first)).toEqual(["shared prefix, longer than a slab", 1, "a"]);
    expect(codec.decode(second)).toEqual(["shared prefix, longer than a slab", 2, "b"]);
  });
});
