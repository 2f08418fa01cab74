import { describe, expect, it } from "vitest";
import { msgpackCodec, type DocEvent, type DocSnapshot } from "@drivecast/protocol";
import { encodeEvent } from "../src/event-encoding.js";

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
});
