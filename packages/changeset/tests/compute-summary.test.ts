import type { FileSystemItem, FileSystemItemChange } from "@drivecast/protocol";
import { describe, expect, it } from "vitest";
import {
  buildSummary,
  coalesce,
  createPendingChanges,
  DEFAULT_CHANGE_LIMIT,
  itemChange,
  nullChange,
  rootDefinitions,
  syncDateOf,
} from "../src/compute/index.js";

function item(uid: string, name = uid): FileSystemItem {
  return {
    id: `defaultFileSystemItemFactory#default#${uid}`,
    parentId: "p",
    name,
    folder: false,
    creator: "c",
    lastContributor: "c",
    creationDate: 0,
    lastModificationDate: 0,
    canRename: false,
    canDelete: false,
    lockInfo: null,
    path: "/p",
    userName: "alice",
  };
}

let clock = 1000;
function withItem(eventId: string, uid: string, name?: string, at = clock++): FileSystemItemChange {
  return itemChange(eventId, at, uid, item(uid, name), "default");
}
function without(eventId: string, uid: string, at = clock++): FileSystemItemChange {
  return nullChange(eventId, at, "default", uid);
}
const summary = (cs: FileSystemItemChange[]) => cs.map((c) => `${c.docUuid}:${c.eventId}`);

describe("summary - coalescing", () => {
  it("coalesce - keeps the latest change per document", () => {
    const out = coalesce([
      withItem("documentModified", "a", "v1"),
      withItem("documentModified", "a", "v2"),
    ]);
    expect(out).toHaveLength(1);
    expect(out[0]?.fileSystemItemName).toBe("v2");
  });

  it("coalesce - moved then modified keeps documentMoved with the latest item", () => {
    const moved = withItem("documentMoved", "a", "old");
    const modified = withItem("documentModified", "a", "new");
    const [kept] = coalesce([moved, modified]);
    expect(kept).toEqual({ ...modified, eventId: "documentMoved" });
  });

  it("coalesce - moved then securityUpdated with an item keeps documentMoved", () => {
    const [kept] = coalesce([withItem("documentMoved", "a"), withItem("securityUpdated", "a")]);
    expect(kept?.eventId).toBe("documentMoved");
  });

  it("coalesce - moved then deleted, or then access lost: the latest (no item) wins", () => {
    expect(summary(coalesce([withItem("documentMoved", "a"), without("deleted", "a")]))).toEqual([
      "a:deleted",
    ]);
    expect(
      summary(coalesce([withItem("documentMoved", "a"), without("securityUpdated", "a")])),
    ).toEqual(["a:securityUpdated"]);
  });

  it("coalesce - moved, modified, moved back then modified still says documentMoved", () => {
    const out = coalesce([
      withItem("documentMoved", "a"),
      withItem("documentModified", "a"),
      withItem("documentMoved", "a"),
      withItem("documentModified", "a", "last"),
    ]);
    expect(out.map((c) => [c.eventId, c.fileSystemItemName])).toEqual([["documentMoved", "last"]]);
  });

  it("coalesce - modified then moved is documentMoved", () => {
    expect(
      summary(coalesce([withItem("documentModified", "a"), withItem("documentMoved", "a")])),
    ).toEqual(["a:documentMoved"]);
  });

  it("coalesce - created then deleted within the set yields no change", () => {
    expect(coalesce([withItem("documentCreated", "a"), without("deleted", "a")])).toEqual([]);
    expect(coalesce([withItem("documentCreatedByCopy", "a"), without("deleted", "a")])).toEqual([]);
    expect(
      coalesce([
        withItem("documentCreated", "a"),
        withItem("documentMoved", "a"),
        without("deleted", "a"),
      ]),
    ).toEqual([]);
  });

  it("coalesce - created, deleted, then brought back keeps the last change", () => {
    const out = coalesce([
      withItem("documentCreated", "a"),
      without("deleted", "a"),
      withItem("documentUntrashed", "a"),
    ]);
    expect(summary(out)).toEqual(["a:documentUntrashed"]);
  });

  it("coalesce - a deletion of a document not created in the set is kept", () => {
    expect(summary(coalesce([withItem("documentModified", "a"), without("deleted", "a")]))).toEqual(
      ["a:deleted"],
    );
  });

  it("coalesce - created then modified keeps the modification (with the latest item)", () => {
    expect(
      summary(coalesce([withItem("documentCreated", "a"), withItem("documentModified", "a")])),
    ).toEqual(["a:documentModified"]);
  });

  it("coalesce - documents do not affect each other", () => {
    const out = coalesce([
      withItem("documentCreated", "a", undefined, 1),
      withItem("documentMoved", "b", undefined, 2),
      without("deleted", "a", 3),
      withItem("documentModified", "c", undefined, 4),
      withItem("documentModified", "b", undefined, 5),
    ]);
    expect(summary(out)).toEqual(["b:documentMoved", "c:documentModified"]);
  });
});

describe("summary - ordering", () => {
  it("order - eventDate descending", () => {
    const out = coalesce([
      withItem("documentModified", "a", undefined, 10),
      withItem("documentModified", "b", undefined, 30),
      withItem("documentModified", "c", undefined, 20),
    ]);
    expect(out.map((c) => c.docUuid)).toEqual(["b", "c", "a"]);
  });

  it("order - a coalesced document takes the date of its latest change", () => {
    const out = coalesce([
      withItem("documentModified", "a", undefined, 10),
      withItem("documentModified", "b", undefined, 20),
      withItem("documentModified", "a", undefined, 30),
    ]);
    expect(out.map((c) => [c.docUuid, c.eventDate])).toEqual([
      ["a", 30],
      ["b", 20],
    ]);
  });

  it("order - equal dates: the later arrival first", () => {
    const out = coalesce([
      withItem("documentModified", "a", undefined, 10),
      withItem("documentModified", "b", undefined, 10),
    ]);
    expect(out.map((c) => c.docUuid)).toEqual(["b", "a"]);
    // buildSummary keeps that order (stable).
    const s = buildSummary({ changes: out, syncDate: 0, upperBound: 1, roots: [] });
    expect(s.fileSystemChanges.map((c) => c.docUuid)).toEqual(["b", "a"]);
  });
});

describe("summary - PendingChanges", () => {
  it("pending - coalesces as changes arrive and empties on take", () => {
    const p = createPendingChanges();
    expect(p.isEmpty).toBe(true);
    p.add(withItem("documentMoved", "a"));
    p.add(withItem("documentModified", "b"));
    p.add(withItem("documentModified", "a"));
    expect(p.size).toBe(2);
    const { changes, hasTooManyChanges } = p.take();
    expect(hasTooManyChanges).toBe(false);
    expect(summary(changes)).toEqual(["a:documentMoved", "b:documentModified"]);
    expect(p.isEmpty).toBe(true);
    expect(p.take()).toEqual({ changes: [], hasTooManyChanges: false });
  });

  it("pending - created then deleted leaves nothing to flush", () => {
    const p = createPendingChanges();
    p.add(withItem("documentCreated", "a"));
    p.add(without("deleted", "a"));
    expect(p.size).toBe(0);
    expect(p.isEmpty).toBe(true);
  });

  it("pending - at the limit is fine; over it the set becomes hasTooManyChanges with no change", () => {
    const p = createPendingChanges({ limit: 3 });
    for (const u of ["a", "b", "c"]) p.add(withItem("documentModified", u));
    // Coalesced changes do not count twice.
    p.add(withItem("documentModified", "a"));
    expect([p.size, p.overflowed]).toEqual([3, false]);
    p.add(withItem("documentModified", "d"));
    expect([p.size, p.overflowed, p.isEmpty]).toEqual([0, true, false]);
    // Further changes are dropped: the client rescans anyway.
    p.add(withItem("documentModified", "e"));
    expect(p.take()).toEqual({ changes: [], hasTooManyChanges: true });
    // The next set starts afresh.
    p.add(withItem("documentModified", "f"));
    expect(p.take()).toMatchObject({ hasTooManyChanges: false, changes: [{ docUuid: "f" }] });
  });

  it("pending - the default limit is 1000", () => {
    expect(DEFAULT_CHANGE_LIMIT).toBe(1000);
    const p = createPendingChanges();
    for (let i = 0; i < 1000; i++) p.add(withItem("documentModified", `d${i}`));
    expect(p.overflowed).toBe(false);
    p.add(withItem("documentModified", "one-more"));
    expect(p.overflowed).toBe(true);
  });
});

describe("summary - buildSummary", () => {
  const roots = [
    { repository: "default", uid: "r1" },
    { repository: "other", uid: "r2" },
  ];

  it("summary - carries ordered changes, the rounded sync date, the position and the roots", () => {
    const changes = coalesce([
      withItem("documentModified", "a", undefined, 5),
      without("deleted", "b", 9),
    ]);
    expect(buildSummary({ changes, syncDate: 1_700_000_123_999, upperBound: 77, roots })).toEqual({
      fileSystemChanges: [changes[0], changes[1]],
      syncDate: 1_700_000_123_000,
      upperBound: 77,
      hasTooManyChanges: false,
      activeSynchronizationRootDefinitions: "default:r1,other:r2",
    });
    expect(changes.map((c) => c.docUuid)).toEqual(["b", "a"]);
  });

  it("summary - sorts changes given in another order", () => {
    const a = withItem("documentModified", "a", undefined, 5);
    const b = withItem("documentModified", "b", undefined, 9);
    expect(
      buildSummary({ changes: [a, b], syncDate: 0, upperBound: 1, roots }).fileSystemChanges,
    ).toEqual([b, a]);
  });

  it("summary - over the limit: hasTooManyChanges and an empty list", () => {
    const changes = [1, 2, 3].map((i) => withItem("documentModified", `x${i}`));
    const over = buildSummary({ changes, syncDate: 0, upperBound: 1, roots, limit: 2 });
    expect([over.hasTooManyChanges, over.fileSystemChanges]).toEqual([true, []]);
    const at = buildSummary({ changes, syncDate: 0, upperBound: 1, roots, limit: 3 });
    expect([at.hasTooManyChanges, at.fileSystemChanges.length]).toEqual([false, 3]);
    const flagged = buildSummary({
      changes: [],
      syncDate: 0,
      upperBound: 1,
      roots,
      hasTooManyChanges: true,
    });
    expect([flagged.hasTooManyChanges, flagged.fileSystemChanges]).toEqual([true, []]);
  });

  it("summary - the default limit applies: 1001 changes are too many", () => {
    const changes = Array.from({ length: 1001 }, (_, i) => withItem("documentModified", `y${i}`));
    expect(buildSummary({ changes, syncDate: 0, upperBound: 1, roots }).hasTooManyChanges).toBe(
      true,
    );
    expect(
      buildSummary({ changes: changes.slice(1), syncDate: 0, upperBound: 1, roots })
        .hasTooManyChanges,
    ).toBe(false);
  });

  it("summary - syncDate rounds down to the second; root definitions join with commas", () => {
    expect(syncDateOf(1_700_000_000_000)).toBe(1_700_000_000_000);
    expect(syncDateOf(1_700_000_000_999)).toBe(1_700_000_000_000);
    expect(syncDateOf(1_700_000_001_001)).toBe(1_700_000_001_000);
    expect(rootDefinitions([])).toBe("");
    expect(rootDefinitions([{ repository: "default", uid: "u" }])).toBe("default:u");
  });
});
